//! FLV audio and video tag headers (FLV spec v10.1, E.4.2 / E.4.3), as they
//! appear at the start of RTMP audio (type 8) and video (type 9) messages.

use super::error::MediaError;

/// SoundFormat (4 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoundFormat {
    LinearPcmPlatform,
    Adpcm,
    Mp3,
    LinearPcmLe,
    Nellymoser16kMono,
    Nellymoser8kMono,
    Nellymoser,
    G711ALaw,
    G711MuLaw,
    Reserved,
    Aac,
    Speex,
    Mp3_8k,
    DeviceSpecific,
    /// 9 and 13 are reserved; 9 is also used by Enhanced RTMP's ExHeader.
    Other(u8),
}

impl SoundFormat {
    fn from_bits(v: u8) -> Self {
        match v {
            0 => Self::LinearPcmPlatform,
            1 => Self::Adpcm,
            2 => Self::Mp3,
            3 => Self::LinearPcmLe,
            4 => Self::Nellymoser16kMono,
            5 => Self::Nellymoser8kMono,
            6 => Self::Nellymoser,
            7 => Self::G711ALaw,
            8 => Self::G711MuLaw,
            10 => Self::Aac,
            11 => Self::Speex,
            14 => Self::Mp3_8k,
            15 => Self::DeviceSpecific,
            other => Self::Other(other),
        }
    }
}

/// AACPacketType.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AacPacketType {
    SequenceHeader,
    Raw,
}

/// Parsed audio tag header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioTagHeader {
    pub format: SoundFormat,
    /// SoundRate field: 5512, 11025, 22050 or 44100 (AAC always signals 44100;
    /// the real rate is in the AudioSpecificConfig).
    pub rate_hz: u32,
    /// 8 or 16.
    pub sample_bits: u8,
    pub stereo: bool,
    /// Only for AAC.
    pub aac_packet_type: Option<AacPacketType>,
    /// Offset of the codec payload within the tag body.
    pub header_len: usize,
}

/// Parses the audio tag header at the start of `body`.
pub fn parse_audio_tag(body: &[u8]) -> Result<AudioTagHeader, MediaError> {
    let b0 = *body
        .first()
        .ok_or(MediaError::Truncated("audio tag header"))?;
    let format = SoundFormat::from_bits(b0 >> 4);
    let rate_hz = match (b0 >> 2) & 3 {
        0 => 5512,
        1 => 11025,
        2 => 22050,
        _ => 44100,
    };
    let sample_bits = if b0 & 2 != 0 { 16 } else { 8 };
    let stereo = b0 & 1 != 0;
    let (aac_packet_type, header_len) = if format == SoundFormat::Aac {
        let t = *body
            .get(1)
            .ok_or(MediaError::Truncated("AAC packet type"))?;
        let t = match t {
            0 => AacPacketType::SequenceHeader,
            1 => AacPacketType::Raw,
            _ => return Err(MediaError::Invalid("AAC packet type")),
        };
        (Some(t), 2)
    } else {
        (None, 1)
    };
    Ok(AudioTagHeader {
        format,
        rate_hz,
        sample_bits,
        stereo,
        aac_packet_type,
        header_len,
    })
}

/// FrameType (4 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoFrameType {
    Key,
    Inter,
    DisposableInter,
    GeneratedKey,
    /// Video info / command frame: carries no picture.
    InfoCommand,
}

/// CodecID (4 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodec {
    SorensonH263,
    ScreenVideo,
    Vp6,
    Vp6Alpha,
    ScreenVideo2,
    Avc,
    /// Non-standard but widespread (FFmpeg 6+, several CDNs) FLV codec id 12.
    Hevc,
    Other(u8),
}

impl VideoCodec {
    fn from_bits(v: u8) -> Self {
        match v {
            2 => Self::SorensonH263,
            3 => Self::ScreenVideo,
            4 => Self::Vp6,
            5 => Self::Vp6Alpha,
            6 => Self::ScreenVideo2,
            7 => Self::Avc,
            12 => Self::Hevc,
            other => Self::Other(other),
        }
    }
}

/// AVCPacketType.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AvcPacketType {
    SequenceHeader,
    Nalu,
    EndOfSequence,
}

/// Parsed video tag header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoTagHeader {
    pub frame_type: VideoFrameType,
    pub codec: VideoCodec,
    /// Set for AVC (and HEVC, which uses the same layout).
    pub avc_packet_type: Option<AvcPacketType>,
    /// Signed 24-bit composition time offset in ms (AVC/HEVC only, else 0).
    pub composition_time: i32,
    /// Offset of the codec payload within the tag body.
    pub header_len: usize,
}

/// Parses the video tag header at the start of `body`.
///
/// Enhanced RTMP's extended header (bit 7 of the first byte, `IsExHeader`)
/// is reported as unsupported.
pub fn parse_video_tag(body: &[u8]) -> Result<VideoTagHeader, MediaError> {
    let b0 = *body
        .first()
        .ok_or(MediaError::Truncated("video tag header"))?;
    if b0 & 0x80 != 0 {
        return Err(MediaError::Unsupported("enhanced RTMP video header"));
    }
    let frame_type = match b0 >> 4 {
        1 => VideoFrameType::Key,
        2 => VideoFrameType::Inter,
        3 => VideoFrameType::DisposableInter,
        4 => VideoFrameType::GeneratedKey,
        5 => VideoFrameType::InfoCommand,
        _ => return Err(MediaError::Invalid("video frame type")),
    };
    let codec = VideoCodec::from_bits(b0 & 0x0f);
    if !matches!(codec, VideoCodec::Avc | VideoCodec::Hevc) {
        return Ok(VideoTagHeader {
            frame_type,
            codec,
            avc_packet_type: None,
            composition_time: 0,
            header_len: 1,
        });
    }
    if frame_type == VideoFrameType::InfoCommand {
        // Command frames carry one byte of command, no AVC packet header.
        return Ok(VideoTagHeader {
            frame_type,
            codec,
            avc_packet_type: None,
            composition_time: 0,
            header_len: 1,
        });
    }
    let head = body
        .get(1..5)
        .ok_or(MediaError::Truncated("AVC packet header"))?;
    let avc_packet_type = match head[0] {
        0 => AvcPacketType::SequenceHeader,
        1 => AvcPacketType::Nalu,
        2 => AvcPacketType::EndOfSequence,
        _ => return Err(MediaError::Invalid("AVC packet type")),
    };
    // Sign-extend the 24-bit big-endian value.
    let raw = i32::from_be_bytes([head[1], head[2], head[3], 0]) >> 8;
    Ok(VideoTagHeader {
        frame_type,
        codec,
        avc_packet_type: Some(avc_packet_type),
        composition_time: raw,
        header_len: 5,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composition_time_is_signed() {
        let h = parse_video_tag(&[0x27, 1, 0xff, 0xff, 0xfe]).unwrap();
        assert_eq!(h.composition_time, -2);
        let h = parse_video_tag(&[0x17, 1, 0x00, 0x00, 0x43]).unwrap();
        assert_eq!(h.composition_time, 67);
        assert_eq!(h.frame_type, VideoFrameType::Key);
        let h = parse_video_tag(&[0x27, 1, 0x7f, 0xff, 0xff]).unwrap();
        assert_eq!(h.composition_time, 0x7f_ffff);
    }

    #[test]
    fn audio_header() {
        let h = parse_audio_tag(&[0xaf, 0x01, 0x21]).unwrap();
        assert_eq!(h.format, SoundFormat::Aac);
        assert_eq!(h.rate_hz, 44100);
        assert!(h.stereo);
        assert_eq!(h.sample_bits, 16);
        assert_eq!(h.aac_packet_type, Some(AacPacketType::Raw));
        assert_eq!(h.header_len, 2);
        assert!(parse_audio_tag(&[0xaf]).is_err());
        assert!(parse_audio_tag(&[0xaf, 7]).is_err());
        assert_eq!(parse_audio_tag(&[0x2f]).unwrap().format, SoundFormat::Mp3);
    }
}
