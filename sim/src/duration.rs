//! Durations as scenario files and traces write them: `"250ms"`, `"1.5s"`, `"2m"`, `"10us"`.
//!
//! Traces print every time as a duration since the world's start with millisecond precision
//! (`"12.340s"`), never a raw instant, so two runs of one seed print identical bytes.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration parsed from / printed as text like `"1.5s"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dur(pub Duration);

/// Error for a malformed duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "bad duration {0:?}: expected a number with a unit us, ms, s or m (e.g. \"250ms\", \"1.5s\")"
)]
pub struct BadDuration(pub String);

impl FromStr for Dur {
    type Err = BadDuration;

    fn from_str(s: &str) -> Result<Self, BadDuration> {
        let t = s.trim();
        let bad = || BadDuration(s.to_string());
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let (num, unit) = t.split_at(split);
        let unit_ns: f64 = match unit.trim() {
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" | "min" => 60e9,
            _ => return Err(bad()),
        };
        let n: f64 = num.parse().map_err(|_| bad())?;
        let ns = n * unit_ns;
        if !ns.is_finite() || !(0.0..=1e18).contains(&ns) {
            return Err(bad());
        }
        Ok(Dur(Duration::from_nanos(ns.round() as u64)))
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.subsec_nanos() == 0 {
            write!(f, "{}s", d.as_secs())
        } else if d.as_nanos().is_multiple_of(1_000_000) {
            if d.as_secs() == 0 {
                write!(f, "{}ms", d.subsec_millis())
            } else {
                write!(f, "{}.{:03}s", d.as_secs(), d.subsec_millis())
            }
        } else {
            write!(f, "{}us", d.as_micros())
        }
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A trace timestamp: seconds with exactly three decimals, `"12.340s"`.
pub fn stamp(d: Duration) -> String {
    format!("{}.{:03}s", d.as_secs(), d.subsec_millis())
}

/// Parses a [`stamp`] back (used by the timeline renderer).
pub fn parse_stamp(s: &str) -> Option<Duration> {
    s.parse::<Dur>().ok().map(|d| d.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Duration {
        s.parse::<Dur>().unwrap().0
    }

    #[test]
    fn parses_units() {
        assert_eq!(d("250ms"), Duration::from_millis(250));
        assert_eq!(d("1.5s"), Duration::from_millis(1500));
        assert_eq!(d("2m"), Duration::from_secs(120));
        assert_eq!(d("10us"), Duration::from_micros(10));
        assert_eq!(d(" 3 s "), Duration::from_secs(3));
        assert!("3".parse::<Dur>().is_err());
        assert!("s".parse::<Dur>().is_err());
        assert!("1.2.3s".parse::<Dur>().is_err());
        assert!("-1s".parse::<Dur>().is_err());
        assert!("5h".parse::<Dur>().is_err());
    }

    #[test]
    fn display_round_trips() {
        for s in ["250ms", "1.500s", "2s", "10us", "0s", "61.001s"] {
            assert_eq!(s.parse::<Dur>().unwrap().to_string(), s);
        }
        assert_eq!(stamp(Duration::from_micros(12_340_999)), "12.340s");
        assert_eq!(parse_stamp("12.340s"), Some(Duration::from_millis(12_340)));
    }
}
