//! `nginx -t` accepts nginx-rtmp style configs and rejects bad ones with file and line.

mod support;

use support::nginx::{Conf, Nginx};

fn check(body: &str) -> (bool, String) {
    let n = Nginx::prepare("conf", &Conf::rtmp(body));
    let out = n.test_config();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The line of `needle` in the rendered config (1-based).
fn line_of(n: &Nginx, needle: &str) -> usize {
    let text = std::fs::read_to_string(&n.conf).unwrap();
    text.lines()
        .position(|l| l.contains(needle))
        .expect("needle in config")
        + 1
}

#[test]
fn accepts_nginx_rtmp_style_config() {
    let (ok, err) = check(
        "chunk_size 8192; ping 30s; ping_timeout 10;
         server {
             listen 127.0.0.1:{rtmp_port};
             listen [::1]:{rtmp_port} ipv6only=on;
             timeout 20s; max_message 2M; ack_window 2500000; max_streams 16;
             live on;
             application live { live on; }
             application other { live off; }
         }",
    );
    assert!(ok, "{err}");
}

#[test]
fn errors_name_file_and_line() {
    let cases = [
        (
            "server { listen 127.0.0.1:{rtmp_port}; bogus_directive on; }",
            "bogus_directive",
            "unknown directive",
        ),
        (
            "server { listen 127.0.0.1:{rtmp_port}; chunk_size 12; }",
            "chunk_size 12",
            "value must be between",
        ),
        (
            "server { listen 127.0.0.1:{rtmp_port}; application a { live maybe; } }",
            "live maybe",
            "\"on\" or \"off\"",
        ),
        (
            "server { listen 127.0.0.1:{rtmp_port}; listen 127.0.0.1:{rtmp_port}; }",
            "listen 127.0.0.1",
            "duplicate listen",
        ),
        (
            "server { listen 127.0.0.1:{rtmp_port}; application a { chunk_size 4096; } }",
            "application a",
            "not allowed here",
        ),
        (
            "server { listen 127.0.0.1:{rtmp_port}; timeout 5x; }",
            "timeout 5x",
            "invalid time",
        ),
        (
            "server { listen 127.0.0.1:{rtmp_port}; application a {} application a {} }",
            "application a",
            "duplicate application",
        ),
        (
            "server { listen 127.0.0.1:{rtmp_port}; application ../x {} }",
            "application ../x",
            "invalid application name",
        ),
        (
            "server { listen nowhere.example:1935; }",
            "nowhere.example",
            "invalid listen address",
        ),
        (
            "server { listen 127.0.0.1:{rtmp_port} ipv6only=on; }",
            "ipv6only=on",
            "ipv6only",
        ),
        ("listen 1935;", "listen 1935", "not allowed here"),
    ];
    for (body, needle, message) in cases {
        let n = Nginx::prepare("conf-err", &Conf::rtmp(body));
        let out = n.test_config();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "nginx -t accepted {body:?}");
        assert!(
            err.contains(message),
            "{body:?}: expected {message:?} in:\n{err}"
        );
        let location = format!("{}:{}", n.conf.display(), line_of(&n, needle));
        assert!(
            err.contains(&location),
            "{body:?}: expected {location} in:\n{err}"
        );
    }
}

#[test]
fn duplicate_listen_across_servers() {
    let (ok, err) = check(
        "server { listen 127.0.0.1:{rtmp_port}; }
         server { listen 127.0.0.1:{rtmp_port}; }",
    );
    assert!(!ok);
    assert!(err.contains("duplicate listen"), "{err}");
}

#[test]
fn access_rule_errors() {
    for (body, message) in [
        (
            "server { listen 127.0.0.1:{rtmp_port}; allow record all; }",
            "expected \"publish\" or \"play\"",
        ),
        (
            "server { listen 127.0.0.1:{rtmp_port}; deny play 10.0.0.0/40; }",
            "invalid prefix length",
        ),
        (
            "server { listen 127.0.0.1:{rtmp_port}; allow publish; }",
            "invalid number of arguments",
        ),
    ] {
        let (ok, err) = check(body);
        assert!(!ok, "accepted {body:?}");
        assert!(err.contains(message), "{body:?}: {err}");
    }
}

#[test]
fn hls_path_must_be_writable_by_the_workers() {
    // A directory the workers' user cannot write: root-owned 0755 when workers run as
    // nobody (tests as root), or 0555 when they run as us.
    let conf = Conf::rtmp(
        "server { listen 127.0.0.1:{rtmp_port};
                  application live { live on; hls on; hls_path {prefix}/locked; } }",
    )
    .user("nobody nogroup");
    let n = Nginx::prepare("conf-hlspath", &conf);
    let locked = n.prefix.join("locked");
    std::fs::create_dir_all(&locked).unwrap();
    let mode = if support::nginx::is_root() {
        0o755
    } else {
        0o555
    };
    std::fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap();
    let out = n.test_config();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "nginx -t accepted an unwritable hls_path"
    );
    assert!(err.contains("is not writable"), "{err}");
    let location = format!("{}:{}", n.conf.display(), line_of(&n, "hls_path"));
    assert!(err.contains(&location), "expected {location} in:\n{err}");
    // A missing directory is created (owned by the workers' user).
    let conf = Conf::rtmp(
        "server { listen 127.0.0.1:{rtmp_port};
                  application live { live on; hls on; hls_path {prefix}/made/hls; } }",
    );
    let n = Nginx::prepare("conf-hlspath-new", &conf);
    let out = n.test_config();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(n.prefix.join("made/hls").is_dir());
}

#[test]
fn callback_url_errors() {
    for (body, message) in [
        ("server { listen 127.0.0.1:{rtmp_port}; application a { on_publish https://127.0.0.1/x; } }", "invalid callback URL"),
        ("server { listen 127.0.0.1:{rtmp_port}; application a { on_play not-a-url; } }", "invalid callback URL"),
        ("server { listen 127.0.0.1:{rtmp_port}; application a { on_publish http://no-such-host.invalid/x; } }", "callback URL"),
        ("server { listen 127.0.0.1:{rtmp_port}; application a { on_connect http://127.0.0.1/c; } }", "not allowed here"),
        ("server { listen 127.0.0.1:{rtmp_port}; application a { notify_method put; } }", "get or post"),
    ] {
        let (ok, err) = check(body);
        assert!(!ok, "accepted {body:?}");
        assert!(err.contains(message), "{body:?}: {err}");
        assert!(err.contains("nginx.conf:"), "no file:line in {err}");
    }
    let (ok, err) = check(
        "on_connect http://127.0.0.1:9/c; notify_method get;
         server { listen 127.0.0.1:{rtmp_port}; application a { on_publish http://localhost:9/p; } }",
    );
    assert!(ok, "{err}");
}

#[test]
fn rendition_errors_name_file_and_line() {
    let app = |lines: &str| {
        format!(
            "server {{ listen 127.0.0.1:{{rtmp_port}};
               application live {{
                 live on; hls on; hls_path {{prefix}}/hls;
                 {lines}
               }}
             }}"
        )
    };
    let cases = [
        (
            app("hls_rendition 360p height=360 crf=23;"),
            "crf=23",
            "unknown parameter",
        ),
        (
            app("hls_rendition 360p height=360;\n hls_rendition 360p height=240;"),
            "height=240",
            "duplicate rendition",
        ),
        (
            app("hls_rendition tall height=5000;"),
            "height=5000",
            "16..4320",
        ),
        (
            app("hls_rendition low height=240 bitrate=2k;"),
            "bitrate=2k",
            "16k..100m",
        ),
        (
            app("hls_rendition fat height=240 bitrate=200m;"),
            "bitrate=200m",
            "16k..100m",
        ),
        (
            app("hls_rendition nosize bitrate=700k;"),
            "nosize",
            "height= or width=",
        ),
        (
            app("hls_rendition bad/name height=240;"),
            "bad/name",
            "invalid rendition name",
        ),
        (
            app("transcode_ffmpeg /nonexistent/ffmpeg;"),
            "transcode_ffmpeg",
            "No such file",
        ),
        (
            app("transcode_ffmpeg {prefix};"),
            "transcode_ffmpeg",
            "not a regular file",
        ),
        (
            app("transcode_ffmpeg nosuch-ffmpeg-here;"),
            "transcode_ffmpeg",
            "not found on PATH",
        ),
        (app("transcode_max 2;"), "transcode_max", "not allowed here"),
        (
            "server { listen 127.0.0.1:{rtmp_port};\n hls_rendition a height=240; }".to_owned(),
            "hls_rendition",
            "not allowed here",
        ),
    ];
    for (body, needle, message) in cases {
        let n = Nginx::prepare("conf-rendition", &Conf::rtmp(&body));
        let out = n.test_config();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "nginx -t accepted {body:?}");
        assert!(
            err.contains(message),
            "{body:?}: expected {message:?} in:\n{err}"
        );
        let location = format!("{}:{}", n.conf.display(), line_of(&n, needle));
        assert!(
            err.contains(&location),
            "{body:?}: expected {location} in:\n{err}"
        );
    }
    // A file that is not executable.
    let conf = Conf::rtmp(&app("transcode_ffmpeg {prefix}/ffmpeg.txt;"));
    let n = Nginx::prepare("conf-rendition-noexec", &conf);
    std::fs::write(n.prefix.join("ffmpeg.txt"), "not a program").unwrap();
    let out = n.test_config();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "nginx -t accepted a non-executable ffmpeg"
    );
    if !support::nginx::is_root() {
        assert!(err.contains("not executable"), "{err}");
    }
}

#[test]
fn rendition_ladder_config_is_accepted() {
    let (ok, err) = check(
        "server { listen 127.0.0.1:{rtmp_port};
             transcode_max 4;
             application live {
                 live on; hls on; hls_path {prefix}/hls;
                 hls_rendition 720p height=720 bitrate=2800k;
                 hls_rendition 480p height=480 bitrate=1200k audio_bitrate=96k;
                 hls_rendition 360p height=360 bitrate=700k preset=faster fps=30;
                 transcode_ffmpeg ffmpeg;
             }
             application other {
                 live on; hls on; hls_path {prefix}/hls2;
                 hls_rendition 240p width=426;
             }
         }",
    );
    assert!(ok, "{err}");
}
