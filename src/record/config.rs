//! What one recorder is told: nginx-rtmp's `record*` directives, already parsed.

use super::strftime::strftime;
use crate::files::{uri_escape, RelPath};

/// `record`: which messages a recorder keeps, combinable as nginx-rtmp's flags are
/// (`record audio keyframes`). `all` is audio + video; `off` is no recorder at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecordMode {
    /// Audio messages.
    pub audio: bool,
    /// Every video message.
    pub video: bool,
    /// Video keyframes only (meaningful without `video`).
    pub keyframes: bool,
    /// Files open only on [`RecordHandle::start`](super::RecordHandle::start) (the control
    /// API), not when the stream is published.
    pub manual: bool,
}

impl RecordMode {
    /// `record all`.
    pub const ALL: RecordMode = RecordMode {
        audio: true,
        video: true,
        keyframes: false,
        manual: false,
    };

    /// Keeps some video.
    pub fn any_video(&self) -> bool {
        self.video || self.keyframes
    }

    /// Keeps something.
    pub fn any(&self) -> bool {
        self.audio || self.any_video()
    }
}

/// `record_format`: what a recorder's files are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecordFormat {
    /// FLV, as nginx-rtmp writes (the default), finished with a complete `onMetaData`.
    #[default]
    Flv,
    /// Fragmented MP4: an init segment, then one fragment per `record_fragment`.
    Mp4,
}

impl RecordFormat {
    /// The file suffix when `record_suffix` is not given.
    pub fn default_suffix(self) -> &'static str {
        match self {
            RecordFormat::Flv => ".flv",
            RecordFormat::Mp4 => ".mp4",
        }
    }
}

/// Default `record_fragment`: the media time of one MP4 fragment.
pub const DEFAULT_FRAGMENT_MS: u64 = 1000;

/// Default keyframes one file's index has room for; past it the index is thinned.
pub const DEFAULT_INDEX_CAPACITY: usize = 2048;
/// Default media time buffered before an append, ms (a few writes a second per file).
pub const DEFAULT_FLUSH_MS: u32 = 250;
/// Default bytes buffered before an append.
pub const DEFAULT_FLUSH_BYTES: usize = 64 << 10;

/// One recorder's configuration (`record`, `record_suffix`, `record_unique`,
/// `record_max_size`, `record_max_frames`, `record_interval`, with nginx-rtmp's defaults in
/// [`RecordConfig::new`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordConfig {
    /// The `recorder` block's name, empty for the application's own `record`.
    pub id: String,
    pub mode: RecordMode,
    /// `record_suffix`; `None` when not given: the format's
    /// [`default_suffix`](RecordFormat::default_suffix) (`.flv`, `.mp4`). A pattern with `%`
    /// is expanded as `strftime` in local time ([`RecordConfig::utc_offset_s`]).
    pub suffix: Option<String>,
    /// `record_unique`: `-<unix seconds>` after the stream name.
    pub unique: bool,
    /// `record_max_size` in bytes, 0 = unlimited: the file is split at the first split point
    /// (keyframe) once it holds this much.
    pub max_size: u64,
    /// `record_max_frames`, 0 = unlimited: split at the first split point once the file holds
    /// this many media frames.
    pub max_frames: u64,
    /// `record_interval` in ms, `None` = one file per publish: split at the first split point
    /// once the file holds this much media time.
    pub interval_ms: Option<u64>,
    /// `record_format`.
    pub format: RecordFormat,
    /// `record_fragment` in ms (MP4 only): a fragment is cut at the first split point once
    /// it holds this much media time.
    pub fragment_ms: u64,
    /// `record_append` (FLV only; MP4 ignores it): a file whose final name exists is
    /// continued instead of a new one being written beside it.
    pub append: bool,
    /// The local zone's offset from UTC in seconds at the time of publish, for `%` patterns
    /// (the shell reads the zone; the core has none).
    pub utc_offset_s: i32,
    /// Keyframes the metadata of one file indexes before the index is thinned (every other
    /// entry dropped): fixes the size of the reserved `onMetaData` tag. At most 65536; more
    /// is taken as that.
    pub index_capacity: usize,
    /// Bytes buffered before an append (appends also happen at each video keyframe).
    pub flush_bytes: usize,
    /// Media time (ms) buffered before an append: what a killed worker can lose of an FLV
    /// file at most.
    pub flush_ms: u32,
}

impl RecordConfig {
    /// nginx-rtmp's defaults for `mode`: FLV, the format's suffix, no limits, not unique.
    pub fn new(mode: RecordMode) -> RecordConfig {
        RecordConfig {
            id: String::new(),
            mode,
            suffix: None,
            unique: false,
            max_size: 0,
            max_frames: 0,
            interval_ms: None,
            format: RecordFormat::Flv,
            fragment_ms: DEFAULT_FRAGMENT_MS,
            append: false,
            utc_offset_s: 0,
            index_capacity: DEFAULT_INDEX_CAPACITY,
            flush_bytes: DEFAULT_FLUSH_BYTES,
            flush_ms: DEFAULT_FLUSH_MS,
        }
    }

    /// The suffix in use: `record_suffix`, or the format's default.
    pub fn suffix(&self) -> &str {
        self.suffix
            .as_deref()
            .unwrap_or_else(|| self.format.default_suffix())
    }

    /// The final file name of a recording of `stream` opened at `unix_s`: the URI-escaped
    /// stream name (nginx-rtmp escapes it as a URI component, so no `/` survives), then
    /// `-<unix_s>` when unique, then the suffix, expanded when it has a `%`. A `/` produced by
    /// the expansion (`%D`) becomes `-`: a recording never lands in a subdirectory.
    pub fn file_name(&self, stream: &str, unix_s: i64) -> RelPath {
        let mut name = uri_escape(stream);
        if self.unique {
            name.push('-');
            name.push_str(&unix_s.to_string());
        }
        let suffix = self.suffix();
        let suffix = if suffix.contains('%') {
            strftime(suffix, unix_s, self.utc_offset_s)
        } else {
            suffix.to_string()
        };
        name.extend(suffix.chars().map(|c| match c {
            '/' | '\\' => '-',
            c if c.is_control() => '_',
            c => c,
        }));
        RelPath::new(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_nginx_rtmp() {
        let mut c = RecordConfig::new(RecordMode::ALL);
        assert_eq!(c.file_name("live", 1_700_000_000).as_str(), "live.flv");
        c.unique = true;
        assert_eq!(
            c.file_name("a b", 1_700_000_000).as_str(),
            "a%20b-1700000000.flv"
        );
        c.unique = false;
        c.suffix = Some("-%d-%b-%y-%T.flv".into());
        assert_eq!(
            c.file_name("cam", 1_700_000_000).as_str(),
            "cam-14-Nov-23-22:13:20.flv"
        );
        c.suffix = Some("-%D.flv".into());
        assert_eq!(c.file_name("../x", 0).as_str(), "..%2Fx-01-01-70.flv");
        c.suffix = None;
        c.format = RecordFormat::Mp4;
        assert_eq!(c.file_name("cam", 0).as_str(), "cam.mp4");
    }
}
