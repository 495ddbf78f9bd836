//! What a snapshot is made of: plain figures the shell reads from the worker.

use std::collections::BTreeMap;

use crate::media::demux::CodecInfo;

/// A stream by server index (position of its `server {}` in `rtmp {}`), application and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId {
    pub server: u32,
    pub app: String,
    pub name: String,
}

/// A live stream of the worker: published here, or mirrored from another worker for players
/// here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInput {
    pub id: StreamId,
    /// When it was published (worker clock, ms).
    pub started_ms: u64,
    pub bytes_in: u64,
    /// The relays this worker runs for the stream (pushes of it, the pull that feeds it).
    pub relays: Vec<crate::stat::RelayStat>,
    /// What only the publisher's worker knows; None for a mirrored stream.
    pub published: Option<LocalFigures>,
}

/// Figures of a stream whose publisher is on this worker.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LocalFigures {
    pub audio_bytes: u64,
    pub video_bytes: u64,
    pub video_messages: u64,
    pub codecs: CodecInfo,
    /// The stream's recorders.
    pub recorders: Vec<crate::stat::RecorderStat>,
}

/// A connection of the worker.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientInput {
    /// The worker's key for the connection: tells it from later ones across snapshots.
    pub key: u64,
    /// nginx's connection number, shown as the client's id.
    pub number: u64,
    /// Index of its `server {}`; None when unknown.
    pub server: Option<u32>,
    pub address: String,
    pub flashver: String,
    /// Connected over TLS (RTMPS).
    pub tls: bool,
    /// An HTTP-FLV player (not an RTMP connection).
    pub http: bool,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Streams it publishes.
    pub publishing: Vec<StreamId>,
    /// Streams it plays (live or waited for), with the messages dropped for it.
    pub playing: Vec<(StreamId, u64)>,
}

/// Everything a snapshot is made of, read from the worker at one instant.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WorkerInput {
    /// The worker's clock (ms): stream and client ages, bitrate windows.
    pub now_ms: u64,
    /// Unix time (ms) of the snapshot.
    pub unix_ms: u64,
    pub pid: u32,
    /// Unix time (s) the worker started.
    pub started_unix: u64,
    /// Connections the worker accepted.
    pub naccepted: u64,
    pub hls_segments: u64,
    /// Streams served without their renditions (`transcode_max`).
    pub transcode_refused: u64,
    /// Recordings stopped by a write error.
    pub record_failed: u64,
    /// Connections accepted per `server {}`, by server index: one entry per server.
    pub accepted: Vec<u64>,
    /// Refused publish requests by reason.
    pub rejected: BTreeMap<String, u64>,
    pub streams: Vec<StreamInput>,
    pub clients: Vec<ClientInput>,
    /// The worker's child processes, as they are.
    pub processes: Vec<crate::stat::ProcessStat>,
    /// Relays of streams that are not live here (a pull that has not streamed yet): shown
    /// under their stream, which is not active.
    pub pending_relays: Vec<(StreamId, Vec<crate::stat::RelayStat>)>,
}
