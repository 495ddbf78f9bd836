//! AMF0 (Action Message Format, version 0): the value model, a depth-limited
//! decoder and an encoder. Pure, no I/O.
//!
//! Only the types RTMP clients actually send are supported; references,
//! typed objects, XML, record sets and the AVM+ (AMF3) switch are reported as
//! [`AmfError::Unsupported`] rather than guessed at.

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod decode;
mod encode;
mod error;
mod marker;
mod value;

pub use decode::{decode_all, Decoder, DEFAULT_MAX_DEPTH, HARD_MAX_DEPTH};
pub use encode::{encode, encode_all, encode_to_bytes};
pub use error::AmfError;
pub use value::Value;
