//! What a DASH stream carries of one kind of track: the publisher's primary track of that
//! kind (H.264, HEVC, AV1, VP9 video; AAC, Opus audio), its initialization segment's
//! configuration and its MPD representation's attributes, taken from the [`Demuxer`] once
//! per configuration rather than per frame.

use bytes::Bytes;

use super::mp4::{Sample, TrackConfig, VIDEO_TIMESCALE};
use super::mpd::Kind;
use crate::media::picture::picture_size;
use crate::media::{AudioConfig, Demuxer, Frame, Track};

/// Duration of an audio frame whose bitstream does not tell, when no earlier frame does.
const DEFAULT_AUDIO_FRAME_MS: u64 = 20;

/// The primary track of one kind, as the stream writes it.
#[derive(Debug, Clone)]
pub(super) struct Source {
    /// The demuxer's track id and configuration generation: a change means a new source.
    pub id: u8,
    pub generation: u32,
    pub config: TrackConfig,
    /// RFC 6381 `codecs`.
    pub codecs: String,
    /// "H264", "HEVC", "AV1", "VP9", "AAC", "Opus": the suffix of the representation's id.
    pub codec_name: &'static str,
    pub kind: Kind,
    /// Audio: what tells a frame's duration.
    pub audio: Option<AudioConfig>,
}

impl Source {
    /// The primary track of `frame`'s kind; its picture size may come from `frame` (VP9).
    pub fn of(codecs: &Demuxer, frame: &Frame) -> Option<Source> {
        match frame.track {
            Track::Video => {
                let t = codecs.video()?;
                let (width, height) = picture_size(&t.config, frame).unwrap_or((0, 0));
                Some(Source {
                    id: t.id,
                    generation: t.generation,
                    config: TrackConfig::from_video_track(t).with_size(width, height),
                    codecs: t.config.codec_string(),
                    codec_name: t.config.codec_name(),
                    kind: Kind::Video { width, height },
                    audio: None,
                })
            }
            Track::Audio => {
                let t = codecs.audio()?;
                Some(Source {
                    id: t.id,
                    generation: t.generation,
                    config: TrackConfig::from_audio_track(t),
                    codecs: t.config.codec_string(),
                    codec_name: t.config.codec_name(),
                    kind: Kind::Audio {
                        sampling_rate: t.config.output_rate(),
                        channels: t.config.channels(),
                    },
                    audio: Some(t.config.clone()),
                })
            }
        }
    }

    /// Whether the demuxer's primary track of `frame`'s kind is still this one, with its
    /// picture size known when `frame` tells it.
    pub fn is_current(&self, codecs: &Demuxer, frame: &Frame) -> bool {
        if self.kind
            == (Kind::Video {
                width: 0,
                height: 0,
            })
            && frame.keyframe
        {
            return false;
        }
        match frame.track {
            Track::Video => codecs
                .video()
                .is_some_and(|t| (t.id, t.generation) == (self.id, self.generation)),
            Track::Audio => codecs
                .audio()
                .is_some_and(|t| (t.id, t.generation) == (self.id, self.generation)),
        }
    }

    /// Samples of an audio frame, when its bitstream tells.
    pub fn frame_samples(&self, data: &[u8]) -> Option<u64> {
        self.audio.as_ref().and_then(|a| a.frame_samples(data))
    }

    /// Media timescale (the initialization segment's).
    pub fn timescale(&self) -> u64 {
        u64::from(self.config.timescale()).max(1)
    }
}

/// One track's part of the open fragment.
#[derive(Debug)]
pub(super) struct TrackFrag {
    pub source: Source,
    /// Decode times in the track's timescale.
    pub times: Vec<u64>,
    pub samples: Vec<Sample>,
    pub data: Vec<Bytes>,
    pub bytes: usize,
    /// Duration of the last sample when nothing follows it (audio: its frame's length).
    pub tail: u64,
}

impl TrackFrag {
    pub fn new(source: Source) -> Self {
        let tail = source.timescale() * DEFAULT_AUDIO_FRAME_MS / 1000;
        Self {
            source,
            times: Vec::new(),
            samples: Vec::new(),
            data: Vec::new(),
            bytes: 0,
            tail,
        }
    }

    pub fn push(&mut self, time: u64, cto: u32, sync: bool, data: &Bytes) {
        if let Some(&last) = self.times.last() {
            if time > last {
                self.tail = time - last;
            }
        }
        self.times.push(time);
        self.samples.push(Sample {
            duration: 0,
            size: u32::try_from(data.len()).unwrap_or(u32::MAX),
            sync,
            cto,
        });
        self.bytes += data.len();
        self.data.push(data.clone());
    }
}

/// Video decode time (90 kHz) of a time in ms.
pub(super) fn video_time(ms: u64) -> u64 {
    ms.saturating_mul(u64::from(VIDEO_TIMESCALE) / 1000)
}
