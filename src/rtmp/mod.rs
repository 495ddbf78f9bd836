//! The RTMP protocol core: handshake, chunk stream, messages, commands and
//! the poll-loop [`Session`]. Pure and sans-IO: bytes and time in, bytes,
//! events and errors out.

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

pub mod caps;
pub mod chunk;
pub mod client;
pub mod command;
pub mod config;
pub mod digest;
pub mod error;
pub mod event;
pub mod handshake;
pub mod message;
pub mod name;
pub mod opening;
mod out_queue;
pub mod read_pacing;
pub(crate) mod rng;
pub mod session;
pub mod status;

pub use config::{Limits, SessionConfig};
pub use error::{Blame, OrderError, SessionError};
pub use event::{ConnectRequest, Event, PlayRequest, PublishKind, PublishRequest, Rejection};
pub use read_pacing::{next_tick, InputState, KeyframeSeen, ReadPacing, ReadPlan};
pub use session::{SendError, Session};
