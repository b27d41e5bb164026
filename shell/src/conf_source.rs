//! Config includes and environment variables from the real file system and process
//! environment (the core parser takes them through [`Source`]; it does no I/O itself).

use std::path::{Path, PathBuf};

use rejoin_core::conf::Source;

/// Reads includes relative to the main config file's directory.
pub struct FsSource {
    base: PathBuf,
}

impl FsSource {
    /// A source for the config file at `path`.
    pub fn new(path: &Path) -> Self {
        FsSource {
            base: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        }
    }
}

impl Source for FsSource {
    fn read(&self, path: &Path) -> std::io::Result<String> {
        std::fs::read_to_string(self.base.join(path))
    }

    fn env(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}
