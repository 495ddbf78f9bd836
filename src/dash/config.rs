use std::fmt;

use crate::files::RelPath;
use crate::media::Track;

/// DASH settings of one application, with nginx-rtmp-module's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashConfig {
    /// `dash_fragment` (default 5 s): fragments are cut at the first video keyframe after
    /// this long (audio-only streams: at this long).
    pub fragment_ms: u64,
    /// `dash_playlist_length` (default 30 s): how much the live MPD lists.
    pub playlist_length_ms: u64,
    /// `dash_nested`: `name/index.mpd`, `name/init.m4v`, `name/1000.m4v`.
    pub nested: bool,
    /// `dash_cleanup` (default on): delete fragments that left the window, and everything
    /// after the stream ended.
    pub cleanup: bool,
}

impl Default for DashConfig {
    fn default() -> Self {
        Self {
            fragment_ms: 5_000,
            playlist_length_ms: 30_000,
            nested: false,
            cleanup: true,
        }
    }
}

impl DashConfig {
    /// Where the MPD of stream (or group) `name` lives, relative to `dash_path`.
    pub fn mpd_path(&self, name: &str) -> RelPath {
        if self.nested {
            RelPath::new(format!("{name}/index.mpd"))
        } else {
            RelPath::new(format!("{name}.mpd"))
        }
    }

    /// A fragment without a keyframe in time is cut anyway at this length (nginx-rtmp keeps
    /// fragments within twice `dash_fragment` for dash.js).
    pub fn max_fragment_ms(&self) -> u64 {
        self.fragment_ms.saturating_mul(2)
    }

    pub fn validate(&self) -> Result<(), DashError> {
        if self.fragment_ms == 0 {
            return Err(DashError::InvalidConfig("dash_fragment must be positive"));
        }
        if self.playlist_length_ms == 0 {
            return Err(DashError::InvalidConfig(
                "dash_playlist_length must be positive",
            ));
        }
        Ok(())
    }
}

/// Errors of the DASH core. `InvalidName` and `InvalidConfig` (from
/// [`DashStream::new`](super::DashStream::new)) are fatal for the stream; the others mean
/// "this frame was dropped".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DashError {
    InvalidName(&'static str),
    InvalidConfig(&'static str),
    /// A frame arrived for a track whose codec configuration is missing.
    MissingConfig(Track),
    /// `push` after `finish`.
    Finished,
}

impl fmt::Display for DashError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DashError::InvalidName(why) => write!(f, "invalid stream name for DASH: {why}"),
            DashError::InvalidConfig(why) => write!(f, "invalid DASH configuration: {why}"),
            DashError::MissingConfig(t) => write!(f, "{t} frame without codec configuration"),
            DashError::Finished => f.write_str("stream already finished"),
        }
    }
}

impl std::error::Error for DashError {}
