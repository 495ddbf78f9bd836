//! Transcoded renditions (`hls_rendition`) of a published stream, in the shell.
//!
//! The source's outputs are written under `<name>_src`, its HLS the leader of a cut schedule
//! and a member of the `<name>` group (whose master playlist takes the stream's name), its DASH
//! the leader of the `<name>` DASH group. Once the source's video size is known, one encoder
//! runs per rendition the ladder keeps ([`transcode::plan`]: no upscaling): an ffmpeg child
//! of the worker reading FLV on stdin (an [`EncoderFeed`] of the source's pipeline) and
//! writing FLV on stdout, which comes back as the hub stream `<name>_<rendition>` (RTMP players
//! of this worker and stat see it) whose HLS and DASH follow the source's cuts. With
//! Low-Latency HLS the source's and the renditions' HLS share a [`RenditionBoard`]: all live on
//! this worker, so their playlists report on each other from memory.
//!
//! A respawned encoder starts again from the source's cached GOP with a new time base, into
//! the same rendition stream and outputs. When the publication ends, the encoders are stopped
//! (stdin closed and SIGTERM: ffmpeg flushes what it holds; SIGKILL after a second), and each
//! rendition's outputs finish once its encoder is gone.
//!
//! `transcode_max` counts the transcoded streams of this worker.

mod encoder;
mod sink;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use super::log::Log;
use super::outputs::{Companion, OutputFiles, SourceLayout};
use super::shm::ShmRegion;
use super::tracks;
use super::worker::Counters;
use crate::conf::{AppConf, ServerConf};
use crate::dash::DashGroup;
use crate::hls::{CutSchedule, GroupMember, RenditionBoard, VariantGroup};
use crate::live::shm::SlotWriter;
use crate::live::{OutputId, Pipeline, StreamKey};
use crate::transcode::{self, rendition_stream_name, source_stream_name, EncoderFeed};
use encoder::{Encoder, Group};

/// Attaches the outputs of a newly published stream: those of
/// [`OutputFiles::start`], and when the application has renditions (and `transcode_max`
/// allows), the source laid out as the top rendition and the encoders of the others; without
/// them, the renditions of the publisher's video tracks when it sends several.
/// `taken`: a stream published under the name of one of the renditions of the publisher's
/// video tracks ([`tracks::taken_rendition_name`]).
#[allow(clippy::too_many_arguments)]
pub fn start_outputs(
    app: &'static AppConf,
    server: &'static ServerConf,
    key: &StreamKey,
    ring: Option<SlotWriter<ShmRegion>>,
    pipeline: &mut Pipeline,
    counters: &mut Counters,
    taken: Option<String>,
    log: Log,
) -> OutputFiles {
    if app.settings.renditions.is_empty() || app.settings.hls.is_none() {
        return single_source(app, key, ring, pipeline, taken, log);
    }
    let active = counters.transcoding.entry(key.server).or_default().clone();
    if let Some(max) = server.settings.transcode_max {
        if active.get() >= max {
            counters.transcode_refused += 1;
            log_warn!(
                log,
                "rtmp: \"{}\" served at its source quality only: transcode_max {} reached",
                key,
                max
            );
            return single_source(app, key, ring, pipeline, taken, log);
        }
    }
    let Some(source) = SourceTranscode::new(app, server, key, active, log) else {
        return single_source(app, key, ring, pipeline, taken, log);
    };
    let layout = source.layout();
    let mut files = OutputFiles::start_as(app, key, ring, pipeline, Some(layout), log);
    files.set_companion(Box::new(source), pipeline, log);
    files
}

/// The outputs of a stream that is not transcoded; its video tracks, when the publisher sends
/// several, become renditions of their own ([`tracks`]).
fn single_source(
    app: &'static AppConf,
    key: &StreamKey,
    ring: Option<SlotWriter<ShmRegion>>,
    pipeline: &mut Pipeline,
    taken: Option<String>,
    log: Log,
) -> OutputFiles {
    let mut files = OutputFiles::start(app, key, ring, pipeline, log);
    tracks::watch(app, key, &mut files, pipeline, taken, log);
    files
}

/// The renditions of one published source.
struct SourceTranscode {
    group: Group,
    state: State,
    /// Its server's count of transcoded streams, which it is part of while it lives.
    active: Rc<Cell<u32>>,
}

enum State {
    /// The source's video size is not known yet.
    Waiting,
    /// The encoders of the renditions the ladder kept, with the feed each has in the source's
    /// pipeline.
    Running(Vec<(Rc<RefCell<Encoder>>, Option<OutputId>)>),
}

impl SourceTranscode {
    fn new(
        app: &'static AppConf,
        server: &'static ServerConf,
        key: &StreamKey,
        active: Rc<Cell<u32>>,
        log: Log,
    ) -> Option<SourceTranscode> {
        let hls = app.settings.hls.as_ref()?;
        let mut members = vec![GroupMember {
            name: source_stream_name(&key.name),
            attributes: Vec::new(),
        }];
        members.extend(app.settings.renditions.iter().map(|r| GroupMember {
            name: rendition_stream_name(&key.name, &r.name),
            attributes: Vec::new(),
        }));
        let hls_group = match VariantGroup::new(&hls.config, &key.name, members) {
            Ok(g) => g,
            Err(e) => {
                log_err!(log, "rtmp: renditions of \"{}\" disabled: {}", key, e);
                return None;
            }
        };
        let dash_group = match &app.settings.dash {
            Some(d) => match DashGroup::new(d.config.clone(), &key.name) {
                Ok(g) => Some(g),
                Err(e) => {
                    log_err!(log, "rtmp: renditions of \"{}\" disabled: {}", key, e);
                    return None;
                }
            },
            None => None,
        };
        active.set(active.get() + 1);
        Some(SourceTranscode {
            group: Group {
                app,
                chunk_size: server.settings.chunk_size,
                source: key.clone(),
                schedule: CutSchedule::new(),
                hls: hls_group,
                board: RenditionBoard::new(),
                dash: dash_group,
            },
            state: State::Waiting,
            active,
        })
    }

    fn layout(&self) -> SourceLayout {
        SourceLayout {
            name: source_stream_name(&self.group.source.name),
            hls_schedule: self.group.schedule.clone(),
            hls_group: self.group.hls.clone(),
            hls_board: self.group.board.clone(),
            dash_group: self.group.dash.clone(),
        }
    }
}

impl Companion for SourceTranscode {
    fn after_run(&mut self, files: &mut OutputFiles, pipeline: &mut Pipeline, log: Log) {
        match &mut self.state {
            State::Waiting => {
                let info = pipeline.codecs().codec_info();
                let (Some(w), Some(h)) = (info.width, info.height) else {
                    return;
                };
                let planned = transcode::plan(&self.group.app.settings.renditions, w, h);
                let encoders = planned
                    .iter()
                    .filter_map(|p| Encoder::start(&self.group, p, log))
                    .map(|e| (e, None))
                    .collect();
                self.state = State::Running(encoders);
            }
            State::Running(encoders) => {
                for (encoder, feed) in encoders.iter_mut() {
                    // A (re)started encoder reads from the source's last keyframe on.
                    let Some(time) = encoder.borrow_mut().take_restart() else {
                        continue;
                    };
                    if let Some(old) = feed.take() {
                        files.remove(pipeline, old);
                    }
                    let out = EncoderFeed::new(time, transcode::DEFAULT_MAX_PENDING);
                    let sink = sink::PipeSink::new(encoder.clone());
                    *feed = Some(files.attach_sink(pipeline, Box::new(out), Box::new(sink)));
                }
                files.flush_sinks(pipeline, log);
            }
        }
    }
}

impl Drop for SourceTranscode {
    fn drop(&mut self) {
        self.active.set(self.active.get().saturating_sub(1));
        if let State::Running(encoders) = &self.state {
            for (encoder, _) in encoders {
                Encoder::close(encoder);
            }
        }
    }
}
