//! The queue-group list of a leafnode message (`LMSG s | q1 q2 1`), kept as the raw span of
//! the control line so that parsing it costs nothing until someone iterates.

/// Queue group names separated by spaces or TABs, borrowed from a control line.
///
/// Equality compares the names, not the separators, so `"a  b"` equals `"a b"`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Queues<'a> {
    raw: &'a str,
}

impl<'a> Queues<'a> {
    /// No queue groups: the message is for plain subscribers only.
    pub const EMPTY: Queues<'static> = Queues { raw: "" };

    /// Wrap a span of names separated by spaces or TABs (leading and trailing ones allowed).
    pub fn from_raw(raw: &'a str) -> Self {
        Queues { raw }
    }

    /// The span as it appeared on the wire.
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// True when no queue group is listed.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// Number of queue groups listed.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// The queue group names, in wire order.
    pub fn iter(&self) -> QueueNames<'a> {
        QueueNames { rest: self.raw }
    }
}

impl PartialEq for Queues<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Queues<'_> {}

impl<'a> IntoIterator for Queues<'a> {
    type Item = &'a str;
    type IntoIter = QueueNames<'a>;

    fn into_iter(self) -> QueueNames<'a> {
        self.iter()
    }
}

/// Iterator over the names in a [`Queues`].
#[derive(Clone, Debug)]
pub struct QueueNames<'a> {
    rest: &'a str,
}

impl<'a> Iterator for QueueNames<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let blank = |c: char| c == ' ' || c == '\t';
        let s = self.rest.trim_start_matches(blank);
        if s.is_empty() {
            self.rest = s;
            return None;
        }
        let end = s.find(blank).unwrap_or(s.len());
        let (name, rest) = s.split_at(end);
        self.rest = rest;
        Some(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_on_blank_runs() {
        let q = Queues::from_raw(" a \t bb  c ");
        assert_eq!(q.iter().collect::<Vec<_>>(), ["a", "bb", "c"]);
        assert_eq!(q.len(), 3);
        assert!(!q.is_empty());
        assert_eq!(q, Queues::from_raw("a bb c"));
        assert_ne!(q, Queues::from_raw("a bb"));
        assert!(Queues::from_raw("  ").is_empty());
        assert_eq!(Queues::EMPTY, Queues::from_raw(""));
        assert_eq!(Queues::EMPTY.len(), 0);
    }
}
