//! RTMP playback end to end: ffmpeg publishes, ffmpeg and a test player play.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use support::nginx::{ffmpeg, ffmpeg_publish, ffmpeg_publish_file, run_with_timeout, Conf, Nginx};
use support::player::{check_stream, TestPlayer};

const TIMEOUT: Duration = Duration::from_secs(90);

/// A 6 s (or 10 s) test pattern, 30 fps, 2 s GOP, AAC, as FLV: published as is, so the tests
/// know exactly what was sent.
fn source(secs: u32) -> PathBuf {
    source_with(secs, "320x240", "500k")
}

fn source_with(secs: u32, size: &str, bitrate: &str) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let d = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("target/e2e/play-src-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    });
    let path = dir.join(format!("src{secs}-{size}-{bitrate}.flv"));
    if !path.exists() {
        let tmp = dir.join(format!("src{secs}-{size}-{bitrate}.tmp.flv"));
        let st = Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-y"])
            .args([
                "-f",
                "lavfi",
                "-i",
                &format!("testsrc2=size={size}:rate=30"),
            ])
            .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
            .args(["-t", &secs.to_string()])
            .args([
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-g",
                "60",
                "-keyint_min",
                "60",
                "-sc_threshold",
                "0",
            ])
            .args([
                "-b:v", bitrate, "-minrate", bitrate, "-maxrate", bitrate, "-bufsize", bitrate,
            ])
            .args([
                "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k", "-f", "flv",
            ])
            .arg(&tmp)
            .status()
            .unwrap();
        assert!(st.success());
        std::fs::rename(&tmp, &path).unwrap();
    }
    path
}

/// (video, audio) packet counts of a file, by ffprobe.
fn packets(file: &Path) -> (usize, usize) {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "packet=codec_type",
            "-of",
            "csv=p=0",
        ])
        .arg(file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let v = text.lines().filter(|l| l.trim() == "video").count();
    let a = text.lines().filter(|l| l.trim() == "audio").count();
    (v, a)
}

fn ffmpeg_play(url: &str, out: &Path) -> Command {
    let mut cmd = ffmpeg();
    cmd.args(["-y", "-i", url, "-c", "copy", "-f", "flv"])
        .arg(out);
    cmd
}

fn live_conf(extra: &str) -> Conf {
    Conf::rtmp(&format!(
        "{extra} server {{ listen 127.0.0.1:{{rtmp_port}}; application live {{ live on; }} }}"
    ))
}

#[test]
fn players_waiting_before_publish_get_every_frame() {
    let n = Nginx::start("play-all", &live_conf(""));
    let src = source(6);
    let (src_v, src_a) = packets(&src);
    let url = n.rtmp_url("live", "all");
    // Players first: with idle streams they wait for the publisher and get everything.
    let outs: Vec<PathBuf> = (0..3)
        .map(|i| n.prefix.join(format!("ff{i}.flv")))
        .collect();
    let players: Vec<_> = outs
        .iter()
        .map(|o| ffmpeg_play(&url, o).spawn().unwrap())
        .collect();
    let port = n.rtmp_port;
    let test_player = thread::spawn(move || {
        let mut p = TestPlayer::play(port, "live", "all");
        p.collect(Instant::now() + Duration::from_secs(30), usize::MAX)
    });
    // Every player waits before the publish starts: 3 ffmpeg players and ours.
    assert!(
        n.wait_log_times("(waiting for its publisher)", 4, Duration::from_secs(20)),
        "{}",
        n.error_log()
    );
    let (ok, err) = run_with_timeout(ffmpeg_publish_file(&src, &url), TIMEOUT);
    assert!(ok, "publish failed: {err}");
    for (i, p) in players.into_iter().enumerate() {
        let out = p.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "ffmpeg player {i}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            packets(&outs[i]),
            (src_v, src_a),
            "ffmpeg player {i} frames (video, audio)"
        );
    }
    let got = test_player.join().unwrap();
    let video = check_stream(&got).unwrap();
    assert_eq!(video, src_v, "test player video frames");
    n.assert_no_crash();
}

#[test]
fn joining_mid_gop_starts_at_a_keyframe_at_once() {
    let n = Nginx::start("play-join", &live_conf(""));
    let src = source(10);
    let url = n.rtmp_url("live", "join");
    let publisher = ffmpeg_publish_file(&src, &url).spawn().unwrap();
    assert!(n.wait_log("publishes \"live/join\"", Duration::from_secs(10)));
    // 3.1 s in: 1.1 s into the second GOP.
    thread::sleep(Duration::from_millis(3100));
    let mut p = TestPlayer::play(n.rtmp_port, "live", "join");
    let got = p.collect(Instant::now() + Duration::from_secs(3), usize::MAX);
    let first_key = got.iter().find(|g| g.keyframe).expect("no keyframe");
    let delay = first_key.at - p.play_sent;
    eprintln!("join mid-GOP: first keyframe after {delay:?}");
    assert!(
        delay < Duration::from_millis(300),
        "first keyframe after {delay:?}"
    );
    check_stream(&got).unwrap();
    // The burst carried the GOP so far (about 33 frames), then live frames follow.
    let burst = got
        .iter()
        .filter(|g| g.type_id == 9 && g.at - p.play_sent < Duration::from_millis(300))
        .count();
    assert!(burst >= 20, "only {burst} video frames in the join burst");
    let _ = publisher.wait_with_output();
    n.assert_no_crash();
}

#[test]
fn two_hundred_players_at_full_rate() {
    let n = Nginx::start("play-200", &live_conf(""));
    let src = source(10);
    let url = n.rtmp_url("live", "many");
    let publisher = ffmpeg_publish_file(&src, &url).spawn().unwrap();
    assert!(n.wait_log("publishes \"live/many\"", Duration::from_secs(10)));
    let port = n.rtmp_port;
    let start = Instant::now();
    let players: Vec<_> = (0..200)
        .map(|_| {
            thread::spawn(move || {
                let mut p = TestPlayer::play(port, "live", "many");
                p.collect(start + Duration::from_secs(6), usize::MAX)
            })
        })
        .collect();
    let mut min_video = usize::MAX;
    for (i, t) in players.into_iter().enumerate() {
        let got = t.join().unwrap();
        let v = check_stream(&got).unwrap_or_else(|e| panic!("player {i}: {e}"));
        min_video = min_video.min(v);
    }
    // 6 s of playing at 30 fps (plus the join burst): nobody fell behind.
    assert!(
        min_video >= 170,
        "slowest player got {min_video} video frames in 6 s"
    );
    let _ = publisher.wait_with_output();
    n.assert_no_crash();
}

fn worker_rss_kb(n: &Nginx) -> u64 {
    let master = std::fs::read_to_string(n.prefix.join("nginx.pid")).unwrap();
    let out = Command::new("pgrep")
        .args(["-P", master.trim()])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{}/status", pid.trim())).ok())
        .filter_map(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<u64>().ok())
            })
        })
        .sum()
}

#[test]
fn stalled_player_hurts_nobody_and_is_bounded() {
    let n = Nginx::start("play-stall", &live_conf("timeout 4s; player_buffer 256k;"));
    // 4 Mbit/s: 5 MB in 10 s, far more than the stalled player's socket buffers hold.
    let src = source_with(10, "640x360", "4M");
    let url = n.rtmp_url("live", "stall");
    let publisher = ffmpeg_publish_file(&src, &url).spawn().unwrap();
    assert!(n.wait_log("publishes \"live/stall\"", Duration::from_secs(10)));
    // A player that plays and never reads.
    let stalled = TestPlayer::play_stalled(n.rtmp_port, "live", "stall");
    let rss_before = worker_rss_kb(&n);
    let port = n.rtmp_port;
    let healthy = thread::spawn(move || {
        let mut p = TestPlayer::play(port, "live", "stall");
        p.collect(Instant::now() + Duration::from_secs(7), usize::MAX)
    });
    let got = healthy.join().unwrap();
    let v = check_stream(&got).unwrap();
    assert!(
        v >= 200,
        "healthy player got {v} video frames in 7 s next to a stalled one"
    );
    let rss_after = worker_rss_kb(&n);
    assert!(
        rss_after < rss_before + 16 * 1024,
        "worker memory grew from {rss_before} kB to {rss_after} kB with a stalled player"
    );
    assert!(
        n.wait_log("send timed out", Duration::from_secs(8)),
        "stalled player not closed:\n{}",
        n.error_log()
    );
    drop(stalled);
    let _ = publisher.wait_with_output();
    n.assert_no_crash();
}

#[test]
fn two_workers_every_player_gets_the_stream() {
    let n = Nginx::start("play-workers", &live_conf("").workers(2));
    let src = source(6);
    let (src_v, _) = packets(&src);
    let url = n.rtmp_url("live", "w");
    let port = n.rtmp_port;
    let publisher = ffmpeg_publish_file(&src, &url).spawn().unwrap();
    assert!(n.wait_log("publishes \"live/w\"", Duration::from_secs(10)));
    let plays = |log: &str| -> Vec<String> {
        log.lines()
            .filter(|l| l.contains("plays \"live/w\""))
            .filter_map(|l| l.split_whitespace().nth(3).map(str::to_owned))
            .collect()
    };
    // nginx hands connections to whichever worker wakes first: add players until both
    // workers have some (and at least six in all).
    let mut players = Vec::new();
    loop {
        players.push(thread::spawn(move || {
            let mut p = TestPlayer::play(port, "live", "w");
            p.collect(Instant::now() + Duration::from_secs(20), usize::MAX)
        }));
        let deadline = Instant::now() + Duration::from_secs(5);
        while plays(&n.error_log()).len() < players.len() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        let pids: std::collections::HashSet<String> = plays(&n.error_log()).into_iter().collect();
        if pids.len() == 2 && players.len() >= 6 {
            break;
        }
        assert!(
            players.len() < 60,
            "60 players, all on one worker:\n{}",
            n.error_log()
        );
    }
    for (i, t) in players.into_iter().enumerate() {
        let got = t.join().unwrap();
        let v = check_stream(&got).unwrap_or_else(|e| panic!("player {i}: {e}"));
        // Joined within the first GOPs: everything from a keyframe on.
        assert!(
            v >= src_v - 90,
            "player {i} got {v} of {src_v} video frames"
        );
    }
    let _ = publisher.wait_with_output();
    n.assert_no_crash();
}

/// The publisher's worker writes the shared ring only while another worker reads it: a
/// player on the other worker starts at once (the publisher writes its GOP first); after it
/// leaves and the ring has gone idle (over 5 s), a new player there still starts at a keyframe,
/// at once, and plays on.
#[test]
fn two_workers_ring_goes_idle_and_resumes() {
    let n = Nginx::start("play-ring", &live_conf("").workers(2));
    let src = source(20);
    let url = n.rtmp_url("live", "ring");
    let port = n.rtmp_port;
    let publisher = ffmpeg_publish_file(&src, &url).spawn().unwrap();
    assert!(n.wait_log("publishes \"live/ring\"", Duration::from_secs(10)));
    let pid_of = |needle: &str| -> Vec<String> {
        n.error_log()
            .lines()
            .filter(|l| l.contains(needle))
            .filter_map(|l| l.split_whitespace().nth(3).map(str::to_owned))
            .collect()
    };
    let publisher_pid = pid_of("publishes \"live/ring\"").pop().unwrap();
    // nginx hands connections to whichever worker wakes first: open players until one lands
    // on the worker that does not publish.
    let remote_player = || -> TestPlayer {
        for _ in 0..60 {
            let before = pid_of("plays \"live/ring\"").len();
            let p = TestPlayer::play(port, "live", "ring");
            let deadline = Instant::now() + Duration::from_secs(5);
            let mut plays = pid_of("plays \"live/ring\"");
            while plays.len() <= before && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(20));
                plays = pid_of("plays \"live/ring\"");
            }
            if plays.last().is_some_and(|pid| *pid != publisher_pid) {
                return p;
            }
        }
        panic!("60 players, none on the other worker:\n{}", n.error_log());
    };
    for round in 0..2 {
        let mut p = remote_player();
        let got = p.collect(Instant::now() + Duration::from_secs(3), usize::MAX);
        let pictures = check_stream(&got).unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert!(pictures >= 60, "round {round}: {pictures} pictures in 3 s");
        let first = got
            .iter()
            .find(|g| g.type_id == 9 && !g.sequence_header)
            .unwrap();
        let wait = first.at - p.play_sent;
        assert!(
            wait < Duration::from_millis(500),
            "round {round}: first picture after {wait:?}"
        );
        drop(p);
        if round == 0 {
            // No reader for longer than WANT_MS (5 s): the publisher stops writing the ring.
            thread::sleep(Duration::from_secs(6));
        }
    }
    let _ = publisher.wait_with_output();
    n.assert_no_crash();
}

#[test]
fn reload_while_players_watch() {
    let n = Nginx::start("play-reload", &live_conf(""));
    let src = source(10);
    let (src_v, _) = packets(&src);
    let url = n.rtmp_url("live", "r");
    let port = n.rtmp_port;
    let early = thread::spawn(move || {
        let mut p = TestPlayer::play(port, "live", "r");
        p.collect(Instant::now() + Duration::from_secs(30), usize::MAX)
    });
    assert!(n.wait_log("(waiting for its publisher)", Duration::from_secs(10)));
    let publisher = ffmpeg_publish_file(&src, &url).spawn().unwrap();
    assert!(n.wait_log("publishes \"live/r\"", Duration::from_secs(10)));
    thread::sleep(Duration::from_secs(2));
    n.signal("reload");
    // Once the old worker has its QUIT, it accepts no more: the next player is the new
    // worker's, and gets the stream from the old worker's ring.
    assert!(n.wait_log("gracefully shutting down", Duration::from_secs(10)));
    let mut late = TestPlayer::play(port, "live", "r");
    let late_got = late.collect(Instant::now() + Duration::from_secs(4), usize::MAX);
    let v = check_stream(&late_got).unwrap();
    assert!(v >= 60, "player after reload got {v} video frames");
    let got = early.join().unwrap();
    assert_eq!(
        check_stream(&got).unwrap(),
        src_v,
        "player across the reload lost frames"
    );
    let _ = publisher.wait_with_output();
    n.assert_no_crash();
}

/// The default `play_flush_interval` (50 ms: players' output batched) and 0 (every message
/// written at once, as nginx-rtmp) both deliver every frame without stalls.
#[test]
fn play_flush_default_batches_without_losing_frames() {
    flush_interval_keeps_every_frame("play-flush", "");
}

#[test]
fn play_flush_interval_0_writes_every_message() {
    flush_interval_keeps_every_frame("play-flush0", "play_flush_interval 0;");
}

fn flush_interval_keeps_every_frame(prefix: &str, directive: &str) {
    let n = Nginx::start(prefix, &live_conf(directive));
    let src = source(6);
    let (src_v, _) = packets(&src);
    let port = n.rtmp_port;
    let players: Vec<_> = (0..20)
        .map(|_| {
            thread::spawn(move || {
                let mut p = TestPlayer::play(port, "live", "batched");
                p.collect(Instant::now() + Duration::from_secs(25), usize::MAX)
            })
        })
        .collect();
    assert!(
        n.wait_log_times("(waiting for its publisher)", 20, Duration::from_secs(20)),
        "{}",
        n.error_log()
    );
    let (ok, err) = run_with_timeout(
        ffmpeg_publish_file(&src, &n.rtmp_url("live", "batched")),
        TIMEOUT,
    );
    assert!(ok, "{err}");
    for (i, t) in players.into_iter().enumerate() {
        let got = t.join().unwrap();
        assert_eq!(check_stream(&got).unwrap(), src_v, "player {i}");
        // Messages arrive in batches at most 50 ms (plus scheduling) apart while streaming.
        let video: Vec<_> = got.iter().filter(|g| g.type_id == 9).collect();
        let gaps = video
            .windows(2)
            .filter(|w| w[1].at - w[0].at > Duration::from_millis(400))
            .count();
        assert_eq!(gaps, 0, "player {i}: stalls between batches");
    }
    n.assert_no_crash();
}

/// The worker of a publisher is killed (SIGKILL: its ring slot is never closed). A player on
/// the other worker is not stranded on the dead slot: its feed ends within a few seconds,
/// and it gets the stream of the name's next publisher.
#[test]
fn a_killed_publishers_worker_does_not_strand_players_of_the_other_worker() {
    let n = Nginx::start("play-killed", &live_conf("").workers(2));
    let url = n.rtmp_url("live", "k");
    let port = n.rtmp_port;
    let mut first = ffmpeg_publish(&url, 60).spawn().unwrap();
    assert!(n.wait_log("publishes \"live/k\"", Duration::from_secs(10)));
    let pid_of = |needle: &str| -> Vec<String> {
        n.error_log()
            .lines()
            .filter(|l| l.contains(needle))
            .filter_map(|l| {
                l.split_whitespace()
                    .nth(3)?
                    .split('#')
                    .next()
                    .map(str::to_owned)
            })
            .collect()
    };
    let publisher_pid = pid_of("publishes \"live/k\"")[0].clone();
    // Players until one plays on the other worker; each collects for 30 s.
    let mut players = Vec::new();
    let other = loop {
        let t = thread::spawn(move || {
            let mut p = TestPlayer::play(port, "live", "k");
            p.collect(Instant::now() + Duration::from_secs(30), usize::MAX)
        });
        players.push(t);
        let deadline = Instant::now() + Duration::from_secs(5);
        while pid_of("plays \"live/k\"").len() < players.len() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        let pids = pid_of("plays \"live/k\"");
        if let Some(i) = pids.iter().position(|p| *p != publisher_pid) {
            break i;
        }
        assert!(
            players.len() < 40,
            "40 players, all on the publisher's worker"
        );
    };
    thread::sleep(Duration::from_secs(1));
    let status = Command::new("kill")
        .args(["-9", &publisher_pid])
        .status()
        .unwrap();
    assert!(status.success());
    let _ = first.wait();
    // The next publisher of the name, on whichever worker nginx gives it.
    thread::sleep(Duration::from_millis(500));
    let republished = Instant::now();
    let mut second = ffmpeg_publish(&url, 20).spawn().unwrap();
    let got = players.remove(other).join().unwrap();
    let _ = second.kill();
    let _ = second.wait();
    let after = got
        .iter()
        .filter(|g| g.type_id == 9 && !g.sequence_header && g.at > republished)
        .count();
    assert!(
        after >= 60,
        "the player on the other worker got {after} video frames of the next publisher:\n{}",
        n.error_log()
    );
    for t in players {
        let _ = t.join();
    }
}
