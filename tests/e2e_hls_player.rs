//! A real player: a page with hls.js, served by the same nginx that writes the HLS, plays the
//! live stream in headless Chromium (Debian's `chromium`, driven by playwright-core from
//! `tests/player/`, installed by scripts/test.sh). The video element's currentTime must advance
//! for several seconds with no error event. A screenshot is saved as
//! `target/e2e/hls-player.png`.

mod support;

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use support::hls_js;
use support::nginx::{ffmpeg_publish, Conf, Nginx};

/// Seconds the player is watched once playback started.
const WATCH_SECS: f64 = 8.0;

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

#[test]
fn hls_js_in_headless_chromium_plays_the_live_stream() {
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
    hls_js::install_page(&n.prefix.join("www/player"));

    // A live publish that outlasts the check; killed at the end.
    let mut publisher = ffmpeg_publish(&n.rtmp_url("live", "cam"), 60)
        .spawn()
        .expect("spawn ffmpeg");
    let playlist = n.prefix.join("www/hls/cam.m3u8");
    hls_js::wait_listed(&n, &playlist, &mut publisher, 2);

    let page = format!(
        "http://127.0.0.1:{}/player/index.html?src=/hls/cam.m3u8",
        n.http_port
    );
    let started = Instant::now();
    let played = hls_js::play(&page, "hls-player.png", WATCH_SECS);
    let _ = publisher.kill();
    let _ = publisher.wait();
    eprintln!(
        "player ran {:.1} s\n{}",
        started.elapsed().as_secs_f64(),
        played.stdout
    );
    let size = played.assert_played(WATCH_SECS, &|| format!("nginx:\n{}", n.error_log()));
    assert_eq!(size, "320 240", "decoded picture size");
    let shot = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/e2e/hls-player.png");
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
