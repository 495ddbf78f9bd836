//! DASH as an output of a stream's pipeline.

use super::DashStream;
use crate::files::Now;
use crate::live::{Output, OutputError, OutputOp, Published};

impl Output for DashStream {
    fn name(&self) -> &'static str {
        "dash"
    }

    fn push(&mut self, msg: &Published<'_>) -> Result<(), OutputError> {
        if let Some(frame) = msg.frame() {
            // A frame the fragmenter refuses is dropped; the stream goes on.
            let _ = DashStream::push(self, frame, msg.codecs, msg.now);
        }
        Ok(())
    }

    fn finish(&mut self, now: Now) -> Result<(), OutputError> {
        DashStream::finish(self, now).map_err(|e| OutputError::Failed(e.to_string()))
    }

    fn poll_op(&mut self) -> Option<OutputOp> {
        DashStream::poll_op(self).map(OutputOp::File)
    }
}
