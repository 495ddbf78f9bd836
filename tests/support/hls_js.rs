//! hls.js in headless Chromium: a page that plays an HLS URL (installed next to hls.js in a
//! directory nginx serves) and `tests/player/play.mjs` (playwright-core, installed by
//! scripts/test.sh) that watches the video element's currentTime and reports it, with hls.js's
//! own `latency` estimate.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub const PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>ngx-rtmp hls.js check</title></head>
<body style="margin:0;background:#111;color:#eee;font:14px sans-serif">
<video id="v" muted autoplay playsinline width="640" height="480"></video>
<div id="status"></div>
<script src="hls.min.js"></script>
<script>
window.__errors = []; window.__log = [];
const v = document.getElementById('v');
v.addEventListener('error', () => window.__errors.push('video error event, code ' + (v.error && v.error.code)));
const src = new URLSearchParams(location.search).get('src');
if (window.Hls && Hls.isSupported()) {
  // `?ll=1`: Low-Latency HLS (parts, preload hints, blocking reloads) explicitly on.
  const ll = new URLSearchParams(location.search).get('ll') === '1';
  const hls = new Hls(ll ? { lowLatencyMode: true } : {});
  window.__hls = hls;
  hls.on(Hls.Events.ERROR, (_e, d) => {
    const msg = 'hls.js ' + d.type + ' ' + d.details + (d.fatal ? ' (fatal)' : '');
    (d.fatal ? window.__errors : window.__log).push(msg);
  });
  hls.on(Hls.Events.MANIFEST_PARSED, () => {
    window.__log.push('manifest parsed');
    v.play().catch((e) => window.__log.push('play(): ' + e));
  });
  hls.loadSource(src);
  hls.attachMedia(v);
} else {
  window.__errors.push('hls.js not supported here (no MSE?)');
}
setInterval(() => { document.getElementById('status').textContent = 't=' + v.currentTime.toFixed(2); }, 250);
</script>
</body></html>
"#;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Writes the page (`index.html`, taking the playlist URL from `?src=`) and `hls.min.js`
/// into `dir`.
pub fn install_page(dir: &Path) {
    install_player_page(dir, "hls.js/dist/hls.min.js", "hls.min.js", PAGE);
}

/// Writes `page` as `index.html` and the player library `lib` (a path under
/// tests/player/node_modules) as `name` into `dir`, after checking that play.mjs can run.
pub fn install_player_page(dir: &Path, lib: &str, name: &str, page: &str) {
    let player_dir = repo().join("tests/player");
    let js = player_dir.join("node_modules").join(lib);
    assert!(
        js.is_file() && player_dir.join("node_modules/playwright-core").is_dir(),
        "tests/player/node_modules is missing: scripts/test.sh installs it (npm ci in tests/player)"
    );
    assert!(
        Path::new("/usr/bin/chromium").is_file(),
        "chromium missing: scripts/test.sh installs it"
    );
    fs::create_dir_all(dir).unwrap();
    fs::copy(&js, dir.join(name)).unwrap();
    fs::write(dir.join("index.html"), page).unwrap();
}

/// What play.mjs reported.
pub struct Played {
    pub stdout: String,
    pub stderr: String,
    pub success: bool,
}

/// Plays `page_url` for `watch_secs` and saves a screenshot as `target/e2e/<shot>`.
pub fn play(page_url: &str, shot: &str, watch_secs: f64) -> Played {
    let shot_dir = repo().join("target/e2e");
    fs::create_dir_all(&shot_dir).unwrap();
    let shot = shot_dir.join(shot);
    let _ = fs::remove_file(&shot);
    let out = Command::new("node")
        .arg(repo().join("tests/player/play.mjs"))
        .arg(page_url)
        .arg(&shot)
        .arg(watch_secs.to_string())
        .stdin(Stdio::null())
        .output()
        .expect("run node tests/player/play.mjs");
    Played {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        success: out.status.success(),
    }
}

impl Played {
    /// Fails unless playback started, raised no error and advanced for most of `watch_secs`;
    /// `ctx` adds logs to the message. Returns the decoded picture size (`"W H"`).
    pub fn assert_played(&self, watch_secs: f64, ctx: &dyn Fn() -> String) -> String {
        let ctx = || {
            format!(
                "stdout:\n{}\nstderr:\n{}\n{}",
                self.stdout,
                self.stderr,
                ctx()
            )
        };
        assert!(self.success, "play.mjs failed: {}", ctx());
        let errors: Vec<&str> = self
            .stdout
            .lines()
            .filter_map(|l| l.strip_prefix("error "))
            .collect();
        assert!(errors.is_empty(), "player errors: {errors:?}\n{}", ctx());
        assert!(
            self.stdout.lines().any(|l| l == "started true"),
            "playback never started\n{}",
            ctx()
        );
        let samples: Vec<f64> = self
            .stdout
            .lines()
            .filter_map(|l| l.strip_prefix("sample "))
            .filter_map(|l| l.split_whitespace().nth(1)?.parse().ok())
            .collect();
        assert!(samples.len() >= 10, "too few samples: {samples:?}");
        for w in samples.windows(2) {
            assert!(w[1] >= w[0], "currentTime went back: {samples:?}");
        }
        let advanced = samples.last().unwrap() - samples.first().unwrap();
        // Watched for watch_secs of wall time: playback must have run for most of it.
        assert!(
            advanced >= watch_secs - 2.5,
            "currentTime advanced only {advanced:.2} s in {watch_secs} s: {samples:?}\n{}",
            ctx()
        );
        self.stdout
            .lines()
            .find_map(|l| l.strip_prefix("video_size "))
            .unwrap_or("")
            .to_owned()
    }

    /// hls.js's `latency` (s) at each sample that had one.
    pub fn latencies(&self) -> Vec<f64> {
        self.stdout
            .lines()
            .filter_map(|l| l.strip_prefix("latency_sample "))
            .filter_map(|l| l.split_whitespace().nth(1)?.parse().ok())
            .collect()
    }
}

/// Waits until the live playlist at `playlist` lists `segments` segments, while `publisher`
/// keeps publishing (fails the test after 20 s, or if the publisher exits).
pub fn wait_listed(
    n: &super::nginx::Nginx,
    playlist: &Path,
    publisher: &mut std::process::Child,
    segments: usize,
) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while fs::read_to_string(playlist).map_or(0, |t| t.matches("#EXTINF").count()) < segments {
        assert!(
            std::time::Instant::now() < deadline,
            "no playlist with {segments} segments:\n{}",
            n.error_log()
        );
        assert!(
            publisher.try_wait().unwrap().is_none(),
            "publisher exited early"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
