//! Media and data messages chunked once and shared by every player of a
//! stream.
//!
//! A [`PreparedMessage`] holds the payload already cut into chunks: the first
//! piece, then for every further piece a fmt-3 basic header (and the 4-byte
//! extended timestamp when the timestamp is 0xFFFFFF or more, as ffmpeg,
//! librtmp and Flash expect on continuation chunks) followed by the piece.
//! Only the fmt-0 header in front of it differs between players (it carries
//! the player's message stream id); [`PreparedMessage::write_header`] writes
//! it into the player's own buffer. The body is one `Bytes`, shared by
//! reference counting: no per-player copy of media.
//!
//! Because the header is always fmt 0 (absolute timestamp, length, type,
//! stream id), the body bytes do not depend on what else a player was sent
//! on that chunk stream before, so one body fits every player whatever it
//! received earlier.
//!
//! Nearly every player plays on message stream [`COMMON_STREAM_ID`] (the
//! first id `createStream` hands out), so the header for that stream is
//! written once too, in front of the body in the same allocation, and the
//! two are shared as one piece ([`PreparedMessage::framed`]): such a player
//! costs no header bytes of its own, only one reference per message.
//! Players on another stream id get their header written into their own
//! buffer, followed by the shared body.

use bytes::{BufMut, Bytes, BytesMut};

use super::header::{put_u24, write_basic_header, MAX_CSID, MIN_CSID};
use super::{EXTENDED_TIMESTAMP, MAX_MESSAGE_LEN};

/// Largest header [`PreparedMessage::write_header`] writes: 3 (basic
/// header) + 11 (fmt 0) + 4 (extended timestamp).
pub const MAX_PREPARED_HEADER_LEN: usize = 18;

/// The message stream id whose fmt-0 header every prepared message carries
/// ready-made: the first stream id a session's `createStream` returns.
pub const COMMON_STREAM_ID: u32 = 1;

/// A media/data message chunked once for every player of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedMessage {
    /// Message type id (8 audio, 9 video, 18 data).
    pub type_id: u8,
    /// Absolute timestamp in milliseconds.
    pub timestamp: u32,
    /// Payload length (the message length on the wire).
    pub len: u32,
    /// The fmt-0 header for message stream [`COMMON_STREAM_ID`] followed by
    /// `body`: all a player on that stream is sent, as one piece.
    framed: Bytes,
    /// The payload with fmt-3 continuation headers every `chunk_size` bytes.
    body: Bytes,
    csid: u32,
    chunk_size: u32,
}

fn basic_header_len(csid: u32) -> usize {
    if csid < 64 {
        1
    } else if csid < 320 {
        2
    } else {
        3
    }
}

impl PreparedMessage {
    /// Chunks `payload` for chunk stream `csid` (clamped to 2..=65599) at
    /// `chunk_size` (clamped to 1..=0x7FFFFFFF, as the encoder does): one
    /// allocation, one copy of the payload.
    ///
    /// A payload longer than the 24-bit message length cannot be sent;
    /// such a message is still built (nothing on the peer's side could have
    /// produced it: the chunk decoder refuses messages that large) and is
    /// refused by [`PreparedMessage::is_sendable`] and the session.
    pub fn new(
        csid: u32,
        chunk_size: u32,
        type_id: u8,
        timestamp: u32,
        payload: &[u8],
    ) -> PreparedMessage {
        let csid = csid.clamp(MIN_CSID, MAX_CSID);
        let chunk_size = chunk_size.clamp(1, 0x7FFF_FFFF);
        let extended = timestamp >= EXTENDED_TIMESTAMP;
        let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
        let head_len = header_len(csid, extended);
        let chunk = chunk_size as usize;
        let continuations = payload.len().div_ceil(chunk).saturating_sub(1);
        let per_continuation = basic_header_len(csid) + if extended { 4 } else { 0 };
        let capacity = payload
            .len()
            .saturating_add(continuations.saturating_mul(per_continuation))
            .saturating_add(head_len);
        let mut all = BytesMut::with_capacity(capacity);
        put_header(&mut all, csid, type_id, timestamp, len, COMMON_STREAM_ID);
        let mut pieces = payload.chunks(chunk);
        if let Some(first) = pieces.next() {
            all.put_slice(first);
        }
        for piece in pieces {
            write_basic_header(&mut all, 3, csid);
            if extended {
                all.put_u32(timestamp);
            }
            all.put_slice(piece);
        }
        let framed = all.freeze();
        PreparedMessage {
            type_id,
            timestamp,
            len,
            body: framed.slice(head_len..),
            framed,
            csid,
            chunk_size,
        }
    }

    /// The chunked body, shared by every player.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// What a player on message stream `stream_id` is sent, header and
    /// body as one shared piece, when its header was prepared
    /// ([`COMMON_STREAM_ID`]); otherwise [`Self::write_header`] writes the
    /// header and [`Self::body`] follows it.
    pub fn framed(&self, stream_id: u32) -> Option<&Bytes> {
        (stream_id == COMMON_STREAM_ID).then_some(&self.framed)
    }

    /// The payload again, as the pieces between the continuation headers (for consumers that
    /// need the message itself, e.g. a ring other workers read).
    pub fn payload_pieces(&self) -> impl Iterator<Item = &[u8]> {
        let chunk = self.chunk_size as usize;
        let skip = basic_header_len(self.csid) + if self.is_extended() { 4 } else { 0 };
        let mut rest: &[u8] = &self.body;
        let mut first = true;
        std::iter::from_fn(move || {
            if !first {
                rest = rest.get(skip..)?;
            }
            first = false;
            if rest.is_empty() {
                return None;
            }
            let (piece, tail) = rest.split_at(chunk.min(rest.len()));
            rest = tail;
            Some(piece)
        })
    }

    /// The payload again, copied into one piece (for a consumer that keeps the message
    /// itself: a relay's queue, a recorder's headers, a stream that goes on under another
    /// name).
    pub fn payload(&self) -> Bytes {
        let mut out = Vec::with_capacity(self.len as usize);
        self.payload_pieces().for_each(|p| out.extend_from_slice(p));
        Bytes::from(out)
    }

    /// The chunk stream id the message is chunked for.
    pub fn csid(&self) -> u32 {
        self.csid
    }

    /// The chunk size the body is cut at; the receiving session's outgoing
    /// chunk size must be the same.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// False when the payload exceeds the 24-bit message length.
    pub fn is_sendable(&self) -> bool {
        self.len <= MAX_MESSAGE_LEN
    }

    /// Length of the fmt-0 header [`Self::write_header`] writes.
    pub fn header_len(&self) -> usize {
        header_len(self.csid, self.is_extended())
    }

    /// Header plus body: the bytes one player is sent for this message.
    pub fn wire_len(&self) -> usize {
        self.header_len().saturating_add(self.body.len())
    }

    fn is_extended(&self) -> bool {
        self.timestamp >= EXTENDED_TIMESTAMP
    }

    /// Appends the fmt-0 chunk header for message stream `stream_id`
    /// (at most [`MAX_PREPARED_HEADER_LEN`] bytes). The body must follow
    /// it immediately on the wire.
    pub fn write_header(&self, out: &mut BytesMut, stream_id: u32) {
        out.reserve(self.header_len());
        put_header(
            out,
            self.csid,
            self.type_id,
            self.timestamp,
            self.len,
            stream_id,
        );
    }
}

fn header_len(csid: u32, extended: bool) -> usize {
    basic_header_len(csid) + 11 + if extended { 4 } else { 0 }
}

/// A fmt-0 chunk header: absolute timestamp (extended from 0xFFFFFF on),
/// length, type and message stream id.
fn put_header(
    out: &mut BytesMut,
    csid: u32,
    type_id: u8,
    timestamp: u32,
    len: u32,
    stream_id: u32,
) {
    let extended = timestamp >= EXTENDED_TIMESTAMP;
    write_basic_header(out, 0, csid);
    put_u24(
        out,
        if extended {
            EXTENDED_TIMESTAMP
        } else {
            timestamp
        },
    );
    put_u24(out, len.min(MAX_MESSAGE_LEN));
    out.put_u8(type_id);
    out.put_u32_le(stream_id);
    if extended {
        out.put_u32(timestamp);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn payload_pieces_undo_the_chunking() {
        for (csid, ts) in [(7, 1000), (70, 1000), (400, 0x0100_0000)] {
            for chunk in [1, 3, 4, 128, 5000] {
                for len in [0usize, 1, 3, 4, 5, 128, 129, 4097] {
                    let payload: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
                    let m = PreparedMessage::new(csid, chunk, 9, ts, &payload);
                    let back: Vec<u8> = m.payload_pieces().flatten().copied().collect();
                    assert_eq!(back, payload, "csid {csid} chunk {chunk} len {len}");
                }
            }
        }
    }

    #[test]
    fn layout_small_chunks() {
        let payload: Vec<u8> = (0..10u8).collect();
        let m = PreparedMessage::new(7, 4, 9, 1000, &payload);
        // 4 + (1 + 4) + (1 + 2)
        assert_eq!(
            m.body().as_ref(),
            &[0, 1, 2, 3, 0xC7, 4, 5, 6, 7, 0xC7, 8, 9]
        );
        assert_eq!(m.len, 10);
        let mut h = BytesMut::new();
        m.write_header(&mut h, 1);
        assert_eq!(h.as_ref(), &[7, 0, 3, 0xE8, 0, 0, 10, 9, 1, 0, 0, 0]);
        assert_eq!(m.header_len(), 12);
        assert_eq!(m.wire_len(), 24);
    }

    #[test]
    fn layout_extended_timestamp() {
        let payload = [1u8, 2, 3];
        let ts = 0x0100_0000;
        let m = PreparedMessage::new(6, 2, 8, ts, &payload);
        assert_eq!(m.body().as_ref(), &[1, 2, 0xC6, 1, 0, 0, 0, 3]);
        let mut h = BytesMut::new();
        m.write_header(&mut h, 5);
        assert_eq!(
            h.as_ref(),
            &[6, 0xFF, 0xFF, 0xFF, 0, 0, 3, 8, 5, 0, 0, 0, 1, 0, 0, 0]
        );
        assert_eq!(h.len(), m.header_len());
    }

    #[test]
    fn framed_is_the_header_for_the_common_stream_then_the_body() {
        for (csid, ts) in [(7, 1000), (400, 0x0100_0000)] {
            let payload: Vec<u8> = (0..10u8).collect();
            let m = PreparedMessage::new(csid, 4, 9, ts, &payload);
            let framed = m.framed(COMMON_STREAM_ID).unwrap();
            let mut h = BytesMut::new();
            m.write_header(&mut h, COMMON_STREAM_ID);
            assert_eq!(&framed[..h.len()], h.as_ref());
            assert_eq!(&framed[h.len()..], m.body().as_ref());
            assert_eq!(framed.len(), m.wire_len());
            // One allocation: the body is the framed piece's tail.
            assert_eq!(framed.as_ptr_range().end, m.body().as_ptr_range().end);
            assert!(m.framed(2).is_none());
            assert!(m.framed(0).is_none());
        }
    }

    #[test]
    fn empty_payload_and_big_csid() {
        let m = PreparedMessage::new(400, 128, 18, 0, &[]);
        assert!(m.body().is_empty());
        let mut h = BytesMut::new();
        m.write_header(&mut h, 1);
        assert_eq!(h.len(), 14);
        assert!(h.len() <= MAX_PREPARED_HEADER_LEN);
    }
}
