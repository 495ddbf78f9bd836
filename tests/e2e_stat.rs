//! rtmp_stat (XML, JSON, Prometheus) and rtmp_control end to end, with one and two workers,
//! and the dashboard (nginx-conf/www) in headless Chromium.

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use support::nginx::{ffmpeg_publish, Conf, Nginx};
use support::player::TestPlayer;

const LOCATIONS: &str = "
    location /stat { rtmp_stat all; rtmp_stat_stylesheet stat.xsl; }
    location /stat.json { rtmp_stat all; rtmp_stat_format json; }
    location /metrics { rtmp_stat all; rtmp_stat_format prometheus; }
    location /control { rtmp_control all; }";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct Response {
    status: u16,
    headers: String,
    body: String,
}

fn get(port: u16, path: &str) -> Response {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect http");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Response {
        status,
        headers: head.to_ascii_lowercase(),
        body: body.to_owned(),
    }
}

/// A minimal XML well-formedness check: balanced elements, known entities, no stray `<`.
/// Returns every element's path ("rtmp/server/...") with its text.
fn parse_xml(doc: &str) -> Result<Vec<(String, String)>, String> {
    let mut stack: Vec<String> = Vec::new();
    let mut out = Vec::new();
    let mut rest = doc;
    let mut text = String::new();
    let check_text = |t: &str| -> Result<(), String> {
        let mut r = t;
        while let Some(i) = r.find('&') {
            let after = &r[i + 1..];
            let end = after.find(';').ok_or("unterminated entity")?;
            if !matches!(&after[..end], "amp" | "lt" | "gt" | "quot" | "apos") {
                return Err(format!("unknown entity &{};", &after[..end]));
            }
            r = &after[end..];
        }
        if t.contains('>') {
            return Err(format!("raw > in text {t:?}"));
        }
        Ok(())
    };
    while let Some(open) = rest.find('<') {
        let t = &rest[..open];
        check_text(t)?;
        text.push_str(t);
        let close = rest[open..].find('>').ok_or("unterminated tag")? + open;
        let tag = &rest[open + 1..close];
        rest = &rest[close + 1..];
        if tag.starts_with('?') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            let top = stack.pop().ok_or(format!("stray </{name}>"))?;
            if top != name {
                return Err(format!("</{name}> closes <{top}>"));
            }
            let mut path = stack.join("/");
            path.push('/');
            path.push_str(name);
            out.push((path, std::mem::take(&mut text).trim().to_owned()));
        } else if let Some(name) = tag.strip_suffix('/') {
            out.push((format!("{}/{name}", stack.join("/")), String::new()));
        } else {
            if tag.contains(['<', ' ', '"']) {
                return Err(format!("odd tag <{tag}>"));
            }
            stack.push(tag.to_owned());
            text.clear();
        }
    }
    if !stack.is_empty() {
        return Err(format!("unclosed {stack:?}"));
    }
    check_text(rest)?;
    Ok(out)
}

fn xml_value<'a>(els: &'a [(String, String)], path: &str) -> Vec<&'a str> {
    els.iter()
        .filter(|(p, _)| p == path)
        .map(|(_, t)| t.as_str())
        .collect()
}

/// Parses JSON with python3's json module; returns the value of a Python expression on it.
fn json_eval(doc: &str, expr: &str) -> Result<String, String> {
    let mut child = Command::new("python3")
        .args([
            "-c",
            &format!("import json,sys; d=json.load(sys.stdin); print({expr})"),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("python3: {e}"))?;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(doc.as_bytes())
        .map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Prometheus text format: `# HELP`/`# TYPE` lines, samples `name{labels} value`.
fn check_prometheus(text: &str) -> Result<usize, String> {
    let mut samples = 0;
    for line in text.lines() {
        if let Some(c) = line.strip_prefix("# ") {
            if !(c.starts_with("HELP ") || c.starts_with("TYPE ")) {
                return Err(format!("bad comment {line:?}"));
            }
            continue;
        }
        let (metric, value) = line.rsplit_once(' ').ok_or(format!("no value: {line:?}"))?;
        value
            .parse::<f64>()
            .map_err(|_| format!("bad value: {line:?}"))?;
        let (name, labels) = match metric.split_once('{') {
            Some((n, l)) => (
                n,
                Some(l.strip_suffix('}').ok_or(format!("labels: {line:?}"))?),
            ),
            None => (metric, None),
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        {
            return Err(format!("bad metric name: {line:?}"));
        }
        if let Some(l) = labels {
            for pair in l.split("\",").filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once("=\"").ok_or(format!("label: {line:?}"))?;
                if !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || v.contains('\n') {
                    return Err(format!("bad label in {line:?}"));
                }
            }
        }
        samples += 1;
    }
    Ok(samples)
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(Duration::from_millis(200));
    }
}

fn kill(mut c: Child) {
    let _ = c.kill();
    let _ = c.wait();
}

fn start(name: &str, workers: u32, hls: bool) -> Nginx {
    let app = if hls {
        "application live { live on; hls on; hls_path {prefix}/www/hls; hls_fragment 2; }"
    } else {
        "application live { live on; } application vod { live off; }"
    };
    let conf = Conf::rtmp(&format!(
        "server {{ listen 127.0.0.1:{{rtmp_port}}; {app} }}"
    ))
    .workers(workers)
    .http(LOCATIONS);
    let n = Nginx::start(name, &conf);
    n.wait_listening(n.http_port);
    n
}

#[test]
fn stat_xml_json_prometheus_list_the_stream_its_metadata_and_clients() {
    let n = start("stat-formats", 1, false);
    let publisher = ffmpeg_publish(&n.rtmp_url("live", "cam"), 40)
        .spawn()
        .expect("ffmpeg");
    wait_until("the stream in stat", Duration::from_secs(15), || {
        get(n.http_port, "/stat").body.contains("<publishing/>")
    });
    let mut players: Vec<TestPlayer> = (0..2)
        .map(|_| TestPlayer::play(n.rtmp_port, "live", "cam"))
        .collect();
    for p in &mut players {
        let got = p.collect(Instant::now() + Duration::from_secs(5), 20);
        assert!(!got.is_empty(), "player got no media");
    }
    // Bitrates need two snapshots a second apart.
    sleep(Duration::from_millis(2200));

    let started = Instant::now();
    let r = get(n.http_port, "/stat");
    let latency = started.elapsed();
    assert_eq!(r.status, 200);
    assert!(
        r.headers.contains("content-type: text/xml"),
        "{}",
        r.headers
    );
    assert!(r
        .body
        .contains("<?xml-stylesheet type=\"text/xsl\" href=\"stat.xsl\" ?>"));
    let els = parse_xml(&r.body).unwrap_or_else(|e| panic!("XML: {e}\n{}", r.body));
    let s = "rtmp/server/application/live/stream";
    assert_eq!(
        xml_value(&els, "rtmp/nginx_version"),
        [support::nginx::nginx_version()]
    );
    assert_eq!(
        xml_value(&els, "rtmp/server/application/name"),
        ["live", "vod"]
    );
    assert_eq!(xml_value(&els, &format!("{s}/name")), ["cam"]);
    assert_eq!(xml_value(&els, &format!("{s}/nclients")), ["3"]);
    assert_eq!(xml_value(&els, &format!("{s}/meta/video/width")), ["320"]);
    assert_eq!(xml_value(&els, &format!("{s}/meta/video/height")), ["240"]);
    assert_eq!(xml_value(&els, &format!("{s}/meta/video/codec")), ["H264"]);
    assert_eq!(xml_value(&els, &format!("{s}/meta/audio/codec")), ["AAC"]);
    assert_eq!(
        xml_value(&els, &format!("{s}/meta/audio/sample_rate")),
        ["44100"]
    );
    let fps: u32 = xml_value(&els, &format!("{s}/meta/video/frame_rate"))[0]
        .parse()
        .unwrap();
    assert!((25..=35).contains(&fps), "frame rate {fps}");
    let bw_in: u64 = xml_value(&els, &format!("{s}/bw_in"))[0].parse().unwrap();
    assert!(bw_in > 50_000, "bw_in {bw_in}");
    assert_eq!(xml_value(&els, &format!("{s}/client/publishing")).len(), 1);
    assert_eq!(xml_value(&els, &format!("{s}/client/active")).len(), 3);
    assert!(xml_value(&els, &format!("{s}/client/flashver"))
        .iter()
        .any(|f| f.starts_with("FMLE/3.0")));
    assert_eq!(
        xml_value(&els, &format!("{s}/client/address"))[0],
        "127.0.0.1"
    );

    let j = get(n.http_port, "/stat?format=json");
    assert!(j.headers.contains("content-type: application/json"));
    let streams = json_eval(
        &j.body,
        "[(s['name'], s['nclients'], s['meta']['video']['width'], s['publishing']) \
         for a in d['servers'][0]['applications'] if a['live'] for s in a['live']['streams']]",
    )
    .unwrap_or_else(|e| panic!("JSON: {e}\n{}", j.body));
    assert_eq!(streams, "[('cam', 3, 320, True)]");
    let same = get(n.http_port, "/stat.json");
    assert!(json_eval(&same.body, "d['naccepted']").is_ok());

    let m = get(n.http_port, "/metrics");
    assert!(m
        .headers
        .contains("content-type: text/plain; version=0.0.4"));
    let samples = check_prometheus(&m.body).unwrap_or_else(|e| panic!("{e}\n{}", m.body));
    assert!(samples > 10);
    assert!(m
        .body
        .contains("rtmp_stream_clients{server=\"0\",app=\"live\",name=\"cam\"} 3\n"));
    assert!(
        m.body.contains("rtmp_connections_active{server=\"0\"} 3\n"),
        "{}",
        m.body
    );
    let p = get(n.http_port, "/stat?format=prometheus");
    assert!(check_prometheus(&p.body).is_ok());
    assert_eq!(get(n.http_port, "/stat?format=yaml").status, 400);

    // The XML's sections follow rtmp_stat.
    eprintln!("stat latency {:?}, {} bytes of XML", latency, r.body.len());
    drop(players);
    kill(publisher);
    n.assert_no_crash();
}

#[test]
fn drop_publisher_closes_it_within_two_seconds() {
    let n = start("stat-drop", 1, false);
    let mut publisher = ffmpeg_publish(&n.rtmp_url("live", "cam"), 60)
        .spawn()
        .expect("ffmpeg");
    wait_until("the stream in stat", Duration::from_secs(15), || {
        get(n.http_port, "/stat").body.contains("<publishing/>")
    });
    let mut player = TestPlayer::play(n.rtmp_port, "live", "cam");
    assert!(!player
        .collect(Instant::now() + Duration::from_secs(5), 5)
        .is_empty());

    for (url, status) in [
        ("/control/drop/publisher", 400),
        ("/control/drop/nobody?name=cam", 400),
        ("/control/drop/client?clientid=x", 400),
        ("/control/frobnicate/publisher?name=cam", 400),
        ("/control/redirect/publisher?app=live&name=cam", 400),
    ] {
        let r = get(n.http_port, url);
        assert_eq!(r.status, status, "{url}: {}", r.body);
        assert!(!r.body.trim().is_empty(), "{url}: no reason given");
    }
    assert_eq!(
        get(n.http_port, "/control/drop/publisher?app=live&name=other").body,
        "0"
    );
    let asked = Instant::now();
    let r = get(n.http_port, "/control/drop/publisher?app=live&name=cam");
    assert_eq!((r.status, r.body.as_str()), (200, "1"));
    let mut closed = None;
    while asked.elapsed() < Duration::from_secs(5) {
        if publisher.try_wait().unwrap().is_some() {
            closed = Some(asked.elapsed());
            break;
        }
        sleep(Duration::from_millis(20));
    }
    let closed = closed.unwrap_or_else(|| {
        kill(publisher);
        panic!(
            "publisher still connected 5 s after drop:\n{}",
            n.error_log()
        )
    });
    eprintln!("publisher closed {closed:?} after drop");
    assert!(
        closed < Duration::from_secs(2),
        "publisher closed after {closed:?}"
    );
    assert!(n.error_log().contains("dropped by rtmp_control"));
    // The player stays (subscriber drop is separate) and is then dropped by id.
    let els = parse_xml(&get(n.http_port, "/stat").body).unwrap();
    let ids = xml_value(&els, "rtmp/server/application/live/stream/client/id");
    assert_eq!(
        ids.len(),
        1,
        "the player waits for a new publisher? {ids:?}"
    );
    let r = get(
        n.http_port,
        &format!("/control/drop/client?clientid={}", ids[0]),
    );
    assert_eq!(r.body, "1");
    assert!(support::nginx::closed_within(
        &mut player.client.sock,
        Duration::from_secs(2)
    ));
    n.assert_no_crash();
}

#[test]
fn two_workers_every_stat_request_lists_the_stream() {
    let n = start("stat-workers", 2, false);
    let publisher = ffmpeg_publish(&n.rtmp_url("live", "cam"), 60)
        .spawn()
        .expect("ffmpeg");
    wait_until("the stream in stat", Duration::from_secs(15), || {
        get(n.http_port, "/stat").body.contains("<publishing/>")
    });
    // Players on both workers (connections spread over workers).
    let mut players: Vec<TestPlayer> = (0..6)
        .map(|_| TestPlayer::play(n.rtmp_port, "live", "cam"))
        .collect();
    for p in &mut players {
        assert!(!p
            .collect(Instant::now() + Duration::from_secs(5), 5)
            .is_empty());
    }
    sleep(Duration::from_millis(300));
    let mut pids = BTreeSet::new();
    let mut client_pids = BTreeSet::new();
    for i in 0..20 {
        let r = get(n.http_port, "/stat?format=json");
        let got = json_eval(
            &r.body,
            "(d['pid'], len(d['workers']), [(s['name'], s['publishing'], s['nclients'], \
              sorted(set(c['pid'] for c in s['clients']))) \
              for s in d['servers'][0]['applications'][0]['live']['streams']])",
        )
        .unwrap_or_else(|e| panic!("JSON: {e}\n{}", r.body));
        let (pid, rest) = got.trim_matches(['(', ')']).split_once(", ").unwrap();
        pids.insert(pid.to_owned());
        assert!(
            rest.starts_with("2, [('cam', True, 7, "),
            "request {i} (worker {pid}): {got}"
        );
        client_pids.insert(rest.to_owned());
        // The XML too.
        let x = get(n.http_port, "/stat");
        let els = parse_xml(&x.body).unwrap();
        assert_eq!(
            xml_value(&els, "rtmp/server/application/live/stream/name"),
            ["cam"],
            "request {i}"
        );
    }
    eprintln!("answered by workers {pids:?}; client pids {client_pids:?}");
    // Drop every subscriber, wherever they are.
    let r = get(n.http_port, "/control/drop/subscriber?app=live&name=cam");
    assert_eq!(r.body, "6", "drop count");
    for p in &mut players {
        assert!(
            support::nginx::closed_within(&mut p.client.sock, Duration::from_secs(2)),
            "a player on another worker was not dropped"
        );
    }
    kill(publisher);
    n.assert_no_crash();
}

#[test]
fn bad_directive_values_fail_nginx_t_with_file_and_line() {
    for (loc, needle) in [
        (
            "location /s { rtmp_stat bogus; }",
            "invalid value \"bogus\" in \"rtmp_stat\"",
        ),
        (
            "location /s { rtmp_stat all; rtmp_stat_format yaml; }",
            "rtmp_stat_format",
        ),
        (
            "location /s { rtmp_control nope; }",
            "invalid value \"nope\" in \"rtmp_control\"",
        ),
        (
            "location /s { rtmp_stat all; rtmp_stat all; }",
            "is duplicate",
        ),
        ("rtmp_stat all;", "is not allowed here"),
    ] {
        let conf = Conf::live().http(loc);
        let n = Nginx::prepare("stat-conf", &conf);
        let out = n.test_config();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{loc}: nginx -t passed");
        assert!(err.contains(needle), "{loc}: {err}");
        assert!(err.contains("nginx.conf:"), "{loc}: no file:line in {err}");
    }
}

#[test]
fn dashboard_lists_the_stream_and_plays_it_in_headless_chromium() {
    let player_dir = repo().join("tests/player");
    let hls_js = player_dir.join("node_modules/hls.js/dist/hls.min.js");
    assert!(
        hls_js.is_file() && player_dir.join("node_modules/playwright-core").is_dir(),
        "tests/player/node_modules is missing: scripts/test.sh installs it"
    );
    assert!(Path::new("/usr/bin/chromium").is_file(), "chromium missing");
    let n = start("stat-dashboard", 2, true);
    let www = n.prefix.join("www");
    for f in ["index.html", "dashboard.js"] {
        fs::copy(repo().join("nginx-conf/www").join(f), www.join(f)).unwrap();
    }
    fs::copy(&hls_js, www.join("hls.min.js")).unwrap();
    let mut publisher = ffmpeg_publish(&n.rtmp_url("live", "cam"), 60)
        .spawn()
        .expect("ffmpeg");
    let playlist = www.join("hls/cam.m3u8");
    wait_until("two HLS segments", Duration::from_secs(20), || {
        fs::read_to_string(&playlist).map_or(0, |t| t.matches("#EXTINF").count()) >= 2
    });
    let shot = repo().join("target/e2e/dashboard.png");
    let _ = fs::remove_file(&shot);
    let out = Command::new("node")
        .arg(player_dir.join("dashboard.mjs"))
        .arg(format!("http://127.0.0.1:{}/index.html", n.http_port))
        .arg("live/cam")
        .arg(&shot)
        .arg("6")
        .stdin(Stdio::null())
        .output()
        .expect("node dashboard.mjs");
    let _ = publisher.kill();
    let _ = publisher.wait();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let ctx = || {
        format!(
            "{stdout}\nstderr: {}\nnginx: {}",
            String::from_utf8_lossy(&out.stderr),
            n.error_log()
        )
    };
    eprintln!("{stdout}");
    assert!(stdout.lines().any(|l| l == "listed true"), "{}", ctx());
    let row = stdout
        .lines()
        .find_map(|l| l.strip_prefix("row "))
        .unwrap_or("");
    assert!(
        row.contains("live/cam") && row.contains("320x240"),
        "row: {row}"
    );
    assert!(stdout.lines().any(|l| l == "started true"), "{}", ctx());
    let errors: Vec<&str> = stdout.lines().filter(|l| l.starts_with("error ")).collect();
    assert!(errors.is_empty(), "{errors:?}\n{}", ctx());
    let t: Vec<f64> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("sample "))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse().ok())
        .collect();
    assert!(t.len() >= 8, "{}", ctx());
    let advanced = t.last().unwrap() - t.first().unwrap();
    assert!(
        advanced >= 3.0,
        "currentTime advanced {advanced:.2} s: {t:?}"
    );
    assert!(
        fs::metadata(&shot).is_ok_and(|m| m.len() > 1000),
        "no screenshot"
    );
    n.assert_no_crash();
}
