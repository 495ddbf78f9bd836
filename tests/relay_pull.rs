//! A pull in memory: a [`Pull`] driven as the shell drives it, our server session as each
//! origin. Nothing happens until somebody watches; a refused connection fails over to the
//! next origin at once; the origin's frames come out as the stream's messages; an origin
//! that ends the stream ends the local one and is played again; a full round of failures
//! is reported and retried after the backoff; the pull closes a grace period after nobody
//! watches.

use std::net::SocketAddr;

use bytes::Bytes;
use ngx_rtmp::relay::{
    ErrorKind, LinkDriver, LinkOp, Pull, PullConfig, PullEvent, RelayKind, RelayState, RelayTarget,
};
use ngx_rtmp::rtmp::chunk::PreparedMessage;
use ngx_rtmp::rtmp::{Event, Session, SessionConfig};

struct Rig {
    pull: Pull,
    /// The origins that accept connections (by port).
    up: Vec<u16>,
    server: Option<(Session, Option<u32>)>,
    connects: Vec<SocketAddr>,
    events: Vec<PullEvent>,
    t: u64,
}

impl Rig {
    fn new(ports: &[u16], grace_ms: u64) -> Rig {
        let origins = ports
            .iter()
            .map(|p| {
                RelayTarget::parse(RelayKind::Pull, &format!("rtmp://127.0.0.1:{p}/live"), &[])
                    .unwrap()
            })
            .collect();
        Rig {
            pull: Pull::new(PullConfig {
                origins,
                local_name: "cam".into(),
                reconnect_ms: 500,
                grace_ms,
                seed: 3,
            }),
            up: ports.to_vec(),
            server: None,
            connects: Vec::new(),
            events: Vec::new(),
            t: 1000,
        }
    }

    /// Runs the pull's operations and moves bytes both ways until quiet.
    fn settle(&mut self) {
        for _ in 0..1000 {
            let mut moved = false;
            while let Some(op) = self.pull.poll_op() {
                moved = true;
                match op {
                    LinkOp::Connect(addr) => {
                        self.connects.push(addr);
                        if self.up.contains(&addr.port()) {
                            self.server =
                                Some((Session::new(SessionConfig::default(), self.t, 1), None));
                            self.pull.on_connected(self.t);
                        } else {
                            self.pull.on_error(self.t, ErrorKind::Connect, "refused");
                        }
                    }
                    LinkOp::Close => self.server = None,
                    LinkOp::Resolve(_) | LinkOp::Log { .. } => {}
                }
            }
            let mut to_server = Vec::new();
            while let Some(b) = self.pull.output() {
                to_server.push(b);
            }
            if let Some((server, playing)) = &mut self.server {
                for b in to_server {
                    moved = true;
                    server.feed(self.t, &b).expect("server feed");
                }
                while let Some(ev) = server.poll_event() {
                    match ev {
                        Event::Connect(_) => server.accept_connect(),
                        Event::Play(p) => {
                            assert_eq!(p.name, "cam");
                            server.accept_play(p.stream_id);
                            *playing = Some(p.stream_id);
                        }
                        _ => {}
                    }
                }
                let mut back = Vec::new();
                while let Some(b) = server.poll_transmit() {
                    back.push(b);
                }
                for b in back {
                    moved = true;
                    self.pull.on_data(self.t, &b);
                }
            }
            while let Some(ev) = self.pull.poll_event() {
                self.events.push(ev);
            }
            if !moved {
                return;
            }
        }
        panic!("did not settle");
    }

    /// The origin sends a video message to its player.
    fn send(&mut self, ts: u32, payload: &[u8]) {
        let (server, Some(id)) = self.server.as_mut().expect("connected") else {
            panic!("not playing");
        };
        let msg = PreparedMessage::new(6, 4096, 9, ts, payload);
        assert!(server.send_prepared(*id, &msg));
        self.settle();
    }

    fn tick(&mut self, ms: u64) {
        self.t += ms;
        self.pull.tick(self.t);
        self.settle();
    }

    fn watch(&mut self, on: bool) {
        self.pull.set_watched(self.t, on);
        self.settle();
    }
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

#[test]
fn watched_pull_fails_over_and_delivers_the_origin_stream() {
    let mut rig = Rig::new(&[1940, 1941], 1000);
    rig.up = vec![1941];
    rig.settle();
    assert!(rig.connects.is_empty(), "nobody watches yet");
    assert!(rig.pull.is_done());

    rig.watch(true);
    assert_eq!(rig.connects, vec![addr(1940), addr(1941)]);
    assert_eq!(rig.events, vec![PullEvent::Playing]);
    assert_eq!(rig.pull.stats().state, RelayState::Streaming);
    assert!(rig.pull.endpoint().url.contains(":1941/live/cam"));

    let frame = [0x17u8, 1, 0, 0, 0, 0, 0, 0, 2, 0x65, 1];
    rig.send(40, &frame);
    assert_eq!(
        rig.events.last(),
        Some(&PullEvent::Media {
            type_id: 9,
            timestamp: 40,
            payload: Bytes::copy_from_slice(&frame),
        })
    );
    let st = rig.pull.stats();
    assert!(st.bytes_in > 0 && st.bytes_out > 0);
    assert_eq!(st.reconnects, 1, "one failover");
    assert_eq!(st.failures, 0, "streaming again");
    assert!(st.last_error.is_some());
}

#[test]
fn closes_after_the_grace_period() {
    let mut rig = Rig::new(&[1940], 1000);
    rig.watch(true);
    assert!(rig.pull.is_playing());
    rig.watch(false);
    rig.tick(500);
    assert!(rig.server.is_some(), "still up within the grace period");
    // Somebody comes back within it: nothing changes.
    rig.watch(true);
    rig.tick(2000);
    assert!(rig.server.is_some());
    rig.watch(false);
    rig.tick(1000);
    assert!(rig.server.is_none(), "closed after the grace period");
    assert_eq!(rig.events.last(), Some(&PullEvent::Ended));
    assert!(rig.pull.is_done());
    assert_eq!(rig.connects.len(), 1);
}

#[test]
fn origin_end_replays_and_a_failed_round_is_reported_then_retried() {
    let mut rig = Rig::new(&[1940], 10_000);
    rig.watch(true);
    // The origin's publisher leaves: the local stream ends, the pull plays again.
    let (server, id) = rig.server.as_mut().unwrap();
    assert!(server.send_unpublish_notify(id.unwrap()));
    rig.settle();
    assert!(rig.events.contains(&PullEvent::Ended));
    assert_eq!(rig.connects.len(), 1, "a backoff before playing again");
    // The origin is down now: the round fails, the play waiting for it learns it.
    rig.up.clear();
    rig.tick(3000);
    assert_eq!(rig.connects.len(), 2);
    assert_eq!(rig.events.last(), Some(&PullEvent::AllFailed));
    assert!(!rig.pull.is_done(), "retries while watched");
    assert_eq!(rig.pull.stats().state, RelayState::Backoff);
    assert_eq!(
        rig.pull.stats().failures,
        2,
        "the origin's end, then the refused round"
    );
    // It comes back: the next round plays again.
    rig.up = vec![1940];
    rig.tick(5000);
    assert_eq!(rig.connects.len(), 3);
    assert_eq!(rig.events.last(), Some(&PullEvent::Playing));
    assert_eq!(
        rig.events
            .iter()
            .filter(|e| **e == PullEvent::Playing)
            .count(),
        2
    );
}
