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

/// `location` query argument for the callback server: its 302 Location.
fn location_arg(url: &str) -> String {
    url.replace(':', "%3A").replace('/', "%2F")
}

#[test]
fn on_publish_redirect_to_rtmp_pushes_the_stream_to_another_instance() {
    let cb = CallbackServer::start(&work_dir("redirect"));
    let target = Nginx::start("relay-control-redirect-target", &Conf::live());
    let origin = Nginx::start(
        "relay-control-redirect-origin",
        &Conf::rtmp(&format!(
            "server {{ listen 127.0.0.1:{{rtmp_port}}; \
             on_publish http://127.0.0.1:{}/publish; \
             application live {{ live on; }} \
             application hashed {{ live on; notify_relay_redirect on; }} }}",
            cb.port
        ))
        .http("location /stat { rtmp_stat all; }"),
    );
    let far = format!("rtmp://127.0.0.1:{}/live/far", target.rtmp_port);
    let publisher = publish_in_thread(
        &origin,
        "live",
        &format!("cam?location={}", location_arg(&far)),
        10,
    );
    // The pushed stream decodes on the target.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut decoded = false;
    while !decoded && Instant::now() < deadline {
        let mut cmd = support::nginx::ffmpeg();
        cmd.args(["-t", "2", "-i", &target.rtmp_url("live", "far")])
            .args(["-f", "null", "-"]);
        decoded = run_with_timeout(cmd, Duration::from_secs(15)).0;
    }
    assert!(
        decoded,
        "the redirected push did not reach the target:\norigin:\n{}\ntarget:\n{}",
        origin.error_log(),
        target.error_log()
    );
    // The origin keeps its local stream under the requested name.
    assert!(
        origin
            .error_log()
            .contains(&format!("publishes \"cam\" pushed to \"{far}\"")),
        "{}",
        origin.error_log()
    );
    let (ok, _, err) = publisher.join().unwrap();
    assert!(ok, "the redirected publisher failed: {err}");

    // notify_relay_redirect on: the local name is the MD5 of the URL.
    let far2 = format!("rtmp://127.0.0.1:{}/live/far2", target.rtmp_port);
    let publisher = publish_in_thread(
        &origin,
        "hashed",
        &format!("cam?location={}", location_arg(&far2)),
        3,
    );
    let (ok, _, err) = publisher.join().unwrap();
    assert!(ok, "{err}");
    let md5 = md5_hex(&far2);
    assert!(
        origin
            .error_log()
            .contains(&format!("publishes \"{md5}\" pushed to \"{far2}\"")),
        "{md5}: {}",
        origin.error_log()
    );
    origin.assert_no_crash();
    target.assert_no_crash();
}

fn md5_hex(s: &str) -> String {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import hashlib,sys; print(hashlib.md5(sys.argv[1].encode()).hexdigest())",
        ])
        .arg(s)
        .output()
        .expect("python3");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
