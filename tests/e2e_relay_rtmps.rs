//! `push rtmps://` end to end: the origin speaks TLS through nginx's OpenSSL to a TLS
//! endpoint on loopback — nginx's `stream { listen ssl; proxy_pass }` (Debian's
//! libnginx-mod-stream) in front of a plain RTMP instance of ours — with certificates the test
//! makes with the openssl CLI: a CA and servers it signed (for localhost and 127.0.0.1, and
//! for another name), and a self-signed one.
//!
//! A verified push streams every frame, with SNI; a push with verification off streams to
//! the self-signed endpoint; a certificate that does not chain to a trusted authority, a
//! self-signed one, one for another name, and a protocol the endpoint refuses are each
//! refused with the reason in one warning line, and retried, and the publisher goes on. And
//! a push reaches our own RTMPS listener (`listen ... ssl`), and an edge pulls from it.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::thread;
use std::time::{Duration, Instant};

use support::hls::{frame_md5, Input};
use support::nginx::{
    ffmpeg, ffmpeg_plays, ffmpeg_publish_file, free_port, run_with_timeout, Conf, Nginx,
};

/// Debian's libnginx-mod-stream.
const STREAM_MODULE: &str = "/usr/lib/nginx/modules/ngx_stream_module.so";

fn work_dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/e2e")
        .join(format!("relay-rtmps-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("work dir");
    d
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The test's certificates, in `dir`: `ca.pem`; `server.pem`/`server.key` (signed by the CA,
/// for localhost and 127.0.0.1); `other.pem`/`other.key` (signed by the CA, for
/// other.example only); `self.pem`/`self.key` (self-signed, for localhost and 127.0.0.1).
fn make_certificates(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let ca = [
        &[
            "req", "-x509", "-days", "2", "-keyout", "ca.key", "-out", "ca.pem",
        ][..],
        &ec,
        &["-subj", "/CN=ngx-rtmp test CA"],
        &["-addext", "basicConstraints=critical,CA:TRUE"],
        &["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
    ]
    .concat();
    openssl(dir, &ca);
    for (name, san) in [
        ("server", "DNS:localhost,IP:127.0.0.1"),
        ("other", "DNS:other.example"),
    ] {
        let key = format!("{name}.key");
        let csr = format!("{name}.csr");
        let pem = format!("{name}.pem");
        let ext = format!("{name}.ext");
        std::fs::write(
            dir.join(&ext),
            format!(
                "subjectAltName={san}\nbasicConstraints=CA:FALSE\n\
                 keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n"
            ),
        )
        .expect("write ext");
        let req = [
            &[
                "req",
                "-keyout",
                &key,
                "-out",
                &csr,
                "-subj",
                "/CN=test server",
            ][..],
            &ec,
        ]
        .concat();
        openssl(dir, &req);
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-out",
                &pem,
                "-extfile",
                &ext,
            ],
        );
    }
    let selfsigned = [
        &[
            "req", "-x509", "-days", "2", "-keyout", "self.key", "-out", "self.pem",
        ][..],
        &ec,
        &["-subj", "/CN=localhost"],
        &["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
    ]
    .concat();
    openssl(dir, &selfsigned);
}

/// The TLS ports of a [`tls_target`].
struct Ports {
    /// CA-signed for localhost/127.0.0.1, TLSv1.2 and TLSv1.3.
    signed: u16,
    /// Self-signed.
    selfsigned: u16,
    /// CA-signed for other.example.
    other: u16,
    /// CA-signed for localhost/127.0.0.1, TLSv1.2 only.
    tls12: u16,
}

/// A plain RTMP instance of ours (`application live`) with TLS endpoints in front of it:
/// nginx's stream module in the same nginx, each session logged as
/// `port server-name status` in `logs/stream.log`.
fn tls_target(name: &str, certs: &Path) -> (Nginx, Ports) {
    let ports = Ports {
        signed: free_port(),
        selfsigned: free_port(),
        other: free_port(),
        tls12: free_port(),
    };
    let c = certs.display();
    let server = |port: u16, cert: &str, protocols: &str| {
        format!(
            "server {{ listen 127.0.0.1:{port} ssl; ssl_certificate {c}/{cert}.pem; \
             ssl_certificate_key {c}/{cert}.key; ssl_protocols {protocols}; \
             proxy_pass 127.0.0.1:{{rtmp_port}}; }}\n"
        )
    };
    let main = format!(
        "load_module {STREAM_MODULE};\n\
         stream {{\n log_format tls '$server_port \"$ssl_server_name\" $status';\n\
         access_log {{prefix}}/logs/stream.log tls;\n{}{}{}{}}}\n",
        server(ports.signed, "server", "TLSv1.2 TLSv1.3"),
        server(ports.selfsigned, "self", "TLSv1.2 TLSv1.3"),
        server(ports.other, "other", "TLSv1.2 TLSv1.3"),
        server(ports.tls12, "server", "TLSv1.2"),
    );
    assert!(
        Path::new(STREAM_MODULE).is_file(),
        "{STREAM_MODULE} missing: scripts/test.sh installs libnginx-mod-stream"
    );
    let target = Nginx::start(name, &Conf::live().main(&main));
    for port in [ports.signed, ports.selfsigned, ports.other, ports.tls12] {
        target.wait_listening(port);
    }
    (target, ports)
}

fn stream_log(n: &Nginx) -> String {
    std::fs::read_to_string(n.prefix.join("logs/stream.log")).unwrap_or_default()
}

/// Waits until the stream log of `n` has at least `times` sessions on `port`.
fn wait_sessions(n: &Nginx, port: u16, times: usize, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let prefix = format!("{port} ");
    while Instant::now() < deadline {
        let log = stream_log(n);
        if log.lines().filter(|l| l.starts_with(&prefix)).count() >= times {
            return true;
        }
        thread::sleep(Duration::from_millis(100));
    }
    false
}

/// Waits for `child` to exit within `timeout`; whether it exited successfully.
fn wait_ok(child: &mut Child, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            return st.success();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return false;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Verification on with the test CA trusted: the push streams every frame to the target
/// behind TLS, the server name goes out as SNI; with verification off, a push to a
/// self-signed endpoint streams too.
#[test]
fn rtmps_push_with_a_verified_certificate_streams_every_frame() {
    let dir = work_dir("verified");
    make_certificates(&dir);
    let input = Input::encode_av(&dir, "src", 8);
    let (target, ports) = tls_target("relay-rtmps-target", &dir);
    let origin = Nginx::start(
        "relay-rtmps-origin",
        &Conf::rtmp(&format!(
            "server {{ listen 127.0.0.1:{{rtmp_port}};\n\
             application live {{ live on; relay_ssl_trusted_certificate {ca};\n\
             push rtmps://localhost:{signed}/live; }}\n\
             application noverify {{ relay_ssl_verify off;\n\
             push rtmps://127.0.0.1:{selfsigned}/live/unverified; }} }}",
            ca = dir.join("ca.pem").display(),
            signed = ports.signed,
            selfsigned = ports.selfsigned,
        )),
    );

    // The player waits on the target for the name before the publish starts, so it gets the
    // stream from its first frame.
    let received = dir.join("received.flv");
    let mut play = ffmpeg();
    play.args(["-y", "-i", &target.rtmp_url("live", "cam")])
        .args(["-t", "6.5", "-c", "copy", "-f", "flv"])
        .arg(&received);
    let player = thread::spawn(move || run_with_timeout(play, Duration::from_secs(40)));
    thread::sleep(Duration::from_millis(800));
    let mut unverified = ffmpeg_publish_file(&input.path, &origin.rtmp_url("noverify", "cam"))
        .spawn()
        .expect("publish");

    let (published, err) = run_with_timeout(
        ffmpeg_publish_file(&input.path, &origin.rtmp_url("live", "cam")),
        Duration::from_secs(30),
    );
    assert!(published, "publish to the origin failed: {err}");
    let (played, err) = player.join().expect("player thread");
    assert!(
        played,
        "player on the target failed: {err}\norigin log:\n{}",
        origin.error_log()
    );
    let (src, _) = frame_md5(&input.path, "v");
    let (got, err) = frame_md5(&received, "v");
    assert!(
        got.len() >= 6 * 30,
        "{} video frames on the target ({err})",
        got.len()
    );
    let n = got.len() - 3;
    assert_eq!(got[..n], src[..n], "video frames differ from the source");
    let (src_a, _) = frame_md5(&input.path, "a");
    let (got_a, _) = frame_md5(&received, "a");
    assert!(got_a.len() > 200, "{} audio frames", got_a.len());
    let n = got_a.len() - 3;
    assert_eq!(got_a[..n], src_a[..n], "audio frames differ");
    assert!(
        wait_ok(&mut unverified, Duration::from_secs(30)),
        "the unverified publish failed"
    );

    let log = origin.error_log();
    assert!(
        log.contains(&format!(
            "relay rtmps://localhost:{}/live/cam: streaming to 127.0.0.1:{}",
            ports.signed, ports.signed
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "relay rtmps://127.0.0.1:{}/live/unverified: streaming to",
            ports.selfsigned
        )),
        "{log}"
    );
    assert!(!log.contains("tls:"), "a TLS failure was logged:\n{log}");
    // The pushes ended with their publishes: the TLS endpoint logged their sessions, the
    // verified one with the server name the origin sent.
    assert!(
        wait_sessions(&target, ports.signed, 1, Duration::from_secs(10))
            && wait_sessions(&target, ports.selfsigned, 1, Duration::from_secs(10)),
        "{}",
        stream_log(&target)
    );
    let sessions = stream_log(&target);
    assert!(
        sessions.contains(&format!("{} \"localhost\" 200", ports.signed)),
        "{sessions}"
    );
    // No server name for an address (RFC 6066).
    assert!(
        sessions.contains(&format!("{} \"-\" 200", ports.selfsigned)),
        "{sessions}"
    );
    origin.assert_no_crash();
    target.assert_no_crash();
}

/// Certificates that must not be accepted, and a protocol the endpoint refuses: each push is
/// refused with the reason in one warning (nginx's own per-attempt lines are not written),
/// retried within its backoff, never streams; the publishers go on.
#[test]
fn rtmps_push_refuses_bad_certificates_with_the_reason_and_retries() {
    let dir = work_dir("refused");
    make_certificates(&dir);
    let input = Input::encode_av(&dir, "src", 10);
    let (target, ports) = tls_target("relay-rtmps-refused-target", &dir);
    let ca = dir.join("ca.pem");
    let cases = [
        // No relay_ssl_trusted_certificate: the system's store, where the test CA is not.
        (
            "untrusted",
            format!("push rtmps://127.0.0.1:{}/live;", ports.signed),
            ports.signed,
            "tls: certificate verify failed: unable to get local issuer certificate",
        ),
        (
            "selfsigned",
            format!(
                "relay_ssl_trusted_certificate {}; push rtmps://127.0.0.1:{}/live;",
                ca.display(),
                ports.selfsigned
            ),
            ports.selfsigned,
            "tls: certificate verify failed: self-signed certificate",
        ),
        (
            "mismatch",
            format!(
                "relay_ssl_trusted_certificate {}; push rtmps://localhost:{}/live;",
                ca.display(),
                ports.other
            ),
            ports.other,
            "tls: certificate verify failed: hostname mismatch (\"localhost\")",
        ),
        (
            "tls13",
            format!(
                "relay_ssl_trusted_certificate {}; relay_ssl_protocols TLSv1.3; \
                 push rtmps://localhost:{}/live;",
                ca.display(),
                ports.tls12
            ),
            ports.tls12,
            "tls: handshake failed: tlsv1 alert protocol version",
        ),
    ];
    let apps: String = cases
        .iter()
        .map(|(app, lines, _, _)| {
            format!("application {app} {{ push_reconnect 300ms; {lines} }}\n")
        })
        .collect();
    let origin = Nginx::start(
        "relay-rtmps-refused-origin",
        &Conf::rtmp(&format!(
            "server {{ listen 127.0.0.1:{{rtmp_port}};\n{apps}}}"
        )),
    );
    let mut publishers: Vec<Child> = cases
        .iter()
        .map(|(app, ..)| {
            ffmpeg_publish_file(&input.path, &origin.rtmp_url(app, "cam"))
                .spawn()
                .expect("publish")
        })
        .collect();

    for (app, _, port, reason) in &cases {
        assert!(
            origin.wait_log(reason, Duration::from_secs(10)),
            "{app}: no {reason:?} in the origin's log:\n{}\ntarget's log:\n{}",
            origin.error_log(),
            target.error_log()
        );
        // Retried: the endpoint saw several attempts.
        assert!(
            wait_sessions(&target, *port, 3, Duration::from_secs(15)),
            "{app}: fewer than 3 attempts on {port}:\n{}",
            stream_log(&target)
        );
    }
    for p in &mut publishers {
        assert!(
            wait_ok(p, Duration::from_secs(30)),
            "a publisher failed while its push was refused"
        );
    }
    let log = origin.error_log();
    for (app, _, _, reason) in &cases {
        let warnings = log
            .lines()
            .filter(|l| l.contains("[warn]") && l.contains(reason))
            .count();
        assert_eq!(
            warnings, 1,
            "{app}: {reason:?} warned {warnings} times:\n{log}"
        );
    }
    assert!(
        !log.contains("streaming to"),
        "a refused push streamed:\n{log}"
    );
    // The reasons came through the relays' lines, not nginx's own per attempt.
    assert!(!log.contains("SSL_do_handshake"), "{log}");
    origin.assert_no_crash();
    target.assert_no_crash();
}

/// Our origin pushes over `rtmps://` to our own RTMPS listener (`listen ... ssl` in the
/// target's `server {}`), verifying its certificate: players on the target get the stream.
#[test]
fn rtmps_push_to_our_own_rtmps_listener() {
    let dir = work_dir("own");
    make_certificates(&dir);
    let input = Input::encode_av(&dir, "src", 8);
    let tls_port = free_port();
    let target = Nginx::start(
        "relay-rtmps-own-target",
        &Conf::rtmp(&format!(
            "server {{ listen 127.0.0.1:{{rtmp_port}}; listen 127.0.0.1:{tls_port} ssl;\n\
             ssl_certificate {c}/server.pem; ssl_certificate_key {c}/server.key;\n\
             application live {{ live on; }} }}",
            c = dir.display()
        )),
    );
    target.wait_listening(tls_port);
    let origin = Nginx::start(
        "relay-rtmps-own-origin",
        &Conf::rtmp(&format!(
            "server {{ listen 127.0.0.1:{{rtmp_port}};\n\
             application live {{ live on; relay_ssl_trusted_certificate {ca};\n\
             push rtmps://localhost:{tls_port}/live; }} }}",
            ca = dir.join("ca.pem").display(),
        )),
    );
    let mut publisher = ffmpeg_publish_file(&input.path, &origin.rtmp_url("live", "cam"))
        .spawn()
        .expect("publish");
    let streaming = format!("streaming to 127.0.0.1:{tls_port}");
    assert!(
        origin.wait_log(&streaming, Duration::from_secs(10)),
        "the push did not reach the RTMPS listener:\n{}\ntarget:\n{}",
        origin.error_log(),
        target.error_log()
    );
    assert!(
        ffmpeg_plays(&target.rtmp_url("live", "cam")),
        "no stream on the target"
    );
    assert!(
        wait_ok(&mut publisher, Duration::from_secs(30)),
        "the publisher failed"
    );
    assert!(
        target.error_log().contains("publishes \"live/cam\""),
        "{}",
        target.error_log()
    );
    assert!(
        !origin.error_log().contains("tls:"),
        "{}",
        origin.error_log()
    );
    origin.assert_no_crash();
    target.assert_no_crash();
}

/// An edge pulls over `rtmps://` from our own RTMPS listener, verifying its certificate: a
/// player on the edge gets the stream published on the origin.
#[test]
fn rtmps_pull_from_our_own_rtmps_listener() {
    let dir = work_dir("pull");
    make_certificates(&dir);
    let input = Input::encode_av(&dir, "src", 10);
    let tls_port = free_port();
    let origin = Nginx::start(
        "relay-rtmps-pull-origin",
        &Conf::rtmp(&format!(
            "server {{ listen 127.0.0.1:{{rtmp_port}}; listen 127.0.0.1:{tls_port} ssl;\n\
             ssl_certificate {c}/server.pem; ssl_certificate_key {c}/server.key;\n\
             application live {{ live on; }} }}",
            c = dir.display()
        )),
    );
    origin.wait_listening(tls_port);
    let edge = Nginx::start(
        "relay-rtmps-pull-edge",
        &Conf::rtmp(&format!(
            "server {{ listen 127.0.0.1:{{rtmp_port}};\n\
             application live {{ live on; relay_ssl_trusted_certificate {ca};\n\
             pull rtmps://localhost:{tls_port}/live; }} }}",
            ca = dir.join("ca.pem").display(),
        )),
    );
    let mut publisher = ffmpeg_publish_file(&input.path, &origin.rtmp_url("live", "cam"))
        .spawn()
        .expect("publish");
    assert!(
        origin.wait_log("publishes \"live/cam\"", Duration::from_secs(10)),
        "{}",
        origin.error_log()
    );
    assert!(
        ffmpeg_plays(&edge.rtmp_url("live", "cam")),
        "no stream on the edge:\n{}\norigin:\n{}",
        edge.error_log(),
        origin.error_log()
    );
    let log = edge.error_log();
    assert!(
        log.contains(&format!("streaming to 127.0.0.1:{tls_port}")),
        "{log}"
    );
    assert!(!log.contains("tls:"), "{log}");
    assert!(
        wait_ok(&mut publisher, Duration::from_secs(30)),
        "the publisher failed"
    );
    origin.assert_no_crash();
    edge.assert_no_crash();
}
