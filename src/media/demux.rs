//! Per-stream demuxer: RTMP audio/video message payloads in, [`Frame`]s out.
//!
//! Legacy FLV tags (AVC, AAC) and Enhanced RTMP messages (HEVC, AV1, VP9, AVC by FourCC;
//! AAC and Opus; multitrack) land in one model: a stream has video tracks and audio tracks,
//! each with an id (0 for the default track, the only one a legacy message can address), a
//! parsed configuration and the record it came from. One message yields zero or more frames,
//! one per track it carries.

use bytes::Bytes;

use super::aac::AudioSpecificConfig;
use super::avc::AvcConfig;
use super::codec_config::{AudioConfig, VideoConfig};
use super::error::MediaError;
use super::ex_audio::{is_ex_audio, parse_ex_audio, AudioPacket};
use super::ex_header::{is_ex_video, parse_ex_video, VideoPacket};
use super::flv::{self, AacPacketType, AvcPacketType, SoundFormat, VideoCodec, VideoFrameType};
use super::fourcc::AudioFourCc;
use super::frame::{Frame, Track};
use super::timestamp::TimestampExtender;

/// Codec summary of a stream's primary tracks, for the stat page.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CodecInfo {
    /// "H264", "HEVC", "AV1", "VP9" when a video configuration was seen.
    pub video_codec: Option<&'static str>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// "High", "Main", ...
    pub video_profile: Option<&'static str>,
    pub video_compat: Option<u8>,
    /// "3.1"
    pub video_level: Option<String>,
    /// "AAC", "Opus"
    pub audio_codec: Option<&'static str>,
    /// "LC", "HE", ...
    pub audio_profile: Option<&'static str>,
    pub sample_rate: Option<u32>,
    pub channels: Option<u8>,
    /// Every track, video then audio, each by id (the primary ones included).
    pub tracks: Vec<TrackInfo>,
}

/// Codec summary of one track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackInfo {
    pub kind: Track,
    /// The Enhanced RTMP track id (0 for the default track).
    pub id: u8,
    /// "H264", "HEVC", "AV1", "VP9", "AAC", "Opus".
    pub codec: &'static str,
    pub profile: Option<&'static str>,
    /// Video only.
    pub level: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// Audio only.
    pub sample_rate: Option<u32>,
    pub channels: Option<u8>,
}

/// One track of a stream, of a kind whose configuration is `C`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaTrack<C> {
    /// 0 for the default track (every legacy message and every non-multitrack one).
    pub id: u8,
    pub config: C,
    /// The configuration record as received (the body of an `hvcC`/`av1C`/`avcC` box; an
    /// AudioSpecificConfig, an OpusHead, empty for an Opus track without one).
    pub record: Bytes,
    /// Changes each time a configuration with different content arrives: the stream's count
    /// of configurations of this kind so far (from 1), so no two tracks of a stream share one
    /// and a change of primary track (a lower id arriving) changes
    /// [`Demuxer::video_generation`] / [`Demuxer::audio_generation`].
    pub generation: u32,
}

/// One video track of a stream.
pub type VideoTrack = MediaTrack<VideoConfig>;

/// One audio track of a stream.
pub type AudioTrack = MediaTrack<AudioConfig>;

/// Sets track `id` of `tracks` (sorted by id) to `config`; `generations` counts the
/// configurations of the kind. Refused when a new track would exceed the limit.
fn set_track<C: PartialEq>(
    tracks: &mut Vec<MediaTrack<C>>,
    generations: &mut u32,
    id: u8,
    config: C,
    record: Bytes,
    too_many: &'static str,
) -> Result<(), MediaError> {
    let generation = generations.wrapping_add(1).max(1);
    match tracks.binary_search_by_key(&id, |t| t.id) {
        Ok(i) => {
            if let Some(t) = tracks.get_mut(i).filter(|t| t.config != config) {
                t.config = config;
                t.record = record;
                t.generation = generation;
                *generations = generation;
            }
        }
        Err(_) if !room_for(tracks.iter().map(|t| t.id), std::iter::once(id)) => {
            return Err(MediaError::Invalid(too_many))
        }
        Err(i) => {
            tracks.insert(
                i,
                MediaTrack {
                    id,
                    config,
                    record,
                    generation,
                },
            );
            *generations = generation;
        }
    }
    Ok(())
}

/// Most tracks of one kind a stream keeps besides the default track: configurations of
/// further track ids are refused, so a publisher cannot make the demuxer grow. The default
/// track (id 0, every legacy message's) is always admitted, so multitrack noise never locks a
/// stream out of its plain codec.
const MAX_STREAM_TRACKS: usize = super::ex_header::MAX_TRACKS;

/// Whether a table of tracks with ids `existing` takes the tracks `new` (those it lacks).
fn room_for(existing: impl Iterator<Item = u8> + Clone, new: impl Iterator<Item = u8>) -> bool {
    let have = existing.clone().filter(|&id| id != 0).count();
    let added = new
        .filter(|&id| id != 0 && !existing.clone().any(|e| e == id))
        .count();
    have + added <= MAX_STREAM_TRACKS
}

/// Demultiplexes one published stream. Keeps each track's codec configuration and extends
/// timestamps across the 32-bit wrap (one timeline shared by every track).
#[derive(Debug, Clone, Default)]
pub struct Demuxer {
    /// Sorted by id.
    video: Vec<VideoTrack>,
    /// Sorted by id.
    audio: Vec<AudioTrack>,
    /// The frames of the latest message (reused, so a message costs no allocation here).
    frames: Vec<Frame>,
    /// The latest generation given to a video / audio configuration.
    video_generations: u32,
    audio_generations: u32,
    clock: TimestampExtender,
}

impl Demuxer {
    pub fn new() -> Self {
        Self::default()
    }

    /// A stream of at most one video and one audio track, both as the default track (id 0):
    /// the view an output of one chosen track of a multitrack stream takes for the stream's
    /// configuration (its primary tracks are then the chosen ones).
    pub fn projected(video: Option<VideoTrack>, audio: Option<AudioTrack>) -> Self {
        Demuxer {
            video: video
                .map(|t| VideoTrack { id: 0, ..t })
                .into_iter()
                .collect(),
            audio: audio
                .map(|t| AudioTrack { id: 0, ..t })
                .into_iter()
                .collect(),
            ..Demuxer::default()
        }
    }

    /// Every video track with a configuration, by id.
    pub fn video_tracks(&self) -> &[VideoTrack] {
        &self.video
    }

    /// Every audio track with a configuration, by id.
    pub fn audio_tracks(&self) -> &[AudioTrack] {
        &self.audio
    }

    /// The primary video track: the default track when it exists, else the lowest id.
    pub fn video(&self) -> Option<&VideoTrack> {
        self.video.first()
    }

    /// The primary audio track.
    pub fn audio(&self) -> Option<&AudioTrack> {
        self.audio.first()
    }

    pub fn video_track(&self, id: u8) -> Option<&VideoTrack> {
        self.video.iter().find(|t| t.id == id)
    }

    pub fn audio_track(&self, id: u8) -> Option<&AudioTrack> {
        self.audio.iter().find(|t| t.id == id)
    }

    /// Whether `frame` belongs to the stream's primary track of its kind: the one a
    /// single-rendition output (HLS, DASH, a recorder) carries.
    pub fn is_primary(&self, frame: &Frame) -> bool {
        match frame.track {
            Track::Video => self.video().is_some_and(|t| t.id == frame.track_id),
            Track::Audio => self.audio().is_some_and(|t| t.id == frame.track_id),
        }
    }

    /// The primary video track's configuration when it is AVC (what the MPEG-TS and
    /// H.264-only outputs read).
    pub fn video_config(&self) -> Option<&AvcConfig> {
        match self.video().map(|t| &t.config) {
            Some(VideoConfig::Avc(c)) => Some(c),
            _ => None,
        }
    }

    /// The primary audio track's configuration when it is AAC.
    pub fn audio_config(&self) -> Option<&AudioSpecificConfig> {
        match self.audio().map(|t| &t.config) {
            Some(AudioConfig::Aac(c)) => Some(c),
            _ => None,
        }
    }

    /// The primary video track's generation (0 = none yet). Lets a muxer notice a
    /// mid-stream codec change.
    pub fn video_generation(&self) -> u32 {
        self.video().map_or(0, |t| t.generation)
    }

    /// Like [`Demuxer::video_generation`] for audio.
    pub fn audio_generation(&self) -> u32 {
        self.audio().map_or(0, |t| t.generation)
    }

    /// The frames the latest [`Demuxer::push_video`] / [`Demuxer::push_audio`] produced, in
    /// the order of the message's tracks.
    pub fn frames(&self) -> &[Frame] {
        &self.frames
    }

    /// Handles the payload of an RTMP audio message (type 8): legacy AAC, or an Enhanced
    /// RTMP audio message. Configurations update the tracks and yield no frame, as do empty
    /// payloads (some encoders send them).
    pub fn push_audio(
        &mut self,
        timestamp_ms: u32,
        payload: Bytes,
    ) -> Result<&[Frame], MediaError> {
        self.frames.clear();
        if payload.is_empty() {
            return Ok(&self.frames);
        }
        if is_ex_audio(&payload) {
            self.push_ex_audio(timestamp_ms, &payload)?;
            return Ok(&self.frames);
        }
        let h = flv::parse_audio_tag(&payload)?;
        if h.format != SoundFormat::Aac {
            return Err(MediaError::Unsupported("audio codec (only AAC and Opus)"));
        }
        let body = payload.slice(h.header_len..);
        match h.aac_packet_type {
            Some(AacPacketType::SequenceHeader) => {
                let config = AudioConfig::Aac(AudioSpecificConfig::parse(&body)?);
                self.set_audio(0, config, body)?;
            }
            Some(AacPacketType::Raw) => self.audio_frame(0, timestamp_ms, body)?,
            None => return Err(MediaError::Invalid("AAC packet type")),
        }
        Ok(&self.frames)
    }

    /// Handles the payload of an RTMP video message (type 9): legacy AVC, or an Enhanced
    /// RTMP video message (one frame per track it carries).
    pub fn push_video(
        &mut self,
        timestamp_ms: u32,
        payload: Bytes,
    ) -> Result<&[Frame], MediaError> {
        self.frames.clear();
        if payload.is_empty() {
            return Ok(&self.frames);
        }
        if is_ex_video(&payload) {
            self.push_ex_video(timestamp_ms, &payload)?;
            return Ok(&self.frames);
        }
        let h = flv::parse_video_tag(&payload)?;
        match h.codec {
            VideoCodec::Avc => {}
            VideoCodec::Hevc => return Err(MediaError::Unsupported("legacy FLV HEVC (codec 12)")),
            _ => return Err(MediaError::Unsupported("video codec")),
        }
        if h.frame_type == VideoFrameType::InfoCommand {
            return Ok(&self.frames);
        }
        let body = payload.slice(h.header_len..);
        match h.avc_packet_type {
            Some(AvcPacketType::SequenceHeader) => {
                let config = VideoConfig::Avc(AvcConfig::parse(&body)?);
                self.set_video(0, config, body)?;
            }
            Some(AvcPacketType::EndOfSequence) => {}
            Some(AvcPacketType::Nalu) => {
                let key = matches!(
                    h.frame_type,
                    VideoFrameType::Key | VideoFrameType::GeneratedKey
                );
                self.video_frame(0, timestamp_ms, h.composition_time, key, body)?;
            }
            None => return Err(MediaError::Invalid("AVC packet type")),
        }
        Ok(&self.frames)
    }

    /// Applies an extended video message as a whole or not at all: every track is checked
    /// (configuration parsed, codec and sequence header matched, room for new tracks) before
    /// any of them changes the demuxer, so a message refused for its third track leaves no
    /// trace of its first two.
    fn push_ex_video(&mut self, timestamp_ms: u32, payload: &Bytes) -> Result<(), MediaError> {
        let msg = parse_ex_video(payload)?;
        let key = msg.is_keyframe();
        let tracks = msg.tracks();
        let mut configs = Vec::new();
        for t in tracks {
            match &t.packet {
                VideoPacket::SequenceStart(record) => {
                    configs.push((t.track_id, VideoConfig::parse(t.fourcc, record)?, record));
                }
                VideoPacket::CodedFrames { .. } => {
                    match self.video_track(t.track_id).map(|v| v.config.fourcc()) {
                        None => return Err(MediaError::MissingSequenceHeader(Track::Video)),
                        Some(f) if f != t.fourcc => {
                            return Err(MediaError::Invalid("coded frames of another codec"))
                        }
                        Some(_) => {}
                    }
                }
                // The TS descriptor form carries no record we could use in MP4.
                VideoPacket::Mpeg2TsSequenceStart(_) => {
                    return Err(MediaError::Unsupported("MPEG2TSSequenceStart"))
                }
                VideoPacket::SequenceEnd | VideoPacket::Metadata(_) => {}
            }
        }
        let ids = configs.iter().map(|(id, ..)| *id);
        if !room_for(self.video.iter().map(|t| t.id), ids) {
            return Err(MediaError::Invalid("too many video tracks"));
        }
        for (id, config, record) in configs {
            self.set_video(id, config, record.clone())?;
        }
        for t in tracks {
            if let VideoPacket::CodedFrames {
                composition_time,
                data,
            } = &t.packet
            {
                self.video_frame(
                    t.track_id,
                    timestamp_ms,
                    *composition_time,
                    key,
                    data.clone(),
                )?;
            }
        }
        Ok(())
    }

    /// Like [`Demuxer::push_ex_video`]: the whole message or nothing.
    fn push_ex_audio(&mut self, timestamp_ms: u32, payload: &Bytes) -> Result<(), MediaError> {
        let msg = parse_ex_audio(payload)?;
        let mut configs = Vec::new();
        for t in &msg.tracks {
            match &t.packet {
                AudioPacket::SequenceStart(record) => {
                    configs.push((t.track_id, AudioConfig::parse(t.fourcc, record)?, record));
                }
                AudioPacket::CodedFrames(_) => {
                    match self.audio_track(t.track_id).map(|a| a.config.fourcc()) {
                        // Opus needs no configuration record: an Opus track may start with
                        // frames.
                        None if t.fourcc == AudioFourCc::Opus => {}
                        None => return Err(MediaError::MissingSequenceHeader(Track::Audio)),
                        Some(f) if f != t.fourcc => {
                            return Err(MediaError::Invalid("coded frames of another codec"))
                        }
                        Some(_) => {}
                    }
                }
                AudioPacket::SequenceEnd | AudioPacket::MultichannelConfig(_) => {}
            }
        }
        let new_opus = msg.tracks.iter().filter_map(|t| match t.packet {
            AudioPacket::CodedFrames(_) if self.audio_track(t.track_id).is_none() => {
                Some(t.track_id)
            }
            _ => None,
        });
        let ids = configs.iter().map(|(id, ..)| *id).chain(new_opus);
        if !room_for(self.audio.iter().map(|t| t.id), ids) {
            return Err(MediaError::Invalid("too many audio tracks"));
        }
        for (id, config, record) in configs {
            self.set_audio(id, config, record.clone())?;
        }
        for t in &msg.tracks {
            if let AudioPacket::CodedFrames(data) = &t.packet {
                if self.audio_track(t.track_id).is_none() {
                    self.set_audio(t.track_id, AudioConfig::Opus(None), Bytes::new())?;
                }
                self.audio_frame(t.track_id, timestamp_ms, data.clone())?;
            }
        }
        Ok(())
    }

    fn set_video(&mut self, id: u8, config: VideoConfig, record: Bytes) -> Result<(), MediaError> {
        let too_many = "too many video tracks";
        set_track(
            &mut self.video,
            &mut self.video_generations,
            id,
            config,
            record,
            too_many,
        )
    }

    fn set_audio(&mut self, id: u8, config: AudioConfig, record: Bytes) -> Result<(), MediaError> {
        let too_many = "too many audio tracks";
        set_track(
            &mut self.audio,
            &mut self.audio_generations,
            id,
            config,
            record,
            too_many,
        )
    }

    fn video_frame(
        &mut self,
        id: u8,
        timestamp_ms: u32,
        composition_time: i32,
        keyframe: bool,
        data: Bytes,
    ) -> Result<(), MediaError> {
        if self.video_track(id).is_none() {
            return Err(MediaError::MissingSequenceHeader(Track::Video));
        }
        if data.is_empty() {
            return Ok(());
        }
        let dts = self.clock.extend(timestamp_ms);
        let pts = dts
            .checked_add_signed(i64::from(composition_time))
            .unwrap_or(0);
        self.frames.push(Frame {
            track: Track::Video,
            track_id: id,
            dts,
            pts,
            keyframe,
            data,
        });
        Ok(())
    }

    fn audio_frame(&mut self, id: u8, timestamp_ms: u32, data: Bytes) -> Result<(), MediaError> {
        if self.audio_track(id).is_none() {
            return Err(MediaError::MissingSequenceHeader(Track::Audio));
        }
        if data.is_empty() {
            return Ok(());
        }
        let ts = self.clock.extend(timestamp_ms);
        self.frames.push(Frame {
            track: Track::Audio,
            track_id: id,
            dts: ts,
            pts: ts,
            keyframe: true,
            data,
        });
        Ok(())
    }

    /// Summary of the primary tracks' configuration.
    pub fn codec_info(&self) -> CodecInfo {
        let mut info = CodecInfo::default();
        if let Some(v) = self.video() {
            info.video_codec = Some(v.config.codec_name());
            info.video_profile = v.config.profile_name();
            info.video_level = Some(v.config.level_string());
            if let VideoConfig::Avc(avc) = &v.config {
                info.video_compat = Some(avc.compatibility);
            }
            if let Some((w, h)) = v.config.size() {
                info.width = Some(w);
                info.height = Some(h);
            }
        }
        if let Some(a) = self.audio() {
            let t = audio_track_info(a);
            info.audio_codec = Some(t.codec);
            info.audio_profile = t.profile;
            info.sample_rate = t.sample_rate;
            info.channels = t.channels;
        }
        info.tracks = self
            .video
            .iter()
            .map(|v| TrackInfo {
                kind: Track::Video,
                id: v.id,
                codec: v.config.codec_name(),
                profile: v.config.profile_name(),
                level: Some(v.config.level_string()),
                width: v.config.size().map(|s| s.0),
                height: v.config.size().map(|s| s.1),
                sample_rate: None,
                channels: None,
            })
            .chain(self.audio.iter().map(audio_track_info))
            .collect();
        info
    }
}

fn audio_track_info(a: &AudioTrack) -> TrackInfo {
    let (profile, sample_rate, channels) = match &a.config {
        AudioConfig::Aac(asc) => (
            Some(asc.profile_name()),
            asc.extension_sample_rate.unwrap_or(asc.sample_rate),
            asc.channels(),
        ),
        AudioConfig::Opus(head) => (None, 48_000, head.as_ref().map_or(2, |h| h.channels)),
    };
    TrackInfo {
        kind: Track::Audio,
        id: a.id,
        codec: a.config.codec_name(),
        profile,
        level: None,
        width: None,
        height: None,
        sample_rate: Some(sample_rate),
        channels: Some(channels),
    }
}
