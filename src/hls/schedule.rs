//! Segments that line up across renditions: the source's [`HlsStream`](super::HlsStream)
//! (the leader) publishes where it cuts into a [`CutSchedule`], and each rendition's stream
//! (a follower) cuts at the same instants and numbers its segments the same.
//!
//! A follower:
//! - starts only at a scheduled cut: its first segment opens at a keyframe within half a frame
//!   of a cut the leader made, and takes that cut's sequence number; what comes before is
//!   dropped;
//! - cuts at its first video frame at or after the next scheduled cut (less half a frame), a
//!   keyframe when its encoder put one there (the encoder is asked for keyframes at the
//!   source's), and takes that cut's sequence number; a follower that missed cuts (its
//!   encoder stalled or restarted) takes the latest one it reached, and its playlist restarts
//!   there, since a playlist cannot skip numbers;
//! - never cuts on its own timing (no fragment rule, no forced cut) and uses the leader's
//!   `#EXT-X-TARGETDURATION`.
//!
//! Times are the frames' presentation times in ms (an encoder without B-frames puts its
//! keyframe's DTS at the source keyframe's PTS, so DTS would differ by the source's
//! composition offset); a rendition's frames carry the source's timestamps
//! (see [`crate::transcode::TimeBase`]), so the two timelines are one.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

/// Cuts remembered: a follower lags its leader by its encoder's latency, a few segments at
/// most.
const MAX_CUTS: usize = 64;

/// Where the leader opened a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cut {
    /// The media sequence number of the segment it opened.
    pub sequence: u64,
    /// The presentation time of the video frame that opened it, ms.
    pub start_ms: u64,
}

#[derive(Debug, Default)]
struct Inner {
    cuts: VecDeque<Cut>,
    target_s: Option<u64>,
}

/// The shared cut points of one source (a handle: clones share them). Single-threaded, as a
/// worker is; no borrow outlives a call.
#[derive(Debug, Clone, Default)]
pub struct CutSchedule(Rc<RefCell<Inner>>);

impl CutSchedule {
    pub fn new() -> CutSchedule {
        CutSchedule::default()
    }

    /// The leader opened segment `cut.sequence` (a later call for the same sequence replaces
    /// the earlier one).
    pub fn publish(&self, cut: Cut) {
        let mut inner = self.0.borrow_mut();
        if let Some(last) = inner.cuts.back_mut() {
            if last.sequence == cut.sequence {
                *last = cut;
                return;
            }
        }
        if inner.cuts.len() >= MAX_CUTS {
            inner.cuts.pop_front();
        }
        inner.cuts.push_back(cut);
    }

    /// The leader fixed its target duration.
    pub fn publish_target(&self, target_s: u64) {
        self.0.borrow_mut().target_s = Some(target_s);
    }

    /// The leader's `#EXT-X-TARGETDURATION`, once fixed.
    pub fn target_s(&self) -> Option<u64> {
        self.0.borrow().target_s
    }

    /// The remembered cuts, oldest first.
    pub fn cuts(&self) -> Vec<Cut> {
        self.0.borrow().cuts.iter().copied().collect()
    }

    /// The first cut after segment `sequence`.
    pub fn next_after(&self, sequence: u64) -> Option<Cut> {
        self.0
            .borrow()
            .cuts
            .iter()
            .find(|c| c.sequence > sequence)
            .copied()
    }

    /// The cut a follower may start at with a keyframe presented at `pts`: the latest cut
    /// within `tolerance_ms` of it.
    pub fn start_at(&self, pts: u64, tolerance_ms: u64) -> Option<Cut> {
        self.0
            .borrow()
            .cuts
            .iter()
            .rev()
            .find(|c| c.start_ms.abs_diff(pts) <= tolerance_ms)
            .copied()
    }

    /// Whether a follower whose open segment is `sequence` must cut at a video frame
    /// presented at `pts`: the cut to take, if so (the latest one reached, when the follower
    /// missed some).
    pub fn due(&self, sequence: u64, pts: u64, tolerance_ms: u64) -> Option<Cut> {
        let reach = pts.saturating_add(tolerance_ms);
        self.0
            .borrow()
            .cuts
            .iter()
            .rev()
            .find(|c| c.sequence > sequence && c.start_ms <= reach)
            .copied()
    }
}

/// A stream's part in a schedule.
#[derive(Debug, Clone)]
pub(crate) enum Role {
    /// Publishes its cuts.
    Lead(CutSchedule),
    /// Cuts where the leader did.
    Follow(CutSchedule),
}

impl Role {
    pub(crate) fn follower(&self) -> Option<&CutSchedule> {
        match self {
            Role::Follow(s) => Some(s),
            Role::Lead(_) => None,
        }
    }

    pub(crate) fn leader(&self) -> Option<&CutSchedule> {
        match self {
            Role::Lead(s) => Some(s),
            Role::Follow(_) => None,
        }
    }
}

/// Half a frame of `interval_ms`, the tolerance when matching a follower's frame to a cut.
pub(crate) fn half_frame(interval_ms: u64) -> u64 {
    (interval_ms / 2).max(2)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn schedule_lookups() {
        let s = CutSchedule::new();
        let follower = s.clone();
        for (i, t) in [0u64, 4000, 8000].iter().enumerate() {
            s.publish(Cut {
                sequence: 10 + i as u64,
                start_ms: *t,
            });
        }
        s.publish(Cut {
            sequence: 12,
            start_ms: 8033,
        });
        assert_eq!(follower.cuts().len(), 3);
        assert_eq!(follower.start_at(4010, 16).map(|c| c.sequence), Some(11));
        assert_eq!(follower.start_at(4030, 16), None);
        assert_eq!(follower.due(10, 3980, 16), None);
        assert_eq!(follower.due(10, 3990, 16).map(|c| c.sequence), Some(11));
        assert_eq!(follower.due(10, 8030, 16).map(|c| c.sequence), Some(12));
        assert_eq!(follower.due(11, 8020, 16).map(|c| c.sequence), Some(12));
        assert_eq!(follower.due(12, 20_000, 16), None);
        for i in 0..100 {
            s.publish(Cut {
                sequence: 13 + i,
                start_ms: 12_000 + 4000 * i,
            });
        }
        assert_eq!(s.cuts().len(), MAX_CUTS);
        assert_eq!(s.target_s(), None);
        s.publish_target(4);
        assert_eq!(follower.target_s(), Some(4));
    }
}
