//! RTMPS ingest: `listen ... ssl` with a certificate the test makes with the openssl CLI.
//! ffmpeg publishes and plays over `rtmps://` (it does not verify the server's certificate
//! by default) while the same server listens plain on another port; clients that do not
//! speak TLS, or stall in its handshake, are closed at info and the worker goes on.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use support::hls::decode_errors;
use support::nginx::{
    closed_within, ffmpeg_plays, ffmpeg_publish, free_port, run_with_timeout, Conf, Nginx,
};

/// A self-signed certificate for `name` and its key in `dir` (`cert.pem`, `key.pem`).
/// Writes new files and renames them into place, as renewal tools do: nginx 1.27.4 and later
/// keep a certificate across reloads while its file has the same inode and mtime (seconds),
/// which a rewrite in place within the same second would keep.
fn make_certificate(dir: &Path, name: &str) {
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .arg("-subj")
        .arg(format!("/CN={name}"))
        .arg("-keyout")
        .arg(dir.join("key.pem.new"))
        .arg("-out")
        .arg(dir.join("cert.pem.new"))
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl req failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in ["key.pem", "cert.pem"] {
        std::fs::rename(dir.join(format!("{f}.new")), dir.join(f)).expect("rename certificate");
    }
}

/// nginx with one server listening plain on its RTMP port and with TLS on `tls_port`.
fn start(name: &str, tls_port: u16, extra: &str) -> Nginx {
    let body = "server {
            listen 127.0.0.1:{rtmp_port};
            listen 127.0.0.1:{tls_port} ssl;
            ssl_certificate cert.pem;
            ssl_certificate_key {prefix}/key.pem;
            {extra}
            application live {
                live on;
                hls on; hls_path {prefix}/www/hls; hls_fragment 1s; hls_playlist_length 30s;
            }
        }"
    .replace("{tls_port}", &tls_port.to_string())
    .replace("{extra}", extra);
    let conf =
        Conf::rtmp(&body).http("location /stat.json { rtmp_stat all; rtmp_stat_format json; }");
    let n = Nginx::prepare(name, &conf);
    // `cert.pem` is relative: nginx finds it beside the configuration.
    make_certificate(&n.prefix, "localhost");
    let n = Nginx::start_prepared(n);
    n.wait_listening(tls_port);
    n
}

/// The body of `GET /stat.json`.
fn stat_json(n: &Nginx) -> String {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", n.http_port)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = write!(s, "GET /stat.json HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body
}

fn rtmps_url(port: u16, name: &str) -> String {
    format!("rtmps://127.0.0.1:{port}/live/{name}")
}

/// Fails on anything nginx logs above info about a client (OpenSSL's reports included).
fn assert_quiet(n: &Nginx) {
    n.assert_no_crash();
    let log = n.error_log();
    for bad in ["[crit]", "[error]"] {
        assert!(!log.contains(bad), "error log contains {bad:?}:\n{log}");
    }
}

#[test]
fn ffmpeg_publishes_and_plays_over_rtmps_beside_plain_rtmp() {
    let tls_port = free_port();
    let n = start("rtmps-publish", tls_port, "");
    let mut publisher = ffmpeg_publish(&rtmps_url(tls_port, "cam"), 6)
        .spawn()
        .expect("spawn ffmpeg");
    assert!(
        n.wait_log("publishes \"live/cam\"", Duration::from_secs(15)),
        "no rtmps publish:\n{}",
        n.error_log()
    );
    // Stat tells the publisher's protocol.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut stat = stat_json(&n);
    while !stat.contains("\"protocol\":\"rtmps\"") && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(200));
        stat = stat_json(&n);
    }
    assert!(
        stat.contains("\"protocol\":\"rtmps\""),
        "no rtmps client in stat:\n{stat}"
    );
    // Players of the stream on both ports, at once.
    let over_tls = thread::spawn(move || ffmpeg_plays(&rtmps_url(tls_port, "cam")));
    assert!(
        ffmpeg_plays(&n.rtmp_url("live", "cam")),
        "plain RTMP play failed:\n{}",
        n.error_log()
    );
    assert!(over_tls.join().unwrap(), "rtmps play failed");
    let status = publisher.wait().expect("wait ffmpeg");
    assert!(status.success(), "ffmpeg publish over rtmps failed");
    assert!(n.wait_log("stopped publishing \"live/cam\"", Duration::from_secs(10)));
    let playlist = n.prefix.join("www/hls/cam.m3u8");
    let text = std::fs::read_to_string(&playlist).expect("playlist");
    let segments = text.lines().filter(|l| l.ends_with(".ts")).count();
    assert!(segments >= 3, "{segments} segments:\n{text}");
    let errors = decode_errors(&playlist);
    assert!(errors.is_empty(), "HLS decode errors: {errors}");
    // A plain publisher on the plain port works beside it.
    let (ok, err) = run_with_timeout(
        ffmpeg_publish(&n.rtmp_url("live", "plain"), 2),
        Duration::from_secs(20),
    );
    assert!(ok, "plain publish failed: {err}");
    assert_quiet(&n);
}

/// Writes `bytes` to the TLS port and tells whether the server closed the connection
/// within `within`.
fn send_and_wait_close(port: u16, bytes: &[u8], within: Duration) -> bool {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    // The server may close before taking everything: a failed write is a close too.
    if s.write_all(bytes).is_err() {
        return true;
    }
    closed_within(&mut s, within)
}

#[test]
fn clients_without_tls_are_closed_and_the_worker_goes_on() {
    let tls_port = free_port();
    let n = start("rtmps-hostile", tls_port, "timeout 2s;");
    let garbage: Vec<u8> = (0..3000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 | 0x80)
        .collect();
    assert!(
        send_and_wait_close(tls_port, &garbage, Duration::from_secs(5)),
        "garbage was not closed"
    );
    // A plain RTMP client: C0 (version 3) and C1.
    let mut c0c1 = vec![3u8];
    c0c1.extend(std::iter::repeat_n(0x5A, 1536));
    assert!(
        send_and_wait_close(tls_port, &c0c1, Duration::from_secs(5)),
        "a plain RTMP handshake was not closed"
    );
    // An HTTP request.
    assert!(send_and_wait_close(
        tls_port,
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(5)
    ));
    // A TLS handshake record header whose body never comes, and a client that says nothing:
    // both closed at `timeout` (2 s).
    for opening in [&[0x16, 0x03, 0x01, 0x02, 0x00][..], &[][..]] {
        let started = Instant::now();
        assert!(
            send_and_wait_close(tls_port, opening, Duration::from_secs(8)),
            "a stalled TLS handshake ({opening:?}) was not closed"
        );
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(1500) && took < Duration::from_secs(5),
            "closed after {took:?}, not at the 2 s timeout"
        );
    }
    let log = n.error_log();
    for why in [
        "closed: not a TLS handshake (first byte 0x",
        "closed: plain RTMP on a TLS port",
        "closed: not a TLS handshake (first byte 0x47)",
        "closed: TLS handshake timed out",
    ] {
        assert!(log.contains(why), "no {why:?} in the log:\n{log}");
    }
    // The worker still serves: a publish over TLS after all that.
    let (ok, err) = run_with_timeout(
        ffmpeg_publish(&rtmps_url(tls_port, "after"), 2),
        Duration::from_secs(20),
    );
    assert!(ok, "rtmps publish after hostile clients failed: {err}");
    assert!(n.wait_log("publishes \"live/after\"", Duration::from_secs(5)));
    assert_quiet(&n);
}

#[test]
fn a_client_silent_after_the_tls_handshake_is_closed_at_timeout() {
    let tls_port = free_port();
    let n = start("rtmps-silent", tls_port, "timeout 2s;");
    // openssl s_client completes the TLS handshake and then sends nothing (its stdin stays
    // open): the RTMP handshake's deadline closes it, as for a silent plain client.
    let started = Instant::now();
    let mut client = Command::new("openssl")
        .args(["s_client", "-quiet", "-connect"])
        .arg(format!("127.0.0.1:{tls_port}"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn openssl s_client");
    let closed = n.wait_log("closed: handshake: timed out", Duration::from_secs(10));
    let took = started.elapsed();
    let _ = client.kill();
    let _ = client.wait();
    assert!(closed, "not closed:\n{}", n.error_log());
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(6),
        "closed after {took:?}, not at the 2 s timeout"
    );
    assert_quiet(&n);
}

/// The subject of the certificate the server at `port` presents.
fn served_subject(port: u16) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl s_client -connect 127.0.0.1:{port} </dev/null 2>/dev/null \
             | openssl x509 -noout -subject"
        ))
        .output()
        .expect("run openssl");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn a_reload_serves_a_renewed_certificate() {
    let tls_port = free_port();
    let n = start("rtmps-reload", tls_port, "");
    assert!(served_subject(tls_port).contains("CN = localhost"));
    make_certificate(&n.prefix, "renewed.example");
    n.signal("reload");
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut subject = String::new();
    while Instant::now() < deadline {
        subject = served_subject(tls_port);
        if subject.contains("CN = renewed.example") {
            break;
        }
        thread::sleep(Duration::from_millis(200));
    }
    assert!(
        subject.contains("CN = renewed.example"),
        "still serving {subject:?} after reload"
    );
    let (ok, err) = run_with_timeout(
        ffmpeg_publish(&rtmps_url(tls_port, "renewed"), 2),
        Duration::from_secs(20),
    );
    assert!(ok, "rtmps publish after reload failed: {err}");
    assert_quiet(&n);
}
