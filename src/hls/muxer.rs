//! [`SegmentMuxer`]: the container seam of the HLS segmenter. The cut decisions, names,
//! playlist and cleanup are the same for every container; only the bytes differ.

use bytes::Bytes;

use super::cmaf::CmafMuxer;
use super::config::FragmentType;
use super::error::HlsError;
use super::ts::{Tracks, TsMuxer};
use crate::media::{AdtsHeader, AudioConfig, MediaError, VideoConfig, VideoTrack};

/// The stream's audio configuration in the forms the containers need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AudioFormat {
    pub config: AudioConfig,
    /// `None` when ADTS cannot carry the configuration (not AAC, or an AAC configuration
    /// ADTS cannot describe): MPEG-TS then refuses the audio.
    pub adts: Option<AdtsHeader>,
}

impl AudioFormat {
    pub fn new(config: &AudioConfig) -> Self {
        let adts = match config {
            AudioConfig::Aac(asc) => asc.adts().ok(),
            AudioConfig::Opus(_) => None,
        };
        Self {
            config: config.clone(),
            adts,
        }
    }
}

/// Whether MPEG-TS can carry a stream of these codecs (H.264, HEVC; AAC): AV1, VP9 and Opus
/// have no mapping in our TS muxer.
pub(crate) fn ts_can_carry(video: Option<&VideoConfig>, audio: Option<&AudioConfig>) -> bool {
    let video_ok = matches!(
        video,
        None | Some(VideoConfig::Avc(_) | VideoConfig::Hevc(_))
    );
    let audio_ok = matches!(audio, None | Some(AudioConfig::Aac(_)));
    video_ok && audio_ok
}

/// The muxer of one stream's segments.
#[derive(Debug)]
pub(crate) enum SegmentMuxer {
    Ts(TsMuxer),
    Cmaf(Box<CmafMuxer>),
}

impl SegmentMuxer {
    pub fn new(kind: FragmentType) -> Self {
        match kind {
            FragmentType::MpegTs => SegmentMuxer::Ts(TsMuxer::new()),
            FragmentType::Fmp4 => SegmentMuxer::Cmaf(Box::default()),
        }
    }

    pub fn kind(&self) -> FragmentType {
        match self {
            SegmentMuxer::Ts(_) => FragmentType::MpegTs,
            SegmentMuxer::Cmaf(_) => FragmentType::Fmp4,
        }
    }

    /// Whether the container can carry this audio configuration.
    pub fn check_audio(&self, audio: &AudioFormat) -> Result<(), HlsError> {
        match (self, &audio.config) {
            (SegmentMuxer::Ts(_), AudioConfig::Aac(asc)) => match asc.adts() {
                Ok(_) => Ok(()),
                Err(e) => Err(HlsError::Unsupported(e)),
            },
            (SegmentMuxer::Ts(_), AudioConfig::Opus(_)) => Err(HlsError::Unsupported(
                MediaError::Unsupported("Opus in MPEG-TS"),
            )),
            (SegmentMuxer::Cmaf(_), _) => Ok(()),
        }
    }

    /// Starts a segment; `hevc` says which video codec the TS PMT announces.
    pub fn start_segment(
        &mut self,
        tracks: Tracks,
        discontinuity: bool,
        hevc: bool,
    ) -> Result<(), HlsError> {
        match self {
            SegmentMuxer::Ts(m) => {
                m.set_video_hevc(hevc);
                m.start_segment(tracks, discontinuity)
            }
            SegmentMuxer::Cmaf(m) => {
                m.start_segment(tracks, discontinuity);
                Ok(())
            }
        }
    }

    pub fn write_video(
        &mut self,
        dts_ms: u64,
        pts_ms: u64,
        keyframe: bool,
        data: &Bytes,
        track: &VideoTrack,
    ) -> Result<(), HlsError> {
        match (self, &track.config) {
            (SegmentMuxer::Ts(m), VideoConfig::Avc(cfg)) => {
                m.write_video(dts_ms, pts_ms, keyframe, data, cfg)
            }
            (SegmentMuxer::Ts(m), VideoConfig::Hevc(cfg)) => {
                m.write_hevc(dts_ms, pts_ms, keyframe, data, cfg)
            }
            (SegmentMuxer::Ts(_), _) => Err(HlsError::Unsupported(MediaError::Unsupported(
                "AV1 or VP9 in MPEG-TS",
            ))),
            (SegmentMuxer::Cmaf(m), _) => m.write_video(dts_ms, pts_ms, keyframe, data, track),
        }
    }

    pub fn write_audio(
        &mut self,
        pts_ms: u64,
        data: &Bytes,
        audio: &AudioFormat,
    ) -> Result<(), HlsError> {
        match self {
            SegmentMuxer::Ts(m) => {
                let adts = audio
                    .adts
                    .ok_or(HlsError::Unsupported(MediaError::Unsupported(
                        "audio configuration without an ADTS form",
                    )))?;
                m.write_audio(pts_ms, data, &adts)
            }
            SegmentMuxer::Cmaf(m) => m.write_audio(pts_ms, data, &audio.config),
        }
    }

    /// Ends the open segment (its media ends at `end_ms`). Returns a new initialization
    /// segment when the container has one and it changed.
    pub fn end_segment(&mut self, end_ms: u64) -> Result<Option<Bytes>, HlsError> {
        match self {
            SegmentMuxer::Ts(m) => m.flush_audio().map(|()| None),
            SegmentMuxer::Cmaf(m) => m.end_segment(end_ms),
        }
    }

    /// Ends a part of the open segment at `end_ms` (Low-Latency HLS): everything written so
    /// far becomes output. Returns a new initialization segment as [`end_segment`] does.
    ///
    /// [`end_segment`]: Self::end_segment
    pub fn end_part(&mut self, end_ms: u64) -> Result<Option<Bytes>, HlsError> {
        match self {
            SegmentMuxer::Ts(m) => m.flush_audio().map(|()| None),
            // A part is a fragment (moof + mdat) of its own.
            SegmentMuxer::Cmaf(m) => m.end_segment(end_ms),
        }
    }

    /// Starts the next part of the open segment: MPEG-TS repeats its tables there.
    pub fn start_part(&mut self) -> Result<(), HlsError> {
        match self {
            SegmentMuxer::Ts(m) => m.write_tables(),
            SegmentMuxer::Cmaf(_) => Ok(()),
        }
    }

    /// Output ready for the segment file; with `force`, everything written so far.
    pub fn take_output(&mut self, force: bool) -> Option<Bytes> {
        match self {
            SegmentMuxer::Ts(m) => m.take_output(force),
            SegmentMuxer::Cmaf(m) => m.take_output(),
        }
    }
}
