//! Real publishers (ffmpeg, GStreamer) into a real nginx with the module.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use support::nginx::{ffmpeg_publish, run_with_timeout, Conf, Nginx};

const PUBLISH_SECS: u32 = 3;
const TIMEOUT: Duration = Duration::from_secs(60);

/// Counts from the "stopped publishing" log line of `key`: (video, audio) messages.
fn published_counts(n: &Nginx, key: &str) -> Option<(u64, u64)> {
    let log = n.error_log();
    let needle = format!("stopped publishing \"{key}\" (");
    let line = log.lines().find(|l| l.contains(&needle))?;
    let rest = line.split(&needle).nth(1)?;
    let mut nums = rest
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<u64>().unwrap());
    Some((nums.next()?, nums.next()?))
}

fn assert_published(n: &Nginx, key: &str, secs: u32) {
    assert!(
        n.wait_log(
            &format!("stopped publishing \"{key}\""),
            Duration::from_secs(10)
        ),
        "no end of publish for {key}:\n{}",
        n.error_log()
    );
    let (video, audio) = published_counts(n, key).unwrap();
    // 30 fps video; AAC at 44.1 kHz is ~43 frames/s. Allow for the sequence headers.
    let fps = u64::from(secs) * 30;
    assert!(
        video >= fps && video <= fps + 5,
        "{key}: {video} video messages for {secs}s at 30 fps"
    );
    assert!(
        audio >= u64::from(secs) * 40,
        "{key}: only {audio} audio messages"
    );
}

#[test]
fn ffmpeg_publishes_over_ipv4() {
    let n = Nginx::start("pub-v4", &Conf::live());
    let (ok, err) = run_with_timeout(
        ffmpeg_publish(&n.rtmp_url("live", "v4key"), PUBLISH_SECS),
        TIMEOUT,
    );
    assert!(ok, "ffmpeg failed: {err}\n{}", n.error_log());
    assert!(n.error_log().contains("publishes \"live/v4key\""));
    assert_published(&n, "live/v4key", PUBLISH_SECS);
    n.assert_no_crash();
}

#[test]
fn ffmpeg_publishes_over_ipv6() {
    let conf = Conf::rtmp(
        "server { listen 127.0.0.1:{rtmp_port}; listen [::1]:{rtmp_port} ipv6only=on;
                  application live { live on; } }",
    );
    let n = Nginx::start("pub-v6", &conf);
    let url = format!("rtmp://[::1]:{}/live/v6key", n.rtmp_port);
    let (ok, err) = run_with_timeout(ffmpeg_publish(&url, PUBLISH_SECS), TIMEOUT);
    assert!(ok, "ffmpeg over IPv6 failed: {err}\n{}", n.error_log());
    assert_published(&n, "live/v6key", PUBLISH_SECS);
    n.assert_no_crash();
}

#[test]
fn gstreamer_rtmp2sink_publishes() {
    let n = Nginx::start("pub-gst", &Conf::live());
    let pipeline = format!(
        "videotestsrc num-buffers=90 ! video/x-raw,width=320,height=240,framerate=30/1 ! \
         x264enc tune=zerolatency key-int-max=60 ! h264parse ! flvmux name=m streamable=true ! \
         rtmp2sink location={} \
         audiotestsrc num-buffers=130 ! audio/x-raw,rate=44100 ! voaacenc ! aacparse ! m.",
        n.rtmp_url("live", "gstkey")
    );
    let mut cmd = Command::new("gst-launch-1.0");
    cmd.arg("-e")
        .args(pipeline.split_whitespace())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let (ok, err) = run_with_timeout(cmd, TIMEOUT);
    assert!(ok, "gst-launch failed: {err}\n{}", n.error_log());
    assert!(
        n.wait_log(
            "stopped publishing \"live/gstkey\"",
            Duration::from_secs(10)
        ),
        "{}",
        n.error_log()
    );
    let (video, _) = published_counts(&n, "live/gstkey").unwrap();
    assert!(video >= 90, "gstreamer: {video} video messages");
    n.assert_no_crash();
}

#[test]
fn second_publisher_on_live_name_is_refused() {
    let n = Nginx::start("pub-busy", &Conf::live());
    let url = n.rtmp_url("live", "busy");
    let first = ffmpeg_publish(&url, 6).spawn().unwrap();
    assert!(n.wait_log("publishes \"live/busy\"", Duration::from_secs(10)));
    let (ok, _) = run_with_timeout(ffmpeg_publish(&url, 2), TIMEOUT);
    assert!(!ok, "second publisher was accepted");
    assert!(
        n.error_log().contains("publish \"live/busy\" refused"),
        "{}",
        n.error_log()
    );
    let out = first.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "first publisher failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    n.assert_no_crash();
}

#[test]
fn unknown_application_and_live_off_are_refused() {
    let conf = Conf::rtmp(
        "server { listen 127.0.0.1:{rtmp_port};
                  application live { live on; } application closed { live off; } }",
    );
    let n = Nginx::start("pub-refused", &conf);
    let (ok, _) = run_with_timeout(ffmpeg_publish(&n.rtmp_url("nope", "k"), 1), TIMEOUT);
    assert!(!ok);
    let (ok, _) = run_with_timeout(ffmpeg_publish(&n.rtmp_url("closed", "k"), 1), TIMEOUT);
    assert!(!ok);
    let log = n.error_log();
    assert!(log.contains("unknown application \"nope\""), "{log}");
    assert!(log.contains("neither live, hls nor dash is on"), "{log}");
    n.assert_no_crash();
}

#[test]
fn two_workers_accept_publishers() {
    let n = Nginx::start("pub-workers", &Conf::live().workers(2));
    let children: Vec<_> = (0..4)
        .map(|i| {
            ffmpeg_publish(&n.rtmp_url("live", &format!("w{i}")), PUBLISH_SECS)
                .spawn()
                .unwrap()
        })
        .collect();
    for (i, c) in children.into_iter().enumerate() {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "publisher {i}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for i in 0..4 {
        assert_published(&n, &format!("live/w{i}"), PUBLISH_SECS);
    }
    n.assert_no_crash();
}

#[test]
fn reload_keeps_publisher_and_applies_new_config() {
    let n = Nginx::start("pub-reload", &Conf::live());
    let long = ffmpeg_publish(&n.rtmp_url("live", "during-reload"), 6)
        .spawn()
        .unwrap();
    assert!(n.wait_log("publishes \"live/during-reload\"", Duration::from_secs(10)));

    // New config: a second application. Old connections keep the old config.
    let text = std::fs::read_to_string(&n.conf).unwrap();
    let text = text.replace(
        "application live { live on; }",
        "application live { live on; } application added { live on; }",
    );
    std::fs::write(&n.conf, text).unwrap();
    n.signal("reload");
    // The old worker accepts with the old config until it has its QUIT; the master sends it
    // once the new workers run.
    assert!(
        n.wait_log("gracefully shutting down", Duration::from_secs(10)),
        "{}",
        n.error_log()
    );

    let (ok, err) = run_with_timeout(ffmpeg_publish(&n.rtmp_url("added", "new"), 1), TIMEOUT);
    assert!(
        ok,
        "publish to the new application failed: {err}\n{}",
        n.error_log()
    );

    let out = long.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "publisher across reload failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_published(&n, "live/during-reload", 6);
    n.assert_no_crash();
}

#[test]
fn allow_and_deny_publish() {
    let conf = Conf::rtmp(
        "server { listen 127.0.0.1:{rtmp_port}; listen [::1]:{rtmp_port};
                  allow publish 127.0.0.1; deny publish all;
                  application live { live on; }
                  application open { live on; allow publish all; } }",
    );
    let n = Nginx::start("pub-access", &conf);
    let v6 = |app: &str| format!("rtmp://[::1]:{}/{app}/k6", n.rtmp_port);
    let (ok, err) = run_with_timeout(ffmpeg_publish(&n.rtmp_url("live", "k4"), 1), TIMEOUT);
    assert!(
        ok,
        "allowed IPv4 publisher refused: {err}\n{}",
        n.error_log()
    );
    let (ok, _) = run_with_timeout(ffmpeg_publish(&v6("live"), 1), TIMEOUT);
    assert!(!ok, "IPv6 publisher should be denied by `deny publish all`");
    assert!(
        n.error_log().contains("denied by access rules"),
        "{}",
        n.error_log()
    );
    // An application's own rules replace the server's.
    let (ok, err) = run_with_timeout(ffmpeg_publish(&v6("open"), 1), TIMEOUT);
    assert!(
        ok,
        "application-level allow ignored: {err}\n{}",
        n.error_log()
    );
    n.assert_no_crash();
}

#[test]
fn quit_and_stop_exit_cleanly() {
    // Workers exit, then the master: nginx force-unlocks the mutex at the start of every
    // shared zone when a worker exits, so our zones must keep that header intact.
    for sig in ["quit", "stop"] {
        let mut n = Nginx::start("pub-quit", &Conf::live().workers(2));
        let (ok, err) = run_with_timeout(ffmpeg_publish(&n.rtmp_url("live", "q"), 1), TIMEOUT);
        assert!(ok, "{err}");
        assert!(
            n.shut_down(sig),
            "nginx -s {sig}: the master did not exit cleanly\n{}",
            n.error_log()
        );
        n.assert_no_crash();
    }
}
