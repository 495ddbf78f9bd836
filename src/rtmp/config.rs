//! Session configuration and the limits enforced where bytes are parsed.

/// Resource limits applied to everything the peer sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest chunk size the peer may announce with Set Chunk Size.
    pub max_chunk_size: u32,
    /// Largest message (the 24-bit message length) accepted.
    pub max_message: u32,
    /// Chunk stream ids tracked at once.
    pub max_chunk_streams: usize,
    /// Bytes reserved for incomplete messages across all chunk streams.
    pub max_partial_bytes: usize,
    /// Nesting depth of AMF0 objects/arrays.
    pub max_amf_depth: usize,
    /// Length of an application or stream name, in bytes.
    pub max_name_len: usize,
    /// Length of the `?args` part of a name, in bytes.
    pub max_args_len: usize,
    /// Input held back while a connect/publish/play request awaits the
    /// shell's decision (clients that pipeline commands).
    pub max_backlog: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_chunk_size: 0x00FF_FFFF,
            max_message: 1 << 20,
            max_chunk_streams: 64,
            max_partial_bytes: 4 << 20,
            max_amf_depth: 32,
            max_name_len: 256,
            max_args_len: 1024,
            max_backlog: 1 << 20,
        }
    }
}

/// Per-session settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// Our outgoing chunk size.
    pub chunk_size: u32,
    /// Window Acknowledgement Size and Set Peer Bandwidth we announce.
    pub ack_window: u32,
    /// No bytes from the peer for this long: `SessionError::Timeout`. The
    /// handshake must also complete within it, and while a message is partly
    /// received a whole one must complete within it
    /// (`SessionError::MessageTimeout`).
    pub timeout_ms: u64,
    /// Overall deadline for the handshake.
    pub handshake_timeout_ms: u64,
    /// Idle time before we send a Ping Request; 0 disables pings.
    pub ping_ms: u64,
    /// No bytes this long after a ping: `SessionError::PingTimeout`.
    pub ping_timeout_ms: u64,
    /// Message streams (createStream) alive at once.
    pub max_streams: u32,
    pub limits: Limits,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            chunk_size: 4096,
            ack_window: 5_000_000,
            timeout_ms: 60_000,
            handshake_timeout_ms: 10_000,
            ping_ms: 60_000,
            ping_timeout_ms: 30_000,
            max_streams: 32,
            limits: Limits::default(),
        }
    }
}
