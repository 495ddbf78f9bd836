//! HLS of every codec the demuxer knows, end to end: FFmpeg 9 encodes HEVC+AAC, AV1+Opus and
//! VP9+Opus sources to FLV files (Enhanced RTMP), then publishes them as they are (`-re -c
//! copy`) to a real nginx with the module. What a player gets is checked with the same FFmpeg:
//! the playlist decodes with zero errors, each decoded picture's MD5 equals the source's,
//! every frame is there once, every segment starts with a keyframe, the init segment has the
//! codec's sample entry, decode times continue, EXTINF is the media, TARGETDURATION stays,
//! ENDLIST closes, a republish adds a DISCONTINUITY. AV1, VP9 and Opus are written as fMP4
//! even where `mpegts` is configured (one notice line per stream); HEVC in MPEG-TS has stream
//! type 0x24. hls.js in headless Chromium plays AV1 and H.264 fMP4.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::Duration;

use support::ffmpeg9;
use support::fmp4::{parse_fragment, parse_init, TrackRun};
use support::hls::{Capture, Poller};
use support::hls_js;
use support::m3u8::parse_m3u8;
use support::nginx::{run_with_timeout, Conf, Nginx};
use support::ts::parse_ts;

/// Segments of 2 s; sources have a keyframe every 2 s (30 frames at 15 fps).
const FRAGMENT_S: u64 = 2;
const GOP: &str = "30";

/// A source file and what FFmpeg 9 reads of it.
struct Source {
    path: PathBuf,
    video_packets: usize,
    audio_packets: usize,
    /// One MD5 per decoded picture.
    video_md5: Vec<String>,
}

fn work_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/e2e/hls-codecs");
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn ff9(args: &[&str], file: &Path, tail: &[&str]) -> (String, String) {
    let out = ffmpeg9::command()
        .args(args)
        .arg(file)
        .args(tail)
        .stdin(Stdio::null())
        .output()
        .expect("run FFmpeg 9");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(
        out.status.success(),
        "FFmpeg 9 on {}: {stderr}",
        file.display()
    );
    (stdout, stderr)
}

/// Encodes 6 s of a test pattern (320x240, 15 fps) and a tone (48 kHz) with FFmpeg 9.
fn encode(name: &str, video: &[&str], audio: &[&str], secs: u32) -> Source {
    let path = work_dir().join(format!("{name}.flv"));
    let mut cmd = ffmpeg9::command();
    // SVT-AV1 logs its configuration on stderr unless told to keep to errors.
    cmd.env("SVT_LOG", "1")
        .args(["-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=15"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-t", &secs.to_string(), "-pix_fmt", "yuv420p"])
        .args(video)
        .args(audio)
        .args(["-f", "flv"])
        .arg(&path);
    let (ok, err) = run_with_timeout(cmd, Duration::from_secs(240));
    assert!(ok, "encoding {name}: {err}");
    let (video_md5, err) = ffmpeg9::frame_md5(&path, "0:v:0", false);
    assert!(err.is_empty(), "{name}: {err}");
    Source {
        video_packets: ffmpeg9::frame_md5(&path, "0:v:0", true).0.len(),
        audio_packets: ffmpeg9::frame_md5(&path, "0:a:0", true).0.len(),
        video_md5,
        path,
    }
}

struct Sources {
    hevc: Source,
    av1: Source,
    vp9: Source,
}

fn sources() -> &'static Sources {
    static S: OnceLock<Sources> = OnceLock::new();
    S.get_or_init(|| {
        let gop = ["-g", GOP, "-keyint_min", GOP, "-sc_threshold", "0"];
        let x265 = format!("keyint={GOP}:min-keyint={GOP}:scenecut=0:log-level=error");
        let hevc = [
            &[
                "-c:v",
                "libx265",
                "-preset",
                "ultrafast",
                "-x265-params",
                &x265,
            ][..],
            &gop[..],
        ]
        .concat();
        let av1 = [&["-c:v", "libsvtav1", "-preset", "12"][..], &gop[..]].concat();
        let vp9 = [
            &[
                "-c:v",
                "libvpx-vp9",
                "-deadline",
                "realtime",
                "-cpu-used",
                "8",
            ][..],
            &["-b:v", "300k"][..],
            &gop[..],
        ]
        .concat();
        let opus = ["-c:a", "libopus", "-b:a", "48k"];
        Sources {
            hevc: encode("hevc-aac", &hevc, &["-c:a", "aac", "-b:a", "64k"], 6),
            av1: encode("av1-opus", &av1, &opus, 6),
            vp9: encode("vp9-opus", &vp9, &opus, 6),
        }
    })
}

/// FFmpeg 9 publishing a file as it is: the server receives exactly the file's packets.
fn publish(file: &Path, url: &str) -> Command {
    let mut cmd = ffmpeg9::command();
    cmd.args(["-re", "-i"])
        .arg(file)
        .args(["-c", "copy", "-f", "flv", url]);
    cmd
}

/// Publishes `files` one after the other (500 ms apart) as `app/name` while capturing every
/// playlist version and segment in `dir`.
fn publish_and_capture(n: &Nginx, app: &str, dir: &Path, name: &str, files: &[&Path]) -> Capture {
    let poller = Poller::start(dir, name);
    for (i, file) in files.iter().enumerate() {
        if i > 0 {
            thread::sleep(Duration::from_millis(500));
        }
        let (ok, err) = run_with_timeout(
            publish(file, &n.rtmp_url(app, name)),
            Duration::from_secs(90),
        );
        assert!(
            ok,
            "publishing {}: {err}\n{}",
            file.display(),
            n.error_log()
        );
    }
    poller.finish(Duration::from_secs(5), Duration::ZERO)
}

/// The playlist rules every capture must pass: parseable versions, one TARGETDURATION (the
/// fragment's) that no EXTINF exceeds, ENDLIST at the end, `#EXT-X-VERSION` as the container needs, a
/// DISCONTINUITY before each republish. Returns the last version.
fn playlist_rules(cap: &Capture, version: u8, publishes: usize) -> String {
    assert!(cap.problems.is_empty(), "{:?}", cap.problems);
    let last = cap.versions.last().expect("a playlist").clone();
    assert!(
        last.starts_with(&format!("#EXTM3U\n#EXT-X-VERSION:{version}\n")),
        "{last}"
    );
    assert!(last.ends_with("#EXT-X-ENDLIST\n"), "{last}");
    let target = parse_m3u8(&last).target.expect("a target duration");
    // GOPs of 1 s: segments of `hls_fragment`, x265's open GOPs too (their keyframes are
    // decoded early by their leading pictures).
    assert_eq!(target, FRAGMENT_S, "{last}");
    for v in &cap.versions {
        let p = parse_m3u8(v);
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        assert_eq!(p.target, Some(target), "TARGETDURATION changed");
        for e in &p.entries {
            assert!(
                (e.duration_ms + 500) / 1000 <= target,
                "{} above target",
                e.uri
            );
        }
    }
    let discontinuities = parse_m3u8(&last)
        .entries
        .iter()
        .filter(|e| e.discontinuity)
        .count();
    assert_eq!(discontinuities, publishes - 1, "{last}");
    last
}

/// `(segment URI, init URI in force)` of every entry of a playlist.
fn maps(text: &str) -> Vec<(String, String)> {
    let mut map = String::new();
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("#EXT-X-MAP:URI=\"") {
            map = v.trim_end_matches('"').to_string();
        } else if !line.starts_with('#') && !line.is_empty() {
            out.push((line.to_string(), map.clone()));
        }
    }
    out
}

/// What a player decodes of the playlist: zero errors and, for a single publish, the
/// source's pictures.
fn decodes_like_the_source(playlist: &Path, src: &Source) {
    let (_, err) = ff9(&["-v", "error", "-i"], playlist, &["-f", "null", "-"]);
    assert_eq!(err, "", "{} decodes with errors", playlist.display());
    same_pictures(playlist, src);
}

fn same_pictures(file: &Path, src: &Source) {
    let (md5, err) = ffmpeg9::frame_md5(file, "0:v:0", false);
    assert_eq!(
        md5.len(),
        src.video_md5.len(),
        "{}: pictures: {err}",
        file.display()
    );
    assert!(md5 == src.video_md5, "{}: pictures differ", file.display());
}

/// Each publish of an fMP4 capture (the sections between DISCONTINUITY tags) as one file:
/// its init segment and its segments. FFmpeg's HLS reader does not reset timestamps at a
/// discontinuity, so each publish is decoded on its own.
fn publishes_as_files(dir: &Path, cap: &Capture, name: &str) -> Vec<PathBuf> {
    let last = cap.versions.last().expect("a playlist");
    let entries = parse_m3u8(last).entries;
    let mut files: Vec<Vec<u8>> = Vec::new();
    for ((uri, init), e) in maps(last).iter().zip(&entries) {
        if e.discontinuity || files.is_empty() {
            files.push(fs::read(dir.join(init)).expect("init segment"));
        }
        if let Some(f) = files.last_mut() {
            f.extend_from_slice(&cap.segments[uri].bytes);
        }
    }
    files
        .into_iter()
        .enumerate()
        .map(|(i, bytes)| {
            let path = work_dir().join(format!("{name}-publish-{i}.mp4"));
            fs::write(&path, bytes).unwrap();
            path
        })
        .collect()
}

/// The fMP4 rules on a capture of `publishes` publishes of `src`: the init segments' sample
/// entries, one `moof` + `mdat` per segment starting with a sync sample, every frame once,
/// decode times continuing within a publish, EXTINF equal to the media.
fn fmp4_rules(dir: &Path, cap: &Capture, src: &Source, entries: [&str; 2], publishes: usize) {
    let last = playlist_rules(cap, 6, publishes);
    let listed = maps(&last);
    let playlist = parse_m3u8(&last);
    // The sources' audio is 48 kHz, the timescale of AAC at that rate and of Opus.
    let audio_rate: u64 = 48_000;
    let mut inits: Vec<&String> = listed.iter().map(|(_, m)| m).collect();
    inits.dedup();
    assert_eq!(
        inits.len(),
        publishes,
        "an init segment per publish: {last}"
    );
    for uri in inits {
        let init = fs::read(dir.join(uri)).expect("init segment on disk");
        let tracks = parse_init(&init);
        let got: Vec<(&str, u32)> = tracks
            .iter()
            .map(|t| (t.entry.as_str(), t.timescale))
            .collect();
        assert_eq!(got, [(entries[0], 90_000), (entries[1], audio_rate as u32)]);
    }
    let (mut nv, mut na) = (0, 0);
    let mut prev: Option<(TrackRun, Option<TrackRun>)> = None;
    let mut starts: Vec<u64> = Vec::new();
    for ((uri, _), entry) in listed.iter().zip(&playlist.entries) {
        let (_, runs) = parse_fragment(&cap.segments[uri].bytes);
        let video = runs.iter().find(|r| r.track_id == 1).cloned();
        let audio = runs.iter().find(|r| r.track_id == 2).cloned();
        let v = video.unwrap_or_else(|| panic!("{uri}: no video"));
        assert!(v.sync[0], "{uri} does not start with a keyframe");
        nv += v.samples.len();
        na += audio.as_ref().map_or(0, |a| a.samples.len());
        if let (Some((pv, pa)), false) = (&prev, entry.discontinuity) {
            assert_eq!(
                v.base_decode_time,
                pv.base_decode_time + pv.duration(),
                "{uri}"
            );
            if let (Some(pa), Some(a)) = (pa, &audio) {
                assert_eq!(
                    a.base_decode_time,
                    pa.base_decode_time + pa.duration(),
                    "{uri}"
                );
            }
        }
        let a_start = audio
            .as_ref()
            .map(|a| a.base_decode_time * 90_000 / audio_rate);
        starts.push(a_start.map_or(v.base_decode_time, |a| a.min(v.base_decode_time)));
        prev = Some((v, audio));
    }
    assert_eq!(nv, publishes * src.video_packets, "every video frame once");
    assert_eq!(na, publishes * src.audio_packets, "every audio frame once");
    // EXTINF against the media: from a segment's start to the next one's, within a publish.
    let es = &playlist.entries;
    for i in 1..es.len().min(starts.len()) {
        if es[i].discontinuity {
            continue;
        }
        let media_ms = (starts[i] - starts[i - 1]) as f64 / 90.0;
        let extinf = es[i - 1].duration_ms as f64;
        assert!(
            (media_ms - extinf).abs() <= 3.0,
            "{}: EXTINF {extinf} ms, media {media_ms:.1} ms",
            es[i - 1].uri
        );
    }
}

#[test]
fn hevc_aac_as_fmp4_and_as_mpegts() {
    let src = &sources().hevc;
    let conf = Conf::rtmp(&format!(
        "server {{ listen 127.0.0.1:{{rtmp_port}};
           application cmaf {{ live on; hls on; hls_path {{prefix}}/www/cmaf;
                              hls_fragment {FRAGMENT_S}; hls_fragment_type fmp4; }}
           application ts {{ live on; hls on; hls_path {{prefix}}/www/ts;
                            hls_fragment {FRAGMENT_S}; hls_fragment_type mpegts; }} }}"
    ));
    let n = Nginx::start("hls-codecs-hevc", &conf);
    let (cmaf_dir, ts_dir) = (n.prefix.join("www/cmaf"), n.prefix.join("www/ts"));
    let (cmaf, ts) = thread::scope(|s| {
        let a = s.spawn(|| publish_and_capture(&n, "cmaf", &cmaf_dir, "hevc", &[&src.path]));
        let b = s.spawn(|| publish_and_capture(&n, "ts", &ts_dir, "hevc", &[&src.path]));
        (a.join().unwrap(), b.join().unwrap())
    });
    fmp4_rules(&cmaf_dir, &cmaf, src, ["hvc1", "mp4a"], 1);
    decodes_like_the_source(&cmaf_dir.join("hevc.m3u8"), src);

    // MPEG-TS: stream type 0x24, every segment opens with an HEVC random access point (its
    // AUD, then VPS, SPS, PPS), every frame once.
    let last = playlist_rules(&ts, 3, 1);
    assert!(!last.contains("#EXT-X-MAP"), "{last}");
    let mut frames = 0;
    for e in parse_m3u8(&last).entries {
        assert!(e.uri.ends_with(".ts"), "{}", e.uri);
        let info = parse_ts(&ts.segments[&e.uri].bytes);
        let pid = info
            .pid_of(0x24)
            .unwrap_or_else(|| panic!("{}: no HEVC in the PMT", e.uri));
        let video: Vec<_> = info.pes.iter().filter(|p| p.pid == pid).collect();
        frames += video.len();
        let first = video.first().expect("video");
        assert!(
            first.random_access,
            "{}: starts with a random access point",
            e.uri
        );
        let types: Vec<u8> = nal_types_hevc(&first.data);
        assert_eq!(
            types.get(..4),
            Some(&[35, 32, 33, 34][..]),
            "{}: {types:?}",
            e.uri
        );
        assert!(
            types.iter().any(|t| (16..=21).contains(t)),
            "{}: {types:?}",
            e.uri
        );
        assert!(
            video
                .iter()
                .all(|p| nal_types_hevc(&p.data).first() == Some(&35)),
            "AUD first"
        );
    }
    assert_eq!(frames, src.video_packets, "every video frame once");
    decodes_like_the_source(&ts_dir.join("hevc.m3u8"), src);
    assert!(
        !n.error_log().contains("written as fMP4"),
        "HEVC+AAC fits MPEG-TS"
    );
    n.assert_no_crash();
}

/// The NAL unit types of an HEVC Annex B stream.
fn nal_types_hevc(data: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    let mut i = 0;
    while i + 3 < data.len() {
        if data[i..i + 3] == [0, 0, 1] {
            types.push((data[i + 3] >> 1) & 0x3f);
            i += 3;
        } else {
            i += 1;
        }
    }
    types
}

#[test]
fn av1_and_vp9_with_opus_are_fmp4_even_where_mpegts_is_configured() {
    let s = sources();
    let conf = Conf::rtmp(&format!(
        "server {{ listen 127.0.0.1:{{rtmp_port}};
           application live {{ live on; hls on; hls_path {{prefix}}/www/hls;
                              hls_fragment {FRAGMENT_S}; hls_fragment_type mpegts; }} }}"
    ));
    let n = Nginx::start("hls-codecs-av1-vp9", &conf);
    let dir = n.prefix.join("www/hls");
    let (av1, vp9) = thread::scope(|sc| {
        // AV1 twice: the republish is a discontinuity with an init segment of its own.
        let a =
            sc.spawn(|| publish_and_capture(&n, "live", &dir, "av1", &[&s.av1.path, &s.av1.path]));
        let b = sc.spawn(|| publish_and_capture(&n, "live", &dir, "vp9", &[&s.vp9.path]));
        (a.join().unwrap(), b.join().unwrap())
    });
    fmp4_rules(&dir, &av1, &s.av1, ["av01", "Opus"], 2);
    let (_, err) = ff9(
        &["-v", "error", "-i"],
        &dir.join("av1.m3u8"),
        &["-f", "null", "-"],
    );
    assert_eq!(err, "", "the republished AV1 playlist decodes with errors");
    let files = publishes_as_files(&dir, &av1, "av1");
    assert_eq!(files.len(), 2);
    for file in &files {
        same_pictures(file, &s.av1);
    }
    fmp4_rules(&dir, &vp9, &s.vp9, ["vp09", "Opus"], 1);
    decodes_like_the_source(&dir.join("vp9.m3u8"), &s.vp9);
    // AV1 samples carry no temporal delimiter OBU (type 2).
    for (uri, seg) in &av1.segments {
        let (_, runs) = parse_fragment(&seg.bytes);
        for sample in &runs[0].samples {
            assert_ne!((sample[0] >> 3) & 0x0f, 2, "{uri}: a temporal delimiter");
        }
    }
    // One notice per publish of a stream, naming the codecs.
    let log = n.error_log();
    let notices: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("is written as fMP4"))
        .collect();
    assert_eq!(notices.len(), 3, "{notices:#?}");
    assert!(
        notices.iter().all(|l| l.contains("[notice]")),
        "{notices:#?}"
    );
    assert_eq!(
        notices
            .iter()
            .filter(|l| l.contains("\"av1\" (AV1 video, Opus audio)"))
            .count(),
        2
    );
    assert_eq!(
        notices
            .iter()
            .filter(|l| l.contains("\"vp9\" (VP9 video, Opus audio)"))
            .count(),
        1
    );
    n.assert_no_crash();
}

const WATCH_SECS: f64 = 6.0;

fn spawn_publish(file: &Path, url: &str) -> Child {
    publish(file, url)
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn FFmpeg 9")
}

#[test]
fn hlsjs_plays_av1_and_h264_fmp4() {
    // Long enough for the player to watch while the stream is live.
    let gop = ["-g", GOP, "-keyint_min", GOP, "-sc_threshold", "0"];
    let av1 = [&["-c:v", "libsvtav1", "-preset", "12"][..], &gop[..]].concat();
    let av1 = encode("av1-opus-long", &av1, &["-c:a", "libopus"], 30);
    let h264 = [&["-c:v", "libx264", "-preset", "ultrafast"][..], &gop[..]].concat();
    let h264 = encode("h264-aac-long", &h264, &["-c:a", "aac"], 30);
    let conf = Conf::rtmp(&format!(
        "server {{ listen 127.0.0.1:{{rtmp_port}};
           application live {{ live on; hls on; hls_path {{prefix}}/www/hls;
                              hls_fragment {FRAGMENT_S}; hls_fragment_type fmp4; }} }}"
    ))
    .http(
        "location /hls/ { root {prefix}/www;
             types { application/vnd.apple.mpegurl m3u8; video/iso.segment m4s; video/mp4 mp4; }
             add_header Cache-Control no-cache; }
         location /player/ { root {prefix}/www;
             types { text/html html; application/javascript js; } }",
    );
    let n = Nginx::start("hls-codecs-player", &conf);
    hls_js::install_page(&n.prefix.join("www/player"));
    for (src, name, entry) in [(&av1, "av1", "av01"), (&h264, "h264", "avc1")] {
        let mut publisher = spawn_publish(&src.path, &n.rtmp_url("live", name));
        let playlist = n.prefix.join(format!("www/hls/{name}.m3u8"));
        hls_js::wait_listed(&n, &playlist, &mut publisher, 2);
        let page = format!(
            "http://127.0.0.1:{}/player/index.html?src=/hls/{name}.m3u8",
            n.http_port
        );
        let played = hls_js::play(&page, &format!("hls-codecs-{name}.png"), WATCH_SECS);
        let _ = publisher.kill();
        let _ = publisher.wait();
        let size = played.assert_played(WATCH_SECS, &|| format!("nginx:\n{}", n.error_log()));
        assert_eq!(size, "320 240", "{name}: decoded picture size");
        let text = fs::read_to_string(&playlist).unwrap();
        let init = maps(&text).first().expect("a segment").1.clone();
        let tracks = parse_init(&fs::read(n.prefix.join("www/hls").join(init)).unwrap());
        assert_eq!(tracks[0].entry, entry);
    }
    n.assert_no_crash();
}
