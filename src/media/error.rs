use std::fmt;

use super::fourcc::FourCc;
use super::frame::Track;

/// Errors from parsing media payloads. None of them is fatal for the stream:
/// the caller logs and drops the offending message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaError {
    /// The payload ended before the structure named here was complete.
    Truncated(&'static str),
    /// A field holds a value the format does not allow.
    Invalid(&'static str),
    /// Well-formed but not something we handle (HEVC, MP3, ...).
    Unsupported(&'static str),
    /// An Enhanced RTMP header names a codec we do not parse (`vvc1`, `vp08`, anything else).
    UnknownFourCc(FourCc),
    /// A coded frame arrived before the sequence header of its track.
    MissingSequenceHeader(Track),
}

impl MediaError {
    /// True when the peer sent bytes that violate the format (as opposed to a
    /// codec we do not support, or an ordering problem).
    pub fn is_malformed(&self) -> bool {
        matches!(self, MediaError::Truncated(_) | MediaError::Invalid(_))
    }
}

impl fmt::Display for MediaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MediaError::Truncated(what) => write!(f, "truncated {what}"),
            MediaError::Invalid(what) => write!(f, "invalid {what}"),
            MediaError::Unsupported(what) => write!(f, "unsupported {what}"),
            MediaError::UnknownFourCc(code) => write!(f, "unsupported FourCC \"{code}\""),
            MediaError::MissingSequenceHeader(track) => {
                write!(f, "{track} frame before its sequence header")
            }
        }
    }
}

impl std::error::Error for MediaError {}
