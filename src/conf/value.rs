//! Directive value syntax, as nginx reads it (`ngx_parse_time`, `ngx_parse_size`, `on|off`).

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueError {
    /// Not a valid flag: only `on` and `off` are.
    Flag,
    /// Not a valid time such as `30`, `30s`, `500ms`, `1m 30s`.
    Time,
    /// Not a valid size such as `4096`, `64k`, `1m`.
    Size,
    /// Syntactically valid but outside the accepted range.
    Range { min: u64, max: u64 },
    /// Not one of the accepted words.
    Choice(&'static str),
    /// Not an absolute path.
    Path,
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueError::Flag => f.write_str("it must be \"on\" or \"off\""),
            ValueError::Time => f.write_str("invalid time value"),
            ValueError::Size => f.write_str("invalid size value"),
            ValueError::Range { min, max } => write!(f, "value must be between {min} and {max}"),
            ValueError::Choice(c) => write!(f, "it must be {c}"),
            ValueError::Path => f.write_str("it must be an absolute path"),
        }
    }
}

impl std::error::Error for ValueError {}

pub fn parse_flag(s: &str) -> Result<bool, ValueError> {
    if s.eq_ignore_ascii_case("on") {
        Ok(true)
    } else if s.eq_ignore_ascii_case("off") {
        Ok(false)
    } else {
        Err(ValueError::Flag)
    }
}

/// Parses an nginx time value into milliseconds. As in nginx's `ngx_parse_time(.., is_sec=1)`,
/// a bare number means seconds; units `ms s m h d w M y` may be combined (`1m 30s`), each at most
/// once and from largest to smallest.
pub fn parse_time_ms(s: &str) -> Result<u64, ValueError> {
    const UNITS: [(&str, u64); 8] = [
        ("y", 365 * 86_400_000),
        ("M", 30 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    let mut total: u64 = 0;
    let mut last_rank = None;
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err(ValueError::Time);
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(ValueError::Time);
        }
        let (num, tail) = rest.split_at(digits);
        let value: u64 = num.parse().map_err(|_| ValueError::Time)?;
        let unit_len = tail.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (unit, tail) = tail.split_at(unit_len);
        let (rank, mult) = if unit.is_empty() {
            // A bare number is seconds and must be the last part.
            if !tail.trim().is_empty() {
                return Err(ValueError::Time);
            }
            (6, 1_000)
        } else {
            let rank = UNITS
                .iter()
                .position(|(u, _)| *u == unit)
                .ok_or(ValueError::Time)?;
            (rank, UNITS[rank].1)
        };
        if last_rank.is_some_and(|r| rank <= r) {
            return Err(ValueError::Time);
        }
        last_rank = Some(rank);
        total = value
            .checked_mul(mult)
            .and_then(|v| total.checked_add(v))
            .ok_or(ValueError::Time)?;
        rest = tail.trim_start();
    }
    Ok(total)
}

/// Parses an nginx size (`ngx_parse_size`): a number with an optional `k`/`K` or `m`/`M` suffix.
pub fn parse_size(s: &str) -> Result<u64, ValueError> {
    let (num, mult) = match s.as_bytes().last() {
        Some(b'k' | b'K') => (&s[..s.len() - 1], 1024),
        Some(b'm' | b'M') => (&s[..s.len() - 1], 1024 * 1024),
        Some(b'g' | b'G') => (&s[..s.len() - 1], 1024 * 1024 * 1024),
        _ => (s, 1),
    };
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ValueError::Size);
    }
    num.parse::<u64>()
        .ok()
        .and_then(|v| v.checked_mul(mult))
        .ok_or(ValueError::Size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time_ms("3"), Ok(3_000));
        assert_eq!(parse_time_ms("3s"), Ok(3_000));
        assert_eq!(parse_time_ms("500ms"), Ok(500));
        assert_eq!(parse_time_ms("1m 30s"), Ok(90_000));
        assert_eq!(parse_time_ms("1h"), Ok(3_600_000));
        assert_eq!(parse_time_ms("0"), Ok(0));
        for bad in [
            "",
            "s",
            "3x",
            "-1",
            "1s 1m",
            "1s1s",
            "3 s",
            "99999999999999999999",
        ] {
            assert_eq!(parse_time_ms(bad), Err(ValueError::Time), "{bad:?}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64k"), Ok(65_536));
        assert_eq!(parse_size("1M"), Ok(1_048_576));
        for bad in ["", "k", "1.5m", "-1", "12q"] {
            assert_eq!(parse_size(bad), Err(ValueError::Size), "{bad:?}");
        }
    }

    #[test]
    fn flags() {
        assert_eq!(parse_flag("on"), Ok(true));
        assert_eq!(parse_flag("OFF"), Ok(false));
        assert_eq!(parse_flag("yes"), Err(ValueError::Flag));
    }
}
