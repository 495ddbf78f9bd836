//! Errors of the chunk layer.

use std::fmt;

/// Why the chunk stream could not be decoded (or a message not encoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkError {
    /// Set Chunk Size of 0 or with the high bit set.
    InvalidChunkSize(u32),
    /// Set Chunk Size above `limits.max_chunk_size`.
    ChunkSizeTooLarge { size: u32, max: u32 },
    /// Message length above `limits.max_message` (or, when encoding, above
    /// the 24-bit wire maximum).
    MessageTooLarge { len: u64, max: u32 },
    /// A new chunk stream id beyond `limits.max_chunk_streams`.
    TooManyChunkStreams { max: usize },
    /// Incomplete messages would reserve more than `limits.max_partial_bytes`.
    TooManyPartialBytes { max: usize },
    /// A compressed header (fmt 1..3) on a chunk stream with no previous
    /// header to inherit from.
    NoPreviousHeader { csid: u32, fmt: u8 },
    /// A full header (fmt 0..2) in the middle of a message.
    HeaderInsideMessage { csid: u32, fmt: u8 },
    /// A Set Chunk Size or Abort message with a short payload.
    BadControlPayload { type_id: u8 },
}

impl fmt::Display for ChunkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChunkError::InvalidChunkSize(n) => write!(f, "chunk: invalid chunk size {n}"),
            ChunkError::ChunkSizeTooLarge { size, max } => {
                write!(f, "chunk: chunk size {size} above limit {max}")
            }
            ChunkError::MessageTooLarge { len, max } => {
                write!(f, "chunk: message of {len} bytes above limit {max}")
            }
            ChunkError::TooManyChunkStreams { max } => {
                write!(f, "chunk: more than {max} chunk streams")
            }
            ChunkError::TooManyPartialBytes { max } => {
                write!(f, "chunk: incomplete messages above {max} bytes")
            }
            ChunkError::NoPreviousHeader { csid, fmt } => {
                write!(f, "chunk: fmt {fmt} header on new chunk stream {csid}")
            }
            ChunkError::HeaderInsideMessage { csid, fmt } => {
                write!(
                    f,
                    "chunk: fmt {fmt} header inside a message on chunk stream {csid}"
                )
            }
            ChunkError::BadControlPayload { type_id } => {
                write!(f, "chunk: short payload in control message type {type_id}")
            }
        }
    }
}

impl std::error::Error for ChunkError {}
