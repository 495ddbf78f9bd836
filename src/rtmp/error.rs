//! The session error, composed of the per-layer errors, and its blame.

use std::fmt;

use super::chunk::ChunkError;
use super::command::CommandError;
use super::handshake::HandshakeError;
use super::message::MessageError;
use super::name::NameError;
use crate::amf0::AmfError;

/// Who is at fault, so the shell can pick a log level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Blame {
    /// The peer sent bytes that do not parse.
    PeerMalformed,
    /// The peer sent valid bytes but broke a rule or a limit.
    PeerMisbehaved,
    /// The peer uses a feature we do not implement.
    Unsupported,
    /// Our side (misuse of the API, internal limits).
    Local,
}

/// Messages or commands in an order the protocol does not allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderError {
    /// A non-control message (type id) before `connect`.
    BeforeConnect { type_id: u8 },
    /// A second `connect`.
    ConnectTwice,
    /// publish/play/media on a message stream that was never created.
    UnknownStream(u32),
    /// Media on a stream that is not an accepted publisher.
    NotPublishing(u32),
    /// publish on a stream already publishing (or waiting for a decision).
    AlreadyPublishing(u32),
    /// play on a stream already playing (or waiting), or publish+play mixed.
    StreamBusy(u32),
    /// createStream beyond `max_streams`.
    TooManyStreams { max: u32 },
}

impl fmt::Display for OrderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OrderError::BeforeConnect { type_id } => {
                write!(f, "message type {type_id} before connect")
            }
            OrderError::ConnectTwice => f.write_str("connect sent twice"),
            OrderError::UnknownStream(id) => write!(f, "stream {id} was not created"),
            OrderError::NotPublishing(id) => {
                write!(f, "media on stream {id} which is not publishing")
            }
            OrderError::AlreadyPublishing(id) => write!(f, "stream {id} is already publishing"),
            OrderError::StreamBusy(id) => write!(f, "stream {id} is busy"),
            OrderError::TooManyStreams { max } => write!(f, "more than {max} streams"),
        }
    }
}

/// Why the session ends. The shell flushes pending output, then closes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionError {
    Handshake(HandshakeError),
    Chunk(ChunkError),
    Amf(AmfError),
    Message(MessageError),
    Command(CommandError),
    /// An invalid application or stream name (the peer got a refusal).
    InvalidName(NameError),
    Order(OrderError),
    /// Too much input arrived while a request awaited the shell's answer.
    BacklogExceeded {
        max: usize,
    },
    /// The handshake did not complete in time.
    HandshakeTimeout,
    /// No bytes from the peer for `timeout_ms`.
    Timeout,
    /// No bytes from the peer for `ping_timeout_ms` after a ping.
    PingTimeout,
    /// A message (or chunk header) was partly received and no whole message completed for
    /// `timeout_ms`: a slowloris, or a sender too slow to be useful.
    MessageTimeout {
        timeout_ms: u64,
    },
    /// We could not encode an outgoing message.
    Outgoing(ChunkError),
    /// The session already failed; this call did nothing.
    Closed,
}

impl SessionError {
    /// Who is at fault.
    pub fn blame(&self) -> Blame {
        match self {
            SessionError::Handshake(e) if e.is_unsupported() => Blame::Unsupported,
            SessionError::Handshake(_) => Blame::PeerMalformed,
            SessionError::Chunk(e) => match e {
                ChunkError::InvalidChunkSize(_)
                | ChunkError::NoPreviousHeader { .. }
                | ChunkError::HeaderInsideMessage { .. }
                | ChunkError::BadControlPayload { .. } => Blame::PeerMalformed,
                ChunkError::ChunkSizeTooLarge { .. }
                | ChunkError::MessageTooLarge { .. }
                | ChunkError::TooManyChunkStreams { .. }
                | ChunkError::TooManyPartialBytes { .. } => Blame::PeerMisbehaved,
            },
            SessionError::Amf(e) if e.is_unsupported() => Blame::Unsupported,
            SessionError::Amf(AmfError::TooDeep { .. }) => Blame::PeerMisbehaved,
            SessionError::Amf(_) => Blame::PeerMalformed,
            SessionError::Message(_) => Blame::PeerMalformed,
            SessionError::Command(CommandError::Amf3Encoded(_)) => Blame::Unsupported,
            SessionError::Command(_) => Blame::PeerMalformed,
            SessionError::InvalidName(_)
            | SessionError::Order(_)
            | SessionError::BacklogExceeded { .. }
            | SessionError::HandshakeTimeout
            | SessionError::Timeout
            | SessionError::PingTimeout
            | SessionError::MessageTimeout { .. } => Blame::PeerMisbehaved,
            SessionError::Outgoing(_) | SessionError::Closed => Blame::Local,
        }
    }
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::Handshake(e) => e.fmt(f),
            SessionError::Chunk(e) => e.fmt(f),
            SessionError::Amf(e) => e.fmt(f),
            SessionError::Message(e) => e.fmt(f),
            SessionError::Command(e) => e.fmt(f),
            SessionError::InvalidName(e) => write!(f, "invalid {e}"),
            SessionError::Order(e) => write!(f, "protocol: {e}"),
            SessionError::BacklogExceeded { max } => {
                write!(
                    f,
                    "session: more than {max} bytes queued while awaiting a decision"
                )
            }
            SessionError::HandshakeTimeout => f.write_str("handshake: timed out"),
            SessionError::Timeout => f.write_str("session: peer idle, timed out"),
            SessionError::PingTimeout => f.write_str("session: no answer to ping"),
            SessionError::MessageTimeout { timeout_ms } => write!(
                f,
                "session: no message completed for {timeout_ms} ms: slow or stalled sender"
            ),
            SessionError::Outgoing(e) => write!(f, "session: cannot send: {e}"),
            SessionError::Closed => f.write_str("session: already closed"),
        }
    }
}

impl std::error::Error for SessionError {}

impl From<HandshakeError> for SessionError {
    fn from(e: HandshakeError) -> Self {
        SessionError::Handshake(e)
    }
}
impl From<ChunkError> for SessionError {
    fn from(e: ChunkError) -> Self {
        SessionError::Chunk(e)
    }
}
impl From<AmfError> for SessionError {
    fn from(e: AmfError) -> Self {
        SessionError::Amf(e)
    }
}
impl From<MessageError> for SessionError {
    fn from(e: MessageError) -> Self {
        SessionError::Message(e)
    }
}
impl From<CommandError> for SessionError {
    fn from(e: CommandError) -> Self {
        SessionError::Command(e)
    }
}
impl From<NameError> for SessionError {
    fn from(e: NameError) -> Self {
        SessionError::InvalidName(e)
    }
}
impl From<OrderError> for SessionError {
    fn from(e: OrderError) -> Self {
        SessionError::Order(e)
    }
}
