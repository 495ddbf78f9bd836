//! What the live fan-out needs to know about a message: its kind, whether
//! it starts a GOP, whether it is a codec sequence header.

use crate::media::flv::{
    parse_audio_tag, parse_video_tag, AacPacketType, AvcPacketType, VideoFrameType,
};
use crate::rtmp::message::types;

/// The kind of a live message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    Audio,
    Video,
    /// `onMetaData` (and other data messages).
    Meta,
}

/// A live message classified for the GOP cache and the player queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaInfo {
    pub kind: MediaKind,
    /// A video picture that starts a GOP (FLV frame type 1, not a sequence
    /// header): players may start here.
    pub keyframe: bool,
    /// A codec configuration (AVC/HEVC sequence header, AAC
    /// AudioSpecificConfig, Enhanced RTMP SequenceStart): never dropped,
    /// replayed to joining players.
    pub sequence_header: bool,
}

/// Enhanced RTMP: bit 7 of a video tag's first byte.
const VIDEO_EX_HEADER: u8 = 0x80;
/// Enhanced RTMP: sound format 9 announces an extended audio header.
const AUDIO_EX_HEADER: u8 = 9;
/// Enhanced RTMP packet types that carry a codec configuration:
/// SequenceStart (0) and MPEG2TSSequenceStart (5).
fn ex_sequence_start(packet_type: u8) -> bool {
    matches!(packet_type, 0 | 5)
}

impl MediaInfo {
    /// A data message (onMetaData).
    pub fn meta() -> MediaInfo {
        MediaInfo {
            kind: MediaKind::Meta,
            keyframe: false,
            sequence_header: false,
        }
    }

    /// Classifies an FLV video tag body (the RTMP video message payload),
    /// including Enhanced RTMP headers. Unparseable bodies count as
    /// ordinary inter frames.
    pub fn video(payload: &[u8]) -> MediaInfo {
        let mut info = MediaInfo {
            kind: MediaKind::Video,
            keyframe: false,
            sequence_header: false,
        };
        match parse_video_tag(payload) {
            Ok(h) => {
                info.sequence_header = h.avc_packet_type == Some(AvcPacketType::SequenceHeader);
                let key = matches!(
                    h.frame_type,
                    VideoFrameType::Key | VideoFrameType::GeneratedKey
                );
                let picture = !matches!(
                    h.avc_packet_type,
                    Some(AvcPacketType::SequenceHeader | AvcPacketType::EndOfSequence)
                );
                info.keyframe = key && picture;
            }
            Err(_) => {
                if let Some(b0) = payload
                    .first()
                    .copied()
                    .filter(|b| b & VIDEO_EX_HEADER != 0)
                {
                    let frame_type = (b0 >> 4) & 0x07;
                    let packet_type = b0 & 0x0f;
                    info.sequence_header = ex_sequence_start(packet_type);
                    // CodedFrames (1) and CodedFramesX (3) carry pictures.
                    info.keyframe = frame_type == 1 && matches!(packet_type, 1 | 3);
                }
            }
        }
        info
    }

    /// Classifies an FLV audio tag body, including Enhanced RTMP audio
    /// headers.
    pub fn audio(payload: &[u8]) -> MediaInfo {
        let sequence_header = match payload.first() {
            Some(b0) if b0 >> 4 == AUDIO_EX_HEADER => ex_sequence_start(b0 & 0x0f),
            _ => parse_audio_tag(payload)
                .is_ok_and(|h| h.aac_packet_type == Some(AacPacketType::SequenceHeader)),
        };
        MediaInfo {
            kind: MediaKind::Audio,
            keyframe: false,
            sequence_header,
        }
    }

    /// Classifies a message by RTMP type id: audio (8), video (9), anything
    /// else as data.
    pub fn classify(type_id: u8, payload: &[u8]) -> MediaInfo {
        match type_id {
            types::VIDEO => MediaInfo::video(payload),
            types::AUDIO => MediaInfo::audio(payload),
            _ => MediaInfo::meta(),
        }
    }

    /// Never dropped by a player queue: metadata and sequence headers.
    pub fn is_mandatory(&self) -> bool {
        self.kind == MediaKind::Meta || self.sequence_header
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn video() {
        let seq = MediaInfo::video(&[0x17, 0, 0, 0, 0, 1, 0x64]);
        assert!(seq.sequence_header && !seq.keyframe);
        let key = MediaInfo::video(&[0x17, 1, 0, 0, 0, 0xAA]);
        assert!(key.keyframe && !key.sequence_header);
        let inter = MediaInfo::video(&[0x27, 1, 0, 0, 0, 0xAA]);
        assert!(!inter.keyframe && !inter.sequence_header);
        let eos = MediaInfo::video(&[0x17, 2, 0, 0, 0]);
        assert!(!eos.keyframe && !eos.sequence_header);
        // Enhanced RTMP HEVC: key + SequenceStart, key + CodedFrames,
        // inter + CodedFramesX.
        let ex_seq = MediaInfo::video(&[0x90, b'h', b'v', b'c', b'1']);
        assert!(ex_seq.sequence_header && !ex_seq.keyframe);
        assert!(MediaInfo::video(&[0x91, b'h', b'v', b'c', b'1', 0, 0, 0]).keyframe);
        assert!(!MediaInfo::video(&[0xA3, b'h', b'v', b'c', b'1']).keyframe);
        assert_eq!(MediaInfo::video(&[]), MediaInfo::classify(9, &[0x00]));
        // VP6 keyframe (no packet type byte).
        assert!(MediaInfo::video(&[0x14, 0]).keyframe);
    }

    #[test]
    fn audio() {
        assert!(MediaInfo::audio(&[0xAF, 0, 0x12, 0x10]).sequence_header);
        assert!(!MediaInfo::audio(&[0xAF, 1, 0x21]).sequence_header);
        assert!(!MediaInfo::audio(&[0x2F, 0xFF]).sequence_header);
        assert!(MediaInfo::audio(&[0x90, b'O', b'p', b'u', b's']).sequence_header);
        assert!(!MediaInfo::audio(&[]).sequence_header);
        assert_eq!(MediaInfo::classify(18, &[]).kind, MediaKind::Meta);
        assert!(MediaInfo::meta().is_mandatory());
    }
}
