//! One file a [`Recorder`](super::Recorder) is writing, and a split that waits for its
//! keyframe's presentation time.

use super::flv_file::FlvFile;
use super::mp4_file::Mp4File;
use crate::files::RelPath;
use crate::media::{Demuxer, Frame};

/// The bytes of one file, in its format.
#[derive(Debug)]
pub(super) enum Body {
    /// Boxed: one per open file, and the FLV state is the bigger.
    Flv(Box<FlvFile>),
    Mp4(Mp4File),
}

/// One file being written.
#[derive(Debug)]
pub(super) struct OpenFile {
    pub(super) part: RelPath,
    pub(super) path: RelPath,
    pub(super) has_video: bool,
    pub(super) has_audio: bool,
    /// The stream timestamp that is 0 in the recording.
    pub(super) epoch: u32,
    /// Media frames written (FLV; the MP4 writer counts its own).
    pub(super) frames: u64,
    pub(super) video_key_sent: bool,
    /// Last and previous video / audio timestamps of the recording, ms.
    pub(super) video_ts: Option<(u32, u32)>,
    pub(super) audio_ts: Option<(u32, u32)>,
    pub(super) body: Body,
}

impl OpenFile {
    pub(super) fn rel(&self, timestamp: u32) -> u32 {
        let d = timestamp.wrapping_sub(self.epoch);
        // A message older than the file's start (audio interleaving) is cut to 0, as
        // nginx-rtmp does.
        if d > u32::MAX / 2 {
            0
        } else {
            d
        }
    }

    /// Media time in the file (a continued FLV file's earlier part included).
    pub(super) fn duration_ms(&self) -> u32 {
        let end =
            |t: Option<(u32, u32)>| t.map_or(0, |(last, prev)| last + last.saturating_sub(prev));
        let recorded = end(self.video_ts).max(end(self.audio_ts));
        match &self.body {
            Body::Flv(f) if !f.pending() => recorded.saturating_add(f.base),
            _ => recorded,
        }
    }

    pub(super) fn written(&self) -> u64 {
        match &self.body {
            Body::Flv(f) => f.written,
            Body::Mp4(m) => m.written(),
        }
    }

    pub(super) fn frames(&self) -> u64 {
        match &self.body {
            Body::Flv(_) => self.frames,
            Body::Mp4(m) => m.frames(),
        }
    }
}

/// A split of an MP4 recording that waits for the audio presented before its keyframe.
///
/// A file is cut at a keyframe's decode time, but with B-frames the video of the file
/// before it presents until the keyframe's presentation time: the audio up to then goes
/// into that file, and the next file's first video frames wait here, so consecutive files
/// do not overlap in time and their durations add up to the stream's.
#[derive(Debug)]
pub(super) struct HeldSplit {
    /// Stream timestamp of the keyframe (the next file's 0) and of its presentation.
    pub(super) epoch: u32,
    pub(super) until: u32,
    pub(super) name_at: i64,
    /// The next file's video frames from the keyframe on, with their stream timestamps.
    pub(super) frames: Vec<(u32, Frame)>,
    /// The codec configuration of those frames.
    pub(super) codecs: Demuxer,
}

impl HeldSplit {
    /// Whether a message of stream timestamp `ts` comes before the keyframe's presentation.
    pub(super) fn before(&self, ts: u32) -> bool {
        let d = self.until.wrapping_sub(ts);
        d != 0 && d <= u32::MAX / 2
    }
}
