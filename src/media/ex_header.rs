//! Enhanced RTMP (veovera/enhanced-rtmp v1 and v2) extended video tag header: the parsed view
//! of one RTMP video message (FLV video tag body) whose first bit, `IsExVideoHeader`, is set.
//! The parts shared with the extended audio header (ModEx, multitrack framing) live here too.
//!
//! Parsing is structural and eager: the whole message is walked (every track, every size
//! checked against the bytes left) before anything is returned, so a consumer never acts on
//! the first track of a message whose second one is malformed. Media bytes are zero-copy
//! [`Bytes`] slices of the message.

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use bytes::Bytes;

use super::bits::ByteReader;
use super::error::MediaError;
use super::flv::VideoFrameType;
use super::fourcc::{FourCc, VideoFourCc};
use super::per_track::PerTrack;

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]
mod tests;

/// Most tracks one message may carry. Track ids are a UI8, but an encoder sending more than a
/// handful of renditions in one message is not one we serve.
pub const MAX_TRACKS: usize = 16;

/// The `PacketType` value that announces a ModEx entry, in audio and video alike.
const MOD_EX: u8 = 7;

/// AvMultitrackType (UB[4]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AvMultitrackType {
    /// One track with a track id and no size: the rest of the message is its body.
    OneTrack,
    /// Several tracks of one codec, each with a track id and a UI24 size.
    ManyTracks,
    /// Several tracks, each with its own FOURCC, track id and UI24 size.
    ManyTracksManyCodecs,
}

impl AvMultitrackType {
    pub(crate) fn from_bits(v: u8) -> Result<Self, MediaError> {
        match v {
            0 => Ok(Self::OneTrack),
            1 => Ok(Self::ManyTracks),
            2 => Ok(Self::ManyTracksManyCodecs),
            _ => Err(MediaError::Unsupported("reserved multitrack type")),
        }
    }
}

/// VideoPacketType (UB[4]) of the extended header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoPacketType {
    SequenceStart,
    CodedFrames,
    SequenceEnd,
    /// CodedFrames whose composition time offset is zero and not on the wire.
    CodedFramesX,
    Metadata,
    Mpeg2TsSequenceStart,
    Multitrack,
    ModEx,
}

impl VideoPacketType {
    fn from_bits(v: u8) -> Result<Self, MediaError> {
        match v {
            0 => Ok(Self::SequenceStart),
            1 => Ok(Self::CodedFrames),
            2 => Ok(Self::SequenceEnd),
            3 => Ok(Self::CodedFramesX),
            4 => Ok(Self::Metadata),
            5 => Ok(Self::Mpeg2TsSequenceStart),
            6 => Ok(Self::Multitrack),
            MOD_EX => Ok(Self::ModEx),
            _ => Err(MediaError::Unsupported("reserved video packet type")),
        }
    }
}

/// One track's packet of an extended video message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoPacket {
    /// The codec configuration record (AVC/HEVC decoder configuration, av1C, vpcC).
    SequenceStart(Bytes),
    /// One access unit. `composition_time` is the signed offset in ms (zero for AV1 and VP9,
    /// and for CodedFramesX); `data` is AVCC length-prefixed NAL units for AVC/HEVC, a
    /// temporal unit of OBUs for AV1, a frame for VP9.
    CodedFrames {
        composition_time: i32,
        data: Bytes,
    },
    SequenceEnd,
    /// AMF-encoded `["colorInfo", Object]`-style metadata (HDR and the like).
    Metadata(Bytes),
    /// An MPEG-2 TS descriptor (AV1VideoDescriptor) in place of the configuration record.
    Mpeg2TsSequenceStart(Bytes),
}

/// One track of an extended video message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoTrackPacket {
    /// 0 when the message is not multitrack (the default track).
    pub track_id: u8,
    pub fourcc: VideoFourCc,
    pub packet: VideoPacket,
}

/// What an extended video message carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExVideoContent {
    /// A video command frame (0 = start of client-side seeking, 1 = end); no video data.
    Command(u8),
    /// At least one, at most [`MAX_TRACKS`] packets with distinct track ids, all of the same
    /// packet type.
    Tracks(PerTrack<VideoTrackPacket>),
}

/// A parsed extended video message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExVideo {
    /// `None` for Metadata packets, whose frame type the specification says to ignore.
    pub frame_type: Option<VideoFrameType>,
    /// ModEx TimestampOffsetNano: nanoseconds (0..=999_999) to add to the message timestamp.
    pub timestamp_offset_ns: u32,
    /// Set when the message used the Multitrack packet type.
    pub multitrack: Option<AvMultitrackType>,
    pub content: ExVideoContent,
}

impl ExVideo {
    /// The packets of the message (empty for a command frame).
    pub fn tracks(&self) -> &[VideoTrackPacket] {
        match &self.content {
            ExVideoContent::Command(_) => &[],
            ExVideoContent::Tracks(t) => t,
        }
    }

    /// True for a key frame or a generated key frame.
    pub fn is_keyframe(&self) -> bool {
        matches!(
            self.frame_type,
            Some(VideoFrameType::Key | VideoFrameType::GeneratedKey)
        )
    }
}

/// True when a video message payload starts with an extended header (`IsExVideoHeader`).
pub fn is_ex_video(payload: &[u8]) -> bool {
    payload.first().is_some_and(|b| b & 0x80 != 0)
}

/// Parses one extended video message (an RTMP type 9 payload, or an FLV video tag body).
pub fn parse_ex_video(payload: &Bytes) -> Result<ExVideo, MediaError> {
    let mut r = ByteReader::new(payload);
    let b0 = r.u8("video tag header")?;
    if b0 & 0x80 == 0 {
        return Err(MediaError::Invalid("not an extended video header"));
    }
    let raw_frame_type = (b0 >> 4) & 7;
    let (packet_bits, timestamp_offset_ns) = read_mod_ex(&mut r, b0 & 0x0f, "video ModEx")?;
    let packet_type = VideoPacketType::from_bits(packet_bits)?;
    if packet_type != VideoPacketType::Metadata && raw_frame_type == 5 {
        let command = r.u8("video command")?;
        return Ok(ExVideo {
            frame_type: Some(VideoFrameType::InfoCommand),
            timestamp_offset_ns,
            multitrack: None,
            content: ExVideoContent::Command(command),
        });
    }
    let (packet_type, layout) = if packet_type == VideoPacketType::Multitrack {
        let b = r.u8("video multitrack type")?;
        let kind = AvMultitrackType::from_bits(b >> 4)?;
        let inner = VideoPacketType::from_bits(b & 0x0f)?;
        if matches!(inner, VideoPacketType::Multitrack | VideoPacketType::ModEx) {
            return Err(MediaError::Invalid("nested video packet type"));
        }
        (inner, Layout::multi(&mut r, kind)?)
    } else {
        (packet_type, Layout::Single(read_fourcc(&mut r)?))
    };
    let frame_type = if packet_type == VideoPacketType::Metadata {
        None
    } else {
        Some(match raw_frame_type {
            1 => VideoFrameType::Key,
            2 => VideoFrameType::Inter,
            3 => VideoFrameType::DisposableInter,
            4 => VideoFrameType::GeneratedKey,
            _ => return Err(MediaError::Invalid("video frame type")),
        })
    };
    let tracks = split_tracks(payload, &mut r, layout)?.try_map(|t| {
        let fourcc =
            VideoFourCc::from_fourcc(t.fourcc).ok_or(MediaError::UnknownFourCc(t.fourcc))?;
        Ok(VideoTrackPacket {
            track_id: t.track_id,
            fourcc,
            packet: video_packet(packet_type, fourcc, t.body)?,
        })
    })?;
    Ok(ExVideo {
        frame_type,
        timestamp_offset_ns,
        multitrack: layout.kind(),
        content: ExVideoContent::Tracks(tracks),
    })
}

fn video_packet(
    packet_type: VideoPacketType,
    fourcc: VideoFourCc,
    body: Bytes,
) -> Result<VideoPacket, MediaError> {
    Ok(match packet_type {
        VideoPacketType::SequenceStart => VideoPacket::SequenceStart(body),
        VideoPacketType::CodedFrames if fourcc.has_composition_time() => {
            let mut r = ByteReader::new(&body);
            let ct = r.u24("composition time")?;
            // Sign-extend the 24-bit value.
            let composition_time = ((ct << 8) as i32) >> 8;
            VideoPacket::CodedFrames {
                composition_time,
                data: body.slice(r.position()..),
            }
        }
        VideoPacketType::CodedFrames | VideoPacketType::CodedFramesX => VideoPacket::CodedFrames {
            composition_time: 0,
            data: body,
        },
        VideoPacketType::SequenceEnd => VideoPacket::SequenceEnd,
        VideoPacketType::Metadata => VideoPacket::Metadata(body),
        VideoPacketType::Mpeg2TsSequenceStart => VideoPacket::Mpeg2TsSequenceStart(body),
        VideoPacketType::Multitrack | VideoPacketType::ModEx => {
            return Err(MediaError::Invalid("nested video packet type"))
        }
    })
}

/// Follows the ModEx entries that may precede the real packet type: each is a size (UI8 + 1,
/// or UI16 + 1 when the UI8 is 255), its data, then a byte whose high nibble is the ModEx
/// type and low nibble the next packet type. Returns the final packet type and the
/// TimestampOffsetNano (0 when absent; the last one wins). Unknown ModEx types are skipped:
/// their size says where they end.
pub(crate) fn read_mod_ex(
    r: &mut ByteReader<'_>,
    mut packet_type: u8,
    what: &'static str,
) -> Result<(u8, u32), MediaError> {
    let mut offset_ns = 0;
    while packet_type == MOD_EX {
        let mut size = usize::from(r.u8(what)?) + 1;
        if size == 256 {
            size = usize::from(r.u16(what)?) + 1;
        }
        let data = r.take(size, what)?;
        let b = r.u8(what)?;
        packet_type = b & 0x0f;
        if b >> 4 == 0 {
            // TimestampOffsetNano: a UI24 at the start of at least three bytes.
            let ns = match data {
                [a, b, c, ..] => u32::from_be_bytes([0, *a, *b, *c]),
                _ => return Err(MediaError::Invalid("timestamp offset nano size")),
            };
            if ns > 999_999 {
                return Err(MediaError::Invalid("timestamp offset nano"));
            }
            offset_ns = ns;
        }
    }
    Ok((packet_type, offset_ns))
}

pub(crate) fn read_fourcc(r: &mut ByteReader<'_>) -> Result<FourCc, MediaError> {
    let s = r.take(4, "FourCC")?;
    match s {
        [a, b, c, d] => Ok(FourCc([*a, *b, *c, *d])),
        _ => Err(MediaError::Truncated("FourCC")),
    }
}

/// How the tracks of a message are framed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Layout {
    /// Not multitrack: one track (id 0), the rest of the message.
    Single(FourCc),
    /// Multitrack; `shared` is the FOURCC of every track unless each track has its own.
    Multi {
        kind: AvMultitrackType,
        shared: Option<FourCc>,
    },
}

impl Layout {
    /// Reads the shared FOURCC that follows the multitrack type, if the type has one.
    pub(crate) fn multi(
        r: &mut ByteReader<'_>,
        kind: AvMultitrackType,
    ) -> Result<Self, MediaError> {
        let shared = match kind {
            AvMultitrackType::ManyTracksManyCodecs => None,
            _ => Some(read_fourcc(r)?),
        };
        Ok(Self::Multi { kind, shared })
    }

    pub(crate) fn kind(self) -> Option<AvMultitrackType> {
        match self {
            Self::Single(_) => None,
            Self::Multi { kind, .. } => Some(kind),
        }
    }
}

/// One track's framing, before its codec is looked at.
pub(crate) struct RawTrack {
    pub(crate) track_id: u8,
    pub(crate) fourcc: FourCc,
    pub(crate) body: Bytes,
}

/// Splits the rest of the message (from `r`'s position) into tracks, checking every size
/// against the bytes left, the track count against [`MAX_TRACKS`] and track ids for repeats.
pub(crate) fn split_tracks(
    payload: &Bytes,
    r: &mut ByteReader<'_>,
    layout: Layout,
) -> Result<PerTrack<RawTrack>, MediaError> {
    let (kind, shared) = match layout {
        Layout::Single(fourcc) => {
            return Ok(PerTrack::One(RawTrack {
                track_id: 0,
                fourcc,
                body: payload.slice(r.position()..),
            }))
        }
        Layout::Multi { kind, shared } => (kind, shared),
    };
    let mut tracks: Option<PerTrack<RawTrack>> = None;
    loop {
        let fourcc = match shared {
            Some(f) => f,
            None => read_fourcc(r)?,
        };
        let track_id = r.u8("track id")?;
        let so_far: &[RawTrack] = tracks.as_deref().unwrap_or_default();
        if so_far.iter().any(|t| t.track_id == track_id) {
            return Err(MediaError::Invalid("repeated track id"));
        }
        if so_far.len() == MAX_TRACKS {
            return Err(MediaError::Invalid("too many tracks"));
        }
        let body = if kind == AvMultitrackType::OneTrack {
            payload.slice(r.position()..)
        } else {
            let size = r.u24("track size")?;
            let size = usize::try_from(size).map_err(|_| MediaError::Invalid("track size"))?;
            let start = r.position();
            r.take(size, "track body")?;
            payload.slice(start..start + size)
        };
        let track = RawTrack {
            track_id,
            fourcc,
            body,
        };
        let all = match tracks {
            None => PerTrack::One(track),
            Some(earlier) => earlier.push(track),
        };
        if kind == AvMultitrackType::OneTrack || r.remaining() == 0 {
            return Ok(all);
        }
        tracks = Some(all);
    }
}
