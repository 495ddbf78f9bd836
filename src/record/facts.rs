//! What a recorder learns from a published message: whether it is a keyframe of the
//! stream's primary video track, and what an FLV file's `onMetaData` says about the media
//! (codec ids as FFmpeg's FLV muxer writes them for Enhanced RTMP: the FourCC as a number).

use super::flv_file::FlvFile;
use crate::live::{MediaKind, Published};
use crate::media::flv::parse_audio_tag;
use crate::media::picture::picture_size;
use crate::media::{AudioConfig, VideoConfig};

/// Enhanced RTMP: bit 7 of a video tag's first byte (no classic codec id in the low bits).
const VIDEO_EX_HEADER: u8 = 0x80;
/// Enhanced RTMP: sound format 9 announces an extended audio header.
const AUDIO_EX_HEADER: u8 = 9;
/// Classic FLV codec ids of AVC and AAC (what FFmpeg writes for them, whatever the header).
const FLV_AVC: f64 = 7.0;
const FLV_AAC: f64 = 10.0;

/// Whether `msg` carries a keyframe of the stream's primary video track: a file starts and
/// splits there, and the index points there. A message of other tracks only (a multitrack
/// message) is none; a message the demuxer did not take (codecs it does not parse) is
/// what its tag header says.
pub(super) fn primary_keyframe(msg: &Published<'_>) -> bool {
    if msg.info.kind != MediaKind::Video {
        return false;
    }
    match msg.frame() {
        Some(f) => f.keyframe,
        None => msg.frames.is_empty() && msg.info.keyframe,
    }
}

/// Whether `msg` carries a frame of the primary track (or is not demuxed at all): what the
/// frame count and rate of the metadata count.
fn primary(msg: &Published<'_>) -> bool {
    msg.frame().is_some() || msg.frames.is_empty()
}

fn video_codec_id(config: &VideoConfig) -> f64 {
    match config {
        VideoConfig::Avc(_) => FLV_AVC,
        c => f64::from(c.fourcc().fourcc().as_u32()),
    }
}

fn audio_codec_id(config: &AudioConfig) -> f64 {
    match config {
        AudioConfig::Aac(_) => FLV_AAC,
        c => f64::from(c.fourcc().fourcc().as_u32()),
    }
}

/// What the FLV metadata says about the media, from a message written into the file.
pub(super) fn flv_facts(flv: &mut FlvFile, msg: &Published<'_>, video: bool) {
    let first = msg.payload.first().copied().unwrap_or(0);
    let len = msg.payload.len() as u64;
    if video {
        flv.video_bytes += len;
        if primary(msg) {
            flv.video_frames += 1;
        }
        let Some(track) = msg.codecs.video() else {
            if first & VIDEO_EX_HEADER == 0 {
                flv.facts.videocodecid = f64::from(first & 0x0f);
            }
            return;
        };
        flv.facts.videocodecid = video_codec_id(&track.config);
        let size = match msg.frame() {
            Some(frame) => picture_size(&track.config, frame),
            None => track.config.size(),
        };
        if let Some((w, h)) = size {
            flv.facts.width = f64::from(w);
            flv.facts.height = f64::from(h);
        }
        if let VideoConfig::Avc(avc) = &track.config {
            if let Some(milli) = avc.sps_info.and_then(|s| s.frame_rate_milli) {
                flv.facts.framerate = f64::from(milli) / 1000.0;
            }
        }
    } else {
        flv.audio_bytes += len;
        match msg.codecs.audio().map(|t| &t.config) {
            Some(config) => {
                flv.facts.audiocodecid = audio_codec_id(config);
                flv.facts.audiosamplerate = f64::from(match config {
                    AudioConfig::Aac(asc) => asc.sample_rate,
                    c => c.output_rate(),
                });
                flv.facts.stereo = config.channels() > 1;
            }
            None => {
                if first >> 4 != AUDIO_EX_HEADER {
                    flv.facts.audiocodecid = f64::from(first >> 4);
                }
                if let Ok(h) = parse_audio_tag(msg.payload) {
                    flv.facts.audiosamplerate = f64::from(h.rate_hz);
                    flv.facts.stereo = h.stereo;
                }
            }
        }
    }
}
