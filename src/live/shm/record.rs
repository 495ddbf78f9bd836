//! Record header encoding, checksum, and wrapped copies in and out of a ring.

use super::layout::{align8, Layout, RECORD_HEADER};
use super::region::Region;

/// Record kinds the ring carries (RTMP message type ids).
pub const KIND_AUDIO: u8 = 8;
pub const KIND_VIDEO: u8 = 9;
pub const KIND_DATA: u8 = 18;

pub(crate) const FLAG_KEYFRAME: u8 = 1;

pub(crate) fn valid_kind(kind: u8) -> bool {
    matches!(kind, KIND_AUDIO | KIND_VIDEO | KIND_DATA)
}

/// A decoded record header.
///
/// Bytes (little-endian words): `0` position of the record, `8` sequence number,
/// `16` len u32 | kind u8 | flags u8 | generation low 16 bits, `24` timestamp u32 | check u32.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordHeader {
    pub pos: u64,
    pub seq: u64,
    pub len: u32,
    pub kind: u8,
    pub flags: u8,
    pub gen16: u16,
    pub timestamp: u32,
    pub check: u32,
}

fn word(b: &[u8; RECORD_HEADER], i: usize) -> u64 {
    let mut w = [0u8; 8];
    if let Some(s) = b.get(i * 8..i * 8 + 8) {
        w.copy_from_slice(s);
    }
    u64::from_le_bytes(w)
}

impl RecordHeader {
    fn word2(&self) -> u64 {
        u64::from(self.len)
            | u64::from(self.kind) << 32
            | u64::from(self.flags) << 40
            | u64::from(self.gen16) << 48
    }

    pub fn encode(&self) -> [u8; RECORD_HEADER] {
        let mut b = [0u8; RECORD_HEADER];
        let words = [
            self.pos,
            self.seq,
            self.word2(),
            u64::from(self.timestamp) | u64::from(self.check) << 32,
        ];
        for (chunk, w) in b.chunks_exact_mut(8).zip(words) {
            chunk.copy_from_slice(&w.to_le_bytes());
        }
        b
    }

    pub fn decode(b: &[u8; RECORD_HEADER]) -> RecordHeader {
        let w2 = word(b, 2);
        let w3 = word(b, 3);
        RecordHeader {
            pos: word(b, 0),
            seq: word(b, 1),
            len: w2 as u32,
            kind: (w2 >> 32) as u8,
            flags: (w2 >> 40) as u8,
            gen16: (w2 >> 48) as u16,
            timestamp: w3 as u32,
            check: (w3 >> 32) as u32,
        }
    }

    /// Checksum over the header fields (but `check`) and the payload.
    pub fn checksum(&self, payload: &[u8]) -> u32 {
        let mut h = mix(0x243F_6A88_85A3_08D3, self.pos);
        h = mix(h, self.seq);
        h = mix(h, self.word2());
        h = mix(h, u64::from(self.timestamp));
        let mut chunks = payload.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            h = mix(h, u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            if let Some(d) = w.get_mut(..rest.len()) {
                d.copy_from_slice(rest);
            }
            h = mix(h, u64::from_le_bytes(w));
        }
        h = mix(h, payload.len() as u64);
        (h ^ (h >> 32)) as u32
    }
}

fn mix(h: u64, w: u64) -> u64 {
    (h ^ w).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29)
}

/// Byte offset in the region of ring position `pos` of `slot`.
fn ring_off(layout: &Layout, slot: usize, pos: u64) -> (usize, usize) {
    let ring = layout.ring_bytes();
    let off = (pos % ring as u64) as usize;
    (layout.ring_base(slot), off)
}

/// Writes `src` (whose length is a multiple of 8 and at most the ring size) at ring position
/// `pos` (8-aligned), wrapping at the end of the ring.
pub(crate) fn ring_write<R: Region + ?Sized>(
    region: &R,
    layout: &Layout,
    slot: usize,
    pos: u64,
    src: &[u8],
) {
    let (base, off) = ring_off(layout, slot, pos);
    let first = (layout.ring_bytes() - off).min(src.len());
    let (a, b) = src.split_at(first);
    region.write(base + off, a);
    if !b.is_empty() {
        region.write(base, b);
    }
}

/// Writes `src` (any length, at most the ring size) at `pos`, zero-padding the last word.
pub(crate) fn ring_write_padded<R: Region + ?Sized>(
    region: &R,
    layout: &Layout,
    slot: usize,
    pos: u64,
    src: &[u8],
) {
    let full = src.len() / 8 * 8;
    let (body, rest) = src.split_at(full);
    ring_write(region, layout, slot, pos, body);
    if !rest.is_empty() {
        let mut tail = [0u8; 8];
        if let Some(d) = tail.get_mut(..rest.len()) {
            d.copy_from_slice(rest);
        }
        ring_write(region, layout, slot, pos.wrapping_add(full as u64), &tail);
    }
}

/// Reads `dst` (length a multiple of 8, at most the ring size) from ring position `pos`.
pub(crate) fn ring_read<R: Region + ?Sized>(
    region: &R,
    layout: &Layout,
    slot: usize,
    pos: u64,
    dst: &mut [u8],
) {
    let (base, off) = ring_off(layout, slot, pos);
    let first = (layout.ring_bytes() - off).min(dst.len());
    let (a, b) = dst.split_at_mut(first);
    region.read(base + off, a);
    if !b.is_empty() {
        region.read(base, b);
    }
}

/// Writes `src` contiguously at `off`, zero-padding the last word.
pub(crate) fn write_padded<R: Region + ?Sized>(region: &R, off: usize, src: &[u8]) {
    let full = src.len() / 8 * 8;
    let (body, rest) = src.split_at(full);
    region.write(off, body);
    if !rest.is_empty() {
        let mut tail = [0u8; 8];
        if let Some(d) = tail.get_mut(..rest.len()) {
            d.copy_from_slice(rest);
        }
        region.write(off + full, &tail);
    }
}

/// Reads `len` bytes at `off` into `buf` (resized), reading whole words.
pub(crate) fn read_padded<R: Region + ?Sized>(
    region: &R,
    off: usize,
    len: usize,
    buf: &mut Vec<u8>,
) {
    buf.clear();
    buf.resize(align8(len), 0);
    region.read(off, buf);
    buf.truncate(len);
}
