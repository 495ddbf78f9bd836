//! What a relay is doing, what it asks the shell to do, and what stat shows of it.

use std::fmt;
use std::net::SocketAddr;

/// The life of one relay (one push or pull target).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayState {
    /// Created, not started.
    Idle,
    /// Waiting for the shell's resolver.
    Resolving,
    /// Waiting for the TCP (and TLS) connection.
    Connecting,
    /// Connected: the RTMP client session does the handshake, `connect` and
    /// `publish`/`play`.
    Negotiating,
    /// Media flows.
    Streaming,
    /// Down, waiting to try again.
    Backoff,
    /// Stopped for good (stopped by the shell, or given up).
    Stopped,
}

impl RelayState {
    pub fn as_str(self) -> &'static str {
        match self {
            RelayState::Idle => "idle",
            RelayState::Resolving => "resolving",
            RelayState::Connecting => "connecting",
            RelayState::Negotiating => "negotiating",
            RelayState::Streaming => "streaming",
            RelayState::Backoff => "backoff",
            RelayState::Stopped => "stopped",
        }
    }
}

impl fmt::Display for RelayState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which step of a relay failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The name did not resolve (or resolved to nothing).
    Resolve,
    /// The TCP connection failed.
    Connect,
    /// TLS failed (handshake, certificate).
    Tls,
    /// The RTMP handshake, `connect` or `publish`/`play` failed or was refused.
    Session,
    /// A step took longer than the relay's timeout.
    Timeout,
    /// The connection broke or the peer closed it.
    Closed,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::Resolve => "resolve",
            ErrorKind::Connect => "connect",
            ErrorKind::Tls => "tls",
            ErrorKind::Session => "session",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Closed => "closed",
        })
    }
}

/// Levels of the relay's log lines (the shell maps them to nginx's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// What the shell must do for a relay, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayOp {
    /// Resolve the name (then [`Relay::on_resolved`](super::Relay::on_resolved)).
    Resolve(String),
    /// Open a connection (then `on_connected`, `on_error` or `on_closed`); the client
    /// session starts on it once connected.
    Connect(SocketAddr),
    /// Close the connection (and drop the client session), or cancel the resolve in
    /// flight. The relay takes no report about that connection or resolve afterwards: the
    /// shell drops its handlers before it acts on the next operation.
    Close,
    /// Write a line to the error log.
    Log { level: LogLevel, line: String },
    /// The relay gave up (its attempts are used up): the owner decides what next (a pull on
    /// demand fails over to the next origin).
    GaveUp,
}

/// What stat shows of a relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayStats<'a> {
    pub state: RelayState,
    /// The target as configured (URL).
    pub target: &'a str,
    /// The address connected to, if any.
    pub addr: Option<SocketAddr>,
    pub bytes_out: u64,
    pub bytes_in: u64,
    /// Attempts started after a failure.
    pub reconnects: u32,
    /// Failed attempts since the relay last streamed.
    pub failures: u32,
    pub last_error: Option<&'a str>,
    /// When the relay entered its state (shell time, ms).
    pub since_ms: u64,
}
