//! Chunk stream decoder: bytes in any pieces → complete messages.

use std::collections::HashMap;

use bytes::BytesMut;

use super::error::ChunkError;
use super::header::{basic_header_len, be24, be32, le32, message_header_len, parse_csid};
use super::{RawMessage, DEFAULT_CHUNK_SIZE, EXTENDED_TIMESTAMP};
use crate::rtmp::config::Limits;
use crate::rtmp::message::types;

/// Longest chunk header: 3 (basic) + 11 (fmt 0) + 4 (extended timestamp).
const MAX_HEADER_LEN: usize = 18;

/// What one chunk stream remembers from its previous headers.
#[derive(Debug)]
struct ChunkStream {
    /// Absolute timestamp of the current (or last) message.
    timestamp: u32,
    /// Timestamp delta inherited by fmt 3 message starts. After a fmt 0
    /// header this is the absolute timestamp, as the spec says (5.3.1.2.4).
    delta: u32,
    length: u32,
    type_id: u8,
    stream_id: u32,
    /// The last fmt 0..2 header used an extended timestamp, so fmt 3 chunks
    /// carry one too.
    extended: bool,
    /// Message being assembled, allocated once with its full length.
    partial: Option<BytesMut>,
}

impl ChunkStream {
    fn in_progress(&self) -> bool {
        self.partial.is_some()
    }
}

#[derive(Debug)]
enum Phase {
    /// Collecting a chunk header.
    Header {
        buf: [u8; MAX_HEADER_LEN],
        len: usize,
    },
    /// Copying `left` bytes of chunk body of `csid`.
    Body { csid: u32, left: usize },
}

/// Reassembles messages from a chunk stream.
///
/// Input can be split anywhere: partial headers are kept (at most 18 bytes)
/// and bodies are copied straight into the message buffer, so the only
/// memory held is bounded by the limits. Set Chunk Size and Abort Message
/// are applied by the decoder itself (they change how the following bytes
/// parse) and are still returned so the session can see them.
#[derive(Debug)]
pub struct ChunkDecoder {
    limits: Limits,
    chunk_size: u32,
    streams: HashMap<u32, ChunkStream>,
    phase: Phase,
    partial_bytes: usize,
}

enum Step {
    /// Need more input.
    Wait,
    /// Made progress; call again.
    Continue,
    /// A message is complete.
    Message(RawMessage),
}

impl ChunkDecoder {
    pub fn new(limits: &Limits) -> Self {
        ChunkDecoder {
            limits: limits.clone(),
            chunk_size: DEFAULT_CHUNK_SIZE,
            streams: HashMap::new(),
            phase: Phase::Header {
                buf: [0; MAX_HEADER_LEN],
                len: 0,
            },
            partial_bytes: 0,
        }
    }

    /// The peer's current chunk size.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Bytes currently reserved by incomplete messages.
    pub fn partial_bytes(&self) -> usize {
        self.partial_bytes
    }

    /// True while a chunk header or a message is partly received, on any chunk stream: the
    /// peer owes us bytes to complete something it started.
    pub fn has_partial(&self) -> bool {
        // `partial_bytes` counts every message in progress (a started message has a length
        // above 0: empty ones complete with their header); it misses a partial header.
        self.partial_bytes > 0
            || match self.phase {
                Phase::Header { len, .. } => len > 0,
                Phase::Body { .. } => true,
            }
    }

    /// At least how many more bytes the peer must send before a message can complete: `None`
    /// at a message boundary (nothing started), 1 inside a chunk header. A lower bound: the
    /// headers of the remaining chunks are not counted, and another chunk stream may finish
    /// first.
    pub fn bytes_wanted(&self) -> Option<usize> {
        let lacking = |cs: &ChunkStream| {
            let have = cs.partial.as_ref()?.len();
            Some((cs.length as usize).saturating_sub(have).max(1))
        };
        match self.phase {
            Phase::Header { len, .. } if len > 0 => Some(1),
            Phase::Header { .. } => self.streams.values().filter_map(lacking).min(),
            Phase::Body { csid, .. } => {
                Some(self.streams.get(&csid).and_then(lacking).unwrap_or(1))
            }
        }
    }

    /// True while a message in progress may be a video keyframe: a video message whose first
    /// byte says so (the frame type of legacy FLV and of Enhanced RTMP's header alike), or one
    /// of which no byte arrived yet. A reader paced in batches finishes those at once: a
    /// keyframe closes an HLS segment.
    pub fn keyframe_pending(&self) -> bool {
        self.streams.values().any(|cs| {
            cs.type_id == types::VIDEO
                && cs
                    .partial
                    .as_ref()
                    .is_some_and(|p| p.first().is_none_or(|b| (b >> 4) & 0x07 == 1))
        })
    }

    /// Number of chunk streams tracked.
    pub fn chunk_streams(&self) -> usize {
        self.streams.len()
    }

    /// Heap bytes held: the chunk stream table (its entries, about) and the
    /// messages being assembled.
    pub fn heap_bytes(&self) -> usize {
        let table = self.streams.capacity() * std::mem::size_of::<(u32, ChunkStream)>();
        let partial: usize = self
            .streams
            .values()
            .filter_map(|cs| cs.partial.as_ref())
            .map(BytesMut::capacity)
            .sum();
        table + partial
    }

    /// Decodes from `input` until one message is complete or the input is
    /// exhausted. Returns the bytes consumed and the message, if any.
    /// Call again with the rest of the input after a message.
    pub fn decode(&mut self, input: &[u8]) -> Result<(usize, Option<RawMessage>), ChunkError> {
        let mut used = 0usize;
        loop {
            let rest = input.get(used..).unwrap_or(&[]);
            let (n, step) = match self.phase {
                Phase::Header { .. } => self.header(rest)?,
                Phase::Body { csid, left } => self.body(csid, left, rest)?,
            };
            used = used.saturating_add(n);
            match step {
                Step::Wait => return Ok((used, None)),
                Step::Continue => {}
                Step::Message(m) => {
                    self.apply_control(&m)?;
                    return Ok((used, Some(m)));
                }
            }
        }
    }

    /// Protocol control messages that change the chunk layer itself.
    fn apply_control(&mut self, m: &RawMessage) -> Result<(), ChunkError> {
        match m.type_id {
            types::SET_CHUNK_SIZE => {
                let raw = m
                    .payload
                    .get(..4)
                    .ok_or(ChunkError::BadControlPayload { type_id: m.type_id })?;
                let size = be32(raw);
                if size == 0 || size & 0x8000_0000 != 0 {
                    return Err(ChunkError::InvalidChunkSize(size));
                }
                if size > self.limits.max_chunk_size {
                    return Err(ChunkError::ChunkSizeTooLarge {
                        size,
                        max: self.limits.max_chunk_size,
                    });
                }
                self.chunk_size = size;
            }
            types::ABORT => {
                let raw = m
                    .payload
                    .get(..4)
                    .ok_or(ChunkError::BadControlPayload { type_id: m.type_id })?;
                let csid = be32(raw);
                if let Some(cs) = self.streams.get_mut(&csid) {
                    if cs.partial.take().is_some() {
                        self.partial_bytes = self.partial_bytes.saturating_sub(cs.length as usize);
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Copies up to `want - len` bytes of `rest` into the header buffer.
    /// Returns (consumed, complete).
    fn fill(
        buf: &mut [u8; MAX_HEADER_LEN],
        len: &mut usize,
        want: usize,
        rest: &[u8],
    ) -> (usize, bool) {
        let need = want.saturating_sub(*len);
        let take = need.min(rest.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(*len..*len + take), rest.get(..take)) {
            dst.copy_from_slice(src);
        }
        *len += take;
        (take, *len >= want)
    }

    fn header(&mut self, rest: &[u8]) -> Result<(usize, Step), ChunkError> {
        let Phase::Header { mut buf, mut len } = self.phase else {
            return Ok((0, Step::Continue));
        };
        let mut used = 0usize;
        // Basic header.
        let (n, ok) = Self::fill(&mut buf, &mut len, 1, rest);
        used += n;
        if !ok {
            self.phase = Phase::Header { buf, len };
            return Ok((used, Step::Wait));
        }
        let first = buf.first().copied().unwrap_or(0);
        let fmt = first >> 6;
        let basic = basic_header_len(first);
        let msg_len = message_header_len(fmt);
        let (n, ok) = Self::fill(
            &mut buf,
            &mut len,
            basic + msg_len,
            rest.get(used..).unwrap_or(&[]),
        );
        used += n;
        if !ok {
            self.phase = Phase::Header { buf, len };
            return Ok((used, Step::Wait));
        }
        let csid = parse_csid(buf.get(..basic).unwrap_or(&[])).unwrap_or(0);
        let fields = buf.get(basic..basic + msg_len).unwrap_or(&[]);
        let extended = if fmt < 3 {
            be24(fields) == EXTENDED_TIMESTAMP
        } else {
            self.streams.get(&csid).is_some_and(|cs| cs.extended)
        };
        let total = basic + msg_len + if extended { 4 } else { 0 };
        let (n, ok) = Self::fill(&mut buf, &mut len, total, rest.get(used..).unwrap_or(&[]));
        used += n;
        if !ok {
            self.phase = Phase::Header { buf, len };
            return Ok((used, Step::Wait));
        }
        // The header is complete: from here on, reset the header buffer.
        self.phase = Phase::Header {
            buf: [0; MAX_HEADER_LEN],
            len: 0,
        };
        let fields = buf.get(basic..basic + msg_len).unwrap_or(&[]);
        let ext = if extended {
            be32(buf.get(basic + msg_len..total).unwrap_or(&[]))
        } else {
            0
        };
        self.start_chunk(csid, fmt, fields, extended, ext)
            .map(|step| (used, step))
    }

    /// Applies a complete chunk header.
    fn start_chunk(
        &mut self,
        csid: u32,
        fmt: u8,
        fields: &[u8],
        extended: bool,
        ext: u32,
    ) -> Result<Step, ChunkError> {
        let field = |r: std::ops::Range<usize>| fields.get(r).unwrap_or(&[]);
        if !self.streams.contains_key(&csid) {
            if fmt >= 2 {
                return Err(ChunkError::NoPreviousHeader { csid, fmt });
            }
            if self.streams.len() >= self.limits.max_chunk_streams {
                return Err(ChunkError::TooManyChunkStreams {
                    max: self.limits.max_chunk_streams,
                });
            }
            // fmt 1 on a new chunk stream inherits message stream 0.
            self.streams.insert(
                csid,
                ChunkStream {
                    timestamp: 0,
                    delta: 0,
                    length: 0,
                    type_id: 0,
                    stream_id: 0,
                    extended: false,
                    partial: None,
                },
            );
        }
        let Some(cs) = self.streams.get_mut(&csid) else {
            return Err(ChunkError::NoPreviousHeader { csid, fmt });
        };
        if cs.in_progress() {
            if fmt != 3 {
                return Err(ChunkError::HeaderInsideMessage { csid, fmt });
            }
            // Continuation chunk: its extended timestamp (if any) repeats
            // the message's and is ignored.
        } else {
            let ts_field = if extended { ext } else { be24(field(0..3)) };
            match fmt {
                0 => {
                    cs.timestamp = ts_field;
                    cs.delta = ts_field;
                }
                1 | 2 => {
                    cs.delta = ts_field;
                    cs.timestamp = cs.timestamp.wrapping_add(ts_field);
                }
                _ => {
                    cs.timestamp = cs.timestamp.wrapping_add(cs.delta);
                }
            }
            if fmt < 3 {
                cs.extended = extended;
            }
            if fmt <= 1 {
                cs.length = be24(field(3..6));
                cs.type_id = field(6..7).first().copied().unwrap_or(0);
            }
            if fmt == 0 {
                cs.stream_id = le32(field(7..11));
            }
            if cs.length > self.limits.max_message {
                return Err(ChunkError::MessageTooLarge {
                    len: u64::from(cs.length),
                    max: self.limits.max_message,
                });
            }
            let len = cs.length as usize;
            let reserved = self.partial_bytes.saturating_add(len);
            if reserved > self.limits.max_partial_bytes {
                return Err(ChunkError::TooManyPartialBytes {
                    max: self.limits.max_partial_bytes,
                });
            }
            if len == 0 {
                return Ok(Step::Message(RawMessage {
                    csid,
                    timestamp: cs.timestamp,
                    type_id: cs.type_id,
                    stream_id: cs.stream_id,
                    payload: bytes::Bytes::new(),
                }));
            }
            self.partial_bytes = reserved;
            cs.partial = Some(BytesMut::with_capacity(len));
        }
        let have = cs.partial.as_ref().map_or(0, BytesMut::len);
        let remaining = (cs.length as usize).saturating_sub(have);
        let left = remaining.min(self.chunk_size as usize);
        self.phase = Phase::Body { csid, left };
        Ok(Step::Continue)
    }

    fn body(&mut self, csid: u32, left: usize, rest: &[u8]) -> Result<(usize, Step), ChunkError> {
        let take = left.min(rest.len());
        let Some(cs) = self.streams.get_mut(&csid) else {
            self.phase = Phase::Header {
                buf: [0; MAX_HEADER_LEN],
                len: 0,
            };
            return Ok((take, Step::Continue));
        };
        let Some(partial) = cs.partial.as_mut() else {
            self.phase = Phase::Header {
                buf: [0; MAX_HEADER_LEN],
                len: 0,
            };
            return Ok((take, Step::Continue));
        };
        partial.extend_from_slice(rest.get(..take).unwrap_or(&[]));
        let left = left - take;
        if left > 0 {
            self.phase = Phase::Body { csid, left };
            return Ok((take, Step::Wait));
        }
        self.phase = Phase::Header {
            buf: [0; MAX_HEADER_LEN],
            len: 0,
        };
        if partial.len() < cs.length as usize {
            return Ok((take, Step::Continue));
        }
        let payload = cs.partial.take().unwrap_or_default().freeze();
        self.partial_bytes = self.partial_bytes.saturating_sub(cs.length as usize);
        Ok((
            take,
            Step::Message(RawMessage {
                csid,
                timestamp: cs.timestamp,
                type_id: cs.type_id,
                stream_id: cs.stream_id,
                payload,
            }),
        ))
    }
}
