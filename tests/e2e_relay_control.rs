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

/// ffmpeg publishing a `size` test pattern for `secs` s (the size tells the streams apart).
fn publish_sized(n: &Nginx, name: &str, size: &str, secs: u32) -> std::process::Child {
    let mut cmd = support::nginx::ffmpeg();
    cmd.arg("-re")
        .args(["-f", "lavfi", "-i", &format!("testsrc=size={size}:rate=25")])
        .args(["-t", &secs.to_string()])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
        ])
        .args(["-g", "25", "-pix_fmt", "yuv420p", "-f", "flv"])
        .arg(n.rtmp_url("live", name));
    cmd.spawn().expect("ffmpeg publish")
}

fn http_get(port: u16, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect http");
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
    (status, body.to_owned())
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn control_redirect_moves_a_player_to_another_stream() {
    let n = Nginx::start(
        "relay-control-redirect-play",
        &Conf::live()
            .workers(2)
            .http("location /control { rtmp_control all; }"),
    );
    n.wait_listening(n.http_port);
    let mut one = publish_sized(&n, "one", "320x240", 30);
    let mut two = publish_sized(&n, "two", "640x360", 30);
    assert!(
        n.wait_log("publishes \"live/two\"", Duration::from_secs(15))
            && n.wait_log("publishes \"live/one\"", Duration::from_secs(15)),
        "{}",
        n.error_log()
    );

    let mut player = support::player::TestPlayer::play(n.rtmp_port, "live", "one");
    // The first stream's video (its sequence header, then frames).
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut header_one = None;
    let mut frames_one = 0;
    while frames_one < 10 {
        let m = player.next(deadline).expect("frames of the first stream");
        if m.type_id == 9 && m.payload.get(1) == Some(&0) {
            header_one = Some(m.payload.to_vec());
        } else if m.type_id == 9 {
            frames_one += 1;
        }
    }
    let header_one = header_one.expect("a sequence header from the first stream");

    assert_eq!(
        http_get(
            n.http_port,
            "/control/redirect/subscriber?app=live&name=nobody&newname=two"
        ),
        (200, "0".to_owned())
    );
    let (status, body) = http_get(
        n.http_port,
        "/control/redirect/subscriber?app=live&name=one&newname=two",
    );
    assert_eq!((status, body.as_str()), (200, "1"), "{}", n.error_log());

    // Play.Reset, Play.Start for "two", then the second stream's header and frames.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (mut reset, mut start, mut header_two, mut frames_two) = (false, false, None, 0);
    while frames_two < 10 {
        let Some(m) = player.next(deadline) else {
            panic!(
                "reset {reset} start {start} header {} frames {frames_two}\n{}",
                header_two.is_some(),
                n.error_log()
            )
        };
        if m.type_id == 20 {
            reset |= contains(&m.payload, "NetStream.Play.Reset");
            start |= contains(&m.payload, "NetStream.Play.Start")
                && contains(&m.payload, "Started playing two");
        } else if m.type_id == 9 && start {
            if m.payload.get(1) == Some(&0) {
                header_two = Some(m.payload.to_vec());
            } else if header_two.is_some() {
                frames_two += 1;
            }
        }
    }
    assert!(reset, "no Play.Reset");
    assert_ne!(
        header_two.as_deref(),
        Some(header_one.as_slice()),
        "the frames after the redirect are still the first stream's"
    );
    let _ = one.kill();
    let _ = two.kill();
    let _ = one.wait();
    let _ = two.wait();
    n.assert_no_crash();
}

#[test]
fn control_redirect_republishes_a_publisher_under_the_new_name() {
    let n = Nginx::start(
        "relay-control-redirect-publish",
        &Conf::live().http("location /control { rtmp_control all; }"),
    );
    n.wait_listening(n.http_port);
    let mut publisher = publish_sized(&n, "src", "320x240", 20);
    assert!(
        n.wait_log("publishes \"live/src\"", Duration::from_secs(15)),
        "{}",
        n.error_log()
    );
    // The publisher sent its metadata and codec headers under the old name: the new stream
    // needs them all the same.
    assert!(
        support::nginx::ffmpeg_plays(&n.rtmp_url("live", "src")),
        "{}",
        n.error_log()
    );
    let (status, body) = http_get(
        n.http_port,
        "/control/redirect/publisher?app=live&name=src&newname=dst",
    );
    assert_eq!((status, body.as_str()), (200, "1"), "{}", n.error_log());
    assert!(
        n.wait_log("publishes \"live/dst\"", Duration::from_secs(5)),
        "{}",
        n.error_log()
    );
    assert!(
        support::nginx::ffmpeg_plays(&n.rtmp_url("live", "dst")),
        "no stream under the new name:\n{}",
        n.error_log()
    );
    assert!(
        !n.error_log().contains("before its sequence header"),
        "the new stream lacks the codec headers:\n{}",
        n.error_log()
    );
    assert!(
        publisher.try_wait().unwrap().is_none(),
        "the publisher was dropped instead of redirected"
    );
    let _ = publisher.kill();
    let _ = publisher.wait();
    n.assert_no_crash();
}

#[test]
fn on_play_redirect_to_rtmp_pulls_the_stream_from_another_instance() {
    let cb = CallbackServer::start(&work_dir("pull-redirect"));
    let origin = Nginx::start("relay-control-pull-origin", &Conf::live());
    let edge = Nginx::start(
        "relay-control-pull-edge",
        &Conf::rtmp(&format!(
            "server {{ listen 127.0.0.1:{{rtmp_port}}; \
             application live {{ live on; on_play http://127.0.0.1:{}/play; }} }}",
            cb.port
        ))
        .http("location /stat { rtmp_stat all; }"),
    );
    edge.wait_listening(edge.http_port);
    let mut publisher = publish_sized(&origin, "far", "320x240", 30);
    assert!(
        origin.wait_log("publishes \"live/far\"", Duration::from_secs(15)),
        "{}",
        origin.error_log()
    );
    let far = format!("rtmp://127.0.0.1:{}/live/far", origin.rtmp_port);
    let url = edge.rtmp_url("live", &format!("near?location={}", location_arg(&far)));
    let mut cmd = support::nginx::ffmpeg();
    cmd.args(["-t", "4", "-i", &url]).args(["-f", "null", "-"]);
    let player = thread::spawn(move || run_with_timeout(cmd, Duration::from_secs(20)));
    // The pull is in the edge's stat, under the local stream, streaming from the origin.
    let deadline = Instant::now() + Duration::from_secs(10);
    let pulled = loop {
        let (_, stat) = http_get(edge.http_port, "/stat");
        if stat.contains("<relay><kind>pull</kind><state>streaming</state>")
            && stat.contains(&format!("<url>{far}</url>"))
        {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        thread::sleep(Duration::from_millis(200));
    };
    assert!(pulled, "{}", http_get(edge.http_port, "/stat").1);
    let (ok, err) = player.join().unwrap();
    assert!(
        ok,
        "the redirected play did not get the pulled stream: {err}\nedge:\n{}",
        edge.error_log()
    );
    assert!(
        edge.error_log()
            .contains(&format!("plays \"near\" pulled from \"{far}\"")),
        "{}",
        edge.error_log()
    );
    let _ = publisher.kill();
    let _ = publisher.wait();
    origin.assert_no_crash();
    edge.assert_no_crash();
}
