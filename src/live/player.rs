//! Per-player queue policy: send or drop each live message, so that a slow
//! player never makes memory grow without bound and never gets a picture
//! whose reference it did not get.
//!
//! The budget is in bytes, not messages: `max_pending_bytes` bounds what a
//! player has queued and not yet written to its socket
//! (`Session::pending_bytes()` plus the shell's unsent tail). nginx-rtmp's
//! `out_queue` counts messages (default 256, about 3-4 s of a typical
//! stream); bytes bound memory directly whatever the bitrate. The default,
//! 2 MiB, is about 4 s at 4 Mbit/s. Pending data is mostly shared frame
//! bodies, but a stalled player keeps them alive, so this is also the
//! memory a stalled player can pin (plus one message: a message is admitted
//! while the queue is under the budget).
//!
//! Rules, in order:
//! - metadata and sequence headers are always sent (never dropped);
//! - video over budget is dropped, and from then on video is dropped until
//!   a keyframe arrives while under budget (no inter frame whose reference
//!   was dropped is ever sent);
//! - `wait_key`: a new player also starts video at a keyframe;
//! - `wait_video`: no audio before the first video picture was sent (as
//!   nginx-rtmp, an audio-only stream then sends no audio at all);
//! - audio over budget is dropped, and resumes as soon as the queue is
//!   under budget again.

use super::media_info::{MediaInfo, MediaKind};

/// Default byte budget of a player's queue.
pub const DEFAULT_MAX_PENDING_BYTES: usize = 2 << 20;

/// The knobs of the player queue (nginx-rtmp's `wait_key`, `wait_video`,
/// and our byte form of `out_queue`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuePolicy {
    /// Drop media while this many bytes or more are pending.
    pub max_pending_bytes: usize,
    /// Start video at a keyframe (nginx-rtmp default: on).
    pub wait_key: bool,
    /// No audio before the first video frame (nginx-rtmp default: off).
    pub wait_video: bool,
}

impl Default for QueuePolicy {
    fn default() -> Self {
        QueuePolicy {
            max_pending_bytes: DEFAULT_MAX_PENDING_BYTES,
            wait_key: true,
            wait_video: false,
        }
    }
}

/// The decision for one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    Send,
    Drop,
}

impl Admit {
    pub fn is_send(self) -> bool {
        self == Admit::Send
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Video {
    /// Dropping video until a keyframe.
    WaitKey,
    /// Sending video.
    Flowing,
}

/// The send/drop state of one player.
#[derive(Debug, Clone)]
pub struct PlayerQueue {
    policy: QueuePolicy,
    video: Video,
    /// A video picture was sent since the (re)start.
    video_started: bool,
    dropped: u64,
}

impl PlayerQueue {
    pub fn new(policy: QueuePolicy) -> Self {
        PlayerQueue {
            video: Self::initial_video(&policy),
            policy,
            video_started: false,
            dropped: 0,
        }
    }

    fn initial_video(policy: &QueuePolicy) -> Video {
        if policy.wait_key {
            Video::WaitKey
        } else {
            Video::Flowing
        }
    }

    /// Decides for one live message, given the bytes the player has
    /// pending now.
    pub fn admit(&mut self, info: &MediaInfo, pending_bytes: usize) -> Admit {
        let over = pending_bytes >= self.policy.max_pending_bytes;
        self.decide(info, over)
    }

    /// Decides for a message of the join burst (`GopCache::join_burst`):
    /// the same rules without the byte budget. The burst is bounded by the
    /// GOP cache's own bounds, and cutting it would make the player wait
    /// for the next keyframe, which is what the burst is there to avoid.
    pub fn admit_burst(&mut self, info: &MediaInfo) -> Admit {
        self.decide(info, false)
    }

    /// Decides for one live message when the caller measures the budget itself (a relay
    /// counts media time as well as bytes): `over` means the backlog is at or over it.
    pub fn admit_over(&mut self, info: &MediaInfo, over: bool) -> Admit {
        self.decide(info, over)
    }

    fn decide(&mut self, info: &MediaInfo, over: bool) -> Admit {
        if info.is_mandatory() {
            return Admit::Send;
        }
        let admit = match info.kind {
            MediaKind::Video => {
                if over {
                    self.video = Video::WaitKey;
                    Admit::Drop
                } else if self.video == Video::WaitKey && !info.keyframe {
                    Admit::Drop
                } else {
                    self.video = Video::Flowing;
                    self.video_started = true;
                    Admit::Send
                }
            }
            MediaKind::Audio => {
                if over || (self.policy.wait_video && !self.video_started) {
                    Admit::Drop
                } else {
                    Admit::Send
                }
            }
            MediaKind::Meta => Admit::Send,
        };
        if admit == Admit::Drop {
            self.dropped = self.dropped.saturating_add(1);
        }
        admit
    }

    /// Records a message sent without asking (e.g. the join burst sent
    /// whole): a video picture means video flows from here on. The caller
    /// guarantees the order is decodable (the burst starts at a keyframe).
    pub fn note_sent(&mut self, info: &MediaInfo) {
        if info.kind == MediaKind::Video && !info.sequence_header {
            self.video = Video::Flowing;
            self.video_started = true;
        }
    }

    /// Back to the start state (after an unpause, or when the publisher
    /// restarts): wait for a keyframe / video again as configured.
    pub fn reset(&mut self) {
        self.video = Self::initial_video(&self.policy);
        self.video_started = false;
    }

    /// Messages dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// True while video is dropped until the next keyframe.
    pub fn is_waiting_key(&self) -> bool {
        self.video == Video::WaitKey
    }

    pub fn policy(&self) -> &QueuePolicy {
        &self.policy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: MediaInfo = MediaInfo {
        kind: MediaKind::Video,
        keyframe: true,
        sequence_header: false,
        track: 0,
    };
    const INTER: MediaInfo = MediaInfo {
        kind: MediaKind::Video,
        keyframe: false,
        sequence_header: false,
        track: 0,
    };
    const AUDIO: MediaInfo = MediaInfo {
        kind: MediaKind::Audio,
        keyframe: false,
        sequence_header: false,
        track: 0,
    };
    const VHDR: MediaInfo = MediaInfo {
        kind: MediaKind::Video,
        keyframe: false,
        sequence_header: true,
        track: 0,
    };
    const AHDR: MediaInfo = MediaInfo {
        kind: MediaKind::Audio,
        keyframe: false,
        sequence_header: true,
        track: 0,
    };
    const META: MediaInfo = MediaInfo {
        kind: MediaKind::Meta,
        keyframe: false,
        sequence_header: false,
        track: 0,
    };

    fn policy(wait_key: bool, wait_video: bool) -> QueuePolicy {
        QueuePolicy {
            max_pending_bytes: 1000,
            wait_key,
            wait_video,
        }
    }

    use Admit::{Drop, Send};

    #[test]
    fn wait_key_at_start() {
        let mut q = PlayerQueue::new(policy(true, false));
        assert!(q.is_waiting_key());
        assert_eq!(q.admit(&INTER, 0), Drop);
        assert_eq!(q.admit(&AUDIO, 0), Send);
        assert_eq!(q.admit(&KEY, 0), Send);
        assert_eq!(q.admit(&INTER, 0), Send);
        assert_eq!(q.dropped(), 1);
        // Without wait_key, inter frames go out from the start.
        let mut q = PlayerQueue::new(policy(false, false));
        assert_eq!(q.admit(&INTER, 0), Send);
    }

    #[test]
    fn wait_video() {
        let mut q = PlayerQueue::new(policy(true, true));
        assert_eq!(q.admit(&AHDR, 0), Send);
        assert_eq!(q.admit(&AUDIO, 0), Drop);
        assert_eq!(q.admit(&VHDR, 0), Send);
        assert_eq!(q.admit(&AUDIO, 0), Drop, "a header is not a picture");
        assert_eq!(q.admit(&INTER, 0), Drop);
        assert_eq!(q.admit(&AUDIO, 0), Drop);
        assert_eq!(q.admit(&KEY, 0), Send);
        assert_eq!(q.admit(&AUDIO, 0), Send);
    }

    #[test]
    fn over_budget_drops_video_until_next_key() {
        let mut q = PlayerQueue::new(policy(true, false));
        assert_eq!(q.admit(&KEY, 0), Send);
        assert_eq!(q.admit(&INTER, 999), Send);
        assert_eq!(q.admit(&INTER, 1000), Drop);
        // Under budget again, but the reference is gone.
        assert_eq!(q.admit(&INTER, 0), Drop);
        assert_eq!(q.admit(&AUDIO, 0), Send, "audio resumes under budget");
        assert_eq!(q.admit(&AUDIO, 5000), Drop);
        // A keyframe over budget is dropped too, and we keep waiting.
        assert_eq!(q.admit(&KEY, 1000), Drop);
        assert_eq!(q.admit(&INTER, 0), Drop);
        assert_eq!(q.admit(&KEY, 10), Send);
        assert_eq!(q.admit(&INTER, 10), Send);
        assert_eq!(q.dropped(), 5);
        // Even without wait_key, a congestion drop waits for a keyframe.
        let mut q = PlayerQueue::new(policy(false, false));
        assert_eq!(q.admit(&INTER, 2000), Drop);
        assert_eq!(q.admit(&INTER, 0), Drop);
        assert_eq!(q.admit(&KEY, 0), Send);
    }

    #[test]
    fn headers_and_metadata_never_dropped() {
        let mut q = PlayerQueue::new(policy(true, true));
        for info in [META, VHDR, AHDR] {
            assert_eq!(q.admit(&info, usize::MAX), Send);
        }
        assert_eq!(q.dropped(), 0);
    }

    #[test]
    fn burst_ignores_budget_and_restart_waits_again() {
        let mut q = PlayerQueue::new(policy(true, true));
        assert_eq!(q.admit_burst(&META), Send);
        assert_eq!(q.admit_burst(&KEY), Send);
        assert_eq!(q.admit_burst(&AUDIO), Send);
        assert_eq!(q.admit_burst(&INTER), Send);
        q.reset();
        assert!(q.is_waiting_key());
        assert_eq!(q.admit(&AUDIO, 0), Drop);
        q.note_sent(&KEY);
        assert!(!q.is_waiting_key());
        assert!(q.admit(&AUDIO, 0).is_send());
        q.reset();
        assert_eq!(q.admit(&AUDIO, 0), Drop);
        assert_eq!(q.admit(&INTER, 0), Drop);
        assert_eq!(q.admit(&KEY, 0), Send);
        assert_eq!(q.policy().max_pending_bytes, 1000);
        assert_eq!(QueuePolicy::default().max_pending_bytes, 2 << 20);
    }
}
