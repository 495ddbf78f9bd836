//! What an `#EXT-X-STREAM-INF` line of a master playlist is made of: the operator's
//! attributes and what a member's media says about it.

use std::fmt;

/// One `#EXT-X-STREAM-INF` attribute as the operator wrote it: `NAME=VALUE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub name: String,
    /// As written: a quoted string keeps its quotes.
    pub value: String,
}

/// Why an `hls_variant` line is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VariantError {
    EmptySuffix,
    /// The suffix cannot be part of a stream name.
    InvalidSuffix(String),
    /// Not `NAME=VALUE` with an attribute name and a value RFC 8216 allows.
    MalformedAttribute(String),
}

impl fmt::Display for VariantError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VariantError::EmptySuffix => f.write_str("the suffix is empty"),
            VariantError::InvalidSuffix(s) => write!(f, "invalid suffix \"{s}\""),
            VariantError::MalformedAttribute(a) => write!(
                f,
                "invalid parameter \"{a}\" (expected NAME=VALUE, NAME of A-Z, 0-9 and '-', \
                 VALUE a token or a \"quoted string\")"
            ),
        }
    }
}

impl std::error::Error for VariantError {}

impl Attribute {
    /// Parses `NAME=VALUE` (RFC 8216 4.2): NAME of `A-Z`, `0-9`, `-`; VALUE a quoted string
    /// without `"`, CR or LF inside, or a token without `,`, `"` and white space.
    pub fn parse(arg: &str) -> Result<Attribute, VariantError> {
        let bad = || VariantError::MalformedAttribute(arg.to_owned());
        let (name, value) = arg.split_once('=').ok_or_else(bad)?;
        let name_ok = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-');
        if !name_ok || value.is_empty() || value.chars().any(char::is_control) {
            return Err(bad());
        }
        let value_ok = match value.strip_prefix('"') {
            Some(rest) => rest
                .strip_suffix('"')
                .is_some_and(|inner| !inner.contains('"')),
            None => !value
                .chars()
                .any(|c| c == ',' || c == '"' || c.is_whitespace()),
        };
        if !value_ok {
            return Err(bad());
        }
        Ok(Attribute {
            name: name.to_owned(),
            value: value.to_owned(),
        })
    }
}

/// What a member's media says about it, for its `#EXT-X-STREAM-INF`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariantInfo {
    /// Peak segment bit rate over the playlist window, bit/s.
    pub bandwidth_peak: u64,
    /// Average bit rate over the playlist window, bit/s.
    pub bandwidth_avg: u64,
    /// RFC 6381 codecs, comma-separated: `avc1.64001F,mp4a.40.2`.
    pub codecs: Option<String>,
    /// Width and height of the picture (SPS, cropped).
    pub resolution: Option<(u32, u32)>,
    /// Frames per second × 1000: declared by the SPS, else measured.
    pub frame_rate_milli: Option<u32>,
}
