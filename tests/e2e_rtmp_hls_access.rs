//! `rtmp_hls_play_check`: the play checks of HTTP players (`allow`/`deny play`, `play_secret`,
//! `on_play`) on `rtmp_hls` playlist requests, against a real nginx with two workers. The
//! playlists are written by the test into the applications' `hls_path` (atomically, as the
//! writer does); `on_play` goes to a small HTTP server of the test that counts its calls and
//! answers after a delay the test sets.

mod support;

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use support::nginx::{Conf, Nginx};

const SECRET: &str = "s3cret-of-16-chars-or-more";

/// The `on_play` server: counts calls by (name, args without name/call fields), answers by
/// the stream name: `deny*` 403, `rename*` 302 to `renamed`, `same*` 302 to itself, else 200,
/// each after `delay_ms`.
struct OnPlay {
    port: u16,
    calls: Arc<Mutex<Vec<HashMap<String, String>>>>,
    delay_ms: Arc<AtomicU64>,
}

impl OnPlay {
    fn start() -> OnPlay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let (c, d) = (calls.clone(), delay_ms.clone());
        thread::spawn(move || {
            for s in listener.incoming().flatten() {
                let (c, d) = (c.clone(), d.clone());
                thread::spawn(move || answer(s, &c, d.load(Ordering::SeqCst)));
            }
        });
        OnPlay {
            port,
            calls,
            delay_ms,
        }
    }

    /// Calls whose form has `field` = `value`.
    fn count(&self, field: &str, value: &str) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|f| f.get(field).map(String::as_str) == Some(value))
            .count()
    }

    fn total(&self) -> usize {
        self.calls.lock().unwrap().len()
    }
}

fn answer(s: TcpStream, calls: &Mutex<Vec<HashMap<String, String>>>, delay_ms: u64) {
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let l = line.trim_end().to_ascii_lowercase();
        if l.is_empty() {
            break;
        }
        if let Some(v) = l.strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).unwrap();
    let form: HashMap<String, String> = String::from_utf8_lossy(&body)
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let name = form.get("name").cloned().unwrap_or_default();
    calls.lock().unwrap().push(form);
    thread::sleep(Duration::from_millis(delay_ms));
    let head = if name.starts_with("deny") {
        "403 Forbidden\r\n".to_owned()
    } else if name.starts_with("rename") {
        "302 Found\r\nLocation: renamed\r\n".to_owned()
    } else if name.starts_with("same") {
        format!("302 Found\r\nLocation: {name}\r\n")
    } else {
        "200 OK\r\n".to_owned()
    };
    let mut s = s;
    let _ = write!(s, "HTTP/1.0 {head}Content-Length: 0\r\n\r\n");
}

fn conf(on_play_port: u16) -> Conf {
    Conf::rtmp(&format!(
        "server {{ listen 127.0.0.1:{{rtmp_port}};
           application listed {{ live on; hls on; hls_path {{prefix}}/hls/listed;
               allow play 127.0.0.1; deny play all; }}
           application closed {{ live on; hls on; hls_path {{prefix}}/hls/closed;
               deny play all; }}
           application signed {{ live on; hls on; hls_path {{prefix}}/hls/signed;
               play_secret {SECRET}; }}
           application hooked {{ live on; hls on; hls_path {{prefix}}/hls/hooked;
               on_play http://127.0.0.1:{on_play_port}/on_play; }} }}"
    ))
    .http(
        "location /open/ { rtmp_hls; add_header X-Worker $pid; }
         location /hls/ { rtmp_hls; rtmp_hls_play_check on; add_header X-Worker $pid; }
         location /short/ { rtmp_hls; rtmp_hls_play_check on; rtmp_hls_play_cache 1s;
             add_header X-Worker $pid; }",
    )
    .workers(2)
}

fn start(name: &str, on_play: &OnPlay) -> Nginx {
    let n = Nginx::prepare(name, &conf(on_play.port));
    for app in ["listed", "closed", "signed", "hooked"] {
        fs::create_dir_all(n.prefix.join("hls").join(app)).unwrap();
    }
    Nginx::start_prepared(n)
}

fn write_atomic(path: &Path, text: &str) -> Instant {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, text).unwrap();
    let before = Instant::now();
    fs::rename(&tmp, path).unwrap();
    before
}

/// An LL-HLS playlist: `complete` segments of 4 parts of 0.25 s from sequence 0, then `open`
/// parts of the next one and the preload hint of the part after them.
fn ll_playlist(complete: u64, open: u64) -> String {
    let mut s = String::from(
        "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:1\n#EXT-X-PART-INF:PART-TARGET=0.25\n\
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.75,CAN-SKIP-UNTIL=6\n\
#EXT-X-MEDIA-SEQUENCE:0\n",
    );
    for m in 0..complete {
        for p in 0..4 {
            s.push_str(&format!("#EXT-X-PART:DURATION=0.25,URI=\"s-{m}.{p}.ts\"\n"));
        }
        s.push_str(&format!("#EXTINF:1.000,\ns-{m}.ts\n"));
    }
    for p in 0..open {
        s.push_str(&format!(
            "#EXT-X-PART:DURATION=0.25,URI=\"s-{complete}.{p}.ts\"\n"
        ));
    }
    s.push_str(&format!(
        "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"s-{complete}.{open}.ts\"\n"
    ));
    s
}

/// Writes stream `name`'s playlist (and its first segment) in application `app`.
fn stream(n: &Nginx, app: &str, name: &str) {
    let dir = n.prefix.join("hls").join(app);
    write_atomic(&dir.join(format!("{name}.m3u8")), &ll_playlist(3, 1));
    fs::write(dir.join("s-0.ts"), [0x47u8; 188]).unwrap();
}

/// An answer: status, the worker that gave it, its body.
struct Answer {
    status: u16,
    worker: String,
    body: String,
}

fn read_answer(text: &str) -> Answer {
    let r = support::http::parse(text.as_bytes());
    Answer {
        status: r.status,
        worker: r.header("X-Worker").unwrap_or("").to_owned(),
        body: String::from_utf8_lossy(&r.body).into_owned(),
    }
}

/// Sends a request on its own connection; the answer comes from a thread.
fn send(port: u16, path: &str) -> (TcpStream, thread::JoinHandle<(Answer, Instant)>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut r = s.try_clone().unwrap();
    r.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let h = thread::spawn(move || {
        let mut first = [0u8; 1];
        let got = r.read(&mut first).unwrap_or(0);
        let at = Instant::now();
        let mut buf = first[..got].to_vec();
        let _ = r.read_to_end(&mut buf);
        (read_answer(&String::from_utf8_lossy(&buf)), at)
    });
    (s, h)
}

fn get(port: u16, path: &str) -> Answer {
    send(port, path).1.join().unwrap().0
}

/// Requests on one keep-alive connection: one worker answers them all.
struct KeepAlive {
    s: BufReader<TcpStream>,
}

impl KeepAlive {
    fn open(port: u16) -> KeepAlive {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        KeepAlive {
            s: BufReader::new(s),
        }
    }

    fn get(&mut self, path: &str) -> Answer {
        write!(
            self.s.get_mut(),
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        )
        .unwrap();
        let mut head = String::new();
        let mut len = 0usize;
        loop {
            let mut line = String::new();
            assert!(
                self.s.read_line(&mut line).unwrap() > 0,
                "connection closed"
            );
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0u8; len];
        self.s.read_exact(&mut body).unwrap();
        head.push_str(&String::from_utf8_lossy(&body));
        read_answer(&head)
    }
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn sig(name: &str, expires: u64) -> String {
    format!(
        "expires={expires}&sig={}",
        ngx_rtmp::auth::signed::sign(SECRET.as_bytes(), "signed", name, expires)
    )
}

#[test]
fn off_by_default_even_with_deny_play_all() {
    let cb = OnPlay::start();
    let n = start("rtmp-hls-access-off", &cb);
    for app in ["closed", "signed", "hooked"] {
        stream(&n, app, "cam");
    }
    for app in ["closed", "signed", "hooked"] {
        let a = get(n.http_port, &format!("/open/{app}/cam.m3u8"));
        assert_eq!(a.status, 200, "{app}");
        assert!(a.body.starts_with("#EXTM3U"), "{app}");
    }
    assert_eq!(
        cb.total(),
        0,
        "on_play is not asked without rtmp_hls_play_check"
    );
    assert_eq!(get(n.http_port, "/hls/closed/cam.m3u8").status, 403);
    n.assert_no_crash();
}

#[test]
fn allow_deny_and_play_secret_on_every_playlist_request() {
    let cb = OnPlay::start();
    let n = start("rtmp-hls-access-local", &cb);
    for app in ["listed", "closed", "signed"] {
        stream(&n, app, "cam");
    }
    stream(&n, "signed", "other");
    // Every request is checked, whichever worker answers it.
    let mut workers = HashSet::new();
    for _ in 0..8 {
        let a = get(n.http_port, "/hls/listed/cam.m3u8");
        assert_eq!(a.status, 200);
        workers.insert(a.worker);
        assert_eq!(get(n.http_port, "/hls/closed/cam.m3u8").status, 403);
    }
    // Segments are not checked (their names come from the playlist).
    assert_eq!(get(n.http_port, "/hls/closed/s-0.ts").status, 200);

    let now = now_unix();
    let good = sig("cam", now + 600);
    assert_eq!(get(n.http_port, "/hls/signed/cam.m3u8").status, 403);
    assert_eq!(
        get(n.http_port, &format!("/hls/signed/cam.m3u8?{good}")).status,
        200
    );
    // The delivery directives around the signature do not spoil it.
    let a = get(
        n.http_port,
        &format!("/hls/signed/cam.m3u8?_HLS_msn=2&{good}&_HLS_part=1&_HLS_skip=YES"),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.starts_with("#EXTM3U"), "{}", a.body);
    let mut bad = good.clone();
    let last = bad.pop().unwrap();
    bad.push(if last == '0' { '1' } else { '0' });
    assert_eq!(
        get(n.http_port, &format!("/hls/signed/cam.m3u8?{bad}")).status,
        403,
        "bad signature"
    );
    assert_eq!(
        get(
            n.http_port,
            &format!("/hls/signed/cam.m3u8?{}", sig("cam", now - 10))
        )
        .status,
        403,
        "expired"
    );
    assert_eq!(
        get(n.http_port, &format!("/hls/signed/other.m3u8?{good}")).status,
        403,
        "another stream's signature"
    );
    assert!(
        n.wait_log("play \"signed/cam\" refused", Duration::from_secs(5)),
        "{}",
        n.error_log()
    );
    assert_eq!(cb.total(), 0);
    n.assert_no_crash();
}

#[test]
fn on_play_is_asked_once_per_key_and_worker_and_its_verdict_reused() {
    let cb = OnPlay::start();
    let n = start("rtmp-hls-access-on-play", &cb);
    for name in ["cam", "denycam", "renamecam", "samecam"] {
        stream(&n, "hooked", name);
    }
    // Many reloads on one connection (one worker), LL-HLS directives varying: one call.
    let mut ka = KeepAlive::open(n.http_port);
    for i in 0..12 {
        let path = match i % 3 {
            0 => "/hls/hooked/cam.m3u8?token=a".to_owned(),
            1 => "/hls/hooked/cam.m3u8?token=a&_HLS_skip=YES".to_owned(),
            _ => "/hls/hooked/cam.m3u8?_HLS_msn=3&_HLS_part=0&token=a".to_owned(),
        };
        let a = ka.get(&path);
        assert_eq!(a.status, 200, "{path}: {}", a.body);
        assert!(a.body.starts_with("#EXTM3U"));
    }
    assert_eq!(cb.count("token", "a"), 1, "one on_play for 12 reloads");
    let call = cb.calls.lock().unwrap()[0].clone();
    assert_eq!(call.get("call").map(String::as_str), Some("play"));
    assert_eq!(call.get("name").map(String::as_str), Some("cam"));
    assert_eq!(call.get("app").map(String::as_str), Some("hooked"));
    assert!(
        !call.keys().any(|k| k.starts_with("_HLS_")),
        "directives reach on_play: {call:?}"
    );

    // New connections, both workers: at most one call per worker.
    let mut workers = HashSet::new();
    for _ in 0..20 {
        let a = get(n.http_port, "/hls/hooked/cam.m3u8?token=b");
        assert_eq!(a.status, 200);
        workers.insert(a.worker);
    }
    let b = cb.count("token", "b");
    assert!(b >= 1 && b <= workers.len(), "{b} calls on {workers:?}");

    // Refusals are kept too; a rename refuses unless it names the same stream.
    for _ in 0..5 {
        assert_eq!(ka.get("/hls/hooked/denycam.m3u8").status, 403);
        assert_eq!(ka.get("/hls/hooked/renamecam.m3u8").status, 403);
        assert_eq!(ka.get("/hls/hooked/samecam.m3u8").status, 200);
    }
    assert_eq!(cb.count("name", "denycam"), 1);
    assert_eq!(cb.count("name", "renamecam"), 1);
    assert!(
        n.wait_log("which an HLS player cannot follow", Duration::from_secs(5)),
        "{}",
        n.error_log()
    );

    // rtmp_hls_play_cache 1s: the verdict is asked again once it expired.
    let mut short = KeepAlive::open(n.http_port);
    for _ in 0..3 {
        assert_eq!(short.get("/short/hooked/cam.m3u8?token=c").status, 200);
    }
    assert_eq!(cb.count("token", "c"), 1);
    thread::sleep(Duration::from_millis(1300));
    assert_eq!(short.get("/short/hooked/cam.m3u8?token=c").status, 200);
    assert_eq!(cb.count("token", "c"), 2, "the verdict expired after 1 s");
    n.assert_no_crash();
}

#[test]
fn requests_wait_for_one_callback_and_a_blocking_reload_still_gets_its_part() {
    let cb = OnPlay::start();
    let n = start("rtmp-hls-access-wait", &cb);
    stream(&n, "hooked", "cam");
    stream(&n, "hooked", "denycam");
    let list = n.prefix.join("hls/hooked/cam.m3u8");
    cb.delay_ms.store(1000, Ordering::SeqCst);
    let t0 = Instant::now();
    // A blocking reload of the next part (s-3.1, not listed yet), plain reloads and a
    // client that goes away, all while the one callback is out.
    let (_b, blocking) = send(
        n.http_port,
        "/hls/hooked/cam.m3u8?_HLS_msn=3&_HLS_part=1&k=1",
    );
    let plain: Vec<_> = (0..6)
        .map(|_| send(n.http_port, "/hls/hooked/cam.m3u8?k=1"))
        .collect();
    let (gone, _) = send(n.http_port, "/hls/hooked/cam.m3u8?k=1");
    let (_d, denied) = send(n.http_port, "/hls/hooked/denycam.m3u8?k=1");
    thread::sleep(Duration::from_millis(300));
    gone.shutdown(std::net::Shutdown::Both).unwrap();
    drop(gone);
    let mut workers = HashSet::new();
    for (_s, h) in plain {
        let (a, at) = h.join().unwrap();
        assert_eq!(a.status, 200, "{}", a.body);
        assert!(
            at - t0 >= Duration::from_millis(900),
            "answered before on_play did: {:?}",
            at - t0
        );
        workers.insert(a.worker);
    }
    let calls = cb.count("k", "1") - cb.count("name", "denycam");
    assert!(
        (1..=2).contains(&calls),
        "{calls} callbacks for 8 requests of one key on {workers:?}"
    );
    assert_eq!(denied.join().unwrap().0.status, 403);
    // The blocking reload was allowed and now waits for its part, which comes at 1.5 s.
    thread::sleep(Duration::from_millis(1500).saturating_sub(t0.elapsed()));
    assert!(
        !blocking.is_finished(),
        "answered before its part was listed"
    );
    let listed = write_atomic(&list, &ll_playlist(3, 2));
    let (a, at) = blocking.join().unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(at >= listed, "answered before the part was listed");
    assert!(a.body.contains("s-3.1.ts"), "{}", a.body);
    // The worker that held the client that went away is still well.
    cb.delay_ms.store(0, Ordering::SeqCst);
    for _ in 0..4 {
        assert_eq!(get(n.http_port, "/hls/hooked/cam.m3u8?k=1").status, 200);
    }
    n.assert_no_crash();
}

#[test]
fn bad_play_check_directives_fail_nginx_t_with_file_and_line() {
    let rtmp = "server { listen 127.0.0.1:{rtmp_port};
        application live { live on; hls on; hls_path {prefix}/hls; } }";
    for (location, why) in [
        (
            "location /a/ { rtmp_hls; rtmp_hls_play_check maybe; }",
            "invalid value \"maybe\" in \"rtmp_hls_play_check\"",
        ),
        (
            "location /b/ { rtmp_hls; rtmp_hls_play_cache soon; }",
            "invalid \"rtmp_hls_play_cache\" value \"soon\"",
        ),
        (
            "location /c/ { rtmp_hls; rtmp_hls_play_cache 2d; }",
            "invalid \"rtmp_hls_play_cache\" value \"2d\"",
        ),
        (
            "location /d/ { rtmp_hls; rtmp_hls_play_check on; rtmp_hls_play_check off; }",
            "\"rtmp_hls_play_check\" directive is duplicate",
        ),
        (
            "location /e/ { rtmp_hls; rtmp_hls_play_check; }",
            "invalid number of arguments",
        ),
    ] {
        let n = Nginx::prepare("rtmp-hls-access-conf", &Conf::rtmp(rtmp).http(location));
        let out = n.test_config();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "{location}: {err}");
        assert!(err.contains(why), "{location}: {err}");
        let line = fs::read_to_string(&n.conf)
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
        "rtmp-hls-access-conf",
        &Conf::rtmp(rtmp).http(
            "location /a/ { rtmp_hls; rtmp_hls_play_check on; rtmp_hls_play_cache 0; }
             location /b/ { rtmp_hls; rtmp_hls_play_check off; rtmp_hls_play_cache 1m; }",
        ),
    );
    let out = n.test_config();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
