//! Multitrack renditions end to end: FFmpeg 9 publishes one FLV with two H.264 video tracks
//! (640x360 as the legacy track 0, 320x180 as Multitrack/OneTrack track 1; keyframes at the
//! same instants, as an encoder sending several qualities makes them) and one AAC track.
//! `cam.m3u8` must be a master listing `cam_t0.m3u8` and `cam_t1.m3u8` with what ffprobe sees
//! in their segments (CODECS, RESOLUTION, FRAME-RATE), each rendition's playlist must pass
//! the HLS rules against its own track (every frame once, decoding with zero errors, keyframe
//! starts, EXTINF = media, ...), the two renditions' segments must line up (same numbers, same
//! durations, same start PTS), and the master goes when the publisher leaves. A single-track
//! publish in the same application keeps its plain playlist: no master, no renditions.

mod support;

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use support::ffmpeg9;
use support::flv::{self, Tag};
use support::hls::{decode_errors, publish_and_capture, Input, Kind, Poller};
use support::hls_rules::{check, table, Report, Scenario};
use support::m3u8::parse_m3u8;
use support::master::{check_media_facts, first_video_pts, parse_master, probe};
use support::nginx::{ffmpeg_publish_file, run_with_timeout, Conf, Nginx};
use support::rtmp_client::Publisher;
use support::wait;

const FRAGMENT_MS: u64 = 2_000;
const SECS: u32 = 12;
/// Each track: (rendition, size).
const TRACKS: [(&str, &str); 2] = [("cam_t0", "640x360"), ("cam_t1", "320x180")];

fn conf() -> Conf {
    Conf::rtmp(
        "server { listen 127.0.0.1:{rtmp_port};
           application live { live on; hls on; hls_path {prefix}/www/hls; hls_fragment 2;
             hls_playlist_length 60; } }",
    )
}

fn run_ok(cmd: &mut Command, what: &str) {
    let out = cmd.stdin(Stdio::null()).output().expect(what);
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A multitrack FLV of FFmpeg 9: one decoded pattern split into `sizes`, each encoded as a
/// video track with the same GOP (keyframes forced every 2 s, scene cuts off), and AAC.
fn encode_multitrack(dir: &Path, name: &str, sizes: &[&str]) -> PathBuf {
    fs::create_dir_all(dir).expect("input dir");
    let multi = dir.join(format!("{name}.flv"));
    let labels: Vec<String> = (0..sizes.len()).map(|i| format!("[v{i}]")).collect();
    let filter = format!(
        "[0:v]split={}{};{}",
        sizes.len(),
        (0..sizes.len())
            .map(|i| format!("[s{i}]"))
            .collect::<String>(),
        sizes
            .iter()
            .enumerate()
            .map(|(i, size)| format!("[s{i}]scale={}[v{i}]", size.replace('x', ":")))
            .collect::<Vec<_>>()
            .join(";")
    );
    let mut cmd = ffmpeg9::command();
    cmd.arg("-y")
        .args(["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
        .args(["-t", &SECS.to_string()])
        .args(["-filter_complex", &filter]);
    for (i, (l, size)) in labels.iter().zip(sizes).enumerate() {
        // 0.1 bit per pixel and frame: the larger track takes more.
        let (w, h) = size.split_once('x').expect("WxH");
        let kbps = w.parse::<u64>().unwrap() * h.parse::<u64>().unwrap() * 3 / 1000;
        cmd.args(["-map", l])
            .args([format!("-b:v:{i}"), format!("{kbps}k")]);
    }
    cmd.args(["-map", "1:a"])
        .args(["-c:v", "libx264", "-preset", "veryfast", "-bf", "2"])
        .args(["-threads", "1", "-pix_fmt", "yuv420p"])
        .args(["-g", "60", "-keyint_min", "60", "-sc_threshold", "0"])
        .args(["-force_key_frames", "expr:gte(t,n_forced*2)"])
        .args(["-c:a", "aac", "-b:a", "64k", "-f", "flv"])
        .arg(&multi);
    run_ok(&mut cmd, "FFmpeg 9 multitrack encode");
    multi
}

/// The multitrack FLV of [`TRACKS`] and, per track, the same packets as a single-track FLV
/// with the audio (what each rendition must carry).
fn inputs(dir: &Path) -> (PathBuf, Vec<Input>) {
    let sizes: Vec<&str> = TRACKS.iter().map(|(_, size)| *size).collect();
    let multi = encode_multitrack(dir, "multi", &sizes);
    let tracks = (0..TRACKS.len())
        .map(|i| {
            let path = dir.join(format!("track{i}.flv"));
            run_ok(
                ffmpeg9::command()
                    .arg("-y")
                    .arg("-i")
                    .arg(&multi)
                    .args(["-map", &format!("0:v:{i}"), "-map", "0:a"])
                    .args(["-c", "copy", "-f", "flv"])
                    .arg(&path),
                "FFmpeg 9 track extraction",
            );
            Input::describe(path, Kind::Av)
        })
        .collect();
    (multi, tracks)
}

fn scenario<'a>(n: &Nginx, label: &str, input: &'a Input) -> Scenario<'a> {
    Scenario {
        label: label.to_owned(),
        publishes: vec![input],
        fragment_ms: FRAGMENT_MS,
        playlist_length_ms: 60_000,
        check_cleanup: false,
        work: n.prefix.join("check").join(label),
    }
}

fn assert_all_pass(reports: &[&Report]) {
    eprintln!("{}", table(reports));
    let failures: Vec<String> = reports.iter().flat_map(|r| r.failures()).collect();
    assert!(
        failures.is_empty(),
        "HLS rules failed:\n{}",
        failures.join("\n")
    );
}

/// Checks the master against the renditions' playlists and latest segments; `Err` says what
/// is not (yet) right.
fn check_master(dir: &Path) -> Result<Vec<u64>, String> {
    let master = fs::read_to_string(dir.join("cam.m3u8")).map_err(|e| e.to_string())?;
    let infs = parse_master(&master);
    if infs.len() != TRACKS.len() {
        return Err(format!("not one entry per track:\n{master}"));
    }
    let mut bandwidths = Vec::new();
    for (name, size) in TRACKS {
        let uri = format!("{name}.m3u8");
        let inf = infs
            .iter()
            .find(|i| i.uri == uri)
            .ok_or_else(|| format!("{uri} not in\n{master}"))?;
        let text = fs::read_to_string(dir.join(&uri)).map_err(|e| e.to_string())?;
        let last = parse_m3u8(&text)
            .entries
            .pop()
            .ok_or_else(|| format!("{uri}: no segment"))?;
        let segment = dir.join(&last.uri);
        check_media_facts(inf, &segment, name, &master)?;
        let (_, resolution, _) = probe(&segment);
        if resolution != size {
            return Err(format!("{name}: segments are {resolution}, not {size}"));
        }
        let bw: u64 = inf
            .get("BANDWIDTH")
            .and_then(|b| b.parse().ok())
            .ok_or("BANDWIDTH")?;
        bandwidths.push(bw);
    }
    Ok(bandwidths)
}

#[test]
fn video_tracks_become_aligned_renditions() {
    let n = Nginx::start("multitrack", &conf());
    let dir = n.prefix.join("www/hls");
    let (multi, tracks) = inputs(&n.prefix.join("inputs"));
    assert!(tracks
        .iter()
        .all(|t| t.video_packets == tracks[0].video_packets));

    let pollers: Vec<Poller> = TRACKS
        .iter()
        .map(|(name, _)| Poller::start(&dir, name))
        .collect();
    let mut publisher = ffmpeg9::command()
        .args(["-re", "-i"])
        .arg(&multi)
        .args(["-map", "0", "-c", "copy", "-f", "flv"])
        .arg(n.rtmp_url("live", "cam"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("FFmpeg 9 publish");
    let deadline = Instant::now() + Duration::from_secs(u64::from(SECS) + 60);
    let mut master = Err("never read".to_owned());
    let status = loop {
        if let Some(status) = publisher.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "the publish did not end");
        if master.is_err() {
            master = check_master(&dir);
        }
        sleep(Duration::from_millis(200));
    };
    let mut err = String::new();
    if let Some(mut e) = publisher.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    assert!(status.success(), "publish failed: {err}\n{}", n.error_log());
    let caps: Vec<_> = pollers
        .into_iter()
        .map(|p| p.finish(Duration::from_secs(5), Duration::ZERO))
        .collect();
    let bandwidths = master.unwrap_or_else(|e| panic!("master never right: {e}"));
    assert!(
        bandwidths[0] > bandwidths[1],
        "each rendition's bandwidth measured: {bandwidths:?}"
    );
    assert!(
        n.error_log().contains("publishes 2 video tracks"),
        "{}",
        n.error_log()
    );

    // Each rendition against its own track.
    let scenarios: Vec<Scenario> = TRACKS
        .iter()
        .zip(&tracks)
        .map(|((name, _), input)| scenario(&n, name, input))
        .collect();
    let reports: Vec<Report> = scenarios
        .iter()
        .zip(&caps)
        .map(|(sc, cap)| check(sc, cap))
        .collect();
    assert_all_pass(&reports.iter().collect::<Vec<_>>());

    // Aligned: the same segments (number, duration, start) in both renditions.
    let lists: Vec<Vec<(u64, u64)>> = caps
        .iter()
        .map(|c| {
            let last = c.versions.last().expect("a playlist");
            parse_m3u8(last)
                .entries
                .iter()
                .map(|e| (e.seq, e.duration_ms))
                .collect()
        })
        .collect();
    assert!(lists[0].len() >= 5, "{:?}", lists[0]);
    assert_eq!(lists[0], lists[1], "the renditions' segments differ");
    let starts: Vec<Vec<i64>> = caps
        .iter()
        .zip(&scenarios)
        .map(|(c, sc)| {
            let last = c.versions.last().expect("a playlist");
            parse_m3u8(last)
                .entries
                .iter()
                .map(|e| first_video_pts(&sc.work.join(&e.uri)))
                .collect()
        })
        .collect();
    assert_eq!(starts[0], starts[1], "segments start at other instants");

    // The publisher left: the master goes (no rendition is live).
    let gone = Instant::now() + Duration::from_secs(5);
    while dir.join("cam.m3u8").exists() && Instant::now() < gone {
        sleep(Duration::from_millis(100));
    }
    assert!(!dir.join("cam.m3u8").exists(), "master left behind");

    // A single-track publish in the same application: its own media playlist, as before.
    let solo = publish_and_capture(
        &n,
        "live",
        &dir,
        "solo",
        &[&tracks[1]],
        Duration::ZERO,
        Duration::ZERO,
    );
    let report = check(&scenario(&n, "solo", &tracks[1]), &solo);
    assert_all_pass(&[&report]);
    assert!(solo
        .versions
        .iter()
        .all(|v| v.contains("#EXT-X-TARGETDURATION") && !v.contains("STREAM-INF")));
    for leftover in ["solo_t0.m3u8", ".solo_t0.variant"] {
        assert!(!dir.join(leftover).exists(), "{leftover} written");
    }
}

/// The video track of a tag: 0 for a legacy tag, the id of a Multitrack/OneTrack one.
fn track_of(tag: &Tag) -> Option<u8> {
    let b = &tag.body;
    match b.first()? {
        b0 if b0 & 0x80 == 0 => Some(0),
        b0 if b0 & 0x0f == 6 => b.get(6).copied(),
        _ => None,
    }
}

fn ex_keyframe(tag: &Tag) -> bool {
    tag.body.first().is_some_and(|b| (b >> 4) & 0x07 == 1)
}

/// Publishes the tags of `file` as `name` in real time, except that the video tracks in
/// `late` are held back until `from_ms`: at their first keyframe from then on, their
/// SequenceStart is sent (with that keyframe's timestamp), then their frames.
fn publish_late(n: &Nginx, file: &Path, name: &str, late: &[u8], from_ms: u32) {
    let tags = flv::tags(&fs::read(file).expect("input"));
    let mut held: Vec<(u8, Tag)> = Vec::new();
    let mut joined: Vec<u8> = Vec::new();
    let mut p = Publisher::live(n.rtmp_port, name);
    let start = Instant::now();
    for tag in tags {
        let track = if tag.video() { track_of(&tag) } else { None };
        if let Some(id) = track.filter(|id| late.contains(id) && !joined.contains(id)) {
            let sequence_start = tag.body.get(1).is_some_and(|b| b & 0x0f == 0);
            if sequence_start {
                held.push((id, tag));
                continue;
            }
            if tag.ts < from_ms || !ex_keyframe(&tag) {
                continue;
            }
            joined.push(id);
            let (_, header) = held.iter().find(|(h, _)| *h == id).expect("SequenceStart");
            let header = Tag {
                ts: tag.ts,
                ..header.clone()
            };
            p.tags(&[header]);
        }
        let due = start + Duration::from_millis(u64::from(tag.ts));
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            sleep(wait);
        }
        p.tags(&[tag]);
    }
    assert_eq!(joined.len(), late.len(), "every late track joined");
    p.finish();
}

/// The (sequence, EXTINF ms) of a playlist file's segments.
fn listed(path: &Path) -> Vec<(u64, u64, String)> {
    let text = fs::read_to_string(path).unwrap_or_default();
    parse_m3u8(&text)
        .entries
        .into_iter()
        .map(|e| (e.seq, e.duration_ms, e.uri))
        .collect()
}

#[test]
fn a_track_configured_later_joins_or_is_left_out() {
    let n = Nginx::start("multitrack-late", &conf());
    let dir = n.prefix.join("www/hls");
    let multi = encode_multitrack(
        &n.prefix.join("inputs"),
        "three",
        &["640x360", "480x270", "320x180"],
    );
    // Tracks 0 and 1 from the start, track 2 from 4 s: it joins the renditions.
    let master_seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let watcher = {
        let (dir, seen) = (dir.clone(), master_seen.clone());
        std::thread::spawn(move || {
            let end = Instant::now() + Duration::from_secs(u64::from(SECS) + 5);
            while Instant::now() < end {
                if let Ok(text) = fs::read_to_string(dir.join("late.m3u8")) {
                    let mut seen = seen.lock().unwrap();
                    if seen.last() != Some(&text) {
                        seen.push(text);
                    }
                }
                sleep(Duration::from_millis(50));
            }
        })
    };
    publish_late(&n, &multi, "late", &[2], 4_000);
    watcher.join().expect("watcher");
    let masters = master_seen.lock().unwrap().clone();
    let entries: Vec<Vec<String>> = masters
        .iter()
        .map(|m| parse_master(m).into_iter().map(|i| i.uri).collect())
        .collect();
    let all = ["late_t0.m3u8", "late_t1.m3u8", "late_t2.m3u8"];
    assert!(
        entries
            .iter()
            .any(|e| e.len() == 3 && all.iter().all(|u| e.contains(&u.to_string()))),
        "the late track never entered the master: {entries:?}"
    );
    assert!(
        entries
            .first()
            .is_some_and(|e| !e.contains(&"late_t2.m3u8".to_string())),
        "the master started without the late track: {entries:?}"
    );
    let t0 = listed(&dir.join("late_t0.m3u8"));
    let t2 = listed(&dir.join("late_t2.m3u8"));
    assert!(t0.len() >= 5 && t2.len() >= 3, "{t0:?}\n{t2:?}");
    // The late rendition's segments are the others' from its start on: same numbers,
    // durations and start PTS.
    for (seq, ms, uri) in &t2 {
        let (_, ms0, uri0) = t0
            .iter()
            .find(|(s, _, _)| s == seq)
            .unwrap_or_else(|| panic!("sequence {seq} only in late_t2: {t0:?}"));
        assert_eq!(ms, ms0, "sequence {seq}: EXTINF");
        let (a, b) = (dir.join(uri), dir.join(uri0));
        assert_eq!(first_video_pts(&a), first_video_pts(&b), "sequence {seq}");
        assert_eq!(decode_errors(&a).trim(), "", "{uri}");
        assert_eq!(probe(&a).1, "320x180");
    }
    assert_eq!(t2.last().map(|e| e.0), t0.last().map(|e| e.0));

    // Only track 0 at the start, tracks 1 and 2 from 4 s: the stream stays one rendition.
    publish_late(&n, &multi, "settled", &[1, 2], 4_000);
    let text = fs::read_to_string(dir.join("settled.m3u8")).expect("settled.m3u8");
    assert!(text.contains("#EXT-X-ENDLIST"), "{text}");
    let segments = parse_m3u8(&text).entries;
    assert!(segments.len() >= 5, "{text}");
    for e in &segments {
        assert_eq!(probe(&dir.join(&e.uri)).1, "640x360");
    }
    assert!(!dir.join("settled_t0.m3u8").exists() && !dir.join("settled_t1.m3u8").exists());
    assert!(
        n.error_log()
            .contains("a video track appeared after the media began"),
        "{}",
        n.error_log()
    );
}

/// Spawns FFmpeg 9 publishing every track of `file` to `name`, as `-re`.
fn publish_multitrack(n: &Nginx, file: &Path, name: &str) -> std::process::Child {
    ffmpeg9::command()
        .args(["-re", "-i"])
        .arg(file)
        .args(["-map", "0", "-c", "copy", "-f", "flv"])
        .arg(n.rtmp_url("live", name))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("FFmpeg 9 publish")
}

/// Waits until `path` holds a playlist containing `needle`.
fn wait_playlist(path: &Path, needle: &str) -> bool {
    wait::until(Duration::from_secs(15), || {
        fs::read_to_string(path).is_ok_and(|t| t.contains(needle))
    })
}

/// `cam_tN` is the file name of a rendition of `cam`: while `cam` publishes, a publish of such
/// a name is refused, whichever worker either lands on; a stream that published under such a
/// name first keeps its playlist, and the multitrack stream stays a single rendition.
#[test]
fn rendition_names_belong_to_their_stream() {
    let n = Nginx::start("multitrack-names", &conf().workers(2));
    let dir = n.prefix.join("www/hls");
    let inputs = n.prefix.join("inputs");
    let multi = encode_multitrack(&inputs, "multi", &["640x360", "320x180"]);
    let single = Input::encode_av(&inputs, "single", SECS);

    // `dog_t1` first, then a multitrack `dog`; meanwhile a multitrack `cam`, then `cam_t1`
    // and `cam_t7`.
    let mut dog_t1 = ffmpeg_publish_file(&single.path, &n.rtmp_url("live", "dog_t1"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ffmpeg publish");
    let mut cam = publish_multitrack(&n, &multi, "cam");
    assert!(
        wait_playlist(&dir.join("dog_t1.m3u8"), "#EXTINF"),
        "{}",
        n.error_log()
    );
    let mut dog = publish_multitrack(&n, &multi, "dog");
    assert!(
        wait_playlist(&dir.join("cam.m3u8"), "#EXT-X-STREAM-INF"),
        "{}",
        n.error_log()
    );
    for name in ["cam_t1", "cam_t7"] {
        let (ok, err) = run_with_timeout(
            ffmpeg_publish_file(&single.path, &n.rtmp_url("live", name)),
            Duration::from_secs(20),
        );
        assert!(!ok, "{name} was published: {err}");
        let said = format!(
            "publish \"live/{name}\" refused: the name of a video track rendition of \"live/cam\""
        );
        assert!(n.error_log().contains(&said), "{}", n.error_log());
    }
    for (p, what) in [
        (&mut cam, "cam"),
        (&mut dog, "dog"),
        (&mut dog_t1, "dog_t1"),
    ] {
        assert!(
            p.wait().expect("wait").success(),
            "the publish of {what} failed:\n{}",
            n.error_log()
        );
    }
    let log = n.error_log();
    assert!(
        log.contains(
            "\"live/dog\" publishes 2 video tracks: HLS keeps the first track only, as \
             \"dog_t1\" publishes under the name of a rendition"
        ),
        "{log}"
    );
    // `dog` is one plain playlist of its first track (ended once the server saw the
    // publisher leave); `dog_t1` the single-track stream's.
    assert!(
        wait_playlist(&dir.join("dog.m3u8"), "#EXT-X-ENDLIST"),
        "{}",
        n.error_log()
    );
    let dog = fs::read_to_string(dir.join("dog.m3u8")).expect("dog.m3u8");
    assert!(!dog.contains("#EXT-X-STREAM-INF"), "{dog}");
    for e in parse_m3u8(&dog).entries {
        assert_eq!(probe(&dir.join(&e.uri)).1, "640x360", "{}", e.uri);
    }
    assert!(!dir.join("dog_t0.m3u8").exists());
    let dog_t1 = fs::read_to_string(dir.join("dog_t1.m3u8")).expect("dog_t1.m3u8");
    let entries = parse_m3u8(&dog_t1).entries;
    assert!(entries.len() >= 5, "{dog_t1}");
    for e in &entries {
        assert_eq!(probe(&dir.join(&e.uri)).1, "320x240", "{}", e.uri);
    }
    // `cam_t1` is the rendition's alone: every segment the 320x180 track.
    let cam_t1 = fs::read_to_string(dir.join("cam_t1.m3u8")).expect("cam_t1.m3u8");
    for e in parse_m3u8(&cam_t1).entries {
        assert_eq!(probe(&dir.join(&e.uri)).1, "320x180", "{}", e.uri);
    }
    n.assert_no_crash();
}
