//! Enhanced RTMP extended audio tag header (v2): the parsed view of one RTMP audio message
//! whose SoundFormat is 9 (`ExHeader`). Framing rules (ModEx, multitrack, limits) are those of
//! [`super::ex_header`].

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use bytes::Bytes;

use super::bits::ByteReader;
use super::error::MediaError;
use super::ex_header::{read_fourcc, read_mod_ex, split_tracks, AvMultitrackType, Layout};
use super::fourcc::AudioFourCc;
use super::per_track::PerTrack;

/// SoundFormat value that switches the audio header to FOURCC mode.
const EX_HEADER: u8 = 9;

/// AudioPacketType (UB[4]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioPacketType {
    SequenceStart,
    CodedFrames,
    SequenceEnd,
    MultichannelConfig,
    Multitrack,
    ModEx,
}

impl AudioPacketType {
    fn from_bits(v: u8) -> Result<Self, MediaError> {
        match v {
            0 => Ok(Self::SequenceStart),
            1 => Ok(Self::CodedFrames),
            2 => Ok(Self::SequenceEnd),
            4 => Ok(Self::MultichannelConfig),
            5 => Ok(Self::Multitrack),
            7 => Ok(Self::ModEx),
            _ => Err(MediaError::Unsupported("reserved audio packet type")),
        }
    }
}

/// Speaker layout of a MultichannelConfig packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelOrder {
    /// Only the channel count is known.
    Unspecified,
    /// Channels in the specification's AudioChannel order; the UI32 AudioChannelMask says
    /// which are present.
    Native { mask: u32 },
    /// One AudioChannel byte per channel, in bitstream order.
    Custom { mapping: Bytes },
}

/// A MultichannelConfig packet (needed when the codec does not describe its channels).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultichannelConfig {
    pub channel_count: u8,
    pub order: ChannelOrder,
}

impl MultichannelConfig {
    /// Parses the body of a MultichannelConfig packet.
    pub fn parse(body: &Bytes) -> Result<Self, MediaError> {
        let mut r = ByteReader::new(body);
        let order = r.u8("audio channel order")?;
        let channel_count = r.u8("audio channel count")?;
        let order = match order {
            0 => ChannelOrder::Unspecified,
            1 => ChannelOrder::Native {
                mask: r.u32("audio channel mask")?,
            },
            2 => {
                let start = r.position();
                let n = usize::from(channel_count);
                r.take(n, "audio channel mapping")?;
                ChannelOrder::Custom {
                    mapping: body.slice(start..start + n),
                }
            }
            _ => return Err(MediaError::Unsupported("reserved audio channel order")),
        };
        Ok(Self {
            channel_count,
            order,
        })
    }
}

/// One track's packet of an extended audio message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioPacket {
    /// The codec's configuration: AudioSpecificConfig (`mp4a`), OpusHead (`Opus`, may be
    /// empty), `fLaC` + STREAMINFO (`fLaC`).
    SequenceStart(Bytes),
    /// Coded audio frame(s).
    CodedFrames(Bytes),
    SequenceEnd,
    MultichannelConfig(MultichannelConfig),
}

/// One track of an extended audio message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioTrackPacket {
    /// 0 when the message is not multitrack.
    pub track_id: u8,
    pub fourcc: AudioFourCc,
    pub packet: AudioPacket,
}

/// A parsed extended audio message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExAudio {
    /// ModEx TimestampOffsetNano (0..=999_999 ns).
    pub timestamp_offset_ns: u32,
    pub multitrack: Option<AvMultitrackType>,
    /// At least one, at most [`super::ex_header::MAX_TRACKS`], distinct track ids, one packet
    /// type.
    pub tracks: PerTrack<AudioTrackPacket>,
}

/// True when an audio message payload starts with the extended header (SoundFormat 9).
pub fn is_ex_audio(payload: &[u8]) -> bool {
    payload.first().is_some_and(|b| b >> 4 == EX_HEADER)
}

/// Parses one extended audio message (an RTMP type 8 payload, or an FLV audio tag body).
pub fn parse_ex_audio(payload: &Bytes) -> Result<ExAudio, MediaError> {
    let mut r = ByteReader::new(payload);
    let b0 = r.u8("audio tag header")?;
    if b0 >> 4 != EX_HEADER {
        return Err(MediaError::Invalid("not an extended audio header"));
    }
    let (packet_bits, timestamp_offset_ns) = read_mod_ex(&mut r, b0 & 0x0f, "audio ModEx")?;
    let packet_type = AudioPacketType::from_bits(packet_bits)?;
    let (packet_type, layout) = if packet_type == AudioPacketType::Multitrack {
        let b = r.u8("audio multitrack type")?;
        let kind = AvMultitrackType::from_bits(b >> 4)?;
        let inner = AudioPacketType::from_bits(b & 0x0f)?;
        if matches!(inner, AudioPacketType::Multitrack | AudioPacketType::ModEx) {
            return Err(MediaError::Invalid("nested audio packet type"));
        }
        (inner, Layout::multi(&mut r, kind)?)
    } else {
        (packet_type, Layout::Single(read_fourcc(&mut r)?))
    };
    let tracks = split_tracks(payload, &mut r, layout)?.try_map(|t| {
        let fourcc =
            AudioFourCc::from_fourcc(t.fourcc).ok_or(MediaError::UnknownFourCc(t.fourcc))?;
        let packet = match packet_type {
            AudioPacketType::SequenceStart => AudioPacket::SequenceStart(t.body),
            AudioPacketType::CodedFrames => AudioPacket::CodedFrames(t.body),
            AudioPacketType::SequenceEnd => AudioPacket::SequenceEnd,
            AudioPacketType::MultichannelConfig => {
                AudioPacket::MultichannelConfig(MultichannelConfig::parse(&t.body)?)
            }
            AudioPacketType::Multitrack | AudioPacketType::ModEx => {
                return Err(MediaError::Invalid("nested audio packet type"))
            }
        };
        Ok(AudioTrackPacket {
            track_id: t.track_id,
            fourcc,
            packet,
        })
    })?;
    Ok(ExAudio {
        timestamp_offset_ns,
        multitrack: layout.kind(),
        tracks,
    })
}
