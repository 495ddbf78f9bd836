//! The relay queue: bounds in time and bytes, the skip to the next keyframe, the join.

use bytes::Bytes;

use crate::live::{Admit, GopCache, LegacyForm, MediaInfo};
use crate::relay::*;
use crate::rtmp::chunk::PreparedMessage;
use crate::rtmp::message::csid;

fn key() -> Bytes {
    Bytes::from_static(&[0x17, 1, 0, 0, 0, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE])
}
fn inter() -> Bytes {
    Bytes::from_static(&[0x27, 1, 0, 0, 0, 0xCC, 0xDD, 0xEE, 0xFF, 0x00])
}
fn audio() -> Bytes {
    Bytes::from_static(&[0xAF, 1, 0x21, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66])
}

fn offer(q: &mut RelayQueue, type_id: u8, ts: u32, payload: Bytes, outside: usize) -> Admit {
    let info = MediaInfo::classify(type_id, &payload);
    q.offer(info, type_id, ts, &payload, outside)
}

fn joined(max_ms: u32, max_bytes: usize) -> RelayQueue {
    let mut q = RelayQueue::new(RelayBuffer { max_ms, max_bytes });
    q.join(&GopCache::new(true, 100, 1 << 20));
    q
}

#[test]
fn nothing_is_kept_for_a_relay_that_is_not_streaming() {
    let mut q = RelayQueue::new(RelayBuffer::default());
    assert!(!q.is_joined());
    assert_eq!(offer(&mut q, 9, 0, key(), 0), Admit::Drop);
    assert!(q.is_empty());
    q.join(&GopCache::new(true, 100, 1 << 20));
    assert_eq!(offer(&mut q, 9, 0, key(), 0), Admit::Send);
    q.leave();
    assert!(q.is_empty());
    assert_eq!(q.backlog_bytes(), 0);
    assert_eq!(offer(&mut q, 9, 40, key(), 0), Admit::Drop);
}

#[test]
fn a_join_without_a_cached_gop_waits_for_a_keyframe() {
    let mut q = joined(5000, 1 << 20);
    assert_eq!(offer(&mut q, 9, 0, inter(), 0), Admit::Drop);
    assert_eq!(offer(&mut q, 8, 1, audio(), 0), Admit::Send);
    assert_eq!(offer(&mut q, 9, 40, key(), 0), Admit::Send);
    assert_eq!(offer(&mut q, 9, 80, inter(), 0), Admit::Send);
    let got: Vec<u32> = std::iter::from_fn(|| q.pop())
        .map(|m| m.timestamp)
        .collect();
    assert_eq!(got, [1, 40, 80]);
}

#[test]
fn a_join_starts_with_metadata_headers_and_the_cached_gop() {
    let mut gop = GopCache::new(true, 100, 1 << 20);
    let mut add = |type_id: u8, ts: u32, p: &[u8]| {
        let m = PreparedMessage::new(csid::for_media(type_id), 128, type_id, ts, p);
        gop.push(MediaInfo::classify(type_id, p), &m, LegacyForm::Same);
    };
    add(18, 0, b"onMetaData");
    add(9, 0, &[0x17, 0, 0, 0, 0, 1, 2]);
    add(8, 0, &[0xAF, 0, 0x12, 0x10]);
    add(9, 1000, &key());
    add(8, 1001, &audio());
    add(9, 1040, &inter());
    let mut q = RelayQueue::new(RelayBuffer::default());
    q.join(&gop);
    assert!(!q.is_waiting_key(), "the burst starts video");
    // A live inter frame follows the burst at once.
    assert_eq!(offer(&mut q, 9, 1080, inter(), 0), Admit::Send);
    let got: Vec<(u8, u32, Bytes)> = std::iter::from_fn(|| q.pop())
        .map(|m| (m.type_id, m.timestamp, m.payload))
        .collect();
    let kinds: Vec<(u8, u32)> = got.iter().map(|(t, ts, _)| (*t, *ts)).collect();
    assert_eq!(
        kinds,
        [
            (18, 0),
            (9, 0),
            (8, 0),
            (9, 1000),
            (8, 1001),
            (9, 1040),
            (9, 1080)
        ]
    );
    assert_eq!(got[0].2, Bytes::from_static(b"onMetaData"));
    assert_eq!(got[3].2, key());
    // Old header timestamps are no backlog.
    assert_eq!(q.backlog_bytes(), 0);
}

#[test]
fn time_bound_skips_to_the_next_keyframe() {
    let mut q = joined(1000, 1 << 20);
    assert_eq!(offer(&mut q, 9, 0, key(), 0), Admit::Send);
    assert_eq!(offer(&mut q, 9, 960, inter(), 0), Admit::Send);
    assert_eq!(q.span_ms(999), 999);
    // 1000 ms queued: over.
    assert_eq!(offer(&mut q, 9, 1000, inter(), 0), Admit::Drop);
    assert!(q.is_waiting_key());
    assert_eq!(offer(&mut q, 8, 1001, audio(), 0), Admit::Drop);
    // The target reads: under budget again, audio resumes, video waits for a key.
    while q.pop().is_some() {}
    assert_eq!(offer(&mut q, 9, 1040, inter(), 0), Admit::Drop);
    assert_eq!(offer(&mut q, 8, 1041, audio(), 0), Admit::Send);
    assert_eq!(offer(&mut q, 9, 1080, key(), 0), Admit::Send);
    assert_eq!(offer(&mut q, 9, 1120, inter(), 0), Admit::Send);
    assert_eq!(q.dropped(), 3);
}

#[test]
fn byte_bound_counts_what_the_shell_holds() {
    let mut q = joined(60_000, 25);
    assert_eq!(offer(&mut q, 9, 0, key(), 0), Admit::Send);
    assert_eq!(offer(&mut q, 9, 40, inter(), 14), Admit::Send);
    assert_eq!(q.backlog_bytes(), 20);
    assert_eq!(offer(&mut q, 9, 80, inter(), 5), Admit::Drop);
    // Headers and metadata always go.
    let vhdr = Bytes::from_static(&[0x17, 0, 0, 0, 0, 1]);
    assert_eq!(offer(&mut q, 9, 90, vhdr, 1000), Admit::Send);
    assert_eq!(
        offer(&mut q, 18, 90, Bytes::from_static(b"m"), 1000),
        Admit::Send
    );
}

#[test]
fn timestamps_going_backwards_are_no_backlog() {
    let mut q = joined(1000, 1 << 20);
    assert_eq!(offer(&mut q, 9, 5000, key(), 0), Admit::Send);
    assert_eq!(q.span_ms(10), 0);
    assert_eq!(offer(&mut q, 9, 10, inter(), 0), Admit::Send);
    // Wrapping u32 timestamps still measure forward.
    let mut q = joined(1000, 1 << 20);
    assert_eq!(offer(&mut q, 9, u32::MAX - 100, key(), 0), Admit::Send);
    assert_eq!(q.span_ms(500), 601);
}

/// A target that stops reading: an hour of a stream never popped pins at most the budget
/// plus one message.
#[test]
fn a_stalled_target_pins_at_most_the_budget() {
    let max_bytes = 64 * 1024;
    let mut q = joined(5000, max_bytes);
    let frame = Bytes::from(vec![0x27u8; 4000]);
    let keyframe = {
        let mut k = vec![0x17u8; 20_000];
        k[1] = 1;
        Bytes::from(k)
    };
    let mut peak = 0;
    for i in 0..(3600 * 25u32) {
        let ts = i * 40;
        let p = if i % 50 == 0 {
            keyframe.clone()
        } else {
            frame.clone()
        };
        offer(&mut q, 9, ts, p, 0);
        offer(&mut q, 8, ts + 1, audio(), 0);
        peak = peak.max(q.backlog_bytes());
    }
    assert!(peak <= max_bytes + 20_000, "peak {peak}");
    assert!(q.dropped() > 80_000);
}

/// Metadata and headers repeated to a stalled target replace each other.
#[test]
fn repeated_headers_to_a_stalled_target_stay_bounded() {
    let mut q = joined(1000, 100);
    let vhdr = |n: u8| Bytes::from(vec![0x17, 0, 0, 0, 0, n]);
    let ahdr = Bytes::from_static(&[0xAF, 0, 0x12, 0x10]);
    let meta = Bytes::from(vec![b'm'; 50]);
    assert_eq!(offer(&mut q, 9, 0, key(), 0), Admit::Send);
    for i in 0..10_000u32 {
        offer(&mut q, 18, i, meta.clone(), 1000);
        offer(&mut q, 9, i, vhdr((i % 200) as u8), 1000);
        offer(&mut q, 8, i, ahdr.clone(), 1000);
        offer(&mut q, 9, i, inter(), 1000);
    }
    assert_eq!(q.len(), 4, "the keyframe and one of each");
    assert_eq!(q.backlog_bytes(), 10 + 50 + 6 + 4);
    let got: Vec<(u8, u32)> = std::iter::from_fn(|| q.pop())
        .map(|m| (m.type_id, m.timestamp))
        .collect();
    assert_eq!(got, [(9, 0), (18, 9999), (9, 9999), (8, 9999)]);
    // Under budget, headers queue as they come.
    let mut q = joined(1000, 1 << 20);
    offer(&mut q, 9, 0, vhdr(1), 0);
    offer(&mut q, 9, 0, vhdr(2), 0);
    assert_eq!(q.len(), 2);
}
