//! Low-Latency HLS end to end: Debian's ffmpeg publishes H.264/AAC (a keyframe every second)
//! into applications with `hls_low_latency on`, MPEG-TS and fMP4, and the files in `hls_path`
//! are read over and over for 30 s as a player would: every playlist must be a full
//! Low-Latency playlist (server control, part target, parts no longer than it, the parts of a
//! segment adding up to its EXTINF, dates on every segment following the EXTINF), every part
//! it lists must already be on disk, the preload hint must name the part listed next, the
//! parts of each segment concatenated must be the segment's bytes, INDEPENDENT must be true to
//! the media (ffprobe reads each part's first video packet) and every segment must decode
//! with zero errors. A multitrack publish (FFmpeg 9) checks the rendition reports against the
//! other rendition's playlist, hls.js with `lowLatencyMode` plays the parts served as static
//! files, and bad values of the directives fail `nginx -t` with file and line.

mod support;

use std::fs;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use support::ffmpeg9;
use support::hls_js;
use support::llhls;
use support::llhls_watch::Watcher;
use support::nginx::{ffmpeg, Conf, Nginx};

const PART_MS: u64 = 330;
const WATCH: Duration = Duration::from_secs(30);

/// Debian's ffmpeg publishing a test pattern (H.264 with a keyframe every second, AAC) in
/// real time for `secs` seconds.
fn publish(url: &str, secs: u32) -> Child {
    ffmpeg()
        .arg("-re")
        .args(["-f", "lavfi", "-i", "testsrc=size=320x240:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
        .args(["-t", &secs.to_string()])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
        ])
        .args(["-g", "30", "-keyint_min", "30", "-sc_threshold", "0"])
        .args(["-pix_fmt", "yuv420p", "-threads", "1"])
        .args(["-c:a", "aac", "-b:a", "64k", "-f", "flv", url])
        .spawn()
        .expect("spawn ffmpeg")
}

#[test]
fn ts_and_fmp4_low_latency_files_hold_the_rules() {
    let conf = Conf::rtmp(
        "server { listen 127.0.0.1:{rtmp_port};
           application llts { live on; hls on; hls_path {prefix}/www/ts; hls_fragment 2;
             hls_low_latency on; hls_part_duration 0.33s; }
           application llfmp4 { live on; hls on; hls_path {prefix}/www/fmp4; hls_fragment 2;
             hls_fragment_type fmp4; hls_low_latency on; hls_part_duration 330ms; } }",
    );
    let n = Nginx::start("llhls", &conf);
    let mut publishers = [
        publish(&n.rtmp_url("llts", "cam"), 45),
        publish(&n.rtmp_url("llfmp4", "cam"), 45),
    ];
    let mut watchers = [
        Watcher::new(
            n.prefix.join("www/ts"),
            "cam.m3u8",
            "ts",
            PART_MS,
            n.prefix.join("keep/ts"),
        ),
        Watcher::new(
            n.prefix.join("www/fmp4"),
            "cam.m3u8",
            "m4s",
            PART_MS,
            n.prefix.join("keep/fmp4"),
        ),
    ];
    let start = Instant::now();
    while watchers.iter().any(|w| w.reads == 0) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no playlist:\n{}",
            n.error_log()
        );
        for w in &mut watchers {
            w.read();
        }
        sleep(Duration::from_millis(50));
    }
    let start = Instant::now();
    while start.elapsed() < WATCH {
        for w in &mut watchers {
            w.read();
        }
        for p in &mut publishers {
            assert!(p.try_wait().unwrap().is_none(), "publisher exited early");
        }
        sleep(Duration::from_millis(40));
    }
    for p in &mut publishers {
        let _ = p.kill();
        let _ = p.wait();
    }
    for (w, label) in watchers.iter_mut().zip(["ts", "fmp4"]) {
        w.check_files(&n.prefix.join("scratch").join(label));
        eprintln!(
            "{label}: {} reads, {} segments with parts, {} parts, {} hints followed",
            w.reads,
            w.segments.len(),
            w.independent.len(),
            w.hints_followed
        );
        assert!(w.failures.is_empty(), "{label}:\n{}", w.failures.join("\n"));
        assert!(
            w.hints_followed > 60,
            "{label}: {} hints followed",
            w.hints_followed
        );
    }
    n.assert_no_crash();
}

#[test]
fn rendition_reports_match_the_other_renditions_playlists() {
    let conf = Conf::rtmp(
        "server { listen 127.0.0.1:{rtmp_port};
           application live { live on; hls on; hls_path {prefix}/www/hls; hls_fragment 2;
             hls_fragment_type fmp4; hls_low_latency on; } }",
    );
    let n = Nginx::start("llhls-reports", &conf);
    // Two H.264 tracks of one pattern with keyframes at the same instants, and AAC.
    let mut publisher = ffmpeg9::command()
        .arg("-re")
        .args(["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
        .args(["-t", "40"])
        .args(["-filter_complex", "[0:v]split=2[a][b];[b]scale=160:90[c]"])
        .args(["-map", "[a]", "-map", "[c]", "-map", "1:a"])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-threads", "1"])
        .args([
            "-g",
            "30",
            "-keyint_min",
            "30",
            "-sc_threshold",
            "0",
            "-pix_fmt",
            "yuv420p",
        ])
        .args(["-c:a", "aac", "-b:a", "64k", "-f", "flv"])
        .arg(n.rtmp_url("live", "cam"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("FFmpeg 9 publish");
    let dir = n.prefix.join("www/hls");
    let names = ["cam_t0.m3u8", "cam_t1.m3u8"];
    let read = |name: &str| {
        fs::read_to_string(dir.join(name))
            .ok()
            .map(|t| llhls::parse(&t))
    };
    let start = Instant::now();
    // Until each has heard of the other, one playlist may be written before the other has
    // a part.
    while names
        .iter()
        .any(|m| read(m).is_none_or(|p| p.reports.is_empty()))
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no renditions:\n{}",
            n.error_log()
        );
        assert!(
            publisher.try_wait().unwrap().is_none(),
            "publisher exited early"
        );
        sleep(Duration::from_millis(100));
    }
    let (mut checked, mut failures) = (0, Vec::new());
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        for (me, other) in [(0, 1), (1, 0)] {
            // The other playlist before and after this one: the report lies between.
            let before = read(names[other]).and_then(|p| p.last_part());
            let Some(mine) = read(names[me]) else {
                continue;
            };
            let after = read(names[other]).and_then(|p| p.last_part());
            let reports: Vec<_> = mine
                .reports
                .iter()
                .filter(|r| r.uri == names[other])
                .collect();
            let [r] = reports.as_slice() else {
                failures.push(format!("{}: reports {:?}", names[me], mine.reports));
                continue;
            };
            let said = (r.last_msn, r.last_part);
            if mine.endlist {
                continue;
            }
            match (before, after) {
                (Some(b), Some(a)) if b <= said && said <= a => checked += 1,
                // The other may have been one write ahead when this one was written.
                (Some(b), Some(_)) if said < b && reaches(said, b) => checked += 1,
                (b, a) => failures.push(format!(
                    "{} reports {said:?} for {}, which went {b:?} -> {a:?}",
                    names[me], names[other]
                )),
            }
        }
        sleep(Duration::from_millis(30));
    }
    let _ = publisher.kill();
    let _ = publisher.wait();
    eprintln!("{checked} rendition reports checked");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked > 200, "{checked}");
    n.assert_no_crash();
}

/// Whether a report of `said` trails the other playlist's `now` by one part at most (that
/// playlist was rewritten after this one was).
fn reaches(said: (u64, u64), now: (u64, u64)) -> bool {
    said.0 == now.0 && said.1 + 1 == now.1 || said.0 + 1 == now.0 && now.1 == 0
}

/// hls.js in `lowLatencyMode` plays the stream of `fragment_type` (`mpegts` or `fmp4`, parts
/// named `.ts` or `.m4s`) from plain static files; returns its last latency estimate.
fn hls_js_plays_the_parts(fragment_type: &str, ext: &str) -> f64 {
    let conf = Conf::rtmp(&format!(
        "server {{ listen 127.0.0.1:{{rtmp_port}};
           application live {{ live on; hls on; hls_path {{prefix}}/www/hls; hls_fragment 1;
             hls_fragment_type {fragment_type}; hls_low_latency on; hls_part_duration 0.33s; }} }}"
    ))
    .http(
        "location /hls/ { root {prefix}/www;
             types { application/vnd.apple.mpegurl m3u8; video/mp4 mp4 m4s; video/mp2t ts; }
             add_header Cache-Control no-cache; }
         location /player/ { root {prefix}/www;
             types { text/html html; application/javascript js; } }",
    );
    let n = Nginx::start(&format!("llhls-player-{fragment_type}"), &conf);
    hls_js::install_page(&n.prefix.join("www/player"));
    let mut publisher = publish(&n.rtmp_url("live", "cam"), 60);
    let playlist = n.prefix.join("www/hls/cam.m3u8");
    hls_js::wait_listed(&n, &playlist, &mut publisher, 3);
    let page = format!(
        "http://127.0.0.1:{}/player/index.html?ll=1&src=/hls/cam.m3u8",
        n.http_port
    );
    let watch = 12.0;
    let shot_name = format!("llhls-player-{fragment_type}.png");
    let played = hls_js::play(&page, &shot_name, watch);
    let _ = publisher.kill();
    let _ = publisher.wait();
    eprintln!("{}", played.stdout);
    let size = played.assert_played(watch, &|| format!("nginx:\n{}", n.error_log()));
    assert_eq!(size, "320 240", "decoded picture size");
    let latencies = played.latencies();
    assert!(
        latencies.len() >= 10,
        "hls.js reported no latency:\n{}",
        played.stdout
    );
    let last = *latencies.last().unwrap();
    eprintln!("hls.js latency, Low-Latency HLS ({fragment_type}) from static files: {last:.2} s");
    // Three parts of hold-back plus a part in flight: far below the three target durations
    // of plain HLS.
    assert!(last > 0.0 && last < 3.0, "latency {last}");
    let shot = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target/e2e")
        .join(&shot_name);
    assert!(fs::metadata(&shot).map(|m| m.len() > 1000).unwrap_or(false));
    fs::copy(&shot, n.prefix.join(&shot_name)).unwrap();
    // The player fetched parts, not only whole segments.
    let access = fs::read_to_string(n.prefix.join("logs/access.log")).unwrap_or_default();
    let part_gets = access.lines().filter(|l| is_part_request(l, ext)).count();
    assert!(part_gets > 10, "{part_gets} part requests:\n{access}");
    n.assert_no_crash();
    last
}

#[test]
fn hls_js_in_low_latency_mode_plays_fmp4_parts() {
    hls_js_plays_the_parts("fmp4", "m4s");
}

#[test]
fn hls_js_in_low_latency_mode_plays_mpegts_parts() {
    hls_js_plays_the_parts("mpegts", "ts");
}

/// Whether an access log line fetched a part (`cam-12.3.m4s`, not the segment `cam-12.m4s`).
fn is_part_request(line: &str, ext: &str) -> bool {
    let Some((_, rest)) = line.split_once("GET /hls/cam-") else {
        return false;
    };
    rest.split_once(&format!(".{ext} "))
        .is_some_and(|(stem, _)| stem.contains('.'))
}

#[test]
fn bad_low_latency_values_fail_nginx_t_with_file_and_line() {
    for (line, message) in [
        ("hls_part_duration 0.1s;", "hls_part_duration"),
        ("hls_part_duration 2s;", "hls_part_duration"),
        ("hls_part_duration 0.3x;", "hls_part_duration"),
        ("hls_low_latency maybe;", "hls_low_latency"),
        ("hls_program_date_time 1;", "hls_program_date_time"),
    ] {
        let body = format!(
            "server {{ listen 127.0.0.1:{{rtmp_port}};\n application live {{ live on; hls on;\n hls_path {{prefix}}/www/hls;\n {line}\n }} }}"
        );
        let n = Nginx::prepare("llhls-conf", &Conf::rtmp(&body));
        let out = n.test_config();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "nginx -t accepted {line}");
        assert!(err.contains(message), "{line}: {err}");
        let text = fs::read_to_string(&n.conf).unwrap();
        let at = text.lines().position(|l| l.contains(line)).unwrap() + 1;
        let location = format!("{}:{at}", n.conf.display());
        assert!(
            err.contains(&location),
            "{line}: expected {location} in:\n{err}"
        );
    }
}
