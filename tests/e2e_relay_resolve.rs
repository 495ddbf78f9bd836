//! Relay host names end to end. With `resolver` (a DNS server the test runs on loopback and
//! whose answers it changes), a push to a name that does not resolve yet starts anyway, is
//! retried without flooding the log, streams once the name resolves, and follows the name
//! to another address when its first target goes down; a lookup still in flight when its
//! stream ends is cancelled. Without `resolver`, a name that does
//! not resolve when the configuration loads is a warning: `nginx -t`, the start and a reload
//! pass.

mod support;

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use support::dns::DnsServer;
use support::nginx::{ffmpeg_plays, ffmpeg_publish, run_with_timeout, Conf, Nginx};

fn work_dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/e2e")
        .join(format!("relay-resolve-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("work dir");
    d
}

/// A target listening on its own 127.0.0.1 port (for the harness and players) and on
/// `addr` (where the name sends the push).
fn target_conf(addr: &str) -> Conf {
    Conf::rtmp(&format!(
        "server {{ listen 127.0.0.1:{{rtmp_port}}; listen {addr}; \
         application live {{ live on; }} }}"
    ))
}

/// Lines about `host` at warning level or above.
fn warnings(log: &str, host: &str) -> usize {
    log.lines()
        .filter(|l| l.contains(host) && (l.contains("[warn]") || l.contains("[error]")))
        .count()
}

fn still_running(child: &mut Child) -> bool {
    matches!(child.try_wait(), Ok(None))
}

#[test]
fn push_resolves_late_and_follows_a_moved_name() {
    let dir = work_dir("moved");
    let dns = DnsServer::start(&dir);
    // The name's port: the first target listens on it at 127.0.0.1, the second at 127.0.0.2.
    let first = Nginx::prepare("relay-resolve-first", &Conf::live());
    let port = first.rtmp_port;
    let origin = Nginx::start(
        "relay-resolve-origin",
        &Conf::rtmp(&format!(
            "resolver 127.0.0.1:{dns} valid=1s; resolver_timeout 2s;
             server {{ listen 127.0.0.1:{{rtmp_port}}; application live {{ live on;
                 push rtmp://target.test:{port}/live; push_reconnect 300ms; }} }}",
            dns = dns.port
        )),
    );
    let mut publisher = ffmpeg_publish(&origin.rtmp_url("live", "cam"), 40)
        .spawn()
        .expect("ffmpeg publish");

    // The name does not resolve: one warning, then quiet retries.
    assert!(
        origin.wait_log("Host not found", Duration::from_secs(10)),
        "no failed lookup logged:\n{}",
        origin.error_log()
    );
    std::thread::sleep(Duration::from_secs(2));
    let log = origin.error_log();
    assert_eq!(warnings(&log, "target.test"), 1, "{log}");

    // The name resolves to the first target: the push streams within the backoff.
    let first = Nginx::start_prepared(first);
    dns.set("target.test", &["127.0.0.1"]);
    let started = Instant::now();
    let streaming_first = format!("streaming to 127.0.0.1:{port}");
    assert!(
        origin.wait_log(&streaming_first, Duration::from_secs(15)),
        "the push did not reach the first target:\n{}",
        origin.error_log()
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert!(
        ffmpeg_plays(&first.rtmp_url("live", "cam")),
        "no stream on the first target"
    );

    // The name moves to a second target on 127.0.0.2 and the first one goes down: the next
    // attempt asks the name again and follows it.
    let second = Nginx::start(
        "relay-resolve-second",
        &target_conf(&format!("127.0.0.2:{port}")),
    );
    dns.set("target.test", &["127.0.0.2"]);
    let mut first = first;
    assert!(first.shut_down("stop"), "the first target did not stop");
    let streaming_second = format!("streaming to 127.0.0.2:{port}");
    assert!(
        origin.wait_log(&streaming_second, Duration::from_secs(15)),
        "the push did not follow the name:\n{}",
        origin.error_log()
    );
    assert!(
        ffmpeg_plays(&second.rtmp_url("live", "cam")),
        "no stream on the second target"
    );

    assert!(
        still_running(&mut publisher),
        "the publisher stopped while its push target moved"
    );
    let _ = publisher.kill();
    let _ = publisher.wait();
    origin.assert_no_crash();
    second.assert_no_crash();
}

/// Every address of an answer is tried, in one attempt: a name with a dead address and a
/// live one streams at once. (nginx's resolver hands a fresh answer over in the server's
/// order, the dead address first; cached answers are rotated.)
#[test]
fn every_address_of_an_answer_is_tried() {
    let dir = work_dir("addrs");
    let dns = DnsServer::start(&dir);
    let target = Nginx::start("relay-resolve-addrs-target", &Conf::live());
    let port = target.rtmp_port;
    dns.set("two.test", &["127.0.0.3", "127.0.0.1"]);
    let origin = Nginx::start(
        "relay-resolve-addrs",
        &Conf::rtmp(&format!(
            "resolver 127.0.0.1:{dns};
             server {{ listen 127.0.0.1:{{rtmp_port}}; application live {{ live on;
                 push rtmp://two.test:{port}/live; }} }}",
            dns = dns.port
        )),
    );
    let mut publisher = ffmpeg_publish(&origin.rtmp_url("live", "cam"), 20)
        .spawn()
        .expect("ffmpeg publish");
    assert!(
        origin.wait_log(
            &format!("streaming to 127.0.0.1:{port}"),
            Duration::from_secs(10)
        ),
        "{}",
        origin.error_log()
    );
    let _ = publisher.kill();
    let _ = publisher.wait();
    let log = origin.error_log();
    assert!(!log.contains("retrying"), "{log}");
    origin.assert_no_crash();
}

/// A stream that ends while its relay's lookup is unanswered cancels the lookup: nothing
/// calls back into the gone relay, and the next stream's relay asks again.
#[test]
fn a_lookup_in_flight_ends_with_its_stream() {
    let dir = work_dir("cancel");
    let dns = DnsServer::start(&dir);
    dns.set("slow.test", &["-"]);
    let origin = Nginx::start(
        "relay-resolve-cancel",
        &Conf::rtmp(&format!(
            "resolver 127.0.0.1:{dns}; resolver_timeout 3s;
             server {{ listen 127.0.0.1:{{rtmp_port}}; application live {{ live on;
                 push rtmp://slow.test:1/live; }} }}",
            dns = dns.port
        )),
    );
    for round in 1..=2 {
        let (ok, err) = run_with_timeout(
            ffmpeg_publish(&origin.rtmp_url("live", "cam"), 2),
            Duration::from_secs(20),
        );
        assert!(ok, "publish {round}: {err}");
        let stopped = "relay rtmp://slow.test:1/live/cam: stopped";
        let deadline = Instant::now() + Duration::from_secs(10);
        while origin.error_log().matches(stopped).count() < round {
            assert!(Instant::now() < deadline, "{}", origin.error_log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    // The lookups were never answered: no relay line says it resolved or failed to.
    let log = origin.error_log();
    assert!(!log.contains("connecting to"), "{log}");
    assert_eq!(warnings(&log, "slow.test"), 0, "{log}");
    // Past `resolver_timeout` (a cancelled lookup's timer is gone with it) and nginx's
    // resends of the unanswered queries, the worker is well and still takes a publish.
    std::thread::sleep(Duration::from_secs(6));
    let (ok, err) = run_with_timeout(
        ffmpeg_publish(&origin.rtmp_url("live", "again"), 1),
        Duration::from_secs(20),
    );
    assert!(ok, "publish after the cancelled lookups: {err}");

    // A worker that stops with a lookup in flight cancels it before nginx frees its
    // resolver.
    let mut publisher = ffmpeg_publish(&origin.rtmp_url("live", "cam"), 20)
        .spawn()
        .expect("ffmpeg publish");
    assert!(
        origin.wait_log("publishes \"live/cam\"", Duration::from_secs(10)),
        "{}",
        origin.error_log()
    );
    std::thread::sleep(Duration::from_millis(500));
    let mut origin = origin;
    assert!(origin.shut_down("stop"), "nginx did not stop");
    let _ = publisher.kill();
    let _ = publisher.wait();
    origin.assert_no_crash();
}

/// Without `resolver`: a relay host that does not resolve when the configuration loads is a
/// warning, for `nginx -t`, the start and a reload.
#[test]
fn without_resolver_an_unresolved_name_is_a_warning() {
    let mut n = Nginx::prepare(
        "relay-resolve-load",
        &Conf::rtmp(
            "server { listen 127.0.0.1:{rtmp_port}; application live { live on; \
             push rtmp://target.test/live; push rtmp://localhost:1/live; } }",
        ),
    );
    let out = n.test_config();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("[warn]") && err.contains("\"target.test\"") && err.contains("resolver"),
        "{err}"
    );
    assert!(!err.contains("\"localhost\""), "{err}");
    n = Nginx::start_prepared(n);
    n.signal("reload");
    assert!(
        n.wait_log("does not resolve now", Duration::from_secs(10)),
        "{}",
        n.error_log()
    );
    // The reload went through: a second generation of workers.
    let deadline = Instant::now() + Duration::from_secs(10);
    while n.error_log().matches("start worker process").count() < 2 {
        assert!(Instant::now() < deadline, "no reload:\n{}", n.error_log());
        std::thread::sleep(Duration::from_millis(50));
    }
    n.wait_listening(n.rtmp_port);
    assert!(n.shut_down("quit"), "nginx did not quit");
    n.assert_no_crash();
}
