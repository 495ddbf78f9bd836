//! `hls_variant` end to end: one real ffmpeg encodes a 720p30 test pattern into three
//! renditions published as `cam_low`, `cam_mid`, `cam_hi` (forced keyframes on the
//! `hls_fragment` grid, as `hls::variant` documents for `exec` users), and `cam.m3u8` must be
//! a master playlist a player can trust: only live members, CODECS/RESOLUTION/FRAME-RATE as
//! ffprobe sees the segments, BANDWIDTH at least the peak segment bit rate, the operator's
//! attributes kept, no PROGRAM-ID; the members' segments aligned (same start PTS and EXTINF
//! for a media sequence number); a member that stops publishing leaves the master at once.
//! Flat and nested layouts.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::PathBuf;
use std::process::Child;
use std::thread::sleep;
use std::time::{Duration, Instant};

use support::m3u8::parse_m3u8;
use support::master::{bit_rate, check_media_facts, first_video_pts, parse_master};
use support::nginx::{ffmpeg, Conf, Nginx};

const FRAGMENT_S: u64 = 2;
/// When the test drops the publisher of `cam_low` (through `rtmp_control`), and how long
/// the encoder runs.
const LOW_SECS: u64 = 34;
const ALL_SECS: u64 = 44;
const MEMBERS: [&str; 3] = ["cam_low", "cam_mid", "cam_hi"];

fn conf(nested: bool, hi_params: &str) -> Conf {
    Conf::rtmp(&format!(
        "server {{ listen 127.0.0.1:{{rtmp_port}};
           application hls {{ live on; hls on; hls_path {{prefix}}/www/hls; hls_fragment {FRAGMENT_S};
             hls_nested {}; hls_variant _low BANDWIDTH=288000; hls_variant _mid BANDWIDTH=448000;
             hls_variant _hi {hi_params}; }} }}",
        if nested { "on" } else { "off" }
    ))
    .workers(2)
    .http("location /control { rtmp_control all; }")
}

/// `GET path` on the http port; the status code.
fn http_get(port: u16, path: &str) -> u16 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect http");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf)
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// ONE ffmpeg for all three members: one decoded input split into three scales, each encoded
/// with the same GOP settings and keyframes forced on the fragment grid, timestamps kept.
/// The bit rates are capped (VBV) so that every segment stays under the operator's BANDWIDTH.
/// Each output goes through `tee` with a null second slave and `onfail=ignore`, so that the
/// test can drop one member's publisher while the encoder goes on with the others.
fn start_encoder(n: &Nginx) -> Child {
    let force = format!("expr:gte(t,n_forced*{FRAGMENT_S})");
    let secs = ALL_SECS.to_string();
    let mut cmd = ffmpeg();
    cmd.arg("-re")
        .args([
            "-t",
            &secs,
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=1280x720:rate=30",
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
            "-filter_complex",
            "[0:v]split=3[a][b][c];[a]scale=320:180[vl];[b]scale=640:360[vm];[c]null[vh]",
        ]);
    let outputs = [
        ("[vl]", "cam_low", "120k", "150k", "75k"),
        ("[vm]", "cam_mid", "220k", "260k", "130k"),
        ("[vh]", "cam_hi", "600k", "700k", "350k"),
    ];
    for (label, name, rate, max, buf) in outputs {
        cmd.args(["-map", label, "-map", "1:a"])
            .args([
                "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
            ])
            .args(["-b:v", rate, "-maxrate", max, "-bufsize", buf])
            .args(["-sc_threshold", "0", "-force_key_frames", &force])
            .args(["-c:a", "aac", "-b:a", "48k", "-ar", "44100"])
            .args(["-flags", "+global_header", "-f", "tee"])
            .arg(format!(
                "[f=flv:onfail=ignore]{}|[f=null]/dev/null",
                n.rtmp_url("hls", name)
            ));
    }
    cmd.spawn().expect("start ffmpeg")
}

/// What the test saw of one member over the run: media sequence number → (URI, EXTINF ms).
#[derive(Default, Debug)]
struct Seen {
    segments: BTreeMap<u64, (String, u64)>,
    ended: bool,
}

struct Layout {
    nested: bool,
    dir: PathBuf,
}

impl Layout {
    fn playlist(&self, member: &str) -> PathBuf {
        if self.nested {
            self.dir.join(member).join("index.m3u8")
        } else {
            self.dir.join(format!("{member}.m3u8"))
        }
    }

    fn uri(&self, member: &str) -> String {
        if self.nested {
            format!("{member}/index.m3u8")
        } else {
            format!("{member}.m3u8")
        }
    }

    /// A segment URI of a member's playlist as a file.
    fn segment(&self, member: &str, uri: &str) -> PathBuf {
        if self.nested {
            self.dir.join(member).join(uri)
        } else {
            self.dir.join(uri)
        }
    }

    fn master(&self) -> Option<String> {
        fs::read_to_string(self.dir.join("cam.m3u8")).ok()
    }
}

/// Fails the check with a message (the caller retries: a member may rewrite its playlist
/// between the test's reads).
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

/// Checks the master against the members' playlists read around it (unchanged across the
/// master read).
fn check_master_snapshot(l: &Layout, operator_bw: &BTreeMap<&str, u64>) -> Result<(), String> {
    let before: Vec<Option<String>> = MEMBERS
        .iter()
        .map(|m| fs::read_to_string(l.playlist(m)).ok())
        .collect();
    let master = l.master().ok_or("no master")?;
    let after: Vec<Option<String>> = MEMBERS
        .iter()
        .map(|m| fs::read_to_string(l.playlist(m)).ok())
        .collect();
    ensure!(before == after, "a member playlist changed during the read");
    let infs = parse_master(&master);
    ensure!(infs.len() == 3, "not three members:\n{master}");
    ensure!(!master.contains("PROGRAM-ID"), "{master}");
    ensure!(master.contains("#EXT-X-INDEPENDENT-SEGMENTS\n"), "{master}");
    let bandwidths: Vec<u64> = infs
        .iter()
        .map(|i| i.get("BANDWIDTH").expect("BANDWIDTH").parse().unwrap())
        .collect();
    ensure!(
        bandwidths.windows(2).all(|w| w[0] >= w[1]),
        "highest bandwidth first:\n{master}"
    );
    for (m, text) in MEMBERS.iter().zip(&after) {
        let inf = infs
            .iter()
            .find(|i| i.uri == l.uri(m))
            .ok_or_else(|| format!("{m} not in master:\n{master}"))?;
        let p = parse_m3u8(text.as_deref().ok_or("no member playlist")?);
        let last = p.entries.last().ok_or("no segment")?;
        let file = l.segment(m, &last.uri);
        check_media_facts(inf, &file, m, &master)?;
        ensure!(
            m != &"cam_hi"
                || operator_bw.contains_key(m)
                || inf.get("CLOSED-CAPTIONS") == Some("NONE"),
            "{m}: the operator's CLOSED-CAPTIONS=NONE not passed through:\n{master}"
        );
        let rates: Vec<u64> = p
            .entries
            .iter()
            .map(|e| bit_rate(&l.segment(m, &e.uri), e.duration_ms))
            .collect();
        let peak = *rates.iter().max().unwrap();
        let avg_bits: u64 = p
            .entries
            .iter()
            .map(|e| fs::metadata(l.segment(m, &e.uri)).unwrap().len() * 8)
            .sum();
        let avg = avg_bits * 1000 / p.entries.iter().map(|e| e.duration_ms).sum::<u64>();
        let bw: u64 = inf.get("BANDWIDTH").unwrap().parse().unwrap();
        ensure!(
            bw >= peak,
            "{m}: BANDWIDTH {bw} below the peak {peak} of {rates:?}"
        );
        match operator_bw.get(m) {
            Some(&given) => ensure!(bw == given, "{m}: BANDWIDTH {bw}, the operator's {given}"),
            None => ensure!(
                bw <= peak + 1,
                "{m}: measured BANDWIDTH {bw} is the peak {peak}"
            ),
        }
        let measured_avg: u64 = inf
            .get("AVERAGE-BANDWIDTH")
            .ok_or("no AVERAGE-BANDWIDTH")?
            .parse()
            .unwrap();
        ensure!(
            measured_avg.abs_diff(avg) <= avg / 100 + 1,
            "{m}: AVERAGE-BANDWIDTH {measured_avg} vs {avg}"
        );
    }
    Ok(())
}

fn run(label: &str, nested: bool, hi_params: &str, operator_bw: BTreeMap<&str, u64>) {
    let n = Nginx::start(label, &conf(nested, hi_params));
    let l = Layout {
        nested,
        dir: n.prefix.join("www/hls"),
    };
    let mut encoder = start_encoder(&n);
    let started = Instant::now();
    let mut seen: BTreeMap<&str, Seen> = MEMBERS.iter().map(|m| (*m, Seen::default())).collect();
    let mut master_checked = false;
    let mut last_error = String::new();
    let mut low_left: Option<Instant> = None;
    let mut low_dropped = false;
    let mut master_without_low = false;
    let deadline = started + Duration::from_secs(ALL_SECS + 30);
    while Instant::now() < deadline {
        for m in MEMBERS {
            if let Ok(text) = fs::read_to_string(l.playlist(m)) {
                let p = parse_m3u8(&text);
                if !p.errors.is_empty() {
                    continue;
                }
                let s = seen.get_mut(m).unwrap();
                for e in p.entries {
                    s.segments.insert(e.seq, (e.uri, e.duration_ms));
                }
                s.ended |= p.endlist;
            }
        }
        if !master_checked && started.elapsed() > Duration::from_secs(12) && low_left.is_none() {
            match check_master_snapshot(&l, &operator_bw) {
                Ok(()) => master_checked = true,
                Err(e) => last_error = e,
            }
        }
        if !low_dropped && started.elapsed() > Duration::from_secs(LOW_SECS) {
            let status = http_get(n.http_port, "/control/drop/publisher?app=hls&name=cam_low");
            assert_eq!(status, 200, "drop cam_low");
            low_dropped = true;
        }
        if seen["cam_low"].ended && low_left.is_none() {
            low_left = Some(Instant::now());
        }
        if let (Some(t), false) = (low_left, master_without_low) {
            let master = l.master().unwrap_or_default();
            assert!(
                !master.is_empty(),
                "{label}: no master while cam_mid and cam_hi are live"
            );
            let uris: Vec<String> = parse_master(&master).into_iter().map(|i| i.uri).collect();
            if uris == [l.uri("cam_hi"), l.uri("cam_mid")] {
                master_without_low = true;
                eprintln!(
                    "{label}: cam_low left the master {:?} after its ENDLIST",
                    t.elapsed()
                );
            } else {
                assert!(
                    t.elapsed() < Duration::from_secs(3),
                    "{label}: cam_low still in the master 3 s after it ended:\n{master}"
                );
            }
        }
        if seen["cam_hi"].ended && seen["cam_mid"].ended {
            break;
        }
        sleep(Duration::from_millis(300));
    }
    let status = encoder.wait().expect("ffmpeg");
    assert!(status.success(), "ffmpeg failed");
    assert!(
        master_checked,
        "{label}: master check never passed; last:\n{last_error}"
    );
    assert!(master_without_low, "{label}: cam_low never left the master");
    // With every member gone the master goes too: no member is live.
    let gone = Instant::now() + Duration::from_secs(3);
    while l.master().is_some() && Instant::now() < gone {
        sleep(Duration::from_millis(100));
    }
    assert_eq!(
        l.master(),
        None,
        "{label}: master left after every member ended"
    );

    // Alignment: every sequence number listed by several members starts at the same PTS and
    // lasts as long in each (within one frame at 30 fps). A member's last segment ends where
    // its publisher stopped, so only its start is compared.
    let last_of: BTreeMap<&str, u64> = seen
        .iter()
        .filter_map(|(m, s)| Some((*m, *s.segments.keys().next_back()?)))
        .collect();
    let all: BTreeSet<u64> = seen
        .values()
        .flat_map(|s| s.segments.keys().copied())
        .collect();
    let mut shared = 0;
    let mut media_ms = 0;
    for seq in all {
        let with: Vec<(&str, &(String, u64))> = MEMBERS
            .iter()
            .filter_map(|m| seen[m].segments.get(&seq).map(|s| (*m, s)))
            .collect();
        if with.len() < 2 {
            continue;
        }
        shared += 1;
        media_ms += with[0].1 .1;
        let starts: Vec<i64> = with
            .iter()
            .map(|(m, (uri, _))| first_video_pts(&l.segment(m, uri)))
            .collect();
        let durations: Vec<u64> = with
            .iter()
            .filter(|(m, _)| last_of.get(m) != Some(&seq))
            .map(|(_, (_, d))| *d)
            .collect();
        let (lo, hi) = (starts.iter().min().unwrap(), starts.iter().max().unwrap());
        assert!(
            hi - lo <= 3000,
            "{label}: seq {seq} starts at {starts:?} in {with:?}"
        );
        if let (Some(dlo), Some(dhi)) = (durations.iter().min(), durations.iter().max()) {
            assert!(
                dhi - dlo <= 34,
                "{label}: seq {seq} lasts {durations:?} in {with:?}"
            );
        }
    }
    eprintln!("{label}: {shared} shared sequence numbers, {media_ms} ms of media aligned");
    // Which workers took the members (nginx decides; with two workers they usually differ,
    // and then the master is built from status files written by both).
    let log = n.error_log();
    let workers: BTreeSet<&str> = log
        .lines()
        .filter(|l| l.contains("publishes \"hls/cam_"))
        .filter_map(|l| l.split_whitespace().nth(3))
        .collect();
    eprintln!("{label}: members published on workers {workers:?}");
    assert!(
        media_ms >= 30_000,
        "{label}: only {media_ms} ms of media shared"
    );
    n.assert_no_crash();
}

#[test]
fn flat_layout() {
    run(
        "variant-flat",
        false,
        "BANDWIDTH=1152000",
        BTreeMap::from([
            ("cam_low", 288_000),
            ("cam_mid", 448_000),
            ("cam_hi", 1_152_000),
        ]),
    );
}

/// Nested, and `_hi` without an operator's BANDWIDTH (measured) but with an obsolete
/// PROGRAM-ID (dropped) and an attribute the module does not know (passed through).
#[test]
fn nested_layout_measured_bandwidth() {
    run(
        "variant-nested",
        true,
        "PROGRAM-ID=1 CLOSED-CAPTIONS=NONE",
        BTreeMap::from([("cam_low", 288_000), ("cam_mid", 448_000)]),
    );
}

#[test]
fn config_errors_name_file_and_line() {
    let cases = [
        ("hls_variant \"\";", "the suffix is empty"),
        (
            "hls_variant _a BANDWIDTH=1; hls_variant _a;",
            "duplicate suffix \"_a\"",
        ),
        (
            "hls_variant _a BANDWIDTH;",
            "invalid parameter \"BANDWIDTH\"",
        ),
        ("hls_variant _a bandwidth=1;", "invalid parameter"),
        ("hls_variant;", "invalid number of arguments"),
    ];
    for (line, message) in cases {
        let body = format!(
            "server {{ listen 127.0.0.1:{{rtmp_port}};\napplication a {{ hls on; hls_path {{prefix}}/www/hls;\n{line}\n}} }}"
        );
        let n = Nginx::prepare("variant-conf", &Conf::rtmp(&body));
        fs::create_dir_all(n.prefix.join("www/hls")).unwrap();
        let out = n.test_config();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "nginx -t accepted {line:?}");
        assert!(
            err.contains(message),
            "{line:?}: expected {message:?} in:\n{err}"
        );
        let text = fs::read_to_string(&n.conf).unwrap();
        let at = text.lines().position(|l| l.contains(line)).unwrap() + 1;
        let location = format!("{}:{at}", n.conf.display());
        assert!(
            err.contains(&location),
            "{line:?}: expected {location} in:\n{err}"
        );
    }
}
