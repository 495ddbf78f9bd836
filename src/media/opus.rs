//! Opus: the identification header `OpusHead` (RFC 7845 5.1) that an enhanced `Opus`
//! SequenceStart carries, its ISOBMFF form (`dOps`, Encapsulation of Opus in ISO Base Media
//! File Format 4.3.2) and its `codecs` string.

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use bytes::Bytes;

use super::bits::ByteReader;
use super::error::MediaError;

const MAGIC: &[u8; 8] = b"OpusHead";

/// A parsed OpusHead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpusHead {
    /// Output channel count (1..=255).
    pub channels: u8,
    /// Samples at 48 kHz to discard from the decoder output at the start.
    pub pre_skip: u16,
    /// Sample rate of the encoder's input, informational (0 when unknown).
    pub input_sample_rate: u32,
    /// Q7.8 dB.
    pub output_gain: i16,
    /// 0: mono/stereo, 1: Vorbis order surround, 255: unordered.
    pub mapping_family: u8,
    /// For families other than 0: the stream count, the coupled stream count and one mapping
    /// byte per channel.
    pub mapping: Option<ChannelMapping>,
}

/// The channel mapping table of an OpusHead whose family is not 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelMapping {
    pub streams: u8,
    pub coupled_streams: u8,
    pub mapping: Bytes,
}

impl OpusHead {
    /// Parses an OpusHead (the whole SequenceStart body).
    pub fn parse(head: &Bytes) -> Result<Self, MediaError> {
        let mut r = ByteReader::new(head);
        if r.take(8, "OpusHead magic")? != MAGIC {
            return Err(MediaError::Invalid("OpusHead magic"));
        }
        // Major version 0 (the high nibble); minor versions stay compatible.
        if r.u8("OpusHead version")? >> 4 != 0 {
            return Err(MediaError::Unsupported("OpusHead major version"));
        }
        let channels = r.u8("OpusHead channels")?;
        if channels == 0 {
            return Err(MediaError::Invalid("OpusHead channels"));
        }
        let pre_skip = u16::from_le_bytes(le::<2>(&mut r, "OpusHead pre-skip")?);
        let input_sample_rate = u32::from_le_bytes(le::<4>(&mut r, "OpusHead input rate")?);
        let output_gain = i16::from_le_bytes(le::<2>(&mut r, "OpusHead output gain")?);
        let mapping_family = r.u8("OpusHead mapping family")?;
        let mapping = if mapping_family == 0 {
            if channels > 2 {
                return Err(MediaError::Invalid(
                    "OpusHead family 0 with more than 2 channels",
                ));
            }
            None
        } else {
            let streams = r.u8("OpusHead stream count")?;
            let coupled_streams = r.u8("OpusHead coupled count")?;
            // RFC 7845 5.1.1: N > 0, M <= N, and the decoded channels M + N fit 255.
            let total = u16::from(streams) + u16::from(coupled_streams);
            if streams == 0 || coupled_streams > streams || total > 255 {
                return Err(MediaError::Invalid("OpusHead stream counts"));
            }
            // Family 1 is the Vorbis channel order, defined for 1 to 8 channels only.
            if mapping_family == 1 && channels > 8 {
                return Err(MediaError::Invalid(
                    "OpusHead family 1 with more than 8 channels",
                ));
            }
            let start = r.position();
            let n = usize::from(channels);
            let table = r.take(n, "OpusHead channel mapping")?;
            if table.iter().any(|&m| m != 255 && u16::from(m) >= total) {
                return Err(MediaError::Invalid("OpusHead channel mapping"));
            }
            Some(ChannelMapping {
                streams,
                coupled_streams,
                mapping: head.slice(start..start + n),
            })
        };
        Ok(Self {
            channels,
            pre_skip,
            input_sample_rate,
            output_gain,
            mapping_family,
            mapping,
        })
    }

    /// The RFC 6381 `codecs` value of the Opus ISOBMFF binding.
    pub fn codec_string(&self) -> &'static str {
        "opus"
    }

    /// The payload of an OpusSpecificBox (`dOps`): version 0, then the same fields in
    /// big-endian order.
    pub fn dops(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(11 + usize::from(self.channels) + 2);
        v.push(0);
        v.push(self.channels);
        v.extend_from_slice(&self.pre_skip.to_be_bytes());
        v.extend_from_slice(&self.input_sample_rate.to_be_bytes());
        v.extend_from_slice(&self.output_gain.to_be_bytes());
        v.push(self.mapping_family);
        if let Some(m) = &self.mapping {
            v.push(m.streams);
            v.push(m.coupled_streams);
            v.extend_from_slice(&m.mapping);
        }
        v
    }
}

/// Samples at 48 kHz that one Opus packet decodes to, from its TOC byte (RFC 6716 3.1):
/// the frame size of its configuration times its frame count. `None` for an empty packet
/// or a code 3 packet without its frame count byte.
pub fn packet_samples(packet: &[u8]) -> Option<u32> {
    let toc = *packet.first()?;
    let config = toc >> 3;
    // Frame sizes in 48 kHz samples: SILK 10/20/40/60 ms, hybrid 10/20 ms, CELT 2.5/5/10/20.
    let frame = match (config, config % 4) {
        (0..=11, 0) => 480,
        (0..=11, 1) => 960,
        (0..=11, 2) => 1920,
        (0..=11, _) => 2880,
        (12..=15, 0 | 2) => 480,
        (12..=15, _) => 960,
        (_, 0) => 120,
        (_, 1) => 240,
        (_, 2) => 480,
        (_, _) => 960,
    };
    let frames = match toc & 3 {
        0 => 1,
        1 | 2 => 2,
        _ => u32::from(*packet.get(1)? & 0x3f),
    };
    Some(frame * frames)
}

fn le<const N: usize>(r: &mut ByteReader<'_>, what: &'static str) -> Result<[u8; N], MediaError> {
    let mut out = [0u8; N];
    for (dst, src) in out.iter_mut().zip(r.take(N, what)?) {
        *dst = *src;
    }
    Ok(out)
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

    /// FFmpeg 9's `Opus` SequenceStart body (libopus, 48 kHz mono).
    const FFMPEG_OPUS_HEAD: [u8; 19] = [
        0x4f, 0x70, 0x75, 0x73, 0x48, 0x65, 0x61, 0x64, 0x01, 0x01, 0x38, 0x01, 0x80, 0xbb, 0x00,
        0x00, 0x00, 0x00, 0x00,
    ];

    #[test]
    fn ffmpeg_head() {
        let h = OpusHead::parse(&Bytes::from_static(&FFMPEG_OPUS_HEAD)).unwrap();
        assert_eq!(h.channels, 1);
        assert_eq!(h.pre_skip, 312);
        assert_eq!(h.input_sample_rate, 48_000);
        assert_eq!(h.mapping_family, 0);
        assert_eq!(h.mapping, None);
        assert_eq!(h.codec_string(), "opus");
        assert_eq!(h.dops(), [0, 1, 0x01, 0x38, 0, 0, 0xbb, 0x80, 0, 0, 0]);
    }

    #[test]
    fn packet_durations() {
        // CELT 20 ms, one frame (what libopus sends by default).
        assert_eq!(packet_samples(&[0xfc, 0xff]), Some(960));
        // SILK NB 60 ms, two frames.
        assert_eq!(packet_samples(&[(3 << 3) | 1]), Some(5760));
        // Hybrid 10 ms, code 3 with 3 frames.
        assert_eq!(packet_samples(&[(12 << 3) | 3, 3]), Some(1440));
        assert_eq!(packet_samples(&[(12 << 3) | 3]), None);
        assert_eq!(packet_samples(&[]), None);
    }

    #[test]
    fn every_cut_is_an_error() {
        for n in 0..FFMPEG_OPUS_HEAD.len() {
            let cut = Bytes::copy_from_slice(&FFMPEG_OPUS_HEAD[..n]);
            assert!(
                matches!(OpusHead::parse(&cut), Err(MediaError::Truncated(_))),
                "prefix {n}"
            );
        }
    }

    #[test]
    fn surround_mapping() {
        // 5.1, family 1: 4 streams, 2 coupled, Vorbis order.
        let mut b = FFMPEG_OPUS_HEAD.to_vec();
        b[9] = 6;
        b[18] = 1;
        b.extend_from_slice(&[4, 2, 0, 4, 1, 2, 3, 5]);
        let h = OpusHead::parse(&Bytes::from(b.clone())).unwrap();
        let m = h.mapping.clone().unwrap();
        assert_eq!((m.streams, m.coupled_streams), (4, 2));
        assert_eq!(&m.mapping[..], &[0, 4, 1, 2, 3, 5]);
        assert_eq!(h.dops().len(), 11 + 2 + 6);
        // A mapping entry past the streams is invalid; a short table is truncated.
        let mut bad = b.clone();
        bad[22] = 9;
        assert!(matches!(
            OpusHead::parse(&Bytes::from(bad)),
            Err(MediaError::Invalid(_))
        ));
        b.pop();
        assert!(matches!(
            OpusHead::parse(&Bytes::from(b)),
            Err(MediaError::Truncated(_))
        ));
        // Family 0 with 6 channels is invalid.
        let mut f0 = FFMPEG_OPUS_HEAD;
        f0[9] = 6;
        assert!(OpusHead::parse(&Bytes::copy_from_slice(&f0)).is_err());
    }
}
