//! Helpers for black-box tests of the rejoin binary.
