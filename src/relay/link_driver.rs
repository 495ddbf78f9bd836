//! [`LinkDriver`]: what the shell's connection of a relay drives, a push or a pull, without
//! the socket. The shell owns one outgoing connection per relay; it reports what happened
//! to it, writes what [`LinkDriver::output`] gives, tells how much it still holds unsent and
//! executes the [`LinkOp`]s, whichever side of the stream the relay is on.

use std::net::SocketAddr;

use bytes::Bytes;

use super::driver::RelayEndpoint;
use super::state::{ErrorKind, LogLevel, RelayStats};

/// What the shell must do for a relay's connection, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkOp {
    /// Resolve the name (then [`LinkDriver::on_resolved`]).
    Resolve(String),
    /// Open a connection to this address (then `on_connected`, `on_error` or `on_closed`).
    Connect(SocketAddr),
    /// Close the connection (after writing what [`LinkDriver::output`] gave before this op),
    /// or forget the resolve in flight.
    Close,
    /// Write a line to the error log.
    Log { level: LogLevel, line: String },
}

/// A push or a pull as its connection sees it.
pub trait LinkDriver {
    /// Where the relay connects (host for SNI and logs, TLS or not).
    fn endpoint(&self) -> &RelayEndpoint;
    /// What stat shows of the relay.
    fn stats(&self) -> RelayStats<'_>;
    /// When [`LinkDriver::tick`] next has something to do.
    fn deadline(&self) -> Option<u64>;
    /// Time passed: a step times out, a backoff ends.
    fn tick(&mut self, now_ms: u64);
    /// The next operation for the shell.
    fn poll_op(&mut self) -> Option<LinkOp>;
    /// Bytes for the connection, in order.
    fn output(&mut self) -> Option<Bytes>;
    /// What the shell still holds unsent (a push feeds its session again below its low
    /// water mark).
    fn set_unsent(&mut self, now_ms: u64, bytes: usize);
    fn on_resolved(&mut self, now_ms: u64, result: Result<Vec<SocketAddr>, String>);
    /// The connection is up (TCP, and TLS for `rtmps://`): the client session starts.
    fn on_connected(&mut self, now_ms: u64);
    /// Bytes read from the connection.
    fn on_data(&mut self, now_ms: u64, data: &[u8]);
    fn on_error(&mut self, now_ms: u64, kind: ErrorKind, reason: &str);
    /// The peer closed the connection (the shell has already dropped it).
    fn on_closed(&mut self, now_ms: u64);
}
