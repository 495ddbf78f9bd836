//! Executes the HLS core's file operations under `hls_path` (see [`super::file_ops`]).
//!
//! The core ([`crate::hls::HlsStream`]) decides what to write; [`FileWriter`] writes it:
//! segments are appended as TS bytes are produced, playlists replaced atomically (temp file +
//! rename), and deletions of segments that left the window run on a worker timer once their
//! deadline has passed.

use std::fs;

// `now` is used through this module by other parts of the shell.
use super::file_ops::now;
use super::file_ops::{join, FileWriter};
use crate::conf::HlsSettings;
use crate::hls::HlsStream;
use crate::media::{Demuxer, Frame};

/// One stream's HLS output.
pub struct HlsOut {
    stream: HlsStream,
    files: FileWriter,
}

impl HlsOut {
    /// Starts HLS for a newly published stream `name`.
    pub fn start(settings: &HlsSettings, name: &str) -> Result<HlsOut, String> {
        let root = settings.path.clone();
        let playlist = if settings.config.nested {
            format!("{name}/index.m3u8")
        } else {
            format!("{name}.m3u8")
        };
        // The previous playlist of this name, for hls_continuous (or its cleanup).
        let previous = join(&root, &playlist)
            .ok()
            .and_then(|p| fs::read_to_string(p).ok());
        let stream = HlsStream::new(settings.config.clone(), name, previous.as_deref(), now())
            .map_err(|e| e.to_string())?;
        let mut out = HlsOut {
            stream,
            files: FileWriter::new(root),
        };
        out.apply().map_err(|e| e.to_string())?;
        Ok(out)
    }

    pub fn push(&mut self, frame: &Frame, codecs: &Demuxer) -> Result<(), String> {
        // A frame the core refuses is dropped (and counted there); it is not fatal.
        let _ = self.stream.push(frame, codecs, now());
        self.apply().map_err(|e| e.to_string())
    }

    /// The publisher left: flush, close the last segment, end the playlist.
    pub fn finish(&mut self) -> Result<(), String> {
        self.stream.finish(now()).map_err(|e| e.to_string())?;
        self.apply().map_err(|e| e.to_string())
    }

    fn apply(&mut self) -> std::io::Result<()> {
        let stream = &mut self.stream;
        let closed = self.files.apply(|| stream.poll_op())?;
        SEGMENTS.with(|n| n.set(n.get() + closed));
        Ok(())
    }
}

thread_local! {
    static SEGMENTS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// HLS segments this worker completed (stat).
pub fn segments_written() -> u64 {
    SEGMENTS.with(|n| n.get())
}
