//! Executes the DASH core's file operations under `dash_path` (see [`super::file_ops`]):
//! media segments, initialization segments and the MPD (both replaced atomically), and the
//! delayed deletion of fragments that left the window.

use super::file_ops::{now, FileWriter};
use crate::conf::DashSettings;
use crate::dash::DashStream;
use crate::media::{Demuxer, Frame};

/// One stream's DASH output.
pub struct DashOut {
    stream: DashStream,
    files: FileWriter,
}

impl DashOut {
    /// Starts DASH for a newly published stream `name`.
    pub fn start(settings: &DashSettings, name: &str) -> Result<DashOut, String> {
        let stream =
            DashStream::new(settings.config.clone(), name, now()).map_err(|e| e.to_string())?;
        let mut out = DashOut {
            stream,
            files: FileWriter::new(settings.path.clone()),
        };
        out.apply()?;
        Ok(out)
    }

    pub fn push(&mut self, frame: &Frame, codecs: &Demuxer) -> Result<(), String> {
        // A frame the core refuses is dropped; it is not fatal.
        let _ = self.stream.push(frame, codecs, now());
        self.apply()
    }

    /// The publisher left: write the last fragment and the final MPD.
    pub fn finish(&mut self) -> Result<(), String> {
        self.stream.finish(now()).map_err(|e| e.to_string())?;
        self.apply()
    }

    fn apply(&mut self) -> Result<(), String> {
        let stream = &mut self.stream;
        self.files
            .apply(|| stream.poll_op())
            .map(drop)
            .map_err(|e| e.to_string())
    }
}
