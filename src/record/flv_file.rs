//! The bytes of one FLV recording: header, reserved `onMetaData`, codec headers and tags,
//! buffered into appends, and the metadata rewritten in place at close. With
//! `record_append` the file may continue an existing one ([`FlvFile::resume`]): then nothing
//! is written until the shell has said what it found, and the tags continue after the
//! existing ones.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use super::existing::Continuation;
use super::headers::Headers;
use super::meta::{self, FileFacts};
use crate::files::FileOp;
use crate::media::flv_stream::HEADER_LEN;
use crate::media::FlvWriter;
use crate::rtmp::message::types;

/// Where the `onMetaData` tag starts: after the FLV header and the first PreviousTagSize.
const META_OFFSET: u64 = HEADER_LEN as u64 + 4;
/// Tag bytes held while the shell has not answered a resume: past it messages are dropped
/// (the shell broke the contract; memory stays bounded).
const MAX_DEFERRED_BYTES: usize = 8 << 20;

/// A tag held until the file's start is known.
#[derive(Debug)]
struct Deferred {
    type_id: u8,
    ts: u32,
    payload: Bytes,
    keyframe: bool,
}

/// Whether the file's start is known.
#[derive(Debug)]
enum Start {
    /// Written (a new file, or a resumed one).
    Known,
    /// Waiting for the shell's [`Existing`](super::Existing): the tags so far.
    Pending {
        deferred: Vec<Deferred>,
        bytes: usize,
    },
}

/// Facts of the existing part of a continued file that the metadata merges.
#[derive(Debug, Clone, Default)]
struct Earlier {
    video_bytes: f64,
    audio_bytes: f64,
}

#[derive(Debug)]
pub(super) struct FlvFile {
    /// The metadata tag's body length; `None` when the file has no metadata of ours (a
    /// continued file written by someone else).
    meta_body_len: Option<usize>,
    pub facts: FileFacts,
    /// Bytes in the file, buffered ones included.
    pub written: u64,
    buf: BytesMut,
    /// The time of the first tag in `buf`.
    buf_since: Option<u32>,
    pub video_bytes: u64,
    pub audio_bytes: u64,
    pub video_frames: u64,
    /// Keyframes seen, and the index takes every `stride`-th.
    keyframes: u64,
    stride: u64,
    capacity: usize,
    /// The sequence headers the file carries (the latest of each track).
    video_headers: Headers,
    audio_headers: Headers,
    /// Added to the recording's timestamps: the end of a continued file's existing tags.
    pub base: u32,
    start: Start,
    earlier: Earlier,
}

impl FlvFile {
    /// A file for `facts`' tracks with room for `capacity` index entries, starting with
    /// `headers` (video, audio). `resume`: the start waits for [`FlvFile::resume`].
    pub fn new(
        facts: FileFacts,
        capacity: usize,
        headers: (Headers, Headers),
        resume: bool,
    ) -> FlvFile {
        let mut f = FlvFile {
            meta_body_len: Some(meta::reserved_body_len(&facts, capacity)),
            facts,
            written: 0,
            buf: BytesMut::new(),
            buf_since: None,
            video_bytes: 0,
            audio_bytes: 0,
            video_frames: 0,
            keyframes: 0,
            stride: 1,
            capacity,
            video_headers: headers.0,
            audio_headers: headers.1,
            base: 0,
            start: Start::Pending {
                deferred: Vec::new(),
                bytes: 0,
            },
            earlier: Earlier::default(),
        };
        if !resume {
            f.start_fresh();
        }
        f
    }

    pub fn pending(&self) -> bool {
        matches!(self.start, Start::Pending { .. })
    }

    /// Header, reserved metadata, codec headers at 0.
    fn start_fresh(&mut self) {
        let deferred = self.known();
        self.write(&FlvWriter::header(
            self.facts.has_audio,
            self.facts.has_video,
        ));
        if let Some(tag) = self.meta_body_len.and_then(|l| meta::tag(&self.facts, l)) {
            self.write(&tag);
        }
        self.write_headers();
        self.replay(deferred);
    }

    fn known(&mut self) -> Vec<Deferred> {
        match std::mem::replace(&mut self.start, Start::Known) {
            Start::Pending { deferred, .. } => deferred,
            Start::Known => Vec::new(),
        }
    }

    fn write_headers(&mut self) {
        let ts = self.base;
        let headers = [
            (types::VIDEO, self.video_headers.clone()),
            (types::AUDIO, self.audio_headers.clone()),
        ];
        for (type_id, h) in &headers {
            for msg in h.iter() {
                self.write_tag(*type_id, ts, msg);
            }
        }
    }

    fn replay(&mut self, deferred: Vec<Deferred>) {
        for d in deferred {
            self.put(d.type_id, d.ts, &d.payload, d.keyframe);
        }
    }

    /// The shell's answer to a resume: `None` starts a new file, a continuation writes after
    /// the existing tags (codec headers again, at the continuation's first timestamp).
    pub fn resume(&mut self, c: Option<Continuation>) {
        if !self.pending() {
            return;
        }
        let Some(c) = c else {
            self.start_fresh();
            return;
        };
        let deferred = self.known();
        self.written = c.len;
        self.base = c.next_ts;
        match c.meta {
            Some(m) => {
                let e = &m.facts;
                self.earlier = Earlier {
                    video_bytes: e.videodatarate * 1000.0 / 8.0 * e.duration,
                    audio_bytes: e.audiodatarate * 1000.0 / 8.0 * e.duration,
                };
                self.facts.has_video = e.has_video;
                self.facts.has_audio = e.has_audio;
                self.facts.times = m.facts.times;
                self.facts.filepositions = m.facts.filepositions;
                self.keyframes = self.facts.times.len() as u64;
                self.meta_body_len = Some(m.body_len);
            }
            None => {
                self.facts.has_video = c.has_video;
                self.facts.has_audio = c.has_audio;
                self.meta_body_len = None;
            }
        }
        self.write_headers();
        self.replay(deferred);
    }

    /// Appends one tag to the buffer, built in place (no allocation per message);
    /// `false` for a body FLV cannot carry.
    fn write_tag(&mut self, type_id: u8, ts: u32, body: &[u8]) -> bool {
        let before = self.buf.len();
        self.buf_since.get_or_insert(ts);
        let put = FlvWriter::put_tag(&mut self.buf, type_id, ts, body);
        self.written += (self.buf.len() - before) as u64;
        put
    }

    fn write(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        self.written += bytes.len() as u64;
    }

    /// Appends what is buffered.
    pub fn flush(&mut self, ops: &mut VecDeque<FileOp>) {
        if !self.buf.is_empty() && !self.pending() {
            self.buf_since = None;
            ops.push_back(FileOp::AppendRecording {
                data: self.buf.split().freeze(),
            });
        }
    }

    /// Media time from the first buffered tag to `ts` (0 when nothing is buffered).
    pub fn buffered_ms(&self, ts: u32) -> u32 {
        self.buf_since.map_or(0, |since| {
            ts.saturating_add(self.base).saturating_sub(since)
        })
    }

    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// A tag at `ts` (the recording's time; the file's is `base` later); keyframes are
    /// indexed.
    pub fn put(&mut self, type_id: u8, ts: u32, payload: &Bytes, keyframe: bool) {
        if let Start::Pending { deferred, bytes } = &mut self.start {
            if *bytes + payload.len() <= MAX_DEFERRED_BYTES {
                *bytes += payload.len();
                deferred.push(Deferred {
                    type_id,
                    ts,
                    payload: payload.clone(),
                    keyframe,
                });
            }
            return;
        }
        let ts = ts.saturating_add(self.base);
        let at = self.written;
        if self.write_tag(type_id, ts, payload) && keyframe {
            self.index(ts, at);
        }
    }

    /// A sequence header: written when it differs from the one the file carries for its
    /// tracks.
    pub fn header(&mut self, type_id: u8, ts: u32, h: &Bytes) {
        let current = if type_id == types::VIDEO {
            &mut self.video_headers
        } else {
            &mut self.audio_headers
        };
        if current.update(h) {
            self.put(type_id, ts, h, false);
        }
    }

    fn index(&mut self, ts: u32, position: u64) {
        if self.capacity == 0 {
            return;
        }
        if self.keyframes.is_multiple_of(self.stride) {
            if self.facts.times.len() >= self.capacity {
                thin(&mut self.facts);
                self.stride = self.stride.saturating_mul(2);
            }
            if self.keyframes.is_multiple_of(self.stride) {
                self.facts.times.push(f64::from(ts) / 1000.0);
                self.facts.filepositions.push(position as f64);
            }
        }
        self.keyframes += 1;
    }

    /// Finishes the file: flush and rewrite the metadata, given the file's `duration_ms`.
    /// A file whose start never became known gets nothing (the shell renames it back).
    pub fn close(&mut self, duration_ms: u32, ops: &mut VecDeque<FileOp>) {
        if self.pending() {
            return;
        }
        self.flush(ops);
        let Some(body_len) = self.meta_body_len else {
            return;
        };
        let f = &mut self.facts;
        let duration = f64::from(duration_ms) / 1000.0;
        f.duration = duration;
        f.filesize = self.written as f64;
        if duration > 0.0 {
            let video = self.earlier.video_bytes + self.video_bytes as f64;
            let audio = self.earlier.audio_bytes + self.audio_bytes as f64;
            f.videodatarate = video * 8.0 / 1000.0 / duration;
            f.audiodatarate = audio * 8.0 / 1000.0 / duration;
            if f.framerate == 0.0 {
                f.framerate = self.video_frames as f64 / duration;
            }
        }
        // A merged index may not fit the existing tag: thin it until it does.
        let tag = loop {
            match meta::tag(&self.facts, body_len) {
                Some(tag) => break Some(tag),
                None if self.facts.times.is_empty() => break None,
                None => thin(&mut self.facts),
            }
        };
        if let Some(data) = tag {
            ops.push_back(FileOp::WriteRecordingAt {
                offset: META_OFFSET,
                data,
            });
        }
    }
}

/// Keeps every other index entry, so the index still spans the whole file.
fn thin(f: &mut FileFacts) {
    let keep = |v: &mut Vec<f64>| {
        let mut i = 0;
        v.retain(|_| {
            i += 1;
            i % 2 == 1
        });
    };
    if f.times.len() == 1 {
        f.times.clear();
        f.filepositions.clear();
    }
    keep(&mut f.times);
    keep(&mut f.filepositions);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::Track;
    use crate::record::existing::OurMeta;

    fn no_headers() -> (Headers, Headers) {
        (Headers::new(Track::Video), Headers::new(Track::Audio))
    }

    fn facts() -> FileFacts {
        FileFacts {
            has_video: true,
            has_audio: false,
            ..FileFacts::default()
        }
    }

    fn bytes(ops: &VecDeque<FileOp>) -> Vec<u8> {
        let mut out = Vec::new();
        for op in ops {
            if let FileOp::AppendRecording { data } = op {
                out.extend_from_slice(data);
            }
        }
        out
    }

    #[test]
    fn a_resume_defers_until_answered_then_continues_after_the_existing_tags() {
        let key = Bytes::from_static(&[0x17, 1, 0, 0, 0, 9]);
        let mut f = FlvFile::new(
            facts(),
            4,
            (
                Headers::of(Track::Video, Some(Bytes::from_static(&[0x17, 0]))),
                Headers::new(Track::Audio),
            ),
            true,
        );
        f.put(types::VIDEO, 0, &key, true);
        let mut ops = VecDeque::new();
        f.flush(&mut ops);
        assert!(ops.is_empty(), "nothing before the shell's answer");
        let mut earlier = facts();
        earlier.duration = 5.0;
        earlier.times = vec![0.0];
        earlier.filepositions = vec![100.0];
        let body_len = meta::reserved_body_len(&earlier, 4);
        f.resume(Some(Continuation {
            len: 1000,
            next_ts: 5000,
            has_audio: false,
            has_video: true,
            meta: Some(OurMeta {
                body_len,
                facts: earlier,
            }),
        }));
        f.close(7000, &mut ops);
        let data = bytes(&ops);
        // The codec header again, then the keyframe, both at 5 s; no FLV header.
        assert_eq!(&data[..1], &[9]);
        assert_eq!(&data[4..7], &[0, 0x13, 0x88]);
        assert_eq!(f.written, 1000 + data.len() as u64);
        assert_eq!(f.facts.times, [0.0, 5.0]);
        assert_eq!(f.facts.filepositions, [100.0, 1000.0 + 17.0]);
        assert!(matches!(
            ops.back(),
            Some(FileOp::WriteRecordingAt { offset: 13, data }) if data.len() == 11 + body_len + 4
        ));
    }

    #[test]
    fn a_merged_index_too_big_for_the_existing_tag_is_thinned() {
        let mut f = FlvFile::new(facts(), 64, no_headers(), true);
        let mut earlier = facts();
        earlier.times = vec![0.0, 1.0];
        earlier.filepositions = vec![10.0, 20.0];
        let body_len = meta::reserved_body_len(&earlier, 2);
        f.resume(Some(Continuation {
            len: 100,
            next_ts: 2000,
            has_audio: false,
            has_video: true,
            meta: Some(OurMeta {
                body_len,
                facts: earlier,
            }),
        }));
        for i in 0..5 {
            f.put(
                types::VIDEO,
                i * 1000,
                &Bytes::from_static(&[0x17, 1]),
                true,
            );
        }
        let mut ops = VecDeque::new();
        f.close(7000, &mut ops);
        assert!(f.facts.times.len() <= 2, "{:?}", f.facts.times);
        assert_eq!(f.facts.times.first(), Some(&0.0));
        assert!(matches!(ops.back(), Some(FileOp::WriteRecordingAt { .. })));
    }

    #[test]
    fn a_file_without_our_metadata_keeps_its_own() {
        let mut f = FlvFile::new(facts(), 4, no_headers(), true);
        f.resume(Some(Continuation {
            len: 500,
            next_ts: 100,
            has_audio: true,
            has_video: true,
            meta: None,
        }));
        f.put(types::VIDEO, 0, &Bytes::from_static(&[0x17, 1]), true);
        let mut ops = VecDeque::new();
        f.close(1000, &mut ops);
        assert_eq!(ops.len(), 1, "an append, no metadata rewrite: {ops:?}");
    }
}
