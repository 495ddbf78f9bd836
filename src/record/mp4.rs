//! A recording as one fragmented MP4 file: the initialization segment (`ftyp` + `moov` with
//! `mvex`, every track of the file), then one fragment (`moof` + `mdat`, all tracks) per
//! `record_fragment`, cut before a video keyframe when the file has video, and at close a
//! movie fragment random access box (`mfra`: a `tfra` per track, then `mfro`).
//!
//! Every piece is appended whole, so the file is playable while it grows and, after a crash,
//! up to its last complete fragment. The index goes at the end because a `sidx` must come
//! before the fragments it describes (its offsets only point forward), which an append-only
//! file that is playable at every instant cannot do.
//!
//! Pure: [`Mp4Writer::push`] takes demuxed frames and returns the bytes to append,
//! [`Mp4Writer::finish`] the last fragment and the index. No I/O, no clock.

use std::fmt;

use bytes::Bytes;

use crate::media::audio_frames::AudioClock;
use crate::media::fmp4::{self, Edit, RandomAccess, Run, Sample, TrackConfig, VIDEO_TIMESCALE};
use crate::media::picture::picture_size;
use crate::media::{AudioConfig, Demuxer, Frame, Track};

/// `record_fragment` when the configuration does not say.
pub const DEFAULT_FRAGMENT_MS: u64 = 1000;
/// A fragment is cut before any frame once it holds this much media (memory bound).
pub const MAX_FRAGMENT_BYTES: usize = 16 * 1024 * 1024;
/// Duration of an audio frame whose bitstream does not tell, when no earlier frame does.
const DEFAULT_AUDIO_FRAME_MS: u64 = 20;
/// Duration of the last video sample when no earlier one tells (30 fps, 90 kHz).
const DEFAULT_VIDEO_DURATION: u64 = 3000;

/// Why a frame is not written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mp4WriteError {
    /// The track's codec configuration changed since the file's initialization segment:
    /// finish this file and push the frame into a new writer.
    CodecChanged(Track),
    /// The demuxer has no configuration for the frame's track.
    MissingConfig(Track),
    /// [`Mp4Writer::finish`] was called.
    Finished,
}

impl fmt::Display for Mp4WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mp4WriteError::CodecChanged(t) => write!(f, "{t} codec configuration changed"),
            Mp4WriteError::MissingConfig(t) => write!(f, "no {t} codec configuration"),
            Mp4WriteError::Finished => f.write_str("recording already finished"),
        }
    }
}

impl std::error::Error for Mp4WriteError {}

/// The tracks a recording keeps (`record audio`, `record video`, `record all`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tracks {
    pub video: bool,
    pub audio: bool,
}

impl Tracks {
    pub const ALL: Tracks = Tracks {
        video: true,
        audio: true,
    };

    fn keeps(self, track: Track) -> bool {
        match track {
            Track::Video => self.video,
            Track::Audio => self.audio,
        }
    }
}

/// A track of the file.
#[derive(Debug)]
struct TrackState {
    track: Track,
    config: TrackConfig,
    /// The demuxer's track id and configuration generation the file was started with.
    source: (u8, u32),
    /// Audio: what tells a frame's length.
    audio: Option<AudioConfig>,
    /// The file's track id (0 until the initialization segment is written).
    id: u32,
    /// Samples of the open fragment: decode time (track timescale), sample, bytes.
    times: Vec<u64>,
    samples: Vec<Sample>,
    data: Vec<Bytes>,
    /// Decode time of the last sample written or buffered.
    last_time: Option<u64>,
    /// Duration of the last sample whose successor is known.
    last_duration: u64,
    /// Audio: places frames end to end.
    clock: AudioClock,
    /// Audio: the length of the last frame, for the last sample of the file.
    tail: u64,
    index: Vec<RandomAccess>,
    /// End of the track's written media, in its timescale.
    end: u64,
    /// Decode time of the track's first sample: 0 of its media timeline in the file.
    base: u64,
}

impl TrackState {
    fn new(
        track: Track,
        config: TrackConfig,
        source: (u8, u32),
        audio: Option<AudioConfig>,
    ) -> Self {
        let tail = u64::from(config.timescale()) * DEFAULT_AUDIO_FRAME_MS / 1000;
        Self {
            track,
            config,
            source,
            audio,
            id: 0,
            times: Vec::new(),
            samples: Vec::new(),
            data: Vec::new(),
            last_time: None,
            last_duration: 0,
            clock: AudioClock::default(),
            tail,
            index: Vec::new(),
            end: 0,
            base: 0,
        }
    }

    fn timescale(&self) -> u64 {
        u64::from(self.config.timescale())
    }

    /// Gives each buffered sample its duration; the last one lasts until `end` when known.
    fn set_durations(&mut self, end: Option<u64>) {
        let n = self.times.len();
        for i in 0..n {
            let (Some(&t), Some(s)) = (self.times.get(i), self.samples.get_mut(i)) else {
                continue;
            };
            let d = match self.times.get(i + 1).copied().or(end) {
                Some(next) => next.saturating_sub(t),
                None if self.track == Track::Audio => self.tail,
                None if self.last_duration > 0 => self.last_duration,
                None => DEFAULT_VIDEO_DURATION,
            };
            s.duration = u32::try_from(d).unwrap_or(u32::MAX);
            if i + 1 < n || end.is_some() {
                self.last_duration = d;
            }
        }
    }
}

/// One recording's fragmented MP4 writer.
#[derive(Debug)]
pub struct Mp4Writer {
    fragment_ms: u64,
    keep: Tracks,
    /// Decode time (ms) of the first frame: the file's time zero.
    origin: Option<u64>,
    /// Video first, then audio, in the order they appear.
    tracks: Vec<TrackState>,
    /// The initialization segment is written (the file's tracks are fixed).
    started: bool,
    /// Start (ms, file time) of the open fragment, if it has samples.
    frag_start: Option<u64>,
    frag_bytes: usize,
    sequence: u32,
    /// Bytes handed out so far: the next piece's file offset.
    offset: u64,
    dropped: u64,
    skipped: u64,
    finished: bool,
}

impl Mp4Writer {
    /// `fragment_ms`: `record_fragment` (at least 1 ms); `keep`: the tracks to record
    /// (frames of the others are ignored).
    pub fn new(fragment_ms: u64, keep: Tracks) -> Self {
        Self {
            fragment_ms: fragment_ms.max(1),
            keep,
            origin: None,
            tracks: Vec::new(),
            started: false,
            frag_start: None,
            frag_bytes: 0,
            sequence: 0,
            offset: 0,
            dropped: 0,
            skipped: 0,
            finished: false,
        }
    }

    /// Bytes handed out so far (the file's size once they are appended).
    pub fn bytes_written(&self) -> u64 {
        self.offset
    }

    /// Complete fragments handed out.
    pub fn fragments(&self) -> u32 {
        self.sequence
    }

    /// Duration (ms) of the media handed out: what a reader of the file sees.
    pub fn duration_ms(&self) -> u64 {
        self.tracks
            .iter()
            .filter(|t| t.id != 0)
            .map(|t| t.end.saturating_mul(1000) / t.timescale().max(1))
            .max()
            .unwrap_or(0)
    }

    /// Frames of a track that joined after the file's tracks were fixed.
    pub fn dropped_frames(&self) -> u64 {
        self.dropped
    }

    /// Video frames skipped before the file's first video keyframe.
    pub fn skipped_frames(&self) -> u64 {
        self.skipped
    }

    fn has_video(&self) -> bool {
        self.tracks.iter().any(|t| t.track == Track::Video)
    }

    /// Adds a frame; returns the bytes to append to the file when a fragment is complete
    /// (the first time, preceded by the initialization segment). Frames come in decode
    /// order as the [`Demuxer`] yields them; `codecs` is that demuxer.
    ///
    /// Video starts at a keyframe: earlier video frames are skipped
    /// ([`Mp4Writer::skipped_frames`]). The file's tracks are those with frames in its first
    /// fragment, which waits for the first video keyframe when video is kept and the stream
    /// has it; frames of a track that starts later are dropped
    /// ([`Mp4Writer::dropped_frames`]).
    pub fn push(
        &mut self,
        frame: &Frame,
        codecs: &Demuxer,
    ) -> Result<Option<Bytes>, Mp4WriteError> {
        if self.finished {
            return Err(Mp4WriteError::Finished);
        }
        if !self.keep.keeps(frame.track) {
            return Ok(None);
        }
        let source = match frame.track {
            Track::Video => codecs.video().map(|t| (t.id, t.generation)),
            Track::Audio => codecs.audio().map(|t| (t.id, t.generation)),
        }
        .ok_or(Mp4WriteError::MissingConfig(frame.track))?;
        // The first fragment waits for the stream's video, if it has some to record: it
        // fixes the file's tracks. Computed before the track joins, so its first keyframe
        // does not end the fragment it must open.
        let video_pending = !self.has_video() && self.keep.video && codecs.video().is_some();
        let known = self.tracks.iter().position(|t| t.track == frame.track);
        if frame.track == Track::Video && known.is_none() && !frame.keyframe {
            self.skipped += 1;
            return Ok(None);
        }
        match known {
            Some(i) => {
                if self.tracks.get(i).is_some_and(|t| t.source != source) {
                    return Err(Mp4WriteError::CodecChanged(frame.track));
                }
            }
            None if self.started => {
                self.dropped += 1;
                return Ok(None);
            }
            None => {
                let (config, audio) = match frame.track {
                    Track::Video => (
                        codecs.video().map(|t| {
                            let (w, h) = picture_size(&t.config, frame).unwrap_or((0, 0));
                            TrackConfig::from_video_track(t).with_size(w, h)
                        }),
                        None,
                    ),
                    Track::Audio => (
                        codecs.audio().map(TrackConfig::from_audio_track),
                        codecs.audio().map(|a| a.config.clone()),
                    ),
                };
                let config = config.ok_or(Mp4WriteError::MissingConfig(frame.track))?;
                let t = TrackState::new(frame.track, config, source, audio);
                if frame.track == Track::Video {
                    self.tracks.insert(0, t);
                } else {
                    self.tracks.push(t);
                }
            }
        }
        let origin = *self.origin.get_or_insert(frame.dts);
        let m = frame.dts.saturating_sub(origin);
        let p = frame.pts.saturating_sub(origin).max(m);
        let out = if self.should_cut(frame, m, video_pending) {
            let end = (frame.track == Track::Video).then(|| m.saturating_mul(90));
            Some(self.close_fragment(end))
        } else {
            None
        };
        self.append(frame, m, p);
        Ok(out)
    }

    fn should_cut(&self, frame: &Frame, m: u64, video_pending: bool) -> bool {
        let Some(start) = self.frag_start else {
            return false;
        };
        if self.frag_bytes >= MAX_FRAGMENT_BYTES {
            return true;
        }
        if video_pending {
            return false;
        }
        let age = m.saturating_sub(start);
        if self.has_video() {
            // Without a keyframe for two fragments, cut anyway: a crash loses less.
            frame.track == Track::Video
                && ((frame.keyframe && age >= self.fragment_ms)
                    || age >= self.fragment_ms.saturating_mul(2))
        } else {
            age >= self.fragment_ms
        }
    }

    fn append(&mut self, frame: &Frame, m: u64, p: u64) {
        let Some(t) = self.tracks.iter_mut().find(|t| t.track == frame.track) else {
            return;
        };
        let (time, cto) = match frame.track {
            Track::Video => {
                let time = m.saturating_mul(u64::from(VIDEO_TIMESCALE) / 1000);
                // Decode times never go back: a sample's duration cannot be negative.
                let time = time.max(t.last_time.unwrap_or(0));
                let pts = p.saturating_mul(u64::from(VIDEO_TIMESCALE) / 1000);
                (
                    time,
                    u32::try_from(pts.saturating_sub(time)).unwrap_or(u32::MAX),
                )
            }
            Track::Audio => {
                // Counted in samples while frames are contiguous, so rounding of the
                // millisecond timestamps does not make the track drift or jitter.
                let samples = t.audio.as_ref().and_then(|a| a.frame_samples(&frame.data));
                let time = t.clock.place(t.timescale(), m, samples);
                if let Some(n) = samples {
                    t.tail = n;
                }
                (time, 0)
            }
        };
        t.times.push(time);
        t.samples.push(Sample {
            duration: 0,
            size: u32::try_from(frame.data.len()).unwrap_or(u32::MAX),
            sync: frame.keyframe,
            cto,
        });
        t.data.push(frame.data.clone());
        t.last_time = Some(time);
        self.frag_bytes += frame.data.len();
        self.frag_start.get_or_insert(m);
    }

    /// Each track's edit list, for media timelines that start at each track's first
    /// sample: the file's presentation starts at 0 with the earliest sample of the first
    /// fragment over all tracks, and the tracks keep their relative timing (A/V sync).
    /// The B-frame delay of the first video sample is skipped by the edit's media time; a
    /// track that starts later is delayed by an empty edit. Computed before the first
    /// fragment is written, when its samples hold every track's first one.
    ///
    /// Every timeline starts at 0 rather than at the track's offset in the file (with an
    /// edit that skips to it) because readers (FFmpeg) take the media time before the
    /// first sample as part of the track's duration.
    fn edits(&self) -> Vec<Edit> {
        // Per track: first decode time, first presentation time, timescale.
        let starts: Vec<(u64, u64, u64)> = self
            .tracks
            .iter()
            .map(|t| {
                let first = t.times.first().copied().unwrap_or(0);
                let shown = t
                    .times
                    .iter()
                    .zip(&t.samples)
                    .map(|(time, s)| time + u64::from(s.cto))
                    .min()
                    .unwrap_or(first);
                (first, shown, t.timescale().max(1))
            })
            .collect();
        // The earliest presentation, compared exactly across timescales.
        let (t0, r0) = starts
            .iter()
            .map(|&(_, shown, rate)| (shown, rate))
            .min_by(|(a, ra), (b, rb)| {
                (u128::from(*a) * u128::from(*rb)).cmp(&(u128::from(*b) * u128::from(*ra)))
            })
            .unwrap_or((0, 1));
        starts
            .iter()
            .map(|&(first, shown, rate)| {
                // Where the track's first presented sample goes, in its timescale.
                let earliest = u128::from(t0) * u128::from(rate) / u128::from(r0);
                let at = u64::try_from(earliest).map_or(0, |e| shown.saturating_sub(e));
                let media = shown.saturating_sub(first);
                if media >= at {
                    Edit {
                        empty_ms: 0,
                        media_time: media - at,
                    }
                } else {
                    let late = u128::from(at - media) * 1000;
                    let empty_ms = (late + u128::from(rate) / 2) / u128::from(rate);
                    Edit {
                        empty_ms: u64::try_from(empty_ms).unwrap_or(0),
                        media_time: 0,
                    }
                }
            })
            .collect()
    }

    /// The open fragment (and, the first time, the initialization segment) as bytes.
    /// `video_end`: the decode time (90 kHz) of the next video frame, when known.
    fn close_fragment(&mut self, video_end: Option<u64>) -> Bytes {
        let mut o = Vec::with_capacity(self.frag_bytes + 1024);
        if !self.started {
            self.started = true;
            self.tracks.retain(|t| !t.samples.is_empty());
            for (id, t) in (1u32..).zip(self.tracks.iter_mut()) {
                t.id = id;
            }
            fmp4::ftyp(&mut o, b"iso6", &[b"iso6", b"isom", b"mp41"]);
            let edits = self.edits();
            for t in &mut self.tracks {
                t.base = t.times.first().copied().unwrap_or(0);
            }
            let tracks: Vec<(u32, &TrackConfig, Option<Edit>)> = self
                .tracks
                .iter()
                .zip(edits)
                .map(|(t, edit)| (t.id, &t.config, Some(edit)))
                .collect();
            fmp4::moov_with_edits(&mut o, &tracks);
        }
        let moof_offset = self.offset + o.len() as u64;
        self.sequence = self.sequence.wrapping_add(1);
        let mut traf_number = 0u8;
        for t in &mut self.tracks {
            if t.samples.is_empty() {
                continue;
            }
            traf_number = traf_number.saturating_add(1);
            let end = if t.track == Track::Video {
                video_end
            } else {
                None
            };
            t.set_durations(end);
            let first_sync = t.samples.iter().position(|s| s.sync);
            if let (Some(i), Some(&time)) = (first_sync, first_sync.and_then(|i| t.times.get(i))) {
                let cto = t.samples.get(i).map_or(0, |s| u64::from(s.cto));
                t.index.push(RandomAccess {
                    time: (time + cto).saturating_sub(t.base),
                    moof_offset,
                    traf_number,
                    sample_number: u32::try_from(i + 1).unwrap_or(u32::MAX),
                });
            }
            if let (Some(&last), Some(s)) = (t.times.last(), t.samples.last()) {
                t.end = last + u64::from(s.duration);
            }
        }
        let runs: Vec<Run<'_>> = self
            .tracks
            .iter()
            .filter(|t| !t.samples.is_empty())
            .map(|t| Run {
                track_id: t.id,
                base_decode_time: t.times.first().map_or(0, |b| b.saturating_sub(t.base)),
                samples: &t.samples,
                cto: t.track == Track::Video,
                data: &t.data,
            })
            .collect();
        fmp4::fragment(&mut o, self.sequence, &runs);
        for t in &mut self.tracks {
            t.times.clear();
            t.samples.clear();
            t.data.clear();
        }
        self.frag_start = None;
        self.frag_bytes = 0;
        self.offset += o.len() as u64;
        Bytes::from(o)
    }

    /// Ends the recording: the last fragment and the random access index, to append before
    /// closing the file. Empty when no frame was ever pushed (the file can be removed).
    pub fn finish(&mut self) -> Bytes {
        if self.finished {
            return Bytes::new();
        }
        self.finished = true;
        if self.frag_start.is_none() && !self.started {
            return Bytes::new();
        }
        let mut o = Vec::new();
        if self.frag_start.is_some() {
            o.extend_from_slice(&self.close_fragment(None));
        }
        let index: Vec<(u32, &[RandomAccess])> = self
            .tracks
            .iter()
            .map(|t| (t.id, t.index.as_slice()))
            .collect();
        let start = o.len();
        fmp4::mfra(&mut o, &index);
        self.offset += (o.len() - start) as u64;
        Bytes::from(o)
    }
}

#[cfg(test)]
mod tests;
