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
use super::flv_tags::tag_of;
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
    /// Its FLV tag, once an HTTP-FLV player needed it.
    flv: Option<Bytes>,
}

#[derive(Debug)]
struct Entry {
    info: MediaInfo,
    message: CachedMessage,
    legacy: LegacyForm,
    /// Its FLV tag, once an HTTP-FLV player needed it.
    flv: Option<Bytes>,
}

/// Where the latest pushed message went (to give it the FLV tag its delivery built).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Latest {
    None,
    Meta,
    Header(MediaKind, u8),
    Gop,
}

/// Cached start-up state of one live stream.
#[derive(Debug)]
pub struct GopCache {
    enabled: bool,
    max_frames: usize,
    max_bytes: usize,
    meta: Option<PreparedMessage>,
    meta_flv: Option<Bytes>,
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
    latest: Latest,
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
            meta_flv: None,
            video_headers: Vec::new(),
            audio_headers: Vec::new(),
            gop: VecDeque::new(),
            bytes: 0,
            state: State::WaitKey,
            overflows: 0,
            scratch: Vec::new(),
            latest: Latest::None,
        }
    }

    /// Records a live message of the stream (in publishing order), with its legacy form.
    pub fn push(&mut self, info: MediaInfo, msg: &PreparedMessage, legacy: LegacyForm) {
        self.push_cached(info, CachedMessage::Ready(msg.clone()), legacy);
    }

    fn push_cached(&mut self, info: MediaInfo, msg: CachedMessage, legacy: LegacyForm) {
        self.latest = Latest::None;
        match (info.kind, msg) {
            (MediaKind::Meta, CachedMessage::Ready(m)) => {
                self.meta = Some(m);
                self.meta_flv = None;
                self.latest = Latest::Meta;
            }
            (MediaKind::Video, CachedMessage::Ready(message)) if info.sequence_header => {
                // The GOP starts at a keyframe of the primary track: a new configuration of
                // that track makes it stale. Another track's header (a multitrack stream
                // sends one per track) leaves it be.
                let primary = info.track <= self.key_track(&info);
                let h = Header {
                    info,
                    message,
                    legacy,
                    flv: None,
                };
                upsert(&mut self.video_headers, h);
                self.latest = Latest::Header(MediaKind::Video, info.track);
                if primary {
                    self.drop_gop();
                }
            }
            (MediaKind::Audio, CachedMessage::Ready(message)) if info.sequence_header => {
                let h = Header {
                    info,
                    message,
                    legacy,
                    flv: None,
                };
                upsert(&mut self.audio_headers, h);
                self.latest = Latest::Header(MediaKind::Audio, info.track);
            }
            // Metadata and headers always come chunked.
            (MediaKind::Meta, _) => {}
            (_, msg) => self.record(Entry {
                info,
                message: msg,
                legacy,
                flv: None,
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
        self.latest = Latest::Gop;
    }

    fn drop_gop(&mut self) {
        self.gop.clear();
        self.bytes = 0;
        self.state = State::WaitKey;
    }

    /// Forgets everything (the publisher left; a new one starts afresh).
    pub fn clear(&mut self) {
        self.meta = None;
        self.meta_flv = None;
        self.latest = Latest::None;
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

    /// What a joining HTTP-FLV player gets, in the order of [`join_burst`](Self::join_burst)
    /// (as published), as FLV tags: each built at the first such join and shared by every
    /// later one.
    pub fn flv_burst(&mut self) -> impl Iterator<Item = (MediaInfo, &Bytes)> {
        if let (Some(m), None) = (&self.meta, &self.meta_flv) {
            self.meta_flv = Some(tag_of(m));
        }
        for h in self
            .video_headers
            .iter_mut()
            .chain(self.audio_headers.iter_mut())
        {
            h.flv.get_or_insert_with(|| tag_of(&h.message));
        }
        for e in self.gop.iter_mut() {
            if e.flv.is_none() {
                e.flv = Some(e.message.flv_tag());
            }
        }
        let headers = self
            .video_headers
            .iter()
            .chain(self.audio_headers.iter())
            .filter_map(|h| h.flv.as_ref().map(|t| (h.info, t)));
        let gop = self
            .gop
            .iter()
            .filter_map(|e| e.flv.as_ref().map(|t| (e.info, t)));
        self.meta_flv
            .iter()
            .map(|t| (MediaInfo::meta(), t))
            .chain(headers)
            .chain(gop)
    }

    /// Gives the latest pushed message the FLV tag its delivery built, so a later HTTP-FLV
    /// join shares it instead of building it again.
    pub fn adopt_flv(&mut self, tag: &Bytes) {
        match self.latest {
            Latest::None => {}
            Latest::Meta => self.meta_flv = Some(tag.clone()),
            Latest::Header(kind, track) => {
                let headers = if kind == MediaKind::Video {
                    &mut self.video_headers
                } else {
                    &mut self.audio_headers
                };
                if let Some(h) = headers.iter_mut().find(|h| h.info.track == track) {
                    h.flv = Some(tag.clone());
                }
            }
            Latest::Gop => {
                if let Some(e) = self.gop.back_mut() {
                    e.flv = Some(tag.clone());
                }
            }
        }
        self.latest = Latest::None;
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

    /// What a stream's start needs before any frame: the metadata, then every track's
    /// sequence header.
    pub fn setup(&self) -> impl Iterator<Item = (MediaInfo, &PreparedMessage)> {
        self.meta
            .iter()
            .map(|m| (MediaInfo::meta(), m))
            .chain(self.headers().map(|h| (h.info, &h.message)))
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
mod tests;
