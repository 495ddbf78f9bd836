//! Relays in rtmp_stat end to end: an origin with two workers pushes one stream to a second
//! instance of ours and to a closed port. Stat XML (valid for stat.xsl's paths), JSON and
//! Prometheus show the streaming push with its bytes growing, and the other one backing off
//! with its last error and failures.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use support::nginx::{ffmpeg_publish, free_port, Conf, Nginx};

const LOCATIONS: &str = "
    location /stat { rtmp_stat all; }
    location /stat.json { rtmp_stat all; rtmp_stat_format json; }
    location /metrics { rtmp_stat all; rtmp_stat_format prometheus; }";

fn get(port: u16, path: &str) -> String {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    text.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default()
}

/// The `<relay>` elements of the XML stat, each as its text.
fn xml_relays(doc: &str) -> Vec<String> {
    doc.split("<relay>")
        .skip(1)
        .filter_map(|r| r.split_once("</relay>").map(|(r, _)| r.to_owned()))
        .collect()
}

fn field<'a>(relay: &'a str, name: &str) -> &'a str {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    relay
        .split_once(&open)
        .and_then(|(_, r)| r.split_once(&close))
        .map_or("", |(v, _)| v)
}

/// The relay of `doc` whose `<url>` contains `port`.
fn relay_to(doc: &str, port: u16) -> Option<String> {
    let p = format!(":{port}/");
    xml_relays(doc)
        .into_iter()
        .find(|r| field(r, "url").contains(&p))
}

fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(Duration::from_millis(200));
    }
}

/// Runs a Python program on `input`; its stdout and stderr.
fn python(program: &str, input: &str) -> (String, String) {
    let mut child = Command::new("python3")
        .args(["-c", program])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn kill(mut c: Child) {
    let _ = c.kill();
    let _ = c.wait();
}

#[test]
fn stat_shows_a_streaming_push_and_one_in_backoff() {
    let target = Nginx::start("relay-stat-target", &Conf::live());
    let closed = free_port();
    let origin = Nginx::start(
        "relay-stat-origin",
        &Conf::rtmp(&format!(
            "server {{ listen 127.0.0.1:{{rtmp_port}}; application live {{ live on; \
             push_reconnect 300ms; push rtmp://127.0.0.1:{}/live; \
             push rtmp://127.0.0.1:{closed}/live; }} }}",
            target.rtmp_port
        ))
        .workers(2)
        .http(LOCATIONS),
    );
    origin.wait_listening(origin.http_port);
    let publisher = ffmpeg_publish(&origin.rtmp_url("live", "cam"), 30)
        .spawn()
        .expect("ffmpeg publish");

    // The streaming push, its bytes growing.
    let first = wait_for("a streaming push in stat", Duration::from_secs(15), || {
        relay_to(&get(origin.http_port, "/stat"), target.rtmp_port)
            .filter(|r| field(r, "state") == "streaming" && field(r, "bytes_out") != "0")
    });
    assert_eq!(field(&first, "kind"), "push");
    assert_eq!(
        field(&first, "addr"),
        format!("127.0.0.1:{}", target.rtmp_port)
    );
    let bytes = |r: &str| field(r, "bytes_out").parse::<u64>().unwrap();
    let before = bytes(&first);
    wait_for("the push's bytes to grow", Duration::from_secs(10), || {
        relay_to(&get(origin.http_port, "/stat"), target.rtmp_port)
            .filter(|r| bytes(r) > before + 10_000)
    });

    // The push to the closed port backs off, with its last error and failures counted.
    let down = wait_for(
        "a push in backoff with failures",
        Duration::from_secs(10),
        || {
            relay_to(&get(origin.http_port, "/stat"), closed).filter(|r| {
                field(r, "failures").parse::<u64>().unwrap_or(0) >= 2
                    && field(r, "reconnects") != "0"
            })
        },
    );
    assert!(
        matches!(field(&down, "state"), "backoff" | "connecting"),
        "{down}"
    );
    assert!(
        field(&down, "last_error").contains("connect"),
        "last error: {down}"
    );
    assert_eq!(field(&down, "bytes_out"), "0", "{down}");

    // The document stays valid for stat.xsl's paths: relays sit inside the stream, after
    // its own elements, and the whole page has one relay of each target (two workers, one
    // publisher's worker runs the pushes).
    let doc = get(origin.http_port, "/stat");
    let stream = doc
        .split_once("<stream>")
        .and_then(|(_, s)| s.split_once("</stream>"))
        .map(|(s, _)| s)
        .expect("a stream");
    assert!(
        stream.contains("<relays>") && stream.contains("</relays>"),
        "{doc}"
    );
    assert!(stream.find("<name>cam</name>") < stream.find("<relays>"));
    assert_eq!(xml_relays(&doc).len(), 2, "{doc}");
    let (ok, err) = python(
        "import sys, xml.etree.ElementTree as E\n\
         r=E.fromstring(sys.stdin.buffer.read())\n\
         print(len(r.findall('server/application/live/stream/relays/relay')))\n",
        &doc,
    );
    assert_eq!(ok.trim(), "2", "{err}\n{doc}");

    // JSON.
    let json = get(origin.http_port, "/stat.json");
    let py = "import json,sys\n\
              d=json.load(sys.stdin)\n\
              rs=[r for s in d['servers'] for a in s['applications'] if a['live'] \
              for st in a['live']['streams'] for r in st['relays']]\n\
              print(len(rs))\n\
              for r in sorted(rs, key=lambda r: r['url']):\n\
              \x20print(r['kind'], r['state'], r['url'], r['bytes_out'] > 0, r['last_error'] is not None)\n";
    let (out, _) = python(py, &json);
    assert!(out.starts_with("2\n"), "{out}\n{json}");
    assert!(
        out.contains(&format!(
            "push streaming rtmp://127.0.0.1:{}/live/cam True False",
            target.rtmp_port
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("rtmp://127.0.0.1:{closed}/live/cam False True")),
        "{out}"
    );

    // Prometheus.
    let m = get(origin.http_port, "/metrics");
    let up = format!(
        "rtmp_relay_up{{server=\"0\",app=\"live\",name=\"cam\",kind=\"push\",url=\"rtmp://127.0.0.1:{}/live/cam\",",
        target.rtmp_port
    );
    let line = m.lines().find(|l| l.starts_with(&up)).unwrap_or("");
    assert!(line.ends_with(" 1"), "{line:?} in\n{m}");
    let down_up = format!("kind=\"push\",url=\"rtmp://127.0.0.1:{closed}/live/cam\"");
    assert!(
        m.lines()
            .any(|l| l.starts_with("rtmp_relay_up{") && l.contains(&down_up) && l.ends_with(" 0")),
        "{m}"
    );
    let out_bytes = m
        .lines()
        .find(|l| {
            l.starts_with("rtmp_relay_bytes_total{")
                && l.contains(&format!("127.0.0.1:{}/live", target.rtmp_port))
                && l.contains("direction=\"out\"")
        })
        .and_then(|l| l.rsplit_once(' '))
        .and_then(|(_, v)| v.parse::<u64>().ok())
        .unwrap_or(0);
    assert!(out_bytes > before, "{m}");
    assert!(
        m.lines()
            .any(|l| l.starts_with("rtmp_relay_reconnects_total{")
                && l.contains(&down_up)
                && !l.ends_with(" 0")),
        "{m}"
    );

    kill(publisher);
    origin.assert_no_crash();
    target.assert_no_crash();
}
