//! HLS end to end: real nginx with the module, real ffmpeg publishing pre-encoded FLV files
//! (`-re -c copy`, so the exact packets sent are known), and the HLS rules checked on
//! what a player gets. The checks live in `support::hls_rules` and are shared with the
//! comparison against the C module (`e2e_hls_vs_c`).
//!
//! Publishes are real time: independent ones run in parallel threads to keep the wall time
//! near the longest publish (20 s).

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use support::hls::{publish_and_capture, std_inputs, Capture, Input};
use support::hls_rules::{check, table, Outcome, Report, Scenario};
use support::m3u8::parse_m3u8;
use support::nginx::{ffmpeg, ffmpeg_publish_file, run_with_timeout, Conf, Nginx};
use support::wait;

const FRAGMENT_MS: u64 = 2_000;
const TIMEOUT: Duration = Duration::from_secs(90);

fn hls_conf(extra: &str) -> Conf {
    Conf::rtmp(&format!(
        "server {{ listen 127.0.0.1:{{rtmp_port}};
           application live {{ live on; hls on; hls_path {{prefix}}/www/hls; hls_fragment 2; {extra} }} }}"
    ))
}

fn hls_dir(n: &Nginx) -> PathBuf {
    n.prefix.join("www/hls")
}

fn scenario<'a>(
    n: &Nginx,
    label: &str,
    publishes: Vec<&'a Input>,
    playlist_length_ms: u64,
    cleanup: bool,
) -> Scenario<'a> {
    Scenario {
        label: label.to_owned(),
        publishes,
        fragment_ms: FRAGMENT_MS,
        playlist_length_ms,
        check_cleanup: cleanup,
        work: n.prefix.join("check").join(label),
    }
}

fn assert_all_pass(reports: &[&Report]) {
    eprintln!("{}", table(reports));
    let failures: Vec<String> = reports.iter().flat_map(|r| r.failures()).collect();
    assert!(
        failures.is_empty(),
        "HLS rules failed:\n{}",
        failures.join("\n")
    );
}

/// One case: `inputs` published one after the other as `<app>/<name>`.
struct Case<'a> {
    name: &'static str,
    app: &'static str,
    dir: &'static str,
    inputs: Vec<&'a Input>,
    playlist_length_ms: u64,
    /// Keep watching this long after the end (cleanup checks when non-zero).
    linger: Duration,
}

/// In parallel, into one nginx: A/V, audio-only and video-only, 20 s each at 30 fps with a
/// 2 s GOP; and a republish of the same name (6 s, then 10 s; hls_continuous is on by
/// default) into an application with a 6 s playlist: the media sequence goes on,
/// `#EXT-X-DISCONTINUITY` marks the new publish, `#EXT-X-DISCONTINUITY-SEQUENCE` counts it
/// once it scrolls out, and hls_cleanup keeps segments TARGETDURATION + playlist length after
/// they leave the window, then removes everything after the end.
#[test]
fn av_audio_video_only_and_republish_pass_every_rule() {
    let inp = std_inputs();
    let conf = Conf::rtmp(
        "server { listen 127.0.0.1:{rtmp_port};
           application live { live on; hls on; hls_path {prefix}/www/hls; hls_fragment 2; }
           application short { live on; hls on; hls_path {prefix}/www/short; hls_fragment 2;
                               hls_playlist_length 6s; } }",
    );
    let n = Nginx::start("hls-rules", &conf);
    let long = |name, input| Case {
        name,
        app: "live",
        dir: "www/hls",
        inputs: vec![input],
        playlist_length_ms: 30_000,
        linger: Duration::ZERO,
    };
    let cases = [
        long("av", &inp.av20),
        long("audio", &inp.audio20),
        long("video", &inp.video20),
        Case {
            name: "republish",
            app: "short",
            dir: "www/short",
            inputs: vec![&inp.av6, &inp.av10],
            playlist_length_ms: 6_000,
            // TARGETDURATION (2 s) + playlist length (6 s) + margin.
            linger: Duration::from_secs(10),
        },
    ];
    let started = Instant::now();
    let results: Vec<(Report, Capture)> = thread::scope(|s| {
        let handles: Vec<_> = cases
            .iter()
            .map(|c| {
                let n = &n;
                s.spawn(move || {
                    let cap = publish_and_capture(
                        n,
                        c.app,
                        &n.prefix.join(c.dir),
                        c.name,
                        &c.inputs,
                        Duration::from_millis(500),
                        c.linger,
                    );
                    let sc = Scenario {
                        label: c.name.to_owned(),
                        publishes: c.inputs.clone(),
                        fragment_ms: FRAGMENT_MS,
                        playlist_length_ms: c.playlist_length_ms,
                        check_cleanup: !c.linger.is_zero(),
                        work: n.prefix.join("check").join(c.name),
                    };
                    (check(&sc, &cap), cap)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("case thread"))
            .collect()
    });
    eprintln!(
        "{} publishes checked in {:.1} s",
        cases.len(),
        started.elapsed().as_secs_f64()
    );
    for (r, _) in &results {
        assert!(r.segments >= 8, "{}: only {} segments", r.label, r.segments);
    }
    // The republish: spot-check the tags on top of the rules.
    let (report, cap) = &results[3];
    let versions: Vec<_> = cap.versions.iter().map(|v| parse_m3u8(v)).collect();
    assert!(
        versions
            .iter()
            .any(|v| v.entries.iter().any(|e| e.discontinuity)),
        "no DISCONTINUITY seen"
    );
    assert!(
        versions.iter().any(|v| v.discontinuity_sequence == 1),
        "no DISCONTINUITY-SEQUENCE:1 seen:\n{}",
        cap.versions.last().cloned().unwrap_or_default()
    );
    assert_eq!(
        report.get("#EXT-X-DISCONTINUITY at a republish"),
        Some(&Outcome::Pass)
    );
    assert_all_pass(&results.iter().map(|(r, _)| r).collect::<Vec<_>>());
    n.assert_no_crash();
}

/// An encoder whose GOP is irregular and longer than the target (2 s GOPs, then one of 4.5 s):
/// TARGETDURATION stays fixed and no EXTINF exceeds it (the segmenter force-cuts, see
/// src/hls/segmenter.rs), no frame is lost or duplicated, timestamps stay continuous, and the
/// playlist does not claim `#EXT-X-INDEPENDENT-SEGMENTS` for a segment that starts without
/// an IDR (RFC 8216 4.3.5.1: a player joining there cannot decode it).
#[test]
fn irregular_gop_longer_than_target_keeps_the_playlist_honest() {
    let inp = std_inputs();
    let n = Nginx::start("hls-irregular", &hls_conf(""));
    let cap = publish_and_capture(
        &n,
        "live",
        &hls_dir(&n),
        "irr",
        &[&inp.irregular16],
        Duration::ZERO,
        Duration::ZERO,
    );
    let report = check(
        &scenario(&n, "irregular", vec![&inp.irregular16], 30_000, false),
        &cap,
    );
    eprintln!("{}", table(&[&report]));
    let must = [
        "segments produced and readable when listed",
        "every video frame sent is present exactly once",
        "every audio frame sent is present exactly once",
        "timestamps continuous across segment boundaries",
        "playlist ends with #EXT-X-ENDLIST",
        "TARGETDURATION constant across rewrites",
        "every rounded EXTINF <= TARGETDURATION",
        "EXTINF is each segment's media duration (±3 ms)",
        "continuity counters continue across segments",
        "PCR at least every 100 ms",
        "#EXT-X-INDEPENDENT-SEGMENTS only when true",
    ];
    let failures: Vec<String> = report
        .failures()
        .into_iter()
        .filter(|f| must.iter().any(|m| f.contains(m)))
        .collect();
    assert!(
        failures.is_empty(),
        "irregular GOP:\n{}\n{}",
        failures.join("\n"),
        cap.versions.last().cloned().unwrap_or_default()
    );
    n.assert_no_crash();
}

/// Every file and directory below `dir` (not following symlinks).
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        out.push(p.clone());
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            walk(&p, out);
        }
    }
}

fn entries_containing(dir: &Path, token: &str) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|f| f.to_string_lossy().contains(token))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Stream keys with path tricks and playlist-tag injections never produce a file outside
/// `hls_path`, nor a playlist line that is not ours.
#[test]
fn stream_keys_with_path_tricks_stay_inside_hls_path() {
    let inp = std_inputs();
    let n = Nginx::start("hls-paths", &hls_conf(""));
    let token = format!("evil{}x{}", std::process::id(), n.rtmp_port);
    let keys: Vec<String> = [
        "../@",
        "../../@",
        "../../../@",
        "../../../../../../../../tmp/@",
        "/tmp/@",
        "sub/../../@",
        "@/../../x",
        "..\\..\\@",
        "%2e%2e%2f@",
        "..%2f@",
        ".@",
        "..",
        "@\n#EXT-X-ENDLIST",
        "@\r\n#EXTINF:999,",
        "#EXT-X-@",
        "@?x=/../../y",
        "@..x",
        "@ x",
    ]
    .iter()
    .map(|k| k.replace('@', &token))
    .collect();
    let hls = hls_dir(&n);
    let url = format!("rtmp://127.0.0.1:{}/live", n.rtmp_port);
    thread::scope(|s| {
        for key in &keys {
            let url = &url;
            s.spawn(move || {
                let mut cmd = ffmpeg();
                cmd.args(["-re", "-i"]).arg(&inp.av2.path).args([
                    "-c",
                    "copy",
                    "-f",
                    "flv",
                    "-rtmp_app",
                    "live",
                    "-rtmp_playpath",
                    key,
                    url,
                ]);
                // Refused keys make ffmpeg fail: only the files matter here.
                let _ = run_with_timeout(cmd, TIMEOUT);
            });
        }
    });
    // A legitimate publish afterwards still works.
    let (ok, err) = run_with_timeout(
        ffmpeg_publish_file(&inp.av2.path, &n.rtmp_url("live", "fine")),
        TIMEOUT,
    );
    assert!(
        ok,
        "valid publish after the tricks failed: {err}\n{}",
        n.error_log()
    );
    // The server ends the playlist once it sees the publisher leave, a moment after ffmpeg
    // exits.
    assert!(
        wait::until(Duration::from_secs(10), || {
            fs::read_to_string(hls.join("fine.m3u8")).is_ok_and(|p| p.contains("#EXT-X-ENDLIST"))
        }),
        "no finished playlist for a valid key:\n{}",
        n.error_log()
    );

    // The keys reached the server: all but two (`@?x=...` is the name `@` with arguments;
    // `@..x` is a valid RTMP name that HLS refuses) were refused as names.
    let log = n.error_log();
    assert!(
        log.matches("invalid name").count() >= keys.len() - 2,
        "expected the path tricks to be refused as names:\n{log}"
    );
    assert!(
        log.contains(&format!("hls for \"live/{token}..x\"")),
        "HLS not refused for a name with '..':\n{log}"
    );

    // Nothing with the token outside hls_path: the prefix, the dirs above it, /tmp, /.
    let mut all = Vec::new();
    walk(&n.prefix, &mut all);
    let outside: Vec<&PathBuf> = all
        .iter()
        .filter(|p| !p.starts_with(&hls) && p.to_string_lossy().contains(&token))
        .collect();
    assert!(outside.is_empty(), "files outside hls_path: {outside:?}");
    let mut dirs = vec![PathBuf::from("/tmp"), PathBuf::from("/")];
    let mut up = n.prefix.clone();
    while up.pop() {
        dirs.push(up.clone());
    }
    for d in dirs {
        let found = entries_containing(&d, &token);
        assert!(found.is_empty(), "files outside hls_path: {found:?}");
    }
    // Inside hls_path: plain files only (hls_nested is off), and every playlist line is a tag
    // we write or a plain segment name.
    let known = [
        "#EXTM3U",
        "#EXT-X-VERSION:",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        "#EXT-X-TARGETDURATION:",
        "#EXT-X-MEDIA-SEQUENCE:",
        "#EXT-X-DISCONTINUITY",
        "#EXTINF:",
        "#EXT-X-ENDLIST",
    ];
    let mut names = BTreeSet::new();
    for e in fs::read_dir(&hls).expect("hls dir").flatten() {
        let t = e.file_type().unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        assert!(t.is_file(), "{name:?} in hls_path is not a plain file");
        if name.ends_with(".m3u8") {
            let text = fs::read_to_string(e.path()).unwrap();
            for line in text.lines() {
                if line.starts_with('#') {
                    assert!(
                        known.iter().any(|k| line.starts_with(k)),
                        "{name:?}: foreign tag {line:?}"
                    );
                    assert!(
                        !line.starts_with("#EXTINF:999"),
                        "{name:?}: injected {line:?}"
                    );
                } else {
                    assert!(
                        !line.contains('/') && line.ends_with(".ts") && !line.starts_with('#'),
                        "{name:?}: odd URI {line:?}"
                    );
                }
            }
        }
        names.insert(name);
    }
    eprintln!("files in hls_path: {names:?}");
    n.assert_no_crash();
}
