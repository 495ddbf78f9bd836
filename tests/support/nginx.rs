//! End-to-end harness: a real nginx with the module, on free loopback ports, with its own
//! prefix, pid file and error log. `scripts/test.sh` builds the module and sets
//! `NGX_RTMP_MODULE`; these tests never skip: without the module they fail and say why.

use std::fs;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// The distribution's nginx: Debian's C module is built for it.
pub const NGINX: &str = "/usr/sbin/nginx";

/// The nginx the module under test is built for: `NGX_RTMP_NGINX` (scripts/test.sh runs the
/// core end-to-end tests a second time with nginx.org-style 1.28), else [`NGINX`].
pub fn nginx_binary() -> PathBuf {
    std::env::var_os("NGX_RTMP_NGINX")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(NGINX))
}

/// The version of [`nginx_binary`] ("1.22.1"), as `nginx -v` says it.
pub fn nginx_version() -> String {
    let out = Command::new(nginx_binary())
        .arg("-v")
        .output()
        .expect("nginx -v");
    let said = String::from_utf8_lossy(&out.stderr);
    said.split("nginx/")
        .nth(1)
        .and_then(|v| v.split_whitespace().next())
        .unwrap_or_else(|| panic!("nginx -v said {said:?}"))
        .to_owned()
}
/// Debian's libnginx-mod-rtmp (the C nginx-rtmp-module), for side-by-side comparisons. It
/// registers `rtmp {}` too: never load it in the same nginx as ours.
pub const C_RTMP_MODULE: &str = "/usr/lib/nginx/modules/ngx_rtmp_module.so";

pub fn module_path() -> PathBuf {
    let p = std::env::var_os("NGX_RTMP_MODULE").unwrap_or_else(|| {
        panic!(
            "NGX_RTMP_MODULE is not set: run the suite with scripts/test.sh (it builds the module)"
        )
    });
    let p = PathBuf::from(p);
    assert!(
        p.is_file(),
        "NGX_RTMP_MODULE={} does not exist",
        p.display()
    );
    p
}

/// Ports handed out start here; the kernel's ephemeral range (32768-60999 on Linux) is above.
const PORTS_FROM: u16 = 20000;
/// One past the last port handed out.
const PORTS_TO: u16 = 32768;

/// A port that is free now and that no other call in this process returns.
///
/// Not the kernel's choice for a bind to port 0: that comes from the ephemeral range, where
/// every outgoing connection (ffmpeg, a relay, the test itself) takes its local port too, so
/// the port could be taken before the nginx that is meant to listen on it binds it. nginx then
/// retries for two seconds while its other sockets already listen, and exits, resetting every
/// connection they queued. Below the ephemeral range only listeners take ports; a counter
/// keeps this process's tests (run in parallel) apart, and a start that depends on the process
/// id keeps test binaries that run at once apart.
pub fn free_port() -> u16 {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let span = usize::from(PORTS_TO - PORTS_FROM);
    let start = (std::process::id() as usize).wrapping_mul(631) % span;
    for _ in 0..span {
        let offset = (start + NEXT.fetch_add(1, Ordering::SeqCst)) % span;
        let port = PORTS_FROM + u16::try_from(offset).expect("offset below the span");
        if TcpListener::bind(("0.0.0.0", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {PORTS_FROM}..{PORTS_TO}");
}

fn fresh_prefix(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/e2e")
        .join(format!(
            "{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
    let _ = fs::remove_dir_all(&dir);
    for sub in ["logs", "tmp", "www"] {
        fs::create_dir_all(dir.join(sub)).expect("create prefix");
    }
    dir
}

pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A complete nginx.conf around an `rtmp {}` body and extra http locations.
/// `{rtmp_port}`, `{http_port}` and `{prefix}` in the bodies are substituted.
pub struct Conf {
    pub workers: u32,
    pub rtmp: String,
    pub http_locations: String,
    /// The `user` line; by default root when the tests run as root (so that workers can
    /// write the prefix), none otherwise.
    pub user: Option<String>,
    /// Top-level text after the module's `load_module` (other modules, a `stream {}` block).
    pub main: String,
    /// The loopback address the RTMP server listens on (`{host}` in the body), for tests
    /// with several instances on 127.0.0.2, 127.0.0.3, ...
    pub host: String,
}

impl Conf {
    /// One server on the RTMP port with `application live { live on; }`.
    pub fn live() -> Conf {
        Conf::rtmp("server { listen 127.0.0.1:{rtmp_port}; application live { live on; } }")
    }

    pub fn rtmp(body: &str) -> Conf {
        Conf {
            workers: 1,
            rtmp: body.to_owned(),
            http_locations: String::new(),
            user: None,
            main: String::new(),
            host: "127.0.0.1".to_owned(),
        }
    }

    /// The RTMP server listens on `host` (a loopback address): `{host}` in the body.
    pub fn host(mut self, host: &str) -> Conf {
        self.host = host.to_owned();
        self
    }

    pub fn workers(mut self, n: u32) -> Conf {
        self.workers = n;
        self
    }

    /// Workers run as `user` (only meaningful when the tests run as root).
    pub fn user(mut self, user: &str) -> Conf {
        self.user = Some(user.to_owned());
        self
    }

    /// Top-level `text` (`load_module` of another module, a `stream {}` block); `{rtmp_port}`,
    /// `{http_port}` and `{prefix}` are substituted.
    pub fn main(mut self, text: &str) -> Conf {
        self.main = text.to_owned();
        self
    }

    pub fn http(mut self, locations: &str) -> Conf {
        self.http_locations = locations.to_owned();
        self
    }

    /// The config with `load_module` of `module` (ours or another implementation of `rtmp {}`,
    /// never both in one nginx).
    fn render_with_module(
        &self,
        module: &Path,
        prefix: &Path,
        rtmp_port: u16,
        http_port: u16,
    ) -> String {
        let subst = |s: &str| {
            s.replace("{rtmp_port}", &rtmp_port.to_string())
                .replace("{http_port}", &http_port.to_string())
                .replace("{prefix}", &prefix.display().to_string())
                .replace("{host}", &self.host)
        };
        // Workers of a root master would run as nobody and could not write the prefix.
        let user = match (&self.user, is_root()) {
            (Some(u), true) => format!("user {u};"),
            (None, true) => "user root;".to_owned(),
            (_, false) => String::new(),
        };
        format!(
            "load_module {module};\n{main}\n{user}\nworker_processes {workers};\ndaemon off;\n\
             pid {p}/nginx.pid;\nerror_log {p}/logs/error.log info;\n\
             events {{ worker_connections 4096; }}\n\
             rtmp {{\n{rtmp}\n}}\n\
             http {{\n access_log {p}/logs/access.log;\n client_body_temp_path {p}/tmp/body;\n\
             proxy_temp_path {p}/tmp/proxy;\n fastcgi_temp_path {p}/tmp/fastcgi;\n\
             uwsgi_temp_path {p}/tmp/uwsgi;\n scgi_temp_path {p}/tmp/scgi;\n\
             server {{ listen 127.0.0.1:{http_port};\n location / {{ root {p}/www; }}\n{loc}\n }}\n}}\n",
            module = module.display(),
            workers = self.workers,
            p = prefix.display(),
            main = subst(&self.main),
            rtmp = subst(&self.rtmp),
            loc = subst(&self.http_locations),
        )
    }
}

pub struct Nginx {
    pub prefix: PathBuf,
    pub conf: PathBuf,
    pub rtmp_port: u16,
    pub http_port: u16,
    /// The address of the RTMP listener ([`Conf::host`]).
    pub host: String,
    /// The nginx executable: [`nginx_binary`], or [`NGINX`] for Debian's C module.
    pub binary: PathBuf,
    child: Option<Child>,
}

impl Nginx {
    /// Writes the config into a fresh prefix without starting nginx.
    pub fn prepare(name: &str, conf: &Conf) -> Nginx {
        Nginx::prepare_with_module(name, conf, &module_path())
    }

    /// Like [`Nginx::prepare`], loading `module` instead of ours (e.g. Debian's C
    /// nginx-rtmp-module, [`C_RTMP_MODULE`]).
    pub fn prepare_with_module(name: &str, conf: &Conf, module: &Path) -> Nginx {
        let prefix = fresh_prefix(name);
        let rtmp_port = free_port();
        let http_port = free_port();
        let path = prefix.join("nginx.conf");
        fs::write(
            &path,
            conf.render_with_module(module, &prefix, rtmp_port, http_port),
        )
        .expect("write conf");
        Nginx {
            prefix,
            conf: path,
            rtmp_port,
            http_port,
            host: conf.host.clone(),
            binary: if module == Path::new(C_RTMP_MODULE) {
                PathBuf::from(NGINX)
            } else {
                nginx_binary()
            },
            child: None,
        }
    }

    fn command(&self) -> Command {
        let mut c = Command::new(&self.binary);
        c.arg("-p").arg(&self.prefix).arg("-c").arg(&self.conf);
        c
    }

    /// `nginx -t` on the prepared config.
    pub fn test_config(&self) -> Output {
        self.command().arg("-t").output().expect("run nginx -t")
    }

    pub fn start(name: &str, conf: &Conf) -> Nginx {
        Nginx::start_with_module(name, conf, &module_path())
    }

    /// Like [`Nginx::start`], loading `module` instead of ours.
    pub fn start_with_module(name: &str, conf: &Conf, module: &Path) -> Nginx {
        Nginx::start_prepared(Nginx::prepare_with_module(name, conf, module))
    }

    /// Starts an nginx whose prefix the test prepared further (files the config refers to).
    pub fn start_prepared(n: Nginx) -> Nginx {
        let port = n.rtmp_port;
        Nginx::start_prepared_on(n, port)
    }

    /// Like [`Nginx::start_prepared`], waiting for `port` (an nginx without RTMP).
    pub fn start_prepared_on(mut n: Nginx, port: u16) -> Nginx {
        let t = n.test_config();
        assert!(
            t.status.success(),
            "nginx -t failed:\n{}",
            String::from_utf8_lossy(&t.stderr)
        );
        let child = n
            .command()
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        n.child = Some(child);
        n.wait_listening(port);
        n.assert_bound();
        n
    }

    /// nginx logs each listener it could not bind and retries those for two seconds while
    /// the others already accept connections; it starts its workers only once every listener
    /// is bound. A port taken by something else is said here, rather than as the connections
    /// nginx resets when it gives up.
    fn assert_bound(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.error_log();
            assert!(
                !log.contains("bind() to"),
                "nginx could not bind a listener:\n{log}"
            );
            if log.contains("start worker process") {
                return;
            }
            assert!(Instant::now() < deadline, "nginx started no worker:\n{log}");
            sleep(Duration::from_millis(20));
        }
    }

    pub fn wait_listening(&self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if TcpStream::connect((self.host.as_str(), port)).is_ok() {
                return;
            }
            sleep(Duration::from_millis(50));
        }
        panic!("nginx did not listen on {port}; log:\n{}", self.error_log());
    }

    pub fn rtmp_url(&self, app: &str, name: &str) -> String {
        format!("rtmp://{}:{}/{app}/{name}", self.host, self.rtmp_port)
    }

    pub fn error_log(&self) -> String {
        fs::read_to_string(self.prefix.join("logs/error.log")).unwrap_or_default()
    }

    /// Waits until the error log contains `needle`.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        self.wait_log_times(needle, 1, timeout)
    }

    /// Waits until `needle` is in the error log at least `times` times (one line per client,
    /// say).
    pub fn wait_log_times(&self, needle: &str, times: usize, timeout: Duration) -> bool {
        super::wait::until(timeout, || {
            self.error_log().matches(needle).count() >= times
        })
    }

    /// `nginx -s SIG` (reload, quit, ...).
    pub fn signal(&self, sig: &str) {
        let st = self
            .command()
            .arg("-s")
            .arg(sig)
            .status()
            .expect("nginx -s");
        assert!(st.success(), "nginx -s {sig} failed");
    }

    /// Sends `nginx -s SIG` (quit, stop) and waits for the master to exit; returns whether it
    /// exited normally (not on a signal such as SIGSEGV) with status 0.
    pub fn shut_down(&mut self, sig: &str) -> bool {
        self.signal(sig);
        let Some(mut child) = self.child.take() else {
            return false;
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// Fails the test if any worker died on a signal (a crash), panicked, or nginx logged an
    /// alert or emergency.
    pub fn assert_no_crash(&self) {
        let log = self.error_log();
        for bad in ["exited on signal", "[alert]", "[emerg]", "panicked"] {
            assert!(!log.contains(bad), "error log contains {bad:?}:\n{log}");
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// ffmpeg, quiet (errors only, on a piped stderr), never reading stdin.
pub fn ffmpeg() -> Command {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-nostdin", "-loglevel", "error"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// Real ffmpeg publishing a test pattern (H.264 30 fps, 2 s GOP + AAC) for `secs` seconds in
/// real time.
pub fn ffmpeg_publish(url: &str, secs: u32) -> Command {
    let mut cmd = ffmpeg();
    cmd.arg("-re")
        .args(["-f", "lavfi", "-i", "testsrc=size=320x240:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
        .args(["-t", &secs.to_string()])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
        ])
        .args(["-g", "60", "-pix_fmt", "yuv420p"])
        .args(["-c:a", "aac", "-b:a", "64k"])
        .args(["-f", "flv", url]);
    cmd
}

/// ffmpeg publishing a file as is (`-re`, `-c copy`): the server receives exactly the
/// file's packets, so tests know what was sent.
pub fn ffmpeg_publish_file(input: &Path, url: &str) -> Command {
    let mut cmd = ffmpeg();
    cmd.args(["-re", "-i"])
        .arg(input)
        .args(["-c", "copy", "-f", "flv", url]);
    cmd
}

/// Whether real ffmpeg can play `url` for one second (copying the streams to nowhere) within
/// 20 s: a player the server accepts and feeds.
pub fn ffmpeg_plays(url: &str) -> bool {
    let mut cmd = ffmpeg();
    cmd.args(["-t", "1", "-i", url, "-c", "copy", "-f", "null", "-"]);
    run_with_timeout(cmd, Duration::from_secs(20)).0
}

/// Runs a command to completion with a timeout; returns (success, stderr).
pub fn run_with_timeout(mut cmd: Command, timeout: Duration) -> (bool, String) {
    let mut child = cmd.spawn().expect("spawn");
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            return (status.success(), err);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return (false, "timed out".into());
        }
        sleep(Duration::from_millis(50));
    }
}

/// Whether the server closed `s` within `timeout` (reads until EOF or error).
pub fn closed_within(s: &mut TcpStream, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let _ = s.set_read_timeout(Some(Duration::from_millis(100)));
    let mut buf = [0u8; 65536];
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return true,
        }
    }
    false
}
