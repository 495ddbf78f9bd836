//! nginx-rtmp's notify callbacks against a real HTTP server started by the test.

mod support;

use std::time::{Duration, Instant};

use support::callback::CallbackServer;
use support::nginx::{ffmpeg_plays, ffmpeg_publish, free_port, run_with_timeout, Conf, Nginx};

const TIMEOUT: Duration = Duration::from_secs(60);

fn start(name: &str, cb_port: u16, extra: &str) -> Nginx {
    let base = format!("http://127.0.0.1:{cb_port}");
    Nginx::start(
        name,
        &Conf::rtmp(&format!(
            "server {{ listen 127.0.0.1:{{rtmp_port}};
                      application live {{ live on; hls on; hls_path {{prefix}}/www/hls; hls_fragment 1;
                          on_publish {base}/publish; on_play {base}/play;
                          on_publish_done {base}/publish_done; on_play_done {base}/play_done;
                          on_done {base}/done; {extra} }} }}"
        )),
    )
}

fn publish(n: &Nginx, name: &str, secs: u32) -> bool {
    run_with_timeout(ffmpeg_publish(&n.rtmp_url("live", name), secs), TIMEOUT).0
}

#[test]
fn accept_refuse_rename_and_done_callbacks() {
    let dir = std::env::temp_dir().join(format!("ngx-rtmp-cb-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cb = CallbackServer::start(&dir);
    let n = start("notify", cb.port, "");

    // Accepted: the fields nginx-rtmp sends, query arguments included.
    assert!(
        publish(&n, "okstream?token=abc&x=1", 2),
        "{}",
        n.error_log()
    );
    assert!(
        cb.wait_for("\"/publish_done\""),
        "no publish_done: {:?}",
        cb.requests()
    );
    assert!(cb.wait_for("\"/done\""), "no done: {:?}", cb.requests());
    let first = cb
        .requests()
        .into_iter()
        .find(|l| l.contains("\"/publish\""))
        .unwrap();
    for field in [
        "\"call\": \"publish\"",
        "\"name\": \"okstream\"",
        "\"type\": \"live\"",
        "\"app\": \"live\"",
        "\"addr\": \"127.0.0.1\"",
        "\"token\": \"abc\"",
        "\"x\": \"1\"",
        "\"tcurl\": \"rtmp://127.0.0.1:",
        "\"flashver\": \"FMLE/3.0",
        "\"clientid\": \"",
        "application/x-www-form-urlencoded",
    ] {
        assert!(first.contains(field), "{field} missing in {first}");
    }
    assert!(first.contains("\"method\": \"POST\""), "{first}");

    // Refused by the callback.
    assert!(!publish(&n, "deny-me", 1), "403 did not refuse");
    assert!(
        n.error_log().contains("on_publish answered 403"),
        "{}",
        n.error_log()
    );

    // Renamed by a 3xx: the secret name never appears in hls_path.
    assert!(publish(&n, "rename-secret", 2), "{}", n.error_log());
    let hls = n.prefix.join("www/hls");
    assert!(hls.join("renamed.m3u8").exists(), "no renamed playlist");
    let leaked: Vec<_> = std::fs::read_dir(&hls)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("secret"))
        .collect();
    assert!(leaked.is_empty(), "secret name in hls_path: {leaked:?}");

    // A relay redirect to rtmp:// publishes and pushes there (the target here does not
    // resolve: the push retries, the publisher goes on).
    assert!(publish(&n, "relay", 1), "{}", n.error_log());
    assert!(
        n.error_log()
            .contains("publishes \"relay\" pushed to \"rtmp://elsewhere/app/x\""),
        "{}",
        n.error_log()
    );

    // on_play: accept and refuse.
    let publisher = ffmpeg_publish(&n.rtmp_url("live", "watched"), 6)
        .spawn()
        .unwrap();
    assert!(n.wait_log("publishes \"live/watched\"", Duration::from_secs(10)));
    let play = |name: &str| ffmpeg_plays(&n.rtmp_url("live", name));
    assert!(play("watched"), "on_play 200 refused\n{}", n.error_log());
    assert!(
        cb.wait_for("\"/play_done\""),
        "no play_done: {:?}",
        cb.requests()
    );
    let _ = publisher.wait_with_output();
    let play_req = cb
        .requests()
        .into_iter()
        .find(|l| l.contains("\"/play\""))
        .unwrap();
    for field in [
        "\"call\": \"play\"",
        "\"start\": ",
        "\"duration\": ",
        "\"reset\": ",
    ] {
        assert!(play_req.contains(field), "{field} missing in {play_req}");
    }
    n.assert_no_crash();
}

#[test]
fn callback_down_hanging_garbage_and_huge_are_refusals() {
    let dir = std::env::temp_dir().join(format!("ngx-rtmp-cb2-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cb = CallbackServer::start(&dir);
    // A callback server that is down.
    let down = start("notify-down", free_port(), "");
    assert!(
        !publish(&down, "any", 1),
        "publish accepted with the callback server down"
    );
    assert!(
        down.error_log().contains("on_publish failed"),
        "{}",
        down.error_log()
    );
    down.assert_no_crash();

    let n = start("notify-bad", cb.port, "notify_method get;");
    // Garbage and huge answers refuse at once; memory stays bounded.
    assert!(!publish(&n, "garbage", 1));
    let t = Instant::now();
    assert!(
        publish(&n, "huge", 1),
        "a 200 with a huge body refused\n{}",
        n.error_log()
    );
    assert!(t.elapsed() < Duration::from_secs(20));
    // GET: the form is in the query.
    assert!(cb
        .requests()
        .iter()
        .any(|l| l.contains("\"method\": \"GET\"") && l.contains("\"name\": \"huge\"")));
    // A hanging callback refuses after the timeout, and others are not held up meanwhile.
    let hanging = ffmpeg_publish(&n.rtmp_url("live", "hang"), 1)
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    assert!(
        publish(&n, "other", 1),
        "a publish waited for someone else's callback"
    );
    assert!(t.elapsed() < Duration::from_secs(8));
    let out = hanging.wait_with_output().unwrap();
    assert!(!out.status.success(), "hanging callback accepted");
    assert!(
        n.error_log().contains("on_publish failed"),
        "{}",
        n.error_log()
    );
    n.assert_no_crash();
}
