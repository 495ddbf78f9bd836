//! Relays: pushes of a published stream to other servers and pulls of streams from them,
//! the part that needs no socket. A [`Relay`] is the state machine of one target (resolve,
//! connect, negotiate, stream, back off with jitter, no log flood); a [`RelayQueue`] bounds
//! what a slow target can hold back; a [`PullDemand`] starts and stops a pull as players of
//! an edge come and go, failing over across origins.
//!
//! The shell resolves names, opens connections, runs the RTMP client session and the
//! timers, and reports to these machines; they answer with operations. A push's queue
//! follows its relay: `join` with the stream's GOP cache when the relay reports streaming,
//! `leave` on every `Close` and every `on_closed`, so nothing is kept for a dead target.
//!
//! [`target`] parses what a relay connects to (nginx-rtmp's `push`/`pull` URLs and
//! arguments); the protocol is [`crate::rtmp::client`]. A [`RelayEndpoint`] is the
//! host and port the [`Relay`] state machine connects to.

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod demand;
mod driver;
mod link_driver;
mod log_limiter;
mod pull;
mod push;
mod queue;
mod reconnect;
mod redirect;
mod state;
pub mod target;
mod tls;

pub use demand::{DemandOp, PullDemand, DEFAULT_GRACE_MS};
pub use driver::{
    Relay, RelayConfig, RelayEndpoint, DEFAULT_RECONNECT_MS, DEFAULT_STEP_TIMEOUT_MS,
    DEFAULT_STILL_DOWN_EVERY_MS,
};
pub use link_driver::{LinkDriver, LinkOp};
pub use log_limiter::LogLimiter;
pub use pull::{Pull, PullConfig, PullEvent};
pub use push::{Push, PushOutput, PUSH_LOW_WATER};
pub use queue::{
    RelayBuffer, RelayMessage, RelayQueue, DEFAULT_RELAY_BUFFER_BYTES, DEFAULT_RELAY_BUFFER_MS,
};
pub use reconnect::Reconnect;
pub use redirect::{is_relay_location, relay_redirect};
pub use state::{ErrorKind, LogLevel, RelayOp, RelayState, RelayStats};
pub use target::{RelayKind, RelayTarget, RelayUrl, Scheme, TargetError};
pub use tls::reason_of_log_line;

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]
mod tests {
    mod demand;
    mod driver;
    mod queue;
}
