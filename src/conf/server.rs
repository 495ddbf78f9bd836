//! Connection-level settings (`chunk_size`, `timeout`, `ping`, ...): their per-level layer,
//! inheritance and defaults.

use super::tls::TlsLayer;

/// Connection-level settings: they apply before the client names an application, so they are
/// set in `rtmp {}` or `server {}` (nginx-rtmp's core module directives).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct ServerLayer {
    pub(super) chunk_size: Option<u32>,
    pub(super) play_flush_interval_ms: Option<u64>,
    pub(super) publish_read_interval_ms: Option<u64>,
    pub(super) timeout_ms: Option<u64>,
    pub(super) ping_ms: Option<u64>,
    pub(super) ping_timeout_ms: Option<u64>,
    pub(super) max_message: Option<u32>,
    pub(super) ack_window: Option<u32>,
    pub(super) max_streams: Option<u32>,
    pub(super) transcode_max: Option<u32>,
    /// The `ssl_*` directives: resolved apart, for the servers that listen with `ssl`.
    pub(super) tls: TlsLayer,
}

/// Resolved connection-level settings of one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    pub chunk_size: u32,
    /// `play_flush_interval` (default 50ms): players' output is written at most this often, so
    /// that several messages share one `writev` (a player's cost is mostly one syscall and
    /// one trip through the TCP stack per write; batching roughly halves it, at the price of
    /// up to this much added latency, small against a live player's buffer). 0 writes every
    /// message at once, as nginx-rtmp does.
    pub play_flush_interval_ms: u64,
    /// `publish_read_interval` (default 50ms): a publisher's audio and inter frames may wait
    /// this long in the socket, so the worker wakes once for several of them; keyframes are
    /// read at once ([`crate::rtmp::read_pacing`]). 0 reads every message as it arrives, as
    /// nginx-rtmp does.
    pub publish_read_interval_ms: u64,
    pub timeout_ms: u64,
    pub ping_ms: u64,
    pub ping_timeout_ms: u64,
    pub max_message: u32,
    pub ack_window: u32,
    pub max_streams: u32,
    /// `transcode_max N`: at most this many of the server's streams are transcoded at once by
    /// one worker (a stream over it is served at its source quality); `None`: no limit.
    pub transcode_max: Option<u32>,
}

impl Default for ServerSettings {
    /// nginx-rtmp-module's defaults (`play_flush_interval` and `publish_read_interval` are
    /// ours).
    fn default() -> Self {
        ServerSettings {
            chunk_size: 4096,
            play_flush_interval_ms: 50,
            publish_read_interval_ms: 50,
            timeout_ms: 60_000,
            ping_ms: 60_000,
            ping_timeout_ms: 30_000,
            max_message: 1024 * 1024,
            ack_window: 5_000_000,
            max_streams: 32,
            transcode_max: None,
        }
    }
}

impl ServerLayer {
    pub(super) fn merge(&self, parent: &ServerLayer) -> ServerLayer {
        ServerLayer {
            chunk_size: self.chunk_size.or(parent.chunk_size),
            play_flush_interval_ms: self
                .play_flush_interval_ms
                .or(parent.play_flush_interval_ms),
            publish_read_interval_ms: self
                .publish_read_interval_ms
                .or(parent.publish_read_interval_ms),
            timeout_ms: self.timeout_ms.or(parent.timeout_ms),
            ping_ms: self.ping_ms.or(parent.ping_ms),
            ping_timeout_ms: self.ping_timeout_ms.or(parent.ping_timeout_ms),
            max_message: self.max_message.or(parent.max_message),
            ack_window: self.ack_window.or(parent.ack_window),
            max_streams: self.max_streams.or(parent.max_streams),
            transcode_max: self.transcode_max.or(parent.transcode_max),
            tls: self.tls.merge(&parent.tls),
        }
    }

    pub(super) fn resolve(&self) -> ServerSettings {
        let d = ServerSettings::default();
        ServerSettings {
            chunk_size: self.chunk_size.unwrap_or(d.chunk_size),
            play_flush_interval_ms: self
                .play_flush_interval_ms
                .unwrap_or(d.play_flush_interval_ms),
            publish_read_interval_ms: self
                .publish_read_interval_ms
                .unwrap_or(d.publish_read_interval_ms),
            timeout_ms: self.timeout_ms.unwrap_or(d.timeout_ms),
            ping_ms: self.ping_ms.unwrap_or(d.ping_ms),
            ping_timeout_ms: self.ping_timeout_ms.unwrap_or(d.ping_timeout_ms),
            max_message: self.max_message.unwrap_or(d.max_message),
            ack_window: self.ack_window.unwrap_or(d.ack_window),
            max_streams: self.max_streams.unwrap_or(d.max_streams),
            transcode_max: self.transcode_max.or(d.transcode_max),
        }
    }
}
