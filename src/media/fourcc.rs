//! Four-character codec codes of Enhanced RTMP (FOURCC, a big-endian UI32 on the wire) and the
//! codecs we know them for.

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::fmt;

/// Any four bytes read where the specification puts a FOURCC.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FourCc(pub [u8; 4]);

impl FourCc {
    pub const fn new(code: &[u8; 4]) -> Self {
        Self(*code)
    }

    /// The code as a big-endian number, as the wire carries it.
    pub fn as_u32(self) -> u32 {
        u32::from_be_bytes(self.0)
    }
}

impl fmt::Display for FourCc {
    /// Printable ASCII as is, anything else as `\xNN`, so a hostile code cannot forge log lines.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            if b.is_ascii_graphic() || b == b' ' {
                write!(f, "{}", char::from(b))?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for FourCc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FourCc(\"{self}\")")
    }
}

/// Video codecs of the enhanced header that we parse. The specification also names `vp08`
/// and `vvc1`; they (and any other code) are unsupported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VideoFourCc {
    /// `avc1`: H.264 with an AVCDecoderConfigurationRecord.
    Avc,
    /// `hvc1`: HEVC with an HEVCDecoderConfigurationRecord.
    Hevc,
    /// `av01`: AV1 with an AV1CodecConfigurationRecord.
    Av1,
    /// `vp09`: VP9 with a VPCodecConfigurationRecord.
    Vp9,
}

impl VideoFourCc {
    pub fn from_fourcc(code: FourCc) -> Option<Self> {
        match &code.0 {
            b"avc1" => Some(Self::Avc),
            b"hvc1" => Some(Self::Hevc),
            b"av01" => Some(Self::Av1),
            b"vp09" => Some(Self::Vp9),
            _ => None,
        }
    }

    pub fn fourcc(self) -> FourCc {
        FourCc::new(match self {
            Self::Avc => b"avc1",
            Self::Hevc => b"hvc1",
            Self::Av1 => b"av01",
            Self::Vp9 => b"vp09",
        })
    }

    /// NAL-unit codecs carry a SI24 composition time offset in CodedFrames packets.
    pub fn has_composition_time(self) -> bool {
        matches!(self, Self::Avc | Self::Hevc)
    }
}

/// Audio codecs of the enhanced header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AudioFourCc {
    /// `Opus`
    Opus,
    /// `mp4a`: AAC with an AudioSpecificConfig.
    Aac,
    /// `fLaC`
    Flac,
    /// `ac-3`
    Ac3,
    /// `ec-3`
    Eac3,
    /// `.mp3`
    Mp3,
}

impl AudioFourCc {
    pub fn from_fourcc(code: FourCc) -> Option<Self> {
        match &code.0 {
            b"Opus" => Some(Self::Opus),
            b"mp4a" => Some(Self::Aac),
            b"fLaC" => Some(Self::Flac),
            b"ac-3" => Some(Self::Ac3),
            b"ec-3" => Some(Self::Eac3),
            b".mp3" => Some(Self::Mp3),
            _ => None,
        }
    }

    pub fn fourcc(self) -> FourCc {
        FourCc::new(match self {
            Self::Opus => b"Opus",
            Self::Aac => b"mp4a",
            Self::Flac => b"fLaC",
            Self::Ac3 => b"ac-3",
            Self::Eac3 => b"ec-3",
            Self::Mp3 => b".mp3",
        })
    }
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_display() {
        for v in [
            VideoFourCc::Avc,
            VideoFourCc::Hevc,
            VideoFourCc::Av1,
            VideoFourCc::Vp9,
        ] {
            assert_eq!(VideoFourCc::from_fourcc(v.fourcc()), Some(v));
        }
        for a in [
            AudioFourCc::Opus,
            AudioFourCc::Aac,
            AudioFourCc::Flac,
            AudioFourCc::Ac3,
            AudioFourCc::Eac3,
            AudioFourCc::Mp3,
        ] {
            assert_eq!(AudioFourCc::from_fourcc(a.fourcc()), Some(a));
        }
        assert_eq!(VideoFourCc::from_fourcc(FourCc::new(b"vvc1")), None);
        assert_eq!(FourCc::new(b"hvc1").as_u32(), 0x6876_6331);
        assert_eq!(
            FourCc([b'a', 0, b'\n', 0xff]).to_string(),
            "a\\x00\\x0a\\xff"
        );
    }
}
