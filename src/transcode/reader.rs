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
                // ffmpeg's FLV muxer writes codec headers and metadata at 0, before any media:
                // they are needed, at the stream's start.
                None if is_header(tag.type_id, &tag.body) => {
                    tag.timestamp = self.time.base().unwrap_or(0);
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

/// Codec configuration (AVC or AAC sequence header) or script data: not media.
fn is_header(type_id: u8, body: &[u8]) -> bool {
    match (type_id, body.first(), body.get(1)) {
        (types::DATA_AMF0, _, _) => true,
        (types::VIDEO, Some(b), Some(0)) => b & 0x0f == 7,
        (types::AUDIO, Some(b), Some(0)) => b >> 4 == 10,
        _ => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::media::FlvWriter;

    #[test]
    fn headers_at_zero_come_through_at_the_start() {
        let time = TimeBase::new();
        time.fix(23);
        let mut r = RenditionReader::new(time, 1 << 20);
        r.feed(&FlvWriter::header(true, true));
        for (t, ts, body) in [
            (types::VIDEO, 0, vec![0x17, 0, 0, 0, 0]),
            (types::AUDIO, 0, vec![0xaf, 0, 0x12, 0x10]),
            (types::AUDIO, 0, vec![0xaf, 1, 1, 2]),
            (types::VIDEO, 1000, vec![0x17, 1, 0, 0, 0]),
        ] {
            r.feed(&FlvWriter::tag(t, ts, &body).unwrap());
        }
        let got: Vec<(u8, u32)> = std::iter::from_fn(|| r.poll().unwrap())
            .map(|t| (t.type_id, t.timestamp))
            .collect();
        assert_eq!(
            got,
            [(types::VIDEO, 23), (types::AUDIO, 23), (types::VIDEO, 23)]
        );
        assert_eq!(r.early(), 1);
    }
}
