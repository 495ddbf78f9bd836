//! The per-stream GOP cache: what a joining player is sent at once so that
//! it starts at the latest keyframe instead of waiting for the next one.
//!
//! It keeps the latest onMetaData, the latest video and audio sequence
//! headers, and every media message since the latest video keyframe (audio
//! interleaved, in arrival order). The cached GOP is bounded by frames and
//! bytes; when a bound would be exceeded the GOP is dropped and caching
//! resumes at the next keyframe, so a player is never sent a GOP without
//! its keyframe. A new video sequence header also drops the GOP (the cached
//! pictures belong to the old configuration).
//!
//! Entries are [`PreparedMessage`]s: cloning one clones a `Bytes` handle,
//! the cache shares the bodies sent to live players. While a stream has no
//! player, its messages are kept as their bare payloads instead
//! ([`GopCache::push_payload`]: no copy, no allocation) and chunked when a
//! player joins ([`GopCache::join_burst`]), once.
//!
//! Audio-only streams have no keyframes: their cache holds metadata and the
//! audio sequence header only, and players start with the next live frame.

use std::collections::VecDeque;

use bytes::Bytes;

use super::media_info::{MediaInfo, MediaKind};
use crate::rtmp::chunk::PreparedMessage;
use crate::rtmp::message::csid;

/// Default bound on cached messages (a 10 s GOP at 30 fps with 44.1 kHz
/// AAC is about 730 messages).
pub const DEFAULT_MAX_FRAMES: usize = 2048;
/// Default bound on cached body bytes.
pub const DEFAULT_MAX_BYTES: usize = 16 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No GOP cached; waiting for a video keyframe.
    WaitKey,
    /// `gop` starts with a keyframe.
    Caching,
}

/// A message of the cached GOP.
#[derive(Debug, Clone)]
pub enum CachedMessage {
    /// Chunked, as sent to players.
    Ready(PreparedMessage),
    /// The bare payload (nobody played the stream when it arrived).
    Bare {
        type_id: u8,
        timestamp: u32,
        payload: Bytes,
    },
}

impl CachedMessage {
    pub fn type_id(&self) -> u8 {
        match self {
            CachedMessage::Ready(m) => m.type_id,
            CachedMessage::Bare { type_id, .. } => *type_id,
        }
    }

    pub fn timestamp(&self) -> u32 {
        match self {
            CachedMessage::Ready(m) => m.timestamp,
            CachedMessage::Bare { timestamp, .. } => *timestamp,
        }
    }

    /// Appends the message's payload to `out`.
    pub fn payload_into(&self, out: &mut Vec<u8>) {
        match self {
            CachedMessage::Ready(m) => m.payload_pieces().for_each(|p| out.extend_from_slice(p)),
            CachedMessage::Bare { payload, .. } => out.extend_from_slice(payload),
        }
    }

    fn len(&self) -> usize {
        match self {
            CachedMessage::Ready(m) => m.body().len(),
            CachedMessage::Bare { payload, .. } => payload.len(),
        }
    }

    /// Makes the chunked form (once).
    fn prepare(&mut self, chunk_size: u32) {
        if let CachedMessage::Bare {
            type_id,
            timestamp,
            payload,
        } = self
        {
            let m = PreparedMessage::new(
                csid::for_media(*type_id),
                chunk_size,
                *type_id,
                *timestamp,
                payload,
            );
            *self = CachedMessage::Ready(m);
        }
    }
}

/// Cached start-up state of one live stream.
#[derive(Debug)]
pub struct GopCache {
    enabled: bool,
    max_frames: usize,
    max_bytes: usize,
    meta: Option<PreparedMessage>,
    video_header: Option<PreparedMessage>,
    audio_header: Option<PreparedMessage>,
    gop: VecDeque<(MediaInfo, CachedMessage)>,
    bytes: usize,
    state: State,
    /// GOPs dropped because a bound was hit.
    overflows: u64,
}

impl GopCache {
    /// A cache; `enabled == false` keeps only metadata and sequence headers.
    pub fn new(enabled: bool, max_frames: usize, max_bytes: usize) -> GopCache {
        GopCache {
            enabled,
            max_frames,
            max_bytes,
            meta: None,
            video_header: None,
            audio_header: None,
            gop: VecDeque::new(),
            bytes: 0,
            state: State::WaitKey,
            overflows: 0,
        }
    }

    /// Records a live message of the stream (in publishing order).
    pub fn push(&mut self, info: MediaInfo, msg: &PreparedMessage) {
        match info.kind {
            MediaKind::Meta => self.meta = Some(msg.clone()),
            MediaKind::Video if info.sequence_header => {
                self.video_header = Some(msg.clone());
                self.drop_gop();
            }
            MediaKind::Audio if info.sequence_header => self.audio_header = Some(msg.clone()),
            _ => self.record(info, CachedMessage::Ready(msg.clone())),
        }
    }

    /// Records a live message that no player needs now: a frame is kept as its payload (a
    /// reference, no copy) and chunked at `chunk_size` only if a player joins while it is
    /// cached; metadata and sequence headers are chunked at once (they are rare and always
    /// sent).
    pub fn push_payload(
        &mut self,
        info: MediaInfo,
        type_id: u8,
        timestamp: u32,
        payload: &Bytes,
        chunk_size: u32,
    ) {
        if info.kind == MediaKind::Meta || info.sequence_header {
            let msg = PreparedMessage::new(
                csid::for_media(type_id),
                chunk_size,
                type_id,
                timestamp,
                payload,
            );
            self.push(info, &msg);
        } else {
            self.record(
                info,
                CachedMessage::Bare {
                    type_id,
                    timestamp,
                    payload: payload.clone(),
                },
            );
        }
    }

    /// A media frame: cached if it belongs to the GOP being cached.
    fn record(&mut self, info: MediaInfo, msg: CachedMessage) {
        if !self.enabled {
            return;
        }
        if info.kind == MediaKind::Video && info.keyframe {
            self.drop_gop();
            self.state = State::Caching;
        }
        if self.state != State::Caching {
            return;
        }
        let bytes = self.bytes.saturating_add(msg.len());
        if self.gop.len() >= self.max_frames || bytes > self.max_bytes {
            self.drop_gop();
            self.overflows = self.overflows.saturating_add(1);
            return;
        }
        self.bytes = bytes;
        self.gop.push_back((info, msg));
    }

    fn drop_gop(&mut self) {
        self.gop.clear();
        self.bytes = 0;
        self.state = State::WaitKey;
    }

    /// Forgets everything (the publisher left; a new one starts afresh).
    pub fn clear(&mut self) {
        self.meta = None;
        self.video_header = None;
        self.audio_header = None;
        self.drop_gop();
    }

    /// What a joining player gets, in order: metadata, video and audio
    /// sequence headers, then the cached GOP (empty when disabled or while
    /// waiting for a keyframe), chunked at `chunk_size` where it was not yet.
    /// Each message comes with its classification, to tell the player's
    /// [`PlayerQueue`](super::PlayerQueue) (`admit_burst` or `note_sent`).
    pub fn join_burst(
        &mut self,
        chunk_size: u32,
    ) -> impl Iterator<Item = (MediaInfo, &PreparedMessage)> {
        for (_, m) in self.gop.iter_mut() {
            m.prepare(chunk_size);
        }
        let video_header = MediaInfo {
            kind: MediaKind::Video,
            keyframe: false,
            sequence_header: true,
        };
        let audio_header = MediaInfo {
            kind: MediaKind::Audio,
            ..video_header
        };
        // All `Ready` now.
        let gop = self.gop.iter().filter_map(|(i, m)| match m {
            CachedMessage::Ready(m) => Some((*i, m)),
            CachedMessage::Bare { .. } => None,
        });
        self.meta
            .iter()
            .map(|m| (MediaInfo::meta(), m))
            .chain(self.video_header.iter().map(move |m| (video_header, m)))
            .chain(self.audio_header.iter().map(move |m| (audio_header, m)))
            .chain(gop)
    }

    /// The cached GOP alone: a keyframe first, then what followed it in
    /// order, each with its classification. Empty when not caching.
    pub fn gop(&self) -> impl Iterator<Item = (MediaInfo, &CachedMessage)> {
        self.gop.iter().map(|(i, m)| (*i, m))
    }

    pub fn metadata(&self) -> Option<&PreparedMessage> {
        self.meta.as_ref()
    }

    pub fn video_header(&self) -> Option<&PreparedMessage> {
        self.video_header.as_ref()
    }

    pub fn audio_header(&self) -> Option<&PreparedMessage> {
        self.audio_header.as_ref()
    }

    /// Messages in the cached GOP.
    pub fn frames(&self) -> usize {
        self.gop.len()
    }

    /// Body bytes in the cached GOP.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// True while a GOP (starting at a keyframe) is being cached.
    pub fn is_caching(&self) -> bool {
        self.state == State::Caching
    }

    /// How many times a bound made the cache drop a GOP.
    pub fn overflows(&self) -> u64 {
        self.overflows
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn msg(type_id: u8, ts: u32, payload: &[u8]) -> (MediaInfo, PreparedMessage) {
        (
            MediaInfo::classify(type_id, payload),
            PreparedMessage::new(csid::for_media(type_id), 128, type_id, ts, payload),
        )
    }

    fn key(ts: u32) -> (MediaInfo, PreparedMessage) {
        msg(9, ts, &[0x17, 1, 0, 0, 0, 0xAA, 0xBB])
    }
    fn inter(ts: u32) -> (MediaInfo, PreparedMessage) {
        msg(9, ts, &[0x27, 1, 0, 0, 0, 0xCC])
    }
    fn audio(ts: u32) -> (MediaInfo, PreparedMessage) {
        msg(8, ts, &[0xAF, 1, 0x21, 0x00])
    }

    fn burst_ts(c: &mut GopCache) -> Vec<(u8, u32)> {
        c.join_burst(128)
            .map(|(_, m)| (m.type_id, m.timestamp))
            .collect()
    }

    fn push(c: &mut GopCache, m: (MediaInfo, PreparedMessage)) {
        c.push(m.0, &m.1);
    }

    #[test]
    fn burst_order_and_replacement() {
        let mut c = GopCache::new(true, 100, 1 << 20);
        push(&mut c, audio(0)); // before any keyframe: not cached
        push(&mut c, inter(0));
        push(&mut c, msg(9, 0, &[0x17, 0, 0, 0, 0, 1]));
        push(&mut c, msg(8, 0, &[0xAF, 0, 0x12, 0x10]));
        push(&mut c, msg(18, 0, b"meta1"));
        push(&mut c, key(40));
        push(&mut c, audio(41));
        push(&mut c, inter(80));
        push(&mut c, msg(18, 90, b"meta2"));
        assert_eq!(
            burst_ts(&mut c),
            [(18, 90), (9, 0), (8, 0), (9, 40), (8, 41), (9, 80)]
        );
        // A new keyframe starts a new GOP.
        push(&mut c, key(120));
        push(&mut c, audio(121));
        assert_eq!(burst_ts(&mut c)[3..], [(9, 120), (8, 121)]);
        assert_eq!(c.frames(), 2);
        // New AAC header replaces the old one, keeps the GOP.
        push(&mut c, msg(8, 130, &[0xAF, 0, 0x11, 0x90]));
        assert_eq!(c.audio_header().unwrap().timestamp, 130);
        assert_eq!(c.frames(), 2);
        // New video header drops the GOP until the next keyframe.
        push(&mut c, msg(9, 140, &[0x17, 0, 0, 0, 0, 2]));
        assert_eq!(c.frames(), 0);
        push(&mut c, inter(160));
        assert_eq!(c.frames(), 0);
        push(&mut c, key(200));
        assert_eq!(burst_ts(&mut c), [(18, 90), (9, 140), (8, 130), (9, 200)]);
        c.clear();
        assert_eq!(c.join_burst(128).count(), 0);
    }

    #[test]
    fn frame_bound_drops_until_next_key() {
        let mut c = GopCache::new(true, 3, 1 << 20);
        push(&mut c, key(0));
        push(&mut c, inter(40));
        push(&mut c, audio(41));
        assert_eq!(c.frames(), 3);
        push(&mut c, inter(80)); // 4th: over the bound
        assert_eq!(c.frames(), 0);
        assert!(!c.is_caching());
        assert_eq!(c.overflows(), 1);
        push(&mut c, inter(120));
        push(&mut c, audio(121));
        assert_eq!(c.frames(), 0);
        push(&mut c, key(160));
        assert_eq!(burst_ts(&mut c), [(9, 160)]);
    }

    #[test]
    fn byte_bound() {
        let k = key(0);
        let one = k.1.body().len();
        let mut c = GopCache::new(true, 100, one * 2);
        push(&mut c, k);
        push(&mut c, key(40)); // replaces, still one
        assert_eq!(c.bytes(), one);
        push(&mut c, msg(9, 80, &[0x27, 1, 0, 0, 0, 1, 2])); // same size as a key
        assert_eq!(c.bytes(), one * 2);
        push(&mut c, inter(120));
        assert_eq!(c.frames(), 0);
        assert_eq!(c.bytes(), 0);
        // A keyframe larger than the bound is never cached.
        let mut c = GopCache::new(true, 100, 3);
        push(&mut c, key(0));
        assert_eq!(c.frames(), 0);
        push(&mut c, inter(40));
        assert_eq!(c.frames(), 0);
    }

    /// Without players, frames are kept as bare payloads and chunked at the first join;
    /// what a player gets is the same either way.
    #[test]
    fn bare_payloads_are_chunked_at_the_first_join() {
        let all = [
            msg(18, 0, b"meta"),
            msg(9, 0, &[0x17, 0, 0, 0, 0, 1]),
            msg(8, 0, &[0xAF, 0, 0x12, 0x10]),
            key(40),
            audio(41),
            msg(9, 80, &(0..300).map(|i| i as u8).collect::<Vec<u8>>()),
        ];
        let mut ready = GopCache::new(true, 100, 1 << 20);
        let mut bare = GopCache::new(true, 100, 1 << 20);
        for (info, m) in &all {
            ready.push(*info, m);
            let payload: Vec<u8> = m.payload_pieces().flatten().copied().collect();
            bare.push_payload(*info, m.type_id, m.timestamp, &Bytes::from(payload), 128);
        }
        assert_eq!(bare.bytes(), 7 + 4 + 300);
        let mut gop_payloads = Vec::new();
        for (_, m) in bare.gop() {
            m.payload_into(&mut gop_payloads);
        }
        assert_eq!(gop_payloads.len(), bare.bytes());
        let a: Vec<_> = ready.join_burst(128).map(|(i, m)| (i, m.clone())).collect();
        let b: Vec<_> = bare.join_burst(128).map(|(i, m)| (i, m.clone())).collect();
        assert_eq!(a.len(), 6);
        assert_eq!(a, b);
        // Chunked once: a second join gets the same bodies.
        let c: Vec<_> = bare.join_burst(128).map(|(i, m)| (i, m.clone())).collect();
        assert_eq!(b, c);
    }

    #[test]
    fn disabled_keeps_headers_only() {
        let mut c = GopCache::new(false, 100, 1 << 20);
        push(&mut c, msg(18, 0, b"m"));
        push(&mut c, msg(9, 0, &[0x17, 0, 0, 0, 0, 1]));
        push(&mut c, key(0));
        push(&mut c, audio(1));
        assert_eq!(burst_ts(&mut c), [(18, 0), (9, 0)]);
        assert!(!c.is_enabled());
    }
}
