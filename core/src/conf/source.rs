//! Where `include` files and `$ENV` variables come from.
//!
//! The core performs no I/O, so the parser asks a [`Source`]. The shell passes one that
//! reads the real file system and process environment; tests and the simulator pass a
//! [`MemSource`], which makes a parse a pure function of its inputs.

use std::collections::BTreeMap;
use std::io;
use std::path::{Component, Path, PathBuf};

/// Provider of included files and environment variables.
pub trait Source {
    /// The text of the file at `path` (already resolved against the including file).
    fn read(&self, path: &Path) -> io::Result<String>;
    /// The environment variable `name`, if set.
    fn env(&self, name: &str) -> Option<String>;
}

/// An in-memory [`Source`]: files keyed by their (lexically normalised) path, and an
/// environment.
#[derive(Debug, Clone, Default)]
pub struct MemSource {
    files: BTreeMap<PathBuf, String>,
    env: BTreeMap<String, String>,
}

impl MemSource {
    pub fn new() -> Self {
        MemSource::default()
    }

    /// Adds a file; `path` is normalised the same way include paths are.
    pub fn with_file(mut self, path: impl AsRef<Path>, text: impl Into<String>) -> Self {
        self.files.insert(normalize(path.as_ref()), text.into());
        self
    }

    pub fn with_env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(name.into(), value.into());
        self
    }
}

impl Source for MemSource {
    fn read(&self, path: &Path) -> io::Result<String> {
        self.files.get(&normalize(path)).cloned().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("open {}: no such file or directory", path.display()),
            )
        })
    }

    fn env(&self, name: &str) -> Option<String> {
        self.env.get(name).cloned()
    }
}

/// Removes `.` components and folds `dir/..` without touching the file system, so that
/// include cycles are recognised whatever spelling reaches the same file.
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out: Vec<Component<'_>> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.last() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir) | Some(Component::Prefix(_)) => {}
                _ => out.push(c),
            },
            other => out.push(other),
        }
    }
    let p: PathBuf = out.iter().collect();
    if p.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_folds_dots() {
        assert_eq!(
            normalize(Path::new("a/./b/../c.conf")),
            PathBuf::from("a/c.conf")
        );
        assert_eq!(normalize(Path::new("./c.conf")), PathBuf::from("c.conf"));
        assert_eq!(
            normalize(Path::new("../c.conf")),
            PathBuf::from("../c.conf")
        );
        assert_eq!(normalize(Path::new("/../c.conf")), PathBuf::from("/c.conf"));
    }

    #[test]
    fn mem_source_reads_what_it_was_given() {
        let s = MemSource::new()
            .with_file("./d/x.conf", "a: 1")
            .with_env("E", "2");
        assert_eq!(s.read(Path::new("d/x.conf")).unwrap(), "a: 1");
        assert_eq!(
            s.read(Path::new("nope.conf")).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        assert_eq!(s.env("E").as_deref(), Some("2"));
        assert_eq!(s.env("F"), None);
    }
}
