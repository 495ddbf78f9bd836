//! The fMP4 side of HLS (CMAF-style fragments): one `moof` + `mdat` per segment, written by the shared
//! [`fmp4`](crate::media::fmp4) box writers, and the initialization segment it needs.
//!
//! Video and audio travel in one fragment (one `traf` each, video first): hls.js, Safari
//! and FFmpeg all take muxed fMP4 segments (FFmpeg's own HLS muxer writes them so), and
//! one file per segment keeps the segmenter's cut decisions, names and cleanup exactly
//! those of MPEG-TS. A segment's samples are buffered until it closes, because a sample's
//! duration is only known once the next one (or the cut) arrives.

use bytes::Bytes;

use super::error::HlsError;
use super::ts::Tracks;
use crate::media::fmp4::{self, Run, Sample, TrackConfig, VIDEO_TIMESCALE};
use crate::media::{AudioSpecificConfig, AvcConfig, MediaError};

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
    video_config: Option<AvcConfig>,
    audio_config: Option<AudioSpecificConfig>,
    /// Where the next audio frame goes when the audio is gapless (its timescale): audio
    /// times follow the frame count, not the millisecond timestamps, so they stay exact.
    audio_next: Option<u64>,
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

    /// Buffers one H.264 access unit (AVCC, as in the FLV tag: it is also the sample
    /// format of `avc1`).
    pub fn write_video(
        &mut self,
        dts_ms: u64,
        pts_ms: u64,
        keyframe: bool,
        data: &Bytes,
        cfg: &AvcConfig,
    ) -> Result<(), HlsError> {
        // The configuration is taken even from a refused frame: the segment is open and
        // needs its init segment either way.
        if self.video_config.as_ref() != Some(cfg) {
            self.video_config = Some(cfg.clone());
        }
        if data.is_empty() {
            return Err(HlsError::Malformed(MediaError::Truncated("empty frame")));
        }
        let cto = pts_ms
            .saturating_sub(dts_ms)
            .saturating_mul(VIDEO_TICKS_PER_MS);
        self.video.push(
            dts_ms.saturating_mul(VIDEO_TICKS_PER_MS),
            keyframe,
            u32::try_from(cto).unwrap_or(u32::MAX),
            data,
        );
        Ok(())
    }

    /// Buffers one raw AAC frame at `pts_ms`.
    pub fn write_audio(
        &mut self,
        pts_ms: u64,
        data: &Bytes,
        asc: &AudioSpecificConfig,
    ) -> Result<(), HlsError> {
        if self.audio_config.as_ref() != Some(asc) {
            if self.audio_config.is_some() {
                self.audio_next = None;
            }
            self.audio_config = Some(*asc);
        }
        if data.is_empty() {
            return Err(HlsError::Malformed(MediaError::Truncated("empty frame")));
        }
        let rate = u64::from(asc.sample_rate.max(1));
        let frame = u64::from(asc.samples_per_frame());
        let stamped = pts_ms.saturating_mul(rate) / 1000;
        // Millisecond timestamps are off by up to a millisecond: within one frame of where
        // the previous frame ends, the frame follows it exactly; further away is a gap.
        let time = match self.audio_next {
            Some(next) if next.abs_diff(stamped) < frame => next,
            _ => stamped,
        };
        self.audio_next = Some(time + frame);
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
        let audio_frame = self
            .audio_config
            .map_or(1024, |a| u64::from(a.samples_per_frame()));
        self.audio.settle(0, audio_frame);
        let video = self
            .video_config
            .as_ref()
            .filter(|_| self.tracks.video)
            .map(TrackConfig::video);
        let audio = self
            .audio_config
            .as_ref()
            .filter(|_| self.tracks.audio)
            .map(TrackConfig::audio);
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
