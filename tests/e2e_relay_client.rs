//! The crate's RTMP client over real TCP against Debian's C nginx-rtmp-module: it publishes
//! 5 s of an ffmpeg-made FLV (read with the crate's FLV reader) in real time, while ffprobe
//! and a second client session (playing) watch the stream on the C server.

mod support;

use std::collections::HashSet;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ngx_rtmp::media::flv_stream::{FlvReader, FlvTag};
use ngx_rtmp::relay::{RelayKind, RelayTarget};
use ngx_rtmp::rtmp::client::{ClientEvent, ClientSession, ClientState};
use ngx_rtmp::rtmp::handshake::HandshakeKind;
use support::nginx::{ffmpeg, run_with_timeout, Conf, Nginx, C_RTMP_MODULE};

/// A client session on a socket.
struct Conn {
    sock: TcpStream,
    session: ClientSession,
    events: Vec<ClientEvent>,
}

impl Conn {
    fn connect(port: u16, target: &RelayTarget, local_name: &str) -> Conn {
        let sock = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        sock.set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        sock.set_nodelay(true).unwrap();
        Conn {
            sock,
            session: ClientSession::new(target.client_config(local_name)),
            events: Vec::new(),
        }
    }

    /// Writes pending output, reads what is there (waiting up to 20 ms), feeds it.
    fn step(&mut self) {
        while let Some(b) = self.session.poll_output() {
            self.sock.write_all(&b).expect("write");
        }
        let mut buf = [0u8; 65536];
        match self.sock.read(&mut buf) {
            Ok(0) => panic!("server closed the connection"),
            Ok(n) => self.session.feed(&buf[..n]).expect("client feed"),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("read: {e}"),
        }
        while let Some(e) = self.session.poll_event() {
            self.events.push(e);
        }
        while let Some(b) = self.session.poll_output() {
            self.sock.write_all(&b).expect("write");
        }
    }

    fn until_state(&mut self, state: ClientState) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.session.state() != state {
            assert!(
                Instant::now() < deadline,
                "stuck in {:?}: {:?}",
                self.session.state(),
                self.events
            );
            self.step();
        }
    }
}

fn flv_tags(path: &Path) -> Vec<FlvTag> {
    let mut r = FlvReader::new(1 << 22);
    r.feed(&std::fs::read(path).expect("read flv"));
    std::iter::from_fn(|| r.poll().expect("flv")).collect()
}

#[test]
fn publish_and_play_through_the_c_module() {
    assert!(
        Path::new(C_RTMP_MODULE).is_file(),
        "{C_RTMP_MODULE} missing: scripts/test.sh installs libnginx-mod-rtmp"
    );
    let c = Nginx::start_with_module("relay-client-c", &Conf::live(), Path::new(C_RTMP_MODULE));
    let flv = c.prefix.join("tmp/input.flv");
    let mut gen = ffmpeg();
    gen.args(["-f", "lavfi", "-i", "testsrc=size=320x240:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
        .args([
            "-t",
            "5",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "30",
        ])
        .args([
            "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k", "-f", "flv",
        ])
        .arg(&flv);
    let (ok, err) = run_with_timeout(gen, Duration::from_secs(60));
    assert!(ok, "ffmpeg: {err}");
    let tags = flv_tags(&flv);
    assert!(tags.iter().filter(|t| t.type_id == 9).count() >= 140);
    let sent_video: HashSet<Bytes> = tags
        .iter()
        .filter(|t| t.type_id == 9)
        .map(|t| t.body.clone())
        .collect();

    let port = c.rtmp_port;
    let url = format!("rtmp://127.0.0.1:{port}/live");
    let push = RelayTarget::parse(RelayKind::Push, &url, &["flashVer=FMLE/3.0"]).unwrap();
    let mut publisher = Conn::connect(port, &push, "relayed");
    publisher.until_state(ClientState::Publishing);
    // nginx-rtmp answers our signed C1 with the digest scheme.
    assert!(matches!(
        publisher.session.server_handshake(),
        Some(HandshakeKind::Digest { .. })
    ));

    let pub_thread = thread::spawn(move || {
        let start = Instant::now();
        for t in &tags {
            while start.elapsed() < Duration::from_millis(u64::from(t.timestamp)) {
                publisher.step();
            }
            publisher
                .session
                .send_media(t.type_id, t.timestamp, &t.body)
                .expect("send");
            publisher.step();
        }
        for _ in 0..20 {
            publisher.step();
        }
        publisher.session.close();
        publisher.step();
        publisher
    });

    // A second session plays the stream from the C server meanwhile.
    let pull = RelayTarget::parse(RelayKind::Pull, &url, &[]).unwrap();
    thread::sleep(Duration::from_millis(500));
    let mut player = Conn::connect(port, &pull, "relayed");
    player.until_state(ClientState::Playing);
    // And ffprobe sees H.264 320x240 and AAC.
    let probe = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name,width,height",
        ])
        .args(["-of", "csv=p=0"])
        .arg(format!("{url}/relayed"))
        .output()
        .expect("ffprobe");
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(2) {
        player.step();
    }
    let publisher = pub_thread.join().expect("publisher thread");
    assert_eq!(publisher.session.state(), ClientState::Closed);
    assert!(
        publisher
            .events
            .iter()
            .all(|e| !matches!(e, ClientEvent::Status { level, .. } if level == "error")),
        "{:?}",
        publisher.events
    );

    let probe_out = String::from_utf8_lossy(&probe.stdout).to_string();
    assert!(
        probe_out.contains("h264,320,240"),
        "ffprobe: {probe_out} {}",
        String::from_utf8_lossy(&probe.stderr)
    );
    assert!(probe_out.contains("aac"), "ffprobe: {probe_out}");

    let video: Vec<&Bytes> = player
        .events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Media {
                type_id: 9,
                payload,
                ..
            } => Some(payload),
            _ => None,
        })
        .collect();
    let audio = player
        .events
        .iter()
        .filter(|e| matches!(e, ClientEvent::Media { type_id: 8, .. }))
        .count();
    assert!(video.len() >= 45, "player got {} video frames", video.len());
    assert!(audio >= 60, "player got {audio} audio frames");
    // Every video frame the player got is one the publisher sent, byte for byte.
    assert!(video.iter().all(|v| sent_video.contains(*v)));
    // The C module sends the AVC sequence header first.
    assert_eq!(video.first().map(|v| (v[0], v[1])), Some((0x17, 0)));
    c.assert_no_crash();
}
