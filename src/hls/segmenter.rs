//! Cut decisions. Pure timing logic over (track, dts, keyframe); the
//! [`HlsStream`](super::HlsStream) executes what it decides.
//!
//! # Rules
//!
//! - **Normal cut**: at a video keyframe once `hls_fragment` has elapsed since
//!   the segment start (`plain`), or once the timestamp has crossed a multiple
//!   of `hls_fragment` (`aligned`). A keyframe's time for this is its PTS less
//!   the composition offset of the frame that opened the segment (its DTS for
//!   closed GOPs; an open GOP's keyframe is decoded early by its leading
//!   pictures, so its DTS alone would make the first segment two GOPs long).
//!   A segment without video is cut at an audio frame by the same rule. So
//!   every segment with video starts with an IDR, and
//!   `#EXT-X-INDEPENDENT-SEGMENTS` holds.
//! - **Target duration policy.** `#EXT-X-TARGETDURATION` must not change
//!   during the life of a playlist, and no EXTINF may round above it, yet the
//!   GOP of the encoder is unknown when the stream starts. We therefore fix
//!   the target when the *first* segment closes (the playlist is first
//!   written then, so nothing is ever listed under another target):
//!   `T = max(ceil(hls_fragment), ceil(first_duration - 100 ms))` seconds, see
//!   [`target_duration_for`]. The first segment is cut by the normal rule, so
//!   its length reflects the encoder's real GOP: a 2 s GOP with a 3 s fragment
//!   gives 4 s segments and `T = 4`; a 10 s GOP gives `T = 10`. From then on
//!   every segment is held to `T*1000 + 499` ms (the longest duration that
//!   still rounds to `T`): if no keyframe arrives in time the segment is
//!   force-cut at the last frame that keeps it safely within the limit
//!   (two frame intervals of margin, predicted from the last interval). Only encoders with an irregular
//!   GOP longer than `T` ever hit this; that segment then starts without an
//!   IDR, which players tolerate, whereas an EXTINF above the target breaks
//!   strict clients. While such a segment is listed the playlist does not
//!   claim `#EXT-X-INDEPENDENT-SEGMENTS` (RFC 8216 4.3.5.1); the tag returns
//!   once it scrolled out. Before `T` is known (first segment) the limit is
//!   `hls_max_fragment` (default 10 × `hls_fragment`, as nginx-rtmp). A
//!   resumed playlist (`hls_continuous`) keeps its target.
//! - **Discontinuity**: a timestamp jump of a track, more than
//!   [`DISCONTINUITY_BACKWARD_MS`] backwards or [`DISCONTINUITY_FORWARD_MS`]
//!   forwards from that track's previous frame, or a frame that would push
//!   the segment past its hard limit (a stall), closes the segment at its own
//!   media end (clamped to the hard limit) and starts the next one with `#EXT-X-DISCONTINUITY`. So do a
//!   change of the track set (audio or video appearing) and a new, different
//!   AVC sequence header (cut at the next keyframe). Smaller backward steps
//!   are clamped so DTS stay monotonic per track.

use super::config::Slicing;
use super::ts::Tracks;
use crate::media::Track;

/// A track going back by more than this is a timestamp jump.
pub const DISCONTINUITY_BACKWARD_MS: u64 = 1_000;
/// A track going forward by more than this is a timestamp jump.
pub const DISCONTINUITY_FORWARD_MS: u64 = 10_000;
/// Slack when deriving the target from the first segment, so that a first
/// segment of 3.02 s under `hls_fragment 3` gives `T = 3`, not 4.
const TARGET_TOLERANCE_MS: u64 = 100;
/// Frame interval assumed before one was observed.
const DEFAULT_VIDEO_INTERVAL_MS: u64 = 40;
const DEFAULT_AUDIO_INTERVAL_MS: u64 = 23;
/// How far audio may run ahead of the segment limit in a video segment
/// before it counts as a stall.
const NON_GOVERNING_SLACK_MS: u64 = 1_000;
/// Observed intervals are clamped to this for predictions.
const MAX_INTERVAL_MS: u64 = 1_000;

/// `#EXT-X-TARGETDURATION` in seconds for a playlist whose first segment
/// lasted `first_segment_ms`.
pub fn target_duration_for(fragment_ms: u64, first_segment_ms: u64) -> u64 {
    let a = fragment_ms.div_ceil(1000);
    let b = first_segment_ms
        .saturating_sub(TARGET_TOLERANCE_MS)
        .div_ceil(1000);
    a.max(b).max(1)
}

/// Longest segment (ms) whose EXTINF rounds to at most `target_s`.
pub(crate) fn max_duration_for_target(target_s: u64) -> u64 {
    target_s.saturating_mul(1000).saturating_add(499)
}

/// State of the open segment.
#[derive(Debug, Clone)]
pub(crate) struct OpenSegment {
    pub id: u64,
    pub start_ms: u64,
    /// Composition offset (PTS − DTS) of the frame that opened it. A keyframe's decode
    /// time, less this, is where it would be without leading pictures: in an open GOP
    /// (x265's default) a keyframe is decoded before the pictures presented ahead of it, so
    /// its DTS comes early by them, and its offset is larger by as much. With a constant
    /// offset (closed GOPs), cuts fall where decode times alone put them.
    pub open_cts: u64,
    /// Media end: max over frames of dts + frame interval.
    pub end_ms: u64,
    pub tracks: Tracks,
    pub discontinuity: bool,
    /// Starts with an IDR, or has no video.
    pub independent: bool,
    pub video_generation: u32,
    /// A track appeared: cut with a discontinuity at the next keyframe.
    pub regroup: bool,
    /// `#EXT-X-PROGRAM-DATE-TIME` of its first frame (Unix ms), when enabled.
    pub program_date_time_ms: Option<u64>,
}

/// What to do with a frame while a segment is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Write it into the current segment.
    Append,
    /// Close the current segment at this frame's dts; the frame opens the
    /// next one.
    Cut { discontinuity: bool },
    /// The timeline broke: close the current segment at its own end, then
    /// handle the frame as the start of a new section (discontinuity).
    Break,
    /// Keep the (audio) frame for the next segment.
    Hold,
    /// Drop the frame (video that cannot start a segment).
    Drop,
}

/// Frame times after normalisation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Normalized {
    pub dts: u64,
    pub pts: u64,
    pub jumped: bool,
}

#[derive(Debug)]
pub(crate) struct Segmenter {
    pub fragment_ms: u64,
    pub max_fragment_ms: u64,
    pub slicing: Slicing,
    /// Fixed target, seconds.
    pub target_s: Option<u64>,
    /// The stream follows a leader's cut points: it never cuts on its own timing.
    pub follow: bool,
    last_dts: [Option<u64>; 2],
    interval: [Option<u64>; 2],
}

fn idx(track: Track) -> usize {
    match track {
        Track::Video => 0,
        Track::Audio => 1,
    }
}

impl Segmenter {
    pub fn new(fragment_ms: u64, max_fragment_ms: u64, slicing: Slicing) -> Self {
        Self {
            fragment_ms: fragment_ms.max(1),
            max_fragment_ms: max_fragment_ms.max(fragment_ms).max(1),
            slicing,
            target_s: None,
            follow: false,
            last_dts: [None; 2],
            interval: [None; 2],
        }
    }

    /// Detects jumps, clamps small backward steps, learns frame intervals.
    pub fn normalize(&mut self, track: Track, dts: u64, pts: u64) -> Normalized {
        let i = idx(track);
        let mut out = Normalized {
            dts,
            pts,
            jumped: false,
        };
        if let Some(prev) = self.last_dts[i] {
            if dts.saturating_add(DISCONTINUITY_BACKWARD_MS) < prev
                || dts > prev.saturating_add(DISCONTINUITY_FORWARD_MS)
            {
                out.jumped = true;
                self.last_dts = [None; 2];
                self.interval = [None; 2];
            } else if dts < prev {
                out.dts = prev;
            } else if dts > prev {
                if let Some(slot) = self.interval.get_mut(i) {
                    *slot = Some((dts - prev).min(MAX_INTERVAL_MS));
                }
            }
        }
        out.pts = out.pts.max(out.dts);
        if let Some(slot) = self.last_dts.get_mut(i) {
            *slot = Some(out.dts);
        }
        out
    }

    /// Last observed frame interval of a track (or a default).
    pub fn interval(&self, track: Track) -> u64 {
        self.interval
            .get(idx(track))
            .copied()
            .flatten()
            .unwrap_or(match track {
                Track::Video => DEFAULT_VIDEO_INTERVAL_MS,
                Track::Audio => DEFAULT_AUDIO_INTERVAL_MS,
            })
    }

    /// The hard limit on a segment's duration (ms).
    pub fn hard_limit_ms(&self) -> u64 {
        match self.target_s {
            Some(t) => max_duration_for_target(t).min(self.max_fragment_ms.max(t * 1000)),
            None => self.max_fragment_ms,
        }
    }

    fn fragment_elapsed(&self, start: u64, t: u64) -> bool {
        if t <= start {
            return false;
        }
        match self.slicing {
            Slicing::Plain => t - start >= self.fragment_ms,
            Slicing::Aligned => t / self.fragment_ms > start / self.fragment_ms,
        }
    }

    /// Decides about a frame (already normalised, not a jump) for the open
    /// segment `seg`. `available` are the tracks with a usable codec config.
    pub fn decide(
        &self,
        seg: &mut OpenSegment,
        track: Track,
        n: Normalized,
        keyframe: bool,
        available: Tracks,
        video_generation: u32,
    ) -> Decision {
        let dts = n.dts;
        match track {
            Track::Video if !seg.tracks.video => {
                return if keyframe && available.video {
                    Decision::Cut {
                        discontinuity: true,
                    }
                } else {
                    Decision::Drop
                };
            }
            Track::Audio if !seg.tracks.audio => {
                seg.regroup = true;
                return Decision::Hold;
            }
            _ => {}
        }
        let limit = self.hard_limit_ms();
        let governing = if seg.tracks.video {
            Track::Video
        } else {
            Track::Audio
        };
        // Audio may lead video in the interleave: give it some slack.
        let slack = if track == governing {
            0
        } else {
            NON_GOVERNING_SLACK_MS
        };
        if dts > seg.start_ms && dts - seg.start_ms > limit + slack {
            return Decision::Break;
        }
        if track != governing {
            return Decision::Append;
        }
        let can_start = track == Track::Audio || keyframe;
        if can_start
            && track == Track::Video
            && dts > seg.start_ms
            && (seg.regroup || video_generation != seg.video_generation)
        {
            return Decision::Cut {
                discontinuity: true,
            };
        }
        if self.follow {
            return Decision::Append;
        }
        let at = n.pts.saturating_sub(seg.open_cts).max(dts);
        if can_start && self.fragment_elapsed(seg.start_ms, at) {
            return Decision::Cut {
                discontinuity: false,
            };
        }
        // Force cut: the next frame (allowing for jitter of one more
        // interval) would take the segment past the limit.
        if dts > seg.start_ms && dts - seg.start_ms + 2 * self.interval(track) > limit {
            return Decision::Cut {
                discontinuity: false,
            };
        }
        Decision::Append
    }
}
