//! The outbound queue of a relay: a published stream's messages on their way to a target
//! that may be slow or stalled.
//!
//! A relay is a player that happens to be outbound, so it takes the player queue's rules
//! ([`PlayerQueue`]): codec headers and metadata always go, video over budget is dropped and
//! resumes at the next keyframe under budget, audio resumes as soon as the backlog is under
//! budget again. What differs is the budget: nginx-rtmp's `relay_buffer` is media time
//! (default 5 s), so the backlog is bounded in time (the span of timestamps queued) and in
//! bytes, whichever is hit first. A relay that (re)joins a running stream starts with the
//! metadata, the codec headers and the cached GOP from its keyframe, or, without a cached
//! GOP, waits for the next keyframe.
//!
//! The shell pops messages when the connection can take more (its client session's own
//! pending bytes are small) and passes those pending bytes to [`RelayQueue::offer`], so a
//! target that stops reading pins at most the budget plus one message plus one metadata
//! message and one codec header of each kind.

use std::collections::VecDeque;

use bytes::Bytes;

use crate::live::{Admit, GopCache, MediaInfo, MediaKind, PlayerQueue, QueuePolicy};

/// nginx-rtmp's `relay_buffer` default.
pub const DEFAULT_RELAY_BUFFER_MS: u32 = 5000;
/// The byte bound of a relay's backlog (about 5 s at 6 Mbit/s).
pub const DEFAULT_RELAY_BUFFER_BYTES: usize = 4 << 20;

/// The bounds of a relay's backlog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayBuffer {
    /// Media time between the oldest queued frame and a new one.
    pub max_ms: u32,
    pub max_bytes: usize,
}

impl Default for RelayBuffer {
    fn default() -> Self {
        RelayBuffer {
            max_ms: DEFAULT_RELAY_BUFFER_MS,
            max_bytes: DEFAULT_RELAY_BUFFER_BYTES,
        }
    }
}

/// One message for the relay's client session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayMessage {
    pub info: MediaInfo,
    /// RTMP message type: audio (8), video (9) or data (18).
    pub type_id: u8,
    pub timestamp: u32,
    /// The FLV tag body, as published.
    pub payload: Bytes,
}

/// The backlog of one relay.
#[derive(Debug, Clone)]
pub struct RelayQueue {
    buffer: RelayBuffer,
    admit: PlayerQueue,
    queued: VecDeque<RelayMessage>,
    bytes: usize,
    /// False while the relay is not streaming: messages are not kept for a dead target.
    joined: bool,
}

impl RelayQueue {
    pub fn new(buffer: RelayBuffer) -> RelayQueue {
        RelayQueue {
            buffer,
            admit: PlayerQueue::new(QueuePolicy {
                max_pending_bytes: buffer.max_bytes,
                wait_key: true,
                wait_video: false,
            }),
            queued: VecDeque::new(),
            bytes: 0,
            joined: false,
        }
    }

    /// The relay streams (again): start with what a joining player gets from the stream's
    /// GOP cache. The cached payloads are copied once per join (the cache keeps them chunked
    /// for players at their chunk size; the relay's session chunks at its own).
    pub fn join(&mut self, gop: &GopCache) {
        self.clear();
        self.joined = true;
        // Every track's header: the relay forwards the stream as published.
        for (info, m) in gop.setup() {
            self.push(info, m.type_id, m.timestamp, m.payload());
        }
        for (info, m) in gop.gop() {
            let mut payload = Vec::new();
            m.payload_into(&mut payload);
            self.admit.note_sent(&info);
            self.push(info, m.type_id(), m.timestamp(), Bytes::from(payload));
        }
    }

    /// The relay stopped streaming: drop the backlog and keep nothing until it joins again.
    pub fn leave(&mut self) {
        self.clear();
        self.joined = false;
    }

    /// Offers a live message; `outside_bytes` is what the shell holds beyond the queue (the
    /// client session's pending bytes and unsent tail).
    pub fn offer(
        &mut self,
        info: MediaInfo,
        type_id: u8,
        timestamp: u32,
        payload: &Bytes,
        outside_bytes: usize,
    ) -> Admit {
        if !self.joined {
            return Admit::Drop;
        }
        let over = self.bytes.saturating_add(outside_bytes) >= self.buffer.max_bytes
            || self.span_ms(timestamp) >= self.buffer.max_ms;
        let admit = self.admit.admit_over(&info, over);
        if admit.is_send() {
            if over && info.is_mandatory() {
                self.drop_superseded(info.kind);
            }
            self.push(info, type_id, timestamp, payload.clone());
        }
        admit
    }

    /// Headers and metadata always go, so a publisher that repeats them to a stalled target
    /// would grow the backlog without bound: over budget, a new one replaces a queued one of
    /// its kind that no frame follows (the frame that would have used it is not queued, and
    /// the new one supersedes it).
    fn drop_superseded(&mut self, kind: MediaKind) {
        let last = self.queued.iter().rposition(|m| m.info.kind == kind);
        let Some(i) = last else { return };
        if self.queued.get(i).is_some_and(|m| m.info.is_mandatory()) {
            if let Some(m) = self.queued.remove(i) {
                self.bytes = self.bytes.saturating_sub(m.payload.len());
            }
        }
    }

    /// The next message for the session.
    pub fn pop(&mut self) -> Option<RelayMessage> {
        let m = self.queued.pop_front()?;
        self.bytes = self.bytes.saturating_sub(m.payload.len());
        Some(m)
    }

    /// Payload bytes queued.
    pub fn backlog_bytes(&self) -> usize {
        self.bytes
    }

    /// Media time queued: from the oldest queued frame to `timestamp`.
    pub fn span_ms(&self, timestamp: u32) -> u32 {
        // Headers carry the time they were published, maybe long ago: only frames count.
        let Some(oldest) = self.queued.iter().find(|m| !m.info.is_mandatory()) else {
            return 0;
        };
        let span = timestamp.wrapping_sub(oldest.timestamp);
        // A timestamp that went backwards is no backlog.
        if span > u32::MAX / 2 {
            0
        } else {
            span
        }
    }

    pub fn len(&self) -> usize {
        self.queued.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queued.is_empty()
    }

    pub fn is_joined(&self) -> bool {
        self.joined
    }

    /// Live messages dropped so far.
    pub fn dropped(&self) -> u64 {
        self.admit.dropped()
    }

    /// True while video is skipped until the next keyframe.
    pub fn is_waiting_key(&self) -> bool {
        self.admit.is_waiting_key()
    }

    fn push(&mut self, info: MediaInfo, type_id: u8, timestamp: u32, payload: Bytes) {
        self.bytes = self.bytes.saturating_add(payload.len());
        self.queued.push_back(RelayMessage {
            info,
            type_id,
            timestamp,
            payload,
        });
    }

    fn clear(&mut self) {
        self.queued.clear();
        self.bytes = 0;
        self.admit.reset();
    }
}
