//! `rtmp_hls`: the files of `hls_path` served by the module's http handler, with LL-HLS
//! blocking playlist reload and delta updates, against a real nginx with two workers.
//!
//! Plain HLS is published by real ffmpeg and played through the handler; the low-latency
//! checks drive the handler with playlists and part files the test itself writes into an
//! application's `hls_path` (atomically, as the writer does), so the test knows to the
//! millisecond when a part got listed.

mod support;

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use support::http;
use support::nginx::{ffmpeg, ffmpeg_publish, run_with_timeout, Conf, Nginx};

/// Two HLS applications and the handler at `/hls/` (and at `/hlsmax/` with a waiting limit
/// of 2 per worker); every answer names the worker that gave it.
fn conf(workers: u32) -> Conf {
    Conf::rtmp(
        "server { listen 127.0.0.1:{rtmp_port};
           application live { live on; hls on; hls_path {prefix}/hls/live; hls_fragment 1; }
           application other { live on; hls on; hls_path {prefix}/hls/other; } }",
    )
    .http(
        "location /hls/ { rtmp_hls; add_header X-Worker $pid; }
         location /hlsmax/ { rtmp_hls; rtmp_hls_max_waiting 2; add_header X-Worker $pid; }",
    )
    .workers(workers)
}

fn start(name: &str, workers: u32) -> Nginx {
    let n = Nginx::prepare(name, &conf(workers));
    for app in ["live", "other"] {
        fs::create_dir_all(n.prefix.join("hls").join(app)).unwrap();
    }
    Nginx::start_prepared(n)
}

/// Replaces `path` atomically, as the HLS writer does (temp file + rename); returns the
/// instant just before the rename: nothing may answer from the new text before it.
fn write_atomic(path: &Path, text: &[u8]) -> Instant {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, text).unwrap();
    let before = Instant::now();
    fs::rename(&tmp, path).unwrap();
    before
}

/// An LL-HLS playlist: `complete` segments of 4 parts of 0.25 s from media sequence `first`,
/// then `open` parts of the next segment and the preload hint of the part after them.
fn ll_playlist(first: u64, complete: u64, open: u64, ended: bool) -> String {
    let mut s = String::from(
        "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:1\n#EXT-X-PART-INF:PART-TARGET=0.25\n\
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.75,CAN-SKIP-UNTIL=6\n",
    );
    s.push_str(&format!("#EXT-X-MEDIA-SEQUENCE:{first}\n"));
    for m in first..first + complete {
        s.push_str(&format!(
            "#EXT-X-PROGRAM-DATE-TIME:2026-12-07T08:00:{:02}.000Z\n",
            m % 60
        ));
        for p in 0..4 {
            let ind = if p == 0 { ",INDEPENDENT=YES" } else { "" };
            s.push_str(&format!(
                "#EXT-X-PART:DURATION=0.25,URI=\"ll-{m}.{p}.ts\"{ind}\n"
            ));
        }
        s.push_str(&format!("#EXTINF:1.000,\nll-{m}.ts\n"));
    }
    let m = first + complete;
    for p in 0..open {
        s.push_str(&format!(
            "#EXT-X-PART:DURATION=0.25,URI=\"ll-{m}.{p}.ts\"\n"
        ));
    }
    if ended {
        s.push_str("#EXT-X-ENDLIST\n");
    } else {
        s.push_str(&format!(
            "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"ll-{m}.{open}.ts\"\n"
        ));
    }
    s
}

/// A raw request whose answer is awaited on its own thread: the status, the worker and the
/// instant the first byte arrived.
struct Pending {
    handle: thread::JoinHandle<(u16, String, Instant, Vec<u8>)>,
}

fn request(port: u16, path: &str) -> (TcpStream, Pending) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut r = s.try_clone().unwrap();
    r.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let handle = thread::spawn(move || {
        let mut first = [0u8; 1];
        let got = r.read(&mut first).unwrap_or(0);
        let at = Instant::now();
        let mut buf = first[..got].to_vec();
        let _ = r.read_to_end(&mut buf);
        let answer = http::parse(&buf);
        let worker = answer.header("X-Worker").unwrap_or("").to_owned();
        let (status, body) = (answer.status, answer.body);
        (status, worker, at, body)
    });
    (s, Pending { handle })
}

fn raw_status(port: u16, raw_path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {raw_path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

#[test]
fn plain_hls_is_served_through_the_handler_and_plays() {
    let n = start("rtmp-hls-plain", 2);
    let mut publisher = ffmpeg_publish(&n.rtmp_url("live", "cam"), 40)
        .spawn()
        .unwrap();
    let playlist = n.prefix.join("hls/live/cam.m3u8");
    let deadline = Instant::now() + Duration::from_secs(20);
    while fs::read_to_string(&playlist).map_or(0, |t| t.matches("#EXTINF").count()) < 3 {
        assert!(Instant::now() < deadline, "no playlist with 3 segments");
        thread::sleep(Duration::from_millis(100));
    }
    for path in ["/hls/cam.m3u8", "/hls/live/cam.m3u8"] {
        let r = http::get(n.http_port, path);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(
            r.header("content-type"),
            Some("application/vnd.apple.mpegurl")
        );
        assert_eq!(r.header("cache-control"), Some("no-cache"));
        assert!(String::from_utf8_lossy(&r.body).starts_with("#EXTM3U"));
    }
    let text = fs::read_to_string(&playlist).unwrap();
    let seg = text
        .lines()
        .find(|l| l.ends_with(".ts"))
        .unwrap()
        .to_owned();
    let r = http::get(n.http_port, &format!("/hls/{seg}"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("video/mp2t"));
    assert_eq!(r.header("cache-control"), Some("max-age=600"));
    assert_eq!(
        r.body,
        fs::read(n.prefix.join("hls/live").join(&seg)).unwrap()
    );
    assert_eq!(r.body.first(), Some(&0x47));
    // HEAD: the headers of GET and no body.
    let mut s = TcpStream::connect(("127.0.0.1", n.http_port)).unwrap();
    write!(s, "HEAD /hls/{seg} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut head = String::new();
    s.read_to_string(&mut head).unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.contains(&format!("Content-Length: {}", r.body.len())),
        "{head}"
    );
    assert!(head.ends_with("\r\n\r\n"), "HEAD has a body: {head}");
    // Ranges of media files.
    let mut s = TcpStream::connect(("127.0.0.1", n.http_port)).unwrap();
    write!(
        s,
        "GET /hls/{seg} HTTP/1.0\r\nHost: x\r\nRange: bytes=188-375\r\n\r\n"
    )
    .unwrap();
    let mut ranged = Vec::new();
    s.read_to_end(&mut ranged).unwrap();
    let split = ranged.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    assert!(ranged.starts_with(b"HTTP/1.1 206"));
    assert_eq!(&ranged[split + 4..], &r.body[188..376]);
    // Missing files; a stream of one application is not found under another's name.
    assert_eq!(http::get(n.http_port, "/hls/nope.m3u8").status, 404);
    assert_eq!(http::get(n.http_port, "/hls/other/cam.m3u8").status, 404);
    assert_eq!(http::get(n.http_port, "/hls/cam-999999.ts").status, 404);

    // A real player reads the stream through the handler.
    let mut cmd = ffmpeg();
    cmd.args([
        "-i",
        &format!("http://127.0.0.1:{}/hls/cam.m3u8", n.http_port),
    ])
    .args(["-t", "3", "-f", "null", "-"]);
    let (ok, err) = run_with_timeout(cmd, Duration::from_secs(30));
    assert!(
        ok && err.trim().is_empty(),
        "ffmpeg through rtmp_hls: {err}"
    );
    let _ = publisher.kill();
    let _ = publisher.wait();
    n.assert_no_crash();
}

#[test]
fn nothing_outside_hls_path_is_served() {
    let n = start("rtmp-hls-traversal", 2);
    let secret = "SECRET-OUTSIDE-HLS-PATH";
    fs::write(n.prefix.join("secret.m3u8"), secret).unwrap();
    fs::write(n.prefix.join("hls/secret.ts"), secret).unwrap();
    fs::create_dir_all(n.prefix.join("outside")).unwrap();
    fs::write(n.prefix.join("outside/x.m3u8"), secret).unwrap();
    let live = n.prefix.join("hls/live");
    std::os::unix::fs::symlink(n.prefix.join("secret.m3u8"), live.join("link.m3u8")).unwrap();
    std::os::unix::fs::symlink(n.prefix.join("outside"), live.join("dir")).unwrap();
    fs::write(live.join("ok.m3u8"), "#EXTM3U\n").unwrap();
    fs::write(live.join(".hidden.m3u8"), secret).unwrap();
    fs::write(live.join("notes.txt"), secret).unwrap();
    fs::write(live.join("cam.m3u8.tmp"), secret).unwrap();
    assert_eq!(raw_status(n.http_port, "/hls/ok.m3u8").0, 200);
    // The same stream name in two applications: the configuration order decides, unless the
    // path names the application.
    fs::write(live.join("dup.m3u8"), "#EXTM3U\n#live\n").unwrap();
    fs::write(n.prefix.join("hls/other/dup.m3u8"), "#EXTM3U\n#other\n").unwrap();
    assert_eq!(
        http::get(n.http_port, "/hls/dup.m3u8").body,
        b"#EXTM3U\n#live\n"
    );
    assert_eq!(
        http::get(n.http_port, "/hls/live/dup.m3u8").body,
        b"#EXTM3U\n#live\n"
    );
    assert_eq!(
        http::get(n.http_port, "/hls/other/dup.m3u8").body,
        b"#EXTM3U\n#other\n"
    );
    for raw in [
        "/hls/../secret.m3u8",
        "/hls/%2e%2e/secret.m3u8",
        "/hls/%2E%2E/%2e%2e/secret.m3u8",
        "/hls/..%2fsecret.m3u8",
        "/hls/live/%2e%2e/%2e%2e/secret.m3u8",
        "/hls/..%2f..%2fsecret.m3u8",
        "/hls/%2e%2e%2fsecret.ts",
        "/hls/..%5csecret.ts",
        "/hls/link.m3u8",
        "/hls/dir/x.m3u8",
        "/hls/live/dir/x.m3u8",
        "/hls/.hidden.m3u8",
        "/hls/notes.txt",
        "/hls/cam.m3u8.tmp",
        "/hls/ok%00.m3u8",
        "/hls//etc/passwd",
        "/hls/%2fetc%2fpasswd",
        "/hls/live/%2F..%2F..%2Fsecret.m3u8",
    ] {
        let (status, text) = raw_status(n.http_port, raw);
        assert!(
            matches!(status, 400 | 404),
            "{raw}: status {status}\n{text}"
        );
        assert!(!text.contains(secret), "{raw} leaked the file");
    }
    n.assert_no_crash();
}

#[test]
fn blocking_reload_answers_when_the_part_is_listed_never_before() {
    let n = start("rtmp-hls-block", 2);
    let list = n.prefix.join("hls/live/ll.m3u8");
    let _ = write_atomic(&list, ll_playlist(10, 3, 1, false).as_bytes());
    let port = n.http_port;

    // Listed already: answered at once, with or without a part.
    for q in [
        "_HLS_msn=12",
        "_HLS_msn=13&_HLS_part=0",
        "_HLS_msn=11&_HLS_part=3",
    ] {
        let t = Instant::now();
        let r = http::get(port, &format!("/hls/ll.m3u8?{q}"));
        assert_eq!(r.status, 200, "{q}");
        assert!(t.elapsed() < Duration::from_millis(500), "{q}");
    }
    // Malformed or too far ahead: 400 at once.
    for q in [
        "_HLS_part=1",
        "_HLS_msn=x",
        "_HLS_msn=-1",
        "_HLS_msn=1&_HLS_msn=2",
        "_HLS_msn=15",
        "_HLS_msn=13&_HLS_part=20",
        "_HLS_skip=maybe",
    ] {
        assert_eq!(
            http::get(port, &format!("/hls/ll.m3u8?{q}")).status,
            400,
            "{q}"
        );
    }

    // Parts 1, 2, ... of segment 13: each round has eight requests for the next part waiting
    // (on either worker); none may be answered before the playlist listing it is renamed
    // into place, all within 50 ms after. Rounds go on until both workers answered (the
    // kernel decides which worker accepts).
    let mut workers = std::collections::HashSet::new();
    for open in 2u64..40 {
        if open > 4 && workers.len() == 2 {
            break;
        }
        let want = format!("_HLS_msn=13&_HLS_part={}", open - 1);
        let reqs: Vec<_> = (0..8)
            .map(|_| request(port, &format!("/hls/ll.m3u8?{want}")))
            .collect();
        thread::sleep(Duration::from_millis(300));
        // The part file comes first, then the playlist listing it.
        fs::write(
            n.prefix.join(format!("hls/live/ll-13.{}.ts", open - 1)),
            b"x",
        )
        .unwrap();
        assert!(
            reqs.iter().all(|(_, p)| !p.handle.is_finished()),
            "{want} answered early"
        );
        let listed = write_atomic(&list, ll_playlist(10, 3, open, false).as_bytes());
        for (_s, p) in reqs {
            let (status, worker, at, body) = p.handle.join().unwrap();
            assert_eq!(status, 200, "{want}");
            assert!(at >= listed, "{want} answered before the part was listed");
            let late = at - listed;
            assert!(
                late <= Duration::from_millis(50),
                "{want} answered {late:?} late"
            );
            let body = String::from_utf8_lossy(&body);
            assert!(body.contains(&format!("ll-13.{}.ts", open - 1)), "{body}");
            workers.insert(worker);
        }
    }
    assert_eq!(workers.len(), 2, "both workers answered: {workers:?}");

    // A whole segment: `_HLS_msn=13` waits for segment 13's EXTINF.
    let (_s, p) = request(port, "/hls/ll.m3u8?_HLS_msn=13");
    thread::sleep(Duration::from_millis(200));
    assert!(!p.handle.is_finished());
    let listed = write_atomic(&list, ll_playlist(10, 4, 0, false).as_bytes());
    let (status, _, at, body) = p.handle.join().unwrap();
    assert_eq!(status, 200);
    assert!(at >= listed && at - listed <= Duration::from_millis(50));
    assert!(String::from_utf8_lossy(&body).contains("ll-13.ts"));
    n.assert_no_crash();
}

#[test]
fn waits_end_in_503_hinted_parts_wait_and_closed_clients_free_their_place() {
    let n = start("rtmp-hls-wait", 2);
    let list = n.prefix.join("hls/live/ll.m3u8");
    let _ = write_atomic(&list, ll_playlist(0, 2, 1, false).as_bytes());
    let port = n.http_port;

    // Nothing comes: 503 after three target durations (3 s), not before.
    let t = Instant::now();
    let r = http::get(port, "/hls/ll.m3u8?_HLS_msn=3");
    assert_eq!(r.status, 503);
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(2900) && waited < Duration::from_secs(5),
        "{waited:?}"
    );

    // The hinted part is requested before it exists: answered with its bytes once written
    // and listed; a part that is not hinted is 404 at once.
    assert_eq!(http::get(port, "/hls/ll-2.5.ts").status, 404);
    let (_s, p) = request(port, "/hls/ll-2.1.ts");
    thread::sleep(Duration::from_millis(200));
    fs::write(n.prefix.join("hls/live/ll-2.1.ts"), b"PART-2-1").unwrap();
    assert!(!p.handle.is_finished());
    let listed = write_atomic(&list, ll_playlist(0, 2, 2, false).as_bytes());
    let (status, _, at, body) = p.handle.join().unwrap();
    assert_eq!((status, body.as_slice()), (200, &b"PART-2-1"[..]));
    assert!(at - listed <= Duration::from_millis(50));

    // The limit: at most 2 waiting requests per worker on /hlsmax/, so of five at least one
    // is refused at once.
    let waiting: Vec<_> = (0..5)
        .map(|_| request(port, "/hlsmax/ll.m3u8?_HLS_msn=3"))
        .collect();
    thread::sleep(Duration::from_millis(400));
    let (held, refused): (Vec<_>, Vec<_>) = waiting
        .into_iter()
        .partition(|(_, p)| !p.handle.is_finished());
    assert!(
        !refused.is_empty() && held.len() <= 4,
        "{} held",
        held.len()
    );
    for (_, p) in refused {
        assert_eq!(p.handle.join().unwrap().0, 503);
    }
    // Clients that close while waiting are forgotten: their places are free again.
    for (s, p) in held {
        s.shutdown(std::net::Shutdown::Both).unwrap();
        let _ = p.handle.join();
    }
    thread::sleep(Duration::from_millis(300));
    for round in 0..3 {
        let again: Vec<_> = (0..2)
            .map(|_| request(port, "/hlsmax/ll.m3u8?_HLS_msn=3"))
            .collect();
        thread::sleep(Duration::from_millis(300));
        for (s, p) in again {
            assert!(
                !p.handle.is_finished(),
                "round {round}: refused after clients left"
            );
            s.shutdown(std::net::Shutdown::Both).unwrap();
            let _ = p.handle.join();
        }
        thread::sleep(Duration::from_millis(200));
    }
    n.assert_no_crash();
}

/// The delta update with its skip tag replaced by the skipped segments of `full`: the full
/// playlist again (but the version).
fn restored(delta: &str, full: &str) -> String {
    let skipped: usize = delta
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-SKIP:SKIPPED-SEGMENTS="))
        .and_then(|v| v.split(',').next())
        .and_then(|v| v.parse().ok())
        .expect("a skip tag");
    let lines: Vec<&str> = full.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with("#EXT-X-PROGRAM-DATE-TIME") || l.starts_with("#EXTINF"))
        .unwrap();
    let end = lines
        .iter()
        .enumerate()
        .skip(start)
        .filter(|(_, l)| !l.starts_with('#'))
        .nth(skipped - 1)
        .map(|(i, _)| i + 1)
        .unwrap();
    let mut out = Vec::new();
    for l in delta.lines() {
        if l.starts_with("#EXT-X-SKIP:") {
            out.extend_from_slice(&lines[start..end]);
        } else if l.starts_with("#EXT-X-VERSION") {
            out.push(
                lines
                    .iter()
                    .find(|l| l.starts_with("#EXT-X-VERSION"))
                    .unwrap(),
            );
        } else {
            out.push(l);
        }
    }
    out.join("\n") + "\n"
}

#[test]
fn delta_updates_skip_the_old_segments_only() {
    let n = start("rtmp-hls-delta", 2);
    let list = n.prefix.join("hls/live/ll.m3u8");
    let full = ll_playlist(100, 12, 2, false);
    let _ = write_atomic(&list, full.as_bytes());
    let port = n.http_port;
    let r = http::get(port, "/hls/ll.m3u8?_HLS_skip=YES");
    assert_eq!(r.status, 200);
    let d = String::from_utf8(r.body).unwrap();
    // 12.5 s listed, skip boundary 6 s: the segments ending by 6.5 s (six) are skipped.
    assert!(d.contains("#EXT-X-SKIP:SKIPPED-SEGMENTS=6\n"), "{d}");
    assert!(d.contains("#EXT-X-VERSION:9\n"));
    assert!(!d.contains("ll-105.ts") && d.contains("ll-106.ts"));
    assert_eq!(restored(&d, &full), full);
    let v2 = String::from_utf8(http::get(port, "/hls/ll.m3u8?_HLS_skip=v2").body).unwrap();
    assert!(v2.contains("SKIPPED-SEGMENTS=6,RECENTLY-REMOVED-DATERANGES=\"\"\n"));
    assert!(v2.contains("#EXT-X-VERSION:10\n"));

    // A blocking delta request: the delta of the playlist that answers it.
    let (_s, p) = request(port, "/hls/ll.m3u8?_HLS_msn=112&_HLS_part=2&_HLS_skip=YES");
    thread::sleep(Duration::from_millis(200));
    let next = ll_playlist(100, 12, 3, false);
    let _ = write_atomic(&list, next.as_bytes());
    let (status, _, _, body) = p.handle.join().unwrap();
    assert_eq!(status, 200);
    let d = String::from_utf8(body).unwrap();
    assert!(d.contains("ll-112.2.ts"));
    assert_eq!(restored(&d, &next), next);
    // Without the request the full playlist; a playlist without CAN-SKIP-UNTIL is full.
    assert_eq!(http::get(port, "/hls/ll.m3u8").body, next.as_bytes());
    let plain = next.replace(",CAN-SKIP-UNTIL=6", "");
    let _ = write_atomic(&list, plain.as_bytes());
    assert_eq!(
        http::get(port, "/hls/ll.m3u8?_HLS_skip=YES").body,
        plain.as_bytes()
    );
    n.assert_no_crash();
}

#[test]
fn bad_rtmp_hls_directives_fail_nginx_t_with_file_and_line() {
    for (loc, needle, message) in [
        (
            "location /a/ { rtmp_hls_max_waiting 0; }",
            "rtmp_hls_max_waiting 0",
            "invalid \"rtmp_hls_max_waiting\" value \"0\"",
        ),
        (
            "location /a/ { rtmp_hls_max_waiting lots; }",
            "rtmp_hls_max_waiting lots",
            "invalid \"rtmp_hls_max_waiting\" value",
        ),
        (
            "location /a/ {\n rtmp_hls;\n rtmp_hls; }",
            " rtmp_hls; }",
            "\"rtmp_hls\" directive is duplicate",
        ),
        (
            "location /a/ { rtmp_hls on; }",
            "rtmp_hls on",
            "invalid number of arguments in \"rtmp_hls\"",
        ),
    ] {
        let n = Nginx::prepare("rtmp-hls-conf", &conf(1).http(loc));
        let out = n.test_config();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "nginx -t accepted {loc:?}");
        assert!(err.contains(message), "{loc:?}: {err}");
        let text = fs::read_to_string(&n.conf).unwrap();
        let line = text.lines().position(|l| l.contains(needle)).unwrap() + 1;
        let at = format!("{}:{line}", n.conf.display());
        assert!(err.contains(&at), "{loc:?}: expected {at} in {err}");
    }
    let n = Nginx::prepare("rtmp-hls-conf", &conf(1));
    assert!(n.test_config().status.success());
}

#[test]
fn a_reload_answers_the_waiting_requests_of_the_old_workers() {
    let n = start("rtmp-hls-reload", 2);
    let _ = write_atomic(
        &n.prefix.join("hls/live/ll.m3u8"),
        ll_playlist(0, 2, 1, false).as_bytes(),
    );
    let waiting: Vec<_> = (0..4)
        .map(|_| request(n.http_port, "/hls/ll.m3u8?_HLS_msn=3"))
        .collect();
    thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    n.signal("reload");
    for (_s, p) in waiting {
        let (status, _, at, _) = p.handle.join().unwrap();
        assert_eq!(status, 503, "a waiting request of an old worker");
        assert!(at - t < Duration::from_millis(2000), "{:?}", at - t);
    }
    assert_eq!(http::get(n.http_port, "/hls/ll.m3u8").status, 200);
    n.assert_no_crash();
}
