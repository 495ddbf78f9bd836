//! The request side of HLS served by the `rtmp_hls` http handler, sans-IO: which file of which
//! `hls_path` a request names ([`path`]), the LL-HLS delivery directives of its query
//! ([`query`]), what a playlist on disk says about the live edge ([`state`]), whether a blocking
//! request is answered now, waits or is refused ([`block`]), and the delta update of a playlist
//! ([`delta`]), and the play checks' verdicts of playlist requests ([`access`]).
//!
//! The shell reads the files and holds the waiting requests; everything it decides with comes
//! from here.

pub mod access;
pub mod block;
pub mod delta;
pub mod path;
pub mod query;
pub mod state;
pub mod waiters;

pub use block::{decide, Decision, Want};
pub use delta::delta;
pub use path::{candidates, classify, playlist_of_part, stream_of_playlist, FileKind, PathError};
pub use query::{Directives, QueryError, Skip};
pub use state::{PlaylistState, Pos};
pub use waiters::{Awaited, Outcome, Stamp, Waiters, Woken};
