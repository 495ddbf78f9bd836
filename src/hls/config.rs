use super::error::HlsError;

/// `hls_fragment_naming`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Naming {
    /// Segment ids are the media sequence numbers: `name-17.ts`.
    #[default]
    Sequential,
    /// Ids are the stream timestamp (ms) of the segment start.
    Timestamp,
    /// Ids are the wall clock (Unix ms) when the segment opened.
    System,
}

/// `hls_fragment_slicing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Slicing {
    /// Cut once `hls_fragment` has elapsed since the segment start.
    #[default]
    Plain,
    /// Cut once the stream timestamp crosses a multiple of `hls_fragment`,
    /// so that independent servers cut the same input alike.
    Aligned,
}

/// `hls_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PlaylistKind {
    /// Sliding window of `hls_playlist_length`.
    #[default]
    Live,
    /// Append-only, `#EXT-X-PLAYLIST-TYPE:EVENT`; segments are never
    /// removed from the playlist nor deleted.
    Event,
}

/// `hls_fragment_type`: the container of the media segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FragmentType {
    /// MPEG-TS segments (`name-17.ts`), as nginx-rtmp-module writes.
    #[default]
    MpegTs,
    /// Fragmented MP4 segments, CMAF-style (`name-17.m4s`) with an initialization segment
    /// (`name-init-17.mp4`) named in `#EXT-X-MAP`.
    Fmp4,
}

impl FragmentType {
    /// File extension of the media segments.
    pub fn extension(self) -> &'static str {
        match self {
            FragmentType::MpegTs => "ts",
            FragmentType::Fmp4 => "m4s",
        }
    }
}

/// `hls_part_duration` when not given: about a tenth of a 3 s segment, as players expect.
pub const DEFAULT_PART_MS: u64 = 330;
/// Shortest `hls_part_duration`.
pub const MIN_PART_MS: u64 = 200;
/// Longest `hls_part_duration`.
pub const MAX_PART_MS: u64 = 1_000;

/// HLS settings of one application, with nginx-rtmp-module's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HlsConfig {
    /// `hls_fragment` (default 5 s).
    pub fragment_ms: u64,
    /// `hls_playlist_length` (default 30 s).
    pub playlist_length_ms: u64,
    /// `hls_max_fragment`; `None` means nginx-rtmp's default of
    /// 10 × `hls_fragment`. See [`HlsConfig::max_fragment`].
    pub max_fragment_ms: Option<u64>,
    /// `hls_continuous` (default on, as in nginx-rtmp): a republish of the
    /// same name continues the playlist and its media sequence.
    pub continuous: bool,
    /// `hls_nested`: `name/index.m3u8` and `name/17.ts`.
    pub nested: bool,
    /// `hls_cleanup` (default on).
    pub cleanup: bool,
    pub naming: Naming,
    pub slicing: Slicing,
    pub kind: PlaylistKind,
    pub fragment_type: FragmentType,
    /// `hls_base_url`: prefix of the segment URIs in the playlist.
    pub base_url: String,
    /// `hls_low_latency on` with its `hls_part_duration` (ms): partial segments, the
    /// Low-Latency HLS tags; `None` with `hls_low_latency off`.
    pub part_ms: Option<u64>,
    /// `hls_program_date_time`: `#EXT-X-PROGRAM-DATE-TIME` on every segment.
    pub program_date_time: bool,
}

impl Default for HlsConfig {
    fn default() -> Self {
        Self {
            fragment_ms: 5_000,
            playlist_length_ms: 30_000,
            max_fragment_ms: None,
            continuous: true,
            nested: false,
            cleanup: true,
            naming: Naming::Sequential,
            slicing: Slicing::Plain,
            kind: PlaylistKind::Live,
            fragment_type: FragmentType::MpegTs,
            base_url: String::new(),
            part_ms: None,
            program_date_time: false,
        }
    }
}

impl HlsConfig {
    /// The force-cut limit in ms: `max_fragment_ms`, default 10 × fragment,
    /// never below the fragment length.
    pub fn max_fragment(&self) -> u64 {
        self.max_fragment_ms
            .unwrap_or(self.fragment_ms.saturating_mul(10))
            .max(self.fragment_ms)
    }

    /// Checks values the shell should already have rejected in `nginx -t`.
    pub fn validate(&self) -> Result<(), HlsError> {
        if self.fragment_ms == 0 {
            return Err(HlsError::InvalidConfig("hls_fragment must be positive"));
        }
        if self.playlist_length_ms == 0 {
            return Err(HlsError::InvalidConfig(
                "hls_playlist_length must be positive",
            ));
        }
        if self
            .part_ms
            .is_some_and(|p| !(MIN_PART_MS..=MAX_PART_MS).contains(&p))
        {
            return Err(HlsError::InvalidConfig(
                "hls_part_duration must be within 200ms..1s",
            ));
        }
        if self.base_url.chars().any(char::is_control) {
            return Err(HlsError::InvalidConfig(
                "hls_base_url contains control characters",
            ));
        }
        Ok(())
    }
}
