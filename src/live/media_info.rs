//! What the live fan-out needs to know about a message: its kind, whether
//! it starts a GOP, whether it is a codec sequence header.

use crate::media::ex_peek::{peek_audio, peek_video};
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
    /// The Enhanced RTMP track id of the message's first track (0 for every message that is
    /// not multitrack).
    pub track: u8,
}

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
            track: 0,
        }
    }

    /// Classifies an FLV video tag body (the RTMP video message payload),
    /// including Enhanced RTMP headers (ModEx entries and Multitrack wrappers are looked
    /// through: what counts is the packet type of the tracks). Unparseable bodies count as
    /// ordinary inter frames.
    pub fn video(payload: &[u8]) -> MediaInfo {
        let mut info = MediaInfo {
            kind: MediaKind::Video,
            keyframe: false,
            sequence_header: false,
            track: 0,
        };
        if let Some(peek) = peek_video(payload) {
            info.sequence_header = ex_sequence_start(peek.packet_type) && peek.frame_type != 5;
            // CodedFrames (1) and CodedFramesX (3) carry pictures.
            info.keyframe = peek.frame_type == 1 && matches!(peek.packet_type, 1 | 3);
            info.track = peek.first_track(payload).map_or(0, |t| t.track_id);
            return info;
        }
        if let Ok(h) = parse_video_tag(payload) {
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
        info
    }

    /// Classifies an FLV audio tag body, including Enhanced RTMP audio
    /// headers.
    pub fn audio(payload: &[u8]) -> MediaInfo {
        let (sequence_header, track) = match peek_audio(payload) {
            Some(peek) => (
                ex_sequence_start(peek.packet_type),
                peek.first_track(payload).map_or(0, |t| t.track_id),
            ),
            None => (
                parse_audio_tag(payload)
                    .is_ok_and(|h| h.aac_packet_type == Some(AacPacketType::SequenceHeader)),
                0,
            ),
        };
        MediaInfo {
            kind: MediaKind::Audio,
            keyframe: false,
            sequence_header,
            track,
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
        // Multitrack OneTrack track 1: SequenceStart, then a key CodedFrames.
        let mt_seq = MediaInfo::video(&[0x96, 0x00, b'h', b'v', b'c', b'1', 1, 0xAA]);
        assert!(mt_seq.sequence_header && !mt_seq.keyframe);
        assert_eq!(mt_seq.track, 1);
        let mt_key = MediaInfo::video(&[0x96, 0x01, b'h', b'v', b'c', b'1', 1, 0, 0, 0, 1]);
        assert!(mt_key.keyframe && !mt_key.sequence_header);
        assert!(!MediaInfo::video(&[0xA6, 0x01, b'h', b'v', b'c', b'1', 1, 0, 0, 0]).keyframe);
        // ModEx (TimestampOffsetNano) in front of CodedFramesX, and of SequenceStart.
        assert!(MediaInfo::video(&[0x97, 2, 0, 0, 1, 0x03, b'a', b'v', b'0', b'1', 4]).keyframe);
        let modex_seq = MediaInfo::video(&[0x97, 2, 0, 0, 1, 0x00, b'a', b'v', b'0', b'1']);
        assert!(modex_seq.sequence_header && !modex_seq.keyframe);
        // A command frame is neither.
        let cmd = MediaInfo::video(&[0xD0, b'a', b'v', b'0', b'1', 0]);
        assert!(!cmd.keyframe && !cmd.sequence_header);
    }

    #[test]
    fn audio() {
        assert!(MediaInfo::audio(&[0xAF, 0, 0x12, 0x10]).sequence_header);
        assert!(!MediaInfo::audio(&[0xAF, 1, 0x21]).sequence_header);
        assert!(!MediaInfo::audio(&[0x2F, 0xFF]).sequence_header);
        assert!(MediaInfo::audio(&[0x90, b'O', b'p', b'u', b's']).sequence_header);
        // Multitrack OneTrack Opus track 1: SequenceStart, CodedFrames.
        let mt = MediaInfo::audio(&[0x95, 0x00, b'O', b'p', b'u', b's', 1, 0x4F]);
        assert!(mt.sequence_header);
        assert_eq!(mt.track, 1);
        assert!(!MediaInfo::audio(&[0x95, 0x01, b'O', b'p', b'u', b's', 1, 0x4F]).sequence_header);
        assert!(!MediaInfo::audio(&[]).sequence_header);
        assert_eq!(MediaInfo::classify(18, &[]).kind, MediaKind::Meta);
        assert!(MediaInfo::meta().is_mandatory());
    }
}
