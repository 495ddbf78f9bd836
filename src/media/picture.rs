//! The picture size of a video track: its configuration record's, or, for VP9 (whose
//! records carry none), the size in the uncompressed header of a key frame.

use super::codec_config::VideoConfig;
use super::frame::Frame;
use super::vp9;

/// The picture size of the track `config` configures, `frame` one of its frames.
pub fn picture_size(config: &VideoConfig, frame: &Frame) -> Option<(u32, u32)> {
    config.size().or_else(|| match config {
        VideoConfig::Vp9(_) if frame.keyframe => vp9::keyframe_size(&frame.data),
        _ => None,
    })
}
