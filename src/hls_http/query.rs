//! The delivery directives of a playlist request (`_HLS_msn`, `_HLS_part`, `_HLS_skip`).
//! Other query parameters (tokens, cache busters) are left alone.

use std::fmt;

/// `_HLS_skip`: which delta update the client asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// `YES`: skip old media segments.
    Yes,
    /// `v2`: skip old media segments and date ranges.
    V2,
}

/// The directives of one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Directives {
    pub msn: Option<u64>,
    pub part: Option<u64>,
    pub skip: Option<Skip>,
}

/// Why the directives are malformed (answered 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryError {
    /// A directive's value is not a decimal integer (or too large).
    BadNumber(&'static str),
    /// `_HLS_skip` with another value than `YES` or `v2`.
    BadSkip,
    /// A directive given twice.
    Duplicate(&'static str),
    /// `_HLS_part` without `_HLS_msn`.
    PartWithoutMsn,
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryError::BadNumber(d) => write!(f, "{d} is not a decimal integer"),
            QueryError::BadSkip => f.write_str("_HLS_skip must be YES or v2"),
            QueryError::Duplicate(d) => write!(f, "{d} given twice"),
            QueryError::PartWithoutMsn => f.write_str("_HLS_part without _HLS_msn"),
        }
    }
}

impl std::error::Error for QueryError {}

/// A decimal-integer directive value: digits only, at most 18 of them (no overflow).
fn number(name: &'static str, v: &str) -> Result<u64, QueryError> {
    if v.is_empty() || v.len() > 18 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(QueryError::BadNumber(name));
    }
    v.parse().map_err(|_| QueryError::BadNumber(name))
}

fn set<T>(slot: &mut Option<T>, name: &'static str, v: T) -> Result<(), QueryError> {
    if slot.is_some() {
        return Err(QueryError::Duplicate(name));
    }
    *slot = Some(v);
    Ok(())
}

impl Directives {
    /// Parses the raw query string (without `?`). Directive values are plain tokens, so they
    /// are compared undecoded: a percent-encoded value is malformed.
    pub fn parse(query: &str) -> Result<Directives, QueryError> {
        let mut d = Directives::default();
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "_HLS_msn" => set(&mut d.msn, "_HLS_msn", number("_HLS_msn", v)?)?,
                "_HLS_part" => set(&mut d.part, "_HLS_part", number("_HLS_part", v)?)?,
                "_HLS_skip" => {
                    let s = match v {
                        "YES" => Skip::Yes,
                        "v2" => Skip::V2,
                        _ => return Err(QueryError::BadSkip),
                    };
                    set(&mut d.skip, "_HLS_skip", s)?;
                }
                _ => {}
            }
        }
        if d.part.is_some() && d.msn.is_none() {
            return Err(QueryError::PartWithoutMsn);
        }
        Ok(d)
    }

    /// Whether the request blocks until the playlist reaches a position.
    pub fn blocks(&self) -> bool {
        self.msn.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_directives_and_ignores_other_parameters() {
        let d = Directives::parse("token=abc&_HLS_msn=12&_HLS_part=3&_HLS_skip=v2").unwrap();
        assert_eq!(
            d,
            Directives {
                msn: Some(12),
                part: Some(3),
                skip: Some(Skip::V2)
            }
        );
        assert_eq!(Directives::parse("").unwrap(), Directives::default());
        assert_eq!(Directives::parse("x&y=1&&").unwrap(), Directives::default());
        assert_eq!(
            Directives::parse("_HLS_skip=YES").unwrap().skip,
            Some(Skip::Yes)
        );
        assert!(!Directives::parse("_HLS_skip=YES").unwrap().blocks());
        assert!(Directives::parse("_HLS_msn=0").unwrap().blocks());
    }

    #[test]
    fn refuses_malformed_directives() {
        use QueryError::*;
        for (q, e) in [
            ("_HLS_msn=", BadNumber("_HLS_msn")),
            ("_HLS_msn=-1", BadNumber("_HLS_msn")),
            ("_HLS_msn=+1", BadNumber("_HLS_msn")),
            ("_HLS_msn=1x", BadNumber("_HLS_msn")),
            ("_HLS_msn=%31", BadNumber("_HLS_msn")),
            ("_HLS_msn=1234567890123456789", BadNumber("_HLS_msn")),
            ("_HLS_msn=1&_HLS_part=a", BadNumber("_HLS_part")),
            ("_HLS_part=1", PartWithoutMsn),
            ("_HLS_msn=1&_HLS_msn=2", Duplicate("_HLS_msn")),
            ("_HLS_skip=yes", BadSkip),
            ("_HLS_skip=", BadSkip),
            ("_HLS_skip=YES&_HLS_skip=v2", Duplicate("_HLS_skip")),
        ] {
            assert_eq!(Directives::parse(q), Err(e), "{q}");
        }
    }
}
