//! Cross-worker live streams through an nginx shared-memory zone.
//!
//! # Why
//!
//! nginx runs several worker processes. A publisher's RTMP connection lives in one worker, but
//! players connect to any worker. The publisher's worker appends every media message of its
//! stream to a ring in a shared-memory zone; every worker that has players of that stream polls
//! the ring on a timer (~10 ms) and fans the messages out locally. No sockets or files per
//! stream, nothing to clean up after a crash (slots of dead workers are reclaimed), and after
//! `nginx -s reload` old and new workers share the same zone, so players on new workers keep
//! receiving streams still published on old ones.
//!
//! This module is the pure part: the layout and the lock-free protocol, over an abstract
//! [`Region`] (no `unsafe`, no nginx, no I/O, no clock: time comes in as `now_ms`). The shell
//! maps the zone and implements [`Region`] with `AtomicU64` on it; tests use [`HeapRegion`].
//! The zone may be mapped at a different address in every process, so it holds only offsets.
//!
//! # Layout (byte offsets; words are 8-aligned u64)
//!
//! ```text
//! zone header     0  magic "NGXRTMP\x02"   8 slots   16 ring_bytes
//!                24  claim lock (token = holder's now_ms + 1, 0 = free)   32 lock holder owner
//! slot i at 64 + i * 12928:
//!      +0 state      tag (low 2 bits: 0 free, 1 claiming, 2 active, 3 closed) | generation << 2
//!      +8 owner      pid << 32 | worker nonce
//!     +16 heartbeat  ms, written by the owner about every second
//!     +24 reserve    end of the record being written (stored before its bytes)
//!     +32 write      end of the last complete record (stored after its bytes)
//!     +40 keyframe   position of the latest record pushed with keyframe=true (u64::MAX: none)
//!     +48 key_len    +56 created_ms
//!     +64 wanted     ms, written by readers while they read (the writer skips records when
//!                    no reader asked for [`WANT_MS`])
//!     +72 key (512 bytes, "app/name")
//!    +584 3 header areas (metadata, video, audio), 4112 bytes each:
//!             +0 version (seqlock: odd while written)  +8 len  +16 data (4096 bytes)
//! rings at align4096(64 + slots * 12928) + i * ring_bytes
//! ```
//!
//! [`Layout::new`] makes `min(64, zone / 256 KiB)` slots (at least 1) and splits the rest into
//! equal rings (multiples of 4 KiB, at least 64 KiB). Payloads up to half a ring are accepted;
//! a ring should hold a few GOPs for instant start and slack for slow pollers (a 4 Mbit/s
//! stream writes 500 KB/s: size the zone e.g. 64 slots x 4 MiB = 256 MiB; untouched pages of a
//! shared anonymous mapping cost no memory).
//!
//! Ring positions are absolute byte counts that only increase (also across the generations of
//! a slot); the byte of position `p` is at `p % ring_bytes`. A record is 8-aligned:
//!
//! ```text
//! +0 position (u64, equals the record's own position: detects stale bytes)   +8 seq (u64)
//! +16 len u32 | kind u8 | flags u8 (bit 0 keyframe) | generation low 16 bits
//! +24 timestamp u32 | checksum u32 (over the header fields and the payload)
//! +32 payload, zero-padded to a multiple of 8; the record may wrap around the ring's end
//! ```
//!
//! # Protocol
//!
//! - Claim ([`claim`]): under the zone lock (a CAS spin lock, broken when older than 1 s, so a
//!   worker dying inside a claim cannot wedge the zone), scan the directory: an active slot
//!   with the same key and a live owner (fresh heartbeat, `is_alive`) refuses with `Busy`;
//!   otherwise CAS the chosen slot's state to CLAIMING(gen + 1), write owner, heartbeat,
//!   positions, key, empty headers, then store ACTIVE(gen + 1). The lock makes "no other live
//!   publisher of this key" and "take the slot" atomic among workers.
//! - Push ([`SlotWriter::push`]): store `reserve = end`, Release fence, write the record bytes,
//!   store `write = end` (Release), then `keyframe = start` if it is a keyframe.
//! - Demand ([`SlotReader::want`], [`SlotWriter::demand`]): readers store their `now_ms` in
//!   `wanted` while they read; the writer writes records only while `wanted` is younger than
//!   [`WANT_MS`]. Going idle it withdraws `keyframe` (a reader arriving later starts at the
//!   live edge); resuming, the publisher first writes its cached GOP (keyframe first), so the
//!   new reader still starts at once. A stream nobody reads elsewhere (always, with one
//!   worker) never touches its ring's pages.
//! - Read ([`SlotReader::next`]): load state (generation must match), load `write` (Acquire);
//!   if `reserve - pos > ring_bytes` the writer lapped us: `Overrun`, resync to the latest
//!   keyframe still in the ring (else the live edge). Else copy the header, Acquire fence,
//!   re-check generation and `reserve`, validate the header (position, generation, kind,
//!   length within the committed bytes), copy the payload, Acquire fence, re-check again,
//!   verify the checksum. A copy that raced with an overwrite is discarded, never returned.
//! - Headers ([`SlotWriter::set_header`], [`SlotReader::headers`]): a seqlock per area; readers
//!   retry a bounded number of times.
//! - Close ([`SlotWriter::close`] or drop): CAS ACTIVE(gen) -> CLOSED(gen). Readers drain what
//!   is left, then get `Closed`. A closed slot may be claimed again (the one closed longest ago
//!   first); readers of the old generation then get `Closed` at once.
//! - A publisher whose heartbeat is older than [`STALE_MS`], or whose worker is dead, loses its
//!   slot to the next claim; its [`SlotWriter`] notices (`ShmError::Lost`) at the next push or
//!   heartbeat. (A writer stalled for 5 s that resumes exactly between its ownership check and
//!   its write could scribble on the new generation's ring once; readers reject such records
//!   by generation and checksum.)
//!
//! # Memory ordering
//!
//! `load`/`store`/`cas` are Acquire/Release/AcqRel; byte copies are Relaxed word accesses, and
//! the core places the fences. Writer: `reserve` store; Release fence; payload stores. Reader:
//! payload loads; Acquire fence; `reserve` load. If any payload word the reader loaded came
//! from a store after the writer's fence, the two fences synchronize, so the reader's later
//! `reserve` load sees the announcing store (or a later one) and discards the copy. Bytes the
//! reader copies are never older than the record: it read `write` (Acquire) past the record,
//! which the writer stored (Release) after writing it. The same pattern guards the key (state
//! CLAIMING, Release fence, key bytes / state re-checked after an Acquire fence) and the
//! header seqlocks (odd version, Release fence, bytes / Acquire fence, version re-checked).
//!
//! # Robustness
//!
//! Another process may have written garbage or died mid-write. Every length and position read
//! from the zone is bounds-checked before use, arithmetic on them saturates, every loop is
//! bounded (directory scans by the slot count, lock and seqlock retries by constants), and
//! a reader that finds invalid committed data reports `Corrupt` and stops.
//!
//! `now_ms` must come from one clock shared by all processes (CLOCK_MONOTONIC, which
//! `ngx_current_msec` uses).

mod layout;
mod output;
mod reader;
mod record;
mod region;
mod slot;
mod writer;

pub use layout::{
    check, format, Layout, ShmError, BYTES_PER_SLOT, HEADER_CAP, MAGIC, MAX_KEY, MAX_SLOTS,
    MIN_RING, RECORD_HEADER, SLOT_HEADER,
};
pub use output::RingOutput;
pub use reader::{
    find, streams, Headers, ReadResult, Record, SlotReader, StartAt, StreamInfo, HEADER_RETRIES,
};
pub use record::{KIND_AUDIO, KIND_DATA, KIND_VIDEO};
pub use region::{HeapRegion, Region};
pub use slot::HeaderKind;
pub use writer::{
    claim, ClaimError, Demand, SlotWriter, LOCK_SPINS, LOCK_STALE_MS, STALE_MS, WANT_MS,
};

#[cfg(test)]
mod tests;
