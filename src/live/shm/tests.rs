//! Unit tests of the pieces; the protocol is tested in `tests/live_shm.rs`.

use super::layout::{ZONE_HEADER, Z_LOCK};
use super::record::RecordHeader;
use super::*;

#[test]
fn layout_geometry() {
    let l = Layout::new(16 << 20).unwrap();
    assert_eq!(l.slots(), 64);
    assert_eq!(l.ring_bytes() % 4096, 0);
    assert!(l.total_len() <= 16 << 20);
    assert!(l.ring_bytes() >= MIN_RING);
    assert_eq!(SLOT_HEADER % 64, 0);
    let small = Layout::new(200 * 1024).unwrap();
    assert_eq!(small.slots(), 1);
    assert_eq!(Layout::new(64 * 1024), Err(ShmError::ZoneTooSmall));
    assert_eq!(Layout::with_slots(1 << 20, 0), Err(ShmError::BadGeometry));
    // Rings start after the directory.
    assert!(l.ring_base(0) >= ZONE_HEADER + 64 * SLOT_HEADER);
    assert_eq!(l.ring_base(63) + l.ring_bytes(), l.total_len());
}

#[test]
fn record_header_roundtrip_and_checksum() {
    let h = RecordHeader {
        pos: 0x1234_5678_9abc,
        seq: 42,
        len: 1000,
        kind: 9,
        flags: 1,
        gen16: 0xbeef,
        timestamp: 0xdead_beef,
        check: 7,
    };
    assert_eq!(RecordHeader::decode(&h.encode()), h);
    let a = h.checksum(b"hello world");
    assert_ne!(a, h.checksum(b"hello worle"));
    assert_ne!(a, h.checksum(b"hello world\0"));
    let h2 = RecordHeader { seq: 43, ..h };
    assert_ne!(a, h2.checksum(b"hello world"));
}

#[test]
fn heap_region_unaligned_bytes() {
    let r = HeapRegion::new(30);
    assert_eq!(r.len(), 32);
    r.write(3, b"abcdefghijk");
    let mut b = [0u8; 11];
    r.read(3, &mut b);
    assert_eq!(&b, b"abcdefghijk");
    let mut all = [0u8; 32];
    r.read(0, &mut all);
    assert_eq!(&all[..3], &[0, 0, 0]);
    assert_eq!(&all[14..], &[0u8; 18]);
    // Out of range: zeros, no panic.
    let mut far = [1u8; 16];
    r.read(24, &mut far);
    assert_eq!(&far[8..], &[0u8; 8]);
    r.write(1000, b"x");
    assert_eq!(r.load(1000), 0);
    assert_eq!(r.load(3), 0);
    assert_eq!(r.cas(8, 1, 2), Err(r.load(8)));
}

#[test]
fn stale_lock_is_broken_fresh_lock_is_not() {
    let layout = Layout::new(1 << 20).unwrap();
    let r = HeapRegion::new(layout.total_len());
    format(&r, &layout).unwrap();
    // A lock taken at t=10_000 and never released.
    r.store(Z_LOCK, 10_001);
    assert_eq!(
        claim(&r, layout, "a/b", 1, 10_500, |_| true).err(),
        Some(ClaimError::Contended)
    );
    let w = claim(&r, layout, "a/b", 1, 11_500, |_| true).unwrap();
    assert_eq!(r.load(Z_LOCK), 0);
    drop(w);
    // Garbage lock word far in the future is broken too.
    r.store(Z_LOCK, u64::MAX);
    assert!(claim(&r, layout, "a/c", 1, 20_000, |_| true).is_ok());
}
