//! The stat board: a shared-memory area where every worker publishes its [`Snapshot`]
//! (encoded by [`super::codec`]) and receives control commands.
//!
//! Pure layout and protocol over the [`Region`] of the live zone (no `unsafe`, no clock: time
//! comes in as arguments). Layout (byte offsets, u64 words 8-aligned):
//!
//! ```text
//! header   0 magic "NGXSTAT1"   8 slots   16 slot_bytes
//! slot i at 64 + i * slot_bytes:
//!    +0 owner      pid << 32 | nonce (0: free); claimed by CAS, reclaimed from dead owners
//!    +8 seq        seqlock: odd while the owner writes the snapshot
//!   +16 len        snapshot length
//!   +24 updated    unix ms of the last publish
//!   +32 mb_next    mailbox tickets handed out (writers CAS it up)
//!   +64 mailbox    MB_ENTRIES entries of MB_ENTRY bytes: +0 ready (ticket + 1) +8 len +16 data
//!   +64 + MB_ENTRIES * MB_ENTRY: snapshot bytes
//! ```
//!
//! Readers retry a torn read (sequence changed) a few times and otherwise skip the slot for
//! this request. A mailbox is a ring of tickets: a writer takes ticket `t` by CAS, writes entry
//! `t % MB_ENTRIES`, then stores `ready = t + 1`; the owner consumes tickets in order.

use crate::live::shm::Region;

const MAGIC: u64 = u64::from_le_bytes(*b"NGXSTAT1");
const HEADER: usize = 64;
const SLOT_HEADER: usize = 64;
pub const MB_ENTRIES: u64 = 16;
pub const MB_ENTRY: usize = 1024;
/// Largest command a mailbox entry holds.
pub const MB_DATA: usize = MB_ENTRY - 16;

const OWNER: usize = 0;
const SEQ: usize = 8;
const LEN: usize = 16;
const UPDATED: usize = 24;
const MB_NEXT: usize = 32;

/// Default geometry: 64 workers, 256 KiB each (untouched pages cost no memory).
pub const DEFAULT_SLOTS: usize = 64;
pub const DEFAULT_SLOT_BYTES: usize = 256 * 1024;

pub fn zone_size(slots: usize, slot_bytes: usize) -> usize {
    HEADER + slots * slot_bytes
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Board {
    pub slots: usize,
    pub slot_bytes: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoardError {
    TooSmall,
    NotFormatted,
    Full,
    TooLarge,
    Busy,
}

impl std::fmt::Display for BoardError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BoardError::TooSmall => "zone too small for the stat board",
            BoardError::NotFormatted => "stat board not formatted",
            BoardError::Full => "no free stat board slot",
            BoardError::TooLarge => "data larger than its area",
            BoardError::Busy => "slot changed while read",
        })
    }
}

impl std::error::Error for BoardError {}

fn align8(n: usize) -> usize {
    n.div_ceil(8) * 8
}

impl Board {
    pub fn new(slots: usize, slot_bytes: usize) -> Result<Board, BoardError> {
        let slot_bytes = align8(slot_bytes);
        if slots == 0 || slot_bytes < SLOT_HEADER + MB_ENTRIES as usize * MB_ENTRY + 1024 {
            return Err(BoardError::TooSmall);
        }
        Ok(Board { slots, slot_bytes })
    }

    fn slot(&self, i: usize) -> usize {
        HEADER + i * self.slot_bytes
    }

    fn data_off(&self, i: usize) -> usize {
        self.slot(i) + SLOT_HEADER + MB_ENTRIES as usize * MB_ENTRY
    }

    /// Capacity of a slot's snapshot area.
    pub fn data_capacity(&self) -> usize {
        self.slot_bytes - SLOT_HEADER - MB_ENTRIES as usize * MB_ENTRY
    }

    /// Writes an empty board.
    pub fn format<R: Region>(&self, r: &R) -> Result<(), BoardError> {
        if r.len() < zone_size(self.slots, self.slot_bytes) {
            return Err(BoardError::TooSmall);
        }
        for i in 0..self.slots {
            for w in [OWNER, SEQ, LEN, UPDATED, MB_NEXT] {
                r.store(self.slot(i) + w, 0);
            }
        }
        r.store(8, self.slots as u64);
        r.store(16, self.slot_bytes as u64);
        r.store(0, MAGIC);
        Ok(())
    }

    /// Whether `r` holds a board of this geometry (e.g. kept across a reload).
    pub fn check<R: Region>(&self, r: &R) -> Result<(), BoardError> {
        if r.len() < zone_size(self.slots, self.slot_bytes)
            || r.load(0) != MAGIC
            || r.load(8) != self.slots as u64
            || r.load(16) != self.slot_bytes as u64
        {
            return Err(BoardError::NotFormatted);
        }
        Ok(())
    }

    /// Claims a slot for `owner`: its own, a free one, or one of a dead owner. Returns the slot
    /// index and the mailbox cursor to start from (old commands are not replayed).
    pub fn claim<R: Region>(
        &self,
        r: &R,
        owner: u64,
        is_alive: impl Fn(u64) -> bool,
    ) -> Result<(usize, u64), BoardError> {
        self.check(r)?;
        let take = |i: usize| {
            let s = self.slot(i);
            r.store(s + LEN, 0);
            (i, r.load(s + MB_NEXT))
        };
        if let Some(i) = (0..self.slots).find(|&i| r.load(self.slot(i) + OWNER) == owner) {
            return Ok(take(i));
        }
        for i in 0..self.slots {
            let cur = r.load(self.slot(i) + OWNER);
            if (cur == 0 || !is_alive(cur)) && r.cas(self.slot(i) + OWNER, cur, owner).is_ok() {
                return Ok(take(i));
            }
        }
        Err(BoardError::Full)
    }

    /// Publishes the owner's snapshot bytes in slot `i`.
    pub fn publish<R: Region>(
        &self,
        r: &R,
        i: usize,
        data: &[u8],
        now_unix_ms: u64,
    ) -> Result<(), BoardError> {
        if data.len() > self.data_capacity() || i >= self.slots {
            return Err(BoardError::TooLarge);
        }
        let s = self.slot(i);
        let seq = r.load(s + SEQ) | 1;
        r.store(s + SEQ, seq);
        r.store(s + LEN, data.len() as u64);
        r.write(self.data_off(i), data);
        r.store(s + UPDATED, now_unix_ms);
        r.store(s + SEQ, seq + 1);
        Ok(())
    }

    /// The snapshot bytes of slot `i` (consistent copy), with the owner and the time of its
    /// last publish. `None` for a free slot or one never published.
    pub fn read<R: Region>(
        &self,
        r: &R,
        i: usize,
    ) -> Result<Option<(u64, u64, Vec<u8>)>, BoardError> {
        if i >= self.slots {
            return Ok(None);
        }
        let s = self.slot(i);
        for _ in 0..8 {
            let owner = r.load(s + OWNER);
            if owner == 0 {
                return Ok(None);
            }
            let seq1 = r.load(s + SEQ);
            if seq1 & 1 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let len = r.load(s + LEN) as usize;
            if len == 0 {
                return Ok(None);
            }
            if len > self.data_capacity() {
                continue;
            }
            let updated = r.load(s + UPDATED);
            let mut buf = vec![0u8; len];
            r.read(self.data_off(i), &mut buf);
            if r.load(s + SEQ) == seq1 && r.load(s + OWNER) == owner {
                return Ok(Some((owner, updated, buf)));
            }
        }
        Err(BoardError::Busy)
    }

    /// The owner of slot `i` (0: free).
    pub fn owner<R: Region>(&self, r: &R, i: usize) -> u64 {
        if i >= self.slots {
            return 0;
        }
        r.load(self.slot(i) + OWNER)
    }

    /// Posts a command into the mailbox of slot `i`.
    pub fn post<R: Region>(&self, r: &R, i: usize, cmd: &[u8]) -> Result<(), BoardError> {
        if cmd.len() > MB_DATA || i >= self.slots {
            return Err(BoardError::TooLarge);
        }
        let s = self.slot(i);
        let ticket = loop {
            let t = r.load(s + MB_NEXT);
            if r.cas(s + MB_NEXT, t, t + 1).is_ok() {
                break t;
            }
            std::hint::spin_loop();
        };
        let e = s + SLOT_HEADER + (ticket % MB_ENTRIES) as usize * MB_ENTRY;
        r.store(e, 0);
        r.store(e + 8, cmd.len() as u64);
        r.write(e + 16, cmd);
        r.store(e, ticket + 1);
        Ok(())
    }

    /// Commands posted to slot `i` since `cursor` (advanced). A ticket taken but not yet
    /// written stops the scan until the next call; entries overwritten by a full ring are lost.
    pub fn poll<R: Region>(&self, r: &R, i: usize, cursor: &mut u64) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        if i >= self.slots {
            return out;
        }
        let s = self.slot(i);
        let next = r.load(s + MB_NEXT);
        if next.saturating_sub(*cursor) > MB_ENTRIES {
            *cursor = next - MB_ENTRIES;
        }
        while *cursor < next {
            let t = *cursor;
            let e = s + SLOT_HEADER + (t % MB_ENTRIES) as usize * MB_ENTRY;
            let ready = r.load(e);
            if ready < t + 1 {
                break; // being written
            }
            if ready == t + 1 {
                let len = (r.load(e + 8) as usize).min(MB_DATA);
                let mut buf = vec![0u8; len];
                r.read(e + 16, &mut buf);
                if r.load(e) == ready {
                    out.push(buf);
                }
            }
            *cursor = t + 1;
        }
        out
    }
}
