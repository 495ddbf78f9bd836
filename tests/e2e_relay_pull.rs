//! Edges that `pull` on demand, end to end: an origin and edges, each its own nginx on
//! loopback. The first player of a stream an edge lacks starts one pull (whatever the number
//! of the edge's players and workers), every frame of a publish on the origin reaches the
//! edges' players, the first frame comes at once when the origin's stream is live, the pull
//! closes after its grace period, and an origin killed and restarted gives the edge's players
//! UnpublishNotify and then the stream again. Interop with Debian's C module both ways.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use ngx_rtmp::rtmp::client::{ClientConfig, ClientEvent, ClientSession, Mode, StreamEndReason};
use support::hls::{frame_md5, Input};
use support::nginx::{
    ffmpeg, ffmpeg_publish, ffmpeg_publish_file, run_with_timeout, Conf, Nginx, C_RTMP_MODULE,
};
use support::wait;

fn work_dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/e2e")
        .join(format!("relay-pull-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("work dir");
    d
}

/// An edge on `host` with `workers` workers whose `live` application pulls from `origins`
/// (ports on 127.0.0.1), with `extra` directives.
fn edge_on(host: &str, origins: &[u16], workers: u32, extra: &str) -> Conf {
    let pulls: String = origins
        .iter()
        .map(|p| format!("pull rtmp://127.0.0.1:{p}/live; "))
        .collect();
    Conf::rtmp(&format!(
        "server {{ listen {{host}}:{{rtmp_port}}; application live {{ live on; {pulls} {extra} }} }}"
    ))
    .workers(workers)
    .host(host)
}

fn edge_conf(origins: &[u16], workers: u32, extra: &str) -> Conf {
    edge_on("127.0.0.2", origins, workers, extra)
}

/// Plays from the origin's side of the edge: how many clients played `live/cam` there.
fn origin_plays(origin: &Nginx) -> usize {
    origin
        .error_log()
        .lines()
        .filter(|l| l.contains(" plays \"live/cam\""))
        .count()
}

/// A player driven by the crate's own RTMP client session, so the test sees every event
/// (UnpublishNotify, PublishNotify) and when the first frame came.
struct Player {
    sock: TcpStream,
    session: ClientSession,
    started: Instant,
    first_media: Option<Duration>,
    video: usize,
    ended: usize,
    republished: usize,
    failed: Option<String>,
}

impl Player {
    fn play(edge: &Nginx, name: &str) -> Player {
        let port = edge.rtmp_port;
        let started = Instant::now();
        let sock = TcpStream::connect((edge.host.as_str(), port)).expect("connect to the edge");
        sock.set_nodelay(true).ok();
        sock.set_read_timeout(Some(Duration::from_millis(20))).ok();
        let config = ClientConfig::new(
            "live",
            format!("rtmp://{}:{port}/live", edge.host),
            name,
            Mode::Play,
        );
        let mut p = Player {
            sock,
            session: ClientSession::new(config),
            started,
            first_media: None,
            video: 0,
            ended: 0,
            republished: 0,
            failed: None,
        };
        p.flush();
        p
    }

    fn flush(&mut self) {
        while let Some(out) = self.session.poll_output() {
            if self.sock.write_all(&out).is_err() {
                self.failed = Some("write failed".into());
            }
        }
    }

    /// Reads for up to `d`; `false` once the connection is gone.
    fn pump(&mut self, d: Duration) -> bool {
        let deadline = Instant::now() + d;
        let mut buf = vec![0u8; 64 * 1024];
        while Instant::now() < deadline {
            match self.sock.read(&mut buf) {
                Ok(0) => return false,
                Ok(n) => {
                    if let Err(e) = self.session.feed(&buf[..n]) {
                        self.failed = Some(e.to_string());
                        return false;
                    }
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => return false,
            }
            while let Some(ev) = self.session.poll_event() {
                match ev {
                    ClientEvent::Media { type_id: 9, .. } => {
                        self.video += 1;
                        self.first_media
                            .get_or_insert_with(|| self.started.elapsed());
                    }
                    ClientEvent::StreamEnd(StreamEndReason::UnpublishNotify) => self.ended += 1,
                    ClientEvent::Status { code, .. } if code == "NetStream.Play.PublishNotify" => {
                        self.republished += 1
                    }
                    ClientEvent::Status { code, level, .. } if level == "error" => {
                        self.failed = Some(code)
                    }
                    _ => {}
                }
            }
            self.flush();
        }
        true
    }

    /// Reads until `f` holds or `timeout`.
    fn until(&mut self, timeout: Duration, mut f: impl FnMut(&Player) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if f(self) {
                return true;
            }
            if !self.pump(Duration::from_millis(50)) {
                return f(self);
            }
        }
        f(self)
    }
}

/// An ffmpeg player of `url` writing `secs` of the stream to `out`.
fn ffmpeg_player(url: String, out: PathBuf, secs: &str) -> thread::JoinHandle<(bool, String)> {
    let mut play = ffmpeg();
    play.args(["-y", "-i", &url])
        .args(["-t", secs, "-c", "copy", "-f", "flv"])
        .arg(&out);
    thread::spawn(move || run_with_timeout(play, Duration::from_secs(60)))
}

/// Every video frame of `received` equals the source's from the first (the last few may be
/// cut by `-t` inside the B-frame window).
fn assert_same_frames(input: &Path, received: &Path, min: usize) {
    let (src, _) = frame_md5(input, "v");
    let (got, err) = frame_md5(received, "v");
    assert!(
        got.len() >= min,
        "{} video frames in {received:?} ({err})",
        got.len()
    );
    let n = got.len() - 3;
    assert_eq!(
        got[..n],
        src[..n],
        "video frames of {received:?} differ from the source"
    );
}

#[test]
fn edges_pull_once_and_deliver_every_frame() {
    let dir = work_dir("frames");
    let input = Input::encode_av(&dir, "src", 8);
    let origin = Nginx::start("relay-pull-origin", &Conf::live());
    let edges: Vec<Nginx> = (0..2)
        .map(|i| {
            Nginx::start(
                &format!("relay-pull-edge{i}"),
                &edge_on(
                    &format!("127.0.0.{}", i + 2),
                    &[origin.rtmp_port],
                    2,
                    "pull_grace 1s;",
                ),
            )
        })
        .collect();

    // Three players per edge, before the publish: the first one's play starts the pull
    // (the origin answers at once: idle streams), the others join it on whichever worker.
    let mut players = Vec::new();
    for (i, e) in edges.iter().enumerate() {
        for j in 0..3 {
            let out = dir.join(format!("edge{i}-{j}.flv"));
            players.push((
                out.clone(),
                ffmpeg_player(e.rtmp_url("live", "cam"), out, "6.5"),
            ));
            thread::sleep(Duration::from_millis(150));
        }
    }
    assert!(
        wait::until(Duration::from_secs(10), || edges
            .iter()
            .all(|e| e.error_log().contains("pull \"live/cam\" from"))),
        "the edges did not pull:\n{}",
        edges[0].error_log()
    );
    // Every player's play is in before the publish starts (each logs one line: it plays, or
    // waits for the pull).
    for e in &edges {
        assert!(
            e.wait_log_times("(127.0.0.1) play", 3, Duration::from_secs(20)),
            "{}",
            e.error_log()
        );
    }
    let (published, err) = run_with_timeout(
        ffmpeg_publish_file(&input.path, &origin.rtmp_url("live", "cam")),
        Duration::from_secs(30),
    );
    assert!(published, "publish to the origin failed: {err}");
    for (out, p) in players {
        let (ok, err) = p.join().expect("player thread");
        assert!(ok, "edge player {out:?} failed: {err}");
        assert_same_frames(&input.path, &out, 6 * 30);
    }
    // One pull per edge, whatever the number of players and workers.
    assert_eq!(origin_plays(&origin), 2, "{}", origin.error_log());

    // Nobody watches: each edge closes its pull after the grace period.
    for e in &edges {
        assert!(
            e.wait_log("pull \"live/cam\" closed", Duration::from_secs(10)),
            "the pull did not close:\n{}",
            e.error_log()
        );
        e.assert_no_crash();
    }
    origin.assert_no_crash();
}

#[test]
fn first_frame_at_once_and_origin_restart() {
    let mut origin = Nginx::start("relay-pull-restart-origin", &Conf::live());
    let mut publisher = ffmpeg_publish(&origin.rtmp_url("live", "cam"), 60)
        .spawn()
        .expect("ffmpeg publish");
    assert!(
        origin.wait_log("publishes \"live/cam\"", Duration::from_secs(10)),
        "{}",
        origin.error_log()
    );
    // Let the origin's GOP cache fill.
    thread::sleep(Duration::from_millis(2500));
    let edge = Nginx::start(
        "relay-pull-restart-edge",
        &edge_conf(
            &[origin.rtmp_port],
            2,
            "pull_reconnect 300ms; pull_grace 1s;",
        ),
    );

    let mut player = Player::play(&edge, "cam");
    assert!(
        player.until(Duration::from_secs(5), |p| p.first_media.is_some()),
        "no frame on the edge ({:?}):\n{}",
        player.failed,
        edge.error_log()
    );
    let first = player.first_media.expect("first frame");
    eprintln!("first frame {first:?} after play (the edge had no pull yet)");
    assert!(
        first < Duration::from_millis(500),
        "first frame {first:?} after play"
    );
    // A second player on the edge starts from its GOP cache, from whichever worker.
    let mut second = Player::play(&edge, "cam");
    assert!(second.until(Duration::from_secs(3), |p| p.video > 0));
    assert!(
        second.first_media.expect("second player's frame") < Duration::from_millis(500),
        "{:?}",
        second.first_media
    );
    assert_eq!(origin_plays(&origin), 1, "{}", origin.error_log());

    // The origin is killed and restarted; the publisher comes back.
    let _ = publisher.kill();
    let _ = publisher.wait();
    assert!(origin.shut_down("stop"), "origin did not stop");
    assert!(
        player.until(Duration::from_secs(10), |p| p.ended > 0),
        "no UnpublishNotify on the edge:\n{}",
        edge.error_log()
    );
    let before = player.video;
    origin = Nginx::start_prepared(origin);
    let mut publisher = ffmpeg_publish(&origin.rtmp_url("live", "cam"), 30)
        .spawn()
        .expect("ffmpeg publish");
    assert!(
        player.until(Duration::from_secs(15), |p| p.republished > 0
            && p.video > before + 30),
        "the stream did not come back on the edge ({} -> {} frames, {} PublishNotify):\n{}",
        before,
        player.video,
        player.republished,
        edge.error_log()
    );
    assert!(second.pump(Duration::from_millis(100)));

    // The players leave while the origin still publishes: the pull closes after the grace
    // period (1 s here; a worker that read the stream counts as watching for 5 s more).
    drop(player);
    drop(second);
    let left = Instant::now();
    assert!(
        edge.wait_log("pull \"live/cam\" closed", Duration::from_secs(10)),
        "the pull did not close:\n{}",
        edge.error_log()
    );
    assert!(
        left.elapsed() >= Duration::from_millis(900),
        "{:?}",
        left.elapsed()
    );
    eprintln!(
        "pull closed {:?} after the last player left",
        left.elapsed()
    );
    let _ = publisher.kill();
    let _ = publisher.wait();
    edge.assert_no_crash();
    origin.assert_no_crash();
}

#[test]
fn all_origins_down_fails_the_play_and_failover_reaches_the_live_one() {
    let origin = Nginx::start("relay-pull-failover-origin", &Conf::live());
    let dead = support::nginx::free_port();
    let mut publisher = ffmpeg_publish(&origin.rtmp_url("live", "cam"), 30)
        .spawn()
        .expect("ffmpeg publish");
    assert!(origin.wait_log("publishes \"live/cam\"", Duration::from_secs(10)));
    // The first origin is down: the pull fails over to the second.
    let edge = Nginx::start(
        "relay-pull-failover-edge",
        &edge_conf(&[dead, origin.rtmp_port], 1, ""),
    );
    let mut player = Player::play(&edge, "cam");
    assert!(
        player.until(Duration::from_secs(5), |p| p.video > 10),
        "no failover ({:?}):\n{}",
        player.failed,
        edge.error_log()
    );
    // Only dead origins: the play is refused, not left hanging.
    let lonely = Nginx::start("relay-pull-dead-edge", &edge_conf(&[dead], 1, ""));
    let mut refused = Player::play(&lonely, "cam");
    assert!(
        refused.until(Duration::from_secs(5), |p| p.failed.is_some()),
        "the play was not refused:\n{}",
        lonely.error_log()
    );
    let why = refused.failed.clone().unwrap_or_default();
    assert!(
        why.contains("NetStream.Play.Failed") && why.contains("every origin"),
        "{why}"
    );
    let _ = publisher.kill();
    let _ = publisher.wait();
    edge.assert_no_crash();
    lonely.assert_no_crash();
}

/// Interop: Debian's C module as the origin, our edge pulls.
#[test]
fn our_edge_pulls_from_the_c_module() {
    assert!(
        Path::new(C_RTMP_MODULE).is_file(),
        "{C_RTMP_MODULE} missing: scripts/test.sh installs libnginx-mod-rtmp"
    );
    let dir = work_dir("c-origin");
    let input = Input::encode_av(&dir, "src", 8);
    let origin = Nginx::start_with_module(
        "relay-pull-c-origin",
        &Conf::live(),
        Path::new(C_RTMP_MODULE),
    );
    let edge = Nginx::start("relay-pull-c-edge", &edge_conf(&[origin.rtmp_port], 2, ""));
    let out = dir.join("edge.flv");
    let player = ffmpeg_player(edge.rtmp_url("live", "cam"), out.clone(), "6.5");
    assert!(
        edge.wait_log("pull \"live/cam\" from", Duration::from_secs(10)),
        "{}",
        edge.error_log()
    );
    let (published, err) = run_with_timeout(
        ffmpeg_publish_file(&input.path, &origin.rtmp_url("live", "cam")),
        Duration::from_secs(30),
    );
    assert!(published, "publish to the C origin failed: {err}");
    let (ok, err) = player.join().expect("player thread");
    assert!(ok, "edge player failed: {err}\n{}", edge.error_log());
    assert_same_frames(&input.path, &out, 6 * 30);
    edge.assert_no_crash();
}

/// Interop: our origin, Debian's C module as the edge (`pull` in its configuration).
#[test]
fn the_c_module_pulls_from_our_origin() {
    assert!(
        Path::new(C_RTMP_MODULE).is_file(),
        "{C_RTMP_MODULE} missing"
    );
    let dir = work_dir("c-edge");
    let origin = Nginx::start("relay-pull-our-origin", &Conf::live());
    let mut publisher = ffmpeg_publish(&origin.rtmp_url("live", "cam"), 30)
        .spawn()
        .expect("ffmpeg publish");
    assert!(origin.wait_log("publishes \"live/cam\"", Duration::from_secs(10)));
    let edge = Nginx::start_with_module(
        "relay-pull-c-edge-module",
        &Conf::rtmp(&format!(
            "server {{ listen 127.0.0.1:{{rtmp_port}}; application live {{ live on; \
             pull rtmp://127.0.0.1:{}/live; }} }}",
            origin.rtmp_port
        )),
        Path::new(C_RTMP_MODULE),
    );
    let out = dir.join("c-edge.flv");
    let (ok, err) = ffmpeg_player(edge.rtmp_url("live", "cam"), out.clone(), "3")
        .join()
        .expect("player thread");
    assert!(
        ok,
        "player on the C edge failed: {err}\n{}",
        origin.error_log()
    );
    let (got, err) = frame_md5(&out, "v");
    assert!(
        got.len() >= 60,
        "{} frames on the C edge ({err})",
        got.len()
    );
    let _ = publisher.kill();
    let _ = publisher.wait();
    origin.assert_no_crash();
}

/// `GET path` on 127.0.0.1:`port`; the body.
fn http_get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to http");
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").expect("request");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// A `static` pull runs from the start, once across the edge's workers, and the pulled
/// stream is a published stream there: HLS written at the edge, `<publishing/>` in stat.
#[test]
fn static_pull_runs_once_with_hls_and_stat_at_the_edge() {
    let origin = Nginx::start("relay-pull-static-origin", &Conf::live());
    let mut publisher = ffmpeg_publish(&origin.rtmp_url("live", "cam"), 30)
        .spawn()
        .expect("ffmpeg publish");
    assert!(origin.wait_log("publishes \"live/cam\"", Duration::from_secs(10)));
    let edge = Nginx::start(
        "relay-pull-static-edge",
        &edge_on(
            "127.0.0.3",
            &[],
            2,
            &format!(
                "pull rtmp://127.0.0.1:{}/live name=cam static; pull_grace 1s; \
                 hls on; hls_path {{prefix}}/hls; hls_fragment 1s;",
                origin.rtmp_port
            ),
        )
        .http("location /stat { rtmp_stat all; }"),
    );
    let playlist = edge.prefix.join("hls/cam.m3u8");
    assert!(
        wait::until(Duration::from_secs(15), || std::fs::read_to_string(
            &playlist
        )
        .is_ok_and(|p| p.matches("#EXTINF").count() >= 2)),
        "no HLS of the pulled stream at the edge:\n{}",
        edge.error_log()
    );
    let stat = http_get(edge.http_port, "/stat");
    let cam = stat.find("<name>cam</name>").expect("stream in stat");
    assert!(stat[cam..].contains("<publishing/>"), "{stat}");
    assert!(
        support::nginx::ffmpeg_plays(&edge.rtmp_url("live", "cam")),
        "no stream for a player of the edge"
    );
    assert_eq!(origin_plays(&origin), 1, "{}", origin.error_log());

    // A reload: the old worker lets its static pull go (after the grace period, nobody
    // watching it), a new worker takes it over.
    edge.signal("reload");
    assert!(
        wait::until(Duration::from_secs(20), || origin_plays(&origin) >= 2),
        "no new worker took the static pull over:\n{}",
        edge.error_log()
    );
    assert!(
        support::nginx::ffmpeg_plays(&edge.rtmp_url("live", "cam")),
        "no stream at the edge after the reload:\n{}",
        edge.error_log()
    );
    assert_eq!(origin_plays(&origin), 2, "{}", origin.error_log());
    let _ = publisher.kill();
    let _ = publisher.wait();
    edge.assert_no_crash();
    origin.assert_no_crash();
}
