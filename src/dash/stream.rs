//! [`DashStream`]: the seam between the DASH core and the nginx shell, like
//! [`HlsStream`](crate::hls::HlsStream).

use std::collections::VecDeque;

use bytes::Bytes;

use super::config::{DashConfig, DashError};
use super::group::{Cut, DashGroup, SharedDashGroup};
use super::mp4::{self, VIDEO_TIMESCALE};
use super::mpd::{AdaptationSet, Mpd, Representation, TimelineEntry};
use super::source::{video_time, Source, TrackFrag};
use crate::files::{uri_escape, validate_stream_name, FileOp, Now, RelPath};
use crate::media::audio_frames::AudioClock;
use crate::media::{Demuxer, Frame, Track};

mod group;

/// A track going back by more than this, or forward by more than
/// [`JUMP_FORWARD_MS`], is a timestamp jump: the timeline is rebased so that it continues.
pub const JUMP_BACKWARD_MS: u64 = 1_000;
pub const JUMP_FORWARD_MS: u64 = 10_000;
/// A fragment is cut once a track holds this many bytes (nginx-rtmp's limit).
pub const MAX_FRAGMENT_BYTES: usize = 10 * 1024 * 1024;
/// The track that does not govern cuts forces one only this long after the hard limit
/// (it may lead the other in the interleave).
const NON_GOVERNING_SLACK_MS: u64 = 1_000;
const DEFAULT_VIDEO_INTERVAL_MS: u64 = 40;
const MAX_INTERVAL_MS: u64 = 1_000;
/// A follower whose governing track pauses longer than this (and four frame intervals) has
/// lost its input (its encoder restarted): it resumes at the leader's next cut.
const FOLLOWER_GAP_MS: u64 = 500;

/// `t + offset` in ms, clamped to the timeline.
fn shift(t: u64, offset: i64) -> u64 {
    u64::try_from(i64::try_from(t).unwrap_or(i64::MAX).saturating_add(offset)).unwrap_or(0)
}

/// How a stream takes part in a [`DashGroup`].
#[derive(Debug)]
enum Role {
    Solo,
    /// Publishes its cuts and time origin, writes the group's MPD.
    Leader(SharedDashGroup),
    /// Cuts at the leader's instants on the leader's timeline.
    Follower(SharedDashGroup),
}

fn idx(track: Track) -> usize {
    match track {
        Track::Video => 0,
        Track::Audio => 1,
    }
}

#[derive(Debug)]
struct Fragment {
    start_ms: u64,
    /// Presentation time (ms) of the first frame.
    start_pts: u64,
    /// Composition offset (ms) of its first video frame. A keyframe's PTS less this is
    /// where the keyframe would be without leading pictures: an open GOP's keyframe (x265's
    /// default) is decoded early by them, and a cut by its DTS alone would make the first
    /// fragment two GOPs long. With a constant offset (closed GOPs) it is the DTS.
    video_cts: u64,
    /// A follower's fragment starts at one of the leader's cuts: its listed time.
    listed_ms: Option<u64>,
    video: Option<TrackFrag>,
    audio: Option<TrackFrag>,
    video_generation: u32,
}

/// A listed media segment of one track: MPD time and duration (ms), size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seg {
    t: u64,
    d: u64,
    bytes: u64,
    samples: u64,
}

#[derive(Debug, Clone, Copy)]
struct Listed {
    video: Option<Seg>,
    audio: Option<Seg>,
}

impl Listed {
    fn duration_ms(&self) -> u64 {
        let v = self.video.map_or(0, |s| s.d);
        let a = self.audio.map_or(0, |s| s.d);
        v.max(a)
    }
}

/// One published stream's DASH output.
///
/// Usage by the shell (as for HLS): `new` at publish, [`DashStream::push`] for every frame
/// the [`Demuxer`] yields, [`DashStream::finish`] at unpublish, and after each call drain
/// [`DashStream::poll_op`] and execute the [`FileOp`]s in order. Paths are relative to
/// `dash_path`; `WritePlaylist` (the MPD and the initialization segments) must be atomic.
///
/// Layout (nginx-rtmp's): `name.mpd`, `name-init.m4v`, `name-init.m4a`, `name-<t>.m4v`,
/// `name-<t>.m4a` with `t` the fragment's start in ms; with `dash_nested`
/// `name/index.mpd`, `name/init.m4v`, `name/<t>.m4v`, ...
#[derive(Debug)]
pub struct DashStream {
    config: DashConfig,
    name: String,
    mpd_path: RelPath,
    frag: Option<Fragment>,
    finished: bool,
    /// Added to incoming timestamps (ms) so that the timeline continues across jumps.
    offset: i64,
    last_ms: [Option<u64>; 2],
    video_interval_ms: u64,
    /// Places audio frames end to end on the audio track's timeline.
    audio_clock: AudioClock,
    /// The primary track of each kind the stream carries now.
    sources: [Option<Source>; 2],
    /// A video keyframe was accepted: video governs the cuts from then on.
    video_seen: bool,
    /// Wall clock (Unix ms) of media time 0.
    availability_start: Option<u64>,
    sequence: u32,
    window: VecDeque<Listed>,
    /// Last initialization segment written per track, and its source.
    inits: [Option<(Source, Bytes)>; 2],
    ops: VecDeque<FileOp>,
    dropped_frames: u64,
    role: Role,
    /// The time of the last call, for the group's MPD written from `poll_op`.
    last_now: Now,
    /// A follower's last cut taken (the leader's presentation time).
    last_cut_pts: Option<u64>,
}

impl DashStream {
    /// Creates the stream for the validated stream `name`.
    pub fn new(config: DashConfig, name: &str, now: Now) -> Result<Self, DashError> {
        config.validate()?;
        validate_stream_name(name).map_err(|e| DashError::InvalidName(e.0))?;
        let mpd_path = config.mpd_path(name);
        let mut ops = VecDeque::new();
        if config.nested {
            ops.push_back(FileOp::CreateDir {
                path: RelPath::new(name.to_owned()),
            });
        }
        Ok(Self {
            config,
            name: name.to_owned(),
            mpd_path,
            frag: None,
            finished: false,
            offset: 0,
            last_ms: [None; 2],
            video_interval_ms: DEFAULT_VIDEO_INTERVAL_MS,
            audio_clock: AudioClock::default(),
            sources: [None, None],
            video_seen: false,
            availability_start: None,
            sequence: 0,
            window: VecDeque::new(),
            inits: [None, None],
            ops,
            dropped_frames: 0,
            role: Role::Solo,
            last_now: now,
            last_cut_pts: None,
        })
    }

    pub fn mpd_path(&self) -> &RelPath {
        &self.mpd_path
    }

    /// Video frames dropped before the first keyframe.
    pub fn dropped_frames(&self) -> u64 {
        self.dropped_frames
    }

    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Next file operation for the shell, in order.
    pub fn poll_op(&mut self) -> Option<FileOp> {
        if self.ops.is_empty() {
            // Another member's window changed: the leader rewrites the group's MPD.
            self.write_group_mpd(true, self.last_now);
        }
        self.ops.pop_front()
    }

    fn file(&self, stem: &str, ext: &str) -> RelPath {
        if self.config.nested {
            RelPath::new(format!("{}/{stem}.{ext}", self.name))
        } else {
            RelPath::new(format!("{}-{stem}.{ext}", self.name))
        }
    }

    fn uri(&self, stem: &str, ext: &str) -> String {
        if self.config.nested {
            format!("{stem}.{ext}")
        } else {
            format!("{}-{stem}.{ext}", uri_escape(&self.name))
        }
    }

    fn ext(track: Track) -> &'static str {
        match track {
            Track::Video => "m4v",
            Track::Audio => "m4a",
        }
    }

    /// Media time (ms) of a frame: offset applied, jumps rebased, small backward steps
    /// clamped. Returns (dts, pts).
    fn normalize(&mut self, track: Track, dts: u64, pts: u64) -> (u64, u64) {
        let i = idx(track);
        let mut m = shift(dts, self.offset);
        if let Some(prev) = self.last_ms[i] {
            if m.saturating_add(JUMP_BACKWARD_MS) < prev || m > prev.saturating_add(JUMP_FORWARD_MS)
            {
                let interval = match track {
                    Track::Video => self.video_interval_ms,
                    Track::Audio => 23,
                };
                let target = prev + interval;
                let delta = i64::try_from(target).unwrap_or(i64::MAX)
                    - i64::try_from(m).unwrap_or(i64::MAX);
                self.offset = self.offset.saturating_add(delta);
                m = target;
            } else if m < prev {
                m = prev;
            } else if track == Track::Video && m > prev {
                self.video_interval_ms = (m - prev).min(MAX_INTERVAL_MS);
            }
        }
        self.last_ms[i] = Some(m);
        (m, shift(pts, self.offset).max(m))
    }

    /// Whether the open fragment ends before this frame.
    fn should_cut(
        &self,
        frag: &Fragment,
        track: Track,
        (m, p): (u64, u64),
        key: bool,
        gen: u32,
    ) -> bool {
        let bytes = frag.video.as_ref().map_or(0, |t| t.bytes);
        if bytes.max(frag.audio.as_ref().map_or(0, |t| t.bytes)) >= MAX_FRAGMENT_BYTES {
            return true;
        }
        let elapsed = m.saturating_sub(frag.start_ms);
        let governing = if self.video_seen {
            Track::Video
        } else {
            Track::Audio
        };
        if track != governing {
            return elapsed >= self.config.max_fragment_ms() + NON_GOVERNING_SLACK_MS;
        }
        match track {
            Track::Audio => elapsed >= self.config.fragment_ms,
            Track::Video if frag.video.is_none() => false,
            Track::Video => {
                let shown = p
                    .saturating_sub(frag.video_cts)
                    .max(m)
                    .saturating_sub(frag.start_ms);
                (key && elapsed > 0
                    && (shown >= self.config.fragment_ms || gen != frag.video_generation))
                    || elapsed >= self.config.max_fragment_ms()
            }
        }
    }

    /// Feeds one frame. `codecs` is the stream's demuxer (SPS/PPS, AudioSpecificConfig).
    /// Errors drop this frame only.
    pub fn push(&mut self, frame: &Frame, codecs: &Demuxer, now: Now) -> Result<(), DashError> {
        if self.finished {
            return Err(DashError::Finished);
        }
        self.update_source(frame, codecs)?;
        self.last_now = now;
        if let Role::Follower(group) = &self.role {
            let group = group.clone();
            self.push_follower(frame, codecs, &group, now);
            return Ok(());
        }
        let (m, p) = self.normalize(frame.track, frame.dts, frame.pts);
        let gen = codecs.video_generation();
        if frame.track == Track::Video && !frame.keyframe && !self.video_seen {
            self.dropped_frames += 1;
            return Ok(());
        }
        self.availability_start
            .get_or_insert(now.unix_ms.saturating_sub(m));
        if let Role::Leader(group) = &self.role {
            group
                .borrow_mut()
                .publish_origin(self.offset, self.availability_start);
        }
        let cut = self
            .frag
            .as_ref()
            .is_some_and(|f| self.should_cut(f, frame.track, (m, p), frame.keyframe, gen));
        if cut {
            let video_end = (frame.track == Track::Video).then_some(m);
            self.close_fragment(video_end, None, now);
            self.write_mpd(true, now);
        }
        if self.frag.is_none() {
            self.open_fragment(m, p, None, gen);
        }
        self.append(frame, m, p, gen);
        Ok(())
    }

    /// Takes the demuxer's primary track of the frame's kind when it changed: the first
    /// one, a new configuration, another track.
    fn update_source(&mut self, frame: &Frame, codecs: &Demuxer) -> Result<(), DashError> {
        let slot = &mut self.sources[idx(frame.track)];
        if !slot.as_ref().is_some_and(|s| s.is_current(codecs, frame)) {
            *slot = Source::of(codecs, frame);
        }
        match slot {
            Some(_) => Ok(()),
            None => Err(DashError::MissingConfig(frame.track)),
        }
    }

    fn open_fragment(&mut self, m: u64, p: u64, listed_ms: Option<u64>, gen: u32) {
        self.frag = Some(Fragment {
            start_ms: m,
            start_pts: p,
            video_cts: 0,
            listed_ms,
            video: None,
            audio: None,
            video_generation: gen,
        });
        self.publish_cut(m, p, false);
    }

    /// Adds a frame to the open fragment.
    fn append(&mut self, frame: &Frame, m: u64, p: u64, gen: u32) {
        if frame.track == Track::Video && self.frag.as_ref().is_some_and(|f| f.video.is_none()) {
            self.publish_cut(m, p, true);
        }
        let (Some(frag), Some(source)) = (self.frag.as_mut(), &self.sources[idx(frame.track)])
        else {
            return;
        };
        match frame.track {
            Track::Video => {
                self.video_seen = true;
                let t = frag.video.get_or_insert_with(|| {
                    frag.video_generation = gen;
                    frag.video_cts = p.saturating_sub(m);
                    TrackFrag::new(source.clone())
                });
                let cto = u32::try_from((p - m).saturating_mul(90)).unwrap_or(u32::MAX);
                t.push(video_time(m), cto, frame.keyframe, &frame.data);
            }
            Track::Audio => {
                let t = frag
                    .audio
                    .get_or_insert_with(|| TrackFrag::new(source.clone()));
                let samples = t.source.frame_samples(&frame.data);
                let time = self.audio_clock.place(t.source.timescale(), m, samples);
                t.push(time, 0, true, &frame.data);
                if let Some(n) = samples {
                    t.tail = n;
                }
            }
        }
    }

    /// Writes the open fragment's segments (and new initialization segments) and lists it.
    /// `video_end`: the next video frame's time (ms), if known.
    /// `listed_end`: the listed end (ms) of the video segment when it is not `video_end`
    /// (a follower's next fragment is listed at the leader's cut).
    fn close_fragment(&mut self, video_end: Option<u64>, listed_end: Option<u64>, now: Now) {
        let Some(frag) = self.frag.take() else {
            return;
        };
        self.sequence = self.sequence.wrapping_add(1);
        let video_end = video_end.map(|m| m.saturating_mul(u64::from(VIDEO_TIMESCALE) / 1000));
        let video_interval = self.video_interval_ms * u64::from(VIDEO_TIMESCALE) / 1000;
        let listed_ms = frag.listed_ms;
        let listed = Listed {
            video: frag.video.map(|t| {
                let end =
                    video_end.unwrap_or_else(|| t.times.last().map_or(0, |l| l + video_interval));
                self.write_segment(Track::Video, t, end, listed_ms, listed_end)
            }),
            audio: frag.audio.map(|t| {
                let end = t.times.last().map_or(0, |l| l + t.tail);
                self.write_segment(Track::Audio, t, end, None, None)
            }),
        };
        self.window.push_back(listed);
        self.slide_window(now);
    }

    /// Emits one track's media segment (and its init segment when new); returns its entry.
    /// `listed_start`, `listed_end`: the segment's listed start and end (ms) when they are
    /// not its samples' (a follower lists the leader's cuts).
    fn write_segment(
        &mut self,
        track: Track,
        mut t: TrackFrag,
        end: u64,
        listed_start: Option<u64>,
        listed_end: Option<u64>,
    ) -> Seg {
        let scale = t.source.timescale();
        let base = t.times.first().copied().unwrap_or(0);
        let end = end.max(t.times.last().copied().unwrap_or(base));
        let nexts = t.times.iter().skip(1).copied().chain(std::iter::once(end));
        for ((s, &time), next) in t.samples.iter_mut().zip(&t.times).zip(nexts) {
            s.duration = u32::try_from(next.saturating_sub(time)).unwrap_or(u32::MAX);
        }
        let to_ms = |x: u64| (x.saturating_mul(1000) + scale / 2) / scale;
        let (base_ms, own_end_ms) = (to_ms(base), to_ms(end));
        let t_ms = listed_start.unwrap_or(base_ms);
        let end_ms = listed_end.unwrap_or_else(|| {
            let own = own_end_ms.saturating_sub(base_ms);
            t_ms.saturating_add(own)
        });
        let data = mp4::media_segment(
            self.sequence,
            base,
            &t.samples,
            track == Track::Video,
            &t.data,
        );
        let seg = Seg {
            t: t_ms,
            d: end_ms.saturating_sub(t_ms).max(1),
            bytes: data.len() as u64,
            samples: t.samples.len() as u64,
        };
        let path = self.file(&t_ms.to_string(), Self::ext(track));
        self.ops
            .push_back(FileOp::OpenSegment { path: path.clone() });
        self.ops.push_back(FileOp::AppendSegment { data });
        self.ops.push_back(FileOp::CloseSegment { path });
        let source = t.source;
        if self.inits[idx(track)].as_ref().map(|(s, _)| &s.config) != Some(&source.config) {
            let init = mp4::init_segment(&source.config);
            let path = self.file("init", Self::ext(track));
            self.ops.push_back(FileOp::WritePlaylist {
                path,
                contents: init.clone(),
            });
            self.inits[idx(track)] = Some((source, init));
        }
        seg
    }

    fn delete_deadline(&self, now: Now) -> u64 {
        now.monotonic_ms + self.config.max_fragment_ms() + self.config.playlist_length_ms
    }

    fn delete_listed(&mut self, gone: Listed, deadline: u64) {
        for (track, seg) in [(Track::Video, gone.video), (Track::Audio, gone.audio)] {
            if let Some(seg) = seg {
                let path = self.file(&seg.t.to_string(), Self::ext(track));
                self.ops.push_back(FileOp::Delete {
                    path,
                    not_before_ms: deadline,
                });
            }
        }
    }

    fn slide_window(&mut self, now: Now) {
        let mut total: u64 = self.window.iter().map(Listed::duration_ms).sum();
        let deadline = self.delete_deadline(now);
        while self.window.len() > 1 {
            let Some(front) = self.window.front().copied() else {
                break;
            };
            if total - front.duration_ms() < self.config.playlist_length_ms {
                break;
            }
            self.window.pop_front();
            total -= front.duration_ms();
            if self.config.cleanup {
                self.delete_listed(front, deadline);
            }
        }
    }

    /// The MPD for the current window.
    pub fn mpd(&self, live: bool, now: Now) -> Mpd {
        let sets = self
            .representations(None)
            .into_iter()
            .map(AdaptationSet::single)
            .collect();
        self.mpd_of(live, now, sets)
    }

    fn mpd_of(&self, live: bool, now: Now, sets: Vec<AdaptationSet>) -> Mpd {
        let listed: u64 = self.window.iter().map(Listed::duration_ms).sum();
        Mpd {
            live,
            availability_start_unix_ms: self.availability_start.unwrap_or(now.unix_ms),
            publish_unix_ms: now.unix_ms,
            minimum_update_period_ms: self.config.fragment_ms,
            min_buffer_ms: self.config.fragment_ms,
            time_shift_buffer_ms: listed.max(self.config.playlist_length_ms),
            sets,
        }
    }

    fn write_mpd(&mut self, live: bool, now: Now) {
        if self.window.is_empty() {
            return;
        }
        let contents = Bytes::from(self.mpd(live, now).render());
        self.ops.push_back(FileOp::WritePlaylist {
            path: self.mpd_path.clone(),
            contents,
        });
        if let Some(group) = self.group().cloned() {
            let reps = self.representations(Some(&group.borrow()));
            let sets = reps.into_iter().map(AdaptationSet::single).collect();
            let mpd = self.mpd_of(live, now, sets);
            group.borrow_mut().report(&self.name, mpd);
            if live {
                self.write_group_mpd(live, now);
            }
        }
    }

    /// The publisher stopped: writes the last fragment and a `static` MPD of the window
    /// (players and tools then see a finished presentation), and with `dash_cleanup`
    /// schedules the deletion of every file of the stream.
    pub fn finish(&mut self, now: Now) -> Result<(), DashError> {
        if self.finished {
            return Ok(());
        }
        self.close_fragment(None, None, now);
        self.finished = true;
        self.last_now = now;
        self.write_mpd(false, now);
        match &self.role {
            Role::Solo => {}
            Role::Follower(group) => group.borrow_mut().leave(&self.name),
            Role::Leader(group) => {
                // The group's last MPD (static, every member still listed), then no more.
                let mut g = group.borrow_mut();
                if let Some(mpd) = g.mpd(false, now.unix_ms) {
                    self.ops.push_back(FileOp::WritePlaylist {
                        path: g.mpd_path().clone(),
                        contents: Bytes::from(mpd.render()),
                    });
                    if self.config.cleanup {
                        self.ops.push_back(FileOp::Delete {
                            path: g.mpd_path().clone(),
                            not_before_ms: self.delete_deadline(now),
                        });
                    }
                }
                g.finish();
            }
        }
        if self.config.cleanup && !self.window.is_empty() {
            let deadline = self.delete_deadline(now);
            let listed: Vec<Listed> = self.window.iter().copied().collect();
            for l in listed {
                self.delete_listed(l, deadline);
            }
            for track in [Track::Video, Track::Audio] {
                if self.inits[idx(track)].is_some() {
                    let path = self.file("init", Self::ext(track));
                    self.ops.push_back(FileOp::Delete {
                        path,
                        not_before_ms: deadline,
                    });
                }
            }
            self.ops.push_back(FileOp::Delete {
                path: self.mpd_path.clone(),
                not_before_ms: deadline,
            });
        }
        Ok(())
    }
}
