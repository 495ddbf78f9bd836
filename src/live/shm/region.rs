//! The abstract shared byte region and a heap-backed implementation for tests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A shared byte region (in nginx: the mapped shared-memory zone, possibly at a different
/// address in every worker). Offsets are in bytes from the start of the region.
///
/// Contract for implementors:
/// - `load`/`store`/`cas` act on the 8-aligned u64 word at `off`: `load` is an Acquire load,
///   `store` a Release store, `cas` an AcqRel compare-exchange (Acquire on failure).
/// - `read`/`write` copy bytes. They may race with another process writing the same bytes, so
///   they must be made of atomic accesses (Relaxed is enough: the protocol issues the fences it
///   needs), e.g. one `AtomicU64` load/store per word. The core only ever calls them with an
///   8-aligned `off` and a length that is a multiple of 8, so a word loop suffices.
/// - Byte `i` of a word is the byte at `off + i` (native order): the core never reads through
///   `read` what it wrote with `store` or the other way round, so only self-consistency matters.
/// - The core never passes an offset outside `0..len()`; an implementation may ignore (or read
///   zeros for) out-of-range accesses, but must not panic in release builds.
pub trait Region {
    /// Size of the region in bytes.
    fn len(&self) -> usize;
    /// Whether the region has no bytes.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Acquire load of the u64 word at `off` (8-aligned).
    fn load(&self, off: usize) -> u64;
    /// Release store of the u64 word at `off` (8-aligned).
    fn store(&self, off: usize, v: u64);
    /// AcqRel compare-exchange of the word at `off`: `Ok(previous)` or `Err(actual)`.
    fn cas(&self, off: usize, current: u64, new: u64) -> Result<u64, u64>;
    /// Copies `dst.len()` bytes starting at `off` out of the region (word-atomic, may race).
    fn read(&self, off: usize, dst: &mut [u8]);
    /// Copies `src` into the region at `off` (word-atomic).
    fn write(&self, off: usize, src: &[u8]);
}

impl<T: Region + ?Sized> Region for &T {
    fn len(&self) -> usize {
        (**self).len()
    }
    fn load(&self, off: usize) -> u64 {
        (**self).load(off)
    }
    fn store(&self, off: usize, v: u64) {
        (**self).store(off, v)
    }
    fn cas(&self, off: usize, current: u64, new: u64) -> Result<u64, u64> {
        (**self).cas(off, current, new)
    }
    fn read(&self, off: usize, dst: &mut [u8]) {
        (**self).read(off, dst)
    }
    fn write(&self, off: usize, src: &[u8]) {
        (**self).write(off, src)
    }
}

impl<T: Region + ?Sized> Region for Arc<T> {
    fn len(&self) -> usize {
        (**self).len()
    }
    fn load(&self, off: usize) -> u64 {
        (**self).load(off)
    }
    fn store(&self, off: usize, v: u64) {
        (**self).store(off, v)
    }
    fn cas(&self, off: usize, current: u64, new: u64) -> Result<u64, u64> {
        (**self).cas(off, current, new)
    }
    fn read(&self, off: usize, dst: &mut [u8]) {
        (**self).read(off, dst)
    }
    fn write(&self, off: usize, src: &[u8]) {
        (**self).write(off, src)
    }
}

/// A [`Region`] backed by a `Vec<AtomicU64>`: safe, `Sync`, shareable between threads through
/// an `Arc`. Used by the tests; anyone may use it as an in-process zone.
///
/// Out-of-range accesses read zeros and write nothing; unaligned byte copies are supported
/// (partial words are merged atomically), although the core never issues them.
#[derive(Debug)]
pub struct HeapRegion {
    words: Vec<AtomicU64>,
}

impl HeapRegion {
    /// A zeroed region of `len` bytes, rounded up to a multiple of 8.
    pub fn new(len: usize) -> HeapRegion {
        let n = len.div_ceil(8);
        HeapRegion {
            words: (0..n).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

fn word(words: &[AtomicU64], off: usize) -> Option<&AtomicU64> {
    if !off.is_multiple_of(8) {
        return None;
    }
    words.get(off / 8)
}

/// Any slice of atomic words is a region: the heap region's vector, and in nginx the mapped
/// shared-memory zone viewed as `&[AtomicU64]`.
impl Region for [AtomicU64] {
    fn len(&self) -> usize {
        <[AtomicU64]>::len(self) * 8
    }

    fn load(&self, off: usize) -> u64 {
        word(self, off).map_or(0, |w| w.load(Ordering::Acquire))
    }

    fn store(&self, off: usize, v: u64) {
        if let Some(w) = word(self, off) {
            w.store(v, Ordering::Release);
        }
    }

    fn cas(&self, off: usize, current: u64, new: u64) -> Result<u64, u64> {
        match word(self, off) {
            Some(w) => w.compare_exchange(current, new, Ordering::AcqRel, Ordering::Acquire),
            None => Err(0),
        }
    }

    fn read(&self, off: usize, dst: &mut [u8]) {
        if off.is_multiple_of(8) && dst.len().is_multiple_of(8) {
            if let Some(words) = self.get(off / 8..off / 8 + dst.len() / 8) {
                for (d, w) in dst.chunks_exact_mut(8).zip(words) {
                    d.copy_from_slice(&w.load(Ordering::Relaxed).to_ne_bytes());
                }
                return;
            }
        }
        let mut done = 0;
        while done < dst.len() {
            let at = off.saturating_add(done);
            let skip = at % 8;
            let take = (8 - skip).min(dst.len() - done);
            let word = self
                .get(at / 8)
                .map_or(0, |w| w.load(Ordering::Relaxed))
                .to_ne_bytes();
            if let (Some(d), Some(s)) =
                (dst.get_mut(done..done + take), word.get(skip..skip + take))
            {
                d.copy_from_slice(s);
            }
            done += take;
        }
    }

    fn write(&self, off: usize, src: &[u8]) {
        if off.is_multiple_of(8) && src.len().is_multiple_of(8) {
            if let Some(words) = self.get(off / 8..off / 8 + src.len() / 8) {
                for (s, w) in src.chunks_exact(8).zip(words) {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(s);
                    w.store(u64::from_ne_bytes(b), Ordering::Relaxed);
                }
                return;
            }
        }
        let mut done = 0;
        while done < src.len() {
            let at = off.saturating_add(done);
            let skip = at % 8;
            let take = (8 - skip).min(src.len() - done);
            if let (Some(w), Some(part)) = (self.get(at / 8), src.get(done..done + take)) {
                if take == 8 {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(part);
                    w.store(u64::from_ne_bytes(b), Ordering::Relaxed);
                } else {
                    let _ = w.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                        let mut b = old.to_ne_bytes();
                        if let Some(d) = b.get_mut(skip..skip + take) {
                            d.copy_from_slice(part);
                        }
                        Some(u64::from_ne_bytes(b))
                    });
                }
            }
            done += take;
        }
    }
}

impl Region for HeapRegion {
    fn len(&self) -> usize {
        Region::len(self.words.as_slice())
    }
    fn load(&self, off: usize) -> u64 {
        self.words.as_slice().load(off)
    }
    fn store(&self, off: usize, v: u64) {
        self.words.as_slice().store(off, v)
    }
    fn cas(&self, off: usize, current: u64, new: u64) -> Result<u64, u64> {
        self.words.as_slice().cas(off, current, new)
    }
    fn read(&self, off: usize, dst: &mut [u8]) {
        self.words.as_slice().read(off, dst)
    }
    fn write(&self, off: usize, src: &[u8]) {
        self.words.as_slice().write(off, src)
    }
}
