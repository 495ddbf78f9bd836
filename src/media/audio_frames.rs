//! How long a coded audio frame lasts, in samples of its track's media timescale: what the
//! fMP4 writers (DASH, MP4 recording) lay audio frames end to end with, so that the
//! millisecond timestamps of RTMP do not make the audio track drift or jitter.

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use super::codec_config::AudioConfig;

/// Samples per AAC frame (the core coder's; the media timescale is the core rate).
pub const AAC_FRAME_SAMPLES: u64 = 1024;
/// Opus is always decoded at 48 kHz: the media timescale of an Opus track.
pub const OPUS_SAMPLE_RATE: u32 = 48_000;
/// An Opus packet lasts at most 120 ms (RFC 6716 3.2.5).
const OPUS_MAX_PACKET_SAMPLES: u64 = 5_760;

/// Samples (at 48 kHz) of one Opus packet, from its TOC byte and, for code 3, its frame
/// count byte (RFC 6716 3.1). `None` for an empty or malformed packet.
pub fn opus_packet_samples(packet: &[u8]) -> Option<u64> {
    let toc = *packet.first()?;
    let config = toc >> 3;
    // Frame sizes at 48 kHz: SILK-only 10/20/40/60 ms, hybrid 10/20 ms, CELT-only
    // 2.5/5/10/20 ms.
    let frame: u64 = match (config, config % 4) {
        (0..=11, 0) | (12..=15, 0 | 2) | (16.., 2) => 480,
        (0..=11, 1) | (12..=15, 1 | 3) | (16.., 3) => 960,
        (0..=11, 2) => 1920,
        (0..=11, _) => 2880,
        (_, 0) => 120,
        _ => 240,
    };
    let frames: u64 = match toc & 0x03 {
        0 => 1,
        1 | 2 => 2,
        _ => u64::from(*packet.get(1)? & 0x3f),
    };
    let samples = frame * frames;
    (frames > 0 && samples <= OPUS_MAX_PACKET_SAMPLES).then_some(samples)
}

impl AudioConfig {
    /// The media timescale of the track: the AAC (core) sampling rate, 48 kHz for Opus.
    pub fn timescale(&self) -> u32 {
        match self {
            Self::Aac(asc) => asc.sample_rate.max(1),
            Self::Opus(_) => OPUS_SAMPLE_RATE,
        }
    }

    /// The sampling rate a player outputs (the extension rate of HE-AAC).
    pub fn output_rate(&self) -> u32 {
        match self {
            Self::Aac(asc) => asc.extension_sample_rate.unwrap_or(asc.sample_rate),
            Self::Opus(_) => OPUS_SAMPLE_RATE,
        }
    }

    /// Output channels (an empty Opus SequenceStart means stereo or less: 2).
    pub fn channels(&self) -> u8 {
        match self {
            Self::Aac(asc) => asc.channels(),
            Self::Opus(head) => head.as_ref().map_or(2, |h| h.channels),
        }
    }

    /// Samples of the coded frame `data` in [`AudioConfig::timescale`], when the bitstream
    /// tells (otherwise the timestamps do).
    pub fn frame_samples(&self, data: &[u8]) -> Option<u64> {
        match self {
            Self::Aac(_) => Some(AAC_FRAME_SAMPLES),
            Self::Opus(_) => opus_packet_samples(data),
        }
    }
}

/// Places audio frames on a track's timeline: end to end (in samples) while the timestamps
/// agree within 200 ms, so that the rounding of millisecond timestamps neither drifts nor
/// jitters; at the timestamp otherwise, never before the previous frame.
#[derive(Debug, Clone, Copy, Default)]
pub struct AudioClock {
    next: Option<u64>,
    last: Option<u64>,
}

impl AudioClock {
    /// The decode time, in a timescale of `rate`, of a frame at `ms` that lasts `samples`
    /// (when its bitstream tells).
    pub fn place(&mut self, rate: u64, ms: u64, samples: Option<u64>) -> u64 {
        let expected = ms.saturating_mul(rate) / 1000;
        let time = match self.next {
            Some(n) if n.abs_diff(expected) <= rate / 5 => n,
            _ => expected.max(self.last.unwrap_or(0)),
        };
        self.next = samples.map(|s| time.saturating_add(s));
        self.last = Some(time);
        time
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn opus_toc() {
        // CELT 20 ms, one frame (what libopus writes by default).
        assert_eq!(opus_packet_samples(&[0xfc, 0xff]), Some(960));
        // SILK 60 ms, two frames: 120 ms.
        assert_eq!(opus_packet_samples(&[(3 << 3) | 1]), Some(5760));
        // Hybrid 10 ms, code 3 with 4 frames.
        assert_eq!(opus_packet_samples(&[(12 << 3) | 3, 4]), Some(1920));
        // CELT 2.5 ms, code 3 with 0 frames, or too many: malformed.
        assert_eq!(opus_packet_samples(&[(16 << 3) | 3, 0]), None);
        assert_eq!(opus_packet_samples(&[(3 << 3) | 3, 3]), None);
        assert_eq!(opus_packet_samples(&[(16 << 3) | 3]), None);
        assert_eq!(opus_packet_samples(&[]), None);
    }

    #[test]
    fn frames_end_to_end_while_timestamps_agree() {
        let mut c = AudioClock::default();
        // 1024-sample frames at 44.1 kHz: 23.2 ms, timestamps rounded to ms.
        let times: Vec<u64> = [0, 23, 46, 70]
            .iter()
            .map(|&ms| c.place(44_100, ms, Some(1024)))
            .collect();
        assert_eq!(times, [0, 1024, 2048, 3072]);
        // A gap of a second: back on the timestamps.
        assert_eq!(c.place(44_100, 1093, Some(1024)), 48_201);
        // Unknown lengths: each frame at its timestamp, never going back.
        assert_eq!(c.place(48_000, 2000, None), 96_000);
        assert_eq!(c.place(48_000, 1000, None), 96_000);
    }

    #[test]
    fn timescales() {
        let opus = AudioConfig::Opus(None);
        assert_eq!(opus.timescale(), 48_000);
        assert_eq!(opus.channels(), 2);
        assert_eq!(opus.frame_samples(&[0xfc]), Some(960));
        let asc =
            crate::media::AudioSpecificConfig::parse(&bytes::Bytes::from_static(&[0x12, 0x10]))
                .unwrap();
        let aac = AudioConfig::Aac(asc);
        assert_eq!(aac.timescale(), 44_100);
        assert_eq!(aac.frame_samples(&[1, 2, 3]), Some(1024));
    }
}
