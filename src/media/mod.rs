//! Media parsing: FLV tag headers, AVC and AAC codec configuration, and the
//! per-stream [`Demuxer`] that turns RTMP audio/video message payloads into
//! timestamped [`Frame`]s.
//!
//! Everything here is pure: bytes in, values out. Payloads travel as
//! [`bytes::Bytes`] and frames are zero-copy slices of the message they came in.

pub mod aac;
pub mod audio_frames;
pub mod av1;
pub mod avc;
mod bits;
pub mod codec_config;
pub mod codec_mask;
pub mod codecs;
pub mod demux;
mod error;
pub mod ex_audio;
pub mod ex_header;
pub mod ex_peek;
pub mod flv;
pub mod flv_stream;
pub mod fmp4;
pub mod fourcc;
pub mod frame;
pub mod hevc;
pub mod opus;
pub mod per_track;
pub mod picture;
mod timestamp;
pub mod vp9;

pub use aac::{AdtsHeader, AudioSpecificConfig};
pub use av1::Av1Config;
pub use avc::{AvcConfig, SpsInfo};
pub use codec_config::{AudioConfig, VideoConfig};
pub use codec_mask::CodecMask;
pub use demux::{AudioTrack, CodecInfo, Demuxer, TrackInfo, VideoTrack};
pub use error::MediaError;
pub use ex_audio::{parse_ex_audio, ExAudio};
pub use ex_header::{parse_ex_video, ExVideo};
pub use flv_stream::{FlvError, FlvReader, FlvTag, FlvWriter};
pub use fourcc::{AudioFourCc, FourCc, VideoFourCc};
pub use frame::{Frame, Track};
pub use hevc::{HevcConfig, HevcSpsInfo};
pub use opus::OpusHead;
pub use timestamp::TimestampExtender;
pub use vp9::VpConfig;
