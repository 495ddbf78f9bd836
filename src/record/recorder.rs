//! [`Recorder`]: the output that writes a published stream to FLV files, as nginx-rtmp's
//! `record` does, but with files that are finished: an `onMetaData` carrying the duration,
//! sizes, rates and a keyframe index, rewritten in place when each file closes.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use bytes::{Bytes, BytesMut};

use super::config::RecordConfig;
use super::meta::{self, FileFacts};
use crate::files::{FileOp, Now, RelPath};
use crate::live::{MediaKind, Output, OutputError, OutputOp, Published};
use crate::media::flv_stream::HEADER_LEN;
use crate::media::FlvWriter;
use crate::rtmp::message::types;

/// Where the `onMetaData` tag starts: after the FLV header and the first PreviousTagSize.
const META_OFFSET: u64 = HEADER_LEN as u64 + 4;
/// Enhanced RTMP: bit 7 of a video tag's first byte (no classic codec id in the low bits).
const VIDEO_EX_HEADER: u8 = 0x80;

/// The state of a recorder, for stat and the control API.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordStatus {
    /// The final name of the file being written, when one is open.
    pub path: Option<RelPath>,
    /// Bytes of the open file (buffered ones included).
    pub bytes: u64,
    /// Media time in the open file, ms.
    pub duration_ms: u64,
    /// Media frames in the open file.
    pub frames: u64,
    /// Files finished so far.
    pub files: u64,
    /// Manual mode: recording was asked for and not stopped.
    pub started: bool,
}

#[derive(Debug)]
struct Shared {
    conf: Rc<RecordConfig>,
    stream: String,
    status: RecordStatus,
    /// Manual mode: the name time (Unix s) asked for by `start`, until a file opens.
    start_at: Option<i64>,
    /// Manual mode: `stop` was asked for; the open file closes at the next call.
    stop: bool,
}

/// A handle on a [`Recorder`] that stays usable once the pipeline owns it: status for stat,
/// `start`/`stop` for `record manual` and the control API.
#[derive(Debug, Clone)]
pub struct RecordHandle(Rc<RefCell<Shared>>);

impl RecordHandle {
    pub fn status(&self) -> RecordStatus {
        self.0.borrow().status.clone()
    }

    /// The recorder's `recorder` name (empty for the application's own `record`).
    pub fn id(&self) -> String {
        self.0.borrow().conf.id.clone()
    }

    /// Starts a manual recording: the file opens at the next split point (a video keyframe,
    /// or any audio message when no video is recorded) under the name this returns, built
    /// from `now`. While a file is open (or a start is pending) it returns that file's name
    /// and changes nothing. A recorder that is not `manual` records on its own: `None`.
    pub fn start(&self, now: Now) -> Option<RelPath> {
        self.start_at(unix_s(now))
    }

    /// [`start`](Self::start) with the file's name time given in Unix seconds: a worker that
    /// answers the control API for a stream published on another worker names the file
    /// there, and the publisher's worker opens exactly that name.
    pub fn start_at(&self, unix_s: i64) -> Option<RelPath> {
        let mut s = self.0.borrow_mut();
        if !s.conf.mode.manual {
            return None;
        }
        s.stop = false;
        s.status.started = true;
        if let Some(p) = &s.status.path {
            return Some(p.clone());
        }
        let at = *s.start_at.get_or_insert(unix_s);
        Some(s.conf.file_name(&s.stream, at))
    }

    /// The name of the file being written, or of the one a pending start opens at the next
    /// split point: what `stop` would answer now.
    pub fn target(&self) -> Option<RelPath> {
        let s = self.0.borrow();
        s.status
            .path
            .clone()
            .or_else(|| s.start_at.map(|at| s.conf.file_name(&s.stream, at)))
    }

    /// Stops a recording: the open file is finished at the recorder's next call (`push` or
    /// `poll_op`); its final name is returned. `None` when nothing was being recorded.
    pub fn stop(&self) -> Option<RelPath> {
        let mut s = self.0.borrow_mut();
        s.status.started = false;
        let pending = s.start_at.take();
        let path = s.status.path.clone();
        if path.is_some() {
            s.stop = true;
        }
        path.or_else(|| pending.map(|at| s.conf.file_name(&s.stream, at)))
    }
}

fn unix_s(now: Now) -> i64 {
    i64::try_from(now.unix_ms / 1000).unwrap_or(i64::MAX)
}

/// One file being written.
#[derive(Debug)]
struct OpenFile {
    part: RelPath,
    path: RelPath,
    meta_body_len: usize,
    facts: FileFacts,
    /// The stream timestamp that is 0 in the file.
    epoch: u32,
    /// Bytes in the file, buffered ones included.
    written: u64,
    buf: BytesMut,
    /// Media frames written.
    frames: u64,
    video_key_sent: bool,
    video_bytes: u64,
    audio_bytes: u64,
    video_frames: u64,
    /// Last and previous video / audio timestamps in the file, ms.
    video_ts: Option<(u32, u32)>,
    audio_ts: Option<(u32, u32)>,
    /// Keyframes seen, and the index takes every `stride`-th.
    keyframes: u64,
    stride: u64,
    /// The sequence headers the file carries.
    video_header: Option<Bytes>,
    audio_header: Option<Bytes>,
}

impl OpenFile {
    fn rel(&self, timestamp: u32) -> u32 {
        let d = timestamp.wrapping_sub(self.epoch);
        // A message older than the file's start (audio interleaving) is cut to 0, as
        // nginx-rtmp does.
        if d > u32::MAX / 2 {
            0
        } else {
            d
        }
    }

    fn duration_ms(&self) -> u32 {
        let end =
            |t: Option<(u32, u32)>| t.map_or(0, |(last, prev)| last + last.saturating_sub(prev));
        end(self.video_ts).max(end(self.audio_ts))
    }

    fn write(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        self.written += bytes.len() as u64;
    }

    fn flush(&mut self, ops: &mut VecDeque<FileOp>) {
        if !self.buf.is_empty() {
            ops.push_back(FileOp::AppendRecording {
                data: self.buf.split().freeze(),
            });
        }
    }

    fn index(&mut self, ts: u32, position: u64, capacity: usize) {
        if capacity == 0 {
            return;
        }
        if self.keyframes.is_multiple_of(self.stride) {
            if self.facts.times.len() >= capacity {
                // Full: keep every other entry, so the index still spans the whole file.
                let keep = |v: &mut Vec<f64>| {
                    let mut i = 0;
                    v.retain(|_| {
                        i += 1;
                        i % 2 == 1
                    });
                };
                keep(&mut self.facts.times);
                keep(&mut self.facts.filepositions);
                self.stride = self.stride.saturating_mul(2);
            }
            if self.keyframes.is_multiple_of(self.stride) {
                self.facts.times.push(f64::from(ts) / 1000.0);
                self.facts.filepositions.push(position as f64);
            }
        }
        self.keyframes += 1;
    }
}

/// Writes one published stream to FLV files (one recorder of an application).
///
/// Files open at a split point — a video keyframe, or any audio message when the recording
/// has no video — so each starts with the FLV header, a reserved `onMetaData`, the codec
/// sequence headers and (with video) a keyframe, at timestamp 0. A file is split at the first
/// split point after it reaches `record_interval` of media time, `record_max_size` bytes or
/// `record_max_frames` frames, so consecutive files hold every frame exactly once. On each
/// close the metadata is rewritten in place and the file renamed from `<name>.part` to its
/// name. Appends are buffered: one [`FileOp::AppendRecording`] per video keyframe or
/// `flush_bytes`, whichever comes first.
///
/// `record_interval` is measured on the stream's timestamps (nginx-rtmp measures the wall
/// clock), so the split files' durations add up to the media's whatever the
/// publisher's pace.
#[derive(Debug)]
pub struct Recorder {
    /// Shared with the handle; cloned (a count) per message, never copied.
    conf: Rc<RecordConfig>,
    shared: Rc<RefCell<Shared>>,
    ops: VecDeque<FileOp>,
    file: Option<OpenFile>,
    video_header: Option<Bytes>,
    audio_header: Option<Bytes>,
    audio_seen: bool,
    finished: bool,
}

impl Recorder {
    /// A recorder of `stream` (the published name, escaped into file names) under `conf`.
    pub fn new(conf: RecordConfig, stream: &str) -> Recorder {
        let conf = Rc::new(conf);
        Recorder {
            conf: conf.clone(),
            shared: Rc::new(RefCell::new(Shared {
                conf,
                stream: stream.to_string(),
                status: RecordStatus::default(),
                start_at: None,
                stop: false,
            })),
            ops: VecDeque::new(),
            file: None,
            video_header: None,
            audio_header: None,
            audio_seen: false,
            finished: false,
        }
    }

    pub fn handle(&self) -> RecordHandle {
        RecordHandle(self.shared.clone())
    }

    fn conf(&self) -> Rc<RecordConfig> {
        self.conf.clone()
    }

    fn apply_stop(&mut self) {
        let stop = std::mem::take(&mut self.shared.borrow_mut().stop);
        if stop {
            self.close();
        }
    }

    fn update_status(&self) {
        let mut s = self.shared.borrow_mut();
        match &self.file {
            Some(f) => {
                s.status.path = Some(f.path.clone());
                s.status.bytes = f.written;
                s.status.duration_ms = u64::from(f.duration_ms());
                s.status.frames = f.frames;
            }
            None => {
                s.status.path = None;
                s.status.bytes = 0;
                s.status.duration_ms = 0;
                s.status.frames = 0;
            }
        }
    }

    /// Whether a file may open now (manual mode: only after `start`), and its name time.
    fn may_open(&self, now: Now) -> Option<i64> {
        if self.conf.mode.manual {
            self.shared.borrow().start_at
        } else {
            Some(unix_s(now))
        }
    }

    fn open(&mut self, msg: &Published<'_>, name_at: i64, has_video_stream: bool) {
        let conf = self.conf();
        let path = {
            let mut s = self.shared.borrow_mut();
            s.start_at = None;
            conf.file_name(&s.stream, name_at)
        };
        let part = RelPath::new(format!("{}.part", path.as_str()));
        let has_video = conf.mode.any_video() && has_video_stream;
        let has_audio = conf.mode.audio
            && (self.audio_seen
                || self.audio_header.is_some()
                || msg.codecs.audio_config().is_some());
        let facts = FileFacts {
            has_video,
            has_audio,
            ..FileFacts::default()
        };
        let capacity = conf.index_capacity.min(meta::MAX_INDEX_CAPACITY);
        let meta_body_len = meta::reserved_body_len(&facts, capacity);
        let mut f = OpenFile {
            part: part.clone(),
            path,
            meta_body_len,
            facts,
            epoch: msg.timestamp,
            written: 0,
            buf: BytesMut::new(),
            frames: 0,
            video_key_sent: false,
            video_bytes: 0,
            audio_bytes: 0,
            video_frames: 0,
            video_ts: None,
            audio_ts: None,
            keyframes: 0,
            stride: 1,
            video_header: None,
            audio_header: None,
        };
        self.ops.push_back(FileOp::OpenRecording { part });
        f.write(&FlvWriter::header(has_audio, has_video));
        if let Some(tag) = meta::tag(&f.facts, meta_body_len) {
            f.write(&tag);
        }
        let video_header = self
            .video_header
            .clone()
            .or_else(|| msg.gop.video_header().map(|m| payload(m.payload_pieces())));
        let audio_header = self
            .audio_header
            .clone()
            .or_else(|| msg.gop.audio_header().map(|m| payload(m.payload_pieces())));
        if has_video {
            if let Some(h) = video_header {
                write_header(&mut f, types::VIDEO, h);
            }
        }
        if has_audio {
            if let Some(h) = audio_header {
                write_header(&mut f, types::AUDIO, h);
            }
        }
        self.file = Some(f);
    }

    /// Finishes the open file: flush, rewrite the metadata, rename.
    fn close(&mut self) {
        let Some(mut f) = self.file.take() else {
            return;
        };
        f.flush(&mut self.ops);
        let duration = f64::from(f.duration_ms()) / 1000.0;
        f.facts.duration = duration;
        f.facts.filesize = f.written as f64;
        if duration > 0.0 {
            f.facts.videodatarate = f.video_bytes as f64 * 8.0 / 1000.0 / duration;
            f.facts.audiodatarate = f.audio_bytes as f64 * 8.0 / 1000.0 / duration;
            if f.facts.framerate == 0.0 {
                f.facts.framerate = f.video_frames as f64 / duration;
            }
        }
        if let Some(tag) = meta::tag(&f.facts, f.meta_body_len) {
            self.ops.push_back(FileOp::WriteRecordingAt {
                offset: META_OFFSET,
                data: tag,
            });
        }
        self.ops.push_back(FileOp::FinishRecording {
            part: f.part,
            path: f.path,
        });
        self.shared.borrow_mut().status.files += 1;
    }

    fn split_due(&self, f: &OpenFile, conf: &RecordConfig, timestamp: u32) -> bool {
        if f.frames == 0 {
            return false;
        }
        (conf.max_size > 0 && f.written >= conf.max_size)
            || (conf.max_frames > 0 && f.frames >= conf.max_frames)
            || conf
                .interval_ms
                .is_some_and(|i| u64::from(f.rel(timestamp)) >= i)
    }

    fn media(&mut self, msg: &Published<'_>) {
        let conf = self.conf();
        let video = msg.info.kind == MediaKind::Video;
        let keyframe = video && msg.info.keyframe;
        let has_video_stream = self.video_header.is_some()
            || msg.codecs.video_config().is_some()
            || msg.gop.video_header().is_some();
        let split_point = if video {
            keyframe
        } else {
            !(conf.mode.any_video() && has_video_stream)
        };
        if split_point {
            let due = self
                .file
                .as_ref()
                .is_some_and(|f| self.split_due(f, &conf, msg.timestamp));
            if due {
                self.close();
            }
            if self.file.is_none() {
                if let Some(at) = self.may_open(msg.now) {
                    self.open(msg, at, has_video_stream);
                }
            }
        }
        let Some(f) = self.file.as_mut() else {
            return;
        };
        if video {
            let keep = conf.mode.video || (conf.mode.keyframes && keyframe);
            if !keep || !f.facts.has_video {
                return;
            }
            if !f.video_key_sent && !keyframe {
                return;
            }
            f.video_key_sent = true;
        } else if !conf.mode.audio || !f.facts.has_audio {
            return;
        }
        let ts = f.rel(msg.timestamp);
        let Some(tag) = FlvWriter::tag(msg.type_id, ts, msg.payload) else {
            return;
        };
        let position = f.written;
        if keyframe {
            f.flush(&mut self.ops);
            f.index(
                ts,
                position,
                conf.index_capacity.min(meta::MAX_INDEX_CAPACITY),
            );
        }
        f.write(&tag);
        f.frames += 1;
        let first = msg.payload.first().copied().unwrap_or(0);
        if video {
            f.video_bytes += msg.payload.len() as u64;
            f.video_frames += 1;
            f.video_ts = Some((ts, f.video_ts.map_or(ts, |(l, _)| l)));
            if first & VIDEO_EX_HEADER == 0 {
                f.facts.videocodecid = f64::from(first & 0x0f);
            }
            if let Some(sps) = msg.codecs.video_config().and_then(|c| c.sps_info) {
                f.facts.width = f64::from(sps.width);
                f.facts.height = f64::from(sps.height);
                if let Some(milli) = sps.frame_rate_milli {
                    f.facts.framerate = f64::from(milli) / 1000.0;
                }
            }
        } else {
            f.audio_bytes += msg.payload.len() as u64;
            f.audio_ts = Some((ts, f.audio_ts.map_or(ts, |(l, _)| l)));
            f.facts.audiocodecid = f64::from(first >> 4);
            match msg.codecs.audio_config() {
                Some(asc) => {
                    f.facts.audiosamplerate = f64::from(asc.sample_rate);
                    f.facts.stereo = asc.channels() > 1;
                }
                None => {
                    if let Ok(h) = crate::media::flv::parse_audio_tag(msg.payload) {
                        f.facts.audiosamplerate = f64::from(h.rate_hz);
                        f.facts.stereo = h.stereo;
                    }
                }
            }
        }
        if f.buf.len() >= conf.flush_bytes {
            f.flush(&mut self.ops);
        }
    }

    /// A sequence header: kept for the next files, and written into the open one when it
    /// changes there (a mid-stream codec change).
    fn sequence_header(&mut self, msg: &Published<'_>) {
        let video = msg.info.kind == MediaKind::Video;
        let h = msg.payload.clone();
        if video {
            self.video_header = Some(h.clone());
        } else {
            self.audio_header = Some(h.clone());
        }
        let Some(f) = self.file.as_mut() else {
            return;
        };
        let (carries, current) = if video {
            (f.facts.has_video, &f.video_header)
        } else {
            (f.facts.has_audio, &f.audio_header)
        };
        if carries && current.as_ref() != Some(&h) {
            let ts = f.rel(msg.timestamp);
            let type_id = msg.type_id;
            if let Some(tag) = FlvWriter::tag(type_id, ts, &h) {
                f.write(&tag);
            }
            if video {
                f.video_header = Some(h);
            } else {
                f.audio_header = Some(h);
            }
        }
    }
}

fn payload<'a>(pieces: impl Iterator<Item = &'a [u8]>) -> Bytes {
    let mut v = Vec::new();
    pieces.for_each(|p| v.extend_from_slice(p));
    Bytes::from(v)
}

fn write_header(f: &mut OpenFile, type_id: u8, h: Bytes) {
    if let Some(tag) = FlvWriter::tag(type_id, 0, &h) {
        f.write(&tag);
    }
    if type_id == types::VIDEO {
        f.video_header = Some(h);
    } else {
        f.audio_header = Some(h);
    }
}

impl Output for Recorder {
    fn name(&self) -> &'static str {
        "record"
    }

    fn push(&mut self, msg: &Published<'_>) -> Result<(), OutputError> {
        if self.finished {
            return Ok(());
        }
        self.apply_stop();
        match msg.info.kind {
            MediaKind::Meta => {}
            _ if msg.info.sequence_header => self.sequence_header(msg),
            MediaKind::Audio => {
                self.audio_seen = true;
                self.media(msg);
            }
            MediaKind::Video => self.media(msg),
        }
        self.update_status();
        Ok(())
    }

    fn finish(&mut self, _now: Now) -> Result<(), OutputError> {
        self.close();
        self.finished = true;
        let mut s = self.shared.borrow_mut();
        s.start_at = None;
        s.stop = false;
        s.status.started = false;
        drop(s);
        self.update_status();
        Ok(())
    }

    fn poll_op(&mut self) -> Option<OutputOp> {
        if self.ops.is_empty() {
            self.apply_stop();
            if !self.ops.is_empty() {
                self.update_status();
            }
        }
        self.ops.pop_front().map(OutputOp::File)
    }
}
