//! Per-stream demuxer: RTMP audio/video message payloads in, [`Frame`]s out.

use bytes::Bytes;

use super::aac::AudioSpecificConfig;
use super::avc::AvcConfig;
use super::error::MediaError;
use super::flv::{self, AacPacketType, AvcPacketType, SoundFormat, VideoCodec, VideoFrameType};
use super::frame::{Frame, Track};
use super::timestamp::TimestampExtender;

/// Codec summary for the stat page.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CodecInfo {
    /// "H264" when a video sequence header was seen.
    pub video_codec: Option<&'static str>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// "High", "Main", ...
    pub video_profile: Option<&'static str>,
    pub video_compat: Option<u8>,
    /// "3.1"
    pub video_level: Option<String>,
    /// "AAC"
    pub audio_codec: Option<&'static str>,
    /// "LC", "HE", ...
    pub audio_profile: Option<&'static str>,
    pub sample_rate: Option<u32>,
    pub channels: Option<u8>,
}

/// Demultiplexes one published stream. Keeps the codec configuration from
/// the sequence headers and extends timestamps across the 32-bit wrap
/// (one timeline shared by audio and video).
#[derive(Debug, Clone, Default)]
pub struct Demuxer {
    video: Option<AvcConfig>,
    audio: Option<AudioSpecificConfig>,
    video_generation: u32,
    audio_generation: u32,
    clock: TimestampExtender,
}

impl Demuxer {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn video_config(&self) -> Option<&AvcConfig> {
        self.video.as_ref()
    }

    pub fn audio_config(&self) -> Option<&AudioSpecificConfig> {
        self.audio.as_ref()
    }

    /// Incremented each time a video sequence header with different content
    /// arrives (0 = none yet). Lets a muxer notice a mid-stream codec change.
    pub fn video_generation(&self) -> u32 {
        self.video_generation
    }

    /// Like [`Demuxer::video_generation`] for audio.
    pub fn audio_generation(&self) -> u32 {
        self.audio_generation
    }

    /// Handles the payload of an RTMP audio message (type 8).
    ///
    /// Sequence headers update the configuration and return `Ok(None)`, as
    /// do empty payloads (some encoders send them).
    pub fn push_audio(
        &mut self,
        timestamp_ms: u32,
        payload: Bytes,
    ) -> Result<Option<Frame>, MediaError> {
        if payload.is_empty() {
            return Ok(None);
        }
        let h = flv::parse_audio_tag(&payload)?;
        if h.format != SoundFormat::Aac {
            return Err(MediaError::Unsupported("audio codec (only AAC)"));
        }
        let body = payload.slice(h.header_len..);
        match h.aac_packet_type {
            Some(AacPacketType::SequenceHeader) => {
                let cfg = AudioSpecificConfig::parse(&body)?;
                if self.audio != Some(cfg) {
                    self.audio = Some(cfg);
                    self.audio_generation = self.audio_generation.wrapping_add(1).max(1);
                }
                Ok(None)
            }
            Some(AacPacketType::Raw) => {
                if self.audio.is_none() {
                    return Err(MediaError::MissingSequenceHeader(Track::Audio));
                }
                if body.is_empty() {
                    return Ok(None);
                }
                let ts = self.clock.extend(timestamp_ms);
                Ok(Some(Frame {
                    track: Track::Audio,
                    dts: ts,
                    pts: ts,
                    keyframe: true,
                    data: body,
                }))
            }
            None => Err(MediaError::Invalid("AAC packet type")),
        }
    }

    /// Handles the payload of an RTMP video message (type 9).
    pub fn push_video(
        &mut self,
        timestamp_ms: u32,
        payload: Bytes,
    ) -> Result<Option<Frame>, MediaError> {
        if payload.is_empty() {
            return Ok(None);
        }
        let h = flv::parse_video_tag(&payload)?;
        match h.codec {
            VideoCodec::Avc => {}
            VideoCodec::Hevc => return Err(MediaError::Unsupported("video codec HEVC")),
            _ => return Err(MediaError::Unsupported("video codec (only H.264)")),
        }
        if h.frame_type == VideoFrameType::InfoCommand {
            return Ok(None);
        }
        let body = payload.slice(h.header_len..);
        match h.avc_packet_type {
            Some(AvcPacketType::SequenceHeader) => {
                let cfg = AvcConfig::parse(&body)?;
                if self.video.as_ref() != Some(&cfg) {
                    self.video = Some(cfg);
                    self.video_generation = self.video_generation.wrapping_add(1).max(1);
                }
                Ok(None)
            }
            Some(AvcPacketType::EndOfSequence) => Ok(None),
            Some(AvcPacketType::Nalu) => {
                if self.video.is_none() {
                    return Err(MediaError::MissingSequenceHeader(Track::Video));
                }
                if body.is_empty() {
                    return Ok(None);
                }
                let dts = self.clock.extend(timestamp_ms);
                let pts = dts
                    .checked_add_signed(i64::from(h.composition_time))
                    .unwrap_or(0);
                Ok(Some(Frame {
                    track: Track::Video,
                    dts,
                    pts,
                    keyframe: matches!(
                        h.frame_type,
                        VideoFrameType::Key | VideoFrameType::GeneratedKey
                    ),
                    data: body,
                }))
            }
            None => Err(MediaError::Invalid("AVC packet type")),
        }
    }

    /// Summary of the current codec configuration.
    pub fn codec_info(&self) -> CodecInfo {
        let mut info = CodecInfo::default();
        if let Some(v) = &self.video {
            info.video_codec = Some("H264");
            info.video_profile = Some(v.profile_name());
            info.video_compat = Some(v.compatibility);
            info.video_level = Some(v.level_string());
            if let Some(sps) = &v.sps_info {
                info.width = Some(sps.width);
                info.height = Some(sps.height);
            }
        }
        if let Some(a) = &self.audio {
            info.audio_codec = Some("AAC");
            info.audio_profile = Some(a.profile_name());
            info.sample_rate = Some(a.extension_sample_rate.unwrap_or(a.sample_rate));
            info.channels = Some(a.channels());
        }
        info
    }
}
