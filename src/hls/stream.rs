//! [`HlsStream`]: the seam between the HLS core and the nginx shell.

use std::collections::VecDeque;

use bytes::Bytes;

use super::bandwidth::BandwidthMeter;
use super::config::{HlsConfig, Naming, PlaylistKind, Slicing};
use super::error::HlsError;
use super::grid::{self, GridGate};
use super::muxer::SegmentMuxer;
use super::parts::{LowLatency, PartCutter};
use super::playlist::Playlist;
use super::reports::RenditionBoard;
use super::schedule::{half_frame, CutSchedule, Role};
use super::segmenter::{Decision, OpenSegment, Segmenter};
use super::stream_inf::VariantInfo;
use super::ts::Tracks;
use super::variant::{self, MemberStatus};
use crate::files::{validate_stream_name, FileOp, Now, RelPath};
use crate::media::{Demuxer, Frame, Track};

mod codecs;
mod group;
mod names;
mod parts;
mod previous;
mod segments;

/// Without a video configuration, audio waits this long at the start for a
/// late video sequence header before an audio-only segment opens.
const STARTUP_AUDIO_GRACE_MS: u64 = 500;
/// Bound on audio held back for a segment (about 90 s of 44.1 kHz AAC).
const MAX_PENDING_AUDIO: usize = 4096;

/// Audio frame held for the next segment (times already normalised).
#[derive(Debug, Clone)]
struct Held {
    pts: u64,
    data: Bytes,
}

#[derive(Debug)]
enum State {
    /// No segment open. The next one starts at a video keyframe (or with
    /// audio when there is no video) and gets `#EXT-X-DISCONTINUITY` if
    /// `discontinuity`.
    Waiting {
        discontinuity: bool,
    },
    Open(OpenSegment),
    Finished,
}

/// One published stream's HLS output.
///
/// Usage by the shell: `new` at publish (passing the old playlist's text if
/// the file exists, for `hls_continuous`), then for every frame the
/// [`Demuxer`] yields call [`HlsStream::push`], and after every call
/// drain [`HlsStream::poll_op`] and execute the [`FileOp`]s in order. At
/// unpublish call [`HlsStream::finish`] and drain again. Deletion is
/// delegated: `Delete` ops carry their own deadline (`not_before_ms`, on
/// [`Now::monotonic_ms`]) for the shell's timer, so the stream object can be
/// dropped right after `finish`.
///
/// Errors from `push` concern one frame (it is dropped); the stream stays
/// usable.
#[derive(Debug)]
pub struct HlsStream {
    config: HlsConfig,
    name: String,
    playlist_path: RelPath,
    state: State,
    seg: Segmenter,
    mux: SegmentMuxer,
    /// URI of the initialization segment in force (fMP4), for `#EXT-X-MAP`.
    map: Option<String>,
    playlist: Playlist,
    /// Sum of the listed durations.
    total_ms: u64,
    next_sequence: u64,
    last_id: Option<u64>,
    held: VecDeque<Held>,
    codecs: codecs::StreamCodecs,
    ops: VecDeque<FileOp>,
    /// Lines for the shell's log.
    notices: VecDeque<String>,
    resumed: bool,
    dropped_frames: u64,
    /// Whether any segment was ever listed (a jump before that is no
    /// discontinuity).
    has_history: bool,
    /// Cut points shared with the stream's other renditions.
    role: Option<Role>,
    meter: BandwidthMeter,
    /// Member of a variant group: aligned cuts and numbering, a status file.
    member: bool,
    /// Cut on the `hls_fragment` grid and numbered by it (an `hls_variant` member; a
    /// member that follows a [`CutSchedule`] is not).
    grid: bool,
    gate: GridGate,
    /// Where parts are cut (`hls_low_latency`).
    cutter: Option<PartCutter>,
    /// Wall clock minus stream time of the current section (`hls_program_date_time`).
    pdt_offset: Option<i128>,
    /// With Low-Latency HLS the playlist is written once per pushed frame at most, after the
    /// segment that follows a cut has opened (so the preload hint can name its first part).
    playlist_due: bool,
    /// The other renditions of this stream's master (`#EXT-X-RENDITION-REPORT`).
    board: Option<RenditionBoard>,
}

impl HlsStream {
    /// Where the playlist of stream `name` lives, relative to `hls_path` (the previous
    /// playlist the shell reads for [`HlsStream::new`] is there too).
    pub fn playlist_path_of(config: &HlsConfig, name: &str) -> Result<RelPath, HlsError> {
        validate_stream_name(name)?;
        Ok(if config.nested {
            RelPath::new(format!("{name}/index.m3u8"))
        } else {
            RelPath::new(format!("{name}.m3u8"))
        })
    }

    /// Creates the stream. `name` is the stream name (validated again here);
    /// `previous_playlist` is the current content of its playlist file, if
    /// any: with `hls_continuous` the stream resumes it (same target
    /// duration, media sequence continues, `#EXT-X-DISCONTINUITY` before the
    /// first new segment); otherwise its segments are scheduled for deletion
    /// (with `hls_cleanup`).
    pub fn new(
        config: HlsConfig,
        name: &str,
        previous_playlist: Option<&str>,
        now: Now,
    ) -> Result<Self, HlsError> {
        config.validate()?;
        let playlist_path = Self::playlist_path_of(&config, name)?;
        let seg = Segmenter::new(config.fragment_ms, config.max_fragment(), config.slicing);
        let mux = SegmentMuxer::new(config.fragment_type);
        let stream_codecs = codecs::StreamCodecs::new(config.fragment_type);
        let config_part = config.part_ms;
        let mut s = Self {
            playlist: Playlist {
                kind: config.kind,
                target_duration_s: 0,
                media_sequence: 0,
                discontinuity_sequence: 0,
                entries: VecDeque::new(),
                ended: false,
                low_latency: config.part_ms.map(|t| LowLatency {
                    part_target_ms: t,
                    ..LowLatency::default()
                }),
            },
            config,
            name: name.to_owned(),
            playlist_path,
            state: State::Waiting {
                discontinuity: false,
            },
            seg,
            mux,
            map: None,
            total_ms: 0,
            next_sequence: 0,
            last_id: None,
            held: VecDeque::new(),
            codecs: stream_codecs,
            ops: VecDeque::new(),
            notices: VecDeque::new(),
            resumed: false,
            dropped_frames: 0,
            has_history: false,
            role: None,
            meter: BandwidthMeter::default(),
            member: false,
            grid: false,
            gate: GridGate::default(),
            cutter: config_part.map(PartCutter::new),
            pdt_offset: None,
            playlist_due: false,
            board: None,
        };
        if s.config.nested {
            s.ops.push_back(FileOp::CreateDir {
                path: RelPath::new(s.name.clone()),
            });
        }
        if let Some(text) = previous_playlist {
            s.adopt_previous(text, now, true);
        }
        Ok(s)
    }

    /// Whether a previous playlist was resumed.
    pub fn resumed(&self) -> bool {
        self.resumed
    }

    /// The playlist as last rendered (or about to be).
    pub fn playlist(&self) -> &Playlist {
        &self.playlist
    }

    pub fn playlist_path(&self) -> &RelPath {
        &self.playlist_path
    }

    /// The fixed `#EXT-X-TARGETDURATION`, once the first segment closed.
    pub fn target_duration_s(&self) -> Option<u64> {
        self.seg.target_s
    }

    /// Video frames dropped because no segment could start with them, and
    /// held audio dropped beyond the bound.
    pub fn dropped_frames(&self) -> u64 {
        self.dropped_frames
    }

    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Finished)
    }

    /// Next file operation for the shell, in order.
    pub fn poll_op(&mut self) -> Option<FileOp> {
        self.ops.pop_front()
    }

    fn next_id(&mut self, start_ms: u64, now: Now) -> u64 {
        let candidate = match self.config.naming {
            Naming::Sequential => self.next_sequence,
            Naming::Timestamp => start_ms,
            Naming::System => now.unix_ms,
        };
        let id = match self.last_id {
            Some(last) if candidate <= last => last + 1,
            _ => candidate,
        };
        self.last_id = Some(id);
        id
    }

    /// Appends the muxer's full output blocks to the segment (with `force`, everything).
    fn emit_output(&mut self, force: bool) {
        while let Some(data) = self.mux.take_output(force) {
            self.meter.wrote(data.len());
            self.record_part_output(&data);
            self.ops.push_back(FileOp::AppendSegment { data });
        }
    }

    /// Feeds one frame of the stream's primary tracks. `codecs` is the stream's demuxer
    /// (for the tracks' configurations). Errors drop this frame only.
    pub fn push(&mut self, frame: &Frame, codecs: &Demuxer, now: Now) -> Result<(), HlsError> {
        let result = self.push_frame(frame, codecs, now);
        self.flush_playlist();
        result
    }

    fn push_frame(&mut self, frame: &Frame, codecs: &Demuxer, now: Now) -> Result<(), HlsError> {
        if self.is_finished() {
            return Err(HlsError::Finished);
        }
        self.meter.observe(codecs);
        self.observe_codecs(codecs, now);
        // Audio the container cannot carry refuses the stream's frames, unless the next
        // segment moves to a container that can.
        if let (Some(a), false) = (&self.codecs.audio, self.codecs.switch_pending) {
            self.mux.check_audio(a)?;
        }
        let has_audio = self.codecs.audio.is_some();
        if frame.track == Track::Audio && !has_audio {
            return Err(HlsError::MissingConfig(Track::Audio));
        }
        let has_video = codecs.video().is_some();
        if frame.track == Track::Video && !has_video {
            return Err(HlsError::MissingConfig(Track::Video));
        }
        let available = Tracks {
            video: has_video,
            audio: has_audio,
        };
        let generation = codecs.video_generation();
        let n = self.seg.normalize(frame.track, frame.dts, frame.pts);
        if n.jumped {
            if let State::Open(open) = &self.state {
                let end = open.end_ms;
                self.close_segment(end, true, now)?;
                self.state = State::Waiting {
                    discontinuity: true,
                };
            } else if let State::Waiting { discontinuity } = &mut self.state {
                *discontinuity = self.has_history;
            }
        }
        let follower = self.role.as_ref().and_then(Role::follower).cloned();
        let tolerance = half_frame(self.seg.interval(Track::Video));
        if let Some(f) = &follower {
            if self.seg.target_s.is_none() {
                self.seg.target_s = f.target_s();
            }
        }
        loop {
            let decision = match &mut self.state {
                State::Finished => return Err(HlsError::Finished),
                State::Waiting { discontinuity } => {
                    let discontinuity = *discontinuity;
                    if let Some(f) = &follower {
                        // Only a keyframe at one of the leader's cuts starts a segment.
                        let cut = (frame.track == Track::Video && frame.keyframe)
                            .then(|| f.start_at(n.pts, tolerance))
                            .flatten();
                        let Some(cut) = cut else {
                            self.dropped_frames += 1;
                            return Ok(());
                        };
                        self.renumber(cut.sequence, now);
                    }
                    return self.push_waiting(
                        frame,
                        n.dts,
                        n.pts,
                        available,
                        generation,
                        discontinuity,
                        codecs,
                        now,
                    );
                }
                State::Open(open) => {
                    self.seg
                        .decide(open, frame.track, n, frame.keyframe, available, generation)
                }
            };
            // A follower cuts at the leader's cuts only: its own reasons to cut (a new codec
            // configuration, a track appearing) wait for the next one.
            let mut renumber = None;
            let decision = match (&follower, decision) {
                (Some(f), d @ (Decision::Append | Decision::Cut { .. }))
                    if frame.track == Track::Video =>
                {
                    match f.due(self.next_sequence, n.pts, tolerance) {
                        Some(cut) => {
                            renumber = Some(cut.sequence);
                            let discontinuity = matches!(
                                d,
                                Decision::Cut {
                                    discontinuity: true
                                }
                            );
                            Decision::Cut { discontinuity }
                        }
                        None => Decision::Append,
                    }
                }
                (_, d) => d,
            };
            match decision {
                Decision::Append => {
                    self.cut_part_before(frame.track, n.dts, frame.keyframe)?;
                    return self.write_frame(frame, n.dts, n.pts, codecs);
                }
                Decision::Hold => {
                    self.hold(n.pts, frame);
                    return Ok(());
                }
                Decision::Drop => {
                    self.dropped_frames += 1;
                    return Ok(());
                }
                Decision::Cut { discontinuity } => {
                    // Audio cuts only audio-only segments, and a video track
                    // appears only at a keyframe: so audio opens audio-only.
                    let tracks = match frame.track {
                        Track::Audio => Tracks {
                            video: false,
                            audio: true,
                        },
                        Track::Video => available,
                    };
                    // A forced cut (no keyframe in time) opens a dependent segment.
                    let independent = frame.track == Track::Audio || frame.keyframe;
                    self.close_segment(n.dts, false, now)?;
                    if let Some(sequence) = renumber {
                        self.renumber(sequence, now);
                    }
                    self.open_segment(
                        n.dts,
                        n.pts.saturating_sub(n.dts),
                        tracks,
                        generation,
                        discontinuity,
                        independent,
                        now,
                    )?;
                    if frame.track == Track::Video {
                        self.publish_cut(n.pts);
                    }
                    self.write_frame(frame, n.dts, n.pts, codecs)?;
                    self.write_held()?;
                    self.emit_output(false);
                    return Ok(());
                }
                Decision::Break => {
                    let end = match &self.state {
                        State::Open(open) => open.end_ms,
                        _ => n.dts,
                    };
                    self.close_segment(end, true, now)?;
                    self.state = State::Waiting {
                        discontinuity: true,
                    };
                    // Loop: handled as the first frame of a new section.
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn push_waiting(
        &mut self,
        frame: &Frame,
        dts: u64,
        pts: u64,
        available: Tracks,
        generation: u32,
        discontinuity: bool,
        codecs: &Demuxer,
        now: Now,
    ) -> Result<(), HlsError> {
        match frame.track {
            Track::Video => {
                let admitted = if self.grid {
                    self.gate
                        .admits(self.config.fragment_ms, dts, frame.keyframe)
                } else {
                    frame.keyframe
                };
                if !admitted {
                    self.dropped_frames += 1;
                    return Ok(());
                }
                if self.grid {
                    // A member's segment starts at the grid keyframe, as the other members'.
                    let before = self.held.len();
                    self.held.retain(|h| h.pts >= dts);
                    self.dropped_frames += (before - self.held.len()) as u64;
                }
                let start = self.held.front().map_or(dts, |h| h.pts.min(dts));
                let tracks = Tracks {
                    video: true,
                    audio: available.audio || !self.held.is_empty(),
                };
                self.open_segment(
                    start,
                    pts.saturating_sub(dts),
                    tracks,
                    generation,
                    discontinuity,
                    true,
                    now,
                )?;
                self.publish_cut(pts);
                self.write_frame(frame, dts, pts, codecs)?;
                self.write_held()?;
                self.emit_output(false);
                Ok(())
            }
            Track::Audio => {
                self.hold(pts, frame);
                let first = self.held.front().map_or(pts, |h| h.pts);
                let waited = pts.saturating_sub(first);
                let give_up = if available.video {
                    // Video exists but no keyframe yet.
                    waited >= self.seg.fragment_ms
                } else {
                    waited >= STARTUP_AUDIO_GRACE_MS
                };
                if give_up {
                    let tracks = Tracks {
                        video: false,
                        audio: true,
                    };
                    self.open_segment(first, 0, tracks, generation, discontinuity, true, now)?;
                    self.write_held()?;
                    self.emit_output(false);
                }
                Ok(())
            }
        }
    }

    fn hold(&mut self, pts: u64, frame: &Frame) {
        if self.held.len() >= MAX_PENDING_AUDIO {
            self.held.pop_front();
            self.dropped_frames += 1;
        }
        self.held.push_back(Held {
            pts,
            data: frame.data.clone(),
        });
    }

    fn write_held(&mut self) -> Result<(), HlsError> {
        let State::Open(open) = &self.state else {
            return Ok(());
        };
        if !open.tracks.audio {
            return Ok(());
        }
        let Some(audio) = &self.codecs.audio else {
            return Ok(());
        };
        let interval = self.seg.interval(Track::Audio);
        let mut end = open.end_ms;
        while let Some(h) = self.held.pop_front() {
            // A malformed held frame is dropped; the rest still go out.
            if self.mux.write_audio(h.pts, &h.data, audio).is_err() {
                self.dropped_frames += 1;
                continue;
            }
            end = end.max(h.pts + interval);
        }
        if let State::Open(open) = &mut self.state {
            open.end_ms = end;
        }
        Ok(())
    }

    fn write_frame(
        &mut self,
        frame: &Frame,
        dts: u64,
        pts: u64,
        codecs: &Demuxer,
    ) -> Result<(), HlsError> {
        match frame.track {
            Track::Video => {
                let track = codecs
                    .video()
                    .ok_or(HlsError::MissingConfig(Track::Video))?;
                self.mux
                    .write_video(dts, pts, frame.keyframe, &frame.data, track)?;
                self.meter.video_frame(&track.config, frame);
            }
            Track::Audio => {
                let audio = self
                    .codecs
                    .audio
                    .as_ref()
                    .ok_or(HlsError::MissingConfig(Track::Audio))?;
                self.mux.write_audio(pts, &frame.data, audio)?;
            }
        }
        let end = dts + self.seg.interval(frame.track);
        if let State::Open(open) = &mut self.state {
            open.end_ms = open.end_ms.max(end);
        }
        self.emit_output(false);
        Ok(())
    }
}
