//! The cross-worker shared-memory ring (`live::shm`): claim rules, record round trips,
//! wrap-around, overruns, headers, corrupted zones, and concurrent writer/readers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use ngx_rtmp::live::shm::{
    claim, find, format, streams, ClaimError, Demand, HeaderKind, HeapRegion, Layout, ReadResult,
    Region, ShmError, StartAt, KIND_AUDIO, KIND_DATA, KIND_VIDEO, RECORD_HEADER, WANT_MS,
};

const KEY: &str = "live/cam";

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn fill(&mut self, b: &mut [u8]) {
        for x in b {
            *x = self.next() as u8;
        }
    }
}

/// A zone with `slots` slots whose rings are `ring` bytes.
fn zone(slots: usize, ring: usize) -> (HeapRegion, Layout) {
    let base = (64 + slots * ngx_rtmp::live::shm::SLOT_HEADER).div_ceil(4096) * 4096;
    let len = base + slots * ring;
    let layout = Layout::with_slots(len, slots).unwrap();
    assert_eq!(layout.ring_bytes(), ring);
    let r = HeapRegion::new(len);
    format(&r, &layout).unwrap();
    (r, layout)
}

fn alive(_: u64) -> bool {
    true
}

/// A payload carrying `counter`, filler derived from it, and a trailing checksum.
fn payload(counter: u64, len: usize) -> Vec<u8> {
    let len = len.max(12);
    let mut p = Vec::with_capacity(len);
    p.extend_from_slice(&counter.to_le_bytes());
    for j in 0..len - 12 {
        p.push((counter as usize).wrapping_mul(31).wrapping_add(j * 7) as u8);
    }
    let sum = fnv(&p);
    p.extend_from_slice(&sum.to_le_bytes());
    p
}

fn fnv(b: &[u8]) -> u32 {
    b.iter().fold(0x811c_9dc5u32, |h, &x| {
        (h ^ u32::from(x)).wrapping_mul(0x0100_0193)
    })
}

/// Checks a payload made by [`payload`]; returns its counter.
fn verify(p: &[u8]) -> u64 {
    assert!(p.len() >= 12, "short payload {}", p.len());
    let (body, sum) = p.split_at(p.len() - 4);
    assert_eq!(
        u32::from_le_bytes(sum.try_into().unwrap()),
        fnv(body),
        "torn or corrupted payload"
    );
    u64::from_le_bytes(body[..8].try_into().unwrap())
}

#[test]
fn claim_busy_stale_dead_close_reuse() {
    let (r, layout) = zone(2, 64 * 1024);
    let mut a = claim(&r, layout, KEY, 0xA, 1_000, alive).unwrap();
    // A second publisher (another worker) is refused while the first is alive and fresh.
    assert_eq!(
        claim(&r, layout, KEY, 0xB, 2_000, alive).err(),
        Some(ClaimError::Busy { owner: 0xA })
    );
    a.heartbeat(5_000).unwrap();
    assert_eq!(
        claim(&r, layout, KEY, 0xB, 9_000, alive).err(),
        Some(ClaimError::Busy { owner: 0xA })
    );
    // Heartbeat older than 5 s: reclaimable; the old writer learns it lost the slot.
    let b = claim(&r, layout, KEY, 0xB, 10_001, alive).unwrap();
    assert_eq!(b.slot(), a.slot());
    assert!(b.generation() > a.generation());
    assert_eq!(a.push(KIND_AUDIO, 0, false, b"x"), Err(ShmError::Lost));
    assert_eq!(a.heartbeat(10_002), Err(ShmError::Lost));
    drop(a); // must not close b's slot
    assert!(find(&r, layout, KEY).is_some());
    // Dead owner: reclaimable even with a fresh heartbeat.
    let c = claim(&r, layout, KEY, 0xC, 10_002, |o| o != 0xB).unwrap();
    assert!(!b.is_owned());
    // The same owner claiming its own key again reclaims the leftover.
    let c2 = claim(&r, layout, KEY, 0xC, 10_003, alive).unwrap();
    assert_eq!(c2.slot(), c.slot());
    drop(c);
    // Another key takes the other slot; a third key finds the zone full.
    let d = claim(&r, layout, "live/other", 0xD, 10_004, alive).unwrap();
    assert_ne!(d.slot(), c2.slot());
    assert_eq!(
        claim(&r, layout, "live/third", 0xE, 10_005, alive).err(),
        Some(ClaimError::Full)
    );
    let st = streams(&r, &layout);
    assert_eq!(st.len(), 2);
    assert!(st.iter().any(|s| s.key == KEY && s.owner == 0xC));
    assert!(st.iter().any(|s| s.key == "live/other" && s.owner == 0xD));
    // Closing frees the slot for reuse; find no longer sees the stream.
    let slot = d.slot();
    d.close();
    assert!(find(&r, layout, "live/other").is_none());
    let e = claim(&r, layout, "live/third", 0xE, 10_006, alive).unwrap();
    assert_eq!(e.slot(), slot);
    // A publisher of a different key with a stale heartbeat is evicted when full.
    let f = claim(&r, layout, "live/fourth", 0xF, 20_000, alive).unwrap();
    assert!(f.slot() == slot || f.slot() == c2.slot());
    // Bad arguments.
    assert_eq!(
        claim(&r, layout, "", 1, 0, alive).err(),
        Some(ClaimError::InvalidKey)
    );
    let long = "x".repeat(513);
    assert_eq!(
        claim(&r, layout, &long, 1, 0, alive).err(),
        Some(ClaimError::InvalidKey)
    );
    assert_eq!(
        claim(&r, layout, "a/b", 0, 0, alive).err(),
        Some(ClaimError::InvalidOwner)
    );
}

#[test]
fn unformatted_zone_is_refused() {
    let layout = Layout::new(1 << 20).unwrap();
    let r = HeapRegion::new(layout.total_len());
    assert_eq!(
        claim(&r, layout, KEY, 1, 0, alive).err(),
        Some(ClaimError::Zone(ShmError::NotFormatted))
    );
    assert!(find(&r, layout, KEY).is_none());
    let other = Layout::new(2 << 20).unwrap();
    format(&r, &layout).unwrap();
    assert!(claim(&r, other, KEY, 1, 0, alive).is_err());
    assert!(claim(&r, layout, KEY, 1, 0, alive).is_ok());
}

#[test]
fn records_round_trip_in_order() {
    let (r, layout) = zone(1, 1024 * 1024);
    let mut w = claim(&r, layout, KEY, 1, 0, alive).unwrap();
    let mut rd = find(&r, layout, KEY).unwrap();
    let mut buf = Vec::new();
    assert_eq!(rd.next(&mut buf), ReadResult::Empty);
    let kinds = [KIND_AUDIO, KIND_VIDEO, KIND_DATA];
    let mut sent = Vec::new();
    for i in 0..200u64 {
        let p = payload(i, (i as usize * 37) % 3000);
        let kind = kinds[i as usize % 3];
        let key = kind == KIND_VIDEO && i % 5 == 0;
        w.push(kind, (i * 40) as u32, key, &p).unwrap();
        sent.push((kind, (i * 40) as u32, key, p));
    }
    // Zero-length payloads are fine too.
    w.push(KIND_DATA, 7, false, b"").unwrap();
    for (i, (kind, ts, key, p)) in sent.iter().enumerate() {
        match rd.next(&mut buf) {
            ReadResult::Record(rec) => {
                assert_eq!(rec.kind, *kind);
                assert_eq!(rec.timestamp, *ts);
                assert_eq!(rec.keyframe, *key);
                assert_eq!(rec.seq, i as u64);
                assert_eq!(&buf, p);
            }
            other => panic!("record {i}: {other:?}"),
        }
    }
    assert!(matches!(rd.next(&mut buf), ReadResult::Record(r) if r.seq == 200));
    assert!(buf.is_empty());
    assert_eq!(rd.next(&mut buf), ReadResult::Empty);
    assert_eq!(rd.lag(), 0);
    // Errors of push.
    let big = vec![0u8; layout.max_payload() + 1];
    assert_eq!(w.push(KIND_VIDEO, 0, true, &big), Err(ShmError::TooLarge));
    assert_eq!(w.push(20, 0, false, b"x"), Err(ShmError::InvalidKind));
    let max = vec![5u8; layout.max_payload()];
    w.push(KIND_VIDEO, 0, true, &max).unwrap();
    assert!(matches!(rd.next(&mut buf), ReadResult::Record(_)));
    assert_eq!(buf, max);
}

#[test]
fn instant_start_at_keyframe_and_live_start() {
    let (r, layout) = zone(1, 64 * 1024);
    let mut w = claim(&r, layout, KEY, 1, 0, alive).unwrap();
    w.push(KIND_AUDIO, 0, false, &payload(0, 100)).unwrap();
    w.push(KIND_VIDEO, 10, true, &payload(1, 100)).unwrap();
    w.push(KIND_AUDIO, 20, false, &payload(2, 100)).unwrap();
    w.push(KIND_VIDEO, 30, false, &payload(3, 100)).unwrap();
    let mut buf = Vec::new();
    let mut rd = find(&r, layout, KEY).unwrap();
    let ReadResult::Record(rec) = rd.next(&mut buf) else {
        panic!()
    };
    assert!(rec.keyframe);
    assert_eq!(verify(&buf), 1);
    rd.seek(StartAt::Live);
    assert_eq!(rd.next(&mut buf), ReadResult::Empty);
    w.push(KIND_AUDIO, 40, false, &payload(4, 100)).unwrap();
    assert!(matches!(rd.next(&mut buf), ReadResult::Record(r) if r.seq == 4));
    // A keyframe that has left the ring is not used: start at the live edge.
    for i in 5..2000 {
        w.push(KIND_AUDIO, i as u32, false, &payload(i, 200))
            .unwrap();
    }
    let mut rd2 = find(&r, layout, KEY).unwrap();
    assert_eq!(rd2.next(&mut buf), ReadResult::Empty);
}

/// Records are written only while a reader wants them; a reader arriving after an idle spell
/// starts at the live edge (where the writer puts its GOP on `Resume`), never in records from
/// before the gap.
#[test]
fn writer_writes_only_while_a_reader_wants() {
    let (r, layout) = zone(1, 64 * 1024);
    let mut w = claim(&r, layout, KEY, 1, 1_000, alive).unwrap();
    assert_eq!(w.demand(1_000), Ok(Demand::Idle));
    let mut rd = find(&r, layout, KEY).unwrap();
    let mut buf = Vec::new();
    assert_eq!(rd.next(&mut buf), ReadResult::Empty);
    rd.want(1_010);
    assert_eq!(w.demand(1_020), Ok(Demand::Resume));
    w.push(KIND_VIDEO, 0, true, &payload(0, 100)).unwrap();
    assert_eq!(w.demand(1_030), Ok(Demand::Active));
    w.push(KIND_AUDIO, 10, false, &payload(1, 100)).unwrap();
    for seq in 0..2 {
        assert!(matches!(rd.next(&mut buf), ReadResult::Record(x) if x.seq == seq));
    }
    // Renewed in time: still active.
    rd.want(1_000 + WANT_MS);
    assert_eq!(w.demand(1_010 + WANT_MS), Ok(Demand::Active));
    // The reader left: idle after WANT_MS, and a newcomer does not start at the old keyframe.
    assert_eq!(w.demand(1_001 + 2 * WANT_MS), Ok(Demand::Idle));
    assert_eq!(w.demand(1_002 + 2 * WANT_MS), Ok(Demand::Idle));
    let mut late = find(&r, layout, KEY).unwrap();
    assert_eq!(late.next(&mut buf), ReadResult::Empty);
    late.want(1_003 + 2 * WANT_MS);
    assert_eq!(w.demand(1_004 + 2 * WANT_MS), Ok(Demand::Resume));
    w.push(KIND_VIDEO, 20, true, &payload(2, 100)).unwrap();
    assert!(matches!(late.next(&mut buf), ReadResult::Record(x) if x.keyframe && x.seq == 2));
    // A slot taken over says so.
    drop(w);
    let mut w2 = claim(&r, layout, KEY, 2, 1_005 + 2 * WANT_MS, alive).unwrap();
    assert_eq!(w2.demand(1_006 + 2 * WANT_MS), Ok(Demand::Idle));
}

#[test]
fn demand_of_a_lost_slot_is_an_error() {
    let (r, layout) = zone(1, 64 * 1024);
    let mut w = claim(&r, layout, KEY, 1, 0, alive).unwrap();
    // Stale heartbeat: another owner takes the slot.
    let _w2 = claim(&r, layout, KEY, 2, 10_000, alive).unwrap();
    assert_eq!(w.demand(10_001), Err(ShmError::Lost));
}

#[test]
fn wrap_around_many_times_with_random_sizes() {
    let (r, layout) = zone(1, 64 * 1024);
    let mut w = claim(&r, layout, KEY, 1, 0, alive).unwrap();
    let mut rd = find(&r, layout, KEY).unwrap();
    let mut rng = Rng::new(7);
    let mut buf = Vec::new();
    let mut next = 0u64;
    let mut total = 0u64;
    for i in 0..10_000u64 {
        let len = match rng.below(10) {
            0 => rng.below(layout.max_payload() as u64 - 100) as usize,
            1 => rng.below(16) as usize,
            _ => rng.below(2000) as usize,
        };
        let p = payload(i, len);
        total += p.len() as u64;
        w.push(KIND_VIDEO, i as u32, i % 30 == 0, &p).unwrap();
        // The reader keeps up, in bursts.
        if rng.below(3) == 0 || rd.lag() > 20_000 {
            loop {
                match rd.next(&mut buf) {
                    ReadResult::Record(rec) => {
                        assert_eq!(verify(&buf), next);
                        assert_eq!(rec.seq, next);
                        next += 1;
                    }
                    ReadResult::Empty => break,
                    other => panic!("{other:?} at {next}"),
                }
            }
        }
    }
    while let ReadResult::Record(_) = rd.next(&mut buf) {
        assert_eq!(verify(&buf), next);
        next += 1;
    }
    assert_eq!(next, 10_000);
    assert!(total > 100 * layout.ring_bytes() as u64, "wrapped {total}");
}

#[test]
fn overrun_resyncs_to_latest_keyframe() {
    let (r, layout) = zone(1, 64 * 1024);
    let mut w = claim(&r, layout, KEY, 1, 0, alive).unwrap();
    let mut rd = find(&r, layout, KEY).unwrap();
    let mut buf = Vec::new();
    // 1000 records of ~500 bytes (far more than a ring), a keyframe every 20.
    for i in 0..1000u64 {
        w.push(KIND_VIDEO, i as u32, i % 20 == 0, &payload(i, 500))
            .unwrap();
    }
    let ReadResult::Overrun { skipped_bytes } = rd.next(&mut buf) else {
        panic!("expected an overrun")
    };
    assert!(skipped_bytes > 400_000);
    let ReadResult::Record(rec) = rd.next(&mut buf) else {
        panic!()
    };
    assert!(rec.keyframe);
    assert_eq!(rec.seq, 980);
    assert_eq!(verify(&buf), 980);
    let mut n = 981;
    while let ReadResult::Record(rec) = rd.next(&mut buf) {
        assert_eq!(rec.seq, n);
        n += 1;
    }
    assert_eq!(n, 1000);
    // Without a keyframe in the ring the reader goes to the live edge.
    for i in 1000..2000u64 {
        w.push(KIND_AUDIO, i as u32, false, &payload(i, 500))
            .unwrap();
    }
    assert!(matches!(rd.next(&mut buf), ReadResult::Overrun { .. }));
    assert_eq!(rd.next(&mut buf), ReadResult::Empty);
}

#[test]
fn sequence_headers() {
    let (r, layout) = zone(1, 64 * 1024);
    let mut w = claim(&r, layout, KEY, 1, 0, alive).unwrap();
    let rd = find(&r, layout, KEY).unwrap();
    assert_eq!(rd.headers(), Default::default());
    w.set_header(HeaderKind::Metadata, b"onMetaData...")
        .unwrap();
    w.set_header(HeaderKind::Video, &[0x17, 0, 0, 0, 0, 1, 2, 3, 4])
        .unwrap();
    w.set_header(HeaderKind::Audio, &[0xaf, 0, 0x12, 0x10])
        .unwrap();
    let h = rd.headers();
    assert_eq!(h.metadata.as_deref(), Some(&b"onMetaData..."[..]));
    assert_eq!(
        h.video.as_deref(),
        Some(&[0x17, 0, 0, 0, 0, 1, 2, 3, 4][..])
    );
    assert_eq!(h.audio.as_deref(), Some(&[0xaf, 0, 0x12, 0x10][..]));
    let big = vec![9u8; 4096];
    w.set_header(HeaderKind::Video, &big).unwrap();
    assert_eq!(rd.header(HeaderKind::Video), Some(big));
    assert_eq!(
        w.set_header(HeaderKind::Video, &[0u8; 4097]),
        Err(ShmError::TooLarge)
    );
    w.set_header(HeaderKind::Audio, b"").unwrap();
    assert_eq!(rd.header(HeaderKind::Audio), None);
    // A writer stuck mid-update (odd version) makes readers give up, not spin.
    let area_version = {
        // Find the video area by flipping the version through the public region view:
        // header areas start 584 bytes into the slot, which starts at 64.
        64 + 584 + 4112
    };
    let v = r.load(area_version);
    r.store(area_version, v | 1);
    assert_eq!(rd.header(HeaderKind::Video), None);
    r.store(area_version, (v | 1) + 1);
    // A new claim of the slot clears the headers.
    drop(w);
    let _w2 = claim(&r, layout, KEY, 2, 0, alive).unwrap();
    let rd2 = find(&r, layout, KEY).unwrap();
    assert_eq!(rd2.headers(), Default::default());
    assert_eq!(rd.headers(), Default::default());
}

#[test]
fn readers_drain_after_close_and_stop_on_reuse() {
    let (r, layout) = zone(1, 64 * 1024);
    let mut w = claim(&r, layout, KEY, 1, 0, alive).unwrap();
    let mut rd = find(&r, layout, KEY).unwrap();
    let mut late = find(&r, layout, KEY).unwrap();
    for i in 0..10 {
        w.push(KIND_AUDIO, i, false, &payload(u64::from(i), 50))
            .unwrap();
    }
    w.close();
    assert!(find(&r, layout, KEY).is_none());
    let mut buf = Vec::new();
    for i in 0..10 {
        assert!(matches!(rd.next(&mut buf), ReadResult::Record(r) if r.seq == i));
    }
    assert_eq!(rd.next(&mut buf), ReadResult::Closed);
    assert_eq!(rd.next(&mut buf), ReadResult::Closed);
    // The slot is claimed again: a reader of the old generation stops at once.
    let mut w2 = claim(&r, layout, KEY, 2, 0, alive).unwrap();
    w2.push(KIND_AUDIO, 0, false, &payload(100, 50)).unwrap();
    assert_eq!(late.next(&mut buf), ReadResult::Closed);
    let mut rd2 = find(&r, layout, KEY).unwrap();
    assert!(rd2.generation() > rd.generation());
    rd2.seek(StartAt::Live);
    w2.push(KIND_AUDIO, 1, false, &payload(101, 50)).unwrap();
    assert!(matches!(rd2.next(&mut buf), ReadResult::Record(r) if r.seq == 1));
    assert_eq!(verify(&buf), 101);
}

/// Runs every entry point against the region; panics are failures, every call must return.
fn exercise(r: &HeapRegion, layout: Layout, rng: &mut Rng) {
    let _ = streams(r, &layout);
    let mut buf = Vec::new();
    for key in ["live/cam", "live/x", "a"] {
        if let Some(mut rd) = find(r, layout, key) {
            let _ = rd.headers();
            for _ in 0..200 {
                match rd.next(&mut buf) {
                    ReadResult::Record(_) => {}
                    ReadResult::Closed | ReadResult::Corrupt => break,
                    ReadResult::Empty | ReadResult::Overrun { .. } => {}
                }
            }
        }
    }
    let now = rng.next();
    if let Ok(mut w) = claim(r, layout, "live/x", rng.next() | 1, now, |o| o % 2 == 0) {
        for i in 0..50u64 {
            let _ = w.push(KIND_VIDEO, i as u32, i % 7 == 0, &payload(i, 300));
        }
        let _ = w.set_header(HeaderKind::Audio, b"abc");
        if let Some(mut rd) = find(r, layout, "live/x") {
            for _ in 0..100 {
                if let ReadResult::Record(_) = rd.next(&mut buf) {
                    // Records of our own writer must be intact.
                    verify(&buf);
                }
            }
        }
    }
}

#[test]
fn corrupted_zone_never_panics_or_hangs() {
    let (r, layout) = zone(4, 64 * 1024);
    let mut rng = Rng::new(99);
    let started = Instant::now();
    let mut bytes = vec![0u8; r.len()];
    for round in 0..60 {
        // Fully random (unformatted).
        rng.fill(&mut bytes);
        r.write(0, &bytes);
        exercise(&r, layout, &mut rng);
        // Formatted header, random directory and rings.
        format(&r, &layout).unwrap();
        rng.fill(&mut bytes[64..]);
        r.write(64, &bytes[64..]);
        exercise(&r, layout, &mut rng);
        // Plausible slots with random fields: active, a known key, random positions.
        format(&r, &layout).unwrap();
        rng.fill(&mut bytes);
        let ring_start = (64 + 4 * ngx_rtmp::live::shm::SLOT_HEADER).div_ceil(4096) * 4096;
        r.write(ring_start, &bytes[ring_start..]);
        for slot in 0..4 {
            let base = 64 + slot * ngx_rtmp::live::shm::SLOT_HEADER;
            r.store(base, 2 | (rng.below(4) << 2)); // active
            for field in [8, 16, 24, 32, 40, 64] {
                let v = match rng.below(4) {
                    0 => rng.next(),
                    1 => rng.below(1 << 20) * 8,
                    2 => rng.below(1 << 20),
                    _ => 0,
                };
                r.store(base + field, v);
            }
            let key = if round % 2 == 0 { "live/cam" } else { "live/x" };
            r.store(base + 48, key.len() as u64);
            let mut k = [0u8; 8];
            k[..key.len()].copy_from_slice(key.as_bytes());
            r.write(base + 72, &k);
            for area in 0..3 {
                let a = base + 584 + area * 4112;
                r.store(a, rng.below(4));
                r.store(
                    a + 8,
                    if rng.below(2) == 0 {
                        rng.next()
                    } else {
                        rng.below(5000)
                    },
                );
            }
        }
        exercise(&r, layout, &mut rng);
        // A live writer whose ring then gets scribbled on under the reader.
        format(&r, &layout).unwrap();
        let mut w = claim(&r, layout, KEY, 1, 0, alive).unwrap();
        let mut rd = find(&r, layout, KEY).unwrap();
        for i in 0..40u64 {
            w.push(KIND_VIDEO, 0, i % 10 == 0, &payload(i, 700))
                .unwrap();
        }
        let off = ring_start + rng.below(30_000) as usize / 8 * 8;
        let mut junk = vec![0u8; 64];
        rng.fill(&mut junk);
        r.write(off, &junk);
        let mut buf = Vec::new();
        for _ in 0..100 {
            match rd.next(&mut buf) {
                ReadResult::Record(_) => {
                    verify(&buf);
                }
                ReadResult::Corrupt | ReadResult::Closed | ReadResult::Empty => break,
                ReadResult::Overrun { .. } => {}
            }
        }
        drop(w);
    }
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn concurrent_claims_of_one_key_have_one_winner() {
    let (r, layout) = zone(8, 64 * 1024);
    let r = Arc::new(r);
    for round in 0..20u64 {
        let barrier = Arc::new(Barrier::new(6));
        // Every thread has tried before the winner lets the slot go (whatever the
        // scheduling of a loaded machine).
        let tried = Arc::new(Barrier::new(6));
        let handles: Vec<_> = (0..6u64)
            .map(|t| {
                let r = Arc::clone(&r);
                let barrier = Arc::clone(&barrier);
                let tried = Arc::clone(&tried);
                std::thread::spawn(move || {
                    barrier.wait();
                    let key = format!("live/k{round}");
                    let won = match claim(Arc::clone(&r), layout, &key, 100 + t, round, alive) {
                        Ok(w) => Some(w),
                        Err(ClaimError::Busy { .. }) | Err(ClaimError::Contended) => None,
                        Err(e) => panic!("{e:?}"),
                    };
                    tried.wait();
                    won.map_or(0, |w| {
                        w.close();
                        1
                    })
                })
            })
            .collect();
        let winners: u32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(winners, 1, "round {round}");
    }
}

#[test]
fn one_writer_many_readers_across_threads() {
    const RECORDS: u64 = 100_000;
    let (r, layout) = zone(2, 64 * 1024);
    let r = Arc::new(r);
    let mut w = claim(Arc::clone(&r), layout, KEY, 1, 0, alive).unwrap();
    w.set_header(HeaderKind::Video, b"avc-config").unwrap();
    let readers = 4;
    let barrier = Arc::new(Barrier::new(readers + 1));
    let stop = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = (0..readers)
        .map(|t| {
            let r = Arc::clone(&r);
            let barrier = Arc::clone(&barrier);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut rd = find(r, layout, KEY).expect("stream visible");
                assert_eq!(
                    rd.header(HeaderKind::Video).as_deref(),
                    Some(&b"avc-config"[..])
                );
                barrier.wait();
                let mut buf = Vec::new();
                let (mut last, mut got, mut overruns, mut gap_ok) = (None::<u64>, 0u64, 0u64, true);
                let deadline = Instant::now() + Duration::from_secs(30);
                loop {
                    match rd.next(&mut buf) {
                        ReadResult::Record(rec) => {
                            let c = verify(&buf);
                            assert_eq!(c, rec.seq);
                            if let Some(l) = last {
                                assert!(c > l, "counter went back: {l} -> {c}");
                                assert!(c == l + 1 || gap_ok, "silent gap {l} -> {c}");
                            }
                            last = Some(c);
                            gap_ok = false;
                            got += 1;
                            // Reader 0 is slow: it must get lapped.
                            if t == 0 && got % 50 == 0 {
                                std::thread::sleep(Duration::from_millis(1));
                            }
                        }
                        ReadResult::Overrun { .. } => {
                            overruns += 1;
                            gap_ok = true;
                        }
                        ReadResult::Empty => std::thread::yield_now(),
                        ReadResult::Closed => break,
                        ReadResult::Corrupt => panic!("corrupt report"),
                    }
                    assert!(Instant::now() < deadline, "reader {t} stuck");
                    if stop.load(Ordering::Relaxed) && got == 0 {
                        break;
                    }
                }
                (last, got, overruns)
            })
        })
        .collect();
    barrier.wait();
    let mut rng = Rng::new(3);
    for i in 0..RECORDS {
        let len = 12 + rng.below(600) as usize;
        let key = i % 64 == 0;
        w.push(
            if key { KIND_VIDEO } else { KIND_AUDIO },
            i as u32,
            key,
            &payload(i, len),
        )
        .unwrap();
        if i % 10_000 == 0 {
            w.heartbeat(i).unwrap();
        }
    }
    w.close();
    stop.store(true, Ordering::Relaxed);
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    for (t, (last, got, overruns)) in results.iter().enumerate() {
        eprintln!("reader {t}: {got} records, {overruns} overruns");
        assert_eq!(*last, Some(RECORDS - 1), "reader {t} drained to the end");
        assert!(*got > 0);
    }
    assert!(results[0].2 > 0, "the slow reader was never lapped");
}

#[test]
fn record_header_size_is_documented() {
    assert_eq!(RECORD_HEADER, 32);
}

/// A region view that runs a hook in the middle of the next large byte copy out, to stage an
/// overwrite racing with a reader deterministically.
struct Hooked<'a> {
    inner: &'a HeapRegion,
    min_len: usize,
    hook: std::cell::RefCell<Option<Box<dyn FnMut() + 'a>>>,
}

impl<'a> Hooked<'a> {
    fn new(inner: &'a HeapRegion, min_len: usize) -> Hooked<'a> {
        Hooked {
            inner,
            min_len,
            hook: std::cell::RefCell::new(None),
        }
    }
    fn arm(&self, f: impl FnMut() + 'a) {
        *self.hook.borrow_mut() = Some(Box::new(f));
    }
}

impl Region for Hooked<'_> {
    fn len(&self) -> usize {
        self.inner.len()
    }
    fn load(&self, off: usize) -> u64 {
        self.inner.load(off)
    }
    fn store(&self, off: usize, v: u64) {
        self.inner.store(off, v)
    }
    fn cas(&self, off: usize, current: u64, new: u64) -> Result<u64, u64> {
        self.inner.cas(off, current, new)
    }
    fn read(&self, off: usize, dst: &mut [u8]) {
        if dst.len() >= self.min_len {
            if let Some(mut f) = self.hook.borrow_mut().take() {
                let half = dst.len() / 16 * 8;
                let (a, b) = dst.split_at_mut(half);
                self.inner.read(off, a);
                f();
                self.inner.read(off + half, b);
                return;
            }
        }
        self.inner.read(off, dst)
    }
    fn write(&self, off: usize, src: &[u8]) {
        self.inner.write(off, src)
    }
}

#[test]
fn overwrite_during_copy_is_discarded_not_returned() {
    let (r, layout) = zone(1, 64 * 1024);
    let w = std::cell::RefCell::new(claim(&r, layout, KEY, 1, 0, alive).unwrap());
    let hooked = Hooked::new(&r, 512);
    let mut rd = find(&hooked, layout, KEY).unwrap();
    let mut buf = Vec::new();
    w.borrow_mut()
        .push(KIND_VIDEO, 0, false, &payload(0, 1000))
        .unwrap();
    // While the reader copies record 0, the writer laps the ring.
    hooked.arm(|| {
        for i in 1..=100u64 {
            w.borrow_mut()
                .push(KIND_VIDEO, i as u32, i % 10 == 0, &payload(i, 1000))
                .unwrap();
        }
    });
    assert!(matches!(rd.next(&mut buf), ReadResult::Overrun { .. }));
    assert!(buf.is_empty());
    let ReadResult::Record(rec) = rd.next(&mut buf) else {
        panic!()
    };
    assert_eq!((rec.seq, verify(&buf)), (100, 100));
    // A write during the copy that does not reach the record's bytes is no reason to drop it.
    w.borrow_mut()
        .push(KIND_VIDEO, 0, false, &payload(101, 1000))
        .unwrap();
    hooked.arm(|| {
        w.borrow_mut()
            .push(KIND_VIDEO, 0, false, &payload(102, 1000))
            .unwrap();
    });
    assert!(matches!(rd.next(&mut buf), ReadResult::Record(r) if r.seq == 101));
    assert_eq!(verify(&buf), 101);
    assert!(matches!(rd.next(&mut buf), ReadResult::Record(r) if r.seq == 102));
}

#[test]
fn header_update_during_copy_is_retried() {
    let (r, layout) = zone(1, 64 * 1024);
    let w = std::cell::RefCell::new(claim(&r, layout, KEY, 1, 0, alive).unwrap());
    let hooked = Hooked::new(&r, 1024);
    w.borrow_mut()
        .set_header(HeaderKind::Metadata, &[1u8; 3000])
        .unwrap();
    let rd = find(&hooked, layout, KEY).unwrap();
    hooked.arm(|| {
        w.borrow_mut()
            .set_header(HeaderKind::Metadata, &[2u8; 2000])
            .unwrap();
    });
    assert_eq!(rd.header(HeaderKind::Metadata), Some(vec![2u8; 2000]));
}
