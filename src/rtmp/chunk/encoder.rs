//! Chunk stream encoder: messages → chunks, with header compression.

use bytes::{BufMut, BytesMut};

use super::error::ChunkError;
use super::header::{put_u24, write_basic_header, MAX_CSID, MIN_CSID};
use super::{DEFAULT_CHUNK_SIZE, EXTENDED_TIMESTAMP, MAX_MESSAGE_LEN};

#[derive(Debug, Clone, Copy)]
struct Sent {
    timestamp: u32,
    /// Value of the last timestamp field (absolute after fmt 0).
    delta: u32,
    length: u32,
    type_id: u8,
    stream_id: u32,
    /// The last fmt 0..2 header was fmt 0.
    after_fmt0: bool,
}

/// Cuts messages into chunks of the current outgoing chunk size.
///
/// The first message on a chunk stream uses fmt 0; later ones use fmt 1
/// (same message stream), fmt 2 (same length and type too) or fmt 3 (same
/// delta as well, never right after a fmt 0 header because receivers
/// disagree on what that delta is). Timestamps going backwards or a change
/// of message stream force fmt 0. Timestamps/deltas of 0xFFFFFF and above
/// are written as extended timestamps, repeated on every continuation
/// chunk (as ffmpeg, OBS and Flash expect).
#[derive(Debug)]
pub struct ChunkEncoder {
    chunk_size: u32,
    /// What was last sent on each chunk stream. A short list: we write on a
    /// handful of chunk streams (control, command, status), where a map
    /// would cost several times its entries.
    streams: Vec<(u32, Sent)>,
}

impl Default for ChunkEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkEncoder {
    pub fn new() -> Self {
        ChunkEncoder {
            chunk_size: DEFAULT_CHUNK_SIZE,
            streams: Vec::new(),
        }
    }

    /// Our outgoing chunk size.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Heap bytes held: the per-chunk-stream header state.
    pub fn heap_bytes(&self) -> usize {
        self.streams.capacity() * std::mem::size_of::<(u32, Sent)>()
    }

    /// Changes the outgoing chunk size (after sending Set Chunk Size).
    /// Values are clamped to 1..=0x7FFFFFFF.
    pub fn set_chunk_size(&mut self, size: u32) {
        self.chunk_size = size.clamp(1, 0x7FFF_FFFF);
    }

    /// Forgets the header state of every chunk stream, so the next message
    /// on each uses fmt 0.
    pub fn reset(&mut self) {
        self.streams.clear();
    }

    /// Forgets the header state of chunk stream `csid` (after someone else
    /// wrote on it, e.g. a prepared media message), so the next message on
    /// it uses fmt 0.
    pub fn forget(&mut self, csid: u32) {
        let csid = csid.clamp(MIN_CSID, MAX_CSID);
        if let Some(pos) = self.streams.iter().position(|(c, _)| *c == csid) {
            self.streams.swap_remove(pos);
        }
    }

    fn sent(&self, csid: u32) -> Option<Sent> {
        self.streams
            .iter()
            .find_map(|(c, s)| (*c == csid).then_some(*s))
    }

    fn remember(&mut self, csid: u32, sent: Sent) {
        match self.streams.iter_mut().find(|(c, _)| *c == csid) {
            Some((_, s)) => *s = sent,
            None => self.streams.push((csid, sent)),
        }
    }

    /// Appends `payload` as one message on chunk stream `csid` (clamped to
    /// 2..=65599). Fails only if the payload exceeds the 24-bit length.
    pub fn write(
        &mut self,
        out: &mut BytesMut,
        csid: u32,
        timestamp: u32,
        type_id: u8,
        stream_id: u32,
        payload: &[u8],
    ) -> Result<(), ChunkError> {
        let length = u32::try_from(payload.len())
            .ok()
            .filter(|l| *l <= MAX_MESSAGE_LEN)
            .ok_or(ChunkError::MessageTooLarge {
                len: payload.len() as u64,
                max: MAX_MESSAGE_LEN,
            })?;
        let csid = csid.clamp(MIN_CSID, MAX_CSID);
        let prev = self.sent(csid);

        let (fmt, field) = match prev {
            Some(p) if p.stream_id == stream_id && timestamp >= p.timestamp => {
                let delta = timestamp - p.timestamp;
                if p.length == length && p.type_id == type_id {
                    if delta == p.delta && !p.after_fmt0 {
                        (3u8, p.delta)
                    } else {
                        (2, delta)
                    }
                } else {
                    (1, delta)
                }
            }
            _ => (0, timestamp),
        };
        let sent = match (fmt, prev) {
            (3, Some(p)) => Sent { timestamp, ..p },
            _ => Sent {
                timestamp,
                delta: field,
                length,
                type_id,
                stream_id,
                after_fmt0: fmt == 0,
            },
        };
        self.remember(csid, sent);

        let extended = field >= EXTENDED_TIMESTAMP;
        let chunk = self.chunk_size as usize;
        let chunks = payload.len().div_ceil(chunk).max(1);
        let per_chunk_header = 3 + if extended { 4 } else { 0 };
        out.reserve(payload.len() + 18 + chunks * per_chunk_header);

        write_basic_header(out, fmt, csid);
        if fmt < 3 {
            put_u24(out, if extended { EXTENDED_TIMESTAMP } else { field });
        }
        if fmt < 2 {
            put_u24(out, length);
            out.put_u8(type_id);
        }
        if fmt == 0 {
            out.put_u32_le(stream_id);
        }
        if extended {
            out.put_u32(field);
        }
        let mut pieces = payload.chunks(chunk);
        if let Some(first) = pieces.next() {
            out.put_slice(first);
        }
        for piece in pieces {
            write_basic_header(out, 3, csid);
            if extended {
                out.put_u32(field);
            }
            out.put_slice(piece);
        }
        Ok(())
    }
}
