//! A published stream's outputs, as the shell sees them: which ones an application asks for
//! (HLS, DASH, the shared ring), and the execution of what they ask — file operations under
//! each output's directory, bytes to the sink registered for the output (acknowledged back to
//! the output as the sink delivers them), failures logged and the failed output removed.
//! A recorder's failure is the exception: it ends that file only ([`super::recordings`]), and
//! what happens to recorded files is kept as [`RecordEvent`]s for the publication.

use std::fs;
use std::path::PathBuf;

use super::file_ops::{join, now, FileWriter};
use super::log::{Level, Log};
use super::recordings::{self, RecordEvent, Recording};
use super::shm::ShmRegion;
use super::variants;
use crate::conf::AppConf;
use crate::dash::{DashStream, SharedDashGroup};
use crate::files::{FileOp, RelPath};
use crate::hls::{status_path, CutSchedule, HlsStream, RenditionBoard, VariantGroup};
use crate::live::shm::{RingOutput, SlotWriter};
use crate::live::{
    ByteSink, MediaKind, Output, OutputError, OutputId, OutputOp, Pipeline, PipelineEvent,
    StreamKey,
};
use crate::media::MediaError;

/// The executors of a stream's outputs: file writers and byte sinks.
#[derive(Default)]
pub struct OutputFiles {
    writers: Vec<Writer>,
    /// What rides with the outputs and acts after each execution (transcoded renditions).
    companion: Option<Box<dyn Companion>>,
    /// What happened to recorded files since the owner last took them.
    record_events: Vec<RecordEvent>,
    /// The stream's `app/name`, for log lines.
    stream: String,
    /// The HLS output of the stream itself (under its name or its layout's), when it started.
    primary_hls: Option<OutputId>,
}

/// A part of a stream's outputs that attaches and detaches outputs as the stream goes (the
/// encoders of its renditions): it runs after every execution of the pipeline's operations,
/// and is dropped with the outputs when the publication ends.
pub trait Companion {
    fn after_run(&mut self, files: &mut OutputFiles, pipeline: &mut Pipeline, log: Log);
}

/// How the source's own HLS and DASH are written when it leads a group of renditions: under
/// `name` (not the stream's name, which the master playlist and the MPD take), its HLS the
/// leader of `hls_schedule` and a member of `hls_group`, its DASH the leader of `dash_group`.
pub struct SourceLayout {
    pub name: String,
    pub hls_schedule: CutSchedule,
    pub hls_group: VariantGroup,
    /// Where the renditions' playlists report on each other (Low-Latency HLS).
    pub hls_board: RenditionBoard,
    pub dash_group: Option<SharedDashGroup>,
}

/// Where an output's operations go.
enum Target {
    Files(FileWriter),
    Bytes(Box<dyn ByteSink>),
    Record(Box<Recording>),
}

struct Writer {
    id: OutputId,
    target: Target,
    /// Completed segments are counted for stat (HLS only, as nginx-rtmp's).
    count_segments: bool,
    /// The variant group of an HLS output that is a member of one.
    member_of: Option<MemberOf>,
}

/// A member's group, and the member's status file whose writes trigger the group's master.
pub struct MemberOf {
    pub group: VariantGroup,
    pub status: RelPath,
    /// The group's directory (`hls_path`).
    pub root: PathBuf,
}

impl MemberOf {
    /// The member `name` of `group`, its files under `root`.
    pub fn new(group: VariantGroup, name: &str, root: PathBuf) -> MemberOf {
        MemberOf {
            group,
            status: status_path(name),
            root,
        }
    }
}

/// What running a pipeline's requests found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Executed {
    /// HLS segments completed.
    pub segments: u64,
    /// The stream's name was taken over by a publisher on another worker.
    pub replaced: bool,
    /// Recorded files whose writing failed.
    pub record_failed: u64,
}

impl OutputFiles {
    /// Attaches the outputs `app` asks for to a newly published stream. An output that cannot
    /// start is logged and left out; the stream goes on without it.
    pub fn start(
        app: &AppConf,
        key: &StreamKey,
        ring: Option<SlotWriter<ShmRegion>>,
        pipeline: &mut Pipeline,
        log: Log,
    ) -> OutputFiles {
        OutputFiles::start_as(app, key, ring, pipeline, None, log)
    }

    /// [`start`](Self::start), the source's files written as `layout` says when given.
    pub fn start_as(
        app: &AppConf,
        key: &StreamKey,
        ring: Option<SlotWriter<ShmRegion>>,
        pipeline: &mut Pipeline,
        layout: Option<SourceLayout>,
        log: Log,
    ) -> OutputFiles {
        let mut files = OutputFiles {
            stream: key.to_string(),
            ..OutputFiles::default()
        };
        let name = layout
            .as_ref()
            .map_or(key.name.as_str(), |l| l.name.as_str());
        let t = now();
        if let Some(ring) = ring {
            pipeline.attach(Box::new(RingOutput::new(ring, t.monotonic_ms)));
        }
        if let Some(settings) = &app.settings.hls {
            // The previous playlist of this name, for hls_continuous (or its cleanup).
            let previous = previous_playlist(&settings.config, &settings.path, name);
            let (group, schedule) = match &layout {
                Some(l) => (
                    Some(l.hls_group.clone()),
                    Some((l.hls_schedule.clone(), l.hls_board.clone())),
                ),
                None => (
                    VariantGroup::of_hls_variant(&settings.config, &settings.variants, name),
                    None,
                ),
            };
            let hls = HlsStream::new(settings.config.clone(), name, previous.as_deref(), t)
                .map(|mut s| {
                    match (&group, schedule) {
                        (Some(_), Some((schedule, board))) => {
                            s.set_schedule_member();
                            s.lead(schedule);
                            s.report_to(board);
                        }
                        (Some(g), None) => {
                            s.set_group_member();
                            // Members are publishes of their own, maybe on other workers.
                            if settings.config.part_ms.is_some() {
                                s.report_to(variants::peer_board(
                                    &settings.config,
                                    &settings.path,
                                    g,
                                ));
                            }
                        }
                        (None, _) => {}
                    }
                    Box::new(s) as Box<dyn Output>
                })
                .map_err(|e| e.to_string());
            let member_of = group.map(|g| MemberOf::new(g, name, settings.path.clone()));
            files.primary_hls = files.add(
                pipeline,
                hls,
                settings.path.clone(),
                true,
                member_of,
                key,
                log,
            );
        }
        if let Some(settings) = &app.settings.dash {
            let group = layout.as_ref().and_then(|l| l.dash_group.clone());
            let dash = DashStream::new(settings.config.clone(), name, t)
                .map(|s| match group {
                    Some(g) => s.lead(g),
                    None => s,
                })
                .map(|s| Box::new(s) as Box<dyn Output>)
                .map_err(|e| e.to_string());
            files.add(pipeline, dash, settings.path.clone(), false, None, key, log);
        }
        // Recordings are the published stream's, whatever name its HLS and DASH take.
        for (id, recording) in recordings::start(app, key, pipeline) {
            files.writers.push(Writer {
                id,
                target: Target::Record(Box::new(recording)),
                count_segments: false,
                member_of: None,
            });
        }
        // Pushes relay the published stream under its own name (or their playPath).
        for (output, sink) in super::relay::start_pushes(app, key) {
            files.attach_sink(pipeline, output, sink);
        }
        files
    }

    /// The stream's recorders (one per recorder of its application that records something),
    /// each with its [`RecordHandle`](crate::record::RecordHandle) (status; `start`/`stop`
    /// for `record manual`) and settings. After a `start` or `stop`, [`run`](Self::run)
    /// executes what the recorder then asks (the file opens at the next keyframe; a stop
    /// finishes the file at the recorder's next call).
    pub fn recordings(&self) -> impl Iterator<Item = &Recording> {
        self.writers.iter().filter_map(|w| match &w.target {
            Target::Record(r) => Some(&**r),
            _ => None,
        })
    }

    /// What happened to recorded files since the last call, oldest first.
    pub fn take_record_events(&mut self) -> Vec<RecordEvent> {
        std::mem::take(&mut self.record_events)
    }

    /// The stream's own HLS output, if it started (and was not removed since).
    pub fn primary_hls(&self) -> Option<OutputId> {
        self.primary_hls
            .filter(|id| self.writers.iter().any(|w| w.id == *id))
    }

    /// Makes `group` the group of every member of the group of that name: each member's status
    /// write refreshes the master with the members `group` lists (a member joined).
    pub fn regroup(&mut self, group: &VariantGroup) {
        for m in self.writers.iter_mut().filter_map(|w| w.member_of.as_mut()) {
            if m.group.name == group.name {
                m.group = group.clone();
            }
        }
    }

    /// Gives the outputs their companion, run once now.
    pub fn set_companion(
        &mut self,
        companion: Box<dyn Companion>,
        pipeline: &mut Pipeline,
        log: Log,
    ) {
        self.companion = Some(companion);
        self.run_companion(pipeline, log);
    }

    fn run_companion(&mut self, pipeline: &mut Pipeline, log: Log) {
        if let Some(mut c) = self.companion.take() {
            c.after_run(self, pipeline, log);
            self.companion = Some(c);
        }
    }

    /// Attaches `output`, writing under `root`; an HLS output (`count_segments`) that is a
    /// member of a variant group has `member_of`: the group's master is refreshed after each
    /// write of the member's status. The output's id, when it started.
    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &mut self,
        pipeline: &mut Pipeline,
        output: Result<Box<dyn Output>, String>,
        root: PathBuf,
        count_segments: bool,
        member_of: Option<MemberOf>,
        key: &StreamKey,
        log: Log,
    ) -> Option<OutputId> {
        let kind = if count_segments { "hls" } else { "dash" };
        let started = output.and_then(|output| {
            let id = pipeline.attach(output);
            self.writers.push(Writer {
                id,
                target: Target::Files(FileWriter::new(root.clone())),
                count_segments,
                member_of,
            });
            // The output's first operations: its directory, the cleanup of a previous run.
            self.execute(pipeline, &mut Executed::default(), log)
                .map(|()| id)
                .map_err(|(id, e)| {
                    self.remove(pipeline, id);
                    e.to_string()
                })
        });
        match started {
            Ok(id) => Some(id),
            Err(e) => {
                log_err!(
                    log,
                    "rtmp: {} for \"{}\" in \"{}\" disabled: {}",
                    kind,
                    key,
                    root.display(),
                    e
                );
                None
            }
        }
    }

    /// Executes every file operation the pipeline's outputs ask for, then its events. An output
    /// whose operation fails is removed (and logged).
    pub fn run(&mut self, pipeline: &mut Pipeline, log: Log) -> Executed {
        let mut done = Executed::default();
        loop {
            match self.execute(pipeline, &mut done, log) {
                Ok(()) => break,
                Err((id, e)) => {
                    let name = pipeline.output_name(id).unwrap_or("output");
                    log_err!(
                        log,
                        "rtmp: {} write failed, {} disabled for this stream: {}",
                        name,
                        name,
                        e
                    );
                    self.remove(pipeline, id);
                }
            }
        }
        while let Some((name, line)) = pipeline.poll_notice() {
            log_notice!(log, "rtmp: {}: {}", name, line);
        }
        while let Some(event) = pipeline.poll_event() {
            match event {
                PipelineEvent::OutputFailed {
                    error: OutputError::Replaced,
                    ..
                } => done.replaced = true,
                PipelineEvent::OutputFailed { id, name, error } => {
                    log_err!(
                        log,
                        "rtmp: {} failed, {} disabled for this stream: {}",
                        name,
                        name,
                        error
                    );
                    self.writers.retain(|w| w.id != id);
                }
                PipelineEvent::BadMessage {
                    kind,
                    error,
                    suppressed,
                } => bad_message(log, &self.stream, kind, &error, suppressed),
            }
        }
        self.run_companion(pipeline, log);
        done
    }

    /// Runs file operations until there are none, counting completed HLS segments and failed
    /// recordings; `Err` names the output that failed.
    fn execute(
        &mut self,
        pipeline: &mut Pipeline,
        done: &mut Executed,
        log: Log,
    ) -> Result<(), (OutputId, std::io::Error)> {
        while let Some((id, op)) = pipeline.poll_op() {
            let Some(w) = self.writers.iter_mut().find(|w| w.id == id) else {
                continue;
            };
            let status_write = match (&op, &w.member_of) {
                (OutputOp::File(FileOp::WritePlaylist { path, .. }), Some(m)) => *path == m.status,
                _ => false,
            };
            match (&mut w.target, op) {
                (Target::Files(files), OutputOp::File(op)) => match files.execute(op) {
                    Ok(closed) => done.segments += u64::from(closed && w.count_segments),
                    Err(e) => return Err((id, e)),
                },
                (Target::Record(r), OutputOp::File(op)) => {
                    if let Some(event) = r.execute(op, log) {
                        done.record_failed +=
                            u64::from(event.kind == recordings::RecordEventKind::Failed);
                        self.record_events.push(event);
                    }
                }
                (Target::Bytes(sink), OutputOp::Send(data)) => match sink.send(data) {
                    Ok(delivered) => pipeline.acknowledge(id, delivered),
                    Err(e) => return Err((id, e)),
                },
                // An operation its executor cannot run: the output is misattached.
                (_, _) => {
                    return Err((
                        id,
                        std::io::Error::other("operation of the wrong kind for this output"),
                    ))
                }
            }
            if let (true, Some(m)) = (status_write, &w.member_of) {
                // The master is the group's, not this output's: a failure is logged only.
                if let Err(e) = variants::refresh(&m.root, &m.group, now()) {
                    log_err!(
                        log,
                        "rtmp: hls master playlist \"{}\" in \"{}\" not written: {}",
                        m.group.master_path(),
                        m.root.display(),
                        e
                    );
                }
            }
        }
        Ok(())
    }

    /// Attaches an output whose [`OutputOp::Send`] bytes go to `sink` (an encoder's stdin).
    pub fn attach_sink(
        &mut self,
        pipeline: &mut Pipeline,
        output: Box<dyn Output>,
        sink: Box<dyn ByteSink>,
    ) -> OutputId {
        let id = pipeline.attach(output);
        self.writers.push(Writer {
            id,
            target: Target::Bytes(sink),
            count_segments: false,
            member_of: None,
        });
        id
    }

    /// The sinks' destinations may have room again: each delivers what it holds, and its
    /// output learns how much went. A sink that fails is removed with its output (logged).
    pub fn flush_sinks(&mut self, pipeline: &mut Pipeline, log: Log) {
        let mut failed = Vec::new();
        for w in &mut self.writers {
            if let Target::Bytes(sink) = &mut w.target {
                match sink.flush() {
                    Ok(0) => {}
                    Ok(delivered) => pipeline.acknowledge(w.id, delivered),
                    Err(e) => failed.push((w.id, e)),
                }
            }
        }
        for (id, e) in failed {
            let name = pipeline.output_name(id).unwrap_or("output");
            log_err!(
                log,
                "rtmp: {} failed, {} disabled for this stream: {}",
                name,
                name,
                e
            );
            self.remove(pipeline, id);
        }
    }

    /// Detaches an output and forgets its executor.
    pub fn remove(&mut self, pipeline: &mut Pipeline, id: OutputId) {
        pipeline.detach(id);
        self.writers.retain(|w| w.id != id);
    }
}

/// The playlist a previous run of `name` left (for `hls_continuous`, or its cleanup).
pub fn previous_playlist(
    config: &crate::hls::HlsConfig,
    root: &std::path::Path,
    name: &str,
) -> Option<String> {
    HlsStream::playlist_path_of(config, name)
        .ok()
        .and_then(|p| join(root, p.as_str()).ok())
        .and_then(|p| fs::read_to_string(p).ok())
}

/// Logs a media message the stream's demuxer refused (the pipeline rate-limits these): a
/// format violation as a warning, a codec or feature we do not take as information, like the
/// session's own closes.
fn bad_message(log: Log, stream: &str, kind: MediaKind, error: &MediaError, suppressed: u64) {
    let level = match error {
        MediaError::Unsupported(_) | MediaError::UnknownFourCc(_) => Level::Info,
        _ => Level::Warn,
    };
    let kind = match kind {
        MediaKind::Video => "video",
        MediaKind::Audio => "audio",
        MediaKind::Meta => "data",
    };
    if suppressed == 0 {
        log_at!(
            log,
            level,
            "rtmp: stream \"{}\": {} message dropped: {}",
            stream,
            kind,
            error
        );
    } else {
        log_at!(
            log,
            level,
            "rtmp: stream \"{}\": {} message dropped: {} ({} more dropped since the last report)",
            stream,
            kind,
            error,
            suppressed
        );
    }
}
