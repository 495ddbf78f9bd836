//! The abuse suite for Enhanced RTMP, end to end against a real nginx with `hls on`: truncated
//! ExVideoTagHeaders, unknown FourCCs, multitrack with absurd track counts, UI24 track sizes
//! past the message, repeated track ids, ModEx with bogus sizes, configuration records (AVC,
//! HEVC, AV1, VP9, Opus) cut at every byte, frames before their SequenceStart, a codec switch
//! mid-track, SequenceStarts on 255 track ids, Opus with absurd channel mappings, a flood.
//!
//! Each case is one raw publisher: real H.264 + AAC sequence headers, the hostile messages, then
//! 3 s of real media on the same connection. What the server does with a hostile media message
//! is skip it: the connection stays open, the message is counted as unparsable (the closing
//! "stopped publishing" line says how many), one log line names the first problem (then at
//! most one per 10 s), and the real media that follows is written to HLS, which decodes with
//! exactly the real pictures. The hostile messages come from the builders of the `demux_ex`
//! fuzz target (`fuzz/ertmp.rs`), on FFmpeg 9's own configuration records.
//!
//! At the end: no worker crashed or was replaced, the worker's RSS stayed flat, and a normal
//! ffmpeg publish writes HLS that decodes.

#[path = "../fuzz/drivers.rs"]
mod drivers;
mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::Bytes;
use drivers::ertmp::{
    self, TrackBody, AAC, AV1, AVC, CODED_FRAMES, CODED_FRAMES_X, HEVC, MANY_TRACKS,
    MANY_TRACKS_MANY_CODECS, ONE_TRACK, OPUS, SEQUENCE_START, VP9, VVC,
};
use ngx_rtmp::media::Demuxer;
use support::flv::{self, Tag};
use support::hls::decode_errors;
use support::m3u8::{parse_m3u8, M3u8};
use support::nginx::{ffmpeg_publish, run_with_timeout, Conf, Nginx};
use support::rtmp_client::Publisher;
use support::worker::{rss_kb, worker_pid};

/// How much the worker's RSS may grow over the whole test (glibc keeps freed heap; the first
/// publish allocates the HLS muxer once). A leak per hostile message would be far above it:
/// the flood cases send hundreds of thousands of messages.
const RSS_MARGIN_KB: u64 = 24 * 1024;

fn server() -> Nginx {
    Nginx::start(
        "abuse-ertmp",
        &Conf::rtmp(
            "timeout 4s; server { listen 127.0.0.1:{rtmp_port}; chunk_size 4096;
               application live { live on; hls on; hls_path {prefix}/www/hls;
                 hls_fragment 1s; hls_playlist_length 30s; } }",
        ),
    )
}

fn hls_dir(n: &Nginx) -> PathBuf {
    n.prefix.join("www/hls")
}

/// 3 s of H.264 (keyframe every second) + AAC as FLV tags: the headers, then the frames.
struct Media {
    avc_header: Tag,
    aac_header: Tag,
    frames: Vec<Tag>,
}

fn media() -> &'static Media {
    static M: OnceLock<Media> = OnceLock::new();
    M.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target/e2e")
            .join(format!("abuse-ertmp-input-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("input dir");
        let path = dir.join("src.flv");
        let st = Command::new("ffmpeg")
            .args(["-hide_banner", "-nostdin", "-v", "error", "-y"])
            .args(["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25"])
            .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
            .args([
                "-t", "3", "-c:v", "libx264", "-preset", "veryfast", "-threads", "1",
            ])
            .args(["-g", "25", "-keyint_min", "25", "-sc_threshold", "0"])
            .args([
                "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k", "-f", "flv",
            ])
            .arg(&path)
            .stdin(Stdio::null())
            .status()
            .expect("run ffmpeg");
        assert!(st.success(), "ffmpeg could not encode the input");
        let tags: Vec<Tag> = flv::tags(&fs::read(&path).expect("read flv"))
            .into_iter()
            .filter(|t| matches!(t.type_id, 8 | 9) && t.body.len() >= 2)
            .collect();
        let _ = fs::remove_dir_all(&dir);
        let is_header = |t: &Tag| t.body[1] == 0 && (t.video() || t.body[0] >> 4 == 10);
        let header = |video: bool| {
            tags.iter()
                .find(|t| t.video() == video && is_header(t))
                .expect("sequence header")
                .clone()
        };
        Media {
            avc_header: header(true),
            aac_header: header(false),
            frames: tags.iter().filter(|t| !is_header(t)).cloned().collect(),
        }
    })
}

/// A hostile message: video or audio, payload.
type Hostile = (bool, Vec<u8>);

fn v(payload: Vec<u8>) -> Hostile {
    (true, payload)
}

fn a(payload: Vec<u8>) -> Hostile {
    (false, payload)
}

/// Every cut of `msg` from 1 byte to its full length minus one.
fn cuts(msg: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    (1..msg.len()).map(|n| msg[..n].to_vec())
}

fn one_track(video: bool, packet_type: u8, fourcc: [u8; 4], id: u8, body: &[u8]) -> Vec<u8> {
    let t = [TrackBody::new(fourcc, id, body)];
    if video {
        ertmp::video_multi(1, ONE_TRACK, packet_type, &t)
    } else {
        ertmp::audio_multi(ONE_TRACK, packet_type, &t)
    }
}

/// An OpusHead with the given channel count, mapping family, stream counts and table.
fn opus_head(channels: u8, family: u8, streams: u8, coupled: u8, table: &[u8]) -> Vec<u8> {
    let mut h = b"OpusHead".to_vec();
    h.extend_from_slice(&[
        1, channels, 0x38, 1, 0x80, 0xbb, 0, 0, 0, 0, family, streams, coupled,
    ]);
    h.extend_from_slice(table);
    h
}

/// One case: its stream name, the hostile messages, and the problem its log line names.
struct Case {
    name: &'static str,
    messages: Vec<Hostile>,
    logged: &'static str,
    /// Sent before the real sequence headers (else after them).
    first: bool,
}

fn cases() -> Vec<Case> {
    let pic = [0x12u8; 32];
    let hevc = ertmp::record(HEVC);
    let mut out = Vec::new();

    // ExVideoTagHeaders cut before their end (an AVC coded frame: FourCC, composition time).
    let frame = ertmp::video(1, CODED_FRAMES, AVC, &pic);
    out.push(Case {
        name: "truncated",
        messages: cuts(&frame[..8]).map(v).collect(),
        logged: "video message dropped: truncated FourCC",
        first: false,
    });

    // Codecs we do not parse, by FourCC, in every position.
    let mut m = vec![
        v(ertmp::video(1, SEQUENCE_START, VVC, hevc)),
        v(ertmp::video(1, CODED_FRAMES_X, VVC, &pic)),
        v(ertmp::video(1, SEQUENCE_START, *b"vp08", &pic)),
        v(one_track(true, SEQUENCE_START, *b"\0\0\0\0", 1, hevc)),
        a(ertmp::audio(SEQUENCE_START, *b"zzzz", &pic)),
        a(one_track(
            false,
            CODED_FRAMES,
            *b"\xff\xfe\x00\x01",
            2,
            &pic,
        )),
    ];
    m.push(v(ertmp::video_multi(
        1,
        MANY_TRACKS_MANY_CODECS,
        SEQUENCE_START,
        &[TrackBody::new(HEVC, 1, hevc), TrackBody::new(VVC, 2, hevc)],
    )));
    out.push(Case {
        name: "fourcc",
        messages: m,
        logged: "video message dropped: unsupported FourCC \"vvc1\"",
        first: false,
    });

    // Multitrack with more tracks than the limit (17, 100, 255), sizes past the message, and
    // repeated track ids.
    let mut m: Vec<Hostile> = [17usize, 100, 255]
        .iter()
        .map(|&count| {
            let tracks: Vec<TrackBody<'_>> = (0..count)
                .map(|i| TrackBody::new(HEVC, i as u8, &pic[..1]))
                .collect();
            v(ertmp::video_multi(1, MANY_TRACKS, CODED_FRAMES_X, &tracks))
        })
        .collect();
    for size in [0xff_ffffu32, 33, 1 << 16] {
        let mut t = TrackBody::new(AVC, 0, &pic);
        t.size = Some(size);
        m.push(v(ertmp::video_multi(1, MANY_TRACKS, CODED_FRAMES_X, &[t])));
        m.push(a(ertmp::audio_multi(
            MANY_TRACKS,
            CODED_FRAMES,
            &[TrackBody { fourcc: AAC, ..t }],
        )));
    }
    m.push(v(ertmp::video_multi(
        1,
        MANY_TRACKS,
        CODED_FRAMES_X,
        &[TrackBody::new(AVC, 3, &pic), TrackBody::new(AVC, 3, &pic)],
    )));
    out.push(Case {
        name: "tracks",
        messages: m,
        logged: "video message dropped: invalid too many tracks",
        first: false,
    });

    // ModEx: a size past the message (UI8 and UI16 forms), a TimestampOffsetNano too short or
    // too large, ModEx chains that never end.
    let frame = ertmp::video(1, CODED_FRAMES, AVC, &pic);
    let mut m = vec![
        v(ertmp::with_mod_ex(&frame, 0, &[0, 0, 1], Some(200))),
        v(ertmp::with_mod_ex(&frame, 0, &[0, 0, 1], Some(60_000))),
        v(ertmp::with_mod_ex(&frame, 0, &[0], None)),
        v(ertmp::with_mod_ex(&frame, 0, &[0xff, 0xff, 0xff], None)),
    ];
    let mut chain = frame.clone();
    for _ in 0..1000 {
        chain = ertmp::with_mod_ex(&chain, 5, &[1], None);
    }
    m.push(v(chain[..chain.len() - frame.len() + 1].to_vec()));
    out.push(Case {
        name: "modex",
        messages: m,
        logged: "video message dropped: truncated video ModEx",
        first: false,
    });

    // Configuration records cut at every byte, each on a track of its own (track 1: a cut that
    // is accepted, its optional tail gone, makes a track nobody reads).
    let mut m = Vec::new();
    for fourcc in [AVC, HEVC, AV1, VP9] {
        let rec = ertmp::record(fourcc);
        m.extend((0..rec.len()).map(|n| v(one_track(true, SEQUENCE_START, fourcc, 1, &rec[..n]))));
    }
    let rec = ertmp::record(OPUS);
    m.extend((0..rec.len()).map(|n| a(one_track(false, SEQUENCE_START, OPUS, 1, &rec[..n]))));
    let rec = ertmp::record(AAC);
    m.extend((0..rec.len()).map(|n| a(one_track(false, SEQUENCE_START, AAC, 1, &rec[..n]))));
    out.push(Case {
        name: "records",
        messages: m,
        logged: "video message dropped: truncated AVC config version",
        first: false,
    });

    // Frames before their SequenceStart, then a codec switch on track 2: HEVC, then AV1, then
    // HEVC frames again (refused), AV1 frames (taken, on a track HLS does not carry).
    out.push(Case {
        name: "order",
        messages: vec![
            v(one_track(true, CODED_FRAMES_X, HEVC, 5, &pic)),
            a(one_track(false, CODED_FRAMES, AAC, 3, &pic)),
            v(one_track(true, SEQUENCE_START, HEVC, 2, hevc)),
            v(one_track(true, CODED_FRAMES_X, HEVC, 2, &pic)),
            v(one_track(true, SEQUENCE_START, AV1, 2, ertmp::record(AV1))),
            v(one_track(true, CODED_FRAMES_X, HEVC, 2, &pic)),
            v(one_track(true, CODED_FRAMES_X, AV1, 2, &pic)),
        ],
        logged: "video message dropped: video frame before its sequence header",
        first: false,
    });

    // SequenceStarts on 255 track ids (the demuxer keeps 16 besides the default track), video
    // and audio, three times over.
    let mut m = Vec::new();
    for _ in 0..3 {
        for id in 1..=255u8 {
            m.push(v(one_track(true, SEQUENCE_START, HEVC, id, hevc)));
            m.push(a(one_track(
                false,
                SEQUENCE_START,
                OPUS,
                id,
                ertmp::record(OPUS),
            )));
        }
    }
    out.push(Case {
        name: "flood255",
        messages: m,
        logged: "video message dropped: invalid too many video tracks",
        first: true,
    });

    // Opus heads with absurd channel mappings.
    out.push(Case {
        name: "opus",
        messages: vec![
            a(one_track(
                false,
                SEQUENCE_START,
                OPUS,
                1,
                &opus_head(255, 1, 255, 255, &[0; 255]),
            )),
            a(one_track(
                false,
                SEQUENCE_START,
                OPUS,
                1,
                &opus_head(255, 255, 200, 100, &[0; 255]),
            )),
            a(one_track(
                false,
                SEQUENCE_START,
                OPUS,
                1,
                &opus_head(8, 1, 1, 2, &[0; 8]),
            )),
            a(one_track(
                false,
                SEQUENCE_START,
                OPUS,
                1,
                &opus_head(200, 255, 1, 0, &[0; 10]),
            )),
            a(one_track(
                false,
                SEQUENCE_START,
                OPUS,
                1,
                &opus_head(3, 0, 1, 1, &[]),
            )),
        ],
        logged: "audio message dropped: invalid OpusHead stream counts",
        first: false,
    });

    // A flood: 20000 refused messages log one line.
    out.push(Case {
        name: "flood",
        messages: (0..20_000)
            .map(|_| v(ertmp::video(1, CODED_FRAMES_X, VVC, &pic)))
            .collect(),
        logged: "video message dropped: unsupported FourCC \"vvc1\"",
        first: false,
    });
    out
}

/// How many messages of `case` a demuxer refuses, the real sequence headers included (which it
/// must take: after a flood of track ids too, the default track gets in).
fn refused(m: &Media, case: &Case) -> u64 {
    let headers = [
        (true, m.avc_header.body.clone()),
        (false, m.aac_header.body.clone()),
    ];
    let all: Vec<&Hostile> = if case.first {
        case.messages.iter().chain(&headers).collect()
    } else {
        headers.iter().chain(&case.messages).collect()
    };
    let mut d = Demuxer::new();
    let mut refused = 0;
    for (video, p) in all {
        let p = Bytes::from(p.clone());
        let res = if *video {
            d.push_video(0, p).map(|_| ())
        } else {
            d.push_audio(0, p).map(|_| ())
        };
        refused += u64::from(res.is_err());
    }
    assert!(
        d.video_config().is_some() && d.audio_config().is_some(),
        "{}: headers refused",
        case.name
    );
    refused
}

fn wait_endlist(n: &Nginx, name: &str) -> M3u8 {
    let path = hls_dir(n).join(format!("{name}.m3u8"));
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let pl = parse_m3u8(&fs::read_to_string(&path).unwrap_or_default());
        if pl.endlist && pl.errors.is_empty() {
            return pl;
        }
        assert!(
            Instant::now() < deadline,
            "{name}: no finished playlist\n{}",
            n.error_log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Video packets ffprobe reads from a playlist.
fn video_packets(path: &Path) -> usize {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-count_packets"])
        .args(["-show_entries", "stream=nb_read_packets", "-of", "csv=p=0"])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .expect("run ffprobe");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("ffprobe {}: {:?}", path.display(), out))
}

/// Publishes the real headers, the case's messages, then the real media, and checks what the
/// server made of it, and its log lines: one names the first problem, a flood logs no more
/// than one per 10 s.
fn run_case(n: &Nginx, m: &Media, case: &Case) {
    let started = Instant::now();
    let mut p = Publisher::live(n.rtmp_port, case.name);
    let headers = [m.avc_header.clone(), m.aac_header.clone()];
    let hostile = case.messages.iter().map(|(video, body)| Tag {
        type_id: if *video { 9 } else { 8 },
        ts: 0,
        body: body.clone(),
    });
    let mut tags: Vec<Tag> = if case.first {
        hostile.chain(headers).collect()
    } else {
        headers.into_iter().chain(hostile).collect()
    };
    tags.extend(m.frames.iter().cloned());
    for batch in tags.chunks(500) {
        p.tags(batch);
    }
    p.finish();
    let lasted = started.elapsed();

    // The connection stayed open to the end (the server closed it after our half-close, once
    // it had read everything): the stream's closing line counts every refused message.
    let expected = refused(m, case);
    assert!(expected > 0, "{}: nothing hostile", case.name);
    let closing = format!("stopped publishing \"live/{}\"", case.name);
    let log = n.error_log();
    let line = log
        .lines()
        .find(|l| l.contains(&closing))
        .unwrap_or_else(|| panic!("{}: no closing line\n{log}", case.name));
    assert!(
        line.contains(&format!(", {expected} unparsable)")),
        "{}: {expected} refused messages expected: {line}",
        case.name
    );
    assert!(
        !log.lines()
            .any(|l| l.contains("closed:") && l.contains(&format!("live/{}", case.name))),
        "{}: the publisher was closed\n{log}",
        case.name
    );

    // The real media made it to HLS: every picture, no hostile one, decoding cleanly.
    // A case whose configurations made more video tracks (an accepted cut, SequenceStarts on
    // other ids) gets one rendition per track: the real media is track 0's.
    let media = if hls_dir(n).join(format!("{}_t0.m3u8", case.name)).exists() {
        format!("{}_t0", case.name)
    } else {
        case.name.to_string()
    };
    let pl = wait_endlist(n, &media);
    assert!(pl.entries.len() >= 2, "{}: {:?}", case.name, pl.entries);
    let playlist = hls_dir(n).join(format!("{media}.m3u8"));
    let errs = decode_errors(&playlist);
    assert!(
        errs.is_empty(),
        "{}: HLS does not decode: {errs}",
        case.name
    );
    // Pictures: NALU packets (not the closing end of sequence).
    let real = m
        .frames
        .iter()
        .filter(|t| t.video() && t.body[1] == 1)
        .count();
    assert_eq!(
        video_packets(&playlist),
        real,
        "{}: video packets in HLS",
        case.name
    );

    let stream = format!("stream \"live/{}\": ", case.name);
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(&stream) && l.contains("message dropped:"))
        .collect();
    eprintln!("{}: {} refused, logged: {lines:?}", case.name, expected);
    assert!(
        lines
            .first()
            .is_some_and(|l| l.contains(&format!("{stream}{}", case.logged))),
        "{}: the first line does not name {:?}: {lines:?}",
        case.name,
        case.logged
    );
    let bound = 1 + lasted.as_secs() as usize / 10;
    assert!(
        lines.len() <= bound,
        "{}: {} lines in {lasted:?}",
        case.name,
        lines.len()
    );
}

#[test]
fn hostile_enhanced_rtmp_messages_are_skipped_and_logged() {
    let n = server();
    let m = media();
    let worker = worker_pid(&n);
    let cases = cases();
    // A first, clean stream: the worker's one-time allocations (HLS muxer, hub) happen here.
    run_case(&n, m, &cases[0]);
    let rss0 = rss_kb(worker);
    for case in &cases[1..] {
        run_case(&n, m, case);
    }
    // The flood cases once more: memory stays where it was after their first run.
    let rss1 = rss_kb(worker);
    for case in cases.iter().filter(|c| c.name.starts_with("flood")) {
        let again = Case {
            name: if case.name == "flood" {
                "flood-again"
            } else {
                "flood255-again"
            },
            messages: case.messages.clone(),
            logged: case.logged,
            first: case.first,
        };
        run_case(&n, m, &again);
    }
    let rss2 = rss_kb(worker);
    eprintln!("worker RSS: {rss0} kB after the first case, {rss1} kB after all, {rss2} kB after the floods again");
    assert!(
        rss1 <= rss0 + RSS_MARGIN_KB,
        "RSS grew from {rss0} to {rss1} kB"
    );
    assert!(
        rss2 <= rss1 + 4 * 1024,
        "the floods again: RSS grew from {rss1} to {rss2} kB"
    );

    // The worker never crashed nor was replaced, and a normal publish works.
    n.assert_no_crash();
    assert_eq!(
        worker_pid(&n),
        worker,
        "the worker was replaced\n{}",
        n.error_log()
    );
    let (ok, err) = run_with_timeout(
        ffmpeg_publish(&n.rtmp_url("live", "after"), 3),
        Duration::from_secs(60),
    );
    assert!(
        ok,
        "normal publish after the abuse failed: {err}\n{}",
        n.error_log()
    );
    let pl = wait_endlist(&n, "after");
    assert!(pl.entries.len() >= 2);
    let errs = decode_errors(&hls_dir(&n).join("after.m3u8"));
    assert!(errs.is_empty(), "after: HLS does not decode: {errs}");
    n.assert_no_crash();
}
