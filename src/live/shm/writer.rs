//! The publisher's side: claiming a slot and appending records.

use std::fmt;
use std::sync::atomic::{fence, Ordering};

use super::layout::{
    align8, check, generation, make_state, tag, Layout, ShmError, HEADER_CAP, MAX_KEY, NO_POS,
    POS_LIMIT, RECORD_HEADER, S_CREATED, S_HEARTBEAT, S_KEY, S_KEYFRAME, S_KEY_LEN, S_OWNER,
    S_RESERVE, S_STATE, S_WANTED, S_WRITE, TAG_ACTIVE, TAG_CLAIMING, TAG_CLOSED, TAG_FREE, Z_LOCK,
    Z_LOCK_OWNER,
};
use super::record::{
    ring_write, ring_write_padded, valid_kind, write_padded, RecordHeader, FLAG_KEYFRAME,
};
use super::region::Region;
use super::slot::{key_matches, HeaderKind};

/// A publisher whose heartbeat is older than this (ms) is presumed gone.
pub const STALE_MS: u64 = 5_000;
/// A reader that has not renewed its interest ([`SlotReader::want`](super::SlotReader::want))
/// for this long (ms) no longer counts: the writer stops writing records until one asks again.
/// As long as [`STALE_MS`]: a reader's worker stalled for less than that misses nothing.
pub const WANT_MS: u64 = STALE_MS;
/// A claim lock held longer than this (ms) is presumed abandoned and broken.
pub const LOCK_STALE_MS: u64 = 1_000;
/// Attempts at the claim lock (a few ms of spinning) before giving up with [`ClaimError::Contended`].
pub const LOCK_SPINS: u32 = 1 << 16;

/// Whether the writer should write records now (see [`SlotWriter::demand`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Demand {
    /// No reader asked recently: skip the record (the ring's pages stay untouched).
    Idle,
    /// A reader just asked after an idle spell: write what a new reader needs to start (the
    /// current GOP, keyframe first), then the record.
    Resume,
    /// Readers are reading: write the record.
    Active,
}

/// Why [`claim`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimError {
    /// The key is published by a live owner (on this or another worker).
    Busy { owner: u64 },
    /// Every slot is in use by a live publisher.
    Full,
    /// The claim lock stayed busy (or the slot changed under us); retry later.
    Contended,
    /// The key is empty or longer than [`MAX_KEY`].
    InvalidKey,
    /// Owner id 0 is reserved (it means "unlocked").
    InvalidOwner,
    /// The zone is not usable.
    Zone(ShmError),
}

impl fmt::Display for ClaimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClaimError::Busy { owner } => write!(
                f,
                "stream already published by pid {} (owner {owner:#x})",
                owner >> 32
            ),
            ClaimError::Full => f.write_str("no free shared memory stream slot"),
            ClaimError::Contended => f.write_str("shared memory claim lock contended"),
            ClaimError::InvalidKey => f.write_str("invalid stream key for shared memory"),
            ClaimError::InvalidOwner => f.write_str("owner id 0 is reserved"),
            ClaimError::Zone(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ClaimError {}

/// Claims a slot for publishing `key` (`app/name`).
///
/// `owner` identifies the calling worker (the shell passes `pid << 32 | start nonce`), must be
/// non-zero and unique among concurrent callers. `now_ms` is a clock shared by all processes
/// (CLOCK_MONOTONIC in ms, as nginx's `ngx_current_msec`). `is_alive(owner)` tells whether the
/// worker holding a slot still exists.
///
/// Refuses with `Busy` if an active slot has the same key and a live owner: a heartbeat not
/// older than [`STALE_MS`], `is_alive` true, and an owner other than the caller (the caller's
/// own worker arbitrates its own publishers, so a slot of its own with this key is a leftover).
/// Otherwise takes, in order of preference, that leftover slot, a never-used slot, the slot
/// closed longest ago, or a slot of a presumed-dead publisher; `Full` if none.
pub fn claim<R: Region>(
    region: R,
    layout: Layout,
    key: &str,
    owner: u64,
    now_ms: u64,
    is_alive: impl Fn(u64) -> bool,
) -> Result<SlotWriter<R>, ClaimError> {
    check(&region, &layout).map_err(ClaimError::Zone)?;
    if owner == 0 {
        return Err(ClaimError::InvalidOwner);
    }
    if key.is_empty() || key.len() > MAX_KEY {
        return Err(ClaimError::InvalidKey);
    }
    let token = lock(&region, owner, now_ms)?;
    let r = claim_locked(&region, &layout, key, owner, now_ms, &is_alive);
    unlock(&region, token);
    let (slot, gen, pos) = r?;
    Ok(SlotWriter {
        region,
        layout,
        slot,
        gen,
        pos,
        seq: 0,
        open: true,
        active: false,
    })
}

/// Takes the zone-wide claim lock. The lock word holds a token, `now_ms + 1`: a lock older than
/// [`LOCK_STALE_MS`] (its holder died or stopped inside the claim) is broken. The token, not a
/// separate timestamp word, carries the time, so no window exists in which a fresh lock looks
/// stale. Returns the token for [`unlock`].
fn lock<R: Region + ?Sized>(region: &R, owner: u64, now_ms: u64) -> Result<u64, ClaimError> {
    let token = now_ms.wrapping_add(1).max(1);
    for _ in 0..LOCK_SPINS {
        let cur = region.load(Z_LOCK);
        let held_since = cur.wrapping_sub(1);
        let stale = cur != 0 && now_ms.abs_diff(held_since) > LOCK_STALE_MS;
        if (cur == 0 || stale) && region.cas(Z_LOCK, cur, token).is_ok() {
            region.store(Z_LOCK_OWNER, owner);
            return Ok(token);
        }
        std::hint::spin_loop();
    }
    Err(ClaimError::Contended)
}

/// Releases the claim lock, unless somebody broke it meanwhile.
fn unlock<R: Region + ?Sized>(region: &R, token: u64) {
    let _ = region.cas(Z_LOCK, token, 0);
}

/// The claim proper, under the zone lock. Returns (slot, generation, start position).
fn claim_locked<R: Region + ?Sized>(
    region: &R,
    layout: &Layout,
    key: &str,
    owner: u64,
    now_ms: u64,
    is_alive: &impl Fn(u64) -> bool,
) -> Result<(usize, u64, u64), ClaimError> {
    let reclaimable = |base: usize| {
        let o = region.load(base + S_OWNER);
        let hb = region.load(base + S_HEARTBEAT);
        o == owner || now_ms.saturating_sub(hb) > STALE_MS || !is_alive(o)
    };
    let mut same_key = None;
    let mut free = None;
    let mut closed: Option<(usize, u64, u64)> = None;
    for slot in 0..layout.slots() {
        let base = layout.slot_base(slot);
        let s = region.load(base + S_STATE);
        match tag(s) {
            TAG_FREE => {
                if free.is_none() {
                    free = Some((slot, s));
                }
            }
            TAG_CLOSED => {
                let hb = region.load(base + S_HEARTBEAT);
                if closed.is_none_or(|(_, _, best)| hb < best) {
                    closed = Some((slot, s, hb));
                }
            }
            _ => {
                if same_key.is_none() && key_matches(region, layout, slot, key) {
                    if reclaimable(base) {
                        same_key = Some((slot, s));
                    } else {
                        return Err(ClaimError::Busy {
                            owner: region.load(base + S_OWNER),
                        });
                    }
                }
            }
        }
    }
    let mut pick = same_key.or(free).or(closed.map(|(slot, s, _)| (slot, s)));
    if pick.is_none() {
        // Evict a presumed-dead publisher of another key.
        for slot in 0..layout.slots() {
            let base = layout.slot_base(slot);
            let s = region.load(base + S_STATE);
            if matches!(tag(s), TAG_ACTIVE | TAG_CLAIMING) && reclaimable(base) {
                pick = Some((slot, s));
                break;
            }
        }
    }
    let (slot, s) = pick.ok_or(ClaimError::Full)?;
    let base = layout.slot_base(slot);
    let gen = generation(s).wrapping_add(1) & (u64::MAX >> 2);
    if region
        .cas(base + S_STATE, s, make_state(TAG_CLAIMING, gen))
        .is_err()
    {
        return Err(ClaimError::Contended);
    }
    // Readers that validate a key or header against the state must see CLAIMING before they
    // can see any of the bytes written below.
    fence(Ordering::Release);
    region.store(base + S_OWNER, owner);
    region.store(base + S_HEARTBEAT, now_ms);
    region.store(base + S_CREATED, now_ms);
    // Positions keep increasing across generations (garbage resets them).
    let old = region
        .load(base + S_RESERVE)
        .max(region.load(base + S_WRITE));
    let start = if old >= POS_LIMIT { 0 } else { (old + 7) & !7 };
    region.store(base + S_RESERVE, start);
    region.store(base + S_WRITE, start);
    region.store(base + S_KEYFRAME, NO_POS);
    region.store(base + S_WANTED, 0);
    region.store(base + S_KEY_LEN, key.len() as u64);
    write_padded(region, base + S_KEY, key.as_bytes());
    for which in 0..3 {
        let area = layout.header_area(slot, which);
        let v = region.load(area);
        // Next even version, different from the current one.
        region.store(area, (v | 1).wrapping_add(1));
        region.store(area + 8, 0);
    }
    region.store(base + S_STATE, make_state(TAG_ACTIVE, gen));
    Ok((slot, gen, start))
}

/// The publisher's handle on its slot. Dropping it closes the slot.
#[derive(Debug)]
pub struct SlotWriter<R: Region> {
    region: R,
    layout: Layout,
    slot: usize,
    gen: u64,
    pos: u64,
    seq: u64,
    open: bool,
    /// Whether records were being written at the last [`SlotWriter::demand`].
    active: bool,
}

impl<R: Region> SlotWriter<R> {
    /// Index of the slot in the directory.
    pub fn slot(&self) -> usize {
        self.slot
    }

    /// Generation of this claim (increases every time the slot is claimed).
    pub fn generation(&self) -> u64 {
        self.gen
    }

    /// Ring position where the next record goes (bytes written since the slot was first used).
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Whether the slot is still ours (state word says ACTIVE with our generation).
    pub fn is_owned(&self) -> bool {
        self.open
            && self.region.load(self.layout.slot_base(self.slot) + S_STATE)
                == make_state(TAG_ACTIVE, self.gen)
    }

    fn ensure_owned(&mut self) -> Result<(), ShmError> {
        if self.is_owned() {
            Ok(())
        } else {
            self.open = false;
            Err(ShmError::Lost)
        }
    }

    /// Whether records are wanted at `now_ms`: a reader renewed its interest within
    /// [`WANT_MS`]. Publishers ask before every record and skip it when `Idle`, so a stream
    /// nobody reads on another worker costs no ring memory and no copy. On the way to `Idle`
    /// the keyframe position is withdrawn: a reader arriving later starts at the live edge,
    /// not in records from before the gap; it gets the GOP the writer writes on `Resume`.
    /// `Err(Lost)` if the slot was taken over.
    pub fn demand(&mut self, now_ms: u64) -> Result<Demand, ShmError> {
        self.ensure_owned()?;
        let wanted = self
            .region
            .load(self.layout.slot_base(self.slot) + S_WANTED);
        let now_active = wanted != 0 && now_ms.saturating_sub(wanted) <= WANT_MS;
        let was_active = std::mem::replace(&mut self.active, now_active);
        Ok(match (was_active, now_active) {
            (true, true) => Demand::Active,
            (false, true) => Demand::Resume,
            (true, false) => {
                self.region
                    .store(self.layout.slot_base(self.slot) + S_KEYFRAME, NO_POS);
                Demand::Idle
            }
            (false, false) => Demand::Idle,
        })
    }

    /// Appends one media message. `kind`: 8 audio, 9 video, 18 data. `keyframe` marks a point
    /// where a new reader may start (video keyframes; audio frames of an audio-only stream).
    ///
    /// The record is written, then the write position is published (Release), then the
    /// keyframe position, so a reader never sees a position whose bytes are not written.
    pub fn push(
        &mut self,
        kind: u8,
        timestamp: u32,
        keyframe: bool,
        payload: &[u8],
    ) -> Result<(), ShmError> {
        if !valid_kind(kind) {
            return Err(ShmError::InvalidKind);
        }
        if payload.len() > self.layout.max_payload() {
            return Err(ShmError::TooLarge);
        }
        self.ensure_owned()?;
        let base = self.layout.slot_base(self.slot);
        let p = self.pos;
        let end = p + (RECORD_HEADER + align8(payload.len())) as u64;
        let mut h = RecordHeader {
            pos: p,
            seq: self.seq,
            len: payload.len() as u32,
            kind,
            flags: if keyframe { FLAG_KEYFRAME } else { 0 },
            gen16: self.gen as u16,
            timestamp,
            check: 0,
        };
        h.check = h.checksum(payload);
        // Announce the bytes about to be overwritten before touching any of them.
        self.region.store(base + S_RESERVE, end);
        fence(Ordering::Release);
        ring_write(&self.region, &self.layout, self.slot, p, &h.encode());
        ring_write_padded(
            &self.region,
            &self.layout,
            self.slot,
            p + RECORD_HEADER as u64,
            payload,
        );
        self.region.store(base + S_WRITE, end);
        if keyframe {
            self.region.store(base + S_KEYFRAME, p);
        }
        self.pos = end;
        self.seq += 1;
        Ok(())
    }

    /// Replaces a sequence-header copy (at most [`HEADER_CAP`] bytes; empty clears it).
    /// Seqlock: version made odd, bytes written, version made even again.
    pub fn set_header(&mut self, which: HeaderKind, bytes: &[u8]) -> Result<(), ShmError> {
        if bytes.len() > HEADER_CAP {
            return Err(ShmError::TooLarge);
        }
        self.ensure_owned()?;
        let area = self.layout.header_area(self.slot, which as usize);
        let odd = self.region.load(area).wrapping_add(1) | 1;
        self.region.store(area, odd);
        fence(Ordering::Release);
        self.region.store(area + 8, bytes.len() as u64);
        write_padded(&self.region, area + 16, bytes);
        self.region.store(area, odd.wrapping_add(1));
        Ok(())
    }

    /// Records that the publisher is alive (call about every second). `Err(Lost)` if the slot
    /// was taken over (our heartbeat had gone stale): stop publishing to it.
    pub fn heartbeat(&mut self, now_ms: u64) -> Result<(), ShmError> {
        self.ensure_owned()?;
        self.region
            .store(self.layout.slot_base(self.slot) + S_HEARTBEAT, now_ms);
        Ok(())
    }

    /// Marks the slot closed: readers drain what is left and then see `Closed`; the slot may be
    /// claimed again (readers of this generation then see `Closed` at once).
    pub fn close(mut self) {
        self.close_slot();
    }

    fn close_slot(&mut self) {
        if self.open {
            self.open = false;
            let _ = self.region.cas(
                self.layout.slot_base(self.slot) + S_STATE,
                make_state(TAG_ACTIVE, self.gen),
                make_state(TAG_CLOSED, self.gen),
            );
        }
    }
}

impl<R: Region> Drop for SlotWriter<R> {
    fn drop(&mut self) {
        self.close_slot();
    }
}
