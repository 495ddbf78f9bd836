//! Publisher read pacing (`publish_read_interval`, 50 ms by default): the worker may leave a
//! publisher's small messages in the socket until more data or the interval's deadline, but
//! never longer, and a message that arrives in many pieces is delivered whole.

mod support;

use std::thread;
use std::time::{Duration, Instant};

use support::nginx::{Conf, Nginx};
use support::player::{Got, TestPlayer};
use support::rtmp_client::{chunks, Client};

fn conf() -> Conf {
    Conf::rtmp("server { listen 127.0.0.1:{rtmp_port}; application live { live on; } }")
}

/// A raw publisher sending synthetic AVC frames at 30 fps timestamps.
struct Publisher {
    client: Client,
    ts: u32,
}

impl Publisher {
    fn start(port: u16, name: &str) -> Publisher {
        let mut client = Client::handshake(port);
        client.connect("live");
        client.create_stream();
        client.publish(name);
        // Sequence header: avcC with one SPS and one PPS.
        let header = [
            0x17, 0, 0, 0, 0, 1, 0x42, 0xC0, 0x1E, 0xFF, 0xE1, 0, 4, 0x67, 0x42, 0xC0, 0x1E, 1, 0,
            2, 0x68, 0xCE,
        ];
        client.send(&chunks(6, 9, 1, 0, &header, 128)).unwrap();
        Publisher { client, ts: 0 }
    }

    /// One video message of `len` bytes (AVCC, one NAL unit) with the next timestamp.
    fn message(&mut self, key: bool, len: usize) -> (u32, Vec<u8>) {
        let nal = len - 9;
        let mut v = vec![if key { 0x17 } else { 0x27 }, 1, 0, 0, 0];
        v.extend_from_slice(&(nal as u32).to_be_bytes());
        v.push(if key { 0x65 } else { 0x41 });
        v.resize(len, 0x5A);
        self.ts += 33;
        (self.ts, chunks(6, 9, 1, self.ts, &v, 128))
    }

    fn frame(&mut self, key: bool, len: usize) -> u32 {
        let (ts, bytes) = self.message(key, len);
        self.client.send(&bytes).unwrap();
        ts
    }

    /// A keyframe, then 1.5 s of 6 kB inter frames in real time: long enough for the worker
    /// to measure the publisher's rate and batch its reads.
    fn warm_up(&mut self) {
        self.frame(true, 30_000);
        for _ in 0..45 {
            thread::sleep(Duration::from_millis(33));
            self.frame(false, 6_000);
        }
        thread::sleep(Duration::from_millis(33));
    }
}

/// A player that joined before the publisher: collects `count` video messages.
fn player(port: u16, name: &'static str, count: usize) -> thread::JoinHandle<Vec<Got>> {
    let mut p = TestPlayer::play(port, "live", name);
    thread::spawn(move || {
        let mut got = p.collect(Instant::now() + Duration::from_secs(20), count);
        got.retain(|g| g.type_id == 9);
        got
    })
}

/// nginx, a player that joined before the publisher (collecting `count` video messages) and a
/// publisher past its warm-up.
fn warmed_up(name: &'static str, count: usize) -> (Nginx, thread::JoinHandle<Vec<Got>>, Publisher) {
    let n = Nginx::start(&format!("ingest-{name}"), &conf());
    let watcher = player(n.rtmp_port, name, count);
    assert!(n.wait_log("(waiting for its publisher)", Duration::from_secs(10)));
    let mut p = Publisher::start(n.rtmp_port, name);
    let published = format!("publishes \"live/{name}\"");
    assert!(n.wait_log(&published, Duration::from_secs(10)));
    p.warm_up();
    (n, watcher, p)
}

#[test]
fn a_small_message_waits_at_most_the_interval() {
    // Header, warm-up keyframe, 45 inter frames, the small one.
    let (n, watcher, mut p) = warmed_up("small", 48);
    // 200 bytes: far below the low-water mark of a 1.5 Mbit/s publisher (9 kB), and nothing
    // follows.
    let ts = p.frame(false, 200);
    let sent = Instant::now();
    let got = watcher.join().unwrap();
    let last = got.last().expect("player got nothing");
    assert_eq!(
        (last.timestamp, last.len),
        (ts, 200),
        "the small frame never reached the player ({} video messages)",
        got.len()
    );
    let waited = last.at.saturating_duration_since(sent);
    assert!(
        waited < Duration::from_millis(500),
        "the small frame waited {waited:?} in the server"
    );
    drop(p);
    n.assert_no_crash();
}

#[test]
fn a_keyframe_arriving_in_pieces_is_delivered_whole() {
    // Header, warm-up keyframe, 45 inter frames, the sliced keyframe, one inter frame.
    let (n, watcher, mut p) = warmed_up("pieces", 49);
    // 60 kB in 997-byte writes, 2 ms apart: pieces end inside chunk headers and bodies.
    let (key_ts, bytes) = p.message(true, 60_000);
    for piece in bytes.chunks(997) {
        p.client.send(piece).unwrap();
        thread::sleep(Duration::from_millis(2));
    }
    let after_ts = p.frame(false, 300);
    let got = watcher.join().unwrap();
    let key = got.iter().find(|g| g.timestamp == key_ts);
    assert_eq!(
        key.map(|g| (g.len, g.keyframe)),
        Some((60_000, true)),
        "sliced keyframe"
    );
    assert_eq!(
        got.last().map(|g| (g.timestamp, g.len)),
        Some((after_ts, 300)),
        "the frame after it"
    );
    drop(p);
    n.assert_no_crash();
}
