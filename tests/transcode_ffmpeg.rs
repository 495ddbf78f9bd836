//! A transcoded rendition with a real ffmpeg, without nginx: a 720p30 source (x264 with
//! B-frames, 2 s GOP, AAC) goes through a source pipeline whose HLS output leads a cut
//! schedule and whose `EncoderFeed` (attached late, mid-GOP) feeds ffmpeg run with the
//! rendition's `ffmpeg_args`; ffmpeg's stdout comes back through `RenditionReader` (in pieces
//! of every size) into a rendition pipeline whose HLS output follows the schedule.
//!
//! Checked: the rendition's timestamps are the source's, its keyframes are exactly the
//! source's from the GOP the encoder joined at, and every media sequence number both
//! playlists list starts at the same PTS and has the same EXTINF (within one frame), over more
//! than 20 s, with the same TARGETDURATION.

mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use ngx_rtmp::hls::{CutSchedule, HlsConfig, HlsStream, VIDEO_PID};
use ngx_rtmp::live::{GopCache, Incoming, OutputOp, Pipeline};
use ngx_rtmp::media::{FlvReader, FlvTag};
use ngx_rtmp::transcode::{
    ffmpeg_args, plan, EncoderFeed, Rendition, RenditionReader, TimeBase, DEFAULT_MAX_PENDING,
};
use support::fileops::Fs;
use support::m3u8::parse_m3u8;
use support::media::now;
use support::ts::parse_ts;

/// One frame at 30 fps, in ms and in 90 kHz ticks.
const FRAME_MS: u64 = 34;
const FRAME_TICKS: u64 = 3003;
/// The encoder joins the source here (mid-GOP: it starts with the cached GOP).
const JOIN_MS: u32 = 5_500;

fn tmpdir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ngx-rtmp-transcode-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn source_flv(dir: &std::path::Path, seconds: u32) -> Vec<u8> {
    let path = dir.join("src.flv");
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
        .args([
            "-t",
            &seconds.to_string(),
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
        ])
        .args(["-g", "60", "-keyint_min", "60", "-sc_threshold", "0"])
        .args([
            "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", "-f", "flv",
        ])
        .arg(&path)
        .output()
        .expect("ffmpeg is required (scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(path).unwrap()
}

fn tags(bytes: &[u8]) -> Vec<FlvTag> {
    let mut r = FlvReader::new(16 << 20);
    r.feed(bytes);
    let mut v = Vec::new();
    while let Some(t) = r.poll().unwrap() {
        v.push(t);
    }
    assert_eq!(r.buffered(), 0);
    v
}

/// A video keyframe picture (not a sequence header).
fn is_key(t: &FlvTag) -> bool {
    t.type_id == 9 && t.body.first() == Some(&0x17) && t.body.get(1) == Some(&1)
}

/// Presentation time of a video tag: timestamp + composition time.
fn pts(t: &FlvTag) -> u64 {
    let b = &t.body;
    let cts = i32::from_be_bytes([b[2], b[3], b[4], 0]) >> 8;
    (i64::from(t.timestamp) + i64::from(cts)) as u64
}

fn hls(name: &str) -> HlsStream {
    let cfg = HlsConfig {
        fragment_ms: 3_000,
        playlist_length_ms: 600_000,
        ..HlsConfig::default()
    };
    HlsStream::new(cfg, name, None, now(0)).unwrap()
}

fn pipeline() -> Pipeline {
    Pipeline::published(GopCache::new(true, 2048, 16 << 20), 4096)
}

fn incoming(t: &FlvTag) -> Incoming<'_> {
    Incoming {
        type_id: t.type_id,
        timestamp: t.timestamp,
        payload: &t.body,
        now: now(u64::from(t.timestamp)),
    }
}

/// Segment starts (first video PTS, 90 kHz) and EXTINF (ms) by media sequence number.
fn segments(fs: &Fs, playlist: &str) -> (Option<u64>, BTreeMap<u64, (u64, u64)>) {
    let p = parse_m3u8(
        fs.files
            .get(playlist)
            .map(|b| std::str::from_utf8(b).unwrap())
            .unwrap(),
    );
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    let mut out = BTreeMap::new();
    for e in &p.entries {
        let ts = parse_ts(fs.segment(&e.uri));
        let start = ts
            .pes
            .iter()
            .find(|p| p.pid == VIDEO_PID)
            .and_then(|p| p.pts)
            .unwrap_or_else(|| panic!("{} has no video", e.uri));
        out.insert(e.seq, (start, e.duration_ms));
    }
    (p.target, out)
}

/// Runs ffmpeg with `args` on `input`; its stdout.
fn encode(args: &[String], input: Vec<u8>) -> Vec<u8> {
    let mut child = Command::new("ffmpeg")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        for piece in input.chunks(64 * 1024) {
            stdin.write_all(piece).unwrap();
        }
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The FLV an `EncoderFeed` attached from the start makes of `source`.
fn feed_all(source: &[FlvTag], time: &TimeBase) -> Vec<u8> {
    let mut p = pipeline();
    p.attach(Box::new(EncoderFeed::new(
        time.clone(),
        DEFAULT_MAX_PENDING,
    )));
    let mut bytes = Vec::new();
    for t in source {
        p.ingest(incoming(t), false);
        while let Some((id, op)) = p.poll_op() {
            if let OutputOp::Send(b) = op {
                bytes.extend_from_slice(&b);
                p.acknowledge(id, b.len());
            }
        }
    }
    bytes
}

#[test]
fn a_lower_frame_rate_keeps_the_source_keyframes() {
    let dir = tmpdir("fps");
    let source = tags(&source_flv(&dir, 12));
    let time = TimeBase::new();
    let input = feed_all(&source, &time);
    let r = Rendition::parse(&["low", "height=240", "fps=15", "audio_bitrate=copy"]).unwrap();
    let planned = plan(&[r], 1280, 720);
    let stdout = encode(&ffmpeg_args(&planned[0]), input);
    let mut reader = RenditionReader::new(time, 16 << 20);
    reader.feed(&stdout);
    let mut out = Vec::new();
    while let Some(t) = reader.poll().unwrap() {
        out.push(t);
    }
    let src_keys: Vec<u64> = source.iter().filter(|t| is_key(t)).map(pts).collect();
    let keys: Vec<u64> = out.iter().filter(|t| is_key(t)).map(pts).collect();
    assert_eq!(keys, src_keys);
    let pictures = |v: &[FlvTag]| {
        v.iter()
            .filter(|t| t.type_id == 9 && t.body[1] == 1)
            .count()
    };
    let (src_n, n) = (pictures(&source), pictures(&out));
    assert!(
        n * 2 >= src_n - 10 && n * 2 <= src_n + 30,
        "{n} pictures from {src_n}"
    );
    // Audio copied: the source's own AAC frames, at their times.
    let audio = |v: &[FlvTag]| -> Vec<u32> {
        v.iter()
            .filter(|t| t.type_id == 8 && t.body[1] == 1)
            .map(|t| t.timestamp)
            .collect()
    };
    assert_eq!(audio(&out), audio(&source)[..audio(&out).len()]);
    assert!(audio(&out).len() + 5 >= audio(&source).len());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn rendition_is_cut_and_numbered_as_its_source() {
    let dir = tmpdir("ladder");
    let source = tags(&source_flv(&dir, 32));

    // The source: HLS leads the schedule; the encoder's feed joins late.
    let schedule = CutSchedule::new();
    let mut leader = hls("cam_src");
    leader.lead(schedule.clone());
    let mut src = pipeline();
    src.attach(Box::new(leader));
    let time = TimeBase::new();
    let mut joined = false;
    let mut src_fs = Fs::default();
    let mut encoder_input = Vec::new();
    for t in &source {
        if !joined && t.timestamp >= JOIN_MS {
            src.attach(Box::new(EncoderFeed::new(
                time.clone(),
                DEFAULT_MAX_PENDING,
            )));
            joined = true;
        }
        src.ingest(incoming(t), false);
        while let Some((id, op)) = src.poll_op() {
            match op {
                OutputOp::File(op) => src_fs.apply(op),
                OutputOp::Send(b) => {
                    encoder_input.extend_from_slice(&b);
                    src.acknowledge(id, b.len());
                }
            }
        }
    }
    src.finish(now(40_000));
    while let Some((_, op)) = src.poll_op() {
        if let OutputOp::File(op) = op {
            src_fs.apply(op);
        }
    }

    // The encoder, as the shell will run it.
    let r360 = Rendition::parse(&["360p", "height=360", "bitrate=700k"]).unwrap();
    let planned = plan(&[r360], 1280, 720);
    assert_eq!((planned[0].width, planned[0].height), (640, 360));
    let stdout = encode(&ffmpeg_args(&planned[0]), encoder_input);

    // Back into the rendition's pipeline, in pieces of every size.
    let mut reader = RenditionReader::new(time.clone(), 16 << 20);
    let mut follower = hls("cam_360p");
    follower.follow(schedule.clone());
    let mut rend = pipeline();
    rend.attach(Box::new(follower));
    let mut rend_fs = Fs::default();
    let mut rendition = Vec::new();
    let mut rest: &[u8] = &stdout;
    let mut size = 1;
    while !rest.is_empty() {
        let n = size.min(rest.len());
        reader.feed(&rest[..n]);
        rest = &rest[n..];
        size = size * 7 % 65_521 + 1;
        while let Some(t) = reader.poll().unwrap() {
            rend.ingest(incoming(&t), false);
            while let Some((_, op)) = rend.poll_op() {
                if let OutputOp::File(op) = op {
                    rend_fs.apply(op);
                }
            }
            rendition.push(t);
        }
    }
    assert_eq!(reader.buffered(), 0);
    rend.finish(now(40_000));
    while let Some((_, op)) = rend.poll_op() {
        if let OutputOp::File(op) = op {
            rend_fs.apply(op);
        }
    }

    // Timestamps: the encoder started at the keyframe of the GOP cached when it joined, and
    // every keyframe after it is at a source keyframe, and only there.
    let src_keys: Vec<u64> = source.iter().filter(|t| is_key(t)).map(pts).collect();
    let rend_keys: Vec<u64> = rendition.iter().filter(|t| is_key(t)).map(pts).collect();
    let gop_start = *src_keys
        .iter()
        .rev()
        .find(|k| **k <= u64::from(JOIN_MS))
        .unwrap();
    assert!(!rend_keys.is_empty(), "the rendition has no keyframe");
    assert!(
        rend_keys[0].abs_diff(gop_start) <= FRAME_MS,
        "first rendition keyframe at {} ms, the joined GOP starts at {gop_start} ms",
        rend_keys[0]
    );
    let expected: Vec<u64> = src_keys
        .iter()
        .copied()
        .filter(|k| *k >= gop_start)
        .collect();
    assert_eq!(
        rend_keys, expected,
        "rendition keyframes vs source keyframes"
    );
    // Every rendition picture is a source picture (no frame made up or moved).
    let src_pts: std::collections::HashSet<u64> =
        source.iter().filter(|t| t.type_id == 9).map(pts).collect();
    let moved: Vec<u64> = rendition
        .iter()
        .filter(|t| t.type_id == 9 && t.body.get(1) == Some(&1))
        .map(pts)
        .filter(|p| !src_pts.contains(p))
        .collect();
    assert!(moved.is_empty(), "pictures at no source time: {moved:?}");

    // Segments: same numbers, same start PTS, same EXTINF, same target.
    let (src_target, src_segs) = segments(&src_fs, "cam_src.m3u8");
    let (rend_target, rend_segs) = segments(&rend_fs, "cam_360p.m3u8");
    assert_eq!(src_target, rend_target, "TARGETDURATION");
    assert_eq!(src_target, Some(4));
    let last_src = *src_segs.keys().last().unwrap();
    let mut common_ms = 0;
    for (seq, (start, extinf)) in &rend_segs {
        let Some((s_start, s_extinf)) = src_segs.get(seq) else {
            panic!("rendition segment {seq} has no source segment");
        };
        assert!(
            start.abs_diff(*s_start) <= FRAME_TICKS,
            "segment {seq}: rendition starts at {start}, source at {s_start} (90 kHz)"
        );
        // The last segments end with their own media (audio tails differ).
        if *seq < last_src {
            assert!(
                extinf.abs_diff(*s_extinf) <= FRAME_MS,
                "segment {seq}: EXTINF {extinf} vs source {s_extinf}"
            );
            common_ms += extinf;
        }
    }
    assert!(
        common_ms >= 20_000,
        "only {common_ms} ms of aligned segments: source {src_segs:?}, rendition {rend_segs:?}"
    );
    // The rendition starts at the first cut after the joined GOP and has every later one.
    eprintln!("aligned {common_ms} ms; source {src_segs:?}; rendition {rend_segs:?}");
    let first = *rend_segs.keys().next().unwrap();
    assert!(src_segs
        .keys()
        .filter(|s| **s >= first)
        .all(|s| rend_segs.contains_key(s)));
    let _ = std::fs::remove_dir_all(&dir);
}
