//! The RTMP chunk stream: messages are cut into chunks interleaved on chunk
//! stream ids (csid), each chunk carrying a compressed header.
//!
//! [`ChunkDecoder`] reassembles messages from arbitrary pieces of input and
//! enforces the [`Limits`](super::config::Limits); [`ChunkEncoder`] cuts
//! outgoing messages into chunks using header compression.

mod decoder;
mod encoder;
mod error;
mod header;
mod prepared;

pub use decoder::ChunkDecoder;
pub use encoder::ChunkEncoder;
pub use error::ChunkError;
pub use header::{MAX_CSID, MIN_CSID};
pub use prepared::{PreparedMessage, COMMON_STREAM_ID, MAX_PREPARED_HEADER_LEN};

use bytes::Bytes;

/// Chunk size both sides use until Set Chunk Size says otherwise.
pub const DEFAULT_CHUNK_SIZE: u32 = 128;
/// Largest message length expressible on the wire (24 bits).
pub const MAX_MESSAGE_LEN: u32 = 0x00FF_FFFF;
/// Timestamp field value announcing an extended (32-bit) timestamp.
pub const EXTENDED_TIMESTAMP: u32 = 0x00FF_FFFF;

/// A complete message as reassembled from chunks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMessage {
    /// Chunk stream it arrived on.
    pub csid: u32,
    /// Absolute timestamp in milliseconds (deltas resolved, wrapping).
    pub timestamp: u32,
    /// Message type id (1..=22 for the types in the spec).
    pub type_id: u8,
    /// Message stream id.
    pub stream_id: u32,
    /// The body: one allocation, shared from here on.
    pub payload: Bytes,
}
