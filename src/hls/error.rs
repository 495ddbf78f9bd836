use std::fmt;

use crate::media::{MediaError, Track};

/// Errors of the HLS core. Only [`HlsError::InvalidName`] and
/// [`HlsError::InvalidConfig`] (from [`HlsStream::new`](super::HlsStream::new))
/// are fatal for the stream; the others mean "this frame was dropped" and
/// leave the stream consistent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HlsError {
    /// The stream name cannot become a file name safely.
    InvalidName(&'static str),
    InvalidConfig(&'static str),
    /// A frame arrived for a track whose codec configuration is missing.
    MissingConfig(Track),
    /// The frame's bytes are malformed (bad NAL lengths, oversized AAC frame).
    Malformed(MediaError),
    /// The codec configuration cannot be carried in MPEG-TS/ADTS.
    Unsupported(MediaError),
    /// `push` after `finish`.
    Finished,
    /// The TS packet writer refused a packet (a bug, not a peer problem).
    Mux(String),
}

impl fmt::Display for HlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HlsError::InvalidName(why) => write!(f, "invalid stream name for HLS: {why}"),
            HlsError::InvalidConfig(why) => write!(f, "invalid HLS configuration: {why}"),
            HlsError::MissingConfig(t) => write!(f, "{t} frame without codec configuration"),
            HlsError::Malformed(e) => write!(f, "malformed frame: {e}"),
            HlsError::Unsupported(e) => write!(f, "cannot mux: {e}"),
            HlsError::Finished => f.write_str("stream already finished"),
            HlsError::Mux(e) => write!(f, "TS packet writer: {e}"),
        }
    }
}

impl std::error::Error for HlsError {}

impl From<crate::files::NameError> for HlsError {
    fn from(e: crate::files::NameError) -> Self {
        HlsError::InvalidName(e.0)
    }
}

impl From<mpeg2ts::Error> for HlsError {
    fn from(e: mpeg2ts::Error) -> Self {
        HlsError::Mux(e.to_string())
    }
}
