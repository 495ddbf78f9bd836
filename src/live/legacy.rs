//! Serving players that predate Enhanced RTMP.
//!
//! A stream's codecs are tracked from its sequence headers ([`StreamCodecs`], no demuxing:
//! mirrored pipelines on other workers do the same with the raw messages). From them follows
//! its [`StreamForm`]: which extended codecs a player must accept to get the stream as
//! published, and what a legacy player gets instead — the legacy AVC/AAC messages as they are,
//! the AVC/AAC track of a multitrack or extended stream rewritten as legacy FLV messages, or
//! nothing playable (the player is told so: [`View::Unplayable`]).
//!
//! The legacy form of a message is built once ([`convert`]) and shared by every legacy
//! player; a player only chooses between the two forms ([`View::choose`]).

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use super::media_info::MediaInfo;
use crate::media::ex_header::MAX_TRACKS;
use crate::media::ex_peek::{peek_audio, peek_video};
use crate::media::{AudioFourCc, CodecMask, FourCc, VideoFourCc};
use crate::rtmp::message::types;

const AVC1: FourCc = FourCc::new(b"avc1");
const MP4A: FourCc = FourCc::new(b"mp4a");

/// How a track's messages are framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Codec {
    /// Legacy FLV tags (AVC, AAC, or an older FLV codec): what every player reads.
    Legacy,
    /// Enhanced RTMP, with this FourCC.
    Ex(FourCc),
}

/// The codec of each track of a stream, from its sequence headers.
#[derive(Debug, Clone, Default)]
pub struct StreamCodecs {
    /// (track id, codec), sorted by id; at most [`MAX_TRACKS`].
    video: Vec<(u8, Codec)>,
    audio: Vec<(u8, Codec)>,
    form: StreamForm,
}

/// What a legacy player gets of a stream's video (or audio).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LegacyTrack {
    /// No such media (yet).
    #[default]
    None,
    /// The messages are legacy already: as published.
    Native,
    /// The extended AVC (AAC) track with this id, rewritten as legacy messages.
    Track(u8),
    /// Nothing a legacy player can decode: the primary track's codec.
    Unplayable(FourCc),
}

/// A stream's codecs as the fan-out sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamForm {
    /// The extended codecs of the stream: a player that accepts them all gets the stream as
    /// published.
    pub extended: CodecMask,
    pub video: LegacyTrack,
    pub audio: LegacyTrack,
}

fn set(tracks: &mut Vec<(u8, Codec)>, id: u8, codec: Codec) {
    match tracks.binary_search_by_key(&id, |t| t.0) {
        Ok(i) => {
            if let Some(t) = tracks.get_mut(i) {
                t.1 = codec;
            }
        }
        Err(i) if tracks.len() < MAX_TRACKS => tracks.insert(i, (id, codec)),
        Err(_) => {}
    }
}

fn legacy_track(tracks: &[(u8, Codec)], convertible: FourCc) -> LegacyTrack {
    let Some(&(_, primary)) = tracks.first() else {
        return LegacyTrack::None;
    };
    if primary == Codec::Legacy {
        return LegacyTrack::Native;
    }
    if let Some((id, _)) = tracks.iter().find(|t| t.1 == Codec::Ex(convertible)) {
        return LegacyTrack::Track(*id);
    }
    match primary {
        Codec::Ex(code) => LegacyTrack::Unplayable(code),
        Codec::Legacy => LegacyTrack::Native,
    }
}

impl StreamCodecs {
    /// Takes note of a published message (only sequence headers change anything; a legacy
    /// message of a track not seen yet counts as its header).
    pub fn note(&mut self, type_id: u8, payload: &[u8], info: &MediaInfo) {
        let (tracks, ex) = match type_id {
            types::VIDEO => (&mut self.video, peek_video(payload)),
            types::AUDIO => (&mut self.audio, peek_audio(payload)),
            _ => return,
        };
        match ex {
            Some(peek) if info.sequence_header => {
                for t in peek.tracks(payload) {
                    set(tracks, t.track_id, Codec::Ex(t.fourcc));
                }
            }
            Some(_) => return,
            None if payload.is_empty() => return,
            None => {
                if !info.sequence_header && tracks.first().is_some_and(|t| t.0 == 0) {
                    return;
                }
                set(tracks, 0, Codec::Legacy);
            }
        }
        self.refresh();
    }

    fn refresh(&mut self) {
        let mut extended = CodecMask::NONE;
        for (_, c) in self.video.iter().chain(self.audio.iter()) {
            if let Codec::Ex(code) = c {
                extended.insert(*code);
            }
        }
        self.form = StreamForm {
            extended,
            video: legacy_track(&self.video, AVC1),
            audio: legacy_track(&self.audio, MP4A),
        };
    }

    /// The stream's form now.
    pub fn form(&self) -> StreamForm {
        self.form
    }

    /// Forgets every track (a new publisher).
    pub fn clear(&mut self) {
        *self = StreamCodecs::default();
    }
}

/// What legacy players get of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegacyPlan {
    /// The message as published.
    Same,
    /// Nothing.
    Skip,
    /// Track `track` rewritten as a legacy message ([`convert`]).
    Convert { track: u8 },
}

impl LegacyPlan {
    /// The plan for a message of a stream of `form`.
    pub fn of(type_id: u8, payload: &[u8], form: &StreamForm) -> LegacyPlan {
        let (ex, legacy) = match type_id {
            types::VIDEO => (payload.first().is_some_and(|b| b & 0x80 != 0), form.video),
            types::AUDIO => (payload.first().is_some_and(|b| b >> 4 == 9), form.audio),
            _ => return LegacyPlan::Same,
        };
        match (ex, legacy) {
            (false, _) => LegacyPlan::Same,
            (true, LegacyTrack::Track(track)) => LegacyPlan::Convert { track },
            (true, _) => LegacyPlan::Skip,
        }
    }
}

/// Writes into `out` the legacy FLV form of track `track` of an extended message: AVC as
/// `[frame type | 7, AVCPacketType, composition time]` + data, AAC as `[0xAF,
/// AACPacketType]` + data. False when the message has no such track of that codec, or its
/// packet has no legacy form (metadata, multichannel configuration, ...).
pub fn convert(type_id: u8, payload: &[u8], track: u8, out: &mut Vec<u8>) -> bool {
    out.clear();
    let video = type_id == types::VIDEO;
    let peek = match type_id {
        types::VIDEO => peek_video(payload),
        types::AUDIO => peek_audio(payload),
        _ => None,
    };
    let Some(peek) = peek else {
        return false;
    };
    let want = if video { AVC1 } else { MP4A };
    let Some(t) = peek
        .tracks(payload)
        .find(|t| t.track_id == track && t.fourcc == want)
    else {
        return false;
    };
    let Some(body) = payload.get(t.body) else {
        return false;
    };
    if video {
        let frame = (peek.frame_type.clamp(1, 4) << 4) | 7;
        match peek.packet_type {
            // SequenceStart: an AVC sequence header.
            0 => out.extend_from_slice(&[0x17, 0, 0, 0, 0]),
            // CodedFrames: the composition time is the body's first three bytes already.
            1 => out.extend_from_slice(&[frame, 1]),
            // CodedFramesX: composition time zero.
            3 => out.extend_from_slice(&[frame, 1, 0, 0, 0]),
            // SequenceEnd: an AVC end of sequence, no data.
            2 => {
                out.extend_from_slice(&[frame, 2, 0, 0, 0]);
                return true;
            }
            _ => return false,
        }
    } else {
        match peek.packet_type {
            0 => out.extend_from_slice(&[0xAF, 0]),
            1 => out.extend_from_slice(&[0xAF, 1]),
            _ => return false,
        }
    }
    out.extend_from_slice(body);
    true
}

/// How one player sees a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// As published, every track.
    AsPublished,
    /// The legacy form of each message.
    Legacy,
    /// Nothing it can decode: the codec it would need.
    Unplayable(FourCc),
}

impl View {
    /// The view of a player that accepts `accepted` (empty for a legacy player) on a stream
    /// of `form`.
    pub fn choose(accepted: CodecMask, form: &StreamForm) -> View {
        if accepted.covers(form.extended) {
            return View::AsPublished;
        }
        match form.video {
            // A player that takes the video codec lacks the audio's: that one is named.
            LegacyTrack::Unplayable(video) => match form.audio {
                LegacyTrack::Unplayable(audio)
                    if accepted.contains(video) && !accepted.contains(audio) =>
                {
                    View::Unplayable(audio)
                }
                _ => View::Unplayable(video),
            },
            _ => View::Legacy,
        }
    }
}

/// A codec's name for a player's status line ("HEVC", "AV1", ...; the FourCC otherwise).
pub fn codec_name(code: FourCc) -> String {
    match VideoFourCc::from_fourcc(code) {
        Some(VideoFourCc::Avc) => "H.264".into(),
        Some(VideoFourCc::Hevc) => "HEVC".into(),
        Some(VideoFourCc::Av1) => "AV1".into(),
        Some(VideoFourCc::Vp9) => "VP9".into(),
        None => match AudioFourCc::from_fourcc(code) {
            Some(AudioFourCc::Opus) => "Opus".into(),
            _ => code.to_string(),
        },
    }
}
