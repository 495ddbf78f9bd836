//! docker/Dockerfile where no container engine runs: hadolint and the shape of its stages
//! (a build stage running scripts/package.sh, a slim Debian 12 runtime stage with no
//! toolchain, nginx in the foreground as PID 1 stopped by SIGQUIT, hls_path a volume, the
//! published ports those of the configuration), then the runtime stage's own setup script and
//! CMD on a throwaway copy of this Debian 12 system (tests/package/docker_runtime.sh): an
//! RTMP publish yields HLS in the volume's directory and SIGQUIT ends nginx gracefully.
//! Not run here: the image build itself (the rust:1-bookworm and debian:12-slim bases).

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use support::nginx::{free_port, is_root};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// One stage: its FROM line and its instructions (continuations joined), comments dropped.
struct Stage {
    from: String,
    instructions: Vec<String>,
}

impl Stage {
    fn all(&self, keyword: &str) -> Vec<&str> {
        self.instructions
            .iter()
            .filter_map(|i| i.strip_prefix(keyword))
            .filter_map(|rest| rest.strip_prefix(' '))
            .map(str::trim)
            .collect()
    }

    fn one(&self, keyword: &str) -> &str {
        let all = self.all(keyword);
        assert_eq!(all.len(), 1, "{keyword} in stage {}: {all:?}", self.from);
        all[0]
    }
}

fn stages(dockerfile: &str) -> Vec<Stage> {
    let mut joined = Vec::new();
    let mut cur = String::new();
    for line in dockerfile.lines() {
        let t = line.trim();
        if t.starts_with('#') || (t.is_empty() && cur.is_empty()) {
            continue;
        }
        match t.strip_suffix('\\') {
            Some(head) => {
                cur.push_str(head);
                cur.push(' ');
            }
            None => {
                cur.push_str(t);
                joined.push(std::mem::take(&mut cur));
            }
        }
    }
    let mut out: Vec<Stage> = Vec::new();
    for i in joined {
        if let Some(from) = i.strip_prefix("FROM ") {
            out.push(Stage {
                from: from.trim().to_owned(),
                instructions: Vec::new(),
            });
        } else {
            out.last_mut()
                .expect("an instruction before FROM")
                .instructions
                .push(i);
        }
    }
    out
}

fn read(rel: &str) -> String {
    fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn dockerfile_is_multi_stage_slim_and_lints_clean() {
    let hadolint = std::env::var_os("NGX_RTMP_HADOLINT")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv/bin/hadolint"));
    let out = Command::new(&hadolint)
        .arg(root().join("docker/Dockerfile"))
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "hadolint at {} ({e}): scripts/test.sh installs it",
                hadolint.display()
            )
        });
    assert!(
        out.status.success(),
        "hadolint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let st = stages(&read("docker/Dockerfile"));
    assert_eq!(
        st.len(),
        2,
        "stages: {:?}",
        st.iter().map(|s| &s.from).collect::<Vec<_>>()
    );
    let (build, run) = (&st[0], &st[1]);

    // The build stage: Debian 12 (the runtime's nginx), the scripts CI runs.
    assert_eq!(build.from, "rust:1-bookworm AS build");
    assert!(
        build
            .all("RUN")
            .iter()
            .any(|r| r.trim() == "scripts/package.sh"),
        "the build stage does not run scripts/package.sh"
    );

    // The runtime stage: slim Debian 12, the package and the setup script, no toolchain.
    assert_eq!(run.from, "debian:12-slim");
    let text = run.instructions.join("\n");
    for tool in [
        "cargo",
        "rustup",
        "build-essential",
        "nginx-dev",
        "npm",
        "curl ",
    ] {
        assert!(
            !text.contains(tool),
            "the runtime stage mentions {tool}:\n{text}"
        );
    }
    assert!(
        run.all("COPY")
            .iter()
            .any(|c| c.starts_with("--from=build /src/target/deb/libnginx-mod-rtmp-rs_")),
        "the runtime stage does not take the package from the build stage"
    );
    assert!(
        run.one("RUN")
            .starts_with("/usr/local/sbin/runtime-setup.sh "),
        "the runtime stage's setup is not docker/runtime-setup.sh"
    );

    // PID 1: nginx itself, in the foreground, in exec form (no shell between it and
    // `docker stop`), which sends SIGQUIT: nginx's graceful shutdown.
    assert_eq!(run.one("CMD"), r#"["nginx", "-g", "daemon off;"]"#);
    assert!(run.all("ENTRYPOINT").is_empty());
    assert_eq!(run.one("STOPSIGNAL"), "SIGQUIT");

    // The volume is the configuration's hls_path; the ports are its listeners.
    let rtmp_conf = read("nginx-conf/package/rtmp.conf");
    let hls_path = rtmp_conf
        .lines()
        .find_map(|l| l.trim().strip_prefix("hls_path "))
        .expect("hls_path in rtmp.conf")
        .trim_end_matches(';');
    assert_eq!(run.one("VOLUME"), format!(r#"["{hls_path}"]"#));
    assert!(rtmp_conf.contains("listen 1935;"));
    assert!(read("nginx-conf/package/rtmp-site.conf").contains("listen 8080;"));
    assert_eq!(run.one("EXPOSE"), "1935 8080");

    // The build context leaves out build output and local environments.
    let ignore = read(".dockerignore");
    for dir in ["target/", ".venv/", "tests/player/node_modules/"] {
        assert!(
            ignore.lines().any(|l| l == dir),
            ".dockerignore lacks {dir}"
        );
    }
}

#[test]
fn runtime_stage_steps_serve_hls_and_quit_on_sigquit() {
    assert!(
        is_root(),
        "the runtime stage's steps run apt and dpkg: run as root (CI does)"
    );
    let dir = root().join(format!("target/e2e/docker-runtime-{}", std::process::id()));
    let out = Command::new(root().join("scripts/package.sh"))
        .env("DEB_OUT_DIR", &dir)
        .env_remove("NGINX_SOURCE_DIR")
        .env_remove("NGINX_BINARY")
        .stdin(Stdio::null())
        .output()
        .expect("run package.sh");
    assert!(
        out.status.success(),
        "package.sh:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deb = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .expect("package.sh printed nothing")
        .to_owned();
    // What the test must leave as it was: modules-enabled and the two packages' states.
    let state = || {
        let mut names: Vec<String> = fs::read_dir("/etc/nginx/modules-enabled")
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        let dpkg = Command::new("dpkg-query")
            .args(["-W", "-f=${Package} ${Status}\n"])
            .args(["libnginx-mod-rtmp", "libnginx-mod-rtmp-rs"])
            .output()
            .expect("dpkg-query");
        (names, String::from_utf8_lossy(&dpkg.stdout).into_owned())
    };
    let before = state();

    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--fork"])
        .arg(root().join("tests/package/docker_runtime.sh"))
        .arg(&deb)
        .arg(root().join("nginx-conf/package"))
        .arg(free_port().to_string())
        .arg(free_port().to_string())
        .arg(dir.join("overlay"))
        .stdin(Stdio::null())
        .output()
        .expect("run unshare");
    let said = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "runtime stage test failed:\n{said}");
    for step in [
        "step: runtime-setup.sh",
        "step: CMD nginx -g 'daemon off;' in the foreground",
        "step: docker stop: SIGQUIT",
        "docker runtime test: OK",
    ] {
        assert!(said.contains(step), "'{step}' never reached:\n{said}");
    }
    assert_eq!(state(), before, "the test changed the machine");
    let _ = fs::remove_dir_all(&dir);
}
