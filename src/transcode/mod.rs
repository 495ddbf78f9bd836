//! Transcoded renditions of a published stream, everything but the encoder processes: which
//! renditions run for a source ([`ladder`]), the encoder's command line ([`args`]), the
//! stream of FLV bytes an encoder reads ([`EncoderFeed`], an [`Output`](crate::live::Output)
//! of the source's pipeline), and the encoder's FLV output read back as messages for the
//! rendition's own pipeline ([`RenditionReader`]).
//!
//! Timestamps: the feed rebases the source's timestamps so that the encoder sees a stream
//! starting at [`TimeBase::PAD_MS`] (an encoder never sees a negative timestamp, not even for
//! AAC priming, so it never shifts its output), and the reader maps the encoder's timestamps
//! back through the same [`TimeBase`]: a rendition's frames carry the source's timestamps and
//! its segments can be cut at the source's instants.

pub mod args;
mod feed;
pub mod ladder;
mod reader;
mod rendition;
mod timebase;

pub use args::ffmpeg_args;
pub use feed::{EncoderFeed, FeedStats, DEFAULT_MAX_PENDING};
pub use ladder::{plan, Planned};
pub use reader::RenditionReader;
pub use rendition::{AudioCoding, Rendition, RenditionError, PRESETS};
pub use timebase::TimeBase;

/// The stream name of a rendition's pipeline and HLS output: `<name>_<rendition>`.
pub fn rendition_stream_name(source: &str, rendition: &str) -> String {
    format!("{source}_{rendition}")
}

/// The stream name of the source's own HLS output when renditions are configured (the
/// source's name then belongs to the master playlist).
pub fn source_stream_name(source: &str) -> String {
    format!("{source}_src")
}
