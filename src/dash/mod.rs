//! MPEG-DASH: fragmented MP4 (CMAF-style) segments and a live MPD, as nginx-rtmp-module's
//! dash module writes them (`dash`, `dash_path`, `dash_fragment`, `dash_playlist_length`,
//! `dash_nested`, `dash_cleanup`).
//!
//! The seam to the nginx shell is [`DashStream`], shaped like
//! [`HlsStream`](crate::hls::HlsStream): frames in, [`FileOp`](crate::files::FileOp)s out,
//! paths relative to `dash_path`, times in as [`Now`](crate::files::Now). No I/O, no clock.
//!
//! Each track gets its own files (an initialization segment and one media segment per
//! fragment) and its own adaptation set with a `SegmentTimeline`; fragments are cut at
//! the first video keyframe after `dash_fragment` (audio-only streams: by time), so every
//! video segment starts with a keyframe unless no keyframe came within twice
//! `dash_fragment`.
//!
//! The renditions of one publish form a [`DashGroup`]: the source's stream leads
//! ([`DashStream::lead`]), each rendition's stream follows ([`DashStream::follow`]) and is cut
//! at the leader's instants, and the leader writes one MPD whose video adaptation set holds
//! every live member as a representation.

mod config;
mod frame_rate;
mod group;
pub mod mp4;
pub mod mpd;
mod output;
mod source;
mod stream;

pub use config::{DashConfig, DashError};
pub use group::{DashGroup, SharedDashGroup};
pub use stream::{DashStream, JUMP_BACKWARD_MS, JUMP_FORWARD_MS, MAX_FRAGMENT_BYTES};
