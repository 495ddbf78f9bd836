//! The relay core driven as the shell drives it, against a scripted target: a published
//! stream (25 fps video with a keyframe every 2 s, audio) goes through a stream's GOP cache
//! and a relay's queue to a target that is down at start, comes up, dies mid-stream and
//! restarts, and then stops reading. No sockets: the "network" is a model with a read rate.

use std::net::SocketAddr;

use bytes::Bytes;
use ngx_rtmp::live::{GopCache, LegacyForm, MediaInfo};
use ngx_rtmp::relay::{
    ErrorKind, LogLevel, Relay, RelayBuffer, RelayConfig, RelayEndpoint, RelayOp, RelayQueue,
    RelayState,
};

const STEP_MS: u64 = 10;
/// What the shell lets its client session hold before it stops popping the queue.
const SESSION_WATERMARK: usize = 64 * 1024;

/// The published stream: a message list per 40 ms tick.
fn publish(t_ms: u64) -> Vec<(u8, u32, Bytes)> {
    let ts = t_ms as u32;
    let mut out = Vec::new();
    if t_ms == 0 {
        out.push((18, 0, Bytes::from_static(b"onMetaData")));
        out.push((9, 0, Bytes::from_static(&[0x17, 0, 0, 0, 0, 1, 0x64])));
        out.push((8, 0, Bytes::from_static(&[0xAF, 0, 0x12, 0x10])));
    }
    if t_ms.is_multiple_of(40) {
        let key = t_ms.is_multiple_of(2000);
        let mut v = vec![0u8; if key { 30_000 } else { 6000 }];
        v[0] = if key { 0x17 } else { 0x27 };
        v[1] = 1;
        out.push((9, ts, Bytes::from(v)));
        let mut a = vec![0u8; 400];
        a[0] = 0xAF;
        a[1] = 1;
        out.push((8, ts, Bytes::from(a)));
    }
    out
}

/// The target: when it accepts connections, how fast it reads, what it got.
struct Target {
    up: Box<dyn Fn(u64) -> bool>,
    /// Bytes per step it reads (0: it stopped reading).
    read_per_step: Box<dyn Fn(u64) -> usize>,
    /// Per connection, the messages it received: (type, timestamp, keyframe, header).
    received: Vec<Vec<(u8, u32, bool, bool)>>,
}

/// The shell: a relay, its queue, the connection's state.
struct Shell {
    relay: Relay,
    queue: RelayQueue,
    gop: GopCache,
    connected: bool,
    /// Bytes written to the "socket" and not read by the target yet.
    in_flight: usize,
    /// When the pending connect or negotiation completes.
    pending: Option<(u64, Step)>,
    logs: Vec<(u64, LogLevel, String)>,
    peak_held: usize,
    streaming_at: Vec<u64>,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Step {
    Connect,
    Negotiate,
}

impl Shell {
    fn new() -> Shell {
        Shell {
            relay: Relay::new(
                RelayConfig::default(),
                RelayEndpoint {
                    url: "rtmp://target.test/live/s".into(),
                    host: "target.test".into(),
                    port: 1935,
                    tls: false,
                },
                0x5eed,
            ),
            queue: RelayQueue::new(RelayBuffer::default()),
            gop: GopCache::new(true, 2048, 16 << 20),
            connected: false,
            in_flight: 0,
            pending: None,
            logs: Vec::new(),
            peak_held: 0,
            streaming_at: Vec::new(),
        }
    }

    fn run_ops(&mut self, now: u64, target: &mut Target) {
        while let Some(op) = self.relay.poll_op() {
            match op {
                RelayOp::Resolve(host) => {
                    assert_eq!(host, "target.test");
                    let addr: SocketAddr = ([127, 0, 0, 2], 0).into();
                    self.relay.on_resolved(now, Ok(vec![addr]));
                }
                RelayOp::Connect(addr) => {
                    assert_eq!(addr.port(), 1935);
                    if (target.up)(now) {
                        self.pending = Some((now + 20, Step::Connect));
                    } else {
                        self.relay
                            .on_error(now, ErrorKind::Connect, "connection refused");
                    }
                }
                RelayOp::Close => self.drop_connection(),
                RelayOp::Log { level, line } => self.logs.push((now, level, line)),
                RelayOp::GaveUp => panic!("a push never gives up"),
            }
        }
    }

    fn drop_connection(&mut self) {
        self.connected = false;
        self.in_flight = 0;
        self.pending = None;
        self.queue.leave();
    }

    fn step(&mut self, now: u64, target: &mut Target) {
        // The publisher.
        for (type_id, ts, payload) in publish(now) {
            let info = MediaInfo::classify(type_id, &payload);
            self.queue
                .offer(info, type_id, ts, &payload, self.in_flight);
            self.gop
                .push_payload(info, type_id, ts, &payload, 4096, LegacyForm::Same);
        }
        // The network.
        if self.connected && !(target.up)(now) {
            self.drop_connection();
            self.relay.on_closed(now);
        }
        if let Some((at, step)) = self.pending {
            if now >= at {
                self.pending = None;
                match step {
                    Step::Connect => {
                        self.connected = true;
                        self.relay.on_connected(now);
                        self.pending = Some((now + 50, Step::Negotiate));
                    }
                    Step::Negotiate => {
                        self.relay.on_session_ready(now);
                        self.queue.join(&self.gop);
                        target.received.push(Vec::new());
                        self.streaming_at.push(now);
                    }
                }
            }
        }
        if self.relay.state() == RelayState::Streaming {
            let read = (target.read_per_step)(now).min(self.in_flight);
            self.in_flight -= read;
            self.relay.add_bytes(read as u64, 0);
            while self.in_flight < SESSION_WATERMARK {
                let Some(m) = self.queue.pop() else { break };
                self.in_flight += m.payload.len() + 12;
                if let Some(conn) = target.received.last_mut() {
                    conn.push((
                        m.type_id,
                        m.timestamp,
                        m.info.keyframe,
                        m.info.is_mandatory(),
                    ));
                }
            }
        }
        self.peak_held = self
            .peak_held
            .max(self.queue.backlog_bytes() + self.in_flight);
        self.relay.tick(now);
        self.run_ops(now, target);
    }
}

/// Every connection's video starts at a keyframe after the codec headers, and the metadata
/// and both headers come first.
fn assert_decodable(conn: &[(u8, u32, bool, bool)]) {
    let first_frame = conn.iter().position(|m| m.0 == 9 && !m.3);
    let Some(first_frame) = first_frame else {
        return;
    };
    assert!(
        conn[first_frame].2,
        "video starts at a keyframe: {:?}",
        &conn[..first_frame + 1]
    );
    let headers: Vec<u8> = conn[..first_frame]
        .iter()
        .filter(|m| m.3)
        .map(|m| m.0)
        .collect();
    assert!(headers.starts_with(&[18, 9, 8]), "{headers:?}");
    // No inter frame after a gap in video without a keyframe: timestamps of video frames
    // step by 40 ms except where a keyframe restarts them.
    let video: Vec<&(u8, u32, bool, bool)> = conn.iter().filter(|m| m.0 == 9 && !m.3).collect();
    for w in video.windows(2) {
        assert!(
            w[1].1 == w[0].1 + 40 || w[1].2,
            "a skip lands on a keyframe: {w:?}"
        );
    }
}

#[test]
fn down_at_start_then_up_then_killed_mid_stream_resumes_within_the_backoff() {
    let mut target = Target {
        up: Box::new(|t| (7000..50_000).contains(&t) || t >= 51_000),
        read_per_step: Box::new(|_| 1 << 20),
        received: Vec::new(),
    };
    let mut shell = Shell::new();
    shell.relay.start(0);
    shell.run_ops(0, &mut target);
    for now in (0..80_000).step_by(STEP_MS as usize) {
        shell.step(now, &mut target);
    }
    // Down at start: attempts at 0, then after delays of at most 3, 6, 12 s (jitter only
    // shortens them): the target, up from 7 s, is found at the latest by the attempt that
    // follows, at most 12 s later.
    assert_eq!(shell.streaming_at.len(), 2, "{:?}", shell.streaming_at);
    assert!(
        (7000..=7000 + 12_000 + 100).contains(&shell.streaming_at[0]),
        "{:?}",
        shell.streaming_at
    );
    // Killed at 50 s after a stable run (30 s), back at 51 s: the delay is the first one
    // again, and the first or second retry (within 3 s, then 6 s) finds it.
    assert!(
        (51_000..=50_000 + 3000 + 6000 + 100).contains(&shell.streaming_at[1]),
        "{:?}",
        shell.streaming_at
    );
    let stats = shell.relay.stats();
    assert_eq!(stats.state, RelayState::Streaming);
    assert!(stats.reconnects >= 2, "{stats:?}");
    assert_eq!(stats.last_error, Some("closed: connection closed"));
    assert!(stats.bytes_out > 5_000_000, "{stats:?}");
    // Every frame of a healthy connection arrives; each connection starts decodable.
    assert_eq!(target.received.len(), 2);
    for conn in &target.received {
        assert_decodable(conn);
    }
    assert_eq!(
        shell.queue.dropped(),
        0,
        "a fast target loses nothing while up"
    );
    // The log: a warning for the first failure, the recovery, the loss, the recovery.
    let loud: Vec<&String> = shell
        .logs
        .iter()
        .filter(|(_, l, _)| *l >= LogLevel::Info)
        .map(|(_, _, line)| line)
        .collect();
    assert_eq!(loud.len(), 4, "{loud:#?}");
    assert!(
        loud[0].contains("connect: connection refused"),
        "{}",
        loud[0]
    );
    assert!(
        loud[1].contains("streaming to 127.0.0.2:1935 again"),
        "{}",
        loud[1]
    );
    assert!(loud[2].contains("lost after"), "{}", loud[2]);
}

#[test]
fn a_target_that_stops_reading_holds_at_most_the_relay_buffer() {
    // Reads 2 Mbit/s worth (more than the ~1.4 Mbit/s stream) for 10 s, then nothing.
    let mut target = Target {
        up: Box::new(|_| true),
        read_per_step: Box::new(|t| if t < 10_000 { 2500 } else { 0 }),
        received: Vec::new(),
    };
    let mut shell = Shell::new();
    shell.relay.start(0);
    shell.run_ops(0, &mut target);
    for now in (0..70_000).step_by(STEP_MS as usize) {
        shell.step(now, &mut target);
        if now == 9_990 {
            assert!(shell.peak_held < 200_000, "healthy: {}", shell.peak_held);
        }
    }
    let buffer = RelayBuffer::default();
    // The queue stops at 5 s of media (before its byte bound, at this bitrate); the shell
    // holds its watermark on top; one message may pass the bound.
    let five_s: usize = (0..u64::from(buffer.max_ms))
        .flat_map(publish)
        .map(|m| m.2.len())
        .sum();
    assert!(five_s < buffer.max_bytes);
    assert!(
        shell.peak_held <= five_s + SESSION_WATERMARK + 31_000,
        "peak {} over {five_s} + {SESSION_WATERMARK}",
        shell.peak_held
    );
    let now_ts = 70_000;
    assert!(shell.queue.span_ms(now_ts) >= 55_000, "the queue stalls");
    assert!(shell.queue.dropped() > 2000);
    assert_eq!(shell.relay.state(), RelayState::Streaming);
    for conn in &target.received {
        assert_decodable(conn);
    }
}
