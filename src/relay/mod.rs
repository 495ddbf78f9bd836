//! Relays: pushing a local stream to another RTMP server and pulling one
//! from it. The core holds what a relay connects to ([`target`]); the
//! protocol is [`crate::rtmp::client`].

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

pub mod target;

pub use target::{RelayKind, RelayTarget, RelayUrl, Scheme, TargetError};
