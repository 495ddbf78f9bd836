//! What a client session connects to and asks for.

use super::handshake::HandshakeStyle;
use crate::rtmp::config::Limits;

/// Whether the session sends a stream or receives one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `publish name live` (push relays).
    Publish,
    /// `play name` (pull relays).
    Play,
}

/// `flashVer` sent when the configuration names none (nginx-rtmp's relay
/// sends the same kind of string).
pub const DEFAULT_FLASH_VER: &str = "LNX 9,0,124,2";

/// Settings of one client session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Application name sent in `connect`.
    pub app: String,
    /// `tcUrl` sent in `connect`.
    pub tc_url: String,
    /// Stream name (play path) given to `publish`/`play`, `?args` included.
    pub name: String,
    pub mode: Mode,
    pub flash_ver: String,
    /// Sent only when not empty.
    pub swf_url: String,
    /// Sent only when not empty.
    pub page_url: String,
    /// Our outgoing chunk size, announced right after the handshake.
    pub chunk_size: u32,
    /// Window Acknowledgement Size we announce to the server.
    pub ack_window: u32,
    /// Buffer length (ms) announced after `play`.
    pub buffer_ms: u32,
    pub handshake: HandshakeStyle,
    /// Feeds the handshake's random bytes.
    pub seed: u64,
    /// Limits on what the server sends (message size, chunk streams, ...).
    pub limits: Limits,
}

impl ClientConfig {
    /// A configuration with the usual defaults: chunk size 4096, window
    /// 5 000 000, a 3 s buffer, digest handshake, Limits' defaults except
    /// messages up to 16 MiB (a server's keyframes may be large).
    pub fn new(
        app: impl Into<String>,
        tc_url: impl Into<String>,
        name: impl Into<String>,
        mode: Mode,
    ) -> ClientConfig {
        ClientConfig {
            app: app.into(),
            tc_url: tc_url.into(),
            name: name.into(),
            mode,
            flash_ver: DEFAULT_FLASH_VER.to_owned(),
            swf_url: String::new(),
            page_url: String::new(),
            chunk_size: 4096,
            ack_window: 5_000_000,
            buffer_ms: 3000,
            handshake: HandshakeStyle::default(),
            seed: 0,
            limits: Limits {
                max_message: 16 << 20,
                max_partial_bytes: 32 << 20,
                ..Limits::default()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_accept_large_server_messages() {
        let c = ClientConfig::new("app", "rtmp://h/app", "s", Mode::Play);
        assert_eq!(c.flash_ver, DEFAULT_FLASH_VER);
        assert!(c.swf_url.is_empty() && c.page_url.is_empty());
        assert!(c.limits.max_message >= 16 << 20);
        assert!(c.limits.max_partial_bytes >= c.limits.max_message as usize);
        assert_eq!(c.handshake, HandshakeStyle::Digest);
    }
}
