//! The interface of every consumer of a published stream that is not a player: HLS, DASH,
//! the shared-memory ring that serves players on other workers, and the recorders, relay
//! pushes, renditions and low-latency outputs that come after them.
//!
//! A stream's [`Pipeline`](super::Pipeline) takes each published message once, classifies and
//! demuxes it, and hands the result to each of its outputs as a [`Published`]. Outputs do no
//! I/O: they return [`OutputOp`]s, which the shell executes in order: [`FileOp`]s under the
//! output's directory, bytes to the [`ByteSink`](super::ByteSink) it registered for the output
//! (an encoder's stdin, later a relay's socket).

use std::fmt;

use bytes::Bytes;

use super::gop::GopCache;
use super::media_info::MediaInfo;
use crate::files::{FileOp, Now};
use crate::media::{Demuxer, Frame};

/// One published message, as every output sees it.
#[derive(Clone, Copy)]
pub struct Published<'a> {
    pub now: Now,
    pub info: MediaInfo,
    /// RTMP message type: audio (8), video (9) or data (18).
    pub type_id: u8,
    /// RTMP timestamp, ms.
    pub timestamp: u32,
    /// The message as the publisher sent it (an FLV tag body).
    pub payload: &'a Bytes,
    /// The coded frames it carries, one per track (a legacy message carries at most one),
    /// when the stream is demuxed (none for codec headers, metadata, malformed messages).
    pub frames: &'a [Frame],
    /// The stream's codec configuration after this message.
    pub codecs: &'a Demuxer,
    /// The stream's cached GOP before this message.
    pub gop: &'a GopCache,
}

impl<'a> Published<'a> {
    /// The message's frame of the stream's primary track of its kind: what an output of one
    /// rendition (HLS, DASH, a recorder) carries.
    pub fn frame(&self) -> Option<&'a Frame> {
        self.frames.iter().find(|f| self.codecs.is_primary(f))
    }
}

/// Why an output stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputError {
    /// The output cannot go on; the stream goes on without it.
    Failed(String),
    /// Another publisher took the stream's name over: the publisher must go.
    Replaced,
}

impl fmt::Display for OutputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutputError::Failed(why) => f.write_str(why),
            OutputError::Replaced => f.write_str("the stream was taken over by another publisher"),
        }
    }
}

impl std::error::Error for OutputError {}

/// What an output asks the shell to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputOp {
    /// A file operation, relative to the output's directory.
    File(FileOp),
    /// Bytes for the output's byte sink, in order. The shell reports the bytes the sink
    /// delivered with [`Output::acknowledge`], so the output can bound what is in flight.
    Send(Bytes),
}

/// A consumer of one published stream.
pub trait Output {
    /// Short name for logs (`hls`, `dash`, ...).
    fn name(&self) -> &'static str;

    /// Takes one published message. A message the output cannot use (a frame its format
    /// cannot carry, say) is skipped, not an error: `Err` means the output cannot go on.
    fn push(&mut self, msg: &Published<'_>) -> Result<(), OutputError>;

    /// The publisher left: flush what is buffered and close what is open.
    fn finish(&mut self, now: Now) -> Result<(), OutputError>;

    /// The next operation for the shell, in the order they must run. Outputs that neither
    /// write files nor send bytes have none.
    fn poll_op(&mut self) -> Option<OutputOp> {
        None
    }

    /// The next line for the shell's log, at notice level: something the operator should
    /// know once (a configuration the output overrides for this stream, say).
    fn poll_notice(&mut self) -> Option<String> {
        None
    }

    /// The shell's sink delivered `bytes` more of what [`OutputOp::Send`] handed it.
    fn acknowledge(&mut self, bytes: usize) {
        let _ = bytes;
    }
}
