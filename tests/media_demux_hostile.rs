//! The demuxer and the live pipeline under hostile Enhanced RTMP message sequences: the track
//! limit, refused messages leaving no trace, configurations cut at every byte, codec switches,
//! and a randomized run of the `demux_ex` / `pipeline_ex` fuzz drivers (the seeds of
//! `tests/corpus/demux_ex` and `tests/corpus/pipeline_ex` are written here with
//! `REGENERATE_CORPUS=1`).

#[path = "../fuzz/drivers.rs"]
mod drivers;

use bytes::Bytes;
use drivers::ertmp::{self, TrackBody, AV1, AVC, HEVC, OPUS, VP9, VVC};
use ngx_rtmp::files::Now;
use ngx_rtmp::live::{GopCache, Incoming, Pipeline, PipelineEvent, View, BAD_MESSAGE_REPORT_MS};
use ngx_rtmp::media::ex_header::MAX_TRACKS;
use ngx_rtmp::media::{Demuxer, MediaError, Track};

fn b(v: Vec<u8>) -> Bytes {
    Bytes::from(v)
}

fn seq_on(id: u8, fourcc: [u8; 4]) -> Bytes {
    let t = TrackBody::new(fourcc, id, ertmp::record(fourcc));
    b(ertmp::video_multi(
        1,
        ertmp::ONE_TRACK,
        ertmp::SEQUENCE_START,
        &[t],
    ))
}

fn frame_on(id: u8, fourcc: [u8; 4]) -> Bytes {
    let t = TrackBody::new(fourcc, id, &[0x12; 8]);
    b(ertmp::video_multi(
        1,
        ertmp::ONE_TRACK,
        ertmp::CODED_FRAMES_X,
        &[t],
    ))
}

#[test]
fn a_flood_of_track_ids_stops_at_the_limit_and_the_default_track_still_gets_in() {
    let mut d = Demuxer::new();
    let mut refused = 0;
    for id in 1..=255u8 {
        match d.push_video(0, seq_on(id, HEVC)) {
            Ok(_) => {}
            Err(e) => {
                assert_eq!(e, MediaError::Invalid("too many video tracks"));
                refused += 1;
            }
        }
    }
    assert_eq!(d.video_tracks().len(), MAX_TRACKS);
    assert_eq!(refused, 255 - MAX_TRACKS);
    // The same for audio, Opus frames making tracks without a configuration.
    for id in 1..=255u8 {
        let t = TrackBody::new(OPUS, id, &[0xfc, 0xff, 0xfe]);
        let msg = ertmp::audio_multi(ertmp::ONE_TRACK, ertmp::CODED_FRAMES, &[t]);
        let _ = d.push_audio(0, b(msg));
    }
    assert_eq!(d.audio_tracks().len(), MAX_TRACKS);
    // A legacy publisher's default track is admitted past the limit: the stream goes on.
    d.push_video(0, b(ertmp::legacy_avc_header())).unwrap();
    assert_eq!(d.video().unwrap().id, 0);
    assert!(d.video_config().is_some());
    let f = d
        .push_video(40, b(vec![0x17, 1, 0, 0, 0, 0, 0, 0, 2, 0x65, 0x88]))
        .unwrap();
    assert_eq!((f.len(), f[0].track_id), (1, 0));
    d.push_audio(0, b(ertmp::legacy_aac_header())).unwrap();
    assert_eq!(d.audio_tracks().len(), MAX_TRACKS + 1);
    assert_eq!(d.audio().unwrap().id, 0);
}

#[test]
fn a_refused_multitrack_message_leaves_no_trace() {
    let mut d = Demuxer::new();
    d.push_video(0, seq_on(1, HEVC)).unwrap();
    // ManyTracksManyCodecs: a good AV1 record on track 2, then a cut VP9 one on track 3.
    let vp9 = ertmp::record(VP9);
    let msg = ertmp::video_multi(
        1,
        ertmp::MANY_TRACKS_MANY_CODECS,
        ertmp::SEQUENCE_START,
        &[
            TrackBody::new(AV1, 2, ertmp::record(AV1)),
            TrackBody::new(VP9, 3, &vp9[..3]),
        ],
    );
    assert!(d.push_video(0, b(msg)).is_err());
    assert!(d.video_track(2).is_none(), "track 2 was configured");
    // ManyTracks frames: track 1 configured, track 7 not: no frame at all.
    let msg = ertmp::video_multi(
        1,
        ertmp::MANY_TRACKS,
        ertmp::CODED_FRAMES_X,
        &[
            TrackBody::new(HEVC, 1, &[1, 2, 3]),
            TrackBody::new(HEVC, 7, &[1, 2, 3]),
        ],
    );
    assert_eq!(
        d.push_video(0, b(msg)).unwrap_err(),
        MediaError::MissingSequenceHeader(Track::Video)
    );
    assert!(d.frames().is_empty());
    // Sixteen new tracks when fifteen fit: refused whole.
    let tracks: Vec<TrackBody<'_>> = (2..18)
        .map(|id| TrackBody::new(HEVC, id, ertmp::record(HEVC)))
        .collect();
    let msg = ertmp::video_multi(1, ertmp::MANY_TRACKS, ertmp::SEQUENCE_START, &tracks);
    assert_eq!(
        d.push_video(0, b(msg)).unwrap_err(),
        MediaError::Invalid("too many video tracks")
    );
    assert_eq!(d.video_tracks().len(), 1);
    // Fifteen fit.
    let msg = ertmp::video_multi(1, ertmp::MANY_TRACKS, ertmp::SEQUENCE_START, &tracks[..15]);
    d.push_video(0, b(msg)).unwrap();
    assert_eq!(d.video_tracks().len(), MAX_TRACKS);
}

#[test]
fn hostile_framing_is_refused_by_the_parser() {
    let mut d = Demuxer::new();
    d.push_video(0, seq_on(0, HEVC)).unwrap();
    let rec = ertmp::record(HEVC);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("unknown FourCC", ertmp::video(1, 0, VVC, rec)),
        (
            "17 tracks",
            ertmp::video_multi(
                1,
                ertmp::MANY_TRACKS,
                ertmp::CODED_FRAMES_X,
                &(0..17)
                    .map(|id| TrackBody::new(HEVC, id, &[1]))
                    .collect::<Vec<_>>(),
            ),
        ),
        ("size past the message", {
            let mut t = TrackBody::new(HEVC, 0, &[1, 2, 3]);
            t.size = Some(0xff_ffff);
            ertmp::video_multi(1, ertmp::MANY_TRACKS, ertmp::CODED_FRAMES_X, &[t])
        }),
        (
            "repeated track id",
            ertmp::video_multi(
                1,
                ertmp::MANY_TRACKS,
                ertmp::CODED_FRAMES_X,
                &[TrackBody::new(HEVC, 0, &[1]), TrackBody::new(HEVC, 0, &[1])],
            ),
        ),
        (
            "ModEx size past the message",
            ertmp::with_mod_ex(
                &ertmp::video(1, 1, HEVC, &[1; 8]),
                0,
                &[0, 0, 1],
                Some(4000),
            ),
        ),
        ("truncated header", vec![0x91, b'h', b'v']),
    ];
    for (what, msg) in cases {
        let full = b(msg);
        for cut in 1..=full.len() {
            let r = d.push_video(0, full.slice(..cut));
            assert!(r.is_err() || r.unwrap().len() <= 1, "{what} cut at {cut}");
        }
        assert!(d.push_video(0, full).is_err(), "{what} accepted");
        assert_eq!(d.video_tracks().len(), 1, "{what}");
    }
}

#[test]
fn records_cut_at_every_byte_and_codec_switches() {
    for fourcc in [AVC, HEVC, AV1, VP9, OPUS] {
        let rec = ertmp::record(fourcc);
        let audio = fourcc == OPUS;
        for cut in 0..rec.len() {
            let mut d = Demuxer::new();
            let msg = if audio {
                ertmp::audio(0, fourcc, &rec[..cut])
            } else {
                ertmp::video(1, 0, fourcc, &rec[..cut])
            };
            let r = if audio {
                d.push_audio(0, b(msg)).map(<[_]>::len)
            } else {
                d.push_video(0, b(msg)).map(<[_]>::len)
            };
            match r {
                // A refused cut makes no track; an accepted one (an optional tail cut off, or
                // Opus's empty head) makes one.
                Err(_) => assert!(d.video().is_none() && d.audio().is_none()),
                Ok(n) => assert_eq!(n, 0),
            }
            ertmp::check_tables(&d);
        }
    }
    // A codec switch on one track: a new generation; frames of the old codec are refused.
    let mut d = Demuxer::new();
    d.push_video(0, seq_on(3, HEVC)).unwrap();
    d.push_video(0, frame_on(3, HEVC)).unwrap();
    d.push_video(0, seq_on(3, AV1)).unwrap();
    assert_eq!(d.video_track(3).unwrap().generation, 2);
    assert!(d.push_video(0, frame_on(3, HEVC)).is_err());
    assert_eq!(d.push_video(0, frame_on(3, AV1)).unwrap().len(), 1);
}

#[test]
fn opus_with_an_absurd_channel_mapping_is_refused() {
    let head = ertmp::record(OPUS);
    let mut d = Demuxer::new();
    for (channels, family, streams, coupled, table) in [
        (255u8, 1u8, 255u8, 255u8, vec![0u8; 255]), // family 1 past 8 channels, M + N > 255
        (255, 255, 200, 100, vec![0; 255]),         // M + N > 255
        (2, 1, 1, 2, vec![0, 1]),                   // more coupled than streams
        (200, 255, 1, 0, vec![0; 10]),              // table shorter than the channels
    ] {
        let mut h = head[..8].to_vec();
        h.extend_from_slice(&[1, channels, 0x38, 1, 0x80, 0xbb, 0, 0, 0, 0, family]);
        h.extend_from_slice(&[streams, coupled]);
        h.extend_from_slice(&table);
        assert!(d.push_audio(0, b(ertmp::audio(0, OPUS, &h))).is_err());
    }
    assert!(d.audio().is_none());
}

fn now(ms: u64) -> Now {
    Now {
        monotonic_ms: ms,
        unix_ms: 1_700_000_000_000 + ms,
    }
}

#[test]
fn refused_messages_are_reported_at_most_once_per_interval() {
    let mut p = Pipeline::published(GopCache::new(true, 100, 1 << 20), 4096);
    let bad = b(ertmp::video(1, 1, VVC, &[1, 2, 3]));
    let mut reports = Vec::new();
    // 25 s of 100 refused messages a second.
    for i in 0..2_500u64 {
        let msg = Incoming {
            type_id: 9,
            timestamp: (i * 10) as u32,
            payload: &bad,
            now: now(1_000 + i * 10),
        };
        p.ingest(msg, false);
        while let Some(e) = p.poll_event() {
            reports.push(e);
        }
    }
    assert_eq!(p.counters().bad_messages, 2_500);
    let expected_reports = 25_000 / BAD_MESSAGE_REPORT_MS + 1;
    assert_eq!(reports.len() as u64, expected_reports, "{reports:?}");
    let mut total = 0;
    for r in &reports {
        let PipelineEvent::BadMessage {
            error, suppressed, ..
        } = r
        else {
            panic!("{r:?}");
        };
        assert_eq!(error.to_string(), "unsupported FourCC \"vvc1\"");
        total += 1 + suppressed;
    }
    // Each report counts those dropped since the previous one (the latest ones wait for the
    // next report).
    assert!(total <= 2_500 && total > 2_000, "{total}");
}

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// The seeds, mutated at random (byte flips, inserts, cuts, splices) and run through the
/// drivers: a quick stand-in for the fuzzer in plain `cargo test`.
#[test]
fn randomized_programs_through_the_drivers() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let seeds: Vec<Vec<u8>> = seed_programs().into_iter().map(|(_, p)| p).collect();
    let iterations = 3_000;
    for i in 0..iterations {
        let mut p = seeds[i % seeds.len()].clone();
        for _ in 0..1 + rng.next() % 8 {
            let pos = (rng.next() as usize) % (p.len() + 1);
            match rng.next() % 4 {
                0 if pos < p.len() => p[pos] ^= 1 << (rng.next() % 8),
                1 => p.insert(pos, rng.next() as u8),
                2 => p.truncate(pos.max(3)),
                _ => {
                    let other = &seeds[(rng.next() as usize) % seeds.len()];
                    let from = (rng.next() as usize) % other.len();
                    p.splice(pos..pos, other[from..].iter().take(30).copied());
                }
            }
        }
        drivers::ertmp::demux_ex(&p);
        let cfg = rng.next() as u8;
        drivers::ertmp::pipeline_ex(&[&[cfg][..], &p].concat());
    }
}

/// The seed programs of `demux_ex` (see `ertmp::ops` for the operations).
fn seed_programs() -> Vec<(&'static str, Vec<u8>)> {
    let mut v = Vec::new();
    // HEVC + AAC: SequenceStarts, then keyframe / inter frames and AAC frames.
    let mut p = vec![0, 1, 0, 6, 1, 0];
    for k in 0..30u8 {
        p.extend_from_slice(&[2, 1, if k % 10 == 0 { 0x31 } else { 0x20 }, 9, 3, 0]);
    }
    v.push(("hevc_aac", p));
    // AV1 + Opus, VP9 + Opus.
    for (name, codec) in [("av1_opus", 2u8), ("vp9_opus", 3)] {
        let mut p = vec![0, codec, 0, 6, 0, 0];
        for k in 0..30u8 {
            p.extend_from_slice(&[2, codec, u8::from(k % 10 == 0), 8, 0, 0]);
        }
        v.push((name, p));
    }
    // Multitrack: legacy AVC on track 0, HEVC on 1, AV1 on 2, frames on each, a ManyTracks
    // SequenceStart and frames, a ManyTracksManyCodecs one.
    let mut p = vec![9, 0, 0, 1, 1, 1, 1, 2, 2, 9, 2, 0, 7, 1, 0];
    for _ in 0..10 {
        p.extend_from_slice(&[9, 1, 0, 3, 1, 1, 3, 2, 2, 9, 3, 0, 8, 1, 0]);
    }
    p.extend_from_slice(&[4, 3, 0x10, 4, 3, 0x11, 5, 4, 0x20, 5, 4, 0x21]);
    v.push(("multitrack", p));
    // 255 track ids, then the default track.
    let mut p = Vec::new();
    for id in 0..=255u8 {
        p.extend_from_slice(&[1, id, 1, 7, id, 0]);
    }
    p.extend_from_slice(&[9, 0, 0, 9, 1, 0, 9, 2, 0, 9, 3, 0]);
    v.push(("track_flood", p));
    // Every cut of the records, video and audio.
    let mut p = Vec::new();
    for cut in 1..120u8 {
        p.extend_from_slice(&[0, cut % 4, cut, 6, cut % 2, cut]);
    }
    v.push(("record_cuts", p));
    // ModEx: a timestamp offset, an unknown type, sizes that lie.
    v.push((
        "mod_ex",
        vec![
            0, 1, 0, 11, 0x03, 0, 2, 1, 0x31, 11, 0x03, 0, 11, 0x15, 0, 11, 0x03, 200, 11, 0x0f, 2,
        ],
    ));
    // Frames before SequenceStarts, codec switches, lying ManyTracks sizes, raw messages.
    v.push((
        "disorder",
        vec![
            2, 1, 1, 3, 4, 1, 8, 5, 0, 8, 5, 1, 0, 1, 0, 2, 2, 1, 0, 2, 0, 2, 2, 1, 4, 3, 0x41, 5,
            3, 0xe1, 10, 6, 1, 0x96, 0x00, b'h', b'v', b'c', 0x31, 10, 4, 0, 0x95, 0x20,
        ],
    ));
    v
}

/// With `REGENERATE_CORPUS=1`: writes the seeds of `tests/corpus/demux_ex` and
/// `tests/corpus/pipeline_ex` (the latter with config bytes: MPEG-TS and fMP4 HLS, clock
/// steps of 0 and 100 ms).
#[test]
fn regenerate_seeds_on_request() {
    if std::env::var_os("REGENERATE_CORPUS").is_none() {
        return;
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    for (name, p) in seed_programs() {
        std::fs::write(root.join("demux_ex").join(name), &p).unwrap();
        for cfg in [0x12u8, 0x1a] {
            let file = format!("{name}_{cfg:02x}");
            std::fs::write(
                root.join("pipeline_ex").join(file),
                [&[cfg][..], &p].concat(),
            )
            .unwrap();
        }
    }
}

#[test]
fn a_malformed_sequence_start_does_not_replace_the_cached_header() {
    let mut p = Pipeline::published(GopCache::new(true, 100, 1 << 20), 4096);
    let rec = ertmp::record(HEVC);
    let good = b(ertmp::video(1, ertmp::SEQUENCE_START, HEVC, rec));
    let cut = b(ertmp::video(1, ertmp::SEQUENCE_START, HEVC, &rec[..10]));
    let key = b(ertmp::video(1, ertmp::CODED_FRAMES, HEVC, &[0x26; 16]));
    // A keyframe cut inside its composition time.
    let bad_key = b(ertmp::video(1, ertmp::CODED_FRAMES, HEVC, &[])[..7].to_vec());
    let unknown = b(ertmp::video(1, ertmp::SEQUENCE_START, VVC, rec));
    let send = |p: &mut Pipeline, payload: &Bytes, ts: u32| {
        let msg = Incoming {
            type_id: 9,
            timestamp: ts,
            payload,
            now: now(1_000 + u64::from(ts)),
        };
        p.ingest(msg, false);
    };
    send(&mut p, &good, 0);
    send(&mut p, &key, 40);
    send(&mut p, &cut, 80);
    send(&mut p, &bad_key, 120);
    assert_eq!(p.gop().video_header().unwrap().timestamp, 0);
    let gop: Vec<u32> = p
        .join_burst(View::AsPublished)
        .map(|(_, m)| m.timestamp)
        .collect();
    assert_eq!(
        gop,
        [0, 40, 80, 120],
        "header, the GOP from the real keyframe"
    );
    assert_eq!(p.counters().bad_messages, 2);
    // A codec we do not parse passes to players as it came: its header is cached.
    send(&mut p, &unknown, 160);
    assert_eq!(p.gop().video_header().unwrap().timestamp, 160);
}

#[test]
fn a_new_primary_track_is_a_new_generation() {
    // HEVC on track 1 is the primary track until a legacy AVC header makes track 0: the
    // outputs must see a change of configuration.
    let mut d = Demuxer::new();
    d.push_video(0, seq_on(1, HEVC)).unwrap();
    let before = d.video_generation();
    d.push_video(0, b(ertmp::legacy_avc_header())).unwrap();
    assert_eq!(d.video().unwrap().id, 0);
    assert_ne!(d.video_generation(), before);
    // The same for audio: Opus on track 2, then AAC on the default track.
    d.push_audio(
        0,
        b(ertmp::audio_multi(
            ertmp::ONE_TRACK,
            ertmp::SEQUENCE_START,
            &[TrackBody::new(OPUS, 2, ertmp::record(OPUS))],
        )),
    )
    .unwrap();
    let before = d.audio_generation();
    d.push_audio(0, b(ertmp::legacy_aac_header())).unwrap();
    assert_ne!(d.audio_generation(), before);
    // A repeated identical configuration is no new generation.
    let g = d.video_generation();
    d.push_video(0, b(ertmp::legacy_avc_header())).unwrap();
    assert_eq!(d.video_generation(), g);
}
