//! The GOP cache: order, bounds, bare payloads, per-track headers, legacy forms.

use super::*;

fn msg(type_id: u8, ts: u32, payload: &[u8]) -> (MediaInfo, PreparedMessage) {
    (
        MediaInfo::classify(type_id, payload),
        PreparedMessage::new(csid::for_media(type_id), 128, type_id, ts, payload),
    )
}

fn key(ts: u32) -> (MediaInfo, PreparedMessage) {
    msg(9, ts, &[0x17, 1, 0, 0, 0, 0xAA, 0xBB])
}
fn inter(ts: u32) -> (MediaInfo, PreparedMessage) {
    msg(9, ts, &[0x27, 1, 0, 0, 0, 0xCC])
}
fn audio(ts: u32) -> (MediaInfo, PreparedMessage) {
    msg(8, ts, &[0xAF, 1, 0x21, 0x00])
}

fn burst_ts(c: &mut GopCache) -> Vec<(u8, u32)> {
    c.join_burst(128, false)
        .map(|(_, m)| (m.type_id, m.timestamp))
        .collect()
}

fn push(c: &mut GopCache, m: (MediaInfo, PreparedMessage)) {
    c.push(m.0, &m.1, LegacyForm::Same);
}

#[test]
fn burst_order_and_replacement() {
    let mut c = GopCache::new(true, 100, 1 << 20);
    push(&mut c, audio(0)); // before any keyframe: not cached
    push(&mut c, inter(0));
    push(&mut c, msg(9, 0, &[0x17, 0, 0, 0, 0, 1]));
    push(&mut c, msg(8, 0, &[0xAF, 0, 0x12, 0x10]));
    push(&mut c, msg(18, 0, b"meta1"));
    push(&mut c, key(40));
    push(&mut c, audio(41));
    push(&mut c, inter(80));
    push(&mut c, msg(18, 90, b"meta2"));
    assert_eq!(
        burst_ts(&mut c),
        [(18, 90), (9, 0), (8, 0), (9, 40), (8, 41), (9, 80)]
    );
    // A new keyframe starts a new GOP.
    push(&mut c, key(120));
    push(&mut c, audio(121));
    assert_eq!(burst_ts(&mut c)[3..], [(9, 120), (8, 121)]);
    assert_eq!(c.frames(), 2);
    // New AAC header replaces the old one, keeps the GOP.
    push(&mut c, msg(8, 130, &[0xAF, 0, 0x11, 0x90]));
    assert_eq!(c.audio_header().unwrap().timestamp, 130);
    assert_eq!(c.frames(), 2);
    // New video header drops the GOP until the next keyframe.
    push(&mut c, msg(9, 140, &[0x17, 0, 0, 0, 0, 2]));
    assert_eq!(c.frames(), 0);
    push(&mut c, inter(160));
    assert_eq!(c.frames(), 0);
    push(&mut c, key(200));
    assert_eq!(burst_ts(&mut c), [(18, 90), (9, 140), (8, 130), (9, 200)]);
    c.clear();
    assert_eq!(c.join_burst(128, false).count(), 0);
}

#[test]
fn frame_bound_drops_until_next_key() {
    let mut c = GopCache::new(true, 3, 1 << 20);
    push(&mut c, key(0));
    push(&mut c, inter(40));
    push(&mut c, audio(41));
    assert_eq!(c.frames(), 3);
    push(&mut c, inter(80)); // 4th: over the bound
    assert_eq!(c.frames(), 0);
    assert!(!c.is_caching());
    assert_eq!(c.overflows(), 1);
    push(&mut c, inter(120));
    push(&mut c, audio(121));
    assert_eq!(c.frames(), 0);
    push(&mut c, key(160));
    assert_eq!(burst_ts(&mut c), [(9, 160)]);
}

#[test]
fn byte_bound() {
    let k = key(0);
    let one = k.1.body().len();
    let mut c = GopCache::new(true, 100, one * 2);
    push(&mut c, k);
    push(&mut c, key(40)); // replaces, still one
    assert_eq!(c.bytes(), one);
    push(&mut c, msg(9, 80, &[0x27, 1, 0, 0, 0, 1, 2])); // same size as a key
    assert_eq!(c.bytes(), one * 2);
    push(&mut c, inter(120));
    assert_eq!(c.frames(), 0);
    assert_eq!(c.bytes(), 0);
    // A keyframe larger than the bound is never cached.
    let mut c = GopCache::new(true, 100, 3);
    push(&mut c, key(0));
    assert_eq!(c.frames(), 0);
    push(&mut c, inter(40));
    assert_eq!(c.frames(), 0);
}

/// Without players, frames are kept as bare payloads and chunked at the first join;
/// what a player gets is the same either way.
#[test]
fn bare_payloads_are_chunked_at_the_first_join() {
    let all = [
        msg(18, 0, b"meta"),
        msg(9, 0, &[0x17, 0, 0, 0, 0, 1]),
        msg(8, 0, &[0xAF, 0, 0x12, 0x10]),
        key(40),
        audio(41),
        msg(9, 80, &(0..300).map(|i| i as u8).collect::<Vec<u8>>()),
    ];
    let mut ready = GopCache::new(true, 100, 1 << 20);
    let mut bare = GopCache::new(true, 100, 1 << 20);
    for (info, m) in &all {
        ready.push(*info, m, LegacyForm::Same);
        let payload: Vec<u8> = m.payload_pieces().flatten().copied().collect();
        bare.push_payload(
            *info,
            m.type_id,
            m.timestamp,
            &Bytes::from(payload),
            128,
            LegacyForm::Same,
        );
    }
    assert_eq!(bare.bytes(), 7 + 4 + 300);
    let mut gop_payloads = Vec::new();
    for (_, m) in bare.gop() {
        m.payload_into(&mut gop_payloads);
    }
    assert_eq!(gop_payloads.len(), bare.bytes());
    let a: Vec<_> = ready
        .join_burst(128, false)
        .map(|(i, m)| (i, m.clone()))
        .collect();
    let b: Vec<_> = bare
        .join_burst(128, false)
        .map(|(i, m)| (i, m.clone()))
        .collect();
    assert_eq!(a.len(), 6);
    assert_eq!(a, b);
    // Chunked once: a second join gets the same bodies.
    let c: Vec<_> = bare
        .join_burst(128, false)
        .map(|(i, m)| (i, m.clone()))
        .collect();
    assert_eq!(b, c);
}

#[test]
fn disabled_keeps_headers_only() {
    let mut c = GopCache::new(false, 100, 1 << 20);
    push(&mut c, msg(18, 0, b"m"));
    push(&mut c, msg(9, 0, &[0x17, 0, 0, 0, 0, 1]));
    push(&mut c, key(0));
    push(&mut c, audio(1));
    assert_eq!(burst_ts(&mut c), [(18, 0), (9, 0)]);
    assert!(!c.is_enabled());
}

/// Every track's header is kept (by track id) and replayed; only the primary track's
/// keyframes start a GOP; legacy joiners get the legacy forms.
#[test]
fn headers_per_track_and_legacy_burst() {
    let mut c = GopCache::new(true, 100, 1 << 20);
    // Track 0: legacy AVC; track 1: multitrack HEVC (OneTrack); audio: AAC + Opus track 1.
    push(&mut c, msg(9, 0, &[0x17, 0, 0, 0, 0, 1]));
    push(
        &mut c,
        msg(9, 0, &[0x96, 0x00, b'h', b'v', b'c', b'1', 1, 0xAA]),
    );
    push(&mut c, msg(8, 0, &[0xAF, 0, 0x12, 0x10]));
    push(
        &mut c,
        msg(8, 0, &[0x95, 0x00, b'O', b'p', b'u', b's', 1, 0x4F]),
    );
    // A newer header of track 1 replaces its own, not track 0's.
    push(
        &mut c,
        msg(9, 5, &[0x96, 0x00, b'h', b'v', b'c', b'1', 1, 0xAB]),
    );
    assert_eq!(c.headers().count(), 4);
    assert_eq!(c.video_header().unwrap().timestamp, 0);
    assert_eq!(c.primary_track(MediaKind::Video), Some(0));
    push(&mut c, key(40));
    let t1_key = msg(9, 41, &[0x96, 0x01, b'h', b'v', b'c', b'1', 1, 0, 0, 0, 9]);
    assert!(t1_key.0.keyframe);
    push(&mut c, t1_key);
    // Track 1's keyframe does not restart the GOP.
    assert_eq!(c.frames(), 2);
    assert_eq!(
        burst_ts(&mut c),
        [(9, 0), (9, 5), (8, 0), (8, 0), (9, 40), (9, 41)]
    );
    // Legacy joiners: messages whose legacy form is Skip are left out.
    let mut c = GopCache::new(true, 100, 1 << 20);
    let (i, m) = msg(9, 0, &[0x17, 0, 0, 0, 0, 1]);
    c.push(i, &m, LegacyForm::Same);
    let (i, m) = msg(9, 0, &[0x96, 0x00, b'h', b'v', b'c', b'1', 1, 0xAA]);
    c.push(i, &m, LegacyForm::Skip);
    let (i, m) = key(40);
    c.push(i, &m, LegacyForm::Same);
    let (i, m) = msg(9, 41, &[0x96, 0x01, b'h', b'v', b'c', b'1', 1, 0, 0, 0, 9]);
    c.push(i, &m, LegacyForm::Skip);
    let legacy: Vec<_> = c.join_burst(128, true).map(|(_, m)| m.timestamp).collect();
    assert_eq!(legacy, [0, 40]);
    assert_eq!(c.join_burst(128, false).count(), 4);
}

/// A pending legacy form (no player when the message came) is built at the first
/// legacy join: an extended AVC frame becomes a legacy AVC frame.
#[test]
fn pending_legacy_forms_are_built_at_join() {
    let mut c = GopCache::new(true, 100, 1 << 20);
    let ex_key: &[u8] = &[0x91, b'a', b'v', b'c', b'1', 0, 0, 2, 0xEE];
    c.push_payload(
        MediaInfo::classify(9, ex_key),
        9,
        40,
        &Bytes::from_static(ex_key),
        128,
        LegacyForm::Pending { track: 0 },
    );
    let burst: Vec<_> = c.join_burst(128, true).map(|(_, m)| m.clone()).collect();
    assert_eq!(burst.len(), 1);
    let payload: Vec<u8> = burst[0].payload_pieces().flatten().copied().collect();
    assert_eq!(payload, [0x17, 1, 0, 0, 2, 0xEE]);
}

#[test]
fn flv_burst_is_the_join_burst_as_flv_tags_built_once() {
    use crate::media::flv_stream::FlvWriter;
    let mut c = GopCache::new(true, 100, 1 << 20);
    push(&mut c, msg(9, 0, &[0x17, 0, 0, 0, 0, 1]));
    push(&mut c, msg(8, 0, &[0xAF, 0, 0x12, 0x10]));
    push(&mut c, msg(18, 0, b"meta"));
    push(&mut c, key(40));
    // A frame nobody played yet is kept bare: its tag is built from the payload.
    let bare = Bytes::from_static(&[0xAF, 1, 0x21, 0]);
    let info = MediaInfo::classify(8, &bare);
    c.push_payload(info, 8, 41, &bare, 128, LegacyForm::Same);
    let tags: Vec<Bytes> = c.flv_burst().map(|(_, t)| t.clone()).collect();
    let expected: Vec<Bytes> = c
        .join_burst(128, false)
        .map(|(_, m)| {
            let mut payload = Vec::new();
            m.payload_pieces()
                .for_each(|p| payload.extend_from_slice(p));
            FlvWriter::tag(m.type_id, m.timestamp, &payload).unwrap()
        })
        .collect();
    assert_eq!(tags, expected);
    // Built once: a second join shares the same bytes.
    let again: Vec<Bytes> = c.flv_burst().map(|(_, t)| t.clone()).collect();
    for (a, b) in tags.iter().zip(&again) {
        assert_eq!(a.as_ptr(), b.as_ptr());
    }
    // The tag a live delivery built is kept for later joiners.
    let (info, m) = inter(80);
    c.push(info, &m, LegacyForm::Same);
    let live = crate::live::flv_tags::tag_of(&m);
    c.adopt_flv(&live);
    let last = c.flv_burst().last().map(|(_, t)| t.clone()).unwrap();
    assert_eq!(last.as_ptr(), live.as_ptr());
}
