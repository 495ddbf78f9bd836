//! [`SegmentMuxer`]: the container seam of the HLS segmenter. The cut decisions, names,
//! playlist and cleanup are the same for every container; only the bytes differ.

use bytes::Bytes;

use super::cmaf::CmafMuxer;
use super::config::FragmentType;
use super::error::HlsError;
use super::ts::{Tracks, TsMuxer};
use crate::media::{AdtsHeader, AudioSpecificConfig, AvcConfig, MediaError};

/// The stream's audio configuration in the forms the containers need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AudioFormat {
    pub asc: AudioSpecificConfig,
    /// `None` when ADTS cannot carry the configuration (MPEG-TS then refuses the audio).
    pub adts: Option<AdtsHeader>,
}

impl AudioFormat {
    pub fn new(asc: &AudioSpecificConfig) -> Self {
        Self {
            asc: *asc,
            adts: asc.adts().ok(),
        }
    }
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

    /// Whether the container can carry this audio configuration.
    pub fn check_audio(&self, audio: &AudioFormat) -> Result<(), HlsError> {
        match self {
            SegmentMuxer::Ts(_) => match audio.asc.adts() {
                Ok(_) => Ok(()),
                Err(e) => Err(HlsError::Unsupported(e)),
            },
            SegmentMuxer::Cmaf(_) => Ok(()),
        }
    }

    pub fn start_segment(&mut self, tracks: Tracks, discontinuity: bool) -> Result<(), HlsError> {
        match self {
            SegmentMuxer::Ts(m) => m.start_segment(tracks, discontinuity),
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
        cfg: &AvcConfig,
    ) -> Result<(), HlsError> {
        match self {
            SegmentMuxer::Ts(m) => m.write_video(dts_ms, pts_ms, keyframe, data, cfg),
            SegmentMuxer::Cmaf(m) => m.write_video(dts_ms, pts_ms, keyframe, data, cfg),
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
            SegmentMuxer::Cmaf(m) => m.write_audio(pts_ms, data, &audio.asc),
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

    /// Output ready for the segment file; with `force`, everything written so far.
    pub fn take_output(&mut self, force: bool) -> Option<Bytes> {
        match self {
            SegmentMuxer::Ts(m) => m.take_output(force),
            SegmentMuxer::Cmaf(m) => m.take_output(),
        }
    }
}
