//! Callbacks and control that act on live sessions: `on_update` (a refusal drops the
//! client; with `notify_update_strict`, so does a callback that cannot be reached), an
//! `on_publish` redirect to `rtmp://` that pushes the stream to another instance, and
//! `/control/redirect` moving a player to another stream.

mod support;

use std::thread;
use std::time::{Duration, Instant};

use support::callback::CallbackServer;
use support::nginx::{ffmpeg_publish, free_port, run_with_timeout, Conf, Nginx};

fn work_dir(name: &str) -> std::path::PathBuf {
    let d = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/e2e")
        .join(format!("relay-control-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("work dir");
    d
}

/// Publishes `name` to `app` for `secs` s in a thread: (whether ffmpeg succeeded, how long
/// it ran, its stderr).
fn publish_in_thread(
    n: &Nginx,
    app: &str,
    name: &str,
    secs: u32,
) -> thread::JoinHandle<(bool, Duration, String)> {
    let cmd = ffmpeg_publish(&n.rtmp_url(app, name), secs);
    thread::spawn(move || {
        let t = Instant::now();
        let (ok, err) = run_with_timeout(cmd, Duration::from_secs(60));
        (ok, t.elapsed(), err)
    })
}

#[test]
fn on_update_refusal_drops_the_publisher_and_keeps_the_others() {
    let cb = CallbackServer::start(&work_dir("update"));
    let n = Nginx::start(
        "relay-control-update",
        &Conf::rtmp(&format!(
            "server {{ listen 127.0.0.1:{{rtmp_port}}; application live {{ live on; \
             on_update http://127.0.0.1:{}/update; notify_update_timeout 1s; }} }}",
            cb.port
        )),
    );
    let ok = publish_in_thread(&n, "live", "okcam?token=t1", 6);
    let denied = publish_in_thread(&n, "live", "deny-cam", 6);

    let (denied_ok, denied_ran, _) = denied.join().unwrap();
    assert!(
        !denied_ok && denied_ran < Duration::from_secs(5),
        "the refused publisher was not dropped ({denied_ok}, {denied_ran:?}):\n{}",
        n.error_log()
    );
    assert!(
        n.error_log().contains("on_update answered 403"),
        "{}",
        n.error_log()
    );
    let (ok_ok, _, err) = ok.join().unwrap();
    assert!(
        ok_ok,
        "the accepted publisher failed: {err}\n{}",
        n.error_log()
    );

    let updates: Vec<String> = cb
        .requests()
        .into_iter()
        .filter(|l| l.contains("\"/update\"") && l.contains("okcam"))
        .collect();
    assert!(
        updates.len() >= 3,
        "about one update a second for 6 s: {updates:?}"
    );
    for field in [
        "\"call\": \"update_publish\"",
        "\"name\": \"okcam\"",
        "\"app\": \"live\"",
        "\"token\": \"t1\"",
        "\"time\": \"",
        "\"timestamp\": \"",
        "\"clientid\": \"",
    ] {
        assert!(
            updates[0].contains(field),
            "{field} missing in {}",
            updates[0]
        );
    }
    // `time` counts seconds since the publish started.
    assert!(
        updates.iter().any(|u| u.contains("\"time\": \"2\"")),
        "{updates:?}"
    );
    n.assert_no_crash();
}

#[test]
fn on_update_strict_drops_when_the_callback_is_unreachable() {
    let dead = free_port();
    let n = Nginx::start(
        "relay-control-strict",
        &Conf::rtmp(&format!(
            "server {{ listen 127.0.0.1:{{rtmp_port}}; \
             on_update http://127.0.0.1:{dead}/update; notify_update_timeout 1s; \
             application strict {{ live on; notify_update_strict on; }} \
             application lax {{ live on; }} }}"
        )),
    );
    let lax = publish_in_thread(&n, "lax", "cam", 5);
    let strict = publish_in_thread(&n, "strict", "cam", 5);
    let (strict_ok, strict_ran, _) = strict.join().unwrap();
    assert!(
        !strict_ok && strict_ran < Duration::from_secs(4),
        "strict: not dropped ({strict_ok}, {strict_ran:?}):\n{}",
        n.error_log()
    );
    assert!(
        n.error_log().contains("on_update failed"),
        "{}",
        n.error_log()
    );
    let (lax_ok, _, err) = lax.join().unwrap();
    assert!(
        lax_ok,
        "without strict, an unreachable on_update must not drop: {err}"
    );
    n.assert_no_crash();
}
