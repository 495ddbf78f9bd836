//! HLS: MPEG-TS and fMP4 (CMAF) muxers, segmenter and live playlists.
//!
//! The seam to the nginx shell is [`HlsStream`]: the shell creates one per
//! published stream, feeds it [`Frame`](crate::media::Frame)s, and executes
//! the [`FileOp`](crate::files::FileOp)s it drains with
//! [`HlsStream::poll_op`], in order. This module never touches the file
//! system or a clock: paths are relative to `hls_path`, times come in as
//! [`Now`](crate::files::Now).

mod annexb;
mod bandwidth;
pub mod cmaf;
mod config;
mod duration;
mod error;
mod grid;
pub mod master;
mod muxer;
mod output;
pub mod parts;
pub mod playlist;
mod reports;
mod schedule;
mod segmenter;
mod stream;
mod stream_inf;
mod track_names;
pub mod ts;
pub mod variant;

pub use config::{
    FragmentType, HlsConfig, Naming, PlaylistKind, Slicing, DEFAULT_PART_MS, MAX_PART_MS,
    MIN_PART_MS,
};
pub use error::HlsError;
pub use parts::{LowLatency, OpenParts, PartEntry, RenditionReport};
pub use playlist::{Playlist, SegmentEntry};
pub use reports::{playlist_progress, PeerProgress, PlaylistProgress, RenditionBoard};
pub use schedule::{Cut, CutSchedule};
pub use segmenter::{target_duration_for, DISCONTINUITY_BACKWARD_MS, DISCONTINUITY_FORWARD_MS};
pub use stream::HlsStream;
pub use stream_inf::{Attribute, VariantError, VariantInfo};
pub use track_names::{rendition_base, track_stream_name};
pub use ts::{Tracks, TsMuxer, AUDIO_PID, OUTPUT_BLOCK, PMT_PID, VIDEO_PID};
pub use variant::{status_path, GroupMember, MemberStatus, VariantGroup, VariantSpec};
