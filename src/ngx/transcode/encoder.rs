//! One rendition's encoder: its child process, the bytes waiting for its stdin, its output
//! read back into the rendition's hub stream, and that stream's follower outputs.
//!
//! The process layer reports the child's events to its [`ChildOwner`] with nothing of the worker
//! borrowed; the encoder is found by its child id in this worker's table.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::rc::Rc;

use bytes::{Buf, Bytes};

use crate::conf::AppConf;
use crate::dash::{DashStream, SharedDashGroup};
use crate::hls::{CutSchedule, HlsStream, RenditionBoard, VariantGroup};
use crate::live::{Incoming, Output, Pipeline, StreamHandle, StreamKey};
use crate::media::flv_stream::DEFAULT_MAX_TAG;
use crate::ngx::fanout::notify;
use crate::ngx::file_ops;
use crate::ngx::ingest::ingest;
use crate::ngx::log::{child_log_path, Log};
use crate::ngx::outputs::{previous_playlist, MemberOf, OutputFiles};
use crate::ngx::process::{self, ChildEvent, ChildId, ChildOwner, Command, Spec, Stdio};
use crate::ngx::worker;
use crate::process::{Backoff, Policy};
use crate::rtmp::message::types;
use crate::transcode::{ffmpeg_args, rendition_stream_name, Planned, RenditionReader, TimeBase};

/// The publisher "client id" of rendition streams (no connection publishes them).
pub const TRANSCODE_PUBLISHER: u64 = u64::MAX;

/// Respawn: from 1.5 s, doubling up to 30 s, reset after a minute of running.
const BACKOFF: Backoff = Backoff {
    initial_ms: 1_500,
    cap_ms: 30_000,
    stable_ms: 60_000,
};
/// Between SIGTERM (ffmpeg flushes and exits) and SIGKILL.
const GRACE_MS: u64 = 1_000;

/// What the renditions of one source share.
pub struct Group {
    pub app: &'static AppConf,
    pub chunk_size: u32,
    pub source: StreamKey,
    pub schedule: CutSchedule,
    pub hls: VariantGroup,
    /// Where the renditions' playlists report on each other (all on this worker).
    pub board: RenditionBoard,
    pub dash: Option<SharedDashGroup>,
}

/// The outputs of a rendition, made when its first encoder process starts.
struct Outputs {
    handle: StreamHandle,
    files: OutputFiles,
}

pub struct Encoder {
    label: String,
    key: StreamKey,
    app: &'static AppConf,
    chunk_size: u32,
    schedule: CutSchedule,
    hls: VariantGroup,
    board: RenditionBoard,
    dash: Option<SharedDashGroup>,
    /// Its process in the registry (set once registered).
    child: Option<ChildId>,
    /// A process runs and reads its stdin.
    running: bool,
    /// The time base of a process that started and whose feed is not attached yet.
    restart: Option<TimeBase>,
    /// Bytes for its stdin that the pipe did not take yet.
    pending: VecDeque<Bytes>,
    /// Bytes written (or dropped) since the feed last heard.
    unreported: usize,
    reader: RenditionReader,
    outputs: Option<Outputs>,
    /// The source left: the encoder is stopping.
    closing: bool,
    /// Its output could not be read: ignored until its next process.
    unreadable: bool,
    /// The last media timestamps the rendition's stream took (video, audio).
    last: (Option<u32>, Option<u32>),
    /// A respawned process starts at the source's cached GOP, before what its predecessor
    /// delivered: its output is skipped until a keyframe past the stream's last frame.
    resuming: bool,
}

impl Encoder {
    /// Starts the encoder of `planned` (its process starts on the next turn of the event
    /// loop; its outputs when the process runs).
    pub fn start(group: &Group, planned: &Planned, log: Log) -> Option<Rc<RefCell<Encoder>>> {
        let Some(program) = group.app.settings.transcode_ffmpeg.as_ref() else {
            log_err!(log, "rtmp: renditions of \"{}\": no encoder", group.source);
            return None;
        };
        let name = rendition_stream_name(&group.source.name, &planned.rendition.name);
        let key = StreamKey {
            name,
            ..group.source.clone()
        };
        let label = format!("transcode \"{}\" {}x{}", key, planned.width, planned.height);
        let command = Command::new(program, &ffmpeg_args(planned)).map(|mut c| {
            c.stdin = Stdio::Pipe;
            c.stdout = Stdio::Pipe;
            c
        });
        let command = match command {
            Ok(c) => c,
            Err(e) => {
                log_err!(log, "rtmp: {} not started: {}", label, e);
                return None;
            }
        };
        let encoder = Rc::new(RefCell::new(Encoder {
            label: label.clone(),
            key: key.clone(),
            app: group.app,
            chunk_size: group.chunk_size,
            schedule: group.schedule.clone(),
            hls: group.hls.clone(),
            board: group.board.clone(),
            dash: group.dash.clone(),
            child: None,
            running: false,
            restart: None,
            pending: VecDeque::new(),
            unreported: 0,
            reader: RenditionReader::new(TimeBase::new(), DEFAULT_MAX_TAG),
            outputs: None,
            closing: false,
            unreadable: false,
            last: (None, None),
            resuming: false,
        }));
        let child = process::start(Spec {
            label: label.clone(),
            command,
            policy: Policy {
                respawn: Some(BACKOFF),
                grace_ms: GRACE_MS,
            },
            stop_signal: libc::SIGTERM,
            log: child_log_path(&["transcode", &key.app, &key.name]),
            listener: Some(encoder.clone()),
            stop_when_exiting: false,
        });
        encoder.borrow_mut().child = Some(child);
        Some(encoder)
    }

    /// The time base of a process that started since the last call: its feed starts anew.
    pub fn take_restart(&mut self) -> Option<TimeBase> {
        let time = self.restart.take()?;
        // What was counted went to the previous feed's account.
        self.unreported = 0;
        Some(time)
    }

    /// Bytes for the encoder's stdin; returns the bytes delivered (or dropped: no process
    /// reads them) since the last report.
    pub fn send(&mut self, data: Bytes) -> usize {
        // Until its feed starts anew, a new process gets nothing: the old feed's bytes are
        // the middle of another FLV stream.
        if self.running && !self.closing && self.restart.is_none() {
            self.pending.push_back(data);
        } else {
            self.unreported += data.len();
        }
        self.pump();
        std::mem::take(&mut self.unreported)
    }

    /// Writes what the pipe takes; returns the bytes delivered since the last report.
    pub fn flush(&mut self) -> usize {
        self.pump();
        std::mem::take(&mut self.unreported)
    }

    pub fn pending(&self) -> usize {
        self.pending.iter().map(Bytes::len).sum()
    }

    fn pump(&mut self) {
        while let Some(front) = self.pending.front_mut() {
            let Some(child) = self.child else {
                break;
            };
            match process::write_stdin(child, front) {
                Ok(0) => break,
                Ok(n) => {
                    self.unreported += n;
                    front.advance(n.min(front.len()));
                    if front.is_empty() {
                        self.pending.pop_front();
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // The process is gone or closed its input: what waits is for nobody.
                Err(_) => {
                    self.running = false;
                    self.drop_pending();
                }
            }
        }
    }

    fn drop_pending(&mut self) {
        self.unreported += self.pending();
        self.pending.clear();
    }

    /// The source left: what its pipe takes now is written, then the process is stopped
    /// (stdin closed, SIGTERM); the outputs finish when it is gone.
    pub fn close(encoder: &Rc<RefCell<Encoder>>) {
        let child = {
            let mut e = encoder.borrow_mut();
            e.pump();
            e.closing = true;
            e.child
        };
        if let Some(child) = child {
            process::stop(child);
        }
    }

    /// The rendition's hub stream and its follower outputs.
    fn open_outputs(&mut self, log: Log) -> Option<Outputs> {
        let now_ms = crate::ngx::now_ms();
        let t = file_ops::now();
        let settings = &self.app.settings;
        let pipeline = Pipeline::published(settings.gop_cache(), self.chunk_size);
        let name = self.key.name.clone();
        worker::with(|w| {
            let handle =
                match w
                    .hub
                    .publish(self.key.clone(), TRANSCODE_PUBLISHER, now_ms, pipeline)
                {
                    Ok(h) => h,
                    Err(e) => {
                        log_err!(log, "rtmp: {}: stream not published: {}", self.label, e);
                        return None;
                    }
                };
            let s = w.hub.get_mut(handle)?;
            notify(&s.players, true);
            let mut files = OutputFiles::default();
            if let Some(hls) = &settings.hls {
                let previous = previous_playlist(&hls.config, &hls.path, &name);
                let out = HlsStream::new(hls.config.clone(), &name, previous.as_deref(), t)
                    .map(|mut h| {
                        h.set_schedule_member();
                        h.follow(self.schedule.clone());
                        h.report_to(self.board.clone());
                        Box::new(h) as Box<dyn Output>
                    })
                    .map_err(|e| e.to_string());
                let member = MemberOf::new(self.hls.clone(), &name, hls.path.clone());
                files.add(
                    &mut s.pipeline,
                    out,
                    hls.path.clone(),
                    true,
                    Some(member),
                    &self.key,
                    log,
                );
            }
            if let (Some(dash), Some(group)) = (&settings.dash, &self.dash) {
                let out = DashStream::new(dash.config.clone(), &name, t)
                    .map(|d| Box::new(d.follow(group.clone())) as Box<dyn Output>)
                    .map_err(|e| e.to_string());
                files.add(
                    &mut s.pipeline,
                    out,
                    dash.path.clone(),
                    false,
                    None,
                    &self.key,
                    log,
                );
            }
            Some(Outputs { handle, files })
        })
    }

    /// What the encoder wrote, into the rendition's stream.
    fn ingest_output(&mut self, data: &[u8], log: Log) {
        if self.unreadable {
            return;
        }
        self.reader.feed(data);
        if self.outputs.is_none() {
            return;
        }
        loop {
            let tag = match self.reader.poll() {
                Ok(Some(tag)) => tag,
                Ok(None) => break,
                Err(e) => {
                    log_err!(
                        log,
                        "rtmp: {}: output unreadable, ignored until it restarts: {}",
                        self.label,
                        e
                    );
                    self.unreadable = true;
                    break;
                }
            };
            if !self.admit(tag.type_id, tag.timestamp, &tag.body) {
                continue;
            }
            let Some(outputs) = self.outputs.as_mut() else {
                break;
            };
            let msg = Incoming {
                type_id: tag.type_id,
                timestamp: tag.timestamp,
                payload: &tag.body,
                now: file_ops::now(),
            };
            // `ingest` counts the rendition's segments for stat.
            worker::with(|w| ingest(w, outputs.handle, msg, &mut outputs.files, log));
        }
    }

    /// Whether a tag of the encoder goes on in the rendition's stream (timestamps only move
    /// forward across a respawn).
    fn admit(&mut self, type_id: u8, ts: u32, body: &[u8]) -> bool {
        let (video, config, key) = match (type_id, body.first(), body.get(1)) {
            (types::VIDEO, Some(b), Some(p)) => (true, *p == 0, b >> 4 == 1),
            (types::AUDIO, Some(b), Some(p)) => (false, b >> 4 == 10 && *p == 0, false),
            _ => return true,
        };
        if config {
            return true;
        }
        if self.resuming {
            let past = self.last.0.is_none_or(|l| ts > l);
            if !(video && key && past) {
                return false;
            }
            self.resuming = false;
        }
        let last = if video {
            &mut self.last.0
        } else {
            &mut self.last.1
        };
        if last.is_some_and(|l| ts < l) {
            return false;
        }
        *last = Some(ts);
        true
    }

    /// The encoder is gone for good: the rendition's outputs finish and its stream ends.
    fn finish(&mut self, log: Log) {
        let Some(mut outputs) = self.outputs.take() else {
            return;
        };
        let keep_players = self.app.settings.idle_streams;
        worker::with(|w| {
            let mut s = w.hub.unpublish(outputs.handle, keep_players)?;
            s.pipeline.finish(file_ops::now());
            let done = outputs.files.run(&mut s.pipeline, log);
            w.counters.hls_segments += done.segments;
            notify(&s.players, false);
            Some(())
        });
    }
}

/// The process layer's events of an encoder.
impl ChildOwner for RefCell<Encoder> {
    fn on_event(&self, id: ChildId, event: ChildEvent) {
        let log = Log::cycle();
        let Ok(mut e) = self.try_borrow_mut() else {
            return;
        };
        match event {
            ChildEvent::Started { .. } => {
                if e.closing {
                    drop(e);
                    process::stop(id);
                    return;
                }
                if e.outputs.is_none() {
                    e.outputs = e.open_outputs(log);
                    if e.outputs.is_none() {
                        e.closing = true;
                        drop(e);
                        process::stop(id);
                        return;
                    }
                }
                // A new process: a new time base, shared by its feed and its reader.
                let time = TimeBase::new();
                e.reader = RenditionReader::new(time.clone(), DEFAULT_MAX_TAG);
                e.unreadable = false;
                e.resuming = e.last.0.is_some();
                e.drop_pending();
                e.restart = Some(time);
                e.running = true;
            }
            ChildEvent::Stdout(data) => {
                e.ingest_output(&data, log);
                e.pump();
            }
            ChildEvent::Exited { .. } => {
                e.running = false;
                e.drop_pending();
            }
            ChildEvent::Gone => {
                e.running = false;
                e.drop_pending();
                e.finish(log);
            }
        }
    }

    /// The worker exits (its encoder is killed with it): the rendition's outputs finish now,
    /// with what they have, so that playlists end and the master drops it.
    fn worker_exits(&self) {
        if let Ok(mut e) = self.try_borrow_mut() {
            e.finish(Log::cycle());
        }
    }
}
