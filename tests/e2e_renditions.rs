//! Transcoded renditions (`hls_rendition`) end to end: real nginx, real ffmpeg publishing a
//! 640x360 test pattern into an application with a 480p (skipped: no upscaling), a 240p and
//! a 180p rendition. `cam.m3u8` must be a master playlist listing the source (`cam_src`) and
//! the kept renditions with what ffprobe sees in their segments; every rendition's segments
//! line up with the source's; `cam.mpd` holds one representation per rendition; the encoders
//! are supervised (respawned after a crash, stopped with their publisher, one per rendition
//! after a reload, gone with a killed worker, backoff for one that fails at once); and
//! `transcode_max` serves a stream over the limit at its source quality.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use support::m3u8::parse_m3u8;
use support::master::{bit_rate, check_media_facts, first_video_pts, parse_master};
use support::nginx::{ffmpeg, Conf, Nginx};
use support::wait;

const FRAGMENT_S: u64 = 2;
/// The renditions a 360p source runs (480p is skipped).
const RENDITIONS: [&str; 2] = ["cam_240p", "cam_180p"];
const MEMBERS: [&str; 3] = ["cam_src", "cam_240p", "cam_180p"];

/// Encodes run one test at a time: the machine has few cores and timing matters.
static ENCODING: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn encoding() -> std::sync::MutexGuard<'static, ()> {
    ENCODING.lock().unwrap_or_else(|e| e.into_inner())
}

fn conf_with(extra_app: &str, server: &str) -> Conf {
    Conf::rtmp(&format!(
        "server {{ listen 127.0.0.1:{{rtmp_port}}; {server}
           application live {{ live on; hls on; hls_path {{prefix}}/www/hls; hls_fragment {FRAGMENT_S};
             hls_playlist_length 60;
             hls_rendition 480p height=480 bitrate=600k preset=ultrafast;
             hls_rendition 240p height=240 bitrate=250k audio_bitrate=64k preset=ultrafast;
             hls_rendition 180p height=180 bitrate=150k audio_bitrate=48k preset=ultrafast;
             {extra_app} }} }}"
    ))
    .http("location /stat { rtmp_stat all; }")
}

fn conf() -> Conf {
    conf_with("", "")
}

/// ffmpeg publishing a 640x360 30 fps test pattern (2 s GOP) with AAC for `secs` seconds.
fn publish(n: &Nginx, name: &str, secs: u64) -> Child {
    let secs = secs.to_string();
    let mut cmd = ffmpeg();
    cmd.arg("-re")
        .args([
            "-t",
            &secs,
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=30",
        ])
        .args([
            "-t",
            &secs,
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=44100",
        ])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ])
        .args(["-g", "60", "-b:v", "600k"])
        .args(["-c:a", "aac", "-b:a", "64k", "-ar", "44100"])
        .args(["-f", "flv"])
        .arg(n.rtmp_url("live", name));
    cmd.spawn().expect("start ffmpeg")
}

fn hls_dir(n: &Nginx) -> PathBuf {
    n.prefix.join("www/hls")
}

fn master(n: &Nginx) -> Option<String> {
    fs::read_to_string(hls_dir(n).join("cam.m3u8")).ok()
}

/// The member URIs the master lists now.
fn listed(n: &Nginx) -> Vec<String> {
    master(n)
        .map(|m| parse_master(&m).into_iter().map(|i| i.uri).collect())
        .unwrap_or_default()
}

/// Pids of the running encoders (ffmpeg reading FLV on stdin) whose parent is a worker of
/// `n` (any worker: the master's children).
fn encoders(n: &Nginx) -> Vec<(i32, String)> {
    let master_pid: i32 = fs::read_to_string(n.prefix.join("nginx.pid"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    let workers = children_of(master_pid);
    workers
        .iter()
        .flat_map(|w| children_of(*w))
        .filter_map(|pid| {
            let cmd = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            cmd.contains("pipe:0").then_some((pid, cmd))
        })
        .collect()
}

fn children_of(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(dir) = fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(stat) = fs::read_to_string(format!("/proc/{p}/stat")) {
            // pid (comm) state ppid ...
            let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
            let mut f = after.split_whitespace();
            let state = f.next().unwrap_or("");
            let ppid: i32 = f.next().and_then(|v| v.parse().ok()).unwrap_or(0);
            if ppid == pid && state != "Z" {
                out.push(p);
            }
        }
    }
    out
}

/// Zombie children of `pid`.
fn zombies_of(pid: i32) -> usize {
    let Ok(dir) = fs::read_dir("/proc") else {
        return 0;
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<i32>().ok())
        .filter(|p| {
            fs::read_to_string(format!("/proc/{p}/stat")).is_ok_and(|stat| {
                let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
                let mut f = after.split_whitespace();
                f.next() == Some("Z") && f.next().and_then(|v| v.parse().ok()) == Some(pid)
            })
        })
        .count()
}

/// The rendition (`240p`, ...) an encoder's command line scales to.
fn rendition_of(cmd: &str) -> String {
    cmd.split_whitespace()
        .find_map(|a| a.strip_prefix("scale="))
        .and_then(|s| s.split(',').next())
        .and_then(|s| s.split_once(':'))
        .map(|(_, h)| format!("{h}p"))
        .unwrap_or_default()
}

/// The error log has no line a supervision failure would write.
fn assert_clean_log(n: &Nginx) {
    let log = n.error_log();
    for bad in ["unknown process", "exited on signal"] {
        assert!(!log.contains(bad), "\"{bad}\" in the error log:\n{log}");
    }
}

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

/// The master against the members' playlists: source first, the kept renditions, no 480p,
/// CODECS/RESOLUTION/FRAME-RATE as ffprobe sees the last segment, BANDWIDTH at least the peak.
fn check_master(dir: &Path) -> Result<(), String> {
    let before: Vec<Option<String>> = MEMBERS
        .iter()
        .map(|m| fs::read_to_string(dir.join(format!("{m}.m3u8"))).ok())
        .collect();
    let master = fs::read_to_string(dir.join("cam.m3u8")).map_err(|e| e.to_string())?;
    let after: Vec<Option<String>> = MEMBERS
        .iter()
        .map(|m| fs::read_to_string(dir.join(format!("{m}.m3u8"))).ok())
        .collect();
    ensure!(before == after, "a member playlist changed during the read");
    let infs = parse_master(&master);
    let uris: Vec<&str> = infs.iter().map(|i| i.uri.as_str()).collect();
    ensure!(
        uris == ["cam_src.m3u8", "cam_240p.m3u8", "cam_180p.m3u8"],
        "members {uris:?}:\n{master}"
    );
    ensure!(
        !master.contains("480p"),
        "a skipped rendition listed:\n{master}"
    );
    for (m, text) in MEMBERS.iter().zip(&after) {
        let inf = infs
            .iter()
            .find(|i| i.uri == format!("{m}.m3u8"))
            .ok_or_else(|| format!("{m} not in master:\n{master}"))?;
        let p = parse_m3u8(text.as_deref().ok_or("no member playlist")?);
        let last = p.entries.last().ok_or("no segment")?;
        check_media_facts(inf, &dir.join(&last.uri), m, &master)?;
        let peak = p
            .entries
            .iter()
            .map(|e| bit_rate(&dir.join(&e.uri), e.duration_ms))
            .max()
            .unwrap();
        let bw: u64 = inf.get("BANDWIDTH").unwrap().parse().unwrap();
        ensure!(bw >= peak, "{m}: BANDWIDTH {bw} below the peak {peak}");
        ensure!(
            inf.get("AVERAGE-BANDWIDTH").is_some(),
            "{m}: no AVERAGE-BANDWIDTH"
        );
    }
    Ok(())
}

/// The ladder over ~34 s of media: the master (checked while live), the alignment of every
/// rendition with the source, one TARGETDURATION, the MPD's representations, RTMP play of a
/// rendition, stat's view of the encoders; then, after unpublish, no encoder and no zombie
/// within 2 s, ENDLIST everywhere and no master.
#[test]
fn ladder_master_alignment_and_mpd() {
    let _serial = encoding();
    let n = Nginx::start(
        "renditions-ladder",
        &conf_with("dash on; dash_path {prefix}/www/dash; dash_fragment 2;", ""),
    );
    let dir = hls_dir(&n);
    let mut publisher = publish(&n, "cam", 36);
    let started = Instant::now();
    let mut seen: BTreeMap<&str, BTreeMap<u64, (String, u64)>> = BTreeMap::new();
    let mut targets: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let (mut master_checked, mut last_error) = (false, String::new());
    let (mut mpd_checked, mut mpd_error) = (false, String::new());
    let mut stat_checked = false;
    let mut played = false;
    while started.elapsed() < Duration::from_secs(34) {
        for m in MEMBERS {
            if let Ok(text) = fs::read_to_string(dir.join(format!("{m}.m3u8"))) {
                let p = parse_m3u8(&text);
                if !p.errors.is_empty() {
                    continue;
                }
                if let Some(t) = text
                    .lines()
                    .find_map(|l| l.strip_prefix("#EXT-X-TARGETDURATION:"))
                {
                    targets.entry(m).or_default().insert(t.to_owned());
                }
                let s = seen.entry(m).or_default();
                for e in p.entries {
                    s.insert(e.seq, (e.uri, e.duration_ms));
                }
            }
        }
        if !master_checked && started.elapsed() > Duration::from_secs(14) {
            match check_master(&dir) {
                Ok(()) => master_checked = true,
                Err(e) => last_error = e,
            }
        }
        if !mpd_checked && started.elapsed() > Duration::from_secs(14) {
            if let Ok(mpd) = fs::read_to_string(n.prefix.join("www/dash/cam.mpd")) {
                let reps = mpd.matches("<Representation ").count();
                let heights: Vec<&str> = ["height=\"360\"", "height=\"240\"", "height=\"180\""]
                    .into_iter()
                    .filter(|h| mpd.contains(h))
                    .collect();
                // Three video representations and the source's audio.
                if reps >= 4 && heights.len() == 3 {
                    mpd_checked = true;
                } else {
                    mpd_error = format!("MPD:\n{mpd}");
                }
            }
        }
        if !played && started.elapsed() > Duration::from_secs(10) {
            played = support::nginx::ffmpeg_plays(&n.rtmp_url("live", "cam_240p"));
        }
        if !stat_checked && started.elapsed() > Duration::from_secs(8) {
            let running = encoders(&n);
            let mut kinds: Vec<String> = running.iter().map(|(_, c)| rendition_of(c)).collect();
            kinds.sort();
            assert_eq!(kinds, ["180p", "240p"], "encoders: {running:?}");
            let log_dir = n.prefix.join("logs/rtmp-children");
            for r in RENDITIONS {
                let f = log_dir.join(format!("transcode-live-{r}.log"));
                assert!(f.exists(), "no encoder log {}", f.display());
            }
            stat_checked = true;
        }
        sleep(Duration::from_millis(300));
    }
    assert!(master_checked, "master never right; last: {last_error}");
    assert!(mpd_checked, "MPD never right; last: {mpd_error}");
    assert!(played, "RTMP play of cam_240p failed");
    assert!(
        !dir.join("cam_480p.m3u8").exists(),
        "480p ran for a 360p source"
    );
    let status = publisher.wait().expect("ffmpeg");
    assert!(status.success(), "publisher failed");
    // Publisher gone: no encoder, no zombie, within 2 s (an encoder that just exited is a
    // zombie until the worker's next tick reaps it).
    let left = Instant::now();
    let zombies = || {
        let master_pid: i32 = fs::read_to_string(n.prefix.join("nginx.pid"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        children_of(master_pid)
            .iter()
            .map(|w| zombies_of(*w))
            .sum::<usize>()
    };
    assert!(
        wait::until(Duration::from_secs(2), || encoders(&n).is_empty()
            && zombies() == 0),
        "2 s after unpublish: encoders {:?}, zombies {}",
        encoders(&n),
        zombies()
    );
    eprintln!("encoders gone {:?} after unpublish", left.elapsed());
    // Every member ended; the master went with the last.
    assert!(
        wait::until(Duration::from_secs(3), || {
            MEMBERS.iter().all(|m| {
                fs::read_to_string(dir.join(format!("{m}.m3u8")))
                    .is_ok_and(|t| t.contains("#EXT-X-ENDLIST"))
            }) && master(&n).is_none()
        }),
        "members not ended or master left: {:?}",
        master(&n)
    );
    // Final playlists complete what was seen.
    for m in MEMBERS {
        let text = fs::read_to_string(dir.join(format!("{m}.m3u8"))).unwrap();
        let s = seen.entry(m).or_default();
        for e in parse_m3u8(&text).entries {
            s.insert(e.seq, (e.uri, e.duration_ms));
        }
    }
    let all_targets: BTreeSet<&String> = targets.values().flatten().collect();
    assert_eq!(all_targets.len(), 1, "TARGETDURATIONs {targets:?}");
    let last_of: BTreeMap<&str, u64> = seen
        .iter()
        .filter_map(|(m, s)| Some((*m, *s.keys().next_back()?)))
        .collect();
    let all: BTreeSet<u64> = seen.values().flat_map(|s| s.keys().copied()).collect();
    let (mut shared, mut media_ms) = (0, 0);
    for seq in all {
        let with: Vec<(&str, &(String, u64))> = MEMBERS
            .iter()
            .filter_map(|m| Some((*m, seen.get(m)?.get(&seq)?)))
            .collect();
        if with.len() < 2 {
            continue;
        }
        shared += 1;
        media_ms += with[0].1 .1;
        let starts: Vec<i64> = with
            .iter()
            .map(|(_, (uri, _))| first_video_pts(&dir.join(uri)))
            .collect();
        let durations: Vec<u64> = with
            .iter()
            .filter(|(m, _)| last_of.get(m) != Some(&seq))
            .map(|(_, (_, d))| *d)
            .collect();
        let (lo, hi) = (starts.iter().min().unwrap(), starts.iter().max().unwrap());
        assert!(
            hi - lo <= 3000,
            "seq {seq} starts at {starts:?} in {with:?}"
        );
        if let (Some(dlo), Some(dhi)) = (durations.iter().min(), durations.iter().max()) {
            assert!(dhi - dlo <= 34, "seq {seq} lasts {durations:?} in {with:?}");
        }
    }
    eprintln!("{shared} shared sequence numbers, {media_ms} ms of media aligned");
    assert!(media_ms >= 28_000, "only {media_ms} ms of media shared");
    assert_clean_log(&n);
    n.assert_no_crash();
}

fn master_pid(n: &Nginx) -> i32 {
    fs::read_to_string(n.prefix.join("nginx.pid"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// Whether process `pid` runs (exists and is no zombie).
fn alive(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        after.split_whitespace().next() != Some("Z")
    })
}

/// The encoder of `rendition` (`240p`), if exactly one runs.
fn encoder_of(n: &Nginx, rendition: &str) -> Option<i32> {
    let all: Vec<i32> = encoders(n)
        .into_iter()
        .filter(|(_, c)| rendition_of(c) == rendition)
        .map(|(p, _)| p)
        .collect();
    match all[..] {
        [pid] => Some(pid),
        _ => None,
    }
}

/// The newest segment number of a member's playlist.
fn last_seq(n: &Nginx, member: &str) -> Option<u64> {
    let text = fs::read_to_string(hls_dir(n).join(format!("{member}.m3u8"))).ok()?;
    parse_m3u8(&text).entries.last().map(|e| e.seq)
}

/// An encoder killed with SIGKILL is back within the backoff and its rendition writes
/// segments again (listed in the master); stat shows the encoders with their log; a reload
/// while publishing leaves exactly one encoder per rendition; a worker killed with SIGKILL
/// leaves none.
#[test]
fn supervision_kill_reload_worker_kill() {
    let _serial = encoding();
    let n = Nginx::start("renditions-supervision", &conf());
    let mut publisher = publish(&n, "cam", 60);
    assert!(
        wait::until(Duration::from_secs(15), || listed(&n).len() == 3
            && last_seq(&n, "cam_240p").is_some_and(|s| s >= 2)),
        "master never listed three members: {:?}",
        master(&n)
    );
    // Stat: every encoder with its label and log.
    let xml = http_body(n.http_port, "/stat");
    for r in RENDITIONS {
        assert!(
            xml.contains(&format!("transcode-live-{r}.log")),
            "{r}'s encoder not in stat:\n{xml}"
        );
    }

    // kill -9 of the 240p encoder.
    let old = encoder_of(&n, "240p").expect("one 240p encoder");
    let before = last_seq(&n, "cam_240p").expect("240p segments");
    let killed = Instant::now();
    Command::new("kill")
        .args(["-9", &old.to_string()])
        .status()
        .unwrap();
    assert!(
        wait::until(Duration::from_secs(4), || encoder_of(&n, "240p")
            .is_some_and(|p| p != old)),
        "no new 240p encoder 4 s after kill -9"
    );
    eprintln!("240p encoder back after {:?}", killed.elapsed());
    assert!(
        wait::until(Duration::from_secs(10), || last_seq(&n, "cam_240p")
            .is_some_and(|s| s >= before + 2)
            && listed(&n).contains(&"cam_240p.m3u8".to_owned())),
        "240p not writing again after its restart: {:?}",
        master(&n)
    );
    assert!(
        n.error_log().contains("restarting in 1500 ms"),
        "no respawn line:\n{}",
        n.error_log()
    );

    // Reload while publishing: the old worker keeps the publisher and its encoders.
    n.signal("reload");
    sleep(Duration::from_secs(4));
    let mut kinds: Vec<String> = encoders(&n).iter().map(|(_, c)| rendition_of(c)).collect();
    kinds.sort();
    assert_eq!(kinds, ["180p", "240p"], "after reload: {:?}", encoders(&n));
    assert_clean_log(&n);

    // kill -9 of the worker that runs them: they die with it.
    let pids: Vec<i32> = encoders(&n).iter().map(|(p, _)| *p).collect();
    let workers: BTreeSet<i32> = pids
        .iter()
        .filter_map(|p| {
            let stat = fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
            let after = stat.rsplit_once(')')?.1.to_owned();
            after.split_whitespace().nth(1)?.parse().ok()
        })
        .collect();
    assert_eq!(workers.len(), 1, "encoders of one worker: {pids:?}");
    for w in &workers {
        Command::new("kill")
            .args(["-9", &w.to_string()])
            .status()
            .unwrap();
    }
    assert!(
        wait::until(Duration::from_secs(2), || pids.iter().all(|p| !alive(*p))),
        "encoders left after their worker was killed: {pids:?}"
    );
    let _ = publisher.kill();
    let _ = publisher.wait();
    assert!(master_pid(&n) > 0);
}

/// `GET path` on the http port; the body.
fn http_body(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect http");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    text.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default()
}

/// An encoder that fails at once: respawned with a growing delay (a handful of lines, each
/// with what it said), while the source streams on and the master lists the source alone.
#[test]
fn failing_encoder_backs_off() {
    let _serial = encoding();
    let conf = conf_with("transcode_ffmpeg {prefix}/bad-ffmpeg.sh;", "");
    let n = Nginx::prepare("renditions-failing", &conf);
    let script = n.prefix.join("bad-ffmpeg.sh");
    fs::write(
        &script,
        "#!/bin/sh\necho 'Unknown encoder libx999' >&2\nexit 1\n",
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let n = Nginx::start_prepared(n);
    let mut publisher = publish(&n, "cam", 22);
    sleep(Duration::from_secs(20));
    let log = n.error_log();
    let deaths: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("transcode \"live/cam_240p\"") && l.contains("exited"))
        .collect();
    eprintln!("{} deaths of the 240p encoder in 20 s", deaths.len());
    assert!(
        (3..=6).contains(&deaths.len()),
        "deaths in 20 s: {deaths:#?}"
    );
    assert!(
        deaths.iter().all(|l| l.contains("Unknown encoder libx999")),
        "the encoder's last words not logged: {deaths:#?}"
    );
    let delays: Vec<u64> = deaths
        .iter()
        .filter_map(|l| {
            let rest = l.split("restarting in ").nth(1)?;
            rest.split_whitespace().next()?.parse().ok()
        })
        .collect();
    assert!(
        delays.windows(2).all(|w| w[1] > w[0]),
        "backoff does not grow: {delays:?}"
    );
    // The source is untouched, and alone in the master.
    assert_eq!(listed(&n), ["cam_src.m3u8"], "{:?}", master(&n));
    assert!(
        last_seq(&n, "cam_src").is_some_and(|s| s >= 7),
        "source not streaming"
    );
    for r in RENDITIONS {
        assert!(!hls_dir(&n).join(format!("{r}.m3u8")).exists());
    }
    let _ = publisher.wait();
    assert_clean_log(&n);
    n.assert_no_crash();
}

/// `transcode_max 1`: a second stream is served at its source quality (the plain layout,
/// `cam2.m3u8` its media playlist), with a warning and a counter in stat.
#[test]
fn transcode_max_serves_the_source_only() {
    let _serial = encoding();
    let n = Nginx::start("renditions-max", &conf_with("", "transcode_max 1;"));
    let mut first = publish(&n, "cam", 16);
    assert!(
        wait::until(Duration::from_secs(10), || encoders(&n).len() == 2),
        "first stream's encoders"
    );
    let mut second = publish(&n, "cam2", 12);
    assert!(
        n.wait_log(
            "\"live/cam2\" served at its source quality only: transcode_max 1 reached",
            Duration::from_secs(10)
        ),
        "no warning:\n{}",
        n.error_log()
    );
    let dir = hls_dir(&n);
    assert!(
        wait::until(Duration::from_secs(10), || fs::read_to_string(
            dir.join("cam2.m3u8")
        )
        .is_ok_and(|t| t.contains("#EXTINF"))),
        "cam2.m3u8 is no media playlist"
    );
    assert!(!dir.join("cam2_src.m3u8").exists());
    assert_eq!(encoders(&n).len(), 2, "{:?}", encoders(&n));
    let json = http_body(n.http_port, "/stat?format=json");
    assert!(
        json.contains("\"transcode_refused\":1"),
        "no counter in stat JSON:\n{json}"
    );
    let prom = http_body(n.http_port, "/stat?format=prometheus");
    assert!(
        prom.contains("rtmp_transcode_refused_total 1\n"),
        "no counter in Prometheus:\n{prom}"
    );
    let _ = second.wait();
    let _ = first.wait();
    assert_clean_log(&n);
    n.assert_no_crash();
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs switch.mjs on `page` and judges its report: playback started, no error, currentTime
/// never goes back and advances within every step, and the decoded height reaches what each
/// step asked for.
fn judge_switch(n: &Nginx, page: &str, shot: &Path, what: &str) {
    let started = Instant::now();
    let out = Command::new("node")
        .arg(repo().join("tests/player/switch.mjs"))
        .arg(page)
        .arg(shot)
        .arg("9")
        .stdin(Stdio::null())
        .output()
        .expect("run node tests/player/switch.mjs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    eprintln!(
        "{what}: player ran {:.1} s\n{stdout}",
        started.elapsed().as_secs_f64()
    );
    let ctx = || {
        format!(
            "stdout:\n{stdout}\nstderr:\n{stderr}\nnginx:\n{}",
            n.error_log()
        )
    };
    assert!(out.status.success(), "{what}: switch.mjs failed: {}", ctx());
    let errors: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("error "))
        .collect();
    assert!(
        errors.is_empty(),
        "{what}: player errors: {errors:?}\n{}",
        ctx()
    );
    assert!(
        stdout.lines().any(|l| l == "started true"),
        "{what}: playback never started\n{}",
        ctx()
    );
    let mut levels: Vec<u32> = stdout
        .lines()
        .find_map(|l| l.strip_prefix("levels "))
        .unwrap_or("")
        .split_whitespace()
        .filter_map(|h| h.parse().ok())
        .collect();
    levels.sort();
    assert_eq!(levels, [180, 240, 360], "{what}: levels\n{}", ctx());
    // sample <at_ms> <t> <h> <step> <want>
    let samples: Vec<(f64, u32, String, u32)> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("sample "))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((
                f.get(1)?.parse().ok()?,
                f.get(2)?.parse().ok()?,
                (*f.get(3)?).to_owned(),
                f.get(4)?.parse().ok()?,
            ))
        })
        .collect();
    assert!(samples.len() >= 30, "{what}: too few samples\n{}", ctx());
    for w in samples.windows(2) {
        assert!(w[1].0 >= w[0].0, "{what}: currentTime went back\n{}", ctx());
    }
    // Three steps (top, low, top), in order: each advances and ends at the asked height.
    let mut steps: Vec<Vec<&(f64, u32, String, u32)>> = Vec::new();
    for s in &samples {
        match steps.last_mut() {
            Some(cur) if cur[0].2 == s.2 => cur.push(s),
            _ => steps.push(vec![s]),
        }
    }
    assert_eq!(steps.len(), 3, "{what}: steps\n{}", ctx());
    for (i, step) in steps.iter().enumerate() {
        let (first, last) = (step[0], step[step.len() - 1]);
        assert!(
            last.0 - first.0 >= 4.0,
            "{what}: step {i} ({}) played only {:.2} s\n{}",
            first.2,
            last.0 - first.0,
            ctx()
        );
        assert_eq!(
            last.1,
            last.3,
            "{what}: step {i} ({}) ends at height {} instead of {}\n{}",
            first.2,
            last.1,
            last.3,
            ctx()
        );
    }
    assert!(
        fs::metadata(shot).is_ok_and(|m| m.len() > 1000),
        "{what}: no screenshot at {}",
        shot.display()
    );
}

/// hls.js plays `cam.m3u8` and dash.js `cam.mpd` in headless Chromium, each forced from the
/// top rendition to the lowest and back.
#[test]
fn players_switch_renditions() {
    let _serial = encoding();
    let player_dir = repo().join("tests/player");
    let modules = player_dir.join("node_modules");
    let hls_js = modules.join("hls.js/dist/hls.min.js");
    let dash_js = modules.join("dashjs/dist/dash.all.min.js");
    assert!(
        hls_js.is_file() && dash_js.is_file() && modules.join("playwright-core").is_dir(),
        "tests/player/node_modules is missing: scripts/test.sh installs it (npm ci in tests/player)"
    );
    assert!(
        Path::new("/usr/bin/chromium").is_file(),
        "chromium missing: scripts/test.sh installs it"
    );
    let conf = conf_with("dash on; dash_path {prefix}/www/dash; dash_fragment 2;", "").http(
        "location /hls/ { root {prefix}/www;
             types { application/vnd.apple.mpegurl m3u8; video/mp2t ts; }
             add_header Cache-Control no-cache; }
         location /dash/ { root {prefix}/www;
             types { application/dash+xml mpd; video/mp4 m4v m4s mp4; audio/mp4 m4a; }
             add_header Cache-Control no-cache; }
         location /player/ { root {prefix}/www;
             types { text/html html; application/javascript js; } }",
    );
    let n = Nginx::start("renditions-players", &conf);
    let www = n.prefix.join("www/player");
    fs::create_dir_all(&www).unwrap();
    fs::copy(&hls_js, www.join("hls.min.js")).unwrap();
    fs::copy(&dash_js, www.join("dash.all.min.js")).unwrap();
    fs::copy(player_dir.join("switch.html"), www.join("switch.html")).unwrap();
    let mut publisher = publish(&n, "cam", 120);
    assert!(
        wait::until(Duration::from_secs(25), || listed(&n).len() == 3
            && RENDITIONS
                .iter()
                .all(|r| last_seq(&n, r).is_some_and(|s| s >= 3))),
        "renditions never listed: {:?}",
        master(&n)
    );
    let shots = repo().join("target/e2e");
    fs::create_dir_all(&shots).unwrap();
    let hls_shot = shots.join("renditions-hls.png");
    let _ = fs::remove_file(&hls_shot);
    let page = format!(
        "http://127.0.0.1:{}/player/switch.html?src=/hls/cam.m3u8",
        n.http_port
    );
    judge_switch(&n, &page, &hls_shot, "hls.js");
    let dash_shot = shots.join("renditions-dash.png");
    let _ = fs::remove_file(&dash_shot);
    let page = format!(
        "http://127.0.0.1:{}/player/switch.html?kind=dash&src=/dash/cam.mpd",
        n.http_port
    );
    judge_switch(&n, &page, &dash_shot, "dash.js");
    let _ = publisher.kill();
    let _ = publisher.wait();
    assert_clean_log(&n);
    n.assert_no_crash();
}

/// `nginx -s quit` while publishing: the worker waits for its publisher (as nginx-rtmp's);
/// when the publisher leaves, the encoders go, every rendition's playlist ends, the master is
/// removed and nginx exits.
#[test]
fn quit_ends_every_rendition() {
    let _serial = encoding();
    // Recording belongs to the published stream: one file, none for a rendition.
    let n = Nginx::start(
        "renditions-quit",
        &conf_with("record all; record_path {prefix}/rec;", ""),
    );
    let mut publisher = publish(&n, "cam", 60);
    assert!(
        wait::until(Duration::from_secs(20), || listed(&n).len() == 3
            && RENDITIONS
                .iter()
                .all(|r| last_seq(&n, r).is_some_and(|s| s >= 2))),
        "renditions never listed: {:?}",
        master(&n)
    );
    let pids: Vec<i32> = encoders(&n).iter().map(|(p, _)| *p).collect();
    assert_eq!(pids.len(), 2);
    let master_process = master_pid(&n);
    n.signal("quit");
    sleep(Duration::from_secs(2));
    assert_eq!(
        encoders(&n).len(),
        2,
        "encoders stopped before their publisher left"
    );
    let _ = publisher.kill();
    let _ = publisher.wait();
    assert!(
        wait::until(Duration::from_secs(10), || !alive(master_process)),
        "nginx did not exit after its last publisher left"
    );
    assert!(
        wait::until(Duration::from_secs(2), || pids.iter().all(|p| !alive(*p))),
        "encoders left after quit: {pids:?}"
    );
    let dir = hls_dir(&n);
    for m in MEMBERS {
        let text = fs::read_to_string(dir.join(format!("{m}.m3u8"))).unwrap_or_default();
        assert!(text.contains("#EXT-X-ENDLIST"), "{m} not ended:\n{text}");
    }
    assert_eq!(master(&n), None, "master left after quit");
    let recorded: Vec<String> = fs::read_dir(n.prefix.join("rec"))
        .unwrap()
        .filter_map(|e| Some(e.ok()?.file_name().to_str()?.to_owned()))
        .collect();
    assert_eq!(recorded, ["cam.flv"], "recordings of the source only");
    assert_clean_log(&n);
    n.assert_no_crash();
}
