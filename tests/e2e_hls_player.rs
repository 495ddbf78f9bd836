//! A real player: a page with hls.js, served by the same nginx that writes the HLS, plays the
//! live stream in headless Chromium (Debian's `chromium`, driven by playwright-core from
//! `tests/player/`, installed by scripts/test.sh). The video element's currentTime must advance
//! for several seconds with no error event. A screenshot is saved as
//! `target/e2e/hls-player.png`.

mod support;

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::nginx::{ffmpeg_publish, Conf, Nginx};

/// Seconds the player is watched once playback started.
const WATCH_SECS: f64 = 8.0;

const PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>ngx-rtmp hls.js check</title></head>
<body style="margin:0;background:#111;color:#eee;font:14px sans-serif">
<video id="v" muted autoplay playsinline width="640" height="480"></video>
<div id="status"></div>
<script src="hls.min.js"></script>
<script>
window.__errors = []; window.__log = [];
const v = document.getElementById('v');
v.addEventListener('error', () => window.__errors.push('video error event, code ' + (v.error && v.error.code)));
const src = new URLSearchParams(location.search).get('src');
if (window.Hls && Hls.isSupported()) {
  const hls = new Hls();
  hls.on(Hls.Events.ERROR, (_e, d) => {
    const msg = 'hls.js ' + d.type + ' ' + d.details + (d.fatal ? ' (fatal)' : '');
    (d.fatal ? window.__errors : window.__log).push(msg);
  });
  hls.on(Hls.Events.MANIFEST_PARSED, () => {
    window.__log.push('manifest parsed');
    v.play().catch((e) => window.__log.push('play(): ' + e));
  });
  hls.loadSource(src);
  hls.attachMedia(v);
} else {
  window.__errors.push('hls.js not supported here (no MSE?)');
}
setInterval(() => { document.getElementById('status').textContent = 't=' + v.currentTime.toFixed(2); }, 250);
</script>
</body></html>
"#;

/// Status line and headers of `GET path` (HTTP/1.0, so nginx closes the connection).
fn http_head(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect http");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    text.split("\r\n\r\n")
        .next()
        .unwrap_or("")
        .replace("\r\n", "\n")
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn hls_js_in_headless_chromium_plays_the_live_stream() {
    let player_dir = repo().join("tests/player");
    let hls_js = player_dir.join("node_modules/hls.js/dist/hls.min.js");
    assert!(
        hls_js.is_file() && player_dir.join("node_modules/playwright-core").is_dir(),
        "tests/player/node_modules is missing: scripts/test.sh installs it (npm ci in tests/player)"
    );
    assert!(
        Path::new("/usr/bin/chromium").is_file(),
        "chromium missing: scripts/test.sh installs it"
    );

    let conf = Conf::rtmp(
        "server { listen 127.0.0.1:{rtmp_port};
           application live { live on; hls on; hls_path {prefix}/www/hls; hls_fragment 2; } }",
    )
    .http(
        "location /hls/ { root {prefix}/www;
             types { application/vnd.apple.mpegurl m3u8; video/mp2t ts; }
             add_header Cache-Control no-cache; }
         location /player/ { root {prefix}/www;
             types { text/html html; application/javascript js; } }",
    );
    let n = Nginx::start("hls-player", &conf);
    let www = n.prefix.join("www/player");
    fs::create_dir_all(&www).unwrap();
    fs::copy(&hls_js, www.join("hls.min.js")).unwrap();
    fs::write(www.join("index.html"), PAGE).unwrap();

    // A live publish that outlasts the check; killed at the end.
    let mut publisher = ffmpeg_publish(&n.rtmp_url("live", "cam"), 60)
        .spawn()
        .expect("spawn ffmpeg");
    let playlist = n.prefix.join("www/hls/cam.m3u8");
    let deadline = Instant::now() + Duration::from_secs(20);
    while fs::read_to_string(&playlist).map_or(0, |t| t.matches("#EXTINF").count()) < 2 {
        assert!(
            Instant::now() < deadline,
            "no playlist with 2 segments:\n{}",
            n.error_log()
        );
        assert!(
            publisher.try_wait().unwrap().is_none(),
            "publisher exited early"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let shot_dir = repo().join("target/e2e");
    fs::create_dir_all(&shot_dir).unwrap();
    let shot = shot_dir.join("hls-player.png");
    let _ = fs::remove_file(&shot);
    let page = format!(
        "http://127.0.0.1:{}/player/index.html?src=/hls/cam.m3u8",
        n.http_port
    );
    let started = Instant::now();
    let out = Command::new("node")
        .arg(player_dir.join("play.mjs"))
        .arg(&page)
        .arg(&shot)
        .arg(WATCH_SECS.to_string())
        .stdin(Stdio::null())
        .output()
        .expect("run node tests/player/play.mjs");
    let _ = publisher.kill();
    let _ = publisher.wait();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    eprintln!(
        "player ran {:.1} s\n{stdout}",
        started.elapsed().as_secs_f64()
    );
    let ctx = || {
        format!(
            "stdout:\n{stdout}\nstderr:\n{stderr}\nnginx:\n{}",
            n.error_log()
        )
    };
    assert!(out.status.success(), "play.mjs failed: {}", ctx());

    let errors: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("error "))
        .collect();
    assert!(errors.is_empty(), "player errors: {errors:?}\n{}", ctx());
    assert!(
        stdout.lines().any(|l| l == "started true"),
        "playback never started\n{}",
        ctx()
    );
    let samples: Vec<f64> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("sample "))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse().ok())
        .collect();
    assert!(samples.len() >= 10, "too few samples: {samples:?}");
    for w in samples.windows(2) {
        assert!(w[1] >= w[0], "currentTime went back: {samples:?}");
    }
    let advanced = samples.last().unwrap() - samples.first().unwrap();
    // Watched for WATCH_SECS of wall time: playback must have run for most of it.
    assert!(
        advanced >= WATCH_SECS - 2.5,
        "currentTime advanced only {advanced:.2} s in {WATCH_SECS} s: {samples:?}\n{}",
        ctx()
    );
    let size = stdout
        .lines()
        .find_map(|l| l.strip_prefix("video_size "))
        .unwrap_or("");
    assert_eq!(size, "320 240", "decoded picture size");
    assert!(
        fs::metadata(&shot).map(|m| m.len() > 1000).unwrap_or(false),
        "no screenshot at {}",
        shot.display()
    );

    // Served with the HLS MIME types.
    let head = http_head(n.http_port, "/hls/cam.m3u8");
    assert!(
        head.lines()
            .any(|l| l.eq_ignore_ascii_case("content-type: application/vnd.apple.mpegurl")),
        "playlist MIME type:\n{head}"
    );
    let access = fs::read_to_string(n.prefix.join("logs/access.log")).unwrap_or_default();
    assert!(
        access.contains("GET /hls/cam.m3u8"),
        "player never fetched the playlist:\n{access}"
    );
    assert!(
        access.contains(".ts HTTP/1.1\" 200"),
        "player never fetched a segment:\n{access}"
    );
    n.assert_no_crash();
}
