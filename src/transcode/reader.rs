//! [`RenditionReader`]: an encoder's stdout (FLV) back as messages for the rendition's own
//! pipeline, on the source's timeline.

use super::timebase::TimeBase;
use crate::media::{FlvError, FlvReader, FlvTag};
use crate::rtmp::message::types;

/// Reads what one encoder writes.
#[derive(Debug)]
pub struct RenditionReader {
    flv: FlvReader,
    time: TimeBase,
    /// Tags dropped because their time precedes the source's start (encoder priming).
    early: u64,
}

impl RenditionReader {
    /// `time` is a clone of the one given to the encoder's [`EncoderFeed`](super::EncoderFeed);
    /// `max_tag` bounds one tag's body (a larger one is an error, not an allocation).
    pub fn new(time: TimeBase, max_tag: usize) -> RenditionReader {
        RenditionReader {
            flv: FlvReader::new(max_tag),
            time,
            early: 0,
        }
    }

    /// Bytes read from the encoder, in any pieces.
    pub fn feed(&mut self, data: &[u8]) {
        self.flv.feed(data);
    }

    /// The next message for the rendition's pipeline (`Pipeline::ingest` with its type,
    /// timestamp and body), with the source's timestamps; `Ok(None)` until more bytes come.
    /// Script data (the encoder's onMetaData) comes through; other tag types are skipped. An
    /// error means the encoder's output cannot be read any further.
    pub fn poll(&mut self) -> Result<Option<FlvTag>, FlvError> {
        while let Some(mut tag) = self.flv.poll()? {
            if !matches!(tag.type_id, types::AUDIO | types::VIDEO | types::DATA_AMF0) {
                continue;
            }
            match self.time.from_encoder(tag.timestamp) {
                Some(ts) => {
                    tag.timestamp = ts;
                    return Ok(Some(tag));
                }
                None => self.early += 1,
            }
        }
        Ok(None)
    }

    /// Tags dropped because they precede the source's start.
    pub fn early(&self) -> u64 {
        self.early
    }

    /// Bytes received and not yet returned.
    pub fn buffered(&self) -> usize {
        self.flv.buffered()
    }
}
