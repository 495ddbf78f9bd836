//! The player side: finding a stream and reading its records.

use std::sync::atomic::{fence, Ordering};

use super::layout::{
    align8, check, generation, tag, Layout, HEADER_CAP, MAX_KEY, NO_POS, RECORD_HEADER, S_CREATED,
    S_HEARTBEAT, S_KEYFRAME, S_OWNER, S_RESERVE, S_STATE, S_WANTED, S_WRITE, TAG_ACTIVE,
    TAG_CLOSED,
};
use super::record::{read_padded, ring_read, valid_kind, RecordHeader, FLAG_KEYFRAME};
use super::region::Region;
use super::slot::{key_matches, read_key, HeaderKind};

/// Attempts at a consistent copy of a sequence header before giving up.
pub const HEADER_RETRIES: u32 = 64;

/// Where a new reader starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// At the latest keyframe still in the ring (instant start), else at the live edge.
    Keyframe,
    /// At the live edge (the next record written).
    Live,
}

/// Finds the active (not closed) slot publishing `key`; the reader starts at the latest
/// keyframe still in the ring, or at the live edge if there is none.
pub fn find<R: Region>(region: R, layout: Layout, key: &str) -> Option<SlotReader<R>> {
    check(&region, &layout).ok()?;
    for slot in 0..layout.slots() {
        let state_off = layout.slot_base(slot) + S_STATE;
        let s = region.load(state_off);
        if tag(s) != TAG_ACTIVE || !key_matches(&region, &layout, slot, key) {
            continue;
        }
        fence(Ordering::Acquire);
        if region.load(state_off) != s {
            continue;
        }
        let mut r = SlotReader {
            region,
            layout,
            slot,
            gen: generation(s),
            pos: 0,
            done: false,
        };
        r.seek(StartAt::Keyframe);
        return Some(r);
    }
    None
}

/// One stream of the directory, for statistics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInfo {
    pub slot: usize,
    pub key: String,
    pub owner: u64,
    pub created_ms: u64,
    pub heartbeat_ms: u64,
    /// Ring position of the next record (bytes written, counting earlier generations).
    pub position: u64,
}

/// The active streams of the zone (a consistent key per slot; other fields are a snapshot).
pub fn streams<R: Region + ?Sized>(region: &R, layout: &Layout) -> Vec<StreamInfo> {
    let mut out = Vec::new();
    if check(region, layout).is_err() {
        return out;
    }
    for slot in 0..layout.slots() {
        let base = layout.slot_base(slot);
        let s = region.load(base + S_STATE);
        if tag(s) != TAG_ACTIVE {
            continue;
        }
        let mut buf = [0u8; MAX_KEY];
        let key = match read_key(region, layout, slot, &mut buf) {
            Some(k) => String::from_utf8_lossy(k).into_owned(),
            None => continue,
        };
        let info = StreamInfo {
            slot,
            key,
            owner: region.load(base + S_OWNER),
            created_ms: region.load(base + S_CREATED),
            heartbeat_ms: region.load(base + S_HEARTBEAT),
            position: region.load(base + S_WRITE),
        };
        fence(Ordering::Acquire);
        if region.load(base + S_STATE) == s {
            out.push(info);
        }
    }
    out
}

/// A record read from the ring; its payload is in the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// 8 audio, 9 video, 18 data.
    pub kind: u8,
    pub timestamp: u32,
    pub keyframe: bool,
    /// Record number in this generation (0, 1, 2, ...): a jump tells exactly how many
    /// records an [`ReadResult::Overrun`] skipped.
    pub seq: u64,
}

/// Outcome of [`SlotReader::next`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadResult {
    /// The next record; `buf` holds exactly its payload.
    Record(Record),
    /// Nothing new yet.
    Empty,
    /// The writer lapped the reader (or overwrote the record during the copy): the reader
    /// moved to the latest keyframe still in the ring (else to the live edge), skipping
    /// `skipped_bytes` of ring positions. The next record's `seq` tells how many records.
    Overrun { skipped_bytes: u64 },
    /// The publisher closed and everything it wrote was read, or the slot was claimed again.
    /// Final: every later call returns `Closed`.
    Closed,
    /// The slot holds invalid committed data (a corrupted zone, or a stale writer). Final:
    /// every later call returns `Closed`.
    Corrupt,
}

/// Copies of the sequence headers (None: never set, cleared, or not readable consistently).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    pub metadata: Option<Vec<u8>>,
    pub video: Option<Vec<u8>>,
    pub audio: Option<Vec<u8>>,
}

/// A player-side cursor on one slot generation. Only reads the zone.
#[derive(Debug)]
pub struct SlotReader<R: Region> {
    region: R,
    layout: Layout,
    slot: usize,
    gen: u64,
    pos: u64,
    done: bool,
}

impl<R: Region> SlotReader<R> {
    /// Index of the slot in the directory.
    pub fn slot(&self) -> usize {
        self.slot
    }

    /// Generation of the claim being read.
    pub fn generation(&self) -> u64 {
        self.gen
    }

    /// Ring position of the next record to read.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Tells the writer this stream is being read (call at least every
    /// [`WANT_MS`](super::WANT_MS) / 2 while reading; the writer skips records otherwise).
    pub fn want(&self, now_ms: u64) {
        self.region.store(self.base() + S_WANTED, now_ms.max(1));
    }

    /// The slot's owner and its writer's last heartbeat (ms): a writer whose worker died
    /// (killed, crashed) never closes its slot, and a reader tells that from a silence.
    pub fn writer(&self) -> (u64, u64) {
        let base = self.base();
        (
            self.region.load(base + S_OWNER),
            self.region.load(base + S_HEARTBEAT),
        )
    }

    /// When a reader last renewed its interest ([`SlotReader::want`]; 0: never): the
    /// writer's side of the demand, read by a worker that holds the slot without writing.
    pub fn wanted_at(&self) -> u64 {
        self.region.load(self.base() + S_WANTED)
    }

    /// Bytes written but not read yet (0 if the slot is gone).
    pub fn lag(&self) -> u64 {
        let w = self.region.load(self.base() + S_WRITE);
        w.saturating_sub(self.pos)
    }

    fn base(&self) -> usize {
        self.layout.slot_base(self.slot)
    }

    fn ring(&self) -> u64 {
        self.layout.ring_bytes() as u64
    }

    /// Moves the cursor to the latest keyframe still in the ring (else the live edge), or to
    /// the live edge.
    pub fn seek(&mut self, at: StartAt) {
        let base = self.base();
        let k = self.region.load(base + S_KEYFRAME);
        let w = self.region.load(base + S_WRITE);
        let res = self.region.load(base + S_RESERVE).max(w);
        let key_ok = k != NO_POS && k.is_multiple_of(8) && k < w && res - k <= self.ring();
        self.pos = match at {
            StartAt::Keyframe if key_ok => k,
            _ => w,
        };
    }

    /// Whether the writer may have overwritten (or be overwriting) ring position `pos`.
    fn lapped(&self, pos: u64) -> bool {
        let res = self.region.load(self.base() + S_RESERVE);
        res.saturating_sub(pos) > self.ring()
    }

    fn overrun(&mut self) -> ReadResult {
        let old = self.pos;
        self.seek(StartAt::Keyframe);
        ReadResult::Overrun {
            skipped_bytes: self.pos.saturating_sub(old),
        }
    }

    fn corrupt(&mut self) -> ReadResult {
        self.done = true;
        ReadResult::Corrupt
    }

    fn same_generation(&self) -> bool {
        generation(self.region.load(self.base() + S_STATE)) == self.gen
    }

    /// Reads the next record into `buf` (cleared, then exactly the payload).
    ///
    /// The record is copied, then an Acquire fence, then the reserve word is re-read: if the
    /// writer had started overwriting the record's bytes, the copy is discarded (`Overrun`).
    /// Never returns torn data; never loops.
    pub fn next(&mut self, buf: &mut Vec<u8>) -> ReadResult {
        buf.clear();
        if self.done {
            return ReadResult::Closed;
        }
        let base = self.base();
        let s = self.region.load(base + S_STATE);
        if generation(s) != self.gen || !matches!(tag(s), TAG_ACTIVE | TAG_CLOSED) {
            self.done = true;
            return ReadResult::Closed;
        }
        let w = self.region.load(base + S_WRITE);
        if self.pos == w {
            if tag(s) == TAG_CLOSED {
                self.done = true;
                return ReadResult::Closed;
            }
            return ReadResult::Empty;
        }
        if self.pos > w || !self.pos.is_multiple_of(8) {
            return self.corrupt();
        }
        if self.lapped(self.pos) || w - self.pos > self.ring() {
            return self.overrun();
        }
        if w - self.pos < RECORD_HEADER as u64 {
            return self.corrupt();
        }
        let pos = self.pos;
        let mut hb = [0u8; RECORD_HEADER];
        ring_read(&self.region, &self.layout, self.slot, pos, &mut hb);
        fence(Ordering::Acquire);
        if !self.same_generation() {
            self.done = true;
            return ReadResult::Closed;
        }
        if self.lapped(pos) {
            return self.overrun();
        }
        let h = RecordHeader::decode(&hb);
        let len = h.len as usize;
        let n = (RECORD_HEADER + align8(len)) as u64;
        if h.pos != pos
            || h.gen16 != self.gen as u16
            || !valid_kind(h.kind)
            || len > self.layout.max_payload()
            || n > w - pos
        {
            return self.corrupt();
        }
        buf.resize(align8(len), 0);
        ring_read(
            &self.region,
            &self.layout,
            self.slot,
            pos + RECORD_HEADER as u64,
            buf,
        );
        fence(Ordering::Acquire);
        if !self.same_generation() {
            buf.clear();
            self.done = true;
            return ReadResult::Closed;
        }
        if self.lapped(pos) {
            buf.clear();
            return self.overrun();
        }
        buf.truncate(len);
        if h.checksum(buf) != h.check {
            buf.clear();
            return self.corrupt();
        }
        self.pos = pos + n;
        ReadResult::Record(Record {
            kind: h.kind,
            timestamp: h.timestamp,
            keyframe: h.flags & FLAG_KEYFRAME != 0,
            seq: h.seq,
        })
    }

    /// A consistent copy of one sequence header (seqlock read, at most [`HEADER_RETRIES`]
    /// attempts).
    pub fn header(&self, which: HeaderKind) -> Option<Vec<u8>> {
        let area = self.layout.header_area(self.slot, which as usize);
        let mut buf = Vec::new();
        for _ in 0..HEADER_RETRIES {
            let v1 = self.region.load(area);
            if !v1.is_multiple_of(2) {
                std::hint::spin_loop();
                continue;
            }
            let len = self.region.load(area + 8);
            let ok_len = len <= HEADER_CAP as u64;
            if ok_len {
                read_padded(&self.region, area + 16, len as usize, &mut buf);
            }
            fence(Ordering::Acquire);
            if self.region.load(area) != v1 {
                continue;
            }
            if !ok_len || !self.same_generation() {
                return None;
            }
            return if buf.is_empty() { None } else { Some(buf) };
        }
        None
    }

    /// All three sequence-header copies.
    pub fn headers(&self) -> Headers {
        Headers {
            metadata: self.header(HeaderKind::Metadata),
            video: self.header(HeaderKind::Video),
            audio: self.header(HeaderKind::Audio),
        }
    }
}
