//! What a client session reports to its shell.

use bytes::Bytes;

/// Where the session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientState {
    /// C0/C1 sent, waiting for S0/S1/S2.
    Handshaking,
    /// `connect` sent, waiting for its `_result`.
    Connecting,
    /// `createStream` sent, waiting for its `_result`.
    CreatingStream,
    /// `publish` sent, waiting for NetStream.Publish.Start.
    StartingPublish,
    /// `play` sent, waiting for NetStream.Play.Start.
    StartingPlay,
    /// The server accepted our publish: `send_media` works.
    Publishing,
    /// The server accepted our play: media arrives as events.
    Playing,
    /// `close` was called, or the session failed.
    Closed,
}

/// Why a played stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEndReason {
    /// onStatus NetStream.Play.UnpublishNotify: the publisher left.
    UnpublishNotify,
    /// User control Stream EOF on our message stream.
    StreamEof,
    /// onStatus NetStream.Play.Stop or .Complete.
    Stopped,
}

/// Something the shell may act on.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// `connect` succeeded.
    Connected,
    /// NetStream.Publish.Start: media may be sent.
    Publishing,
    /// NetStream.Play.Start.
    Playing,
    /// Audio (8) or video (9) from the played stream: an FLV tag body,
    /// `timestamp` absolute in milliseconds.
    Media {
        type_id: u8,
        timestamp: u32,
        payload: Bytes,
    },
    /// `onMetaData` of the played stream, as an `onMetaData` data message
    /// body (a `@setDataFrame` wrapper is removed).
    Metadata { timestamp: u32, data: Bytes },
    /// The played stream ended (it may start again: a publisher may come
    /// back and the server send NetStream.Play.PublishNotify, reported as a
    /// `Status`).
    StreamEnd(StreamEndReason),
    /// Any other onStatus on our stream or connection.
    Status {
        level: String,
        code: String,
        description: String,
    },
}
