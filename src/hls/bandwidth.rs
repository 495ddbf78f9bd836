//! What a stream's HLS output measures for a master playlist: the bit rate of each complete
//! segment in the playlist window (RFC 8216 4.3.4.2: `BANDWIDTH` is the peak segment bit rate,
//! `AVERAGE-BANDWIDTH` the average), the video frame rate, and the codec facts of the
//! stream's configuration (`CODECS`, `RESOLUTION`, the SPS's declared frame rate; a VP9
//! track's `RESOLUTION` from its first key frame, as its configuration record has none).

use std::collections::VecDeque;

use super::stream_inf::VariantInfo;
use crate::media::picture::picture_size;
use crate::media::{Demuxer, Frame, VideoConfig};

/// One complete segment.
#[derive(Debug, Clone, Copy)]
struct Measured {
    sequence: u64,
    bytes: u64,
    duration_ms: u64,
    video_frames: u64,
}

/// Codec facts of the stream's current configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Facts {
    video_codec: Option<String>,
    audio_codec: Option<String>,
    resolution: Option<(u32, u32)>,
    sps_frame_rate_milli: Option<u32>,
}

#[derive(Debug, Default)]
pub(crate) struct BandwidthMeter {
    window: VecDeque<Measured>,
    /// Bytes and video frames of the open segment.
    open_bytes: u64,
    open_video_frames: u64,
    facts: Facts,
    /// Demuxer generations the facts were taken from.
    generations: Option<(u32, u32)>,
}

impl BandwidthMeter {
    /// Takes the codec facts from the stream's configuration when it changed.
    pub fn observe(&mut self, codecs: &Demuxer) {
        let generations = (codecs.video_generation(), codecs.audio_generation());
        if self.generations == Some(generations) {
            return;
        }
        self.generations = Some(generations);
        let video = codecs.video().map(|t| &t.config);
        let sps_rate = match video {
            Some(VideoConfig::Avc(c)) => c.sps_info.and_then(|s| s.frame_rate_milli),
            _ => None,
        };
        self.facts = Facts {
            video_codec: video.map(VideoConfig::codec_string),
            audio_codec: codecs.audio().map(|t| t.config.codec_string()),
            resolution: video.and_then(VideoConfig::size),
            sps_frame_rate_milli: sps_rate,
        };
    }

    /// Bytes written into the open segment.
    pub fn wrote(&mut self, bytes: usize) {
        self.open_bytes = self.open_bytes.saturating_add(bytes as u64);
    }

    /// A video frame of the track `config` configures went into the open segment.
    pub fn video_frame(&mut self, config: &VideoConfig, frame: &Frame) {
        self.open_video_frames += 1;
        if self.facts.resolution.is_none() && frame.keyframe {
            self.facts.resolution = picture_size(config, frame);
        }
    }

    /// The open segment completed as media sequence number `sequence`.
    pub fn close(&mut self, sequence: u64, duration_ms: u64) {
        self.window.push_back(Measured {
            sequence,
            bytes: std::mem::take(&mut self.open_bytes),
            duration_ms: duration_ms.max(1),
            video_frames: std::mem::take(&mut self.open_video_frames),
        });
    }

    /// Forgets segments that left the playlist window.
    pub fn retain_from(&mut self, first_sequence: u64) {
        while self
            .window
            .front()
            .is_some_and(|m| m.sequence < first_sequence)
        {
            self.window.pop_front();
        }
    }

    /// The measurement, once a segment is complete.
    pub fn info(&self) -> Option<VariantInfo> {
        if self.window.is_empty() {
            return None;
        }
        let rate = |bytes: u64, ms: u64| bytes.saturating_mul(8_000) / ms.max(1);
        let peak = self
            .window
            .iter()
            .map(|m| rate(m.bytes, m.duration_ms))
            .max()
            .unwrap_or(0);
        let bytes: u64 = self.window.iter().map(|m| m.bytes).sum();
        let ms: u64 = self.window.iter().map(|m| m.duration_ms).sum();
        let codecs = match (&self.facts.video_codec, &self.facts.audio_codec) {
            (Some(v), Some(a)) => Some(format!("{v},{a}")),
            (Some(one), None) | (None, Some(one)) => Some(one.clone()),
            (None, None) => None,
        };
        Some(VariantInfo {
            bandwidth_peak: peak,
            bandwidth_avg: rate(bytes, ms),
            codecs,
            resolution: self.facts.resolution,
            frame_rate_milli: self
                .facts
                .sps_frame_rate_milli
                .or_else(|| self.measured_frame_rate_milli()),
        })
    }

    /// Video frames per second × 1000 over the window's segments that carry video.
    fn measured_frame_rate_milli(&self) -> Option<u32> {
        let (frames, ms) = self
            .window
            .iter()
            .filter(|m| m.video_frames > 0)
            .fold((0u64, 0u64), |(f, d), m| {
                (f + m.video_frames, d + m.duration_ms)
            });
        if frames == 0 {
            return None;
        }
        let milli = frames.saturating_mul(1_000_000) / ms.max(1);
        u32::try_from(milli).ok().filter(|&m| m > 0)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::media::{Track, VideoFourCc};

    /// FFmpeg 9's libvpx-vp9 320x240: its configuration, its first key frame, and that frame
    /// made an inter frame (`frame_type` 1).
    fn vp9() -> (VideoConfig, Frame, Frame) {
        let seq = include_bytes!("../../tests/fixtures/ertmp/vp9_seq_start.bin");
        let key = include_bytes!("../../tests/fixtures/ertmp/vp9_key_cut.bin");
        // Past the extended header: one byte and the FourCC.
        let config = VideoConfig::parse(VideoFourCc::Vp9, &Bytes::copy_from_slice(&seq[5..]))
            .expect("FFmpeg's VP9 record");
        let frame = |keyframe: bool| {
            let mut data = key[5..].to_vec();
            if !keyframe {
                data[0] |= 0x04;
            }
            Frame {
                track: Track::Video,
                track_id: 0,
                dts: 0,
                pts: 0,
                keyframe,
                data: Bytes::from(data),
            }
        };
        (config, frame(true), frame(false))
    }

    #[test]
    fn a_vp9_resolution_comes_from_its_first_key_frame() {
        let (config, key, inter) = vp9();
        let mut m = BandwidthMeter::default();
        m.video_frame(&config, &inter);
        m.close(0, 1_000);
        assert_eq!(m.info().unwrap().resolution, None);
        m.video_frame(&config, &key);
        m.close(1, 1_000);
        assert_eq!(m.info().unwrap().resolution, Some((320, 240)));
    }

    #[test]
    fn peak_and_average_over_the_window() {
        let (config, _, inter) = vp9();
        let mut m = BandwidthMeter::default();
        assert_eq!(m.info(), None);
        // 250 kB in 2 s = 1 Mbit/s; 500 kB in 2 s = 2 Mbit/s; 100 kB in 1 s = 800 kbit/s.
        for (seq, bytes, ms) in [
            (0, 250_000, 2_000),
            (1, 500_000, 2_000),
            (2, 100_000, 1_000),
        ] {
            m.wrote(bytes);
            for _ in 0..ms / 40 {
                m.video_frame(&config, &inter);
            }
            m.close(seq, ms);
        }
        let info = m.info().unwrap();
        assert_eq!(info.bandwidth_peak, 2_000_000);
        assert_eq!(info.bandwidth_avg, 850_000 * 8 / 5);
        assert_eq!(info.frame_rate_milli, Some(25_000));
        assert_eq!(info.codecs, None);
        m.retain_from(2);
        let info = m.info().unwrap();
        assert_eq!(info.bandwidth_peak, 800_000);
        assert_eq!(info.bandwidth_avg, 800_000);
    }

    #[test]
    fn measured_rate_skips_audio_only_segments() {
        let mut m = BandwidthMeter::default();
        m.wrote(1000);
        m.close(0, 3_000);
        assert_eq!(m.info().unwrap().frame_rate_milli, None);
        let (config, _, inter) = vp9();
        for _ in 0..60 {
            m.video_frame(&config, &inter);
        }
        m.close(1, 2_002);
        assert_eq!(m.info().unwrap().frame_rate_milli, Some(29_970));
    }
}
