//! The Debian package (scripts/package.sh): its control fields and contents, lintian, and its
//! life on this machine's nginx — `dpkg -i` enables the module and reloads nginx, the packaged
//! example configuration ingests and writes HLS, `dpkg -r` refuses while the configuration
//! uses the module and otherwise leaves `nginx -t` passing, `dpkg -P` leaves modules-enabled
//! as it was. That part runs in overlays of /etc, /usr, /var and /run inside a mount namespace
//! of its own (tests/package/in_overlay.sh): dpkg, the maintainer scripts and nginx run for
//! real, and the machine — its package database, /etc/nginx, Debian's libnginx-mod-rtmp that
//! other tests load — is left exactly as it was, which the test checks too.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use support::nginx::{free_port, is_root};

const PKG: &str = "libnginx-mod-rtmp-rs";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.stdin(Stdio::null()).output().expect("run command");
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(cmd: &mut Command) -> String {
    String::from_utf8_lossy(&run(cmd).stdout).into_owned()
}

/// The package, built by scripts/package.sh into a directory of this test's own.
fn build_package(out_dir: &Path) -> PathBuf {
    let out = stdout(
        Command::new(root().join("scripts/package.sh"))
            .env("DEB_OUT_DIR", out_dir)
            .env_remove("NGINX_SOURCE_DIR")
            .env_remove("NGINX_BINARY"),
    );
    let deb = PathBuf::from(out.lines().last().expect("package.sh printed nothing"));
    assert!(deb.is_file(), "no package at {}", deb.display());
    deb
}

fn field(deb: &Path, name: &str) -> String {
    stdout(Command::new("dpkg-deb").arg("-f").arg(deb).arg(name))
        .trim()
        .to_owned()
}

/// What the machine's nginx provides: `nginx-abi-<version>-<n>`.
fn nginx_abi() -> String {
    let provides = stdout(Command::new("dpkg-query").args(["-W", "-f=${Provides}", "nginx"]));
    provides
        .split(',')
        .map(str::trim)
        .find(|p| p.starts_with("nginx-abi-"))
        .unwrap_or_else(|| panic!("nginx provides no nginx-abi: {provides}"))
        .to_owned()
}

/// The state of the machine that the package test must not change.
fn machine_state() -> String {
    let mut s = String::new();
    for pkg in ["libnginx-mod-rtmp", PKG, "nginx"] {
        let out = Command::new("dpkg-query")
            .args(["-W", "-f=${Package} ${Version} ${Status}\n", pkg])
            .output()
            .expect("dpkg-query");
        s += &String::from_utf8_lossy(&out.stdout);
    }
    for dir in [
        "/etc/nginx",
        "/etc/nginx/modules-enabled",
        "/etc/nginx/sites-enabled",
        "/usr/lib/nginx/modules",
        "/usr/share/nginx/modules-available",
    ] {
        s += &stdout(Command::new("ls").args(["-la", "--time-style=full-iso", dir]));
    }
    s += &fs::read_to_string("/etc/nginx/nginx.conf").unwrap_or_default();
    s += &format!(
        "{:?}\n",
        fs::metadata("/var/lib/dpkg/status").and_then(|m| m.modified())
    );
    s
}

#[test]
fn package_fields_contents_and_lintian() {
    let dir = root().join(format!("target/e2e/package-fields-{}", std::process::id()));
    let deb = build_package(&dir);

    assert_eq!(field(&deb, "Package"), PKG);
    let depends = field(&deb, "Depends");
    assert!(
        depends.split(',').any(|d| d.trim() == nginx_abi()),
        "Depends '{depends}' lacks {}",
        nginx_abi()
    );
    assert!(depends.contains("libc6"), "Depends '{depends}' lacks libc6");
    assert_eq!(field(&deb, "Conflicts"), "libnginx-mod-rtmp");
    assert_eq!(field(&deb, "Section"), "httpd");

    let list = stdout(Command::new("dpkg-deb").arg("-c").arg(&deb));
    for path in [
        "./usr/lib/nginx/modules/ngx_rtmp_rs.so",
        "./usr/share/nginx/modules-available/mod-rtmp-rs.conf",
        "./usr/share/libnginx-mod-rtmp-rs/www/index.html",
        "./usr/share/libnginx-mod-rtmp-rs/www/dashboard.js",
        "./usr/share/libnginx-mod-rtmp-rs/www/hls.min.js",
        "./usr/share/libnginx-mod-rtmp-rs/www/stat.xsl",
        "./usr/share/doc/libnginx-mod-rtmp-rs/copyright",
        "./usr/share/doc/libnginx-mod-rtmp-rs/changelog.Debian.gz",
        "./usr/share/doc/libnginx-mod-rtmp-rs/examples/rtmp.conf",
        "./usr/share/doc/libnginx-mod-rtmp-rs/examples/rtmp-site.conf",
        "./usr/share/doc/libnginx-mod-rtmp-rs/examples/seed.conf",
    ] {
        assert!(
            list.lines().any(|l| l.ends_with(path)),
            "{path} missing from the package:\n{list}"
        );
    }
    // modules-enabled belongs to the administrator: the maintainer scripts make the link.
    assert!(
        !list.contains("/etc/"),
        "the package ships files in /etc:\n{list}"
    );

    // The module is the one build.sh checked against /usr/sbin/nginx, stripped.
    let x = dir.join("x");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&x));
    let so = x.join("usr/lib/nginx/modules/ngx_rtmp_rs.so");
    let sig = |p: &Path| {
        stdout(Command::new("strings").arg(p))
            .lines()
            .find(|l| l.starts_with("8,4,8,") && l.len() > 30)
            .map(str::to_owned)
    };
    assert!(
        sig(&so).is_some(),
        "no module signature in the packaged .so"
    );
    assert_eq!(sig(&so), sig(Path::new("/usr/sbin/nginx")));
    let file = stdout(Command::new("file").arg(&so));
    assert!(
        file.contains("stripped") && !file.contains("not stripped"),
        "{file}"
    );
    let conf = fs::read_to_string(x.join("usr/share/nginx/modules-available/mod-rtmp-rs.conf"))
        .expect("mod-rtmp-rs.conf");
    assert_eq!(conf.trim(), "load_module modules/ngx_rtmp_rs.so;");

    // lintian: no error, no warning (its overrides are in packaging/deb/lintian-overrides).
    let out = Command::new("lintian")
        .arg(&deb)
        .output()
        .expect("run lintian (scripts/test.sh installs it)");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success()
            && !said
                .lines()
                .any(|l| l.starts_with("E:") || l.starts_with("W:")),
        "lintian:\n{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn package_installs_reloads_serves_hls_and_removes_cleanly() {
    assert!(
        is_root(),
        "the package test installs with dpkg: run the suite as root (CI does)"
    );
    let dir = root().join(format!("target/e2e/package-life-{}", std::process::id()));
    let deb = build_package(&dir);
    let before = machine_state();

    let scratch = dir.join("overlay");
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--fork"])
        .arg(root().join("tests/package/in_overlay.sh"))
        .arg(&deb)
        .arg(free_port().to_string())
        .arg(free_port().to_string())
        .arg(free_port().to_string())
        .arg(&scratch)
        .stdin(Stdio::null())
        .output()
        .expect("run unshare");
    let said = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "package test failed:\n{said}");
    // scripts/test.sh installs Debian's libnginx-mod-rtmp: the Conflicts steps run.
    for step in [
        "step: Conflicts: dpkg -i fails while libnginx-mod-rtmp is installed",
        "step: forced in beside an enabled C module",
        "step: dpkg -i: the module is enabled",
        "step: the packaged example configuration",
        "step: dpkg -i again (an upgrade)",
        "step: dpkg -r while the configuration uses the module",
        "step: dpkg -r after the configuration dropped rtmp {}",
        "step: dpkg -P: modules-enabled as it was",
        "package test: OK",
    ] {
        assert!(said.contains(step), "'{step}' never reached:\n{said}");
    }

    assert_eq!(
        machine_state(),
        before,
        "the package test changed the machine"
    );
    let _ = fs::remove_dir_all(&dir);
}
