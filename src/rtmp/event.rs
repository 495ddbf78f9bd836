//! What the session reports to the shell, and how the shell answers.

use bytes::Bytes;

use super::status::code;

/// Something the shell must act on.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Answer with `accept_connect` or `reject_connect`.
    Connect(ConnectRequest),
    /// Answer with `accept_publish` or `reject_publish`.
    Publish(PublishRequest),
    /// Answer with `accept_play` or `reject_play`.
    Play(PlayRequest),
    /// `@setDataFrame onMetaData` (or a bare `onMetaData`) from the
    /// publisher, re-encoded as an `onMetaData` data message body.
    Metadata { stream_id: u32, data: Bytes },
    /// FLV audio tag body; `timestamp` is absolute in milliseconds.
    Audio {
        stream_id: u32,
        timestamp: u32,
        payload: Bytes,
    },
    /// FLV video tag body; `timestamp` is absolute in milliseconds.
    Video {
        stream_id: u32,
        timestamp: u32,
        payload: Bytes,
    },
    /// The publisher stopped (FCUnpublish, closeStream or deleteStream of
    /// an accepted publishing stream).
    Unpublish { stream_id: u32 },
    /// A player stopped (closeStream or deleteStream of an accepted play).
    StopPlay { stream_id: u32 },
    /// A player paused (`paused: true`) or resumed. The session already
    /// answered (NetStream.Pause.Notify + Stream EOF, or
    /// NetStream.Unpause.Notify + Stream Begin) and refuses
    /// `send_prepared` while paused; on resume the shell resets the
    /// player's queue (it waits for a keyframe again) and may send the join
    /// burst.
    Pause { stream_id: u32, paused: bool },
    /// `receiveAudio` (`audio: Some(..)`) or `receiveVideo` (`video:
    /// Some(..)`) from a player: whether it wants that media from now on.
    /// No reply is sent; the shell filters what it sends.
    Receive {
        stream_id: u32,
        audio: Option<bool>,
        video: Option<bool>,
    },
}

/// A validated `connect`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectRequest {
    /// Application name, validated, without `?args`.
    pub app: String,
    /// Arguments after `?` in the app (may be empty).
    pub app_args: String,
    pub tc_url: String,
    pub flashver: String,
    pub swf_url: String,
    pub page_url: String,
    /// The client's objectEncoding (0 when absent).
    pub object_encoding: f64,
}

/// How the publisher wants the stream handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishKind {
    Live,
    Record,
    Append,
}

impl PublishKind {
    /// The publish type as the client named it (and as nginx-rtmp's callbacks send it).
    pub fn as_str(self) -> &'static str {
        match self {
            PublishKind::Live => "live",
            PublishKind::Record => "record",
            PublishKind::Append => "append",
        }
    }

    /// From the publish command's type argument; unknown or absent means
    /// live.
    pub fn from_arg(s: &str) -> Self {
        match s {
            "record" => PublishKind::Record,
            "append" => PublishKind::Append,
            _ => PublishKind::Live,
        }
    }
}

/// A validated `publish`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishRequest {
    pub stream_id: u32,
    /// Stream name (key), validated, without `?args`.
    pub name: String,
    pub args: String,
    pub kind: PublishKind,
}

/// A validated `play`.
#[derive(Debug, Clone, PartialEq)]
pub struct PlayRequest {
    pub stream_id: u32,
    pub name: String,
    pub args: String,
    pub start: f64,
    pub duration: f64,
    pub reset: bool,
}

/// Why the shell refuses a publish or play.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// The name is not acceptable.
    BadName,
    /// Someone else publishes this name.
    Busy,
    /// The key/credentials were refused; the text goes into the status
    /// description.
    Unauthorized(String),
    /// Nothing to play under this name.
    NotFound,
}

impl Rejection {
    /// Status code and description for a refused publish.
    pub fn publish_status(&self) -> (&'static str, &str) {
        match self {
            Rejection::BadName => (code::PUBLISH_BAD_NAME, "Invalid stream name"),
            Rejection::Busy => (code::PUBLISH_BAD_NAME, "Already publishing"),
            Rejection::Unauthorized(d) => (code::PUBLISH_DENIED, d),
            Rejection::NotFound => (code::PUBLISH_BAD_NAME, "No such stream"),
        }
    }

    /// Status code and description for a refused play.
    pub fn play_status(&self) -> (&'static str, &str) {
        match self {
            Rejection::BadName => (code::PLAY_NOT_FOUND, "Invalid stream name"),
            Rejection::Busy => (code::PLAY_FAILED, "Stream busy"),
            Rejection::Unauthorized(d) => (code::PLAY_FAILED, d),
            Rejection::NotFound => (code::PLAY_NOT_FOUND, "No such stream"),
        }
    }
}
