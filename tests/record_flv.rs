//! The recorder as an output of a real pipeline: ~20 s of FFmpeg-made H.264/AAC (FLV) is
//! published through it, its `FileOp`s are executed in a temporary directory, and FFmpeg
//! judges the files: duration, the keyframe index in `onMetaData`, seeking, and per-frame MD5
//! against the source. Splits by `record_interval` give files that add up to the whole.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use bytes::Bytes;
use ngx_rtmp::amf0::{decode_all, Value};
use ngx_rtmp::live::{GopCache, Incoming, OutputOp, Pipeline};
use ngx_rtmp::record::{RecordConfig, RecordHandle, RecordMode, Recorder};
use support::fileops::Disk;
use support::flv::{tags, Tag};
use support::media::now;

fn tmpdir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ngx-rtmp-rec-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// 20 s of 320x240 25 fps H.264 (B-frames, a keyframe every `gop` frames) and AAC as FLV.
fn source(dir: &Path, gop: u32) -> PathBuf {
    let flv = dir.join("src.flv");
    let st = Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
        .args([
            "-t",
            "20",
            "-c:v",
            "libx264",
            "-bf",
            "2",
            "-sc_threshold",
            "0",
        ])
        .args(["-g", &gop.to_string(), "-keyint_min", &gop.to_string()])
        .args([
            "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k", "-f", "flv",
        ])
        .arg(&flv)
        .status()
        .expect("ffmpeg is required (scripts/test.sh installs it)");
    assert!(st.success());
    flv
}

/// Publishes the source's tags (script data included) through a pipeline with a recorder,
/// executing its ops in `dir`; returns the recordings' names.
fn record(dir: &Path, src: &Path, conf: RecordConfig) -> (Vec<String>, RecordHandle) {
    let data = std::fs::read(src).unwrap();
    let mut p = Pipeline::published(GopCache::new(true, 4096, 32 << 20), 4096);
    let rec = Recorder::new(conf, "cam");
    let handle = rec.handle();
    p.attach(Box::new(rec));
    let mut disk = Disk::new(dir.to_path_buf());
    let mut drain = |p: &mut Pipeline, disk: &mut Disk| {
        while let Some((_, op)) = p.poll_op() {
            match op {
                OutputOp::File(op) => disk.apply(op),
                OutputOp::Send(_) => panic!("the recorder sends no bytes"),
            }
        }
    };
    let mut last = 0;
    for t in tags(&data) {
        let payload = Bytes::from(t.body);
        last = u64::from(t.ts);
        p.ingest(
            Incoming {
                type_id: t.type_id,
                timestamp: t.ts,
                payload: &payload,
                now: now(last),
            },
            false,
        );
        drain(&mut p, &mut disk);
    }
    p.finish(now(last + 40));
    drain(&mut p, &mut disk);
    (disk.recordings.clone(), handle)
}

fn ffprobe_duration(file: &Path) -> f64 {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success(), "ffprobe failed on {}", file.display());
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// Per-frame MD5s of one stream (`v` or `a`) of `file`, in order.
fn framemd5(file: &Path, stream: &str) -> Vec<String> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(file)
        .args(["-map", &format!("0:{stream}"), "-f", "framemd5", "-"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "framemd5 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.rsplit(',').next().unwrap().trim().to_string())
        .collect()
}

/// The file's `onMetaData` properties (the first tag must be it).
fn metadata(data: &[u8]) -> Value {
    let first = &tags(data)[0];
    assert_eq!(first.type_id, 18, "the first tag is script data");
    let v = decode_all(&first.body, 8).unwrap();
    assert_eq!(v[0].as_str(), Some("onMetaData"));
    v[1].clone()
}

fn numbers(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_f64().unwrap())
        .collect()
}

/// Tag offsets of the file, by position.
fn tag_at(data: &[u8], pos: usize) -> Tag {
    tags(
        &data[..9]
            .iter()
            .chain(&[0u8; 4])
            .copied()
            .chain(data[pos..].iter().copied())
            .collect::<Vec<_>>(),
    )
    .into_iter()
    .next()
    .unwrap()
}

/// Header tags, then a keyframe: script data, AVC header, AAC header, the first video a
/// picture keyframe.
fn assert_starts_well(data: &[u8]) {
    let t = tags(data);
    assert_eq!(t[0].type_id, 18);
    assert_eq!((t[1].type_id, t[1].body[0], t[1].body[1]), (9, 0x17, 0));
    assert_eq!((t[2].type_id, t[2].body[0], t[2].body[1]), (8, 0xaf, 0));
    let first_video = t[3..].iter().find(|t| t.video()).unwrap();
    assert_eq!(
        (first_video.body[0], first_video.body[1]),
        (0x17, 1),
        "starts with a keyframe"
    );
    assert_eq!(first_video.ts, 0, "the file starts at 0");
}

#[test]
fn a_whole_recording_is_seekable_and_frame_exact() {
    let dir = tmpdir("all");
    let src = source(&dir, 50);
    let (files, handle) = record(&dir, &src, RecordConfig::new(RecordMode::ALL));
    assert_eq!(files, ["cam.flv"]);
    assert_eq!(handle.status().files, 1);
    assert!(handle.status().path.is_none());
    let file = dir.join("cam.flv");
    assert!(!dir.join("cam.flv.part").exists());
    let data = std::fs::read(&file).unwrap();
    assert_starts_well(&data);

    let want = ffprobe_duration(&src);
    let got = ffprobe_duration(&file);
    assert!((got - want).abs() <= 0.1, "duration {got} vs source {want}");

    let meta = metadata(&data);
    let dur = meta.get_f64("duration").unwrap();
    assert!(
        (dur - want).abs() <= 0.1,
        "metadata duration {dur} vs {want}"
    );
    assert_eq!(meta.get_f64("filesize"), Some(data.len() as f64));
    assert_eq!(meta.get_f64("width"), Some(320.0));
    assert_eq!(meta.get_f64("height"), Some(240.0));
    assert_eq!(meta.get_f64("videocodecid"), Some(7.0));
    assert_eq!(meta.get_f64("audiocodecid"), Some(10.0));
    let fr = meta.get_f64("framerate").unwrap();
    assert!((fr - 25.0).abs() < 0.5, "framerate {fr}");
    let vrate = meta.get_f64("videodatarate").unwrap();
    let arate = meta.get_f64("audiodatarate").unwrap();
    assert!(
        vrate > 10.0 && (40.0..90.0).contains(&arate),
        "rates {vrate} {arate}"
    );
    let kf = meta.object_get("keyframes").unwrap();
    let times = numbers(kf.object_get("times").unwrap());
    let positions = numbers(kf.object_get("filepositions").unwrap());
    assert_eq!(times.len(), 10, "a keyframe every 2 s: {times:?}");
    assert_eq!(times.len(), positions.len());
    for (t, pos) in times.iter().zip(&positions) {
        let tag = tag_at(&data, *pos as usize);
        assert!(
            tag.keyframe() && tag.body[1] == 1,
            "{pos} is no keyframe tag"
        );
        assert!((f64::from(tag.ts) / 1000.0 - t).abs() < 1e-9);
    }

    let seek = Command::new("ffmpeg")
        .args(["-v", "error", "-ss", "10", "-i"])
        .arg(&file)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert!(
        seek.status.success() && seek.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&seek.stderr)
    );

    for stream in ["v", "a"] {
        let want = framemd5(&src, stream);
        let got = framemd5(&file, stream);
        assert!(want.len() > 400, "{stream}: {} frames", want.len());
        assert_eq!(got, want, "{stream}: decoded frames differ");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn interval_splits_add_up_and_each_starts_with_headers_and_a_keyframe() {
    let dir = tmpdir("interval");
    // A keyframe every second: the files split at 5, 10 and 15 s.
    let src = source(&dir, 25);
    let mut conf = RecordConfig::new(RecordMode::ALL);
    conf.interval_ms = Some(5_000);
    conf.unique = true;
    let (files, _) = record(&dir, &src, conf);
    let t0 = now(0).unix_ms / 1000;
    assert_eq!(files.len(), 4, "{files:?}");
    // Names as nginx-rtmp's `record_unique`, made distinct without overwriting.
    assert!(files[0].starts_with(&format!("cam-{t0}")), "{files:?}");
    let want = ffprobe_duration(&src);
    let mut total = 0.0;
    let mut video = Vec::new();
    let mut audio_frames = 0;
    for f in &files {
        let path = dir.join(f);
        let data = std::fs::read(&path).unwrap();
        assert_starts_well(&data);
        let d = ffprobe_duration(&path);
        assert!((d - 5.0).abs() <= 0.1, "{f}: {d}");
        total += d;
        video.extend(framemd5(&path, "v"));
        audio_frames += framemd5(&path, "a").len();
    }
    assert!(
        (total - want).abs() <= 0.1,
        "durations add up to {total}, source {want}"
    );
    assert_eq!(video, framemd5(&src, "v"), "every video frame exactly once");
    assert_eq!(
        audio_frames,
        framemd5(&src, "a").len(),
        "every audio frame once"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
