//! The recorder as an output of a real pipeline: ~20 s of FFmpeg-made H.264/AAC (FLV) is
//! published through it, its `FileOp`s are executed in a temporary directory, and FFmpeg
//! judges the files: duration, the keyframe index in `onMetaData`, seeking, and per-frame MD5
//! against the source. Splits by `record_interval` give files that add up to the whole.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use bytes::Bytes;
use ngx_rtmp::live::{GopCache, Incoming, OutputOp, Pipeline};
use ngx_rtmp::record::{
    RecordConfig, RecordFormat, RecordHandle, RecordMode, Recorder, DEFAULT_FLUSH_MS,
};
use support::fileops::Disk;
use support::flv::{tags, Tag};
use support::media::now;
use support::recording::{assert_starts_well, ffprobe_duration, metadata, numbers, tag_at};

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
    record_tags(dir, tags(&std::fs::read(src).unwrap()), conf)
}

/// Publishes `tags` as [`record`] does.
fn record_tags(dir: &Path, tags: Vec<Tag>, conf: RecordConfig) -> (Vec<String>, RecordHandle) {
    let mut p = Pipeline::published(GopCache::new(true, 4096, 32 << 20), 4096);
    let rec = Recorder::new(conf, "cam");
    let handle = rec.handle();
    p.attach(Box::new(rec));
    let mut disk = Disk::new(dir.to_path_buf());
    disk.resume_to = Some(handle.clone());
    let drain = |p: &mut Pipeline, disk: &mut Disk| {
        while let Some((_, op)) = p.poll_op() {
            match op {
                OutputOp::File(op) => disk.apply(op),
                OutputOp::Send(_) => panic!("the recorder sends no bytes"),
            }
        }
    };
    let mut last = 0;
    for t in tags {
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

#[test]
fn max_size_splits_keep_every_frame() {
    let dir = tmpdir("size");
    let src = source(&dir, 25);
    let size = std::fs::metadata(&src).unwrap().len();
    let mut conf = RecordConfig::new(RecordMode::ALL);
    conf.max_size = size / 3;
    let (files, _) = record(&dir, &src, conf);
    assert!((3..=4).contains(&files.len()), "{files:?}");
    assert_eq!(files[..2], ["cam.flv", "cam-1.flv"], "never overwritten");
    let mut total = 0.0;
    let mut video = Vec::new();
    for f in &files {
        let path = dir.join(f);
        let data = std::fs::read(&path).unwrap();
        assert_starts_well(&data);
        assert!(data.len() as u64 >= size / 3 || f == files.last().unwrap());
        total += ffprobe_duration(&path);
        video.extend(framemd5(&path, "v"));
    }
    let want = ffprobe_duration(&src);
    assert!(
        (total - want).abs() <= 0.1,
        "durations add up to {total}, source {want}"
    );
    assert_eq!(video, framemd5(&src, "v"), "every video frame exactly once");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn append_continues_the_file_with_one_metadata_and_index() {
    let dir = tmpdir("append");
    // A keyframe every second.
    let src = source(&dir, 25);
    let all = tags(&std::fs::read(&src).unwrap());
    let header = |t: &Tag| t.type_id != 18 && t.body.get(1) == Some(&0);
    let headers: Vec<Tag> = all.iter().filter(|t| header(t)).cloned().collect();
    assert_eq!(headers.len(), 2);
    // Two publishes of 5 s, the second one's timestamps from 0 again, as a publisher's are.
    let first: Vec<Tag> = all.iter().filter(|t| t.ts < 5000).cloned().collect();
    let second: Vec<Tag> = headers
        .iter()
        .cloned()
        .chain(
            all.iter()
                .filter(|t| (5000..10_000).contains(&t.ts) && !header(t))
                .map(|t| Tag {
                    ts: t.ts - 5000,
                    ..t.clone()
                }),
        )
        .collect();
    let mut conf = RecordConfig::new(RecordMode::ALL);
    conf.append = true;
    let (files, _) = record_tags(&dir, first, conf.clone());
    assert_eq!(files, ["cam.flv"]);
    let first_len = std::fs::metadata(dir.join("cam.flv")).unwrap().len();
    let (files, handle) = record_tags(&dir, second, conf);
    assert_eq!(files, ["cam.flv"], "the same file, continued");
    assert!(!dir.join("cam-1.flv").exists() && !dir.join("cam.flv.part").exists());
    assert_eq!(handle.status().files, 1);

    let file = dir.join("cam.flv");
    let data = std::fs::read(&file).unwrap();
    assert!(data.len() as u64 > first_len * 3 / 2);
    let t = tags(&data);
    assert_eq!(
        t.iter().filter(|t| t.type_id == 18).count(),
        1,
        "one metadata"
    );
    for kind in [8, 9] {
        let ts: Vec<u32> = t
            .iter()
            .filter(|t| t.type_id == kind)
            .map(|t| t.ts)
            .collect();
        assert!(ts.windows(2).all(|w| w[0] <= w[1]), "{kind}: monotonic");
    }
    let got = ffprobe_duration(&file);
    assert!((got - 10.0).abs() <= 0.1, "duration {got}");
    let meta = metadata(&data);
    let dur = meta.get_f64("duration").unwrap();
    assert!((dur - 10.0).abs() <= 0.1, "metadata duration {dur}");
    assert_eq!(meta.get_f64("filesize"), Some(data.len() as f64));
    let kf = meta.object_get("keyframes").unwrap();
    let times = numbers(kf.object_get("times").unwrap());
    let positions = numbers(kf.object_get("filepositions").unwrap());
    assert_eq!(times.len(), 10, "both parts indexed: {times:?}");
    assert!(times[5] >= 5.0 && times[9] < 10.0, "{times:?}");
    for (t, pos) in times.iter().zip(&positions) {
        let tag = tag_at(&data, *pos as usize);
        assert!(tag.keyframe() && tag.body[1] == 1, "{pos} is no keyframe");
        assert!((f64::from(tag.ts) / 1000.0 - t).abs() < 1e-9);
    }
    let want = framemd5(&src, "v");
    let got = framemd5(&file, "v");
    assert_eq!(
        got[..],
        want[..250],
        "the first 10 s of video, each frame once"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- Modes, limits, manual control and file operations, on synthetic messages. ----

mod synthetic {
    use super::*;
    use support::fileops::Fs;
    use support::media::{avcc_frame, hex, AAC_SEQ, X264_HIGH_SEQ};

    fn video(key: bool, size: usize) -> Bytes {
        let mut v = vec![if key { 0x17 } else { 0x27 }, 1, 0, 0, 0];
        v.extend_from_slice(&avcc_frame(key, size, 7));
        Bytes::from(v)
    }

    fn audio() -> Bytes {
        Bytes::from_static(&[0xaf, 1, 0x21, 0x10, 0x04, 0x60, 0x8c])
    }

    struct Rig {
        p: Pipeline,
        fs: Fs,
        handle: RecordHandle,
        ops: usize,
    }

    impl Rig {
        fn new(conf: RecordConfig) -> Rig {
            let mut p = Pipeline::published(GopCache::new(true, 4096, 32 << 20), 4096);
            let rec = Recorder::new(conf, "cam");
            let handle = rec.handle();
            p.attach(Box::new(rec));
            let fs = Fs {
                resume_to: Some(handle.clone()),
                ..Fs::default()
            };
            Rig {
                p,
                fs,
                handle,
                ops: 0,
            }
        }

        fn drain(&mut self) {
            while let Some((_, op)) = self.p.poll_op() {
                self.ops += 1;
                match op {
                    OutputOp::File(op) => self.fs.apply(op),
                    OutputOp::Send(_) => panic!("the recorder sends no bytes"),
                }
            }
        }

        fn send(&mut self, type_id: u8, ts: u32, payload: &Bytes) {
            self.p.ingest(
                Incoming {
                    type_id,
                    timestamp: ts,
                    payload,
                    now: now(u64::from(ts)),
                },
                false,
            );
            self.drain();
        }

        /// Headers at `t0`, then `secs` seconds of 25 fps video (a keyframe each second)
        /// and audio every 23 ms.
        fn publish(&mut self, t0: u32, secs: u32) {
            self.send(9, t0, &hex(X264_HIGH_SEQ));
            self.send(8, t0, &hex(AAC_SEQ));
            self.media(t0, secs);
        }

        fn media(&mut self, t0: u32, secs: u32) {
            let mut a = 0;
            for i in 0..secs * 25 {
                let t = t0 + i * 40;
                while a <= t {
                    self.send(8, a.max(t0), &audio());
                    a += 23;
                }
                self.send(9, t, &video(i % 25 == 0, 400));
            }
        }

        fn finish(&mut self, ms: u64) {
            self.p.finish(now(ms));
            self.drain();
        }

        fn file(&self, name: &str) -> Vec<Tag> {
            tags(self.fs.segment(name))
        }
    }

    fn kinds(t: &[Tag]) -> (usize, usize, usize) {
        let v = t
            .iter()
            .filter(|t| t.type_id == 9 && t.body[1] == 1)
            .count();
        let k = t.iter().filter(|t| t.keyframe() && t.body[1] == 1).count();
        let a = t
            .iter()
            .filter(|t| t.type_id == 8 && t.body[1] == 1)
            .count();
        (v, k, a)
    }

    #[test]
    fn modes_keep_what_nginx_rtmp_keeps() {
        let cases = [
            (RecordMode::ALL, (100, 4, true)),
            (
                RecordMode {
                    video: true,
                    ..RecordMode::default()
                },
                (100, 4, false),
            ),
            (
                RecordMode {
                    keyframes: true,
                    ..RecordMode::default()
                },
                (4, 4, false),
            ),
            (
                RecordMode {
                    audio: true,
                    keyframes: true,
                    ..RecordMode::default()
                },
                (4, 4, true),
            ),
        ];
        for (mode, (v, k, has_audio)) in cases {
            let mut r = Rig::new(RecordConfig::new(mode));
            r.publish(1000, 4);
            r.finish(5000);
            let t = r.file("cam.flv");
            let (gv, gk, ga) = kinds(&t);
            assert_eq!((gv, gk, ga > 0), (v, k, has_audio), "{mode:?}");
            let meta = metadata(r.fs.segment("cam.flv"));
            assert_eq!(meta.get_f64("width"), Some(320.0), "{mode:?}");
            assert_eq!(meta.object_get("audiocodecid").is_some(), has_audio);
        }
        // Audio only: an audio-only stream is recorded too (nginx-rtmp's `record all` waits
        // for a video keyframe that never comes).
        let mut r = Rig::new(RecordConfig::new(RecordMode::ALL));
        r.send(8, 0, &hex(AAC_SEQ));
        for i in 0..100 {
            r.send(8, i * 23, &audio());
        }
        r.finish(3000);
        let t = r.file("cam.flv");
        assert_eq!(kinds(&t), (0, 0, 100));
        assert_eq!(r.fs.segment("cam.flv")[4], 4, "audio-only FLV header");
        let meta = metadata(r.fs.segment("cam.flv"));
        assert!(meta.object_get("width").is_none());
        assert_eq!(meta.get_f64("audiosamplerate"), Some(44100.0));
    }

    #[test]
    fn files_start_at_a_keyframe_with_rebased_timestamps() {
        let mut r = Rig::new(RecordConfig::new(RecordMode::ALL));
        r.send(9, 500, &hex(X264_HIGH_SEQ));
        r.send(8, 500, &hex(AAC_SEQ));
        // Before any keyframe: nothing is written, no file is opened.
        r.send(9, 520, &video(false, 100));
        r.send(8, 530, &audio());
        assert!(r.fs.files.is_empty());
        r.media(1000, 2);
        r.finish(3000);
        let t = r.file("cam.flv");
        assert_eq!(t[0].type_id, 18);
        assert_eq!((t[1].type_id, t[1].ts), (9, 0));
        assert_eq!((t[2].type_id, t[2].ts), (8, 0));
        assert!(
            t[3].keyframe() && t[3].ts == 0,
            "{:?}",
            (t[3].type_id, t[3].ts)
        );
        let last = t.last().unwrap().ts;
        assert!((1900..2000).contains(&last), "{last}");
    }

    #[test]
    fn appends_are_buffered() {
        let mut conf = RecordConfig::new(RecordMode::ALL);
        conf.flush_bytes = 1 << 20;
        conf.flush_ms = u32::MAX;
        let mut r = Rig::new(conf.clone());
        r.publish(0, 10);
        r.finish(10_000);
        // Open, one append per keyframe (10), the last flush, the rewrite, the finish: far
        // fewer than the ~690 messages.
        assert_eq!(r.fs.log, ["record cam.flv.part", "finish cam.flv"]);
        assert!(r.ops <= 14, "{} ops", r.ops);

        // The default time bound: an append per 250 ms of media at most (what a killed
        // worker can lose), still far fewer than the messages.
        conf.flush_ms = DEFAULT_FLUSH_MS;
        let mut r = Rig::new(conf);
        r.publish(0, 10);
        r.finish(10_000);
        assert!((40..=60).contains(&r.ops), "{} ops", r.ops);
        let meta = metadata(r.fs.segment("cam.flv"));
        assert_eq!(
            meta.get_f64("filesize"),
            Some(r.fs.segment("cam.flv").len() as f64)
        );
        let d = meta.get_f64("duration").unwrap();
        assert!((d - 10.0).abs() < 0.05, "{d}");
    }

    #[test]
    fn max_frames_and_max_size_split_at_keyframes() {
        let mut conf = RecordConfig::new(RecordMode {
            video: true,
            ..RecordMode::default()
        });
        conf.max_frames = 30;
        conf.suffix = Some("-%H%M%S.flv".into());
        let mut r = Rig::new(conf);
        r.publish(0, 4);
        r.finish(4000);
        // 30 frames are reached inside the second GOP: each file holds two GOPs.
        assert_eq!(r.fs.recordings, ["cam-221320.flv", "cam-221322.flv"]);
        for f in &r.fs.recordings {
            assert_eq!(kinds(&r.file(f)).0, 50, "{f}");
        }

        let mut conf = RecordConfig::new(RecordMode::ALL);
        conf.max_size = 20_000;
        let mut r = Rig::new(conf);
        r.publish(0, 6);
        r.finish(6000);
        // Same name each time: never overwritten.
        assert_eq!(r.fs.recordings[..2], ["cam.flv", "cam-1.flv"]);
        let mut frames = 0;
        for f in &r.fs.recordings {
            let data = r.fs.segment(f);
            let t = tags(data);
            assert!(t[3..].iter().find(|t| t.video()).unwrap().keyframe());
            frames += kinds(&t).0;
        }
        assert_eq!(frames, 150, "every frame exactly once");
    }

    #[test]
    fn interval_follows_media_time() {
        let mut conf = RecordConfig::new(RecordMode::ALL);
        conf.interval_ms = Some(2000);
        conf.unique = true;
        let mut r = Rig::new(conf);
        r.publish(0, 6);
        r.finish(6000);
        assert_eq!(
            r.fs.recordings,
            [
                "cam-1700000000.flv",
                "cam-1700000002.flv",
                "cam-1700000004.flv"
            ]
        );
        for f in &r.fs.recordings {
            let meta = metadata(r.fs.segment(f));
            let d = meta.get_f64("duration").unwrap();
            assert!((d - 2.0).abs() < 0.05, "{f}: {d}");
            let kf = meta.object_get("keyframes").unwrap();
            assert_eq!(numbers(kf.object_get("times").unwrap()), [0.0, 1.0]);
        }
    }

    #[test]
    fn manual_start_and_stop() {
        let mut conf = RecordConfig::new(RecordMode {
            manual: true,
            ..RecordMode::ALL
        });
        conf.unique = true;
        let mut r = Rig::new(conf);
        r.publish(0, 2);
        assert!(r.fs.files.is_empty(), "manual: nothing before start");
        let path = r.handle.start(now(2000)).unwrap();
        assert_eq!(path.as_str(), "cam-1700000002.flv");
        assert_eq!(
            r.handle.start(now(2100)).unwrap(),
            path,
            "start is idempotent"
        );
        // Mid-GOP: the file opens at the next keyframe (2 s), not with this inter frame.
        r.send(9, 1990, &video(false, 100));
        assert!(r.fs.files.is_empty());
        r.media(2000, 3);
        let st = r.handle.status();
        assert_eq!(st.path.as_ref(), Some(&path));
        assert!(st.started && st.frames > 0 && st.duration_ms >= 1900);
        assert_eq!(r.handle.stop(), Some(path.clone()));
        // The file is finished at the recorder's next call, even without a message.
        r.drain();
        assert_eq!(r.fs.recordings, [path.as_str()]);
        assert!(r.handle.status().path.is_none());
        let t = r.file(path.as_str());
        assert!(t[3..].iter().find(|t| t.video()).unwrap().ts == 0);
        assert_eq!(kinds(&t).1, 3, "keyframes at 2, 3 and 4 s");
        // Not recording: stop answers nothing; non-manual recorders ignore start.
        assert_eq!(r.handle.stop(), None);
        let r2 = Rig::new(RecordConfig::new(RecordMode::ALL));
        assert_eq!(r2.handle.start(now(0)), None);
    }

    #[test]
    fn a_start_names_its_file_at_the_given_time() {
        let mut conf = RecordConfig::new(RecordMode {
            manual: true,
            ..RecordMode::ALL
        });
        conf.unique = true;
        let mut r = Rig::new(conf);
        r.publish(0, 1);
        assert_eq!(r.handle.target(), None);
        // Another worker named the file at 1_600_000_000; this one opens exactly that.
        let path = r.handle.start_at(1_600_000_000).unwrap();
        assert_eq!(path.as_str(), "cam-1600000000.flv");
        assert_eq!(r.handle.target(), Some(path.clone()), "pending");
        assert_eq!(r.handle.start_at(1_600_000_009), Some(path.clone()));
        r.media(1000, 2);
        assert_eq!(r.handle.status().path.as_ref(), Some(&path));
        assert_eq!(r.handle.target(), Some(path.clone()), "open");
        assert_eq!(r.handle.stop(), Some(path.clone()));
        r.drain();
        assert_eq!(r.fs.recordings, [path.as_str()]);
        assert_eq!(r.handle.target(), None);
        assert_eq!(r.handle.status().files, 1);
    }

    #[test]
    fn the_index_is_thinned_when_full() {
        let mut conf = RecordConfig::new(RecordMode::ALL);
        conf.index_capacity = 4;
        let mut r = Rig::new(conf);
        r.publish(0, 10);
        r.finish(10_000);
        let data = r.fs.segment("cam.flv");
        let meta = metadata(data);
        let kf = meta.object_get("keyframes").unwrap();
        let times = numbers(kf.object_get("times").unwrap());
        assert_eq!(times, [0.0, 4.0, 8.0]);
        for pos in numbers(kf.object_get("filepositions").unwrap()) {
            assert!(tag_at(data, pos as usize).keyframe());
        }
    }

    #[test]
    fn a_new_sequence_header_goes_into_the_open_file() {
        let mut r = Rig::new(RecordConfig::new(RecordMode::ALL));
        r.publish(0, 1);
        r.send(9, 1000, &hex(support::media::X264_BASELINE_SEQ));
        r.send(9, 1000, &hex(support::media::X264_BASELINE_SEQ));
        r.media(1000, 1);
        r.finish(2000);
        let t = r.file("cam.flv");
        let headers: Vec<u32> = t
            .iter()
            .filter(|t| t.type_id == 9 && t.body[1] == 0)
            .map(|t| t.ts)
            .collect();
        assert_eq!(headers, [0, 1000], "the changed header once, at its time");
    }

    #[test]
    fn append_to_foreign_files() {
        let mut conf = RecordConfig::new(RecordMode::ALL);
        conf.append = true;
        // An FLV without our metadata (as nginx-rtmp writes): continued, its header and
        // first tags left alone, no metadata rewrite.
        let mut foreign = ngx_rtmp::media::FlvWriter::header(true, true).to_vec();
        foreign.extend_from_slice(&ngx_rtmp::media::FlvWriter::tag(8, 3000, &audio()).unwrap());
        let mut r = Rig::new(conf.clone());
        r.fs.files.insert("cam.flv".into(), foreign.clone());
        r.publish(0, 2);
        r.finish(2000);
        assert_eq!(r.fs.log, ["resume cam.flv", "finish cam.flv"]);
        let data = r.fs.segment("cam.flv");
        assert_eq!(data[..foreign.len()], foreign[..]);
        let t = tags(data);
        assert!(t.iter().all(|t| t.type_id != 18), "no metadata added");
        assert!(t[1].ts > 3000, "continued after 3 s: {}", t[1].ts);
        assert!(t.windows(2).all(|w| w[0].ts <= w[1].ts));

        // Not an FLV: put back untouched, the recording goes beside it.
        let mut r = Rig::new(conf);
        r.fs.files.insert("cam.flv".into(), b"not a video".to_vec());
        r.publish(0, 2);
        r.finish(2000);
        assert_eq!(r.fs.segment("cam.flv"), b"not a video");
        assert_eq!(r.fs.recordings, ["cam.flv", "cam-1.flv"]);
        assert_eq!(kinds(&r.file("cam-1.flv")).0, 50);
        metadata(r.fs.segment("cam-1.flv"));
    }

    /// Top-level MP4 boxes of a file.
    fn boxes(b: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        let mut pos = 0;
        while pos + 8 <= b.len() {
            let size = u32::from_be_bytes(b[pos..pos + 4].try_into().unwrap()) as usize;
            out.push(String::from_utf8_lossy(&b[pos + 4..pos + 8]).into_owned());
            assert!(size >= 8);
            pos += size;
        }
        assert_eq!(pos, b.len());
        out
    }

    #[test]
    fn mp4_files_follow_the_same_modes_splits_and_controls() {
        let mut conf = RecordConfig::new(RecordMode {
            manual: true,
            ..RecordMode::ALL
        });
        conf.format = RecordFormat::Mp4;
        conf.max_frames = 60;
        let mut r = Rig::new(conf);
        r.publish(0, 1);
        assert!(r.fs.files.is_empty(), "manual: nothing before start");
        let path = r.handle.start(now(1000)).unwrap();
        assert_eq!(path.as_str(), "cam.mp4");
        r.media(1000, 2);
        let st = r.handle.status();
        assert!(st.frames > 0 && st.bytes > 0, "{st:?}");
        assert!(st.duration_ms <= 1000, "split each second: {st:?}");
        r.media(3000, 2);
        assert_eq!(r.handle.stop(), Some(path));
        r.drain();
        // 60 frames (video and audio) are reached within each second: a file per GOP, the
        // same name never overwritten.
        assert_eq!(
            r.fs.recordings,
            ["cam.mp4", "cam-1.mp4", "cam-2.mp4", "cam-3.mp4"]
        );
        for f in &r.fs.recordings {
            let b = boxes(r.fs.segment(f));
            assert_eq!(b[..4], ["ftyp", "moov", "moof", "mdat"], "{f}");
            assert_eq!(b.last().map(String::as_str), Some("mfra"), "{f}");
        }
        assert!(r.handle.status().path.is_none());

        // Keyframes only, audio: one video sample per fragment, audio kept.
        let mut conf = RecordConfig::new(RecordMode {
            audio: true,
            keyframes: true,
            ..RecordMode::default()
        });
        conf.format = RecordFormat::Mp4;
        let mut r = Rig::new(conf);
        r.publish(0, 3);
        let st = r.handle.status();
        assert!(st.frames > 100 && st.duration_ms >= 2900, "{st:?}");
        r.finish(3000);
        let b = boxes(r.fs.segment("cam.mp4"));
        assert_eq!(b.iter().filter(|b| *b == "moof").count(), 3, "{b:?}");
    }
}
