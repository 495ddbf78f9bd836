//! The configuration of one Enhanced RTMP track, parsed from its SequenceStart packet by
//! FourCC: what a demuxer keeps per track and what stat and master playlists read from it.

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use bytes::Bytes;

use super::aac::AudioSpecificConfig;
use super::av1::Av1Config;
use super::avc::AvcConfig;
use super::codecs::{aac_codec, avc_codec};
use super::error::MediaError;
use super::fourcc::{AudioFourCc, VideoFourCc};
use super::hevc::HevcConfig;
use super::opus::OpusHead;
use super::vp9::VpConfig;

/// A video track's configuration record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoConfig {
    Avc(AvcConfig),
    Hevc(HevcConfig),
    Av1(Av1Config),
    Vp9(VpConfig),
}

impl VideoConfig {
    /// Parses the body of a SequenceStart packet of a track with this FourCC.
    pub fn parse(fourcc: VideoFourCc, record: &Bytes) -> Result<Self, MediaError> {
        Ok(match fourcc {
            VideoFourCc::Avc => Self::Avc(AvcConfig::parse(record)?),
            VideoFourCc::Hevc => Self::Hevc(HevcConfig::parse(record)?),
            VideoFourCc::Av1 => Self::Av1(Av1Config::parse(record)?),
            VideoFourCc::Vp9 => Self::Vp9(VpConfig::parse(record)?),
        })
    }

    /// The RFC 6381 `codecs` value.
    pub fn codec_string(&self) -> String {
        match self {
            Self::Avc(c) => avc_codec(c),
            Self::Hevc(c) => c.codec_string(),
            Self::Av1(c) => c.codec_string(),
            Self::Vp9(c) => c.codec_string(),
        }
    }

    /// The FourCC of the codec.
    pub fn fourcc(&self) -> VideoFourCc {
        match self {
            Self::Avc(_) => VideoFourCc::Avc,
            Self::Hevc(_) => VideoFourCc::Hevc,
            Self::Av1(_) => VideoFourCc::Av1,
            Self::Vp9(_) => VideoFourCc::Vp9,
        }
    }

    /// Profile name as the stat page shows it ("High", "Main", ...), where the codec has names.
    pub fn profile_name(&self) -> Option<&'static str> {
        match self {
            Self::Avc(c) => Some(c.profile_name()),
            Self::Hevc(c) => Some(c.profile_name()),
            Self::Av1(c) => Some(c.profile_name()),
            Self::Vp9(_) => None,
        }
    }

    /// Level as the stat page shows it ("3.1").
    pub fn level_string(&self) -> String {
        match self {
            Self::Avc(c) => c.level_string(),
            Self::Hevc(c) => c.level_string(),
            Self::Av1(c) => c.level_string(),
            Self::Vp9(c) => c.level_string(),
        }
    }

    /// Codec name as the stat page shows it.
    pub fn codec_name(&self) -> &'static str {
        match self {
            Self::Avc(_) => "H264",
            Self::Hevc(_) => "HEVC",
            Self::Av1(_) => "AV1",
            Self::Vp9(_) => "VP9",
        }
    }

    /// Picture size, when the record tells it (AV1: the sequence header's maximum; VP9 records
    /// do not carry one).
    pub fn size(&self) -> Option<(u32, u32)> {
        match self {
            Self::Avc(c) => c.sps_info.map(|s| (s.width, s.height)),
            Self::Hevc(c) => c.sps_info.map(|s| (s.width, s.height)),
            Self::Av1(c) => c.max_size,
            Self::Vp9(_) => None,
        }
    }

    /// Length of the NAL unit size prefix of coded frames, for the NAL unit codecs.
    pub fn nal_length_size(&self) -> Option<u8> {
        match self {
            Self::Avc(c) => Some(c.nal_length_size),
            Self::Hevc(c) => Some(c.nal_length_size),
            Self::Av1(_) | Self::Vp9(_) => None,
        }
    }
}

/// An audio track's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioConfig {
    Aac(AudioSpecificConfig),
    /// `None`: an empty Opus SequenceStart, which the specification allows (mono/stereo, or
    /// the layout of a MultichannelConfig packet).
    Opus(Option<OpusHead>),
}

impl AudioConfig {
    /// Parses the body of a SequenceStart packet; codecs we do not carry yet (FLAC, AC-3,
    /// E-AC-3, MP3) are `Unsupported`.
    pub fn parse(fourcc: AudioFourCc, body: &Bytes) -> Result<Self, MediaError> {
        match fourcc {
            AudioFourCc::Aac => Ok(Self::Aac(AudioSpecificConfig::parse(body)?)),
            AudioFourCc::Opus if body.is_empty() => Ok(Self::Opus(None)),
            AudioFourCc::Opus => Ok(Self::Opus(Some(OpusHead::parse(body)?))),
            AudioFourCc::Flac => Err(MediaError::Unsupported("audio codec FLAC")),
            AudioFourCc::Ac3 => Err(MediaError::Unsupported("audio codec AC-3")),
            AudioFourCc::Eac3 => Err(MediaError::Unsupported("audio codec E-AC-3")),
            AudioFourCc::Mp3 => Err(MediaError::Unsupported("audio codec MP3")),
        }
    }

    pub fn codec_string(&self) -> String {
        match self {
            Self::Aac(asc) => aac_codec(asc),
            Self::Opus(_) => "opus".into(),
        }
    }

    /// The FourCC of the codec.
    pub fn fourcc(&self) -> AudioFourCc {
        match self {
            Self::Aac(_) => AudioFourCc::Aac,
            Self::Opus(_) => AudioFourCc::Opus,
        }
    }

    pub fn codec_name(&self) -> &'static str {
        match self {
            Self::Aac(_) => "AAC",
            Self::Opus(_) => "Opus",
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::media::ex_header::{parse_ex_video, VideoPacket};

    #[test]
    fn by_fourcc() {
        for (msg, name, codecs, size) in [
            (
                &include_bytes!("../../tests/fixtures/ertmp/hevc_seq_start.bin")[..],
                "HEVC",
                "hvc1.1.6.L60.90",
                Some((320, 240)),
            ),
            (
                &include_bytes!("../../tests/fixtures/ertmp/av1_seq_start.bin")[..],
                "AV1",
                "av01.0.00M.08",
                Some((320, 240)),
            ),
            (
                &include_bytes!("../../tests/fixtures/ertmp/vp9_seq_start.bin")[..],
                "VP9",
                "vp09.00.20.08",
                None,
            ),
        ] {
            let v = parse_ex_video(&Bytes::from_static(msg)).unwrap();
            let t = v.tracks().first().unwrap();
            let VideoPacket::SequenceStart(record) = &t.packet else {
                unreachable!("fixture is a sequence start")
            };
            let cfg = VideoConfig::parse(t.fourcc, record).unwrap();
            assert_eq!(cfg.codec_name(), name);
            assert_eq!(cfg.codec_string(), codecs);
            assert_eq!(cfg.size(), size);
        }
        let opus = AudioConfig::parse(AudioFourCc::Opus, &Bytes::new()).unwrap();
        assert_eq!(opus.codec_string(), "opus");
        let aac = AudioConfig::parse(AudioFourCc::Aac, &Bytes::from_static(&[0x12, 0x10]));
        assert_eq!(aac.unwrap().codec_string(), "mp4a.40.2");
        assert!(matches!(
            AudioConfig::parse(AudioFourCc::Flac, &Bytes::new()),
            Err(MediaError::Unsupported(_))
        ));
    }
}
