use std::fmt;

use bytes::Bytes;

/// Which elementary stream a frame belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Track {
    Video,
    Audio,
}

impl fmt::Display for Track {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Track::Video => "video",
            Track::Audio => "audio",
        })
    }
}

/// One coded access unit, ready for a muxer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub track: Track,
    /// The Enhanced RTMP track id: 0 for the default track (every legacy message).
    pub track_id: u8,
    /// Decode time in milliseconds, extended across the 32-bit FLV wrap.
    pub dts: u64,
    /// Presentation time in milliseconds: `dts` + composition time, never
    /// below zero.
    pub pts: u64,
    /// Video: an IDR / key frame. Audio: always true.
    pub keyframe: bool,
    /// Video: length-prefixed NAL units (AVC, HEVC), a temporal unit of OBUs (AV1), a frame
    /// (VP9). Audio: one raw AAC frame, one Opus packet.
    /// A zero-copy slice of the RTMP message payload.
    pub data: Bytes,
}
