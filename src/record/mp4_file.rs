//! The bytes of one MP4 recording: an [`Mp4Writer`] whose pieces (init + fragment, then one
//! fragment per `record_fragment`) are appended as soon as they are complete, so a crash
//! loses at most the fragment being built.

use std::collections::VecDeque;

use super::mp4::{Mp4WriteError, Mp4Writer, Tracks};
use crate::files::FileOp;
use crate::media::{Demuxer, Frame};

#[derive(Debug)]
pub(super) struct Mp4File {
    writer: Mp4Writer,
    /// Media bytes pushed since the last piece was handed out.
    pending: u64,
    /// Frames the writer took.
    pushed: u64,
}

/// The frame cannot go into this file: its track's codec changed (a new file takes it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct CodecChanged;

impl Mp4File {
    pub fn new(fragment_ms: u64, tracks: Tracks) -> Mp4File {
        Mp4File {
            writer: Mp4Writer::new(fragment_ms, tracks),
            pending: 0,
            pushed: 0,
        }
    }

    /// Bytes of the file, media of the fragment being built included.
    pub fn written(&self) -> u64 {
        self.writer.bytes_written() + self.pending
    }

    /// Frames in the file (those the writer skipped or dropped are not).
    pub fn frames(&self) -> u64 {
        self.pushed
            .saturating_sub(self.writer.skipped_frames())
            .saturating_sub(self.writer.dropped_frames())
    }

    /// Adds a frame; a completed fragment is appended. Frames the writer cannot take
    /// (no codec configuration) are skipped.
    pub fn push(
        &mut self,
        frame: &Frame,
        codecs: &Demuxer,
        ops: &mut VecDeque<FileOp>,
    ) -> Result<(), CodecChanged> {
        match self.writer.push(frame, codecs) {
            Ok(piece) => {
                if let Some(data) = piece {
                    self.pending = 0;
                    ops.push_back(FileOp::AppendRecording { data });
                }
                self.pushed += 1;
                self.pending += frame.data.len() as u64;
                Ok(())
            }
            Err(Mp4WriteError::CodecChanged(_)) => Err(CodecChanged),
            Err(Mp4WriteError::MissingConfig(_) | Mp4WriteError::Finished) => Ok(()),
        }
    }

    /// The last fragment and the index.
    pub fn close(&mut self, ops: &mut VecDeque<FileOp>) {
        let data = self.writer.finish();
        self.pending = 0;
        if !data.is_empty() {
            ops.push_back(FileOp::AppendRecording { data });
        }
    }
}
