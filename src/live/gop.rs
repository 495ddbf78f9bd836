//! The per-stream GOP cache: what a joining player is sent at once so that
//! it starts at the latest keyframe instead of waiting for the next one.
//!
//! It keeps the latest onMetaData, the latest sequence header of every video and audio track
//! (an Enhanced RTMP multitrack stream has one per track id, at most
//! [`MAX_TRACKS`](crate::media::ex_header::MAX_TRACKS) of each kind), and every media message
//! since the latest keyframe of the primary video track (audio and the other tracks
//! interleaved, in arrival order). The cached GOP is bounded by frames and bytes; when a bound
//! would be exceeded the GOP is dropped and caching resumes at the next keyframe, so a player
//! is never sent a GOP without its keyframe. A new video sequence header also drops the GOP
//! (the cached pictures belong to the old configuration).
//!
//! Entries are [`PreparedMessage`]s: cloning one clones a `Bytes` handle,
//! the cache shares the bodies sent to live players. While a stream has no
//! player, its messages are kept as their bare payloads instead
//! ([`GopCache::push_payload`]: no copy, no allocation) and chunked when a
//! player joins ([`GopCache::join_burst`]), once. Each entry also keeps its form for legacy
//! players ([`LegacyForm`]), built at the first legacy join if it was not yet.
//!
//! Audio-only streams have no keyframes: their cache holds metadata and the
//! audio sequence header only, and players start with the next live frame.

use std::collections::VecDeque;

use bytes::Bytes;

pub use super::cached::{CachedMessage, LegacyForm};
use super::media_info::{MediaInfo, MediaKind};
use crate::media::ex_header::MAX_TRACKS;
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

/// The latest sequence header of one track.
#[derive(Debug, Clone)]
pub struct Header {
    pub info: MediaInfo,
    pub message: PreparedMessage,
    pub legacy: LegacyForm,
}

#[derive(Debug)]
struct Entry {
    info: MediaInfo,
    message: CachedMessage,
    legacy: LegacyForm,
}

/// Cached start-up state of one live stream.
#[derive(Debug)]
pub struct GopCache {
    enabled: bool,
    max_frames: usize,
    max_bytes: usize,
    meta: Option<PreparedMessage>,
    /// By track id.
    video_headers: Vec<Header>,
    audio_headers: Vec<Header>,
    gop: VecDeque<Entry>,
    bytes: usize,
    state: State,
    /// GOPs dropped because a bound was hit.
    overflows: u64,
    /// Reused to build legacy forms.
    scratch: Vec<u8>,
}

fn upsert(headers: &mut Vec<Header>, header: Header) {
    match headers.binary_search_by_key(&header.info.track, |h| h.info.track) {
        Ok(i) => {
            if let Some(h) = headers.get_mut(i) {
                *h = header;
            }
        }
        Err(i) if headers.len() < MAX_TRACKS => headers.insert(i, header),
        Err(_) => {}
    }
}

/// The form of a cached message a player is sent: as published, or its legacy form.
fn pick<'a>(
    legacy: bool,
    info: MediaInfo,
    m: &'a PreparedMessage,
    l: &'a LegacyForm,
) -> Option<(MediaInfo, &'a PreparedMessage)> {
    if legacy {
        l.pick(m).map(|m| (info, m))
    } else {
        Some((info, m))
    }
}

impl GopCache {
    /// A cache; `enabled == false` keeps only metadata and sequence headers.
    pub fn new(enabled: bool, max_frames: usize, max_bytes: usize) -> GopCache {
        GopCache {
            enabled,
            max_frames,
            max_bytes,
            meta: None,
            video_headers: Vec::new(),
            audio_headers: Vec::new(),
            gop: VecDeque::new(),
            bytes: 0,
            state: State::WaitKey,
            overflows: 0,
            scratch: Vec::new(),
        }
    }

    /// Records a live message of the stream (in publishing order), with its legacy form.
    pub fn push(&mut self, info: MediaInfo, msg: &PreparedMessage, legacy: LegacyForm) {
        self.push_cached(info, CachedMessage::Ready(msg.clone()), legacy);
    }

    fn push_cached(&mut self, info: MediaInfo, msg: CachedMessage, legacy: LegacyForm) {
        match (info.kind, msg) {
            (MediaKind::Meta, CachedMessage::Ready(m)) => self.meta = Some(m),
            (MediaKind::Video, CachedMessage::Ready(message)) if info.sequence_header => {
                // The GOP starts at a keyframe of the primary track: a new configuration of
                // that track makes it stale. Another track's header (a multitrack stream
                // sends one per track) leaves it be.
                let primary = info.track <= self.key_track(&info);
                let h = Header {
                    info,
                    message,
                    legacy,
                };
                upsert(&mut self.video_headers, h);
                if primary {
                    self.drop_gop();
                }
            }
            (MediaKind::Audio, CachedMessage::Ready(message)) if info.sequence_header => {
                let h = Header {
                    info,
                    message,
                    legacy,
                };
                upsert(&mut self.audio_headers, h);
            }
            // Metadata and headers always come chunked.
            (MediaKind::Meta, _) => {}
            (_, msg) => self.record(Entry {
                info,
                message: msg,
                legacy,
            }),
        }
    }

    /// Records a live message that no player needs now: a frame is kept as its payload (a
    /// reference, no copy) and chunked at `chunk_size` only if a player joins while it is
    /// cached; metadata and sequence headers are chunked at once (they are rare and always
    /// sent), and so is their legacy form.
    pub fn push_payload(
        &mut self,
        info: MediaInfo,
        type_id: u8,
        timestamp: u32,
        payload: &Bytes,
        chunk_size: u32,
        mut legacy: LegacyForm,
    ) {
        if info.kind == MediaKind::Meta || info.sequence_header {
            let msg = PreparedMessage::new(
                csid::for_media(type_id),
                chunk_size,
                type_id,
                timestamp,
                payload,
            );
            legacy.build(type_id, timestamp, payload, chunk_size, &mut self.scratch);
            self.push(info, &msg, legacy);
        } else {
            self.push_cached(
                info,
                CachedMessage::Bare {
                    type_id,
                    timestamp,
                    payload: payload.clone(),
                },
                legacy,
            );
        }
    }

    /// The track whose keyframes start a GOP: the primary (lowest) video track.
    fn key_track(&self, info: &MediaInfo) -> u8 {
        self.video_headers
            .first()
            .map_or(info.track, |h| h.info.track)
    }

    /// A media frame: cached if it belongs to the GOP being cached.
    fn record(&mut self, entry: Entry) {
        if !self.enabled {
            return;
        }
        let info = entry.info;
        if info.kind == MediaKind::Video && info.keyframe && info.track == self.key_track(&info) {
            self.drop_gop();
            self.state = State::Caching;
        }
        if self.state != State::Caching {
            return;
        }
        let bytes = self.bytes.saturating_add(entry.message.len());
        if self.gop.len() >= self.max_frames || bytes > self.max_bytes {
            self.drop_gop();
            self.overflows = self.overflows.saturating_add(1);
            return;
        }
        self.bytes = bytes;
        self.gop.push_back(entry);
    }

    fn drop_gop(&mut self) {
        self.gop.clear();
        self.bytes = 0;
        self.state = State::WaitKey;
    }

    /// Forgets everything (the publisher left; a new one starts afresh).
    pub fn clear(&mut self) {
        self.meta = None;
        self.video_headers.clear();
        self.audio_headers.clear();
        self.drop_gop();
    }

    /// What a joining player gets, in order: metadata, the video and audio sequence headers
    /// of every track, then the cached GOP (empty when disabled or while waiting for a
    /// keyframe), chunked at `chunk_size` where it was not yet. With `legacy`, the legacy
    /// form of each (built now where it was not yet; messages without one are left out).
    /// Each message comes with its classification, to tell the player's
    /// [`PlayerQueue`](super::PlayerQueue) (`admit_burst` or `note_sent`).
    pub fn join_burst(
        &mut self,
        chunk_size: u32,
        legacy: bool,
    ) -> impl Iterator<Item = (MediaInfo, &PreparedMessage)> {
        let scratch = &mut self.scratch;
        let mut payload = Vec::new();
        for e in self.gop.iter_mut() {
            e.message.prepare(chunk_size);
            if legacy && matches!(e.legacy, LegacyForm::Pending { .. }) {
                payload.clear();
                e.message.payload_into(&mut payload);
                let (type_id, ts) = (e.message.type_id(), e.message.timestamp());
                e.legacy.build(type_id, ts, &payload, chunk_size, scratch);
            }
        }
        let headers = self
            .video_headers
            .iter()
            .chain(self.audio_headers.iter())
            .filter_map(move |h| pick(legacy, h.info, &h.message, &h.legacy));
        // All `Ready` now.
        let gop = self.gop.iter().filter_map(move |e| match &e.message {
            CachedMessage::Ready(m) => pick(legacy, e.info, m, &e.legacy),
            CachedMessage::Bare { .. } => None,
        });
        self.meta
            .iter()
            .map(|m| (MediaInfo::meta(), m))
            .chain(headers)
            .chain(gop)
    }

    /// The cached GOP alone: a keyframe first, then what followed it in
    /// order, each with its classification. Empty when not caching.
    pub fn gop(&self) -> impl Iterator<Item = (MediaInfo, &CachedMessage)> {
        self.gop.iter().map(|e| (e.info, &e.message))
    }

    pub fn metadata(&self) -> Option<&PreparedMessage> {
        self.meta.as_ref()
    }

    /// The primary (lowest id) video track's sequence header.
    pub fn video_header(&self) -> Option<&PreparedMessage> {
        self.video_headers.first().map(|h| &h.message)
    }

    /// The primary audio track's sequence header.
    pub fn audio_header(&self) -> Option<&PreparedMessage> {
        self.audio_headers.first().map(|h| &h.message)
    }

    /// Whether the latest sequence header of track `track` of `kind` is exactly `payload`
    /// (a header repeated for readers on other workers).
    pub fn has_header(&self, kind: MediaKind, track: u8, payload: &[u8]) -> bool {
        let headers = match kind {
            MediaKind::Video => &self.video_headers,
            MediaKind::Audio => &self.audio_headers,
            MediaKind::Meta => return false,
        };
        headers.iter().any(|h| {
            h.info.track == track && h.message.len as usize == payload.len() && {
                let mut rest = payload;
                h.message
                    .payload_pieces()
                    .all(|p| match rest.split_at_checked(p.len()) {
                        Some((head, tail)) if head == p => {
                            rest = tail;
                            true
                        }
                        _ => false,
                    })
            }
        })
    }

    /// The lowest track id with a sequence header of `kind` (the primary track).
    pub fn primary_track(&self, kind: MediaKind) -> Option<u8> {
        match kind {
            MediaKind::Video => self.video_headers.first(),
            MediaKind::Audio => self.audio_headers.first(),
            MediaKind::Meta => None,
        }
        .map(|h| h.info.track)
    }

    /// Every track's sequence header, video then audio, each by track id.
    pub fn headers(&self) -> impl Iterator<Item = &Header> {
        self.video_headers.iter().chain(self.audio_headers.iter())
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
        c.join_burst(128, false)
            .map(|(_, m)| (m.type_id, m.timestamp))
            .collect()
    }

    fn push(c: &mut GopCache, m: (MediaInfo, PreparedMessage)) {
        c.push(m.0, &m.1, LegacyForm::Same);
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
        assert_eq!(c.join_burst(128, false).count(), 0);
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
            ready.push(*info, m, LegacyForm::Same);
            let payload: Vec<u8> = m.payload_pieces().flatten().copied().collect();
            bare.push_payload(
                *info,
                m.type_id,
                m.timestamp,
                &Bytes::from(payload),
                128,
                LegacyForm::Same,
            );
        }
        assert_eq!(bare.bytes(), 7 + 4 + 300);
        let mut gop_payloads = Vec::new();
        for (_, m) in bare.gop() {
            m.payload_into(&mut gop_payloads);
        }
        assert_eq!(gop_payloads.len(), bare.bytes());
        let a: Vec<_> = ready
            .join_burst(128, false)
            .map(|(i, m)| (i, m.clone()))
            .collect();
        let b: Vec<_> = bare
            .join_burst(128, false)
            .map(|(i, m)| (i, m.clone()))
            .collect();
        assert_eq!(a.len(), 6);
        assert_eq!(a, b);
        // Chunked once: a second join gets the same bodies.
        let c: Vec<_> = bare
            .join_burst(128, false)
            .map(|(i, m)| (i, m.clone()))
            .collect();
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

    /// Every track's header is kept (by track id) and replayed; only the primary track's
    /// keyframes start a GOP; legacy joiners get the legacy forms.
    #[test]
    fn headers_per_track_and_legacy_burst() {
        let mut c = GopCache::new(true, 100, 1 << 20);
        // Track 0: legacy AVC; track 1: multitrack HEVC (OneTrack); audio: AAC + Opus track 1.
        push(&mut c, msg(9, 0, &[0x17, 0, 0, 0, 0, 1]));
        push(
            &mut c,
            msg(9, 0, &[0x96, 0x00, b'h', b'v', b'c', b'1', 1, 0xAA]),
        );
        push(&mut c, msg(8, 0, &[0xAF, 0, 0x12, 0x10]));
        push(
            &mut c,
            msg(8, 0, &[0x95, 0x00, b'O', b'p', b'u', b's', 1, 0x4F]),
        );
        // A newer header of track 1 replaces its own, not track 0's.
        push(
            &mut c,
            msg(9, 5, &[0x96, 0x00, b'h', b'v', b'c', b'1', 1, 0xAB]),
        );
        assert_eq!(c.headers().count(), 4);
        assert_eq!(c.video_header().unwrap().timestamp, 0);
        assert_eq!(c.primary_track(MediaKind::Video), Some(0));
        push(&mut c, key(40));
        let t1_key = msg(9, 41, &[0x96, 0x01, b'h', b'v', b'c', b'1', 1, 0, 0, 0, 9]);
        assert!(t1_key.0.keyframe);
        push(&mut c, t1_key);
        // Track 1's keyframe does not restart the GOP.
        assert_eq!(c.frames(), 2);
        assert_eq!(
            burst_ts(&mut c),
            [(9, 0), (9, 5), (8, 0), (8, 0), (9, 40), (9, 41)]
        );
        // Legacy joiners: messages whose legacy form is Skip are left out.
        let mut c = GopCache::new(true, 100, 1 << 20);
        let (i, m) = msg(9, 0, &[0x17, 0, 0, 0, 0, 1]);
        c.push(i, &m, LegacyForm::Same);
        let (i, m) = msg(9, 0, &[0x96, 0x00, b'h', b'v', b'c', b'1', 1, 0xAA]);
        c.push(i, &m, LegacyForm::Skip);
        let (i, m) = key(40);
        c.push(i, &m, LegacyForm::Same);
        let (i, m) = msg(9, 41, &[0x96, 0x01, b'h', b'v', b'c', b'1', 1, 0, 0, 0, 9]);
        c.push(i, &m, LegacyForm::Skip);
        let legacy: Vec<_> = c.join_burst(128, true).map(|(_, m)| m.timestamp).collect();
        assert_eq!(legacy, [0, 40]);
        assert_eq!(c.join_burst(128, false).count(), 4);
    }

    /// A pending legacy form (no player when the message came) is built at the first
    /// legacy join: an extended AVC frame becomes a legacy AVC frame.
    #[test]
    fn pending_legacy_forms_are_built_at_join() {
        let mut c = GopCache::new(true, 100, 1 << 20);
        let ex_key: &[u8] = &[0x91, b'a', b'v', b'c', b'1', 0, 0, 2, 0xEE];
        c.push_payload(
            MediaInfo::classify(9, ex_key),
            9,
            40,
            &Bytes::from_static(ex_key),
            128,
            LegacyForm::Pending { track: 0 },
        );
        let burst: Vec<_> = c.join_burst(128, true).map(|(_, m)| m.clone()).collect();
        assert_eq!(burst.len(), 1);
        let payload: Vec<u8> = burst[0].payload_pieces().flatten().copied().collect();
        assert_eq!(payload, [0x17, 1, 0, 0, 2, 0xEE]);
    }
}
