//! rejoin shell: performs what the core decides.
