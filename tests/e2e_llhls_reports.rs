//! Low-Latency HLS rendition reports between the renditions of a master playlist that are
//! streams of their own: the members of an `hls_variant` group (one ffmpeg publishing two
//! scales as `cam_low` and `cam_hi` into 2 workers, nested layout) and a transcoded
//! `hls_rendition` ladder (the source `cam_src` and its encoders' renditions). For 20 s the
//! playlists are read over and over: every member's playlist reports on every other live
//! member (URI relative to it), and each report lies between the other playlist read just
//! before and just after (never ahead of it, behind by one part at most). A variant member
//! whose publisher is dropped leaves the others' reports once its playlist has ended.

mod support;

use std::fs;
use std::path::Path;
use std::process::{Child, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use support::http;
use support::llhls::{self, LlPlaylist};
use support::nginx::{ffmpeg, Conf, Nginx};
use support::wait;

const FRAGMENT_S: u64 = 2;
const CHECK: Duration = Duration::from_secs(20);

/// Encodes run one test at a time: the machine has few cores and timing matters.
static ENCODING: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn encoding() -> std::sync::MutexGuard<'static, ()> {
    ENCODING.lock().unwrap_or_else(|e| e.into_inner())
}

/// A member of a master: its playlist under `hls_path`, and the URI the others report it by.
struct Member {
    path: &'static str,
    uri: &'static str,
}

/// A playlist's text and what it says.
fn read(dir: &Path, path: &str) -> Option<(String, LlPlaylist)> {
    let text = fs::read_to_string(dir.join(path)).ok()?;
    let parsed = llhls::parse(&text);
    Some((text, parsed))
}

/// Whether a report of `said` trails the other playlist's `now` by one part at most (that
/// playlist was rewritten after this one was).
fn reaches(said: (u64, u64), now: (u64, u64)) -> bool {
    said.0 == now.0 && said.1 + 1 == now.1 || said.0 + 1 == now.0 && now.1 == 0
}

/// What a pair (reporting member, reported member) looked like at the last read.
struct Seen {
    /// The reporting playlist.
    text: String,
    /// The reported member's progress read just before it.
    before: Option<(u64, u64)>,
    /// What that version of the reporting playlist reports at least.
    floor: Option<(u64, u64)>,
}

/// Waits until every member's playlist reports on all the others, then checks the reports
/// against the other playlists for [`CHECK`]; returns how many were checked.
///
/// A report is never ahead of the other playlist read right after, and trails the one read
/// right before by one part at most — or, when the reporting playlist was not rewritten for
/// a while (its publisher's data came late), it is at least what the other playlist said
/// before that version of the reporting playlist was written: the report was fresh then.
/// The first version of a reporting playlist that a pair sees was written at a time the test
/// cannot know (while the publishers were still settling, one may lag the other by parts):
/// it is held to "never ahead" only, and not counted.
fn check_reports(n: &Nginx, dir: &Path, members: &[Member], publisher: &mut Child) -> usize {
    let start = Instant::now();
    while members
        .iter()
        .any(|m| read(dir, m.path).is_none_or(|(_, p)| p.reports.len() + 1 != members.len()))
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "not every member reports on the others:\n{}",
            n.error_log()
        );
        assert!(
            publisher.try_wait().unwrap().is_none(),
            "publisher exited early"
        );
        sleep(Duration::from_millis(100));
    }
    let (mut checked, mut stale_writes, mut unknown_age, mut failures) = (0, 0, 0, Vec::new());
    let mut seen: Vec<Option<Seen>> = (0..members.len() * members.len()).map(|_| None).collect();
    let start = Instant::now();
    while start.elapsed() < CHECK {
        for (me, m) in members.iter().enumerate() {
            for (other, o) in members.iter().enumerate().filter(|(i, _)| *i != me) {
                // The other playlist before and after this one: the report lies between.
                let before = read(dir, o.path).and_then(|(_, p)| p.last_part());
                let Some((text, mine)) = read(dir, m.path) else {
                    failures.push(format!("{} missing", m.path));
                    continue;
                };
                let after = read(dir, o.path).and_then(|(_, p)| p.last_part());
                let state = &mut seen[me * members.len() + other];
                // The first version seen of a playlist may have been written any time before.
                let first_sight = state.is_none();
                let floor = match state.take() {
                    Some(prev) if prev.text == text => prev.floor,
                    // Written since the last read, so after the other's read before it.
                    Some(prev) => prev.before,
                    None => None,
                };
                let reports: Vec<_> = mine.reports.iter().filter(|r| r.uri == o.uri).collect();
                *state = Some(Seen {
                    text,
                    before,
                    floor,
                });
                let [r] = reports.as_slice() else {
                    failures.push(format!("{}: reports {:?}", m.path, mine.reports));
                    continue;
                };
                let said = (r.last_msn, r.last_part);
                let fresh = floor.is_some_and(|f| f <= said);
                match (before, after) {
                    (Some(b), Some(a)) if b <= said && said <= a => checked += 1,
                    // The other may have been one write ahead when this one was written.
                    (Some(b), Some(a)) if said < b && reaches(said, b) && said <= a => checked += 1,
                    (Some(_), Some(a)) if fresh && said <= a => {
                        checked += 1;
                        stale_writes += 1;
                    }
                    // Never ahead; how far behind cannot be known without its write time.
                    (_, Some(a)) if first_sight && said <= a => unknown_age += 1,
                    (b, a) => failures.push(format!(
                        "{} at {:?} reports {said:?} for {} (at least {floor:?} when \
                         written), which went {b:?} -> {a:?}",
                        m.path,
                        mine.last_part(),
                        o.path
                    )),
                }
            }
        }
        sleep(Duration::from_millis(30));
    }
    eprintln!(
        "{stale_writes} reports more than a part behind, of playlists not rewritten since; \
         {unknown_age} first sights of a playlist written at an unknown time, not counted"
    );
    assert!(
        failures.is_empty(),
        "{checked} checked\n{}",
        failures.join("\n")
    );
    checked
}

/// ONE ffmpeg for both members (keyframes forced on the fragment grid, as `hls_variant`
/// asks), each output through `tee` so that one member's publisher can be dropped while the
/// encoder goes on with the other.
fn publish_variants(n: &Nginx, secs: u64) -> Child {
    let force = format!("expr:gte(t,n_forced*{FRAGMENT_S})");
    let secs = secs.to_string();
    let mut cmd = ffmpeg();
    cmd.arg("-re")
        .args([
            "-t",
            &secs,
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x180:rate=30",
        ])
        .args(["-t", &secs, "-f", "lavfi"])
        .args(["-i", "sine=frequency=440:sample_rate=44100"])
        .args(["-filter_complex", "[0:v]split=2[a][b];[b]scale=160:90[c]"]);
    for (label, name) in [("[c]", "cam_low"), ("[a]", "cam_hi")] {
        cmd.args(["-map", label, "-map", "1:a"])
            .args(["-c:v", "libx264", "-preset", "ultrafast", "-threads", "1"])
            .args(["-pix_fmt", "yuv420p", "-sc_threshold", "0"])
            .args(["-force_key_frames", &force])
            .args(["-c:a", "aac", "-b:a", "48k", "-ar", "44100"])
            .args(["-flags", "+global_header", "-f", "tee"])
            .arg(format!(
                "[f=flv:onfail=ignore]{}|[f=null]/dev/null",
                n.rtmp_url("hls", name)
            ));
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ffmpeg")
}

#[test]
fn variant_members_report_on_each_other() {
    let _serial = encoding();
    let conf = Conf::rtmp(&format!(
        "server {{ listen 127.0.0.1:{{rtmp_port}};
           application hls {{ live on; hls on; hls_path {{prefix}}/www/hls;
             hls_fragment {FRAGMENT_S}; hls_nested on; hls_low_latency on;
             hls_variant _low BANDWIDTH=200000; hls_variant _hi BANDWIDTH=600000; }} }}"
    ))
    .workers(2)
    .http("location /control { rtmp_control all; }");
    let n = Nginx::start("llhls-variant-reports", &conf);
    let mut publisher = publish_variants(&n, 60);
    let dir = n.prefix.join("www/hls");
    let members = [
        Member {
            path: "cam_low/index.m3u8",
            uri: "../cam_low/index.m3u8",
        },
        Member {
            path: "cam_hi/index.m3u8",
            uri: "../cam_hi/index.m3u8",
        },
    ];
    let checked = check_reports(&n, &dir, &members, &mut publisher);
    eprintln!("{checked} variant reports checked");
    assert!(checked > 200, "{checked}");
    // A member that ended leaves the other's reports.
    let drop = http::get(n.http_port, "/control/drop/publisher?app=hls&name=cam_low");
    assert_eq!(drop.status, 200, "drop cam_low");
    let start = Instant::now();
    while !read(&dir, "cam_low/index.m3u8").is_some_and(|(_, p)| p.endlist) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "cam_low never ended"
        );
        sleep(Duration::from_millis(50));
    }
    // The next writes of cam_hi's playlist read the ended one.
    let mut hi = None;
    let dropped = wait::until(Duration::from_secs(10), || {
        hi = read(&dir, "cam_hi/index.m3u8").map(|(_, p)| p);
        hi.as_ref().is_some_and(|p| p.reports.is_empty())
    });
    assert!(dropped, "{hi:?}");
    assert!(hi.is_some_and(|p| !p.endlist), "cam_hi ended too");
    let _ = publisher.kill();
    let _ = publisher.wait();
    n.assert_no_crash();
}

#[test]
fn transcoded_renditions_report_on_each_other() {
    let _serial = encoding();
    let conf = Conf::rtmp(&format!(
        "server {{ listen 127.0.0.1:{{rtmp_port}};
           application live {{ live on; hls on; hls_path {{prefix}}/www/hls;
             hls_fragment {FRAGMENT_S}; hls_low_latency on;
             hls_rendition 180p height=180 bitrate=150k audio_bitrate=48k preset=ultrafast; }} }}"
    ));
    let n = Nginx::start("llhls-rendition-reports", &conf);
    let secs = "60";
    let mut publisher = ffmpeg()
        .arg("-re")
        .args([
            "-t",
            secs,
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=30",
        ])
        .args(["-t", secs, "-f", "lavfi"])
        .args(["-i", "sine=frequency=440:sample_rate=44100"])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ])
        .args(["-g", "60", "-b:v", "600k"])
        .args(["-c:a", "aac", "-b:a", "64k", "-ar", "44100", "-f", "flv"])
        .arg(n.rtmp_url("live", "cam"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ffmpeg");
    let dir = n.prefix.join("www/hls");
    let members = [
        Member {
            path: "cam_src.m3u8",
            uri: "cam_src.m3u8",
        },
        Member {
            path: "cam_180p.m3u8",
            uri: "cam_180p.m3u8",
        },
    ];
    let checked = check_reports(&n, &dir, &members, &mut publisher);
    eprintln!("{checked} rendition reports checked");
    assert!(checked > 200, "{checked}");
    let _ = publisher.kill();
    let _ = publisher.wait();
    n.assert_no_crash();
}
