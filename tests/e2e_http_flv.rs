//! HTTP-FLV end to end: `flv_live on` locations read by mpegts.js in headless Chromium, by
//! FFmpeg (every frame, as an RTMP player gets them), by 200 readers on two workers, by a
//! reader that never reads, chunked and not; HEVC as Enhanced FLV; the play checks.

mod support;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use support::callback::CallbackServer;
use support::ffmpeg9;
use support::hls_js;
use support::http;
use support::http_flv::{self, FlvResponse};
use support::mpegts_js;
use support::nginx::{ffmpeg, ffmpeg_publish, ffmpeg_publish_file, run_with_timeout, Conf, Nginx};
use support::wait;
use support::worker::rss_kb;

const TIMEOUT: Duration = Duration::from_secs(90);
/// How long the browser watches.
const WATCH_SECS: f64 = 8.0;

fn dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("target/e2e/http-flv-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    })
}

/// `secs` of a 30 fps test pattern (2 s GOP) with AAC, as FLV, encoded once by Debian's
/// ffmpeg: published as is, so the tests know every frame that was sent.
fn source(secs: u32, size: &str, bitrate: &str) -> PathBuf {
    let path = dir().join(format!("src{secs}-{size}-{bitrate}.flv"));
    if path.exists() {
        return path;
    }
    static TMP: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let k = TMP.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir().join(format!("src{secs}-{size}-{bitrate}.{k}.tmp.flv"));
    let st = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args([
            "-f",
            "lavfi",
            "-i",
            &format!("testsrc2=size={size}:rate=30"),
        ])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
        .args(["-t", &secs.to_string()])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-g", "60"])
        .args(["-keyint_min", "60", "-sc_threshold", "0"])
        .args(["-b:v", bitrate, "-maxrate", bitrate, "-bufsize", bitrate])
        .args([
            "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k", "-f", "flv",
        ])
        .arg(&tmp)
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::rename(&tmp, &path).unwrap();
    path
}

fn publish(n: &Nginx, src: &Path, app: &str, name: &str) {
    let (ok, err) = run_with_timeout(ffmpeg_publish_file(src, &n.rtmp_url(app, name)), TIMEOUT);
    assert!(ok, "publish failed: {err}\n{}", n.error_log());
}

/// Reads `path` in a thread until the response ends.
fn reader(port: u16, path: &str, http10: bool) -> thread::JoinHandle<FlvResponse> {
    let path = path.to_owned();
    thread::spawn(move || http_flv::get(port, &path, http10, TIMEOUT))
}

/// Waits until nginx logs that `n` HTTP-FLV players play or wait.
fn wait_players(n: &Nginx, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let players = || {
        n.error_log()
            .lines()
            .filter(|l| l.contains("http-flv: client") && l.contains(" plays \""))
            .count()
    };
    while players() < count {
        assert!(
            Instant::now() < deadline,
            "players did not start:\n{}",
            n.error_log()
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// Video frames (sequence headers left out) of an FLV file.
fn video_frames(file: &Path) -> usize {
    support::flv::tags(&std::fs::read(file).unwrap())
        .iter()
        .filter(|t| t.type_id == 9 && t.body.get(1) != Some(&0))
        .count()
}

fn save(name: &str, body: &[u8]) -> PathBuf {
    let p = dir().join(name);
    std::fs::write(&p, body).unwrap();
    p
}

#[test]
fn mpegts_js_in_headless_chromium_plays_the_live_stream() {
    let conf = Conf::rtmp("server { listen 127.0.0.1:{rtmp_port}; application live { live on; } }")
        .http(
            "location /flv { flv_live on; }
             location /player/ { root {prefix}/www;
                 types { text/html html; application/javascript js; } }",
        );
    let n = Nginx::start("http-flv-mpegts", &conf);
    mpegts_js::install_page(&n.prefix.join("www/player"));
    let mut publisher = ffmpeg_publish(&n.rtmp_url("live", "cam"), 60)
        .spawn()
        .expect("spawn ffmpeg");
    assert!(n.wait_log("publishes \"live/cam\"", Duration::from_secs(20)));
    let page = format!(
        "http://127.0.0.1:{}/player/index.html?src=%2Fflv%3Fapp%3Dlive%26stream%3Dcam",
        n.http_port
    );
    let played = hls_js::play(&page, "http-flv-mpegts.png", WATCH_SECS);
    let _ = publisher.kill();
    let _ = publisher.wait();
    let size = played.assert_played(WATCH_SECS, &|| n.error_log());
    assert_eq!(size, "320 240", "{}", played.stdout);
    assert!(
        n.error_log().contains("http-flv: client"),
        "{}",
        n.error_log()
    );
    n.assert_no_crash();
}

/// The MD5 of every video and audio packet of an FLV file, by FFmpeg 9.
fn packets(file: &Path) -> (Vec<String>, Vec<String>) {
    let (v, verr) = ffmpeg9::frame_md5(file, "0:v:0", true);
    let (a, aerr) = ffmpeg9::frame_md5(file, "0:a:0", true);
    assert!(verr.is_empty() && aerr.is_empty(), "{verr}\n{aerr}");
    (v, a)
}

#[test]
fn every_frame_reaches_http_flv_as_it_reaches_an_rtmp_player_on_two_workers() {
    let conf = Conf::rtmp("server { listen 127.0.0.1:{rtmp_port}; application live { live on; } }")
        .workers(2)
        .http("location /flv { flv_live on; } location /stat { rtmp_stat all; }");
    let n = Nginx::start("http-flv-frames", &conf);
    let src = source(6, "320x240", "500k");
    // Both players wait for the publisher (idle_streams), so both get the stream whole.
    let flv = reader(n.http_port, "/flv?app=live&stream=cam", false);
    let rtmp_out = dir().join("rtmp-player.flv");
    let mut rtmp = ffmpeg()
        .args([
            "-y",
            "-i",
            &n.rtmp_url("live", "cam"),
            "-c",
            "copy",
            "-f",
            "flv",
        ])
        .arg(&rtmp_out)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while n.error_log().matches("waiting for its publisher").count() < 2 {
        assert!(Instant::now() < deadline, "{}", n.error_log());
        thread::sleep(Duration::from_millis(50));
    }
    let publisher = thread::spawn({
        let (src, url) = (src.clone(), n.rtmp_url("live", "cam"));
        move || run_with_timeout(ffmpeg_publish_file(&src, &url), TIMEOUT)
    });
    // While it plays, stat counts it as a player of the stream, with its protocol (the
    // publisher's client too, once it is there).
    let mut body = String::new();
    let counted = wait::until(Duration::from_secs(15), || {
        let stat = http::get(n.http_port, "/stat?format=json");
        body = String::from_utf8_lossy(&stat.body).into_owned();
        body.matches("\"protocol\":\"rtmp\"").count() >= 2
    });
    assert!(counted, "{body}");
    assert_eq!(
        body.matches("\"protocol\":\"http-flv\"").count(),
        1,
        "{body}"
    );
    let xml = String::from_utf8_lossy(&http::get(n.http_port, "/stat").body).into_owned();
    assert!(xml.contains("<protocol>http-flv</protocol>"), "{xml}");
    let (ok, err) = publisher.join().unwrap();
    assert!(ok, "publish: {err}");
    let got = flv.join().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while rtmp.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the RTMP player did not end");
        thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(got.status, 200);
    assert_eq!(got.header("content-type"), Some("video/x-flv"));
    assert!(
        got.chunked() && got.last_chunk,
        "the publisher's end ends the response"
    );
    let http_file = save("http-player.flv", &got.body);
    let (sv, sa) = packets(&src);
    let (hv, ha) = packets(&http_file);
    let (rv, ra) = packets(&rtmp_out);
    assert_eq!(sv.len(), 180);
    assert_eq!(hv, sv, "HTTP-FLV video packets differ from the source's");
    assert_eq!(hv, rv, "HTTP-FLV and RTMP players got different video");
    assert_eq!(ha, sa, "HTTP-FLV audio packets differ from the source's");
    assert_eq!(ha, ra);
    n.assert_no_crash();
}

#[test]
fn path_form_http_1_0_chunked_off_and_refusals() {
    let conf = Conf::rtmp(
        "server { listen 127.0.0.1:{rtmp_port};
           application live { live on; }
           application strict { live on; idle_streams off; } }",
    )
    .http(
        "location /flv { flv_live on; add_header Access-Control-Allow-Origin *; }
         location /plain { flv_live on; chunked_transfer_encoding off; }",
    );
    let n = Nginx::start("http-flv-forms", &conf);
    let path11 = reader(n.http_port, "/flv/live/cam.flv", false);
    let query10 = reader(n.http_port, "/flv?app=live&stream=cam", true);
    let plain = reader(n.http_port, "/plain/live/cam.flv", false);
    wait_players(&n, 3);
    let src = source(4, "320x240", "300k");
    publish(&n, &src, "live", "cam");
    let (path11, query10, plain) = (
        path11.join().unwrap(),
        query10.join().unwrap(),
        plain.join().unwrap(),
    );
    assert!(path11.chunked() && path11.last_chunk);
    assert_eq!(path11.header("access-control-allow-origin"), Some("*"));
    for (what, r) in [("HTTP/1.0", &query10), ("chunked off", &plain)] {
        assert_eq!(r.status, 200, "{what}");
        assert!(!r.chunked(), "{what}: {:?}", r.headers);
        assert_eq!(r.header("connection"), Some("close"), "{what}");
        assert_eq!(r.header("content-length"), None, "{what}");
    }
    let sent = video_frames(&src);
    assert!(sent >= 120, "{sent}");
    for r in [&path11, &query10, &plain] {
        assert_eq!(r.frames().0, sent, "every video frame");
    }
    // Refusals: a malformed URL, an unknown application, an unpublished stream without
    // idle_streams.
    for (path, status) in [
        ("/flv?app=live", 400),
        ("/flv/live", 400),
        ("/flv?app=live&stream=a&port=x", 400),
        ("/flv?app=nope&stream=cam", 404),
        ("/flv?app=live&stream=cam&port=1", 404),
        ("/flv/strict/cam.flv", 404),
    ] {
        let r = http::get(n.http_port, path);
        assert_eq!(r.status, status, "{path}");
    }
    n.assert_no_crash();
}

#[test]
fn two_hundred_http_flv_players_on_two_workers_get_their_frames() {
    const PLAYERS: usize = 200;
    let conf = Conf::rtmp("server { listen 127.0.0.1:{rtmp_port}; application live { live on; } }")
        .workers(2)
        .http("location /flv { flv_live on; }");
    let n = Nginx::start("http-flv-200", &conf);
    let src = source(10, "320x240", "200k");
    let readers: Vec<_> = (0..PLAYERS)
        .map(|_| {
            let port = n.http_port;
            thread::spawn(move || {
                let r = http_flv::get(port, "/flv?app=live&stream=cam", false, TIMEOUT);
                (r.status, r.last_chunk, r.frames().0)
            })
        })
        .collect();
    wait_players(&n, PLAYERS);
    publish(&n, &src, "live", "cam");
    let got: Vec<(u16, bool, usize)> = readers.into_iter().map(|r| r.join().unwrap()).collect();
    let sent = video_frames(&src);
    let min = got.iter().map(|g| g.2).min().unwrap();
    eprintln!("fewest video frames of {PLAYERS} players: {min} of {sent}");
    for (status, ended, frames) in &got {
        assert_eq!(*status, 200);
        assert!(*ended, "every response ends with its last chunk");
        assert!(
            *frames * 100 >= sent * 95,
            "a player got {frames} of {sent} video frames"
        );
    }
    let log = n.error_log();
    let pids: std::collections::HashSet<&str> = log
        .lines()
        .filter(|l| l.contains("http-flv: client") && l.contains(" plays "))
        .filter_map(|l| l.split_whitespace().nth(3))
        .collect();
    assert_eq!(pids.len(), 2, "players on both workers");
    n.assert_no_crash();
}

#[test]
fn a_stalled_reader_is_bounded_by_player_buffer_and_closed_by_send_timeout() {
    let conf = Conf::rtmp(
        "server { listen 127.0.0.1:{rtmp_port};
           application live { live on; player_buffer 256k; } }",
    )
    .http("location /flv { flv_live on; send_timeout 5s; } location /stat { rtmp_stat all; }");
    let n = Nginx::start("http-flv-stalled", &conf);
    let src = source(12, "640x360", "6000k");
    let worker = support::worker::worker_pid(&n);
    // It sends its request and never reads.
    let (stalled, status, _) = http_flv::open(n.http_port, "/flv?app=live&stream=cam", false);
    assert_eq!(status, 200);
    wait_players(&n, 1);
    let before = rss_kb(worker);
    let publisher = thread::spawn({
        let url = n.rtmp_url("live", "cam");
        move || run_with_timeout(ffmpeg_publish_file(&src, &url), TIMEOUT)
    });
    // 6 Mbit/s for 12 s is 9 MB: the stalled player keeps at most its player_buffer of it.
    let mut dropped = 0;
    let mut peak = before;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !n.error_log().contains("closed: send timed out") {
        assert!(
            Instant::now() < deadline,
            "not closed by send_timeout:\n{}",
            n.error_log()
        );
        peak = peak.max(rss_kb(worker));
        let stat = http::get(n.http_port, "/stat?format=json");
        let body = String::from_utf8_lossy(&stat.body).into_owned();
        if let Some(d) = body
            .split("\"protocol\":\"http-flv\"")
            .nth(1)
            .and_then(|rest| rest.split("\"dropped\":").nth(1))
            .and_then(|d| d.split(',').next())
            .and_then(|d| d.parse::<u64>().ok())
        {
            dropped = d;
        }
        thread::sleep(Duration::from_millis(200));
    }
    let (ok, err) = publisher.join().unwrap();
    assert!(ok, "publish: {err}");
    assert!(
        dropped > 0,
        "the stalled player's messages were not dropped"
    );
    eprintln!("worker RSS {before} kB -> peak {peak} kB, dropped {dropped}");
    assert!(
        peak < before + 6 * 1024,
        "worker RSS grew from {before} kB to {peak} kB"
    );
    // Closed: the client reads what the kernel buffered, then the end.
    let mut s = stalled.into_inner();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut sink = Vec::new();
    let _ = s.read_to_end(&mut sink);
    n.assert_no_crash();
}

#[test]
fn hevc_published_by_ffmpeg9_reads_back_as_enhanced_flv() {
    let conf = Conf::rtmp("server { listen 127.0.0.1:{rtmp_port}; application live { live on; } }")
        .http("location /flv { flv_live on; }");
    let n = Nginx::start("http-flv-hevc", &conf);
    let src = dir().join("hevc.flv");
    if !src.exists() {
        let tmp = dir().join("hevc.tmp.flv");
        ffmpeg9::encode_test_pattern(
            &tmp,
            "4",
            &[
                "-c:v",
                "libx265",
                "-preset",
                "ultrafast",
                "-x265-params",
                "keyint=15:log-level=error",
                "-c:a",
                "aac",
            ],
        );
        std::fs::rename(&tmp, &src).unwrap();
    }
    let flv = reader(n.http_port, "/flv/live/hevc.flv", false);
    wait_players(&n, 1);
    let mut cmd = ffmpeg9::command();
    cmd.args(["-re", "-i"])
        .arg(&src)
        .args([
            "-map",
            "0",
            "-c",
            "copy",
            "-f",
            "flv",
            &n.rtmp_url("live", "hevc"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let (ok, err) = run_with_timeout(cmd, TIMEOUT);
    assert!(ok, "publish: {err}");
    let got = flv.join().unwrap();
    assert!(got.last_chunk);
    let file = save("hevc-http.flv", &got.body);
    let (decoded, derr) = ffmpeg9::frame_md5(&file, "0:v:0", false);
    assert!(derr.is_empty(), "FFmpeg 9 decoding the HTTP-FLV: {derr}");
    let (sent, _) = ffmpeg9::frame_md5(&src, "0:v:0", false);
    assert_eq!(decoded.len(), 60, "4 s at 15 fps");
    assert_eq!(decoded, sent, "decoded pictures differ from the source's");
    n.assert_no_crash();
}

#[test]
fn allow_deny_play_secret_and_on_play_apply_to_http_flv() {
    let cb = CallbackServer::start(dir());
    let conf = Conf::rtmp(&format!(
        "server {{ listen 127.0.0.1:{{rtmp_port}};
           application closed {{ live on; deny play 127.0.0.1; }}
           application listed {{ live on; allow play 127.0.0.1; deny play all; }}
           application signed {{ live on; play_secret s3cret-of-16-chars-or-more; }}
           application hooked {{ live on;
               on_play http://127.0.0.1:{port}/on_play;
               on_play_done http://127.0.0.1:{port}/on_play_done; }} }}",
        port = cb.port
    ))
    .http("location /flv { flv_live on; }");
    let n = Nginx::start("http-flv-access", &conf);
    // The head of the answer: 200 plays (waiting for a publisher), anything else refuses.
    let status = |path: &str| {
        let (s, status, _) = http_flv::open(n.http_port, path, false);
        drop(s);
        status
    };
    assert_eq!(status("/flv?app=closed&stream=cam"), 403);
    assert_eq!(status("/flv?app=listed&stream=cam"), 200);

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let sig = |name: &str, expires: u64| {
        format!(
            "expires={expires}&sig={}",
            ngx_rtmp::auth::signed::sign(b"s3cret-of-16-chars-or-more", "signed", name, expires)
        )
    };
    assert_eq!(status("/flv?app=signed&stream=cam"), 403, "no signature");
    let good = sig("cam", now + 600);
    assert_eq!(status(&format!("/flv?app=signed&stream=cam&{good}")), 200);
    assert_eq!(
        status(&format!("/flv/signed/cam.flv?{good}")),
        200,
        "path form"
    );
    assert_eq!(status(&format!("/flv?app=signed&stream=other&{good}")), 403);
    let expired = sig("cam", now - 10);
    assert_eq!(
        status(&format!("/flv?app=signed&stream=cam&{expired}")),
        403
    );

    assert_eq!(status("/flv?app=hooked&stream=cam&token=abc"), 200);
    assert!(cb.wait_for("\"token\": \"abc\""), "{:?}", cb.requests());
    let play = cb
        .requests()
        .into_iter()
        .find(|l| l.contains("\"call\": \"play\""))
        .expect("on_play called");
    for field in [
        "\"name\": \"cam\"",
        "\"app\": \"hooked\"",
        "\"addr\": \"127.0.0.1\"",
    ] {
        assert!(play.contains(field), "{play}");
    }
    assert!(
        cb.wait_for("\"call\": \"play_done\""),
        "{:?}",
        cb.requests()
    );
    assert_eq!(status("/flv?app=hooked&stream=denycam"), 403);
    assert_eq!(status("/flv?app=hooked&stream=renamecam"), 200);
    assert!(
        n.wait_log("plays \"hooked/renamed\"", Duration::from_secs(10)),
        "{}",
        n.error_log()
    );
    assert_eq!(
        status("/flv?app=hooked&stream=relaycam"),
        403,
        "an rtmp:// redirect cannot be followed by an HTTP player"
    );
    n.assert_no_crash();
}

#[test]
fn an_edge_pulls_the_stream_for_its_http_flv_players() {
    let origin = Nginx::start("http-flv-origin", &Conf::live());
    let edge = Nginx::start(
        "http-flv-edge",
        &Conf::rtmp(&format!(
            "server {{ listen 127.0.0.1:{{rtmp_port}};
               application live {{ live on; pull rtmp://127.0.0.1:{}/live; }} }}",
            origin.rtmp_port
        ))
        .workers(2)
        .http("location /flv { flv_live on; }"),
    );
    let src = source(4, "320x240", "300k");
    let flv = reader(edge.http_port, "/flv/live/cam.flv", false);
    wait_players(&edge, 1);
    // The player's arrival started the pull: the origin has a player before any publisher.
    assert!(
        origin.wait_log("plays \"live/cam\"", Duration::from_secs(10)),
        "no pull reached the origin:\n{}",
        edge.error_log()
    );
    publish(&origin, &src, "live", "cam");
    let got = flv.join().unwrap();
    let (video, _) = got.frames();
    let sent = video_frames(&src);
    assert!(video * 100 >= sent * 95, "{video} of {sent} video frames");
    edge.assert_no_crash();
    origin.assert_no_crash();
}

#[test]
fn a_bad_flv_live_fails_nginx_t_with_file_and_line() {
    let rtmp = "server { listen 127.0.0.1:{rtmp_port}; application live { live on; } }";
    for (location, why) in [
        (
            "location /flv { flv_live maybe; }",
            "invalid value \"maybe\"",
        ),
        ("location /flv { flv_live; }", "invalid number of arguments"),
        ("flv_live on;", "is not allowed here"),
    ] {
        let n = Nginx::prepare("http-flv-conf", &Conf::rtmp(rtmp).http(location));
        let out = n.test_config();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "{location}: {err}");
        assert!(err.contains(why), "{location}: {err}");
        let line = std::fs::read_to_string(&n.conf)
            .unwrap()
            .lines()
            .position(|l| l.contains(location))
            .unwrap()
            + 1;
        assert!(
            err.contains(&format!("{}:{line}", n.conf.display())),
            "{location}: no file and line in {err}"
        );
    }
    let n = Nginx::prepare(
        "http-flv-conf",
        &Conf::rtmp(rtmp).http("location /flv { flv_live on; } location /no { flv_live off; }"),
    );
    assert!(n.test_config().status.success());
}
