//! The module in an nginx.org-style nginx 1.28 (`--with-compat`, built from the nginx-src
//! crate by scripts/build_nginx.sh), as most production sites run: the module built against it
//! loads, ingests, writes HLS and serves RTMP players; the module built for Debian's 1.22 is
//! refused, by that nginx and by scripts/build.sh before any build.
//!
//! scripts/test.sh sets `NGX_RTMP_NGINX_ORG` (the 1.28 binary), `NGX_RTMP_NGINX_ORG_SRC` (its
//! configured source tree) and `NGX_RTMP_MODULE_ORG` (the module scripts/build.sh built for it).

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use support::nginx::{ffmpeg_plays, ffmpeg_publish, module_path, Conf, Nginx};

fn env_file(name: &str) -> PathBuf {
    let p = std::env::var_os(name).unwrap_or_else(|| {
        panic!("{name} is not set: run the suite with scripts/test.sh (it builds nginx 1.28)")
    });
    let p = PathBuf::from(p);
    assert!(p.is_file(), "{name}={} does not exist", p.display());
    p
}

fn org_nginx() -> PathBuf {
    env_file("NGX_RTMP_NGINX_ORG")
}

fn org_module() -> PathBuf {
    env_file("NGX_RTMP_MODULE_ORG")
}

/// `nginx -V` of `binary` (nginx prints it on stderr).
fn version_info(binary: &Path) -> String {
    let out = Command::new(binary).arg("-V").output().expect("nginx -V");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn hls_conf() -> Conf {
    Conf::rtmp(
        "server { listen 127.0.0.1:{rtmp_port};
           application live { live on; hls on; hls_path {prefix}/www/hls; hls_fragment 1; } }",
    )
}

/// The segments the playlist lists, once it lists at least `want`.
fn wait_segments(dir: &Path, key: &str, want: usize, timeout: Duration) -> Vec<PathBuf> {
    let playlist = dir.join(format!("{key}.m3u8"));
    let deadline = Instant::now() + timeout;
    loop {
        let segs: Vec<PathBuf> = fs::read_to_string(&playlist)
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| dir.join(l.trim()))
            .collect();
        if segs.len() >= want || Instant::now() > deadline {
            return segs;
        }
        sleep(Duration::from_millis(200));
    }
}

#[test]
fn nginx_org_1_28_is_what_the_suite_builds() {
    let v = version_info(&org_nginx());
    assert!(v.contains("nginx/1.28."), "not nginx 1.28: {v}");
    for flag in [
        "--with-compat",
        "--with-http_v2_module",
        "--with-stream",
        "--with-http_ssl_module",
    ] {
        assert!(v.contains(flag), "nginx.org's {flag} missing: {v}");
    }
}

#[test]
fn module_built_for_1_28_publishes_hls_and_plays_rtmp() {
    let mut n = Nginx::prepare_with_module("org-hls", &hls_conf(), &org_module());
    n.binary = org_nginx();
    let n = Nginx::start_prepared(n);
    let url = n.rtmp_url("live", "org");
    let mut publisher = ffmpeg_publish(&url, 8)
        .stderr(Stdio::null())
        .spawn()
        .expect("start ffmpeg");

    let dir = n.prefix.join("www/hls");
    let segs = wait_segments(&dir, "org", 2, Duration::from_secs(20));
    assert!(
        segs.len() >= 2,
        "no HLS playlist with two segments from nginx 1.28:\n{}",
        n.error_log()
    );
    for s in &segs {
        let bytes = fs::read(s).unwrap_or_default();
        assert!(
            bytes.len() >= 188 && bytes.len() % 188 == 0 && bytes[0] == 0x47,
            "{} is not MPEG-TS ({} bytes)",
            s.display(),
            bytes.len()
        );
    }
    assert!(
        ffmpeg_plays(&url),
        "an RTMP player got nothing:\n{}",
        n.error_log()
    );

    let status = publisher.wait().expect("ffmpeg");
    assert!(
        status.success(),
        "ffmpeg publish failed:\n{}",
        n.error_log()
    );
    assert!(
        n.wait_log("stopped publishing \"live/org\"", Duration::from_secs(10)),
        "{}",
        n.error_log()
    );
    n.assert_no_crash();
}

#[test]
fn module_built_for_1_22_is_refused_by_1_28_and_by_build_sh() {
    let org = org_nginx();
    // nginx itself: the version check comes first.
    let mut n = Nginx::prepare_with_module("org-refuse", &Conf::live(), &module_path());
    n.binary = org.clone();
    let t = n.test_config();
    let err = String::from_utf8_lossy(&t.stderr);
    assert!(
        !t.status.success(),
        "nginx 1.28 accepted a 1.22 module:\n{err}"
    );
    assert!(
        err.contains("version 1022001 instead of 1028"),
        "unexpected refusal:\n{err}"
    );

    // build.sh asked to build for 1.28 without its sources refuses before building.
    let out = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/build.sh"))
        .env("NGINX_BINARY", &org)
        .env_remove("NGINX_SOURCE_DIR")
        .stdin(Stdio::null())
        .output()
        .expect("run build.sh");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "build.sh built for 1.28 from 1.22 sources:\n{said}"
    );
    assert!(
        said.contains("refusing to build")
            && said.contains("is nginx 1.22.1")
            && said.contains("is nginx 1.28."),
        "build.sh's refusal does not say why:\n{said}"
    );
    assert!(
        !said.contains("cargo build"),
        "build.sh started a build before refusing:\n{said}"
    );
    assert!(
        out.stdout.is_empty(),
        "build.sh printed a module path: {:?}",
        out.stdout
    );
}

#[test]
fn source_tree_without_compat_is_refused_before_building() {
    let src = PathBuf::from(
        std::env::var_os("NGX_RTMP_NGINX_ORG_SRC").expect("NGX_RTMP_NGINX_ORG_SRC is not set"),
    );
    assert!(src.join("src/core/nginx.h").is_file(), "{}", src.display());
    // The same 1.28 sources, configured like a distribution build without --with-compat.
    let copy = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("target/e2e/org-nocompat-{}", std::process::id()));
    let _ = fs::remove_dir_all(&copy);
    fs::create_dir_all(&copy).expect("mkdir");
    for part in ["auto", "src", "conf", "docs"] {
        let ok = Command::new("cp")
            .arg("-a")
            .arg(src.join(part))
            .arg(&copy)
            .status()
            .expect("cp");
        assert!(ok.success());
    }
    let out = Command::new("auto/configure")
        .current_dir(&copy)
        .args(["--with-http_ssl_module", "--with-stream"])
        .output()
        .expect("configure");
    assert!(
        out.status.success(),
        "configure: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/build.sh"))
        .env("NGINX_BINARY", org_nginx())
        .env("NGINX_SOURCE_DIR", &copy)
        .stdin(Stdio::null())
        .output()
        .expect("run build.sh");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "build.sh built without --with-compat:\n{said}"
    );
    assert!(
        said.contains("refusing to build: --with-compat is 'yes'") && said.contains("'no'"),
        "build.sh's refusal does not say why:\n{said}"
    );
    assert!(
        !said.contains("cargo build"),
        "build.sh started a build:\n{said}"
    );
    assert!(out.stdout.is_empty());
    let _ = fs::remove_dir_all(&copy);
}
