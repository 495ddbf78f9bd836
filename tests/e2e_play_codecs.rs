//! RTMP playback of Enhanced RTMP streams end to end: FFmpeg 9 publishes HEVC+AAC, AV1+Opus,
//! VP9+Opus and a multitrack stream (H.264 + HEVC); FFmpeg 9 (which announces the codecs in
//! its `fourCcList`) receives every packet as published; Debian's FFmpeg 5.1 (a legacy
//! player) is told the HEVC stream is unplayable (NetStream.Play.Failed) and gets the H.264
//! track of the multitrack stream, every frame of it.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::Duration;

use support::ffmpeg9;
use support::nginx::{ffmpeg, run_with_timeout, Conf, Nginx};

const TIMEOUT: Duration = Duration::from_secs(120);
/// What FFmpeg 9 is told to announce when it plays.
const ENHANCED: &str = "hvc1,av01,vp09,avc1,mp4a,Opus";

fn dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("target/e2e/play-codecs-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    })
}

/// A 3 s 320x240 15 fps test pattern with a sine, encoded once by FFmpeg 9 into FLV with
/// `codec_args` (small, fast encodes).
fn source(name: &str, codec_args: &[&str]) -> PathBuf {
    let path = dir().join(format!("{name}.flv"));
    if path.exists() {
        return path;
    }
    // Tests running at once may encode the same source: each into a file of its own.
    static TMP: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let k = TMP.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir().join(format!("{name}.{k}.tmp.flv"));
    ffmpeg9::encode_test_pattern(&tmp, "3", codec_args);
    std::fs::rename(&tmp, &path).unwrap();
    path
}

fn hevc_aac() -> PathBuf {
    source(
        "hevc_aac",
        &[
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-x265-params",
            "keyint=15:log-level=error",
            "-c:a",
            "aac",
        ],
    )
}

fn av1_opus() -> PathBuf {
    source(
        "av1_opus",
        &[
            "-c:v",
            "libsvtav1",
            "-preset",
            "12",
            "-g",
            "15",
            "-c:a",
            "libopus",
            "-b:a",
            "32k",
        ],
    )
}

fn vp9_opus() -> PathBuf {
    source(
        "vp9_opus",
        &[
            "-c:v",
            "libvpx-vp9",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
            "-g",
            "15",
            "-b:v",
            "200k",
            "-c:a",
            "libopus",
            "-b:a",
            "32k",
        ],
    )
}

/// Two video streams (H.264, then HEVC: FFmpeg writes the second as Multitrack track 1) and
/// AAC.
fn multitrack() -> PathBuf {
    source(
        "multi",
        &[
            "-map",
            "0:v",
            "-map",
            "0:v",
            "-map",
            "1:a",
            "-c:v:0",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "15",
            "-c:v:1",
            "libx265",
            "-x265-params",
            "keyint=15:log-level=error",
            "-c:a",
            "aac",
        ],
    )
}

/// Per media type, the (size, MD5) of every packet, in order, from a `framemd5` listing.
type Packets = BTreeMap<String, Vec<(String, String)>>;

fn parse_framemd5(text: &str) -> Packets {
    let mut kinds: BTreeMap<String, String> = BTreeMap::new();
    let mut out = Packets::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("#media_type ") {
            let (i, kind) = rest.split_once(": ").unwrap();
            kinds.insert(i.trim().to_owned(), kind.trim().to_owned());
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let kind = kinds.get(f[0]).cloned().unwrap_or_else(|| f[0].to_owned());
        // Several streams of one kind (multitrack) are told apart by their index.
        let key = if kinds.values().filter(|k| **k == kind).count() > 1 {
            format!("{kind}#{}", f[0])
        } else {
            kind
        };
        out.entry(key)
            .or_default()
            .push((f[4].to_owned(), f[5].to_owned()));
    }
    out
}

/// The packets of a file, by FFmpeg 9.
fn file_packets(file: &Path) -> Packets {
    let out = ffmpeg9::command()
        .arg("-i")
        .arg(file)
        .args(["-map", "0", "-c", "copy", "-f", "framemd5", "-"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse_framemd5(&String::from_utf8_lossy(&out.stdout))
}

/// A player writing what it receives as a `framemd5` listing to `out`.
fn player(mut cmd: Command, url: &str, out: &Path) -> Child {
    cmd.args(["-i", url, "-map", "0", "-c", "copy", "-f", "framemd5"])
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn ffmpeg9_player() -> Command {
    let mut c = ffmpeg9::command();
    c.args(["-y", "-rtmp_enhanced_codecs", ENHANCED]);
    c
}

fn legacy_player() -> Command {
    let mut c = ffmpeg();
    c.arg("-y");
    c
}

fn publish(src: &Path, url: &str) {
    let mut cmd = ffmpeg9::command();
    cmd.args(["-re", "-i"])
        .arg(src)
        .args(["-map", "0", "-c", "copy", "-f", "flv", url])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let (ok, err) = run_with_timeout(cmd, TIMEOUT);
    assert!(ok, "publish failed: {err}");
}

fn conf(workers: u32) -> Conf {
    Conf::rtmp("server { listen 127.0.0.1:{rtmp_port}; application live { live on; } }")
        .workers(workers)
}

/// Starts players (`spawn(i)`) of `live/{name}`, at least `min`, and with `workers > 1` until
/// both workers have one (nginx hands a connection to whichever worker wakes first): then
/// whichever worker the publisher lands on, a player reads the stream through the ring.
fn start_players(
    n: &Nginx,
    name: &str,
    workers: u32,
    min: usize,
    mut spawn: impl FnMut(usize) -> Child,
) -> Vec<Child> {
    let needle = format!("plays \"live/{name}\"");
    let pids = |log: &str| -> Vec<String> {
        log.lines()
            .filter(|l| l.contains(&needle))
            .filter_map(|l| l.split_whitespace().nth(3).map(str::to_owned))
            .collect()
    };
    let mut players = Vec::new();
    loop {
        players.push(spawn(players.len()));
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while pids(&n.error_log()).len() < players.len() && std::time::Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        let distinct: std::collections::HashSet<String> =
            pids(&n.error_log()).into_iter().collect();
        if players.len() >= min && distinct.len() as u32 >= workers.min(2) {
            return players;
        }
        assert!(players.len() < 30, "30 players, all on one worker");
    }
}

/// The packets a player received are the published ones, every one of them. With two
/// workers a player that waited on the worker without the publisher starts where that worker
/// began reading the ring: the publisher writes its GOP cache then, so the video is whole,
/// but audio sent before the first keyframe may precede it (at most a few packets; what
/// comes is the published tail, in order).
fn assert_packets(
    got: &[(String, String)],
    published: &[(String, String)],
    workers: u32,
    what: &str,
) {
    let missing = published.len().saturating_sub(got.len());
    let allowed = if workers > 1 { 3 } else { 0 };
    assert!(
        missing <= allowed,
        "{what}: {} packets received of {} published",
        got.len(),
        published.len()
    );
    assert_eq!(got, &published[missing..], "{what}: packets differ");
}

fn wait(child: Child, what: &str) -> (bool, String) {
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    eprintln!("{what}: exit {:?} {err}", out.status.code());
    (out.status.success(), err)
}

/// FFmpeg 9 players, connected before the publish starts, receive every packet of `src`.
fn enhanced_players_get_every_packet(name: &str, src: PathBuf, workers: u32, players: usize) {
    let n = Nginx::start(&format!("codecs-{name}"), &conf(workers));
    let expected = file_packets(&src);
    assert_eq!(expected.len(), 2, "{name}: {:?}", expected.keys());
    let url = n.rtmp_url("live", name);
    let out = |i: usize| n.prefix.join(format!("{name}-{i}.md5"));
    let children = start_players(&n, name, workers, players, |i| {
        player(ffmpeg9_player(), &url, &out(i))
    });
    let outs: Vec<PathBuf> = (0..children.len()).map(out).collect();
    thread::sleep(Duration::from_millis(500));
    publish(&src, &url);
    for (i, c) in children.into_iter().enumerate() {
        let (ok, err) = wait(c, &format!("{name} player {i}"));
        assert!(ok, "{name} player {i}: {err}");
        let got = parse_framemd5(&std::fs::read_to_string(&outs[i]).unwrap());
        for (kind, packets) in &expected {
            let g = got.get(kind).map_or(&[][..], |v| v.as_slice());
            assert_packets(g, packets, workers, &format!("{name} player {i}: {kind}"));
        }
    }
    n.assert_no_crash();
}

#[test]
fn hevc_aac_every_packet_to_enhanced_players() {
    enhanced_players_get_every_packet("hevc", hevc_aac(), 1, 2);
}

#[test]
fn av1_opus_every_packet_to_enhanced_players() {
    enhanced_players_get_every_packet("av1", av1_opus(), 1, 2);
}

#[test]
fn vp9_opus_every_packet_to_enhanced_players() {
    enhanced_players_get_every_packet("vp9", vp9_opus(), 1, 2);
}

/// Two workers: with several players, some are on the worker that does not have the
/// publisher and read the stream through the shared ring.
#[test]
fn hevc_aac_every_packet_across_workers() {
    enhanced_players_get_every_packet("hevc2w", hevc_aac(), 2, 3);
}

#[test]
fn legacy_player_of_hevc_gets_play_failed() {
    let n = Nginx::start("codecs-legacy-hevc", &conf(1));
    let url = n.rtmp_url("live", "hevc");
    let out = n.prefix.join("legacy.md5");
    let waiting = player(legacy_player(), &url, &out);
    assert!(n.wait_log("(waiting for its publisher)", Duration::from_secs(20)));
    let publisher = {
        let mut cmd = ffmpeg9::command();
        cmd.args(["-re", "-i"])
            .arg(hevc_aac())
            .args(["-c", "copy", "-f", "flv", &url])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        cmd.spawn().unwrap()
    };
    // Known at play time too: a legacy player that comes once the stream is live.
    assert!(n.wait_log("publishes \"live/hevc\"", Duration::from_secs(20)));
    thread::sleep(Duration::from_millis(800));
    let late = player(legacy_player(), &url, &n.prefix.join("late.md5"));
    for (c, what) in [
        (waiting, "waiting legacy player"),
        (late, "late legacy player"),
    ] {
        let (ok, err) = wait(c, what);
        assert!(!ok, "{what} succeeded on an HEVC stream");
        assert!(
            err.contains("NetStream.Play.Failed") || err.contains("is HEVC"),
            "{what}: {err}"
        );
    }
    assert!(n
        .error_log()
        .contains("is HEVC: this player did not announce it"));
    let _ = publisher.wait_with_output();
    n.assert_no_crash();
}

#[test]
fn legacy_player_of_multitrack_gets_the_avc_track() {
    legacy_players_of_multitrack("codecs-multi", 1, 1);
}

/// Two workers, several legacy players: some play on the worker without the publisher,
/// through the shared ring.
#[test]
fn legacy_players_of_multitrack_across_workers() {
    legacy_players_of_multitrack("codecs-multi2w", 2, 3);
}

fn legacy_players_of_multitrack(name: &str, workers: u32, players: usize) {
    let n = Nginx::start(name, &conf(workers));
    let src = multitrack();
    let expected = file_packets(&src);
    let h264 = expected
        .iter()
        .filter(|(k, _)| k.starts_with("video"))
        .map(|(_, v)| v.clone())
        .next()
        .unwrap();
    let audio = expected.get("audio").cloned().unwrap();
    let url = n.rtmp_url("live", "multi");
    let out = |i: usize| n.prefix.join(format!("legacy{i}.md5"));
    let legacy = start_players(&n, "multi", workers, players, |i| {
        player(legacy_player(), &url, &out(i))
    });
    let outs: Vec<PathBuf> = (0..legacy.len()).map(out).collect();
    let out9 = n.prefix.join("enhanced.md5");
    let enhanced = player(ffmpeg9_player(), &url, &out9);
    thread::sleep(Duration::from_millis(500));
    publish(&src, &url);
    for (i, c) in legacy.into_iter().enumerate() {
        let (ok, err) = wait(c, &format!("legacy player {i}"));
        assert!(
            ok,
            "legacy player {i}: {err}\n{}",
            n.error_log()
                .lines()
                .filter(|l| l.contains("rtmp:"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        let got = parse_framemd5(&std::fs::read_to_string(&outs[i]).unwrap());
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            ["audio", "video"],
            "player {i}"
        );
        assert_packets(&got["video"], &h264, workers, &format!("player {i}: H.264"));
        assert_packets(&got["audio"], &audio, workers, &format!("player {i}: AAC"));
    }
    let _ = wait(enhanced, "enhanced player");
    n.assert_no_crash();
}

/// Stat lists every track of a multitrack stream (codec, profile, resolution), in XML and
/// JSON, besides nginx-rtmp's `<video>`/`<audio>` of the primary tracks.
#[test]
fn stat_lists_every_track() {
    let conf = conf(1).http("location /stat { rtmp_stat all; }");
    let n = Nginx::start("codecs-stat", &conf);
    n.wait_listening(n.http_port);
    let src = multitrack();
    let url = n.rtmp_url("live", "multi");
    let mut publisher = ffmpeg9::command();
    publisher
        .args(["-re", "-stream_loop", "3", "-i"])
        .arg(&src)
        .args(["-map", "0", "-c", "copy", "-f", "flv", &url])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut publisher = publisher.spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let xml = loop {
        let body =
            String::from_utf8_lossy(&support::http::get(n.http_port, "/stat").body).into_owned();
        if body.contains("<tracks>") || std::time::Instant::now() > deadline {
            break body;
        }
        thread::sleep(Duration::from_millis(200));
    };
    let json = String::from_utf8_lossy(&support::http::get(n.http_port, "/stat?format=json").body)
        .into_owned();
    let _ = publisher.kill();
    let _ = publisher.wait();
    for needle in [
        "<video><width>320</width><height>240</height>",
        "<codec>H264</codec>",
        "<audio><codec>AAC</codec>",
        "<track><id>0</id><type>video</type><codec>H264</codec>",
        "<track><id>1</id><type>video</type><codec>HEVC</codec><profile>Main</profile>",
        "<width>320</width><height>240</height></track>",
        "<track><id>0</id><type>audio</type><codec>AAC</codec><profile>LC</profile>",
    ] {
        assert!(xml.contains(needle), "missing {needle:?} in\n{xml}");
    }
    assert!(
        json.contains(r#"{"id":1,"type":"video","codec":"HEVC","profile":"Main""#),
        "{json}"
    );
    // The stylesheet the docs serve shows a row per track.
    let html = xslt(&xml);
    for needle in [
        "track 0 video",
        "track 1 video",
        "HEVC Main 320x240",
        "track 0 audio",
    ] {
        assert!(html.contains(needle), "missing {needle:?} in\n{html}");
    }
    n.assert_no_crash();
}

/// `nginx-conf/stat.xsl` applied to `xml` by xsltproc (installed by `scripts/test.sh`), with
/// whitespace runs folded.
fn xslt(xml: &str) -> String {
    let dir = std::env::temp_dir().join(format!("ngx-rtmp-xslt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let doc = dir.join("stat.xml");
    std::fs::write(&doc, xml).unwrap();
    let xsl = concat!(env!("CARGO_MANIFEST_DIR"), "/nginx-conf/stat.xsl");
    let out = std::process::Command::new("xsltproc")
        .arg(xsl)
        .arg(&doc)
        .output()
        .expect("xsltproc (scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}
