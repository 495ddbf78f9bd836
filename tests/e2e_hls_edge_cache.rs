//! Scale-out for HLS viewers: the example configurations `nginx-conf/examples/origin.conf`
//! (our module: RTMP in, HLS with Cache-Control per file type) and
//! `nginx-conf/examples/hls-edge-cache.conf` (a stock nginx with `proxy_cache` in front of
//! it), run as written with only paths and ports moved to the test's prefixes. 200 viewers
//! asking the edge for a new segment at once cost the origin one request; 200 asking for the
//! playlist cost it at most two; query strings do not split the cache; hls.js plays through
//! the edge.

mod support;

use std::fs;
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use support::hls_js;
use support::http;
use support::nginx::{ffmpeg_publish, is_root, module_path, Conf, Nginx};

/// Concurrent viewers of one new file.
const VIEWERS: usize = 200;

fn example(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("nginx-conf/examples")
        .join(name);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `text` with each `(from, to)` replaced; every `from` must be there (an example that
/// changes must change its test too).
fn rewrite(text: &str, edits: &[(&str, String)]) -> String {
    let mut out = text.to_owned();
    for (from, to) in edits {
        assert!(out.contains(from), "example config lost {from:?}");
        out = out.replace(from, to);
    }
    out
}

/// Lines nginx needs to run under the test's prefix, in the main context.
fn main_lines(p: &Path) -> String {
    let user = if is_root() { "user root;\n" } else { "" };
    format!(
        "{user}pid {p}/nginx.pid;\nerror_log {p}/logs/error.log info;\ndaemon off;",
        p = p.display()
    )
}

/// The same, at the top of `http {}`.
fn http_lines(p: &Path) -> String {
    format!(
        "\nhttp {{\n    access_log {p}/logs/access.log;\n    client_body_temp_path {p}/tmp/body;\n    \
         proxy_temp_path {p}/tmp/proxy;\n    fastcgi_temp_path {p}/tmp/fastcgi;\n    \
         uwsgi_temp_path {p}/tmp/uwsgi;\n    scgi_temp_path {p}/tmp/scgi;\n",
        p = p.display()
    )
}

fn start_origin() -> Nginx {
    let n = Nginx::prepare("edge-cache-origin", &Conf::live());
    let p = n.prefix.clone();
    let conf = rewrite(
        &example("origin.conf"),
        &[
            (
                "load_module /usr/lib/nginx/modules/ngx_rtmp_rs.so;",
                format!(
                    "load_module {};\n{}",
                    module_path().display(),
                    main_lines(&p)
                ),
            ),
            ("listen 1935;", format!("listen 127.0.0.1:{};", n.rtmp_port)),
            ("listen 8080;", format!("listen 127.0.0.1:{};", n.http_port)),
            (
                "/var/www/html/stream",
                format!("{}/www/html/stream", p.display()),
            ),
            ("\nhttp {\n", http_lines(&p)),
        ],
    );
    fs::write(&n.conf, conf).unwrap();
    Nginx::start_prepared(n)
}

fn start_edge(origin_http: u16) -> Nginx {
    let n = Nginx::prepare("edge-cache", &Conf::live());
    let p = n.prefix.clone();
    let conf = rewrite(
        &example("hls-edge-cache.conf"),
        &[
            (
                "worker_processes auto;",
                format!("worker_processes auto;\n{}", main_lines(&p)),
            ),
            ("listen 80;", format!("listen 127.0.0.1:{};", n.http_port)),
            (
                "server 127.0.0.1:8080;",
                format!("server 127.0.0.1:{origin_http};"),
            ),
            ("/var/cache/nginx-hls", format!("{}/cache-hls", p.display())),
            ("\nhttp {\n", http_lines(&p)),
        ],
    );
    fs::write(&n.conf, conf).unwrap();
    let port = n.http_port;
    Nginx::start_prepared_on(n, port)
}

/// Segment names of the playlist, in order.
fn segments(playlist: &str) -> Vec<String> {
    playlist
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.trim().to_owned())
        .collect()
}

/// Requests for `path` (query strings included) that reached the origin.
fn origin_requests(origin: &Nginx, path: &str) -> usize {
    let log = fs::read_to_string(origin.prefix.join("logs/access.log")).unwrap_or_default();
    let needle = format!("\"GET {path}");
    log.lines()
        .filter(|l| {
            l.split_once(&needle)
                .is_some_and(|(_, rest)| rest.starts_with(' ') || rest.starts_with('?'))
        })
        .count()
}

/// `VIEWERS` concurrent GETs of `path?viewer=N` on the edge, released together.
fn burst(edge_port: u16, path: &str) -> Vec<http::Response> {
    let gate = Arc::new(Barrier::new(VIEWERS));
    let handles: Vec<_> = (0..VIEWERS)
        .map(|i| {
            let gate = gate.clone();
            let url = format!("{path}?viewer={i}");
            thread::spawn(move || {
                gate.wait();
                http::get(edge_port, &url)
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

#[test]
fn a_cache_edge_asks_the_origin_once_per_new_segment_and_hls_js_plays_through_it() {
    let origin = start_origin();
    let edge = start_edge(origin.http_port);
    let mut publisher = ffmpeg_publish(&origin.rtmp_url("live", "cam"), 90)
        .spawn()
        .expect("spawn ffmpeg");
    let playlist = origin.prefix.join("www/html/stream/hls/cam.m3u8");
    let wait_segments = |more_than: &[String]| -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let now = segments(&fs::read_to_string(&playlist).unwrap_or_default());
            if now.len() >= 2 && now.last() != more_than.last() {
                return now;
            }
            assert!(
                Instant::now() < deadline,
                "no new segment:\n{}",
                origin.error_log()
            );
            thread::sleep(Duration::from_millis(20));
        }
    };
    let listed = wait_segments(&[]);

    // The origin's headers: what the edge (or a CDN) keys its lifetimes on.
    let pl = http::get(origin.http_port, "/hls/cam.m3u8");
    assert_eq!(pl.status, 200);
    assert_eq!(pl.header("cache-control"), Some("public, max-age=1"));
    assert_eq!(pl.header("access-control-allow-origin"), Some("*"));
    assert_eq!(
        pl.header("content-type"),
        Some("application/vnd.apple.mpegurl")
    );
    let seg = http::get(origin.http_port, &format!("/hls/{}", listed[0]));
    assert_eq!(seg.status, 200);
    assert_eq!(seg.header("cache-control"), Some("public, max-age=60"));
    assert_eq!(seg.header("content-type"), Some("video/mp2t"));

    // A segment nobody has asked for yet, asked for by every viewer at once.
    let fresh = wait_segments(&listed);
    let name = fresh.last().unwrap().clone();
    let path = format!("/hls/{name}");
    let on_disk = fs::read(origin.prefix.join("www/html/stream/hls").join(&name)).unwrap();
    let answers = burst(edge.http_port, &path);
    let mut misses = 0;
    for (i, a) in answers.iter().enumerate() {
        assert_eq!(a.status, 200, "viewer {i}: status {}", a.status);
        assert!(
            a.body == on_disk,
            "viewer {i}: body differs from the origin's file"
        );
        if a.header("x-cache-status") == Some("MISS") {
            misses += 1;
        }
    }
    assert_eq!(misses, 1, "cache misses among {VIEWERS} viewers");
    assert_eq!(
        origin_requests(&origin, &path),
        1,
        "origin requests for {path} by {VIEWERS} viewers"
    );

    // The playlist, by every viewer at once: at most one refresh per second reaches the
    // origin (two if the burst straddles an expiry).
    let before = origin_requests(&origin, "/hls/cam.m3u8");
    let started = Instant::now();
    let answers = burst(edge.http_port, "/hls/cam.m3u8");
    let took = started.elapsed();
    for a in &answers {
        assert_eq!(a.status, 200);
        assert!(String::from_utf8_lossy(&a.body).contains("#EXTINF"));
    }
    let asked = origin_requests(&origin, "/hls/cam.m3u8") - before;
    let bound = 2 + took.as_secs() as usize;
    assert!(
        (1..=bound).contains(&asked),
        "{asked} origin playlist requests for {VIEWERS} viewers in {took:?}"
    );

    // A real player through the edge (its page served by the edge's default root).
    hls_js::install_page(&edge.prefix.join("html/player"));
    let page = format!(
        "http://127.0.0.1:{}/player/index.html?src=/hls/cam.m3u8",
        edge.http_port
    );
    let played = hls_js::play(&page, "hls-edge-cache.png", 6.0);
    let _ = publisher.kill();
    let _ = publisher.wait();
    let size = played.assert_played(6.0, &|| {
        format!(
            "origin:\n{}\nedge:\n{}",
            origin.error_log(),
            edge.error_log()
        )
    });
    assert_eq!(size, "320 240", "decoded picture size");
    let edge_log = fs::read_to_string(edge.prefix.join("logs/access.log")).unwrap_or_default();
    assert!(
        edge_log.contains("GET /hls/cam.m3u8") && edge_log.contains(".ts HTTP/1.1\" 200"),
        "the player did not go through the edge:\n{edge_log}"
    );
    origin.assert_no_crash();
    edge.assert_no_crash();
}
