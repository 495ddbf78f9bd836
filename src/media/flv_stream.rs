//! The FLV file format around the tag bodies of [`super::flv`] (FLV spec v10.1, E.2 – E.3):
//! a 9-byte header, then tags, each followed by the size of the tag it ends.
//!
//! [`FlvWriter`] turns RTMP messages into such a byte stream (what an encoder reads on its
//! stdin) and [`FlvReader`] takes one back in pieces of any size (what an encoder writes on its
//! stdout): a tag comes out once all its bytes are in, and input that is not FLV, or a tag
//! larger than the reader's limit, is a typed error before anything is buffered for it.

use std::fmt;

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// `FLV`, version 1.
const SIGNATURE: [u8; 4] = [b'F', b'L', b'V', 1];
/// The header's size, and the smallest valid data offset.
pub const HEADER_LEN: usize = 9;
/// Type, data size (24), timestamp (24 + 8), stream id (24).
pub const TAG_HEADER_LEN: usize = 11;
/// The PreviousTagSize field after the header and after every tag.
const PREVIOUS_SIZE_LEN: usize = 4;
/// A header longer than this (data offset) is not what an encoder writes.
const MAX_DATA_OFFSET: u32 = 1024;
/// Default bound on one tag's body (an uncompressed 4K keyframe fits in a tenth of it).
pub const DEFAULT_MAX_TAG: usize = 16 << 20;

/// One FLV tag: an RTMP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlvTag {
    /// Audio (8), video (9) or script data (18).
    pub type_id: u8,
    /// ms, 32 bits (the extended byte included).
    pub timestamp: u32,
    pub body: Bytes,
}

/// Why a byte stream is not FLV the reader accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlvError {
    /// The stream does not start with `FLV` version 1.
    Signature,
    /// The header's data offset is below 9 or implausibly large.
    DataOffset(u32),
    /// A tag's body is larger than the reader's limit.
    TagTooLarge { size: usize, max: usize },
    /// A PreviousTagSize field does not match the tag before it.
    PreviousTagSize { expected: u32, found: u32 },
    /// A tag with the filter (encryption) bit set.
    Filtered,
}

impl fmt::Display for FlvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlvError::Signature => f.write_str("not an FLV stream (bad signature)"),
            FlvError::DataOffset(o) => write!(f, "bad FLV header size {o}"),
            FlvError::TagTooLarge { size, max } => {
                write!(f, "FLV tag of {size} bytes exceeds the limit of {max}")
            }
            FlvError::PreviousTagSize { expected, found } => {
                write!(f, "FLV previous tag size {found}, expected {expected}")
            }
            FlvError::Filtered => f.write_str("encrypted (filtered) FLV tag"),
        }
    }
}

impl std::error::Error for FlvError {}

/// Writes an FLV byte stream.
#[derive(Debug, Clone, Copy, Default)]
pub struct FlvWriter;

impl FlvWriter {
    /// The file header and the first PreviousTagSize (0).
    pub fn header(has_audio: bool, has_video: bool) -> Bytes {
        let mut b = BytesMut::with_capacity(HEADER_LEN + PREVIOUS_SIZE_LEN);
        b.put_slice(&SIGNATURE);
        b.put_u8(u8::from(has_audio) << 2 | u8::from(has_video));
        b.put_u32(HEADER_LEN as u32);
        b.put_u32(0);
        b.freeze()
    }

    /// One tag and the PreviousTagSize after it. A body over 2^24 - 1 bytes cannot be
    /// represented: `None`.
    pub fn tag(type_id: u8, timestamp: u32, body: &[u8]) -> Option<Bytes> {
        let mut b = BytesMut::with_capacity(TAG_HEADER_LEN + body.len() + PREVIOUS_SIZE_LEN);
        FlvWriter::put_tag(&mut b, type_id, timestamp, body).then(|| b.freeze())
    }

    /// [`tag`](Self::tag) appended to `b` (no allocation of its own when `b` has room);
    /// `false`, and nothing appended, for a body that cannot be represented.
    pub fn put_tag(b: &mut BytesMut, type_id: u8, timestamp: u32, body: &[u8]) -> bool {
        let Some(size) = u32::try_from(body.len()).ok().filter(|s| *s < 1 << 24) else {
            return false;
        };
        b.reserve(TAG_HEADER_LEN + body.len() + PREVIOUS_SIZE_LEN);
        b.put_u8(type_id & 0x1f);
        put_u24(b, size);
        put_u24(b, timestamp & 0xff_ffff);
        b.put_u8((timestamp >> 24) as u8);
        put_u24(b, 0);
        b.put_slice(body);
        b.put_u32(TAG_HEADER_LEN as u32 + size);
        true
    }
}

fn put_u24(b: &mut BytesMut, v: u32) {
    b.put_slice(&v.to_be_bytes()[1..]);
}

/// `N` bytes of `buf` from `at`, when they are all in.
fn fixed<const N: usize>(buf: &[u8], at: usize) -> Option<[u8; N]> {
    buf.get(at..at.checked_add(N)?)?.try_into().ok()
}

fn u24(b: [u8; 3]) -> u32 {
    u32::from_be_bytes([0, b[0], b[1], b[2]])
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadState {
    /// Waiting for the 9-byte header.
    Header,
    /// Skipping the rest of a longer header, then the first PreviousTagSize.
    Preamble { skip: usize },
    /// Waiting for a tag header, then its body and trailer. `expected` is the size the next
    /// PreviousTagSize must have.
    Tags,
    /// An error was returned: nothing more is read.
    Failed,
}

/// Reads an FLV byte stream fed in arbitrary pieces.
///
/// `feed` appends bytes; `poll` returns the next complete tag, `Ok(None)` when more bytes
/// are needed. Memory is bounded by the largest piece fed plus one tag (at most the limit):
/// a tag's size is checked as soon as its header is in. After an error the reader stays
/// failed.
#[derive(Debug)]
pub struct FlvReader {
    buf: BytesMut,
    state: ReadState,
    max_tag: usize,
    /// Whether the header announced audio / video (informational).
    flags: u8,
}

impl FlvReader {
    /// A reader refusing tags whose body exceeds `max_tag` bytes.
    pub fn new(max_tag: usize) -> FlvReader {
        FlvReader {
            buf: BytesMut::new(),
            state: ReadState::Header,
            max_tag: max_tag.min((1 << 24) - 1),
            flags: 0,
        }
    }

    /// Appends received bytes.
    pub fn feed(&mut self, data: &[u8]) {
        if self.state != ReadState::Failed {
            self.buf.extend_from_slice(data);
        }
    }

    /// Bytes received and not yet returned as tags.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The header's audio (4) and video (1) flags, once read.
    pub fn header_flags(&self) -> u8 {
        self.flags
    }

    /// The next complete tag.
    pub fn poll(&mut self) -> Result<Option<FlvTag>, FlvError> {
        let r = self.step();
        if r.is_err() {
            self.state = ReadState::Failed;
            self.buf = BytesMut::new();
        }
        r
    }

    fn step(&mut self) -> Result<Option<FlvTag>, FlvError> {
        loop {
            match self.state {
                ReadState::Failed => return Ok(None),
                ReadState::Header => {
                    // A wrong signature is reported as soon as its first bytes are in.
                    let n = self.buf.len().min(SIGNATURE.len());
                    if self.buf.get(..n) != SIGNATURE.get(..n) {
                        return Err(FlvError::Signature);
                    }
                    let Some(h) = fixed::<HEADER_LEN>(&self.buf, 0) else {
                        return Ok(None);
                    };
                    self.flags = h[4] & 0x05;
                    let offset = u32::from_be_bytes([h[5], h[6], h[7], h[8]]);
                    if !(HEADER_LEN as u32..=MAX_DATA_OFFSET).contains(&offset) {
                        return Err(FlvError::DataOffset(offset));
                    }
                    self.buf.advance(HEADER_LEN);
                    self.state = ReadState::Preamble {
                        skip: offset as usize - HEADER_LEN,
                    };
                }
                ReadState::Preamble { skip } => {
                    let Some(p) = fixed::<PREVIOUS_SIZE_LEN>(&self.buf, skip) else {
                        return Ok(None);
                    };
                    let found = u32::from_be_bytes(p);
                    if found != 0 {
                        return Err(FlvError::PreviousTagSize { expected: 0, found });
                    }
                    self.buf.advance(skip + PREVIOUS_SIZE_LEN);
                    self.state = ReadState::Tags;
                }
                ReadState::Tags => return self.tag(),
            }
        }
    }

    fn tag(&mut self) -> Result<Option<FlvTag>, FlvError> {
        let Some(h) = fixed::<TAG_HEADER_LEN>(&self.buf, 0) else {
            return Ok(None);
        };
        if h[0] & 0x20 != 0 {
            return Err(FlvError::Filtered);
        }
        let type_id = h[0] & 0x1f;
        let size = u24([h[1], h[2], h[3]]) as usize;
        let timestamp = u24([h[4], h[5], h[6]]) | u32::from(h[7]) << 24;
        if size > self.max_tag {
            return Err(FlvError::TagTooLarge {
                size,
                max: self.max_tag,
            });
        }
        let total = TAG_HEADER_LEN + size + PREVIOUS_SIZE_LEN;
        let Some(p) = fixed::<PREVIOUS_SIZE_LEN>(&self.buf, TAG_HEADER_LEN + size) else {
            // Room for the whole tag at once, not in doublings.
            self.buf.reserve(total.saturating_sub(self.buf.len()));
            return Ok(None);
        };
        let found = u32::from_be_bytes(p);
        let expected = (TAG_HEADER_LEN + size) as u32;
        if found != expected {
            return Err(FlvError::PreviousTagSize { expected, found });
        }
        let mut tag = self.buf.split_to(total);
        tag.advance(TAG_HEADER_LEN);
        tag.truncate(size);
        Ok(Some(FlvTag {
            type_id,
            timestamp,
            body: tag.freeze(),
        }))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn sample() -> (Vec<FlvTag>, Vec<u8>) {
        let tags: Vec<FlvTag> = (0..40u32)
            .map(|i| FlvTag {
                type_id: [8, 9, 18][i as usize % 3],
                // Crosses into the extended timestamp byte.
                timestamp: i * 0x0040_0000 + i,
                body: Bytes::from(vec![i as u8; (i as usize * 37) % 300]),
            })
            .collect();
        let mut bytes = FlvWriter::header(true, true).to_vec();
        for t in &tags {
            bytes.extend_from_slice(&FlvWriter::tag(t.type_id, t.timestamp, &t.body).unwrap());
        }
        (tags, bytes)
    }

    fn read_all(r: &mut FlvReader) -> Result<Vec<FlvTag>, FlvError> {
        let mut out = Vec::new();
        while let Some(t) = r.poll()? {
            out.push(t);
        }
        Ok(out)
    }

    /// A small deterministic generator (xorshift) for splits and garbage.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn round_trip_at_any_split() {
        let (tags, bytes) = sample();
        for split in 1..bytes.len().min(200) {
            let mut r = FlvReader::new(DEFAULT_MAX_TAG);
            let mut got = Vec::new();
            for piece in bytes.chunks(split) {
                r.feed(piece);
                got.extend(read_all(&mut r).unwrap());
            }
            assert_eq!(got, tags, "split {split}");
            assert_eq!(r.buffered(), 0);
            assert_eq!(r.header_flags(), 5);
        }
        let mut rng = Rng(0x1234_5678);
        for _ in 0..200 {
            let mut r = FlvReader::new(DEFAULT_MAX_TAG);
            let mut got = Vec::new();
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                let n = (rng.next() as usize % 97 + 1).min(rest.len());
                r.feed(&rest[..n]);
                rest = &rest[n..];
                got.extend(read_all(&mut r).unwrap());
            }
            assert_eq!(got, tags);
        }
    }

    #[test]
    fn incomplete_input_is_not_an_error() {
        let (_, bytes) = sample();
        for cut in 0..bytes.len() {
            let mut r = FlvReader::new(DEFAULT_MAX_TAG);
            r.feed(&bytes[..cut]);
            read_all(&mut r).unwrap();
        }
    }

    #[test]
    fn hostile_input_is_a_typed_error() {
        let mut r = FlvReader::new(DEFAULT_MAX_TAG);
        r.feed(b"GET / HTTP/1.1\r\n");
        assert_eq!(r.poll(), Err(FlvError::Signature));
        // Failed for good: more input yields nothing and is not kept.
        r.feed(&FlvWriter::header(true, true));
        assert_eq!(r.poll(), Ok(None));
        assert_eq!(r.buffered(), 0);

        // A bad signature is seen on its first byte.
        let mut r = FlvReader::new(DEFAULT_MAX_TAG);
        r.feed(b"X");
        assert_eq!(r.poll(), Err(FlvError::Signature));

        let mut h = FlvWriter::header(true, true).to_vec();
        h[8] = 3;
        let mut r = FlvReader::new(DEFAULT_MAX_TAG);
        r.feed(&h);
        assert_eq!(r.poll(), Err(FlvError::DataOffset(3)));

        // A tag announcing 16 MB is refused from its header alone.
        let mut r = FlvReader::new(1 << 20);
        r.feed(&FlvWriter::header(false, true));
        r.feed(&[9, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            r.poll(),
            Err(FlvError::TagTooLarge {
                size: 0xff_ffff,
                max: 1 << 20
            })
        );

        let mut t = FlvWriter::tag(9, 0, b"abc").unwrap().to_vec();
        let n = t.len();
        t[n - 1] ^= 1;
        let mut r = FlvReader::new(DEFAULT_MAX_TAG);
        r.feed(&FlvWriter::header(false, true));
        r.feed(&t);
        assert!(matches!(r.poll(), Err(FlvError::PreviousTagSize { .. })));

        let mut r = FlvReader::new(DEFAULT_MAX_TAG);
        r.feed(&FlvWriter::header(false, true));
        r.feed(&[0x29, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 11]);
        assert_eq!(r.poll(), Err(FlvError::Filtered));
    }

    #[test]
    fn garbage_never_panics_and_memory_stays_bounded() {
        let (_, bytes) = sample();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for round in 0..2000 {
            let mut input = bytes.clone();
            // Flip a few bytes, anywhere (the header included, some rounds).
            for _ in 0..1 + rng.next() % 4 {
                let from = if round % 4 == 0 { 0 } else { HEADER_LEN + 4 };
                let at = from + rng.next() as usize % (input.len() - from);
                input[at] = rng.next() as u8;
            }
            let mut r = FlvReader::new(4096);
            for piece in input.chunks(1 + rng.next() as usize % 64) {
                r.feed(piece);
                while let Ok(Some(t)) = r.poll() {
                    assert!(t.body.len() <= 4096);
                }
                assert!(r.buffered() <= 4096 + TAG_HEADER_LEN + 4 + 64);
            }
        }
        // Pure noise.
        for _ in 0..500 {
            let noise: Vec<u8> = (0..rng.next() % 300).map(|_| rng.next() as u8).collect();
            let mut r = FlvReader::new(4096);
            r.feed(&noise);
            while let Ok(Some(_)) = r.poll() {}
        }
    }

    #[test]
    fn writer_refuses_oversized_bodies() {
        assert!(FlvWriter::tag(9, 0, &vec![0; 1 << 24]).is_none());
        assert!(FlvWriter::tag(9, 0, &vec![0; (1 << 24) - 1]).is_some());
    }
}
