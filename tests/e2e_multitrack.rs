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
use support::hls::{publish_and_capture, Input, Kind, Poller};
use support::hls_rules::{check, table, Report, Scenario};
use support::m3u8::parse_m3u8;
use support::master::{check_media_facts, first_video_pts, parse_master, probe};
use support::nginx::{Conf, Nginx};

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

/// The multitrack FLV (FFmpeg 9: one decoded pattern split into two sizes, each encoded with
/// the same GOP, keyframes forced every 2 s, scene cuts off) and, per track, the same
/// packets as a single-track FLV with the audio (what each rendition must carry).
fn inputs(dir: &Path) -> (PathBuf, Vec<Input>) {
    fs::create_dir_all(dir).expect("input dir");
    let multi = dir.join("multi.flv");
    let secs = SECS.to_string();
    let gop = [
        "-g",
        "60",
        "-keyint_min",
        "60",
        "-sc_threshold",
        "0",
        "-force_key_frames",
        "expr:gte(t,n_forced*2)",
    ];
    run_ok(
        ffmpeg9::command()
            .arg("-y")
            .args(["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30"])
            .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
            .args(["-t", &secs])
            .args([
                "-filter_complex",
                "[0:v]split=2[a][b];[b]scale=320:180[small]",
            ])
            .args(["-map", "[a]", "-map", "[small]", "-map", "1:a"])
            .args(["-c:v", "libx264", "-preset", "veryfast", "-bf", "2"])
            .args(["-threads", "1", "-pix_fmt", "yuv420p"])
            .args(["-b:v:0", "900k", "-b:v:1", "250k"])
            .args(gop)
            .args(["-c:a", "aac", "-b:a", "64k", "-f", "flv"])
            .arg(&multi),
        "FFmpeg 9 multitrack encode",
    );
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
