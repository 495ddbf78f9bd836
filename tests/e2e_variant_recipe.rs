//! nginx-rtmp's own several-qualities recipe, run by `exec` in our module: an `application
//! src` whose exec'd ffmpeg publishes `$name_low`, `$name_mid` and `$name_hi` back into an
//! `application hls` with three `hls_variant` lines. Verbatim from nginx-rtmp's documentation
//! (but `-c:a aac`: Debian's ffmpeg has no libfdk_aac, and the port), the master playlist must
//! list the three live members with what the media says; with the keyframe arguments
//! `hls::variant` documents for `exec` users, the members' segments line up over 30 s.

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Child;
use std::thread::sleep;
use std::time::{Duration, Instant};

use support::m3u8::parse_m3u8;
use support::master::{check_media_facts, first_video_pts, parse_master};
use support::nginx::{ffmpeg_publish, Conf, Nginx};

const MEMBERS: [&str; 3] = ["cam_low", "cam_mid", "cam_hi"];

/// The recipe's `application hls`, with its `hls_variant` lines.
fn hls_app(nested: bool, extra: &str) -> String {
    format!(
        "application hls {{ live on; hls on; hls_path {{prefix}}/www/hls; hls_nested {};
           hls_playlist_length 60; {extra}
           hls_variant _low BANDWIDTH=160000;
           hls_variant _mid BANDWIDTH=320000;
           hls_variant _hi  BANDWIDTH=640000; }}",
        if nested { "on" } else { "off" }
    )
}

/// One exec'd ffmpeg; `per_output` goes before each output's `-f flv`.
fn recipe(per_output: &str, hls: &str) -> Conf {
    let out = |a: &str, v: &str, name: &str| {
        format!(
            "-c:a aac -b:a {a} -c:v libx264 -b:v {v} {per_output} \
             -f flv rtmp://127.0.0.1:{{rtmp_port}}/hls/$name_{name}"
        )
    };
    Conf::rtmp(&format!(
        "server {{ listen 127.0.0.1:{{rtmp_port}};
           application src {{ live on;
             exec ffmpeg -i rtmp://127.0.0.1:{{rtmp_port}}/src/$name
               {} {} {}; }}
           {hls} }}",
        out("32k", "128K", "low"),
        out("64k", "256k", "mid"),
        out("128k", "512K", "hi"),
    ))
}

fn playlist(dir: &Path, nested: bool, member: &str) -> std::path::PathBuf {
    if nested {
        dir.join(member).join("index.m3u8")
    } else {
        dir.join(format!("{member}.m3u8"))
    }
}

fn segment(dir: &Path, nested: bool, member: &str, uri: &str) -> std::path::PathBuf {
    if nested {
        dir.join(member).join(uri)
    } else {
        dir.join(uri)
    }
}

fn assert_clean_log(n: &Nginx) {
    let log = n.error_log();
    for bad in ["unknown process", "exited on signal", "[alert]", "[emerg]"] {
        assert!(!log.contains(bad), "\"{bad}\" in the error log:\n{log}");
    }
}

fn stop(mut publisher: Child) {
    let _ = publisher.kill();
    let _ = publisher.wait();
}

#[test]
fn the_documented_recipe_works_verbatim() {
    let n = Nginx::start("variant-recipe", &recipe("", &hls_app(true, "")));
    let dir = n.prefix.join("www/hls");
    let publisher = ffmpeg_publish(&n.rtmp_url("src", "cam"), 40)
        .spawn()
        .expect("publish");
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut last = String::new();
    let checked = loop {
        assert!(
            Instant::now() < deadline,
            "no master listing the three members with their media:\n{last}\n{}",
            n.error_log()
        );
        sleep(Duration::from_millis(500));
        let Ok(master) = fs::read_to_string(dir.join("cam.m3u8")) else {
            continue;
        };
        last = master.clone();
        let infs = parse_master(&master);
        let uris: Vec<&str> = infs.iter().map(|i| i.uri.as_str()).collect();
        if uris
            != [
                "cam_hi/index.m3u8",
                "cam_mid/index.m3u8",
                "cam_low/index.m3u8",
            ]
        {
            continue;
        }
        assert!(!master.contains("PROGRAM-ID"), "{master}");
        // The operator's BANDWIDTH kept; the rest measured from the media.
        let mut ok = true;
        for (inf, bw) in infs.iter().zip(["640000", "320000", "160000"]) {
            assert_eq!(inf.get("BANDWIDTH"), Some(bw), "{master}");
            let member = inf.uri.trim_end_matches("/index.m3u8");
            let Ok(text) = fs::read_to_string(playlist(&dir, true, member)) else {
                ok = false;
                break;
            };
            let Some(e) = parse_m3u8(&text).entries.last().cloned() else {
                ok = false;
                break;
            };
            let file = segment(&dir, true, member, &e.uri);
            if let Err(e) = check_media_facts(inf, &file, member, &master) {
                panic!("{e}");
            }
        }
        if ok {
            break master;
        }
    };
    eprintln!("master:\n{checked}");
    stop(publisher);
    // The encoder ends with its input, the members with it, and the master with them.
    let deadline = Instant::now() + Duration::from_secs(20);
    while dir.join("cam.m3u8").exists() {
        assert!(
            Instant::now() < deadline,
            "the master outlived its members:\n{}",
            fs::read_to_string(dir.join("cam.m3u8")).unwrap_or_default()
        );
        sleep(Duration::from_millis(200));
    }
    assert_clean_log(&n);
    n.assert_no_crash();
}

/// Media sequence number → (segment file's first video PTS, EXTINF ms), per member.
type Seen = BTreeMap<&'static str, BTreeMap<u64, (i64, u64)>>;

#[test]
fn with_forced_keyframes_the_members_line_up_over_30_s() {
    let per_output = "-g 600 -sc_threshold 0 -force_key_frames expr:gte(t,n_forced*2)";
    let n = Nginx::start(
        "variant-recipe-aligned",
        &recipe(per_output, &hls_app(false, "hls_fragment 2;")),
    );
    let dir = n.prefix.join("www/hls");
    let publisher = ffmpeg_publish(&n.rtmp_url("src", "cam"), 60)
        .spawn()
        .expect("publish");
    let mut seen: Seen = MEMBERS.iter().map(|m| (*m, BTreeMap::new())).collect();
    let common = |seen: &Seen| -> Vec<u64> {
        seen["cam_low"]
            .keys()
            .filter(|s| seen["cam_mid"].contains_key(s) && seen["cam_hi"].contains_key(s))
            .copied()
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(75);
    // 15 common segments of 2 s: 30 s of media.
    while common(&seen).len() < 15 {
        assert!(
            Instant::now() < deadline,
            "fewer than 15 common sequence numbers: {:?}\n{}",
            seen.iter()
                .map(|(m, s)| (m, s.keys().collect::<Vec<_>>()))
                .collect::<Vec<_>>(),
            n.error_log()
        );
        for m in MEMBERS {
            let Ok(text) = fs::read_to_string(playlist(&dir, false, m)) else {
                continue;
            };
            let p = parse_m3u8(&text);
            assert_eq!(p.target, Some(2), "{m}: TARGETDURATION\n{text}");
            for e in p.entries {
                let s = seen.get_mut(m).unwrap();
                if let std::collections::btree_map::Entry::Vacant(v) = s.entry(e.seq) {
                    let pts = first_video_pts(&segment(&dir, false, m, &e.uri));
                    v.insert((pts, e.duration_ms));
                }
            }
        }
        sleep(Duration::from_millis(500));
    }
    stop(publisher);
    let frame_90k = 3000;
    for seq in common(&seen) {
        let (pts, dur) = seen["cam_low"][&seq];
        for m in ["cam_mid", "cam_hi"] {
            let (p, d) = seen[m][&seq];
            assert!(
                (p - pts).abs() <= frame_90k,
                "sequence {seq}: {m} starts at {p}, cam_low at {pts}"
            );
            assert!(
                d.abs_diff(dur) <= 34,
                "sequence {seq}: {m} lasts {d} ms, cam_low {dur} ms"
            );
        }
    }
    eprintln!("{} common segments aligned", common(&seen).len());
    assert_clean_log(&n);
    n.assert_no_crash();
}
