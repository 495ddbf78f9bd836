//! DASH end to end: real nginx with the module, real ffmpeg publishing 10 s of H.264 + AAC,
//! and what a player gets checked with ffprobe/ffmpeg: the live MPD while publishing, then
//! the whole presentation decoded without an error and with every frame. Also the seed
//! configuration (nginx-conf/examples/seed.conf): `nginx -t`, and a publish producing HLS
//! and DASH.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread::{self, sleep};
use std::time::{Duration, Instant};

use support::nginx::{ffmpeg_publish, nginx_binary, run_with_timeout, Conf, Nginx};

const PUBLISH: Duration = Duration::from_secs(40);

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(Duration::from_millis(100));
    }
}

fn read(p: &Path) -> String {
    fs::read_to_string(p).unwrap_or_default()
}

/// Frames ffprobe decodes from `input` for stream `sel` ("v:0", "a:0"), and its stderr.
fn count_frames(input: &Path, sel: &str) -> (u64, String) {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", sel])
        .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
        .arg(input)
        .output()
        .expect("run ffprobe");
    let text = String::from_utf8_lossy(&out.stdout);
    // The DASH demuxer makes a program: its streams are listed twice.
    let n = text
        .lines()
        .find_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .unwrap_or(0);
    (n, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// `ffmpeg -v error -i input -f null -`: the errors it prints (empty when clean).
fn decode_errors(input: &Path) -> String {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "error", "-i"])
        .arg(input)
        .args(["-f", "null", "-"])
        .output()
        .expect("run ffmpeg");
    assert!(out.status.success(), "ffmpeg failed on {}", input.display());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn attr<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let i = text.find(&format!("{name}=\""))? + name.len() + 2;
    Some(&text[i..i + text[i..].find('"')?])
}

fn publish(n: &Nginx, name: &str, secs: u32) {
    let (ok, err) = run_with_timeout(ffmpeg_publish(&n.rtmp_url("live", name), secs), PUBLISH);
    assert!(ok, "ffmpeg publish failed: {err}\n{}", n.error_log());
}

#[test]
fn dash_live_mpd_and_segments_decode() {
    let conf = Conf::rtmp(
        "server { listen 127.0.0.1:{rtmp_port};
           application live { live on; dash on; dash_path {prefix}/www/dash; dash_fragment 2; } }",
    );
    let n = Nginx::start("dash", &conf);
    let dir = n.prefix.join("www/dash");
    let mpd = dir.join("cam.mpd");
    let url = n.rtmp_url("live", "cam");
    let publisher = thread::spawn(move || run_with_timeout(ffmpeg_publish(&url, 10), PUBLISH));

    // While publishing: a live MPD naming files that exist, readable by ffprobe.
    wait_for("the live MPD", Duration::from_secs(15), || {
        read(&mpd).contains("type=\"dynamic\"")
    });
    let live = read(&mpd);
    for key in [
        "availabilityStartTime=",
        "publishTime=",
        "minimumUpdatePeriod=\"PT2S\"",
        "timeShiftBufferDepth=",
        "codecs=\"avc1.",
        "codecs=\"mp4a.40.2\"",
        "<SegmentTimeline>",
    ] {
        assert!(
            live.contains(key),
            "{key} missing from the live MPD:\n{live}"
        );
    }
    for init in ["cam-init.m4v", "cam-init.m4a"] {
        assert!(dir.join(init).is_file(), "{init} missing");
    }
    let first_t = live
        .split("<S ")
        .nth(1)
        .and_then(|s| attr(s, "t"))
        .expect("a timeline entry");
    assert!(dir.join(format!("cam-{first_t}.m4v")).is_file());
    let probe = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name",
            "-of",
            "csv=p=0",
        ])
        .arg(&mpd)
        .output()
        .expect("ffprobe");
    let codecs = String::from_utf8_lossy(&probe.stdout);
    assert!(
        codecs.contains("h264") && codecs.contains("aac"),
        "ffprobe on the live MPD: {codecs}\n{}",
        String::from_utf8_lossy(&probe.stderr)
    );

    let (ok, err) = publisher.join().expect("publisher thread");
    assert!(ok, "ffmpeg publish failed: {err}");

    // After unpublish: a static MPD of the whole (10 s < 30 s window) presentation.
    wait_for("the final MPD", Duration::from_secs(10), || {
        read(&mpd).contains("type=\"static\"")
    });
    let last = read(&mpd);
    assert!(last.contains("mediaPresentationDuration=\"PT"), "{last}");
    let errors = decode_errors(&mpd);
    assert!(errors.trim().is_empty(), "decode errors:\n{errors}");
    let (video, err) = count_frames(&mpd, "v:0");
    assert_eq!(video, 300, "video frames (10 s at 30 fps); ffprobe: {err}");
    let (audio, err) = count_frames(&mpd, "a:0");
    // 10 s of 44.1 kHz AAC is 431 frames (the encoder's priming frame included or not).
    assert!(
        (429..=433).contains(&audio),
        "audio frames {audio}; ffprobe: {err}"
    );

    // Every fragment but the last is cut at a keyframe after dash_fragment (2 s GOP: 2 s).
    let video_set = last.split("<AdaptationSet").nth(1).expect("video set");
    let ds: Vec<u64> = video_set
        .split("<S ")
        .skip(1)
        .filter_map(|s| attr(s, "d")?.parse().ok())
        .collect();
    assert!(ds.len() >= 4, "{ds:?}");
    for d in &ds[..ds.len() - 1] {
        assert!((1_900..=2_100).contains(d), "fragment of {d} ms: {ds:?}");
    }
    n.assert_no_crash();
}

/// The seed configuration with paths under `prefix` (and, with `ports`, the test's ports).
fn seed_rewritten(prefix: &Path, module: &Path) -> String {
    let seed = read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("nginx-conf/examples/seed.conf"));
    assert!(seed.contains("dash_path /var/www/html/stream/dash;"));
    seed.replace(
        "load_module /usr/lib/nginx/modules/ngx_rtmp_rs.so;",
        &format!(
            "load_module {};\npid {p}/nginx.pid;\nerror_log {p}/logs/error.log;",
            module.display(),
            p = prefix.display()
        ),
    )
    .replace(
        "/var/www/html/stream",
        &format!("{}/www/html/stream", prefix.display()),
    )
    .replace(
        "http { server {",
        &format!(
            "http {{ access_log {p}/logs/access.log; client_body_temp_path {p}/tmp/body; \
             proxy_temp_path {p}/tmp/proxy; fastcgi_temp_path {p}/tmp/fastcgi; \
             uwsgi_temp_path {p}/tmp/uwsgi; scgi_temp_path {p}/tmp/scgi; server {{",
            p = prefix.display()
        ),
    )
}

/// The `rtmp {}` block of the seed, for the harness (which writes its own `http {}`).
fn seed_rtmp_body() -> String {
    let seed = read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("nginx-conf/examples/seed.conf"));
    let start = seed.find("\nrtmp {").expect("rtmp block") + "\nrtmp {".len();
    let end = seed.find("\nhttp {").expect("http block");
    let body = seed[start..end].trim_end();
    let body = body.strip_suffix('}').expect("closing brace");
    body.replace("1935", "{rtmp_port}")
        .replace("/var/www/html/stream", "{prefix}/www/html/stream")
}

#[test]
fn seed_config_passes_nginx_t_and_writes_hls_and_dash() {
    // The seed file itself, paths moved under a scratch prefix.
    let module = support::nginx::module_path();
    let scratch = Nginx::prepare(
        "seed-t",
        &Conf::rtmp("server { listen 127.0.0.1:{rtmp_port}; }"),
    );
    let conf: PathBuf = scratch.prefix.join("seed.conf");
    fs::write(&conf, seed_rewritten(&scratch.prefix, &module)).expect("write seed");
    let t = Command::new(nginx_binary())
        .arg("-p")
        .arg(&scratch.prefix)
        .arg("-c")
        .arg(&conf)
        .arg("-t")
        .output()
        .expect("nginx -t");
    assert!(
        t.status.success(),
        "nginx -t on the seed config failed:\n{}",
        String::from_utf8_lossy(&t.stderr)
    );
    // `nginx -t` created the output directories.
    for d in ["www/html/stream/hls", "www/html/stream/dash"] {
        assert!(scratch.prefix.join(d).is_dir(), "{d} not created");
    }

    // The seed's rtmp block, served: one publish gives HLS and DASH.
    let conf = Conf::rtmp(&seed_rtmp_body()).http(
        "location /stat { rtmp_stat all; rtmp_stat_stylesheet stat.xsl; }
         location /control { rtmp_control all; }",
    );
    let n = Nginx::start("seed", &conf);
    publish(&n, "seedcam", 8);
    let hls = n.prefix.join("www/html/stream/hls/seedcam.m3u8");
    let mpd = n.prefix.join("www/html/stream/dash/seedcam.mpd");
    wait_for("HLS and DASH output", Duration::from_secs(10), || {
        read(&hls).contains("#EXT-X-ENDLIST") && read(&mpd).contains("type=\"static\"")
    });
    let errors = decode_errors(&mpd);
    assert!(errors.trim().is_empty(), "DASH decode errors:\n{errors}");
    let (video, _) = count_frames(&mpd, "v:0");
    assert_eq!(video, 240, "8 s at 30 fps through DASH");
    let errors = decode_errors(&hls);
    assert!(errors.trim().is_empty(), "HLS decode errors:\n{errors}");
    n.assert_no_crash();
}
