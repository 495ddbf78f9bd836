//! Verifying streams before they go live: key maps, signed names, idle publishers, takeover.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::nginx::{closed_within, ffmpeg_plays, ffmpeg_publish, run_with_timeout, Conf, Nginx};
use support::rtmp_client::{chunks, Client};

const TIMEOUT: Duration = Duration::from_secs(60);

fn files_below(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            out.push(p.display().to_string());
            if p.is_dir() {
                out.extend(files_below(&p));
            }
        }
    }
    out
}

#[test]
fn key_map_hides_the_secret_key() {
    let prefix_conf = Conf::rtmp(
        "server { listen 127.0.0.1:{rtmp_port};
                  application live { live on; hls on; hls_path {prefix}/www/hls; hls_fragment 1;
                                     publish_keys {prefix}/keys.txt; } }",
    );
    let n = Nginx::prepare("auth-keys", &prefix_conf);
    std::fs::write(
        n.prefix.join("keys.txt"),
        "# secret public\nsk_9f8e7d6c5b4a alice\n",
    )
    .unwrap();
    let n = Nginx::start_prepared(n);
    let (ok, err) = run_with_timeout(
        ffmpeg_publish(&n.rtmp_url("live", "sk_9f8e7d6c5b4a"), 3),
        TIMEOUT,
    );
    assert!(
        ok,
        "publish with a listed key failed: {err}\n{}",
        n.error_log()
    );
    let hls = n.prefix.join("www/hls");
    assert!(
        hls.join("alice.m3u8").exists(),
        "no playlist under the public name: {:?}",
        files_below(&hls)
    );
    for f in files_below(&n.prefix) {
        assert!(
            !f.contains("sk_9f8e7d6c5b4a"),
            "the secret key leaked into a file name: {f}"
        );
    }
    assert!(
        !n.error_log().contains("sk_9f8e7d6c5b4a"),
        "the secret key is in the log"
    );
    assert!(n.error_log().contains("publishes \"live/alice\""));
    // Unknown keys, and the public name used as a key, are refused.
    for bad in ["sk_wrong", "alice"] {
        let (ok, _) = run_with_timeout(ffmpeg_publish(&n.rtmp_url("live", bad), 1), TIMEOUT);
        assert!(!ok, "publish with {bad:?} accepted");
    }
    assert!(
        n.error_log().contains("unknown stream key"),
        "{}",
        n.error_log()
    );
    n.assert_no_crash();
}

#[test]
fn bad_key_file_fails_nginx_t_with_its_line() {
    let n = Nginx::prepare(
        "auth-keyfile",
        &Conf::rtmp("server { listen 127.0.0.1:{rtmp_port}; application live { live on; publish_keys {prefix}/keys.txt; } }"),
    );
    std::fs::write(n.prefix.join("keys.txt"), "good alice\nno-public-name\n").unwrap();
    let out = n.test_config();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("keys.txt") && err.contains("line 2"), "{err}");
}

/// The signature as an application server makes it, with the openssl one-liner of the docs.
fn openssl_sig(secret: &str, app: &str, name: &str, expires: u64) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "printf '%s' '{app}/{name}:{expires}' | openssl dgst -sha256 -hmac '{secret}' -r | cut -d' ' -f1"
        ))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn signed_expiring_publish_and_play_names() {
    let secret = "0123456789abcdef-secret";
    let n = Nginx::start(
        "auth-signed",
        &Conf::rtmp(&format!(
            "server {{ listen 127.0.0.1:{{rtmp_port}};
                      application live {{ live on; publish_secret {secret}; play_secret {secret}; }} }}"
        )),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let good = |name: &str, exp: u64| {
        format!(
            "{name}?expires={exp}&sig={}",
            openssl_sig(secret, "live", name, exp)
        )
    };
    let url = |q: &str| n.rtmp_url("live", q);
    let publisher = ffmpeg_publish(&url(&good("cam", now + 600)), 6)
        .spawn()
        .unwrap();
    assert!(
        n.wait_log("publishes \"live/cam\"", Duration::from_secs(10)),
        "{}",
        n.error_log()
    );
    // A signed player plays; an unsigned one, an expired one and a tampered one do not.
    let play = |q: &str| ffmpeg_plays(&url(q));
    assert!(
        play(&good("cam", now + 600)),
        "signed player refused\n{}",
        n.error_log()
    );
    assert!(!play("cam"), "unsigned player accepted");
    assert!(!play(&good("cam", now - 10)), "expired signature accepted");
    let tampered = good("cam", now + 600).replace("expires=", "expires=1");
    assert!(!play(&tampered), "tampered expiry accepted");
    // Publishing needs a signature too.
    let (ok, _) = run_with_timeout(ffmpeg_publish(&url("other"), 1), TIMEOUT);
    assert!(!ok, "unsigned publisher accepted");
    let log = n.error_log();
    for why in ["missing expires/sig", "signature expired", "bad signature"] {
        assert!(log.contains(why), "no refusal logged for {why}:\n{log}");
    }
    let _ = publisher.wait_with_output();
    n.assert_no_crash();
}

#[test]
fn idle_publisher_is_dropped() {
    let n = Nginx::start(
        "auth-idle",
        &Conf::rtmp("server { listen 127.0.0.1:{rtmp_port}; application live { live on; drop_idle_publisher 2s; } }"),
    );
    let mut c = Client::handshake(n.rtmp_port);
    c.connect("live");
    c.create_stream();
    c.publish("quiet");
    assert!(
        n.wait_log("publishes \"live/quiet\"", Duration::from_secs(5)),
        "{}",
        n.error_log()
    );
    let start = Instant::now();
    assert!(
        closed_within(&mut c.sock, Duration::from_secs(6)),
        "idle publisher kept"
    );
    assert!(
        start.elapsed() >= Duration::from_millis(1500),
        "dropped too early: {:?}",
        start.elapsed()
    );
    assert!(
        n.error_log().contains("idle publisher dropped"),
        "{}",
        n.error_log()
    );
    // The name is free again.
    let (ok, err) = run_with_timeout(ffmpeg_publish(&n.rtmp_url("live", "quiet"), 1), TIMEOUT);
    assert!(ok, "{err}");
    n.assert_no_crash();
}

#[test]
fn takeover_replaces_a_hanging_publisher() {
    for workers in [1, 2] {
        let n = Nginx::start(
            "auth-takeover",
            &Conf::rtmp(
                "server { listen 127.0.0.1:{rtmp_port};
                          application live { live on; }
                          application take { live on; publish_takeover on; } }",
            )
            .workers(workers),
        );
        // A publisher whose connection hangs: it published and then went silent.
        let mut old = Client::handshake(n.rtmp_port);
        old.connect("take");
        old.create_stream();
        old.publish("enc");
        assert!(n.wait_log("publishes \"take/enc\"", Duration::from_secs(5)));
        // The reconnecting encoder takes the name over.
        let (ok, err) = run_with_timeout(ffmpeg_publish(&n.rtmp_url("take", "enc"), 2), TIMEOUT);
        assert!(
            ok,
            "{workers} workers: takeover publish failed: {err}\n{}",
            n.error_log()
        );
        // The old one is gone: closed at once (same worker) or at its next media message
        // (another worker: its slot in the shared zone was taken).
        let aac_frame = [0xAF, 0x01, 0x21, 0x10, 0x04];
        let _ = old.send(&chunks(4, 8, 1, 100, &aac_frame, 128));
        assert!(
            closed_within(&mut old.sock, Duration::from_secs(5)),
            "{workers} workers: old publisher kept"
        );
        assert!(
            n.wait_log("publisher replaced by a new one", Duration::from_secs(2)),
            "{workers} workers: {}",
            n.error_log()
        );
        // Without takeover the second publisher is refused.
        let mut first = Client::handshake(n.rtmp_port);
        first.connect("live");
        first.create_stream();
        first.publish("enc");
        assert!(n.wait_log("publishes \"live/enc\"", Duration::from_secs(5)));
        let (ok, _) = run_with_timeout(ffmpeg_publish(&n.rtmp_url("live", "enc"), 1), TIMEOUT);
        assert!(
            !ok,
            "{workers} workers: second publisher accepted without takeover"
        );
        n.assert_no_crash();
    }
}
