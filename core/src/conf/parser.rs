//! The configuration grammar: a hand-written recursive-descent scanner whose observable
//! behaviour follows nats-server 2.9.10's `conf/lex.go` + `conf/parse.go` (checked against
//! `nats-server -t`), including its odd corners: bare words that start with digits,
//! values that end at a quote, `(` blocks closed by a `)` alone on its line.
//!
//! Variables are resolved while parsing, exactly when the reference is read, against the
//! maps being built (innermost first) and then the environment; so a key defined *after*
//! the reference is not visible, as in nats-server.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::{ConfError, ConfErrorKind};
use super::source::{normalize, Source};
use super::tree::{Map, Node, Pos, Value};
use super::units;

/// Nesting of maps/arrays deeper than this is refused rather than risking the stack.
const MAX_NESTING: usize = 128;
/// Includes and environment variables that expand to further variables, combined.
const MAX_EXPANSION_DEPTH: usize = 16;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Body {
    /// The file's top level; `braced` when the whole file is wrapped in `{ }`.
    Top { braced: bool },
    /// Inside `{ }` of a map value.
    Map,
}

pub(crate) struct Parser<'s> {
    chars: Vec<char>,
    i: usize,
    line_starts: Vec<usize>,
    file: Arc<str>,
    src: &'s dyn Source,
    /// Maps being built, outermost first; variable lookups walk it backwards.
    scopes: Vec<Map>,
    /// Files being parsed, outermost first (for include cycles).
    chain: Vec<PathBuf>,
    /// Include and environment expansion depth of this parser.
    depth: usize,
    nesting: usize,
}

impl<'s> Parser<'s> {
    pub(crate) fn new(text: &str, file: &str, src: &'s dyn Source) -> Self {
        Self::nested(text, file, src, vec![normalize(Path::new(file))], 0)
    }

    fn nested(
        text: &str,
        file: &str,
        src: &'s dyn Source,
        chain: Vec<PathBuf>,
        depth: usize,
    ) -> Self {
        let chars: Vec<char> = text.chars().collect();
        let mut line_starts = vec![0];
        for (i, c) in chars.iter().enumerate() {
            if *c == '\n' {
                line_starts.push(i + 1);
            }
        }
        Parser {
            chars,
            i: 0,
            line_starts,
            file: Arc::from(file),
            src,
            scopes: Vec::new(),
            chain,
            depth,
            nesting: 0,
        }
    }

    pub(crate) fn parse_document(mut self) -> Result<Map, ConfError> {
        self.scopes.push(Map::new());
        self.skip_space_and_comments();
        let braced = self.peek() == Some('{');
        if braced {
            self.bump();
        }
        self.parse_entries(Body::Top { braced })?;
        Ok(self.scopes.pop().unwrap_or_default())
    }

    // ---- character access -------------------------------------------------------------

    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.i + offset).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.i += 1;
        }
        c
    }

    fn pos_of(&self, i: usize) -> Pos {
        let line = self.line_starts.partition_point(|&s| s <= i).max(1);
        let col = i - self.line_starts[line - 1] + 1;
        Pos {
            file: self.file.clone(),
            line: u32::try_from(line).unwrap_or(u32::MAX),
            col: u32::try_from(col).unwrap_or(u32::MAX),
        }
    }

    fn pos(&self) -> Pos {
        self.pos_of(self.i)
    }

    fn err(&self, msg: impl Into<String>) -> ConfError {
        ConfError::syntax(&self.pos(), msg)
    }

    fn text(&self, from: usize) -> String {
        self.chars[from..self.i].iter().collect()
    }

    fn at_comment(&self) -> bool {
        match self.peek() {
            Some('#') => true,
            Some('/') => self.peek_at(1) == Some('/'),
            _ => false,
        }
    }

    fn skip_to_eol(&mut self) {
        while let Some(c) = self.peek() {
            if is_nl(c) {
                break;
            }
            self.bump();
        }
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(is_ws) {
            self.bump();
        }
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    fn skip_space_and_comments(&mut self) {
        loop {
            self.skip_space();
            if self.at_comment() {
                self.skip_to_eol();
            } else {
                break;
            }
        }
    }

    // ---- maps -------------------------------------------------------------------------

    fn parse_entries(&mut self, body: Body) -> Result<(), ConfError> {
        loop {
            self.skip_space_and_comments();
            match (self.peek(), body) {
                (None, Body::Top { braced: false }) => return Ok(()),
                (None, _) => return Err(self.err("Unexpected EOF processing map.")),
                (Some('}'), Body::Top { braced: false }) => {
                    return Err(self.err("Unexpected '}' without a matching '{'."))
                }
                (Some('}'), Body::Top { braced: true }) => {
                    self.bump();
                    self.skip_space_and_comments();
                    return match self.peek() {
                        None => Ok(()),
                        Some(c) => Err(self.err(format!(
                            "Expected end of file after the closing '}}', but got '{}' instead.",
                            esc(c)
                        ))),
                    };
                }
                (Some('}'), Body::Map) => {
                    self.bump();
                    return Ok(());
                }
                (Some(c @ (',' | ';')), _) => {
                    return Err(self.err(format!("Unexpected value terminator '{c}'.")))
                }
                (Some(c @ (':' | '=')), _) => {
                    return Err(self.err(format!("Unexpected key separator '{c}'.")))
                }
                (Some(']'), Body::Map) => {
                    return Err(self.err("Unexpected array end ']' processing map."))
                }
                _ => {}
            }
            self.parse_entry(body)?;
            self.value_end(body)?;
        }
    }

    fn parse_entry(&mut self, body: Body) -> Result<(), ConfError> {
        let key_pos = self.pos();
        let (key, bare) = self.parse_key(body)?;
        if bare
            && key.eq_ignore_ascii_case("include")
            && self.peek().is_some_and(char::is_whitespace)
        {
            return self.parse_include();
        }
        // The separator is optional, and before it any whitespace (even new lines) may
        // follow the key.
        self.skip_space();
        let separated = matches!(self.peek(), Some(':' | '='));
        if separated {
            self.bump();
            match body {
                // At the top level the value must start on the separator's line.
                Body::Top { .. } => self.skip_ws(),
                Body::Map => self.skip_space(),
            }
        }
        match self.peek() {
            None => {
                return Err(self.err(format!("Unexpected EOF: key '{key}' has no value.")));
            }
            Some(',') if body == Body::Map => {
                return Err(self.err("Unexpected map value terminator ','."))
            }
            Some('}') => return Err(self.err(format!("Key '{key}' has no value."))),
            _ => {}
        }
        let node = self.parse_value()?;
        self.current_scope().insert(key, key_pos, node);
        Ok(())
    }

    fn current_scope(&mut self) -> &mut Map {
        if self.scopes.is_empty() {
            self.scopes.push(Map::new());
        }
        let last = self.scopes.len() - 1;
        &mut self.scopes[last]
    }

    /// Returns the key text and whether it was bare (only bare keys can be keywords).
    fn parse_key(&mut self, body: Body) -> Result<(String, bool), ConfError> {
        match self.peek() {
            Some(q @ ('"' | '\'')) => {
                self.bump();
                let start = self.i;
                while let Some(c) = self.peek() {
                    if c == q {
                        let key = self.text(start);
                        self.bump();
                        return Ok((key, false));
                    }
                    self.bump();
                }
                Err(self.err(if q == '"' {
                    "Unexpected EOF processing double quoted map key."
                } else {
                    "Unexpected EOF processing quoted map key."
                }))
            }
            _ => {
                let start = self.i;
                // A `{` ends a key so that `leafnodes{` works (nats-server needs a space).
                while let Some(c) = self.peek() {
                    if c.is_whitespace() || c == ':' || c == '=' || c == '{' {
                        break;
                    }
                    self.bump();
                }
                if self.i == start {
                    let c = self.peek().map(esc).unwrap_or_default();
                    return Err(self.err(format!("Expected a key but got '{c}'.")));
                }
                if self.peek().is_none() && body == Body::Map {
                    return Err(self.err("Unexpected EOF processing map key."));
                }
                Ok((self.text(start), true))
            }
        }
    }

    /// After a value: only blanks and a comment may follow before the terminator.
    fn value_end(&mut self, body: Body) -> Result<(), ConfError> {
        self.skip_ws();
        if self.at_comment() {
            self.skip_to_eol();
        }
        match (self.peek(), body) {
            (None, Body::Top { .. }) => Ok(()),
            (Some(c), _) if is_nl(c) || c == ';' || c == ',' => {
                self.bump();
                Ok(())
            }
            // Left for `parse_entries`, which knows whether a `}` is expected here.
            (Some('}'), _) => Ok(()),
            (None, Body::Map) => Err(self.err("Unexpected EOF processing map.")),
            (Some(c), Body::Top { .. }) => Err(self.err(format!(
                "Expected a top-level value to end with a new line, comment or EOF, but got '{}' instead.",
                esc(c)
            ))),
            (Some(c), Body::Map) => Err(self.err(format!(
                "Expected a map value terminator ',' or a map terminator '}}', but got '{}' instead.",
                esc(c)
            ))),
        }
    }

    fn enter(&mut self) -> Result<(), ConfError> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return Err(self.err(format!("Maps and arrays nested deeper than {MAX_NESTING}.")));
        }
        Ok(())
    }

    fn parse_map(&mut self) -> Result<Node, ConfError> {
        let pos = self.pos();
        self.bump();
        self.enter()?;
        self.scopes.push(Map::new());
        let r = self.parse_entries(Body::Map);
        let map = self.scopes.pop().unwrap_or_default();
        r?;
        self.nesting -= 1;
        Ok(Node::new(Value::Map(map), pos))
    }

    fn parse_array(&mut self) -> Result<Node, ConfError> {
        let pos = self.pos();
        self.bump();
        self.enter()?;
        let mut items = Vec::new();
        loop {
            self.skip_space_and_comments();
            match self.peek() {
                None => return Err(self.err("Unexpected EOF processing array.")),
                Some(']') => {
                    self.bump();
                    break;
                }
                Some(',') => return Err(self.err("Unexpected array value terminator ','.")),
                _ => {}
            }
            items.push(self.parse_value()?);
            self.skip_ws();
            if self.at_comment() {
                self.skip_to_eol();
            }
            match self.peek() {
                Some(c) if c == ',' || is_nl(c) => {
                    self.bump();
                }
                Some(']') => {
                    self.bump();
                    break;
                }
                None => return Err(self.err("Unexpected EOF processing array.")),
                Some(c) => {
                    return Err(self.err(format!(
                        "Expected an array value terminator ',' or an array terminator ']', but got '{}' instead.",
                        esc(c)
                    )))
                }
            }
        }
        self.nesting -= 1;
        Ok(Node::new(Value::Array(items), pos))
    }

    // ---- values -----------------------------------------------------------------------

    fn parse_value(&mut self) -> Result<Node, ConfError> {
        self.skip_ws();
        let pos = self.pos();
        let value = match self.peek() {
            None => return Err(self.err("Unexpected EOF: expected a value.")),
            Some(c) if is_nl(c) => return Err(self.err("Expected value but found new line")),
            Some('[') => return self.parse_array(),
            Some('{') => return self.parse_map(),
            Some('\'') => self.parse_single_quoted()?,
            Some('"') => self.parse_double_quoted()?,
            Some('(') => self.parse_block()?,
            Some('-') => self.parse_negative()?,
            Some(c) if c.is_ascii_digit() => self.parse_number_like()?,
            Some('.') => return Err(self.err("Floats must start with a digit")),
            Some(_) => return self.parse_bare(self.i, pos),
        };
        Ok(Node::new(value, pos))
    }

    fn parse_single_quoted(&mut self) -> Result<Value, ConfError> {
        self.bump();
        let start = self.i;
        while let Some(c) = self.peek() {
            if c == '\'' {
                let s = self.text(start);
                self.bump();
                return Ok(Value::Str(s));
            }
            self.bump();
        }
        Err(self.err("Unexpected EOF processing quoted string."))
    }

    fn parse_double_quoted(&mut self) -> Result<Value, ConfError> {
        self.bump();
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(self.err("Unexpected EOF processing quoted string.")),
                Some('"') => {
                    self.bump();
                    return self.utf8(out).map(Value::Str);
                }
                Some('\\') => {
                    self.bump();
                    self.parse_escape(&mut out)?;
                }
                Some(c) => {
                    self.bump();
                    push_char(&mut out, c);
                }
            }
        }
    }

    /// After a `\`: one of `\t \n \r \" \\ \xHH`.
    fn parse_escape(&mut self, out: &mut Vec<u8>) -> Result<(), ConfError> {
        match self.bump() {
            Some('t') => out.push(b'\t'),
            Some('n') => out.push(b'\n'),
            Some('r') => out.push(b'\r'),
            Some('"') => out.push(b'"'),
            Some('\\') => out.push(b'\\'),
            Some('x') => {
                let mut hex = String::new();
                for _ in 0..2 {
                    match self.peek() {
                        Some(c) if is_nl(c) => {
                            return Err(self.err(
                                "Expected two hexadecimal digits after '\\x', but hit end of line",
                            ))
                        }
                        Some(c) => {
                            self.bump();
                            hex.push(c);
                        }
                        None => {
                            return Err(self.err(
                                "Expected two hexadecimal digits after '\\x', but hit end of file",
                            ))
                        }
                    }
                }
                let b = u8::from_str_radix(&hex, 16)
                    .ok()
                    .filter(|_| hex.chars().all(|c| c.is_ascii_hexdigit()))
                    .ok_or_else(|| {
                        self.err(format!(
                            "Expected two hexadecimal digits after '\\x', but got '{hex}'"
                        ))
                    })?;
                out.push(b);
            }
            other => {
                let c = other.map(esc).unwrap_or_default();
                return Err(self.err(format!(
                    "Invalid escape character '{c}'. Only the following escape characters are allowed: \\xXX, \\t, \\n, \\r, \\\", \\\\."
                )));
            }
        }
        Ok(())
    }

    fn utf8(&self, bytes: Vec<u8>) -> Result<String, ConfError> {
        String::from_utf8(bytes)
            .map_err(|_| self.err("String is not valid UTF-8 after applying '\\x' escapes."))
    }

    /// `( ... )`: raw text up to a `)` that is alone on its line.
    fn parse_block(&mut self) -> Result<Value, ConfError> {
        self.bump();
        let start = self.i;
        while let Some(c) = self.peek() {
            if c == ')' && self.i > start && self.chars[self.i - 1] == '\n' {
                let next = self.peek_at(1);
                if next.is_none() || next.is_some_and(is_nl) {
                    let s = self.text(start);
                    self.bump();
                    return Ok(Value::Str(s));
                }
            }
            self.bump();
        }
        Err(self.err("Unexpected EOF processing block."))
    }

    fn consume_digits(&mut self) -> usize {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
        }
        self.i - start
    }

    /// A value starting with a digit: integer (with optional unit), float, datetime, an
    /// IP-like string (`127.0.0.1:4222`), or — when non-numeric characters follow — a
    /// plain string (`1abc`), as nats-server lexes them.
    fn parse_number_like(&mut self) -> Result<Value, ConfError> {
        let start = self.i;
        let pos = self.pos();
        let digits = self.consume_digits();
        match self.peek() {
            Some('-') if digits == 4 => self.parse_datetime(start),
            Some('-') => Err(self.err("All ISO8601 dates must be in full Zulu form.")),
            Some('.') => self.parse_float_or_ip(start),
            Some(c) if is_unit_letter(c) => self.parse_unit_suffix(start, pos),
            c if ends_number(c) => self.int(start),
            _ => self.parse_bare(start, pos).map(|n| n.value),
        }
    }

    fn parse_negative(&mut self) -> Result<Value, ConfError> {
        let start = self.i;
        let pos = self.pos();
        self.bump();
        match self.peek() {
            Some(c) if c.is_ascii_digit() => {}
            Some('.') => return Err(self.err("Floats must start with a digit, not '.'.")),
            c => {
                let c = c.map(esc).unwrap_or_default();
                return Err(self.err(format!("Expected a digit but got '{c}'.")));
            }
        }
        self.consume_digits();
        match self.peek() {
            Some('.') => self.parse_float_or_ip(start),
            Some(c) if is_unit_letter(c) => self.parse_unit_suffix(start, pos),
            // Anything else ends the number; a stray character then fails the value end.
            _ => self.int(start),
        }
    }

    fn int(&self, start: usize) -> Result<Value, ConfError> {
        let text = self.text(start);
        units::parse_int_with_unit(&text)
            .map(Value::Int)
            .map_err(|m| ConfError::syntax(&self.pos_of(start), m))
    }

    fn parse_unit_suffix(&mut self, start: usize, pos: Pos) -> Result<Value, ConfError> {
        self.bump();
        while matches!(self.peek(), Some('b' | 'B' | 'i' | 'I')) {
            self.bump();
        }
        let next = self.peek();
        if ends_number(next) || next.is_some_and(|c| c.is_ascii_digit()) {
            self.int(start)
        } else {
            // `10mbx`: not a size after all.
            self.parse_bare(start, pos).map(|n| n.value)
        }
    }

    fn parse_float_or_ip(&mut self, start: usize) -> Result<Value, ConfError> {
        self.bump(); // '.'
        match self.peek() {
            Some(c) if c.is_ascii_digit() => {}
            c => {
                let c = c.map(esc).unwrap_or_default();
                return Err(self.err(format!(
                    "Floats must have a digit after the '.', but got '{c}' instead."
                )));
            }
        }
        self.consume_digits();
        if self.peek() == Some('.') {
            // A second dot: this was an address such as `127.0.0.1:4222`.
            while self
                .peek()
                .is_some_and(|c| c.is_ascii_digit() || matches!(c, '.' | ':' | '-'))
            {
                self.bump();
            }
            return Ok(Value::Str(self.text(start)));
        }
        let text = self.text(start);
        text.parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Value::Float)
            .ok_or_else(|| {
                ConfError::syntax(
                    &self.pos_of(start),
                    format!("float '{text}' is out of the range"),
                )
            })
    }

    /// After `YYYY`: the rest of `YYYY-MM-DDTHH:MM:SSZ`.
    fn parse_datetime(&mut self, start: usize) -> Result<Value, ConfError> {
        self.bump(); // '-'
        for f in "00-00T00:00:00Z".chars() {
            let c = self.peek();
            let ok = if f == '0' {
                c.is_some_and(|c| c.is_ascii_digit())
            } else {
                c == Some(f)
            };
            if !ok {
                let got = c.map(esc).unwrap_or_default();
                return Err(self.err(if f == '0' {
                    format!("Expected digit in ISO8601 datetime, but found '{got}' instead.")
                } else {
                    format!("Expected '{f}' in ISO8601 datetime, but found '{got}' instead.")
                }));
            }
            self.bump();
        }
        let text = self.text(start);
        let field = |a: usize, b: usize| text[a..b].parse::<u32>().unwrap_or(u32::MAX);
        let (mo, d, h, mi, s) = (
            field(5, 7),
            field(8, 10),
            field(11, 13),
            field(14, 16),
            field(17, 19),
        );
        if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 59 {
            return Err(ConfError::syntax(
                &self.pos_of(start),
                format!("expected Zulu formatted DateTime, but got '{text}'"),
            ));
        }
        Ok(Value::DateTime(text))
    }

    /// A bare word from `start` (which may lie before the cursor when a number turned out
    /// to be a word): a boolean, a `$variable`, or a string.
    fn parse_bare(&mut self, start: usize, pos: Pos) -> Result<Node, ConfError> {
        let mut out = Vec::new();
        for c in &self.chars[start..self.i] {
            push_char(&mut out, *c);
        }
        let mut escaped = false;
        loop {
            match self.peek() {
                None => break,
                Some(c) if is_nl(c) || is_ws(c) || matches!(c, ';' | ',' | ']' | '}') => break,
                Some('\\') => {
                    self.bump();
                    self.parse_escape(&mut out)?;
                    escaped = true;
                }
                Some('\'') => {
                    // nats-server ends a bare word at a quote and drops the quote.
                    self.bump();
                    break;
                }
                Some(c) => {
                    self.bump();
                    push_char(&mut out, c);
                }
            }
        }
        let word = self.utf8(out)?;
        if escaped {
            return Ok(Node::new(Value::Str(word), pos));
        }
        if let Some(b) = parse_bool(&word) {
            return Ok(Node::new(Value::Bool(b), pos));
        }
        if let Some(name) = word.strip_prefix('$') {
            return self.resolve_variable(name, pos);
        }
        Ok(Node::new(Value::Str(word), pos))
    }

    // ---- variables and includes --------------------------------------------------------

    fn resolve_variable(&mut self, name: &str, pos: Pos) -> Result<Node, ConfError> {
        // Unquoted bcrypt hashes (`$2a$11$...`) are values, not references.
        if name.starts_with("2a$") {
            return Ok(Node::new(Value::Str(format!("${name}")), pos));
        }
        for scope in self.scopes.iter_mut().rev() {
            if let Some(entry) = scope.entry_mut(name) {
                entry.used_as_variable = true;
                return Ok(Node::new(entry.node.value.clone(), pos));
            }
        }
        let Some(raw) = self.src.env(name) else {
            return Err(ConfError::at(
                &pos,
                ConfErrorKind::UnknownVariable(name.to_string()),
            ));
        };
        let bad = |reason: String| {
            ConfError::at(
                &pos,
                ConfErrorKind::BadVariable {
                    name: name.to_string(),
                    reason,
                },
            )
        };
        if self.depth >= MAX_EXPANSION_DEPTH {
            return Err(bad("variables nested too deeply".into()));
        }
        if raw.trim().is_empty() {
            return Ok(Node::new(Value::Str(String::new()), pos));
        }
        let text = format!("pk={raw}");
        let file = format!("${name}");
        let sub = Parser::nested(&text, &file, self.src, self.chain.clone(), self.depth + 1);
        let map = sub.parse_document().map_err(|e| match e.kind {
            // Report the innermost failure once, at the reference in the real file.
            ConfErrorKind::BadVariable { .. } | ConfErrorKind::UnknownVariable(_) => ConfError {
                pos: Some(pos.clone()),
                ..e
            },
            _ => bad(e.message()),
        })?;
        match map.get("pk") {
            Some(node) if map.len() == 1 => {
                let mut node = node.clone();
                relocate(&mut node, &pos);
                Ok(node)
            }
            _ => Err(bad("not a single value".into())),
        }
    }

    fn parse_include(&mut self) -> Result<(), ConfError> {
        self.skip_ws();
        let pos = self.pos();
        let path = match self.peek() {
            Some(q @ ('"' | '\'')) => {
                self.bump();
                let start = self.i;
                loop {
                    match self.peek() {
                        Some(c) if c == q => break,
                        Some(_) => {
                            self.bump();
                        }
                        None => return Err(self.err("Unexpected EOF in quoted include")),
                    }
                }
                let p = self.text(start);
                self.bump();
                p
            }
            Some('[') => return Err(self.err("Expected include value but found start of an array")),
            Some('{') => return Err(self.err("Expected include value but found start of a map")),
            Some('(') => return Err(self.err("Expected include value but found start of a block")),
            Some(c) if c.is_ascii_digit() || c == '-' => {
                return Err(self.err("Expected include value but found start of a number"))
            }
            Some('\\') => return Err(self.err("Expected include value but found escape sequence")),
            Some(c) if is_nl(c) => {
                return Err(self.err("Expected include value but found new line"))
            }
            None => return Err(self.err("Unexpected EOF: expected an include path.")),
            Some(_) => {
                let start = self.i;
                while let Some(c) = self.peek() {
                    if is_nl(c) || is_ws(c) || matches!(c, ';' | '}') {
                        break;
                    }
                    if c == '\'' {
                        break;
                    }
                    self.bump();
                }
                let p = self.text(start);
                if self.peek() == Some('\'') {
                    self.bump();
                }
                p
            }
        };
        self.include(&path, &pos)
    }

    fn include(&mut self, path: &str, pos: &Pos) -> Result<(), ConfError> {
        let base = Path::new(&*self.file).parent().unwrap_or(Path::new(""));
        let full = normalize(&base.join(path));
        if self.chain.contains(&full) {
            let mut chain: Vec<String> =
                self.chain.iter().map(|p| p.display().to_string()).collect();
            chain.push(full.display().to_string());
            return Err(ConfError::at(pos, ConfErrorKind::IncludeCycle { chain }));
        }
        if self.depth >= MAX_EXPANSION_DEPTH {
            return Err(ConfError::at(
                pos,
                ConfErrorKind::Include {
                    path: path.to_string(),
                    reason: "includes nested too deeply".into(),
                },
            ));
        }
        let text = self.src.read(&full).map_err(|e| {
            ConfError::at(
                pos,
                ConfErrorKind::Include {
                    path: path.to_string(),
                    reason: e.to_string(),
                },
            )
        })?;
        let mut chain = self.chain.clone();
        chain.push(full.clone());
        let file = full.display().to_string();
        let sub = Parser::nested(&text, &file, self.src, chain, self.depth + 1);
        let map = sub.parse_document()?;
        let scope = self.current_scope();
        for entry in map.into_entries() {
            scope.insert_entry(entry);
        }
        Ok(())
    }
}

/// Gives a value that came from the environment the position of the `$NAME` reference.
fn relocate(node: &mut Node, pos: &Pos) {
    node.pos = pos.clone();
    match &mut node.value {
        Value::Array(items) => items.iter_mut().for_each(|n| relocate(n, pos)),
        Value::Map(map) => {
            let entries = std::mem::take(map).into_entries();
            for mut e in entries {
                e.key_pos = pos.clone();
                relocate(&mut e.node, pos);
                map.insert_entry(e);
            }
        }
        _ => {}
    }
}

fn is_ws(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn is_nl(c: char) -> bool {
    c == '\n' || c == '\r'
}

fn is_unit_letter(c: char) -> bool {
    matches!(c.to_ascii_lowercase(), 'k' | 'm' | 'g' | 't' | 'p' | 'e')
}

/// Characters after which digits are a finished number. nats-server 2.9.10 leaves `]` out
/// of this set (so `[1, 2]` holds the *string* "2"); we include it.
fn ends_number(c: Option<char>) -> bool {
    match c {
        None => true,
        Some(c) => is_nl(c) || is_ws(c) || matches!(c, '}' | ';' | ',' | ']'),
    }
}

fn parse_bool(word: &str) -> Option<bool> {
    match word.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" => Some(true),
        "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn push_char(out: &mut Vec<u8>, c: char) {
    let mut buf = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

/// Shows control characters in messages the way nats-server does for new lines.
fn esc(c: char) -> String {
    match c {
        '\n' => "\\n".into(),
        '\r' => "\\r".into(),
        '\t' => "\\t".into(),
        c => c.to_string(),
    }
}
