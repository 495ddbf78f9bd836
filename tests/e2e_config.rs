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
             hls_fragment_type fmp4;
             application cmaf { live on; hls on; hls_path /tmp; }
             application ts { live on; hls on; hls_path /tmp; hls_fragment_type mpegts; }
             application edge { live on; pull rtmp://127.0.0.1:1940/live app=live name=cam
                 tcUrl=rtmp://o/live pageUrl=http://p/ swfUrl=http://s/ flashVer=LNX.9
                 playPath=cam live=1; pull 127.0.0.2/live; pull_reconnect 1s; pull_grace 0;
                 pull rtmp://127.0.0.3/live name=lobby static; }
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
        (
            "server { listen 127.0.0.1:{rtmp_port}; application a { pull rtmp://o/live static; } }",
            "pull rtmp://o/live static",
            "stream name missing",
        ),
        (
            "server { listen 127.0.0.1:{rtmp_port}; application a { pull http://o/live; } }",
            "pull http://o/live",
            "unsupported scheme",
        ),
        (
            "server { listen 127.0.0.1:{rtmp_port}; application a { pull_grace soon; } }",
            "pull_grace soon",
            "invalid time",
        ),
        (
            "server { listen 127.0.0.1:{rtmp_port}; application a { hls_fragment_type cmaf; } }",
            "hls_fragment_type cmaf",
            "mpegts or fmp4",
        ),
        (
            "server { listen 127.0.0.1:{rtmp_port}; application a { hls_fragment_type; } }",
            "hls_fragment_type;",
            "invalid number of arguments",
        ),
        (
            "server { listen 127.0.0.1:{rtmp_port}; application a { pull_reconnect 0; } }",
            "pull_reconnect 0",
            "value must be between",
        ),
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

/// `resolver` lines are checked by nginx's own resolver code, `resolver_timeout` by ours;
/// both with file and line.
#[test]
fn resolver_errors_name_file_and_line() {
    let cases = [
        (
            "resolver valid=soon 127.0.0.1;",
            "resolver valid",
            "invalid parameter",
        ),
        (
            "resolver ipv6=maybe 127.0.0.1;",
            "resolver ipv6",
            "invalid parameter",
        ),
        (
            "resolver 127.0.0.1:0;",
            "resolver 127.0.0.1",
            "invalid port",
        ),
        ("resolver valid=5s;", "resolver valid", "no name servers"),
        ("resolver;", "resolver;", "invalid number of arguments"),
        ("resolver_timeout soon;", "resolver_timeout", "invalid"),
        (
            "resolver 127.0.0.1;\nresolver 127.0.0.2;",
            "resolver 127.0.0.2",
            "duplicate",
        ),
    ];
    for (line, needle, message) in cases {
        let body = format!(
            "server {{ listen 127.0.0.1:{{rtmp_port}};\n{line}\napplication live {{ live on; }} }}"
        );
        let n = Nginx::prepare("conf-resolver", &Conf::rtmp(&body));
        let out = n.test_config();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "nginx -t accepted {line:?}");
        assert!(
            err.contains(message),
            "{line:?}: expected {message:?} in:\n{err}"
        );
        let location = format!("{}:{}", n.conf.display(), line_of(&n, needle));
        assert!(
            err.contains(&location),
            "{line:?}: expected {location} in:\n{err}"
        );
    }
    let (ok, err) = check(
        "resolver 127.0.0.1:5353 [::1] valid=10s ipv6=off; resolver_timeout 5s;
         server { listen 127.0.0.1:{rtmp_port}; resolver 127.0.0.2;
             application live { live on; resolver_timeout 2s;
                 push rtmp://relay.invalid/live; } }",
    );
    assert!(ok, "{err}");
    // With a resolver, names are not looked up when the configuration loads.
    assert!(!err.contains("does not resolve"), "{err}");
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

#[test]
fn record_errors_name_file_and_line() {
    let app = |lines: &str| {
        format!(
            "server {{ listen 127.0.0.1:{{rtmp_port}};
               application live {{
                 live on; record_path {{prefix}}/rec;
                 {lines}
               }}
             }}"
        )
    };
    let cases = [
        (
            app("record everything;"),
            "record everything",
            "invalid value",
        ),
        (app("record off all;"), "record off all", "off (alone)"),
        (
            app("record all;\n record video;"),
            "record video",
            "is duplicate",
        ),
        (app("record_path rec;"), "record_path rec", "absolute path"),
        (app("record_suffix /x.flv;"), "record_suffix", "without '/'"),
        (
            app("record_unique maybe;"),
            "record_unique",
            "\"on\" or \"off\"",
        ),
        (
            app("record_append 1;"),
            "record_append",
            "\"on\" or \"off\"",
        ),
        (app("record_lock yes;"), "record_lock", "\"on\" or \"off\""),
        (
            app("record_notify x;"),
            "record_notify",
            "\"on\" or \"off\"",
        ),
        (
            app("record_max_size 1.5m;"),
            "record_max_size",
            "invalid size",
        ),
        (
            app("record_max_frames lots;"),
            "record_max_frames",
            "invalid size",
        ),
        (
            app("record_interval 5x;"),
            "record_interval",
            "invalid time",
        ),
        (app("record_format mkv;"), "record_format", "flv or mp4"),
        (
            app("record_fragment 50ms;"),
            "record_fragment",
            "between 100 and 60000",
        ),
        (
            app("record_fragment 2m;"),
            "record_fragment",
            "between 100 and 60000",
        ),
        (
            app("record all; record_append on;\n record_format mp4;"),
            "record_format mp4",
            "cannot be used with \"record_append on\"",
        ),
        (
            app("recorder a { record all; }\n recorder a { record audio; }"),
            "recorder a { record audio",
            "duplicate recorder \"a\"",
        ),
        (
            app("recorder a/b { record all; }"),
            "recorder a/b",
            "invalid recorder name",
        ),
        (
            app("recorder a { record all;\n live on; }"),
            "live on; }",
            "not allowed here",
        ),
        (
            app("recorder a { record all;\n on_publish http://127.0.0.1:9/p; }"),
            "on_publish",
            "not allowed here",
        ),
        (
            app("recorder a { record all;\n exec_publish mv x y; }"),
            "exec_publish",
            "not allowed here",
        ),
        (
            app("recorder a { record all;\n recorder b { } }"),
            "recorder b",
            "not allowed here",
        ),
        (
            "server { listen 127.0.0.1:{rtmp_port};\n recorder a { record all; } }".to_owned(),
            "recorder a",
            "not allowed here",
        ),
        (
            app("exec_record_done no-such-program-here $path;"),
            "exec_record_done",
            "not found on PATH",
        ),
        (
            app("on_record_done ftp://127.0.0.1/x;"),
            "on_record_done",
            "invalid callback URL",
        ),
    ];
    for (body, needle, message) in cases {
        let n = Nginx::prepare("conf-record", &Conf::rtmp(&body));
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
    // `record_append` and mp4 from different levels: refused when the block ends, naming the
    // application.
    let (ok, err) = check(
        "record_append on; record_path {prefix}/rec;
         server { listen 127.0.0.1:{rtmp_port};
             application live { live on; record all; record_format mp4; } }",
    );
    assert!(!ok, "accepted record_append with mp4");
    assert!(err.contains("application \"live\""), "{err}");
    assert!(err.contains("nginx.conf:"), "no file:line in {err}");
}

#[test]
fn record_path_is_created_and_must_be_writable_by_the_workers() {
    // As for hls_path: root-owned 0755 is unwritable for workers running as nobody (tests as
    // root), 0555 when they run as us.
    let conf = Conf::rtmp(
        "server { listen 127.0.0.1:{rtmp_port};
                  application live { live on; record all;
                      recorder audio { record audio; record_path {prefix}/locked; } } }",
    )
    .user("nobody nogroup");
    let n = Nginx::prepare("conf-recpath", &conf);
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
        "nginx -t accepted an unwritable record_path"
    );
    assert!(err.contains("is not writable"), "{err}");
    let location = format!("{}:{}", n.conf.display(), line_of(&n, "record_path"));
    assert!(err.contains(&location), "expected {location} in:\n{err}");
    // A missing directory is created, at any level.
    let conf = Conf::rtmp(
        "record_path {prefix}/made/main;
         server { listen 127.0.0.1:{rtmp_port};
                  application live { live on; record all; record_path {prefix}/made/rec; } }",
    )
    .user("nobody nogroup");
    let n = Nginx::prepare("conf-recpath-new", &conf);
    let out = n.test_config();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for d in ["made/main", "made/rec"] {
        let dir = n.prefix.join(d);
        assert!(dir.is_dir(), "{d} not created");
        if support::nginx::is_root() {
            use std::os::unix::fs::MetadataExt;
            let nobody_owns = std::fs::metadata(&dir).unwrap().uid() != 0;
            assert!(nobody_owns, "{d} not given to the workers' user");
        }
    }
}

/// nginx-rtmp's recording configurations (its wiki and README examples), and ours.
#[test]
fn recording_configs_are_accepted() {
    let (ok, err) = check(
        "record_path {prefix}/rec;
         server { listen 127.0.0.1:{rtmp_port};
             application live {
                 live on;
                 record all;
                 record_path {prefix}/rec/live;
                 record_suffix -%d-%b-%y-%T.flv;
                 record_unique on;
                 record_max_size 10M;
                 record_max_frames 2;
                 record_interval 30s;
                 record_lock on;
                 record_notify on;
                 on_record_done http://127.0.0.1:9/record_done;
                 exec_record_done ffmpeg -y -i $path -c copy $dirname/$basename.mp4;
                 recorder audio {
                     record audio;
                     record_suffix .audio.flv;
                 }
                 recorder chunked {
                     record all;
                     record_interval 15s;
                     record_path {prefix}/rec/chunked;
                     on_record_done http://127.0.0.1:9/chunk_done;
                     exec_record_done mv $path {prefix}/rec/$recorder-$filename;
                 }
                 recorder keys { record keyframes manual; record_append on; }
             }
             application mp4 {
                 live on;
                 record video audio;
                 record_format mp4;
                 record_fragment 2s;
                 record_interval off;
             }
             application manual { live on; record all manual; }
             application seed { live on; record off; }
         }",
    );
    assert!(ok, "{err}");
}

#[test]
fn update_and_redirect_option_errors_name_file_and_line() {
    let app = |lines: &str| {
        format!(
            "server {{ listen 127.0.0.1:{{rtmp_port}}; application a {{ live on;\n{lines}\n}} }}"
        )
    };
    for (lines, needle, message) in [
        (
            "notify_update_timeout soon;",
            "notify_update_timeout",
            "invalid time",
        ),
        (
            "notify_update_strict maybe;",
            "notify_update_strict",
            "\"on\" or \"off\"",
        ),
        (
            "notify_relay_redirect 1 2;",
            "notify_relay_redirect",
            "notify_relay_redirect",
        ),
        (
            "notify_update_timeout 5s;\nnotify_update_timeout 6s;",
            "notify_update_timeout 6s",
            "duplicate",
        ),
        ("on_update not-a-url;", "on_update", "invalid callback URL"),
    ] {
        let n = Nginx::prepare("conf-update", &Conf::rtmp(&app(lines)));
        let out = n.test_config();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "nginx -t accepted {lines:?}");
        assert!(
            err.contains(message),
            "{lines:?}: expected {message:?} in:\n{err}"
        );
        let location = format!("{}:{}", n.conf.display(), line_of(&n, needle));
        assert!(
            err.contains(&location),
            "{lines:?}: expected {location} in:\n{err}"
        );
    }
    let (ok, err) = check(
        "notify_update_timeout 10s;
         server { listen 127.0.0.1:{rtmp_port}; notify_relay_redirect on;
                  application a { on_update http://127.0.0.1:9/u; notify_update_strict on; }
                  application b { notify_update_timeout 0; } }",
    );
    assert!(ok, "{err}");
}

#[test]
fn relay_ssl_errors_name_file_and_line() {
    let not_pem = Nginx::prepare("conf-relay-ssl-pem", &Conf::live());
    let not_pem_file = not_pem.prefix.join("not-a-certificate.pem");
    std::fs::write(&not_pem_file, "not a certificate\n").unwrap();
    let cases = [
        ("relay_ssl_verify maybe;", "\"on\" or \"off\""),
        (
            "relay_ssl_protocols TLSv1.2 TLSv9;",
            "invalid value \"TLSv9\"",
        ),
        (
            "relay_ssl_trusted_certificate /nonexistent/ngx-rtmp-ca.pem;",
            "No such file",
        ),
        (
            &*format!("relay_ssl_trusted_certificate {};", not_pem_file.display()),
            "cannot load trusted certificates",
        ),
        ("relay_ssl_verify on; relay_ssl_verify off;", "duplicate"),
    ];
    for (line, message) in cases {
        let body = format!(
            "server {{ listen 127.0.0.1:{{rtmp_port}};\napplication live {{ live on;\n\
             push rtmps://127.0.0.1:1936/live;\n{line}\n}} }}"
        );
        let n = Nginx::prepare("conf-relay-ssl", &Conf::rtmp(&body));
        let out = n.test_config();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "nginx -t accepted {line:?}");
        assert!(
            err.contains(message),
            "{line:?}: expected {message:?} in:\n{err}"
        );
        let directive = line.split(' ').next().unwrap();
        let location = format!("{}:{}", n.conf.display(), line_of(&n, directive));
        assert!(
            err.contains(&location),
            "{line:?}: expected {location} in:\n{err}"
        );
    }
}

#[test]
fn rtmps_push_config_is_accepted() {
    // A relative trusted certificate is found in the configuration's directory.
    let n = Nginx::prepare(
        "conf-relay-ssl-ok",
        &Conf::rtmp(
            "relay_ssl_protocols TLSv1.2 TLSv1.3;
             server { listen 127.0.0.1:{rtmp_port};
                 application live { live on;
                     push rtmps://a.rtmps.youtube.com/live2/KEY;
                     push rtmps://live-api-s.facebook.com:443/rtmp/KEY;
                     relay_ssl_trusted_certificate ca.pem; }
                 application open { push rtmps://127.0.0.1:1936/live; relay_ssl_verify off; }
                 application system { push rtmps://127.0.0.1:1936/live; }
                 application edge { live on; pull rtmps://127.0.0.1:1936/live; } }",
        ),
    );
    let out = std::process::Command::new("openssl")
        .current_dir(&n.prefix)
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args([
            "-nodes", "-days", "1", "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=ca",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = n.test_config();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn tls_errors_name_file_and_line() {
    // (body, the line the error names, message). `{prefix}/nginx.conf` exists but is no
    // certificate.
    let cases = [
        (
            "server {
                listen 127.0.0.1:{rtmp_port} ssl;
                ssl_certificate {prefix}/missing.pem;
                ssl_certificate_key {prefix}/missing.key;
            }",
            "missing.pem",
            "No such file or directory",
        ),
        (
            "server {
                listen 127.0.0.1:{rtmp_port};
                listen 127.0.0.2:{rtmp_port} ssl;
            }",
            " ssl;",
            "no \"ssl_certificate\" is defined for the \"listen 127.0.0.2:",
        ),
        (
            "ssl_certificate {prefix}/nginx.conf;
             server {
                listen 127.0.0.1:{rtmp_port} ssl;
            }",
            " ssl;",
            "no \"ssl_certificate_key\" is defined",
        ),
        (
            "server {
                listen 127.0.0.1:{rtmp_port} ssl;
                ssl_certificate {prefix}/nginx.conf;
                ssl_certificate_key {prefix}/nginx.conf;
            }",
            " ssl;",
            "could not set up TLS",
        ),
        (
            "server {
                listen 127.0.0.1:{rtmp_port};
                ssl_protocols TLSv1.2 TLSv9;
            }",
            "TLSv9",
            "invalid value \"TLSv9\" in \"ssl_protocols\"",
        ),
        (
            "server {
                listen 127.0.0.1:{rtmp_port};
                ssl_session_cache shared:SSL:10m;
            }",
            "shared:SSL",
            "off, none or builtin",
        ),
        (
            "server {
                listen 127.0.0.1:{rtmp_port} ssl;
                application live { ssl_ciphers HIGH; }
            }",
            "ssl_ciphers",
            "not allowed here",
        ),
    ];
    for (body, needle, message) in cases {
        let n = Nginx::prepare("conf-tls", &Conf::rtmp(body));
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
fn exec_pull_errors_name_file_and_line() {
    let app = |lines: &str| {
        format!(
            "server {{ listen 127.0.0.1:{{rtmp_port}}; application a {{ live on;\n{lines}\n}} }}"
        )
    };
    for (lines, needle, message) in [
        ("exec_pull;", "exec_pull", "exec_pull"),
        (
            "exec_pull no-such-program-here -i x -f flv rtmp://127.0.0.1/a/$name;",
            "exec_pull",
            "not found on PATH",
        ),
        (
            "recorder r { record all;\nexec_pull ffmpeg -i x -f flv rtmp://127.0.0.1/a/$name; }",
            "exec_pull",
            "not allowed here",
        ),
    ] {
        let n = Nginx::prepare("conf-exec-pull", &Conf::rtmp(&app(lines)));
        let out = n.test_config();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "nginx -t accepted {lines:?}");
        assert!(
            err.contains(message),
            "{lines:?}: expected {message:?} in:\n{err}"
        );
        let location = format!("{}:{}", n.conf.display(), line_of(&n, needle));
        assert!(
            err.contains(&location),
            "{lines:?}: expected {location} in:\n{err}"
        );
    }
    let (ok, err) = check(
        "exec_pull ffmpeg -i rtmp://127.0.0.1:1940/src/$name -c copy -f flv rtmp://127.0.0.1/$app/$name;
         server { listen 127.0.0.1:{rtmp_port};
                  application a { live on; exec_options on; pull_grace 0;
                      exec_pull ffmpeg name=cam -i http://127.0.0.1/$name.flv -c copy
                          -f flv rtmp://127.0.0.1:{rtmp_port}/$app/$name;
                      exec_pull ffmpeg -i /dev/null -f flv rtmp://127.0.0.1:{rtmp_port}/$app/$name 2>>{prefix}/pull.log; } }",
    );
    assert!(ok, "{err}");
}
