//! Players of Enhanced RTMP streams: who gets the stream as published, who gets its legacy
//! form (the AVC/AAC track rewritten as legacy FLV messages, built once per message) and who
//! is told the stream is unplayable — through the core pipeline, as published on this worker
//! and as mirrored on another.

use bytes::Bytes;
use ngx_rtmp::files::Now;
use ngx_rtmp::live::legacy::{convert, LegacyTrack};
use ngx_rtmp::live::{
    Delivery, GopCache, Incoming, LegacyForm, MediaKind, Pipeline, StreamForm, View,
};
use ngx_rtmp::media::{CodecMask, FourCc};
use ngx_rtmp::rtmp::message::types;

fn fixture(name: &str) -> Bytes {
    let path = format!(
        "{}/tests/fixtures/ertmp/{name}.bin",
        env!("CARGO_MANIFEST_DIR")
    );
    Bytes::from(std::fs::read(path).expect("fixture"))
}

fn feed(p: &mut Pipeline, type_id: u8, ts: u32, payload: &[u8]) -> Delivery {
    let payload = Bytes::copy_from_slice(payload);
    p.ingest(
        Incoming {
            type_id,
            timestamp: ts,
            payload: &payload,
            now: Now {
                monotonic_ms: 1000 + u64::from(ts),
                unix_ms: 1_700_000_000_000,
            },
        },
        true,
    )
    .expect("a delivery: the stream has players")
}

fn pipelines() -> [Pipeline; 2] {
    let gop = || GopCache::new(true, 1000, 1 << 20);
    [
        Pipeline::published(gop(), 4096),
        Pipeline::mirrored(gop(), 4096),
    ]
}

fn payload(d: &Delivery, view: View) -> Option<Vec<u8>> {
    d.for_view(view)
        .map(|m| m.payload_pieces().flatten().copied().collect())
}

fn mask(codes: &[&[u8; 4]]) -> CodecMask {
    let mut m = CodecMask::NONE;
    for c in codes {
        m.insert(FourCc::new(c));
    }
    m
}

/// x264's AVC sequence header (High, 320x240): the demuxer checks the record.
const AVC_SEQ: &[u8] = &[
    0x17, 0x00, 0x00, 0x00, 0x00, 0x01, 0x64, 0x00, 0x0d, 0xff, 0xe1, 0x00, 0x19, 0x67, 0x64, 0x00,
    0x0d, 0xac, 0xd9, 0x41, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03,
    0x03, 0xc0, 0xf1, 0x42, 0x99, 0x60, 0x01, 0x00, 0x06, 0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0, 0xfd,
    0xf8, 0xf8, 0x00,
];
const AVC_KEY: &[u8] = &[0x17, 1, 0, 0, 0, 0, 0, 0, 1, 0x65];
const AAC_SEQ: &[u8] = &[0xAF, 0, 0x12, 0x10];

/// HEVC with Opus: a client that announced HEVC and not Opus is told of Opus, one that
/// announced neither of HEVC.
#[test]
fn the_codec_a_player_lacks_is_the_one_named() {
    for mut p in pipelines() {
        feed(&mut p, types::VIDEO, 0, &fixture("hevc_seq_start"));
        let both = feed(&mut p, types::AUDIO, 0, &fixture("opus_seq_start"));
        let (hvc1, opus) = (FourCc::new(b"hvc1"), FourCc::new(b"Opus"));
        assert_eq!(both.form.audio, LegacyTrack::Unplayable(opus));
        assert_eq!(
            View::choose(mask(&[b"hvc1", b"mp4a"]), &both.form),
            View::Unplayable(opus)
        );
        for lacking in [CodecMask::NONE, mask(&[b"av01"]), mask(&[b"Opus"])] {
            assert_eq!(View::choose(lacking, &both.form), View::Unplayable(hvc1));
        }
        assert_eq!(
            View::choose(mask(&[b"hvc1", b"Opus"]), &both.form),
            View::AsPublished
        );
    }
}

#[test]
fn hevc_stream_is_unplayable_for_legacy_players_only() {
    for mut p in pipelines() {
        let seq = feed(&mut p, types::VIDEO, 0, &fixture("hevc_seq_start"));
        let hvc1 = FourCc::new(b"hvc1");
        assert_eq!(seq.form.video, LegacyTrack::Unplayable(hvc1));
        assert_eq!(
            View::choose(CodecMask::NONE, &seq.form),
            View::Unplayable(hvc1)
        );
        // FFmpeg 9 with `-rtmp_enhanced_codecs hvc1,...`, or a `*` client: as published.
        let ffmpeg9 = mask(&[b"hvc1", b"av01", b"vp09", b"avc1", b"mp4a", b"Opus"]);
        assert_eq!(View::choose(ffmpeg9, &seq.form), View::AsPublished);
        assert_eq!(View::choose(CodecMask::ANY, &seq.form), View::AsPublished);
        // A client that announced only AV1 cannot decode it either.
        assert_eq!(
            View::choose(mask(&[b"av01"]), &seq.form),
            View::Unplayable(hvc1)
        );
        let key = feed(&mut p, types::VIDEO, 40, &fixture("hevc_key_cut"));
        assert_eq!(
            payload(&key, View::AsPublished).unwrap(),
            fixture("hevc_key_cut")
        );
        assert_eq!(payload(&key, View::Legacy), None);
        assert_eq!(payload(&key, View::Unplayable(hvc1)), None);
        // The join burst of an unplayable view is empty; as published it has header + key.
        assert_eq!(p.join_burst(View::Unplayable(hvc1)).count(), 0);
        assert_eq!(p.join_burst(View::AsPublished).count(), 2);
    }
}

#[test]
fn publisher_switching_codec_mid_stream_changes_the_view() {
    let mut p = Pipeline::published(GopCache::new(true, 1000, 1 << 20), 4096);
    let d = feed(&mut p, types::VIDEO, 0, AVC_SEQ);
    assert_eq!(d.form.video, LegacyTrack::Native);
    // A legacy stream is the same for every player.
    assert_eq!(View::choose(CodecMask::NONE, &d.form), View::AsPublished);
    assert_eq!(payload(&d, View::Legacy).unwrap(), AVC_SEQ);
    let d = feed(&mut p, types::VIDEO, 1000, &fixture("av1_seq_start"));
    let av01 = FourCc::new(b"av01");
    assert_eq!(
        View::choose(CodecMask::NONE, &d.form),
        View::Unplayable(av01)
    );
    // And back.
    let d = feed(&mut p, types::VIDEO, 2000, AVC_SEQ);
    assert_eq!(View::choose(CodecMask::NONE, &d.form), View::AsPublished);
}

/// FFmpeg's multitrack: track 0 legacy AVC/AAC, track 1 HEVC/Opus as Multitrack OneTrack.
/// A legacy player gets track 0 only, the very messages published (no copy).
#[test]
fn ffmpeg_multitrack_legacy_players_get_track_zero() {
    for mut p in pipelines() {
        let v0 = feed(&mut p, types::VIDEO, 0, AVC_SEQ);
        let v1 = feed(&mut p, types::VIDEO, 0, &fixture("multi_hevc_seq_start"));
        let a0 = feed(&mut p, types::AUDIO, 0, AAC_SEQ);
        let a1 = feed(&mut p, types::AUDIO, 0, &fixture("multi_opus_seq_start"));
        assert_eq!(a1.form.video, LegacyTrack::Native);
        assert_eq!(a1.form.audio, LegacyTrack::Native);
        let legacy = View::choose(CodecMask::NONE, &a1.form);
        assert_eq!(legacy, View::Legacy);
        assert!(v1.info.sequence_header && v1.info.track == 1);
        // Track 0: the published message itself (one body shared by every player).
        for d in [&v0, &a0] {
            assert_eq!(d.legacy, LegacyForm::Same);
            assert!(std::ptr::eq(d.for_view(legacy).unwrap(), &d.message));
        }
        for d in [&v1, &a1] {
            assert_eq!(d.legacy, LegacyForm::Skip);
        }
        let k0 = feed(&mut p, types::VIDEO, 40, AVC_KEY);
        let k1 = feed(&mut p, types::VIDEO, 40, &fixture("multi_hevc_key_cut"));
        assert!(k1.info.keyframe && k1.info.track == 1);
        assert!(payload(&k0, legacy).is_some() && payload(&k1, legacy).is_none());
        // A joining legacy player: the headers of track 0 and its keyframe only.
        let burst: Vec<_> = p.join_burst(legacy).map(|(i, m)| (i.kind, m.len)).collect();
        assert_eq!(
            burst,
            [
                (MediaKind::Video, AVC_SEQ.len() as u32),
                (MediaKind::Audio, AAC_SEQ.len() as u32),
                (MediaKind::Video, AVC_KEY.len() as u32),
            ]
        );
        // An Enhanced RTMP player: every track's header, both keyframes.
        let all = mask(&[b"hvc1", b"Opus"]);
        assert_eq!(View::choose(all, &k1.form), View::AsPublished);
        assert_eq!(p.join_burst(View::AsPublished).count(), 6);
    }
}

/// OBS-style: the AVC track itself travels as Enhanced RTMP (`avc1`), in a ManyTracks
/// message with an HEVC rendition. Legacy players get the AVC track rewritten as legacy FLV
/// AVC messages, built once per message.
#[test]
fn extended_avc_track_is_rewritten_once_for_legacy_players() {
    // ManyTracksManyCodecs SequenceStart: avc1 track 0 (avcC 3 bytes), hvc1 track 1.
    let avcc = &AVC_SEQ[5..];
    let hevc = fixture("hevc_seq_start");
    let hvcc = &hevc[5..];
    let mut seq = vec![
        0x96,
        0x20,
        b'a',
        b'v',
        b'c',
        b'1',
        0,
        0,
        0,
        avcc.len() as u8,
    ];
    seq.extend_from_slice(avcc);
    seq.extend_from_slice(b"hvc1\x01");
    seq.extend_from_slice(&(hvcc.len() as u32).to_be_bytes()[1..]);
    seq.extend_from_slice(hvcc);
    // Key CodedFrames: avc1 track 0 with composition time 0x000021, hvc1 track 1.
    let key = [
        0x96, 0x21, b'a', b'v', b'c', b'1', 0, 0, 0, 8, 0, 0, 0x21, 0, 0, 0, 1, 0x65, b'h', b'v',
        b'c', b'1', 1, 0, 0, 6, 0, 0, 0, 2, 0x26, 0x01,
    ];
    // Inter CodedFramesX, avc1 only (single track).
    let inter = [0xA3, b'a', b'v', b'c', b'1', 0, 0, 0, 1, 0x41];
    // Extended AAC (mp4a) SequenceStart and CodedFrames.
    let aac_seq = [0x90, b'm', b'p', b'4', b'a', 0x12, 0x10];
    let aac = [0x91, b'm', b'p', b'4', b'a', 0x21, 0x22];
    for mut p in pipelines() {
        let d = feed(&mut p, types::VIDEO, 0, &seq);
        assert_eq!(d.form.video, LegacyTrack::Track(0));
        let legacy = View::choose(CodecMask::NONE, &d.form);
        assert_eq!(legacy, View::Legacy);
        assert_eq!(payload(&d, legacy).unwrap(), AVC_SEQ);
        let d = feed(&mut p, types::VIDEO, 40, &key);
        assert_eq!(
            payload(&d, legacy).unwrap(),
            [0x17, 1, 0, 0, 0x21, 0, 0, 0, 1, 0x65]
        );
        // Built once: every legacy player shares the same chunked body.
        let (a, b) = (d.for_view(legacy).unwrap(), d.for_view(legacy).unwrap());
        assert_eq!(a.body().as_ptr(), b.body().as_ptr());
        let d = feed(&mut p, types::VIDEO, 80, &inter);
        assert_eq!(
            payload(&d, legacy).unwrap(),
            [0x27, 1, 0, 0, 0, 0, 0, 0, 1, 0x41]
        );
        let d = feed(&mut p, types::AUDIO, 0, &aac_seq);
        assert_eq!(d.form.audio, LegacyTrack::Track(0));
        assert_eq!(payload(&d, legacy).unwrap(), [0xAF, 0, 0x12, 0x10]);
        let d = feed(&mut p, types::AUDIO, 20, &aac);
        assert_eq!(payload(&d, legacy).unwrap(), [0xAF, 1, 0x21, 0x22]);
        // Players that take avc1/hvc1/mp4a get the messages as published.
        let ertmp = mask(&[b"avc1", b"hvc1", b"mp4a"]);
        assert_eq!(View::choose(ertmp, &d.form), View::AsPublished);
        assert_eq!(payload(&d, View::AsPublished).unwrap(), aac);
        // A legacy joiner's burst: the rewritten headers and GOP.
        let burst: Vec<Vec<u8>> = p
            .join_burst(legacy)
            .map(|(_, m)| m.payload_pieces().flatten().copied().collect())
            .collect();
        assert_eq!(burst.len(), 5);
        assert_eq!(burst[2], [0x17, 1, 0, 0, 0x21, 0, 0, 0, 1, 0x65]);
    }
}

#[test]
fn convert_refuses_what_has_no_legacy_form() {
    let mut out = Vec::new();
    // No such track, another codec, metadata packets, audio multichannel config, garbage.
    assert!(!convert(
        types::VIDEO,
        &[0x91, b'a', b'v', b'c', b'1', 0, 0, 0],
        3,
        &mut out
    ));
    assert!(!convert(
        types::VIDEO,
        &fixture("hevc_key_cut"),
        0,
        &mut out
    ));
    assert!(!convert(
        types::VIDEO,
        &fixture("hevc_metadata"),
        0,
        &mut out
    ));
    assert!(!convert(
        types::AUDIO,
        &fixture("opus_multichannel"),
        0,
        &mut out
    ));
    assert!(!convert(types::VIDEO, &[0x96], 0, &mut out));
    assert!(!convert(types::DATA_AMF0, &[0x02], 0, &mut out));
    // A SequenceEnd has a legacy form with no data.
    assert!(convert(
        types::VIDEO,
        &[0x92, b'a', b'v', b'c', b'1'],
        0,
        &mut out
    ));
    assert_eq!(out, [0x17, 2, 0, 0, 0]);
    assert_eq!(StreamForm::default().video, LegacyTrack::None);
}

/// A multitrack stream read by a worker that starts mid-stream (the reader attaches long
/// after the headers were published): the ring repeats the other tracks' headers after each
/// keyframe of the primary track, so the mirrored pipeline's joiners get every track's
/// header, and its legacy players get track 0 alone; repeats are not delivered twice.
#[test]
fn ring_readers_get_every_tracks_header() {
    use std::sync::Arc;

    use ngx_rtmp::live::shm::{claim, find, format, HeapRegion, Layout, ReadResult, RingOutput};

    let layout = Layout::with_slots(1 << 20, 2).unwrap();
    let region = Arc::new(HeapRegion::new(layout.total_len()));
    format(&*region, &layout).unwrap();
    let writer = claim(region.clone(), layout, "live/multi", 7, 1000, |_| true).unwrap();
    let mut publisher = Pipeline::published(GopCache::new(true, 1000, 1 << 20), 4096);
    publisher.attach(Box::new(RingOutput::new(writer, 1000)));
    let script: Vec<(u8, u32, Bytes)> = vec![
        (types::VIDEO, 0, Bytes::from_static(AVC_SEQ)),
        (types::VIDEO, 0, fixture("multi_hevc_seq_start")),
        (types::AUDIO, 0, Bytes::from_static(AAC_SEQ)),
        (types::VIDEO, 40, Bytes::from_static(AVC_KEY)),
        (types::VIDEO, 40, fixture("multi_hevc_key_cut")),
    ];
    let publish = |p: &mut Pipeline, (t, ts, b): &(u8, u32, Bytes), now: u64| {
        p.ingest(
            Incoming {
                type_id: *t,
                timestamp: *ts,
                payload: b,
                now: Now {
                    monotonic_ms: now,
                    unix_ms: 1_700_000_000_000,
                },
            },
            false,
        );
    };
    for m in &script {
        publish(&mut publisher, m, 1000);
    }
    // Another worker's reader arrives now; the publisher writes the cached GOP for it with
    // its next message, then a new GOP starts.
    let mut reader = find(region.clone(), layout, "live/multi").unwrap();
    reader.want(1100);
    let later: Vec<(u8, u32, Bytes)> = vec![
        (
            types::VIDEO,
            80,
            Bytes::from_static(&[0x27, 1, 0, 0, 0, 0, 0, 0, 1, 0x41]),
        ),
        (types::VIDEO, 1000, Bytes::from_static(AVC_KEY)),
        (types::VIDEO, 1000, fixture("multi_hevc_key_cut")),
    ];
    for m in &later {
        publish(&mut publisher, m, 1100);
    }
    let mut mirror = Pipeline::mirrored(GopCache::new(true, 1000, 1 << 20), 4096);
    let headers = reader.headers();
    mirror.prime(types::VIDEO, &headers.video.unwrap());
    mirror.prime(types::AUDIO, &headers.audio.unwrap());
    let mut buf = Vec::new();
    let mut delivered_headers = 0;
    let mut records = 0;
    while let ReadResult::Record(r) = reader.next(&mut buf) {
        records += 1;
        let payload = Bytes::copy_from_slice(&buf);
        let d = mirror.ingest(
            Incoming {
                type_id: r.kind,
                timestamp: r.timestamp,
                payload: &payload,
                now: Now {
                    monotonic_ms: 1100,
                    unix_ms: 1_700_000_000_000,
                },
            },
            true,
        );
        if d.is_some_and(|d| d.info.sequence_header) {
            delivered_headers += 1;
        }
    }
    // Replayed GOP (key, track 1's header, track 1's key, inter), then the new GOP (key,
    // track 1's header again, track 1's key).
    assert_eq!(records, 7);
    assert_eq!(delivered_headers, 1, "track 1's header delivered once");
    let form = mirror.form();
    assert_eq!(form.video, LegacyTrack::Native);
    assert!(form.extended.contains(FourCc::new(b"hvc1")));
    let kinds = |p: &mut Pipeline, view| -> Vec<(bool, u8)> {
        p.join_burst(view)
            .map(|(i, _)| (i.sequence_header, i.track))
            .collect()
    };
    // As published: both video headers, the audio header, then the GOP of both tracks.
    assert_eq!(
        kinds(&mut mirror, View::AsPublished),
        [(true, 0), (true, 1), (true, 0), (false, 0), (false, 1)]
    );
    assert_eq!(
        kinds(&mut mirror, View::Legacy),
        [(true, 0), (true, 0), (false, 0)]
    );
}

/// A mirror primed with the slot's copy of the primary header still delivers the record of
/// that header (players that waited for the stream get nothing else); only repeats of the
/// other tracks' headers are dropped.
#[test]
fn mirror_drops_only_repeated_secondary_headers() {
    let mut mirror = Pipeline::mirrored(GopCache::new(true, 1000, 1 << 20), 4096);
    mirror.prime(types::VIDEO, AVC_SEQ);
    let payload = Bytes::from_static(AVC_SEQ);
    let incoming = |payload| Incoming {
        type_id: types::VIDEO,
        timestamp: 0,
        payload,
        now: Now {
            monotonic_ms: 1000,
            unix_ms: 1_700_000_000_000,
        },
    };
    assert!(mirror.ingest(incoming(&payload), true).is_some());
    assert!(mirror.ingest(incoming(&payload), true).is_some());
    let t1 = fixture("multi_hevc_seq_start");
    assert!(mirror.ingest(incoming(&t1), true).is_some());
    assert!(mirror.ingest(incoming(&t1), true).is_none());
    // A changed header of track 1 goes through.
    let mut changed = t1.to_vec();
    *changed.last_mut().unwrap() ^= 1;
    assert!(mirror
        .ingest(incoming(&Bytes::from(changed)), true)
        .is_some());
}
