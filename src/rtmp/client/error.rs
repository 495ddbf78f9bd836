//! Errors of the client session, and who is to blame for them.

use std::fmt;

use super::event::ClientState;
use crate::amf0::AmfError;
use crate::rtmp::chunk::ChunkError;
use crate::rtmp::command::CommandError;
use crate::rtmp::error::Blame;
use crate::rtmp::handshake::HandshakeError;
use crate::rtmp::message::MessageError;

/// Who is at fault when a client session ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientBlame {
    /// The server answered our request with a refusal: a configuration or
    /// credentials matter, not a protocol fault.
    Refused,
    /// A protocol fault, classed as the server session classes them.
    Protocol(Blame),
}

/// Why a client session ends (or why a call did nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientError {
    Handshake(HandshakeError),
    Chunk(ChunkError),
    Amf(AmfError),
    Message(MessageError),
    Command(CommandError),
    /// `_error` to `connect` (NetConnection.Connect.Rejected and the like).
    ConnectRejected {
        code: String,
        description: String,
    },
    /// An error status to `publish` (NetStream.Publish.BadName, .Denied, ...).
    PublishRefused {
        code: String,
        description: String,
    },
    /// An error status to `play` (NetStream.Play.StreamNotFound, .Failed, ...).
    PlayRefused {
        code: String,
        description: String,
    },
    /// `_error` to another command we sent (createStream).
    CommandFailed {
        command: &'static str,
        code: String,
        description: String,
    },
    /// The createStream result carries no usable message stream id.
    BadStreamId,
    /// `send_media` before the server accepted the publish, or after close.
    NotPublishing {
        state: ClientState,
    },
    /// `send_media` with a type that is not audio, video or AMF0 data.
    BadMediaType(u8),
    /// We could not encode an outgoing message.
    Outgoing(ChunkError),
    /// The session already failed; this call did nothing.
    Closed,
}

fn protocol_blame(e: &ClientError) -> Blame {
    match e {
        ClientError::Handshake(e) if e.is_unsupported() => Blame::Unsupported,
        ClientError::Handshake(_) => Blame::PeerMalformed,
        ClientError::Chunk(e) => match e {
            ChunkError::InvalidChunkSize(_)
            | ChunkError::NoPreviousHeader { .. }
            | ChunkError::HeaderInsideMessage { .. }
            | ChunkError::BadControlPayload { .. } => Blame::PeerMalformed,
            ChunkError::ChunkSizeTooLarge { .. }
            | ChunkError::MessageTooLarge { .. }
            | ChunkError::TooManyChunkStreams { .. }
            | ChunkError::TooManyPartialBytes { .. } => Blame::PeerMisbehaved,
        },
        ClientError::Amf(e) if e.is_unsupported() => Blame::Unsupported,
        ClientError::Amf(AmfError::TooDeep { .. }) => Blame::PeerMisbehaved,
        ClientError::Amf(_) | ClientError::Message(_) | ClientError::BadStreamId => {
            Blame::PeerMalformed
        }
        ClientError::Command(CommandError::Amf3Encoded(_)) => Blame::Unsupported,
        ClientError::Command(_) => Blame::PeerMalformed,
        ClientError::ConnectRejected { .. }
        | ClientError::PublishRefused { .. }
        | ClientError::PlayRefused { .. }
        | ClientError::CommandFailed { .. } => Blame::PeerMisbehaved,
        ClientError::NotPublishing { .. }
        | ClientError::BadMediaType(_)
        | ClientError::Outgoing(_)
        | ClientError::Closed => Blame::Local,
    }
}

impl ClientError {
    /// Who is at fault.
    pub fn blame(&self) -> ClientBlame {
        match self {
            ClientError::ConnectRejected { .. }
            | ClientError::PublishRefused { .. }
            | ClientError::PlayRefused { .. }
            | ClientError::CommandFailed { .. } => ClientBlame::Refused,
            other => ClientBlame::Protocol(protocol_blame(other)),
        }
    }

    /// True when retrying the same request cannot help until something
    /// changes (a bad stream key, a name in use): a relay backs off longer.
    pub fn is_refusal(&self) -> bool {
        self.blame() == ClientBlame::Refused
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Handshake(e) => e.fmt(f),
            ClientError::Chunk(e) => e.fmt(f),
            ClientError::Amf(e) => e.fmt(f),
            ClientError::Message(e) => e.fmt(f),
            ClientError::Command(e) => e.fmt(f),
            ClientError::ConnectRejected { code, description } => {
                write!(f, "connect refused: {code} ({description})")
            }
            ClientError::PublishRefused { code, description } => {
                write!(f, "publish refused: {code} ({description})")
            }
            ClientError::PlayRefused { code, description } => {
                write!(f, "play refused: {code} ({description})")
            }
            ClientError::CommandFailed {
                command,
                code,
                description,
            } => write!(f, "{command} failed: {code} ({description})"),
            ClientError::BadStreamId => f.write_str("createStream result without a stream id"),
            ClientError::NotPublishing { state } => {
                write!(f, "cannot send media: session is {state:?}")
            }
            ClientError::BadMediaType(t) => write!(f, "cannot send message type {t} as media"),
            ClientError::Outgoing(e) => write!(f, "cannot send: {e}"),
            ClientError::Closed => f.write_str("client session already closed"),
        }
    }
}

impl std::error::Error for ClientError {}

impl From<HandshakeError> for ClientError {
    fn from(e: HandshakeError) -> Self {
        ClientError::Handshake(e)
    }
}
impl From<ChunkError> for ClientError {
    fn from(e: ChunkError) -> Self {
        ClientError::Chunk(e)
    }
}
impl From<AmfError> for ClientError {
    fn from(e: AmfError) -> Self {
        ClientError::Amf(e)
    }
}
impl From<MessageError> for ClientError {
    fn from(e: MessageError) -> Self {
        ClientError::Message(e)
    }
}
impl From<CommandError> for ClientError {
    fn from(e: CommandError) -> Self {
        ClientError::Command(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_not_protocol_faults() {
        let e = ClientError::PublishRefused {
            code: "NetStream.Publish.BadName".into(),
            description: "Already publishing".into(),
        };
        assert_eq!(e.blame(), ClientBlame::Refused);
        assert!(e.is_refusal());
        assert!(e.to_string().contains("BadName"));
        let e = ClientError::Chunk(ChunkError::InvalidChunkSize(0));
        assert_eq!(e.blame(), ClientBlame::Protocol(Blame::PeerMalformed));
        assert_eq!(
            ClientError::BadMediaType(1).blame(),
            ClientBlame::Protocol(Blame::Local)
        );
        assert_eq!(
            ClientError::Handshake(HandshakeError::BadVersion(6)).blame(),
            ClientBlame::Protocol(Blame::Unsupported)
        );
    }
}
