//! Errors from parsing a configuration file and from mapping its tree onto typed structs.
//!
//! Every error an operator can cause names the place: `file:line:col: message`. Errors from
//! the typed layer also carry the dotted path of the offending key
//! (`leafnodes.remotes[1].url`), because a line number alone is ambiguous once includes and
//! variables are involved.

use std::fmt;

use super::tree::Pos;

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfErrorKind {
    /// The text is not valid configuration syntax.
    Syntax(String),
    /// `$NAME` matched neither a key of an enclosing map nor an environment variable.
    UnknownVariable(String),
    /// An environment variable used as `$NAME` does not hold a valid configuration value.
    BadVariable { name: String, reason: String },
    /// An included file could not be read.
    Include { path: String, reason: String },
    /// A file includes itself, directly or through other files. `chain` lists the files
    /// from the outermost include to the repeated one.
    IncludeCycle { chain: Vec<String> },
    /// A key the typed configuration does not know.
    UnknownField(String),
    /// A key that is required is absent.
    MissingField(String),
    /// A key appears twice where it must appear once (e.g. `url` and its alias `urls`).
    DuplicateField(String),
    /// A value of the wrong type, out of range, or otherwise unacceptable.
    Invalid(String),
}

/// A configuration error with its position (when known) and key path (when it comes from
/// the typed layer; empty for syntax errors).
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct ConfError {
    pub pos: Option<Pos>,
    /// Dotted path of the offending key or value, e.g. `leafnodes.remotes[1].url`.
    pub path: String,
    pub kind: ConfErrorKind,
}

impl ConfError {
    pub fn new(kind: ConfErrorKind) -> Self {
        ConfError {
            pos: None,
            path: String::new(),
            kind,
        }
    }

    pub(crate) fn at(pos: &Pos, kind: ConfErrorKind) -> Self {
        ConfError {
            pos: Some(pos.clone()),
            path: String::new(),
            kind,
        }
    }

    pub(crate) fn syntax(pos: &Pos, msg: impl Into<String>) -> Self {
        Self::at(pos, ConfErrorKind::Syntax(msg.into()))
    }

    /// Fills in position and path unless a deeper level already did: the innermost
    /// location is the most precise one.
    pub(crate) fn locate(mut self, pos: &Pos, path: &str) -> Self {
        if self.pos.is_none() {
            self.pos = Some(pos.clone());
            self.path = path.to_string();
        }
        self
    }

    /// The message without the position.
    pub fn message(&self) -> String {
        let parent = |path: &str| -> String {
            // The parent of `a.b[2].c` is `a.b[2]`; of `a` it is empty.
            match path.rfind('.') {
                Some(i) => path[..i].to_string(),
                None => String::new(),
            }
        };
        let with_path = |msg: String| {
            if self.path.is_empty() {
                msg
            } else {
                format!("{}: {msg}", self.path)
            }
        };
        match &self.kind {
            ConfErrorKind::Syntax(m) => m.clone(),
            ConfErrorKind::UnknownVariable(name) => {
                let line = self.pos.as_ref().map(|p| p.line).unwrap_or(0);
                format!("variable reference for '{name}' on line {line} can not be found")
            }
            ConfErrorKind::BadVariable { name, reason } => {
                let line = self.pos.as_ref().map(|p| p.line).unwrap_or(0);
                format!(
                    "variable reference for '{name}' on line {line} could not be parsed: {reason}"
                )
            }
            ConfErrorKind::Include { path, reason } => {
                format!("error parsing include file '{path}', {reason}")
            }
            ConfErrorKind::IncludeCycle { chain } => {
                format!("include cycle: {}", chain.join(" -> "))
            }
            ConfErrorKind::UnknownField(field) => {
                let parent = parent(&self.path);
                if parent.is_empty() {
                    format!("unknown field \"{field}\"")
                } else {
                    format!("unknown field \"{field}\" in {parent}")
                }
            }
            ConfErrorKind::MissingField(field) => with_path(format!("missing field \"{field}\"")),
            ConfErrorKind::DuplicateField(field) => with_path(format!(
                "duplicate field \"{field}\" (an option and its alias?)"
            )),
            ConfErrorKind::Invalid(m) => with_path(m.clone()),
        }
    }

    fn render(&self) -> String {
        match &self.pos {
            Some(p) => format!("{p}: {}", self.message()),
            None => self.message(),
        }
    }
}

impl fmt::Debug for ConfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConfError({})", self.render())
    }
}

impl serde::de::Error for ConfError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        ConfError::new(ConfErrorKind::Invalid(msg.to_string()))
    }

    fn unknown_field(field: &str, _expected: &'static [&'static str]) -> Self {
        ConfError::new(ConfErrorKind::UnknownField(field.to_string()))
    }

    fn missing_field(field: &'static str) -> Self {
        ConfError::new(ConfErrorKind::MissingField(field.to_string()))
    }

    fn duplicate_field(field: &'static str) -> Self {
        ConfError::new(ConfErrorKind::DuplicateField(field.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_field_names_parent_only_when_nested() {
        let p = Pos::new("rejoin.conf", 3, 1);
        let top = ConfError::at(&p, ConfErrorKind::UnknownField("foo_unknown".into()))
            .with_path("foo_unknown");
        assert_eq!(
            top.to_string(),
            "rejoin.conf:3:1: unknown field \"foo_unknown\""
        );
        let nested = ConfError::at(&p, ConfErrorKind::UnknownField("urll".into()))
            .with_path("leafnodes.remotes[0].urll");
        assert_eq!(
            nested.to_string(),
            "rejoin.conf:3:1: unknown field \"urll\" in leafnodes.remotes[0]"
        );
    }

    #[test]
    fn invalid_values_are_prefixed_with_their_path() {
        let p = Pos::new("a.conf", 1, 7);
        let e = ConfError::at(&p, ConfErrorKind::Invalid("bad".into())).with_path("port");
        assert_eq!(e.to_string(), "a.conf:1:7: port: bad");
    }

    impl ConfError {
        fn with_path(mut self, path: &str) -> Self {
            self.path = path.into();
            self
        }
    }
}
