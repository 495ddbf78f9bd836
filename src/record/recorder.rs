//! [`Recorder`]: the output that writes a published stream to files, as nginx-rtmp's
//! `record` does. The recorder decides when files open, split and close and what goes in
//! them; a per-file writer ([`FlvFile`] or [`Mp4File`], as `record_format` says) makes the
//! bytes.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use super::config::{RecordConfig, RecordFormat};
use super::existing::continuation;
use super::facts::{flv_facts, primary_keyframe};
use super::flv_file::FlvFile;
use super::handle::{unix_s, RecordHandle, RecordStatus, Shared};
use super::headers::Headers;
use super::meta::{self, FileFacts};
use super::mp4::Tracks;
use super::mp4_file::Mp4File;
use super::open_file::{Body, HeldSplit, OpenFile};
use crate::files::{FileOp, Now, RelPath};
use crate::live::GopCache;
use crate::live::{MediaKind, Output, OutputError, OutputOp, Published};
use crate::media::{Demuxer, Track};

/// Writes one published stream to files (one recorder of an application).
///
/// Files open at a split point — a video keyframe, or any audio message when the recording
/// has no video — so each starts with its codec headers and (with video) a keyframe, at
/// timestamp 0. A file is split at the first split point after it reaches
/// `record_interval` of media time, `record_max_size` bytes or `record_max_frames` frames,
/// so consecutive files hold every frame exactly once. Each file is written as
/// `<name>.part` and renamed to its name when it closes.
///
/// FLV (`record_format flv`): a reserved `onMetaData` after the header, rewritten in place
/// on close; appends are buffered (one [`FileOp::AppendRecording`] per video keyframe,
/// `flush_bytes` or `flush_ms` of media, whichever comes first). With `record_append` a file
/// opens with [`FileOp::ResumeRecording`] and continues the existing file of its name (see
/// [`RecordHandle::resume`]).
///
/// MP4 (`record_format mp4`): fragmented MP4; the init segment with the first fragment,
/// then one append per fragment (`record_fragment`, cut at video keyframes), and at close
/// the last fragment with the `mfra` index.
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
    held: Option<HeldSplit>,
    /// The latest codec headers of each track, for the next files.
    video_headers: Headers,
    audio_headers: Headers,
    audio_seen: bool,
    finished: bool,
    /// Answers to `ResumeRecording` still to come for files closed before theirs came:
    /// skipped, so an answer never reaches another file.
    stale_answers: usize,
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
                resumed: VecDeque::new(),
            })),
            ops: VecDeque::new(),
            file: None,
            held: None,
            video_headers: Headers::new(Track::Video),
            audio_headers: Headers::new(Track::Audio),
            audio_seen: false,
            finished: false,
            stale_answers: 0,
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

    /// Takes the shell's answer to a `ResumeRecording`: the file continues the existing one,
    /// starts anew, or — when what was found is no FLV this recorder can continue — the
    /// existing file is put back under its name and a new one is started beside it.
    fn apply_resume(&mut self) {
        let answer = loop {
            let Some(answer) = self.shared.borrow_mut().resumed.pop_front() else {
                return;
            };
            if self.stale_answers == 0 {
                break answer;
            }
            self.stale_answers -= 1;
        };
        let Some(f) = self.file.as_mut() else {
            return;
        };
        let Body::Flv(flv) = &mut f.body else {
            return;
        };
        if !flv.pending() {
            return;
        }
        let found = answer.is_some();
        let c = answer.as_ref().and_then(continuation);
        if found && c.is_none() {
            self.ops.push_back(FileOp::FinishRecording {
                part: f.part.clone(),
                path: f.path.clone(),
            });
            self.ops.push_back(FileOp::OpenRecording {
                part: f.part.clone(),
            });
        }
        flv.resume(c);
        self.update_status();
    }

    fn update_status(&self) {
        let mut s = self.shared.borrow_mut();
        match &self.file {
            Some(f) => {
                s.status.path = Some(f.path.clone());
                s.status.bytes = f.written();
                s.status.duration_ms = u64::from(f.duration_ms());
                s.status.frames = f.frames();
            }
            None => {
                s.status.path = None;
                s.status.bytes = 0;
                s.status.duration_ms = 0;
                s.status.frames = 0;
            }
        }
    }

    /// Whether a file may open now (manual mode: only between `start` and `stop`, the
    /// files after a split included), and its name time.
    fn may_open(&self, now: Now) -> Option<i64> {
        if self.conf.mode.manual {
            let s = self.shared.borrow();
            s.status
                .started
                .then(|| s.start_at.unwrap_or_else(|| unix_s(now)))
        } else {
            Some(unix_s(now))
        }
    }

    fn open(&mut self, msg: &Published<'_>, name_at: i64, has_video_stream: bool) {
        self.open_at(
            msg.timestamp,
            msg.codecs,
            Some(msg.gop),
            name_at,
            has_video_stream,
        );
    }

    /// Opens a file whose 0 is the stream timestamp `epoch`; `gop` gives FLV files the codec
    /// headers the recorder has not seen.
    fn open_at(
        &mut self,
        epoch: u32,
        codecs: &Demuxer,
        gop: Option<&GopCache>,
        name_at: i64,
        has_video_stream: bool,
    ) {
        let conf = self.conf();
        let path = {
            let mut s = self.shared.borrow_mut();
            s.start_at = None;
            conf.file_name(&s.stream, name_at)
        };
        let part = RelPath::new(format!("{}.part", path.as_str()));
        let has_video = conf.mode.any_video() && has_video_stream;
        let has_audio = conf.mode.audio
            && (self.audio_seen || !self.audio_headers.is_empty() || codecs.audio().is_some());
        let body = match conf.format {
            RecordFormat::Flv => {
                // Headers the recorder has not seen (it started late): the GOP cache's.
                let video_headers = match &self.video_headers {
                    h if h.is_empty() => Headers::of(
                        Track::Video,
                        gop.and_then(|g| g.video_header()).map(|m| m.payload()),
                    ),
                    h => h.clone(),
                };
                let audio_headers = match &self.audio_headers {
                    h if h.is_empty() => Headers::of(
                        Track::Audio,
                        gop.and_then(|g| g.audio_header()).map(|m| m.payload()),
                    ),
                    h => h.clone(),
                };
                let facts = FileFacts {
                    has_video,
                    has_audio,
                    ..FileFacts::default()
                };
                let capacity = conf.index_capacity.min(meta::MAX_INDEX_CAPACITY);
                let headers = (
                    if has_video {
                        video_headers
                    } else {
                        Headers::new(Track::Video)
                    },
                    if has_audio {
                        audio_headers
                    } else {
                        Headers::new(Track::Audio)
                    },
                );
                Body::Flv(Box::new(FlvFile::new(
                    facts,
                    capacity,
                    headers,
                    conf.append,
                )))
            }
            RecordFormat::Mp4 => Body::Mp4(Mp4File::new(
                conf.fragment_ms,
                Tracks {
                    video: has_video,
                    audio: has_audio,
                },
            )),
        };
        let resume = matches!(&body, Body::Flv(f) if f.pending());
        self.ops.push_back(if resume {
            FileOp::ResumeRecording {
                part: part.clone(),
                path: path.clone(),
            }
        } else {
            FileOp::OpenRecording { part: part.clone() }
        });
        self.file = Some(OpenFile {
            part,
            path,
            has_video,
            has_audio,
            epoch,
            frames: 0,
            video_key_sent: false,
            video_ts: None,
            audio_ts: None,
            body,
        });
    }

    /// Finishes the open file: its last bytes, then the rename.
    fn close(&mut self) {
        // A split still waiting opens no file after a stop.
        self.held = None;
        let Some(mut f) = self.file.take() else {
            return;
        };
        let duration = f.duration_ms();
        if matches!(&f.body, Body::Flv(flv) if flv.pending()) {
            self.stale_answers += 1;
        }
        match &mut f.body {
            Body::Flv(flv) => flv.close(duration, &mut self.ops),
            Body::Mp4(m) => m.close(&mut self.ops),
        }
        self.ops.push_back(FileOp::FinishRecording {
            part: f.part,
            path: f.path,
        });
        self.shared.borrow_mut().status.files += 1;
    }

    fn split_due(&self, f: &OpenFile, conf: &RecordConfig, timestamp: u32) -> bool {
        if f.frames() == 0 {
            return false;
        }
        (conf.max_size > 0 && f.written() >= conf.max_size)
            || (conf.max_frames > 0 && f.frames() >= conf.max_frames)
            || conf
                .interval_ms
                .is_some_and(|i| u64::from(f.rel(timestamp)) >= i)
    }

    fn media(&mut self, msg: &Published<'_>) {
        let conf = self.conf();
        let video = msg.info.kind == MediaKind::Video;
        let keyframe = primary_keyframe(msg);
        if let Some(h) = self.held.as_mut() {
            let before = h.before(msg.timestamp);
            match msg.frame() {
                Some(frame) if video && before && !keyframe => {
                    // The files keep what `record` keeps: in `keyframes` mode, no delta frame.
                    if conf.mode.video {
                        h.frames.push((msg.timestamp, frame.clone()));
                    }
                    return;
                }
                // Audio presented before the keyframe: into the file that ends there.
                _ if !video && before => {}
                _ => self.release(Some(msg.gop)),
            }
        }
        let has_video_stream = !self.video_headers.is_empty()
            || msg.codecs.video().is_some()
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
                if self.hold(msg) {
                    return;
                }
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
            if !keep || !f.has_video {
                return;
            }
            if !f.video_key_sent && !keyframe {
                return;
            }
            f.video_key_sent = true;
        } else if !conf.mode.audio || !f.has_audio {
            return;
        }
        let ts = f.rel(msg.timestamp);
        match &mut f.body {
            Body::Flv(flv) => {
                if keyframe {
                    flv.flush(&mut self.ops);
                }
                flv.put(msg.type_id, ts, msg.payload, keyframe);
                flv_facts(flv, msg, video);
                if flv.buffered() >= conf.flush_bytes || flv.buffered_ms(ts) >= conf.flush_ms {
                    flv.flush(&mut self.ops);
                }
            }
            Body::Mp4(m) => {
                let Some(frame) = msg.frame() else {
                    return;
                };
                if m.push(frame, msg.codecs, &mut self.ops).is_err() {
                    // A new codec configuration: a new file, starting with this frame.
                    self.close();
                    self.open(msg, unix_s(msg.now), has_video_stream);
                    self.media_again(msg);
                    return;
                }
            }
        }
        f.frames += 1;
        if video {
            f.video_ts = Some((ts, f.video_ts.map_or(ts, |(l, _)| l)));
        } else {
            f.audio_ts = Some((ts, f.audio_ts.map_or(ts, |(l, _)| l)));
        }
    }

    /// Starts waiting before a due split of an MP4 file at a keyframe presented after its
    /// decode time (B-frames); false when the split happens now.
    fn hold(&mut self, msg: &Published<'_>) -> bool {
        let (Some(frame), Some(f)) = (msg.frame(), self.file.as_ref()) else {
            return false;
        };
        let delay = frame.pts.saturating_sub(frame.dts);
        if !matches!(f.body, Body::Mp4(_)) || delay == 0 || delay > u64::from(u32::MAX / 2) {
            return false;
        }
        let Some(name_at) = self.may_open(msg.now) else {
            return false;
        };
        self.held = Some(HeldSplit {
            epoch: msg.timestamp,
            until: msg.timestamp.wrapping_add(delay as u32),
            name_at,
            frames: vec![(msg.timestamp, frame.clone())],
            codecs: msg.codecs.clone(),
        });
        true
    }

    /// The held split happens: the file before it closes, the next one opens with the
    /// frames that waited.
    fn release(&mut self, gop: Option<&GopCache>) {
        let Some(h) = self.held.take() else {
            return;
        };
        self.close();
        self.open_at(h.epoch, &h.codecs, gop, h.name_at, true);
        let Some(f) = self.file.as_mut() else {
            return;
        };
        if !f.has_video {
            return;
        }
        for (ts, frame) in &h.frames {
            let ts = f.rel(*ts);
            let Body::Mp4(m) = &mut f.body else {
                return;
            };
            if m.push(frame, &h.codecs, &mut self.ops).is_err() {
                break;
            }
            f.video_key_sent = true;
            f.frames += 1;
            f.video_ts = Some((ts, f.video_ts.map_or(ts, |(l, _)| l)));
        }
    }

    /// The frame that opened a file after a codec change: into the new file, once.
    fn media_again(&mut self, msg: &Published<'_>) {
        let Some(f) = self.file.as_mut() else {
            return;
        };
        let (Body::Mp4(m), Some(frame)) = (&mut f.body, msg.frame()) else {
            return;
        };
        let video = msg.info.kind == MediaKind::Video;
        if video && !primary_keyframe(msg) {
            return;
        }
        if m.push(frame, msg.codecs, &mut self.ops).is_ok() {
            f.video_key_sent |= video;
            let ts = f.rel(msg.timestamp);
            f.frames += 1;
            if video {
                f.video_ts = Some((ts, ts));
            } else {
                f.audio_ts = Some((ts, ts));
            }
        }
    }

    /// A sequence header: kept for the next files, and written into the open FLV file when
    /// it changes there (a mid-stream codec change; the MP4 writer reads the demuxer).
    fn sequence_header(&mut self, msg: &Published<'_>) {
        let video = msg.info.kind == MediaKind::Video;
        let h = msg.payload.clone();
        if video {
            self.video_headers.update(&h);
        } else {
            self.audio_headers.update(&h);
        }
        let Some(f) = self.file.as_mut() else {
            return;
        };
        let carries = if video { f.has_video } else { f.has_audio };
        let ts = f.rel(msg.timestamp);
        if let (true, Body::Flv(flv)) = (carries, &mut f.body) {
            flv.header(msg.type_id, ts, &h);
        }
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
        self.apply_resume();
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
        self.apply_resume();
        self.release(None);
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
        self.apply_resume();
        if self.ops.is_empty() {
            self.apply_stop();
            if !self.ops.is_empty() {
                self.update_status();
            }
        }
        self.ops.pop_front().map(OutputOp::File)
    }
}
