//! Geometry of the zone: where the zone header, the slot directory and the rings are.

use std::fmt;
use std::sync::atomic::{fence, Ordering};

use super::region::Region;

/// First word of a formatted zone ("NGXRTMP" + layout version 2).
pub const MAGIC: u64 = u64::from_le_bytes(*b"NGXRTMP\x02");
/// Most slots [`Layout::new`] makes (and [`Layout::with_slots`] accepts 4096 at most).
pub const MAX_SLOTS: usize = 64;
/// Zone bytes per slot [`Layout::new`] aims for before capping at [`MAX_SLOTS`].
pub const BYTES_PER_SLOT: usize = 256 * 1024;
/// Smallest ring a layout accepts.
pub const MIN_RING: usize = 64 * 1024;
/// Longest stream key (`app/name`) in bytes.
pub const MAX_KEY: usize = 512;
/// Largest copy of a sequence header (onMetaData body, AVC config, AAC config).
pub const HEADER_CAP: usize = 4096;
/// Bytes of a record header in the ring.
pub const RECORD_HEADER: usize = 32;

// Zone header (offset 0, 64 bytes).
pub(crate) const Z_MAGIC: usize = 0;
pub(crate) const Z_SLOTS: usize = 8;
pub(crate) const Z_RING: usize = 16;
pub(crate) const Z_LOCK: usize = 24;
pub(crate) const Z_LOCK_OWNER: usize = 32;
pub(crate) const ZONE_HEADER: usize = 64;

// Slot header, relative to the slot's base.
pub(crate) const S_STATE: usize = 0;
pub(crate) const S_OWNER: usize = 8;
pub(crate) const S_HEARTBEAT: usize = 16;
pub(crate) const S_RESERVE: usize = 24;
pub(crate) const S_WRITE: usize = 32;
pub(crate) const S_KEYFRAME: usize = 40;
pub(crate) const S_KEY_LEN: usize = 48;
pub(crate) const S_CREATED: usize = 56;
pub(crate) const S_WANTED: usize = 64;
pub(crate) const S_KEY: usize = 72;
pub(crate) const S_HEADERS: usize = S_KEY + MAX_KEY; // 584
/// One header area: version word, length word, data.
pub(crate) const H_AREA: usize = 16 + HEADER_CAP; // 4112
/// Bytes of one slot header (3 header areas, rounded up to 64).
pub const SLOT_HEADER: usize = (S_HEADERS + 3 * H_AREA).div_ceil(64) * 64; // 12928

/// "No position" (no keyframe yet) in `S_KEYFRAME`.
pub(crate) const NO_POS: u64 = u64::MAX;
/// Positions stay below this; a larger value read from the zone is garbage.
pub(crate) const POS_LIMIT: u64 = 1 << 60;

// Slot state word: low 2 bits tag, the rest a generation.
pub(crate) const TAG_FREE: u64 = 0;
pub(crate) const TAG_CLAIMING: u64 = 1;
pub(crate) const TAG_ACTIVE: u64 = 2;
pub(crate) const TAG_CLOSED: u64 = 3;

pub(crate) fn tag(state: u64) -> u64 {
    state & 3
}
pub(crate) fn generation(state: u64) -> u64 {
    state >> 2
}
pub(crate) fn make_state(tag: u64, generation: u64) -> u64 {
    (generation << 2) | (tag & 3)
}
pub(crate) fn align8(n: usize) -> usize {
    n.div_ceil(8) * 8
}

/// Errors of the shared-memory layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShmError {
    /// The zone cannot hold one slot with a ring of [`MIN_RING`] bytes.
    ZoneTooSmall,
    /// Slot count out of range.
    BadGeometry,
    /// The region does not start with [`MAGIC`] and this layout's geometry (not formatted, or
    /// formatted by another version or with another size).
    NotFormatted,
    /// A payload larger than [`Layout::max_payload`] or a header larger than [`HEADER_CAP`].
    TooLarge,
    /// A record kind other than 8 (audio), 9 (video), 18 (data).
    InvalidKind,
    /// The slot is no longer ours (closed, or reclaimed after our heartbeat went stale).
    Lost,
}

impl fmt::Display for ShmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ShmError::ZoneTooSmall => "shared memory zone too small",
            ShmError::BadGeometry => "bad shared memory slot count",
            ShmError::NotFormatted => "shared memory zone not formatted for this layout",
            ShmError::TooLarge => "message too large for the shared memory ring",
            ShmError::InvalidKind => "invalid media message kind",
            ShmError::Lost => "shared memory slot was taken over",
        })
    }
}

impl std::error::Error for ShmError {}

/// Geometry computed from the zone size alone, so every worker computes the same one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    slots: usize,
    ring_bytes: usize,
    rings_base: usize,
}

impl Layout {
    /// `min(64, zone_len / 256 KiB)` slots (at least 1); the rest of the zone split into
    /// equal rings (multiples of 4 KiB).
    pub fn new(zone_len: usize) -> Result<Layout, ShmError> {
        let slots = (zone_len / BYTES_PER_SLOT).clamp(1, MAX_SLOTS);
        Layout::with_slots(zone_len, slots)
    }

    /// An explicit slot count (1..=4096); the rest of the zone split into equal rings.
    pub fn with_slots(zone_len: usize, slots: usize) -> Result<Layout, ShmError> {
        if slots == 0 || slots > 4096 {
            return Err(ShmError::BadGeometry);
        }
        let rings_base = (ZONE_HEADER + slots * SLOT_HEADER).div_ceil(4096) * 4096;
        let avail = zone_len
            .checked_sub(rings_base)
            .ok_or(ShmError::ZoneTooSmall)?;
        let ring_bytes = (avail / slots) / 4096 * 4096;
        if ring_bytes < MIN_RING {
            return Err(ShmError::ZoneTooSmall);
        }
        Ok(Layout {
            slots,
            ring_bytes,
            rings_base,
        })
    }

    /// Number of stream slots.
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// Bytes of each slot's ring.
    pub fn ring_bytes(&self) -> usize {
        self.ring_bytes
    }

    /// Largest payload [`SlotWriter::push`](super::SlotWriter::push) accepts: half a ring
    /// minus the record header.
    pub fn max_payload(&self) -> usize {
        self.ring_bytes / 2 - RECORD_HEADER
    }

    /// Bytes of the zone this layout uses (at most the `zone_len` it was made from).
    pub fn total_len(&self) -> usize {
        self.rings_base + self.slots * self.ring_bytes
    }

    pub(crate) fn slot_base(&self, slot: usize) -> usize {
        ZONE_HEADER + slot * SLOT_HEADER
    }

    pub(crate) fn ring_base(&self, slot: usize) -> usize {
        self.rings_base + slot * self.ring_bytes
    }

    pub(crate) fn header_area(&self, slot: usize, which: usize) -> usize {
        self.slot_base(slot) + S_HEADERS + which * H_AREA
    }
}

/// Formats a fresh zone: zeroes the zone header and the slot directory (every slot free,
/// generation 0), records the geometry and writes [`MAGIC`] last. Call it once, from the
/// zone's init (never on a zone that workers already use: that would drop live streams).
pub fn format<R: Region + ?Sized>(region: &R, layout: &Layout) -> Result<(), ShmError> {
    if region.len() < layout.total_len() {
        return Err(ShmError::ZoneTooSmall);
    }
    region.store(Z_MAGIC, 0);
    fence(Ordering::Release);
    let zeros = [0u8; 4096];
    let mut off = 8;
    let end = layout.slot_base(layout.slots);
    while off < end {
        let n = (end - off).min(zeros.len());
        region.write(off, zeros.get(..n).unwrap_or(&[]));
        off += n;
    }
    for slot in 0..layout.slots {
        region.store(layout.slot_base(slot) + S_KEYFRAME, NO_POS);
    }
    region.store(Z_SLOTS, layout.slots as u64);
    region.store(Z_RING, layout.ring_bytes as u64);
    region.store(Z_MAGIC, MAGIC);
    Ok(())
}

/// Whether the region is a zone formatted with this layout.
pub fn check<R: Region + ?Sized>(region: &R, layout: &Layout) -> Result<(), ShmError> {
    if region.len() < layout.total_len() {
        return Err(ShmError::ZoneTooSmall);
    }
    if region.load(Z_MAGIC) != MAGIC
        || region.load(Z_SLOTS) != layout.slots as u64
        || region.load(Z_RING) != layout.ring_bytes as u64
    {
        return Err(ShmError::NotFormatted);
    }
    Ok(())
}
