//! The fMP4 side of HLS (CMAF-style fragments): one `moof` + `mdat` per segment, written by the shared
//! [`fmp4`](crate::media::fmp4) box writers, and the initialization segment it needs.
//!
//! Every codec the demuxer knows travels here: H.264, HEVC (`hvc1`), AV1 (`av01`, samples
//! without temporal delimiters), VP9 (`vp09`, its picture size read from key frames since
//! its record has none); AAC and Opus (48 kHz, each packet as long as its TOC says).
//!
//! Video and audio travel in one fragment (one `traf` each, video first): hls.js, Safari
//! and FFmpeg all take muxed fMP4 segments (FFmpeg's own HLS muxer writes them so), and
//! one file per segment keeps the segmenter's cut decisions, names and cleanup exactly
//! those of MPEG-TS. A segment's samples are buffered until it closes, because a sample's
//! duration is only known once the next one (or the cut) arrives.

use bytes::Bytes;

use super::error::HlsError;
use super::ts::Tracks;
use crate::media::fmp4::{self, Run, Sample, TrackConfig, OPUS_TIMESCALE, VIDEO_TIMESCALE};
use crate::media::{av1, opus, vp9, AudioConfig, MediaError, VideoConfig, VideoTrack};

/// Track id of the video track in init segments and fragments.
pub const VIDEO_TRACK_ID: u32 = 1;
/// Track id of the audio track.
pub const AUDIO_TRACK_ID: u32 = 2;

/// Video ticks per stream millisecond.
const VIDEO_TICKS_PER_MS: u64 = VIDEO_TIMESCALE as u64 / 1000;

/// The samples of one track in the open segment.
#[derive(Debug, Default)]
struct TrackBuf {
    /// Decode time of each sample, in the track's timescale.
    times: Vec<u64>,
    samples: Vec<Sample>,
    data: Vec<Bytes>,
}

impl TrackBuf {
    fn clear(&mut self) {
        self.times.clear();
        self.samples.clear();
        self.data.clear();
    }

    fn push(&mut self, time: u64, sync: bool, cto: u32, data: &Bytes) {
        self.times.push(time);
        self.samples.push(Sample {
            duration: 0,
            size: u32::try_from(data.len()).unwrap_or(u32::MAX),
            sync,
            cto,
        });
        // A zero-copy slice of the RTMP message, held until the segment closes.
        self.data.push(data.clone());
    }

    /// Sets each sample's duration to the gap to the next one, the last one's to the gap to
    /// `end` (or `fallback` when `end` is not after it).
    fn settle(&mut self, end: u64, fallback: u64) {
        let n = self.samples.len();
        for i in 0..n {
            let (Some(&t), Some(s)) = (self.times.get(i), self.samples.get_mut(i)) else {
                continue;
            };
            let next = match self.times.get(i + 1) {
                Some(&next) => next,
                None if end > t => end,
                None => t + fallback,
            };
            s.duration = u32::try_from(next.saturating_sub(t)).unwrap_or(u32::MAX);
        }
    }
}

/// The fMP4 muxer of one HLS stream.
#[derive(Debug, Default)]
pub struct CmafMuxer {
    tracks: Tracks,
    video: TrackBuf,
    audio: TrackBuf,
    /// The video track's configuration (its picture size as the record says).
    video_config: Option<TrackConfig>,
    /// The picture size of the latest VP9 key frame (VP9 records carry none).
    key_frame_size: Option<(u32, u32)>,
    audio_config: Option<AudioConfig>,
    /// Where the next audio frame goes when the audio is gapless (its timescale): audio
    /// times follow the frame count, not the millisecond timestamps, so they stay exact.
    audio_next: Option<u64>,
    /// Length of the latest audio frame (its timescale): the last one's duration.
    audio_frame: u64,
    /// `mfhd` sequence number of the last fragment.
    sequence: u32,
    /// The initialization segment the last fragment needs.
    init: Option<Bytes>,
    output: Option<Bytes>,
}

impl CmafMuxer {
    pub fn new() -> Self {
        Self::default()
    }

    /// The initialization segment in force (after [`CmafMuxer::end_segment`]).
    pub fn init_segment(&self) -> Option<&Bytes> {
        self.init.as_ref()
    }

    pub fn start_segment(&mut self, tracks: Tracks, discontinuity: bool) {
        self.tracks = tracks;
        self.video.clear();
        self.audio.clear();
        if discontinuity {
            self.audio_next = None;
        }
    }

    /// Buffers one video access unit as FLV carries it, which is also its sample format
    /// (length-prefixed NAL units for `avc1`/`hvc1`, OBUs for `av01`, a frame or superframe
    /// for `vp09`), except that AV1 temporal delimiters are left out.
    pub fn write_video(
        &mut self,
        dts_ms: u64,
        pts_ms: u64,
        keyframe: bool,
        data: &Bytes,
        track: &VideoTrack,
    ) -> Result<(), HlsError> {
        // The configuration is taken even from a refused frame: the segment is open and
        // needs its init segment either way.
        let same = matches!(
            &self.video_config,
            Some(TrackConfig::Video { config, record, .. })
                if *config == track.config && *record == track.record
        );
        if !same {
            self.video_config = Some(TrackConfig::from_video_track(track));
        }
        let data = match track.config {
            VideoConfig::Av1(_) => av1::without_temporal_delimiters(data),
            _ => data.clone(),
        };
        if data.is_empty() {
            return Err(HlsError::Malformed(MediaError::Truncated("empty frame")));
        }
        if keyframe && matches!(track.config, VideoConfig::Vp9(_)) {
            if let Some(size) = vp9::keyframe_size(&data) {
                self.key_frame_size = Some(size);
            }
        }
        let cto = pts_ms
            .saturating_sub(dts_ms)
            .saturating_mul(VIDEO_TICKS_PER_MS);
        self.video.push(
            dts_ms.saturating_mul(VIDEO_TICKS_PER_MS),
            keyframe,
            u32::try_from(cto).unwrap_or(u32::MAX),
            &data,
        );
        Ok(())
    }

    /// Buffers one audio frame (a raw AAC frame, an Opus packet) at `pts_ms`.
    pub fn write_audio(
        &mut self,
        pts_ms: u64,
        data: &Bytes,
        config: &AudioConfig,
    ) -> Result<(), HlsError> {
        if self.audio_config.as_ref() != Some(config) {
            if self.audio_config.is_some() {
                self.audio_next = None;
            }
            self.audio_config = Some(config.clone());
        }
        if data.is_empty() {
            return Err(HlsError::Malformed(MediaError::Truncated("empty frame")));
        }
        let (rate, frame) = match config {
            AudioConfig::Aac(asc) => (
                u64::from(asc.sample_rate.max(1)),
                u64::from(asc.samples_per_frame()),
            ),
            AudioConfig::Opus(_) => {
                let samples = opus::packet_samples(data)
                    .ok_or(HlsError::Malformed(MediaError::Invalid("Opus packet")))?;
                (u64::from(OPUS_TIMESCALE), u64::from(samples))
            }
        };
        let stamped = pts_ms.saturating_mul(rate) / 1000;
        // Millisecond timestamps are off by up to a millisecond: within one frame of where
        // the previous frame ends, the frame follows it exactly; further away is a gap.
        let time = match self.audio_next {
            Some(next) if next.abs_diff(stamped) < frame => next,
            _ => stamped,
        };
        self.audio_next = Some(time + frame);
        self.audio_frame = frame;
        self.audio.push(time, true, 0, data);
        Ok(())
    }

    /// Closes the segment whose media ends at `end_ms`: writes its fragment (taken with
    /// [`CmafMuxer::take_output`]). Returns the new initialization segment when the tracks
    /// or their configurations differ from the previous segment's.
    pub fn end_segment(&mut self, end_ms: u64) -> Result<Option<Bytes>, HlsError> {
        let video_frame = self.video_frame_ticks();
        self.video
            .settle(end_ms.saturating_mul(VIDEO_TICKS_PER_MS), video_frame);
        self.audio.settle(0, self.audio_frame.max(1));
        let video = self
            .video_config
            .as_ref()
            .filter(|_| self.tracks.video)
            .map(|v| match (v, self.key_frame_size) {
                (TrackConfig::Video { width: 0, .. }, Some((w, h))) => v.clone().with_size(w, h),
                _ => v.clone(),
            });
        let audio = self
            .audio_config
            .as_ref()
            .filter(|_| self.tracks.audio)
            .map(|config| TrackConfig::Audio {
                config: config.clone(),
            });
        let mut configs: Vec<(u32, &TrackConfig)> = Vec::with_capacity(2);
        if let Some(v) = &video {
            configs.push((VIDEO_TRACK_ID, v));
        }
        if let Some(a) = &audio {
            configs.push((AUDIO_TRACK_ID, a));
        }
        if configs.is_empty() {
            return Err(HlsError::MissingConfig(crate::media::Track::Video));
        }
        let init = init_segment(&configs);
        let fresh = (self.init.as_ref() != Some(&init)).then(|| init.clone());
        self.init = Some(init);
        let mut runs = Vec::with_capacity(2);
        for (id, buf, cto) in [
            (VIDEO_TRACK_ID, &self.video, true),
            (AUDIO_TRACK_ID, &self.audio, false),
        ] {
            let Some(&base_decode_time) = buf.times.first() else {
                continue;
            };
            runs.push(Run {
                track_id: id,
                base_decode_time,
                samples: &buf.samples,
                cto,
                data: &buf.data,
            });
        }
        self.sequence = self.sequence.wrapping_add(1).max(1);
        let payload: usize = runs
            .iter()
            .flat_map(|r| r.data.iter())
            .map(Bytes::len)
            .sum();
        let mut o = Vec::with_capacity(payload + 256 + 16 * self.video.samples.len());
        fmp4::fragment(&mut o, self.sequence, &runs);
        self.output = Some(Bytes::from(o));
        self.video.clear();
        self.audio.clear();
        Ok(fresh)
    }

    /// The last sample interval of the video, or 40 ms before there are two samples.
    fn video_frame_ticks(&self) -> u64 {
        match self.video.times.as_slice() {
            [.., a, b] if b > a => b - a,
            _ => 40 * VIDEO_TICKS_PER_MS,
        }
    }

    /// The closed segment's bytes (once).
    pub fn take_output(&mut self) -> Option<Bytes> {
        self.output.take()
    }
}

/// The initialization segment: `ftyp` and a `moov` with the given tracks. The `cmfc` brand
/// is not claimed: a CMAF track file holds one track, and these fragments hold two.
pub fn init_segment(tracks: &[(u32, &TrackConfig)]) -> Bytes {
    let mut o = Vec::with_capacity(1024);
    fmp4::ftyp(&mut o, b"iso6", &[b"iso6", b"mp41"]);
    fmp4::moov(&mut o, tracks);
    Bytes::from(o)
}

#[cfg(test)]
mod tests;
