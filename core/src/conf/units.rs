//! Integer unit suffixes (`1k`, `512KB`, `2MiB`), shared by the lexer and by options that
//! also accept sizes written as strings (`max_payload: "1MB"`).
//!
//! Decimal suffixes (`k`, `m`, `g`, `t`, `p`, `e`) are powers of 1000; the `b`, `i` and
//! `ib` forms are powers of 1024. Case does not matter.

/// The multiplier for `suffix` (lower- or upper-case), or `None` when it is not a unit.
pub fn multiplier(suffix: &str) -> Option<i64> {
    let s = suffix.to_ascii_lowercase();
    let (letter, rest) = match s.char_indices().nth(1) {
        Some((i, _)) => s.split_at(i),
        None if s.is_empty() => return Some(1),
        None => (s.as_str(), ""),
    };
    let exp = match letter {
        "k" => 1,
        "m" => 2,
        "g" => 3,
        "t" => 4,
        "p" => 5,
        "e" => 6,
        _ => return None,
    };
    let base: i64 = match rest {
        "" => 1000,
        "b" | "i" | "ib" => 1024,
        _ => return None,
    };
    Some(base.pow(exp))
}

/// Parses `digits[suffix]` (optionally negative) into a value with the unit applied.
pub fn parse_int_with_unit(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let digits_end = t
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && c == '-')))
        .map(|(i, _)| i)
        .unwrap_or(t.len());
    let (num, suffix) = t.split_at(digits_end);
    let num: i64 = num.parse().map_err(|e: std::num::ParseIntError| {
        if matches!(
            e.kind(),
            std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow
        ) {
            format!("integer '{text}' is out of the range")
        } else {
            format!("expected integer, but got '{text}'")
        }
    })?;
    let mul =
        multiplier(suffix.trim()).ok_or_else(|| format!("unknown unit suffix in '{text}'"))?;
    num.checked_mul(mul)
        .ok_or_else(|| format!("integer '{text}' is out of the range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_table_matches_nats_server() {
        let cases: &[(&str, i64)] = &[
            ("", 1),
            ("k", 1000),
            ("K", 1000),
            ("kb", 1024),
            ("KB", 1024),
            ("ki", 1024),
            ("KiB", 1024),
            ("m", 1_000_000),
            ("mb", 1 << 20),
            ("Mi", 1 << 20),
            ("mib", 1 << 20),
            ("g", 1_000_000_000),
            ("gb", 1 << 30),
            ("gib", 1 << 30),
            ("t", 1_000_000_000_000),
            ("tb", 1 << 40),
            ("p", 1_000_000_000_000_000),
            ("pb", 1 << 50),
            ("e", 1_000_000_000_000_000_000),
            ("eb", 1 << 60),
        ];
        for (s, v) in cases {
            assert_eq!(multiplier(s), Some(*v), "suffix {s:?}");
        }
        for bad in ["x", "kbb", "kx", "bb", "b"] {
            assert_eq!(multiplier(bad), None, "suffix {bad:?}");
        }
    }

    #[test]
    fn parse_applies_units_and_checks_range() {
        assert_eq!(parse_int_with_unit("512KB"), Ok(512 * 1024));
        assert_eq!(parse_int_with_unit("2k"), Ok(2000));
        assert_eq!(parse_int_with_unit("-2k"), Ok(-2000));
        assert_eq!(parse_int_with_unit("1MB"), Ok(1 << 20));
        assert!(parse_int_with_unit("9eb")
            .unwrap_err()
            .contains("out of the range"));
        assert!(parse_int_with_unit("99999999999999999999").is_err());
        assert!(parse_int_with_unit("1q").is_err());
        assert!(parse_int_with_unit("MB").is_err());
    }
}
