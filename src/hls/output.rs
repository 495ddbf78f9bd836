//! HLS as an output of a stream's pipeline.

use super::HlsStream;
use crate::files::Now;
use crate::live::{Output, OutputError, OutputOp, Published};

impl Output for HlsStream {
    fn name(&self) -> &'static str {
        "hls"
    }

    fn push(&mut self, msg: &Published<'_>) -> Result<(), OutputError> {
        if let Some(frame) = msg.frame() {
            // A frame the muxer refuses is dropped (and counted); the stream goes on.
            let _ = HlsStream::push(self, frame, msg.codecs, msg.now);
        }
        Ok(())
    }

    fn finish(&mut self, now: Now) -> Result<(), OutputError> {
        HlsStream::finish(self, now).map_err(|e| OutputError::Failed(e.to_string()))
    }

    fn poll_op(&mut self) -> Option<OutputOp> {
        HlsStream::poll_op(self).map(OutputOp::File)
    }

    fn poll_notice(&mut self) -> Option<String> {
        HlsStream::poll_notice(self)
    }
}
