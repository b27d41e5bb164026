//! Durations as nats-server reads them: Go duration strings (`"2s"`, `"1m30s"`, `"500ms"`,
//! `"100us"`, `"1h"`), or a bare integer meaning seconds. nats-server only warns about the
//! bare integer (and `-t` treats the warning as an error); we simply accept it.
//! Timeouts (`authorization.timeout`, `tls.timeout`) are float seconds in nats-server; they
//! accept floats as well.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};

/// Parses a Go `time.ParseDuration` string. Negative durations are refused: no option
/// of ours means anything by them.
pub fn parse_go_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration \"{s}\"");
    let mut rest = s.trim();
    if let Some(r) = rest.strip_prefix('+') {
        rest = r;
    } else if rest.starts_with('-') {
        return Err(format!("negative duration \"{s}\" is not allowed"));
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total_ns: u128 = 0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("missing unit in duration \"{s}\""))?;
        let (num, tail) = rest.split_at(num_end);
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(bad());
        }
        let unit_end = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_end);
        let unit_ns: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(format!("unknown unit \"{unit}\" in duration \"{s}\"")),
        };
        let (int_part, frac_part) = num.split_once('.').unwrap_or((num, ""));
        let int: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| bad())?
        };
        let mut ns = int.checked_mul(unit_ns).ok_or_else(bad)?;
        // Fractions are exact down to the nanosecond, as in Go.
        let mut scale = unit_ns;
        for d in frac_part.chars() {
            scale /= 10;
            if scale == 0 {
                break;
            }
            ns += u128::from(d.to_digit(10).unwrap_or(0)) * scale;
        }
        total_ns = total_ns.checked_add(ns).ok_or_else(bad)?;
        rest = tail;
    }
    let secs = u64::try_from(total_ns / 1_000_000_000).map_err(|_| bad())?;
    Ok(Duration::new(secs, (total_ns % 1_000_000_000) as u32))
}

/// Renders a duration the way Go prints one (`1m30s`, `500ms`, `2h0m0s`), for messages
/// and for writing a configuration back out.
pub fn format_go_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    if ns < 1_000_000 {
        return trim_frac(ns, 1_000, "µs");
    }
    if ns < 1_000_000_000 {
        return trim_frac(ns, 1_000_000, "ms");
    }
    let total_s = ns / 1_000_000_000;
    let frac = ns % 1_000_000_000;
    let (h, m, s) = (total_s / 3600, (total_s / 60) % 60, total_s % 60);
    let secs = if frac == 0 {
        format!("{s}s")
    } else {
        let f = format!("{frac:09}");
        format!("{s}.{}s", f.trim_end_matches('0'))
    };
    if h > 0 {
        format!("{h}h{m}m{secs}")
    } else if m > 0 {
        format!("{m}m{secs}")
    } else {
        secs
    }
}

fn trim_frac(ns: u128, unit: u128, suffix: &str) -> String {
    let whole = ns / unit;
    let frac = ns % unit;
    if frac == 0 {
        format!("{whole}{suffix}")
    } else {
        let width = unit.to_string().len() - 1;
        let f = format!("{frac:0width$}");
        format!("{whole}.{}{suffix}", f.trim_end_matches('0'))
    }
}

struct GoDuration {
    allow_float_secs: bool,
}

impl<'de> Visitor<'de> for GoDuration {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.allow_float_secs {
            f.write_str("seconds (a number) or a duration string such as \"2s\"")
        } else {
            f.write_str("a duration string such as \"2s\" or \"1m30s\", or whole seconds")
        }
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
        u64::try_from(v)
            .map(Duration::from_secs)
            .map_err(|_| E::custom(format!("negative duration {v} is not allowed")))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
        Ok(Duration::from_secs(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
        if !self.allow_float_secs {
            return Err(E::invalid_type(de::Unexpected::Float(v), &self));
        }
        Duration::try_from_secs_f64(v).map_err(|_| {
            E::custom(format!(
                "invalid duration {v}: must be non-negative seconds"
            ))
        })
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        parse_go_duration(v).map_err(E::custom)
    }
}

/// `deserialize_with` for a duration option (string or whole seconds).
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    d.deserialize_any(GoDuration {
        allow_float_secs: false,
    })
}

/// `deserialize_with` for a timeout in (float) seconds, also accepting duration strings.
pub fn deserialize_secs<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    d.deserialize_any(GoDuration {
        allow_float_secs: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        let ms = Duration::from_millis;
        let cases: &[(&str, Duration)] = &[
            ("0", Duration::ZERO),
            ("0s", Duration::ZERO),
            ("2s", Duration::from_secs(2)),
            ("1m30s", Duration::from_secs(90)),
            ("500ms", ms(500)),
            ("1h", Duration::from_secs(3600)),
            ("100us", Duration::from_micros(100)),
            ("100µs", Duration::from_micros(100)),
            ("7ns", Duration::from_nanos(7)),
            ("1.5s", ms(1500)),
            (".5s", ms(500)),
            ("1.s", Duration::from_secs(1)),
            ("2h45m", Duration::from_secs(2 * 3600 + 45 * 60)),
            ("+3s", Duration::from_secs(3)),
            ("1.0000000001s", Duration::from_secs(1)),
        ];
        for (s, want) in cases {
            assert_eq!(parse_go_duration(s).as_ref(), Ok(want), "{s}");
        }
        for bad in ["", "s", "2", "2x", "1..5s", "-1s", "2 s", "ms"] {
            assert!(parse_go_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn formats_like_go() {
        for (d, s) in [
            (Duration::ZERO, "0s"),
            (Duration::from_millis(500), "500ms"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_secs(7200), "2h0m0s"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::from_micros(100), "100µs"),
            (Duration::from_nanos(1500), "1.5µs"),
        ] {
            assert_eq!(format_go_duration(d), s);
            assert_eq!(parse_go_duration(s), Ok(d), "round trip {s}");
        }
    }
}
