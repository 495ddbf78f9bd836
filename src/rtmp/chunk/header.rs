//! Basic header (fmt + chunk stream id) encoding shared by decoder and
//! encoder.

use bytes::BufMut;

/// Smallest chunk stream id (0 and 1 are escape values of the basic header).
pub const MIN_CSID: u32 = 2;
/// Largest chunk stream id (3-byte basic header).
pub const MAX_CSID: u32 = 65599;

/// Length of the message header for each fmt.
pub(crate) const MESSAGE_HEADER_LEN: [usize; 4] = [11, 7, 3, 0];

pub(crate) fn message_header_len(fmt: u8) -> usize {
    MESSAGE_HEADER_LEN
        .get(usize::from(fmt & 3))
        .copied()
        .unwrap_or(0)
}

/// Length of the basic header announced by its first byte.
pub(crate) fn basic_header_len(first: u8) -> usize {
    match first & 0x3F {
        0 => 2,
        1 => 3,
        _ => 1,
    }
}

/// Chunk stream id of a complete basic header (`bytes.len()` as returned by
/// [`basic_header_len`]).
pub(crate) fn parse_csid(bytes: &[u8]) -> Option<u32> {
    let first = *bytes.first()?;
    match first & 0x3F {
        0 => Some(64 + u32::from(*bytes.get(1)?)),
        1 => Some(64 + u32::from(*bytes.get(1)?) + 256 * u32::from(*bytes.get(2)?)),
        n => Some(u32::from(n)),
    }
}

/// Writes a basic header. `csid` is clamped into `MIN_CSID..=MAX_CSID`.
pub(crate) fn write_basic_header<B: BufMut>(out: &mut B, fmt: u8, csid: u32) {
    let csid = csid.clamp(MIN_CSID, MAX_CSID);
    let fmt = (fmt & 3) << 6;
    if csid < 64 {
        out.put_u8(fmt | csid as u8);
    } else if csid < 320 {
        out.put_u8(fmt);
        out.put_u8((csid - 64) as u8);
    } else {
        let rest = csid - 64;
        out.put_u8(fmt | 1);
        out.put_u8((rest & 0xFF) as u8);
        out.put_u8((rest >> 8) as u8);
    }
}

pub(crate) fn be24(b: &[u8]) -> u32 {
    b.iter()
        .take(3)
        .fold(0u32, |acc, x| (acc << 8) | u32::from(*x))
}

pub(crate) fn be32(b: &[u8]) -> u32 {
    b.iter()
        .take(4)
        .fold(0u32, |acc, x| (acc << 8) | u32::from(*x))
}

pub(crate) fn le32(b: &[u8]) -> u32 {
    b.iter()
        .take(4)
        .rev()
        .fold(0u32, |acc, x| (acc << 8) | u32::from(*x))
}

pub(crate) fn put_u24<B: BufMut>(out: &mut B, v: u32) {
    out.put_u8((v >> 16) as u8);
    out.put_u8((v >> 8) as u8);
    out.put_u8(v as u8);
}
