//! A push in memory: a published stream's pipeline with a [`PushOutput`], its [`Push`] driven
//! as the shell drives it, and our server session as the target. The target gets the
//! stream's headers and frames once it accepted the publish; a connection lost mid-stream is
//! retried after the backoff and the stream rejoins at a keyframe; a stalled target holds at
//! most the relay buffer.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;

use bytes::Bytes;
use ngx_rtmp::files::Now;
use ngx_rtmp::live::{GopCache, Incoming, OutputOp, Pipeline};
use ngx_rtmp::relay::{LinkDriver, LinkOp, Push, PushOutput, RelayKind, RelayState, RelayTarget};
use ngx_rtmp::rtmp::{Event, Session, SessionConfig};

fn now(ms: u64) -> Now {
    Now {
        monotonic_ms: ms,
        unix_ms: ms,
    }
}

/// AVC sequence header, AVC frames (key or inter), AAC header and frames, as FLV tag bodies.
fn video(key: bool, header: bool, n: u8) -> Bytes {
    let first = if key { 0x17 } else { 0x27 };
    let kind = if header { 0 } else { 1 };
    let mut v = vec![first, kind, 0, 0, 0];
    if header {
        v.extend_from_slice(&[
            1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 4, 0x67, 0x64, 0, 0x1f, 1, 0, 4, 0x68, 0xee, 0x3c,
            0x80,
        ]);
    } else {
        v.extend_from_slice(&[0, 0, 0, 3, 0x65, n, n]);
    }
    Bytes::from(v)
}

fn audio(header: bool, n: u8) -> Bytes {
    if header {
        Bytes::from_static(&[0xaf, 0, 0x12, 0x10])
    } else {
        Bytes::from(vec![0xaf, 1, n, n, n])
    }
}

/// The shell's part: a pipeline with the push attached, a "socket" to a server session.
struct Rig {
    pipeline: Pipeline,
    push: Rc<RefCell<Push>>,
    server: Option<Session>,
    /// Media the target got: (type, timestamp, payload).
    got: Vec<(u8, u32, Bytes)>,
    connects: Vec<SocketAddr>,
    t: u64,
}

impl Rig {
    fn new() -> Rig {
        let target =
            RelayTarget::parse(RelayKind::Push, "rtmp://127.0.0.1:1940/live", &[]).unwrap();
        let push = Rc::new(RefCell::new(Push::new(&target, "cam", 500, 5000, 7)));
        let mut pipeline = Pipeline::published(GopCache::new(true, 1000, 8 << 20), 4096);
        pipeline.attach(Box::new(PushOutput::new(push.clone())));
        Rig {
            pipeline,
            push,
            server: None,
            got: Vec::new(),
            connects: Vec::new(),
            t: 1000,
        }
    }

    /// Runs the push's operations and moves bytes both ways until quiet.
    fn settle(&mut self) {
        for _ in 0..1000 {
            let mut moved = false;
            loop {
                let op = self.push.borrow_mut().poll_op();
                let Some(op) = op else { break };
                moved = true;
                match op {
                    LinkOp::Connect(addr) => {
                        self.connects.push(addr);
                        self.server = Some(Session::new(SessionConfig::default(), self.t, 1));
                        self.push.borrow_mut().on_connected(self.t);
                    }
                    LinkOp::Close => self.server = None,
                    LinkOp::Resolve(_) | LinkOp::Log { .. } => {}
                }
            }
            let mut to_server = Vec::new();
            while let Some(b) = self.push.borrow_mut().output() {
                to_server.push(b);
            }
            while let Some((_, OutputOp::Send(b))) = self.pipeline.poll_op() {
                to_server.push(b);
            }
            if let Some(server) = &mut self.server {
                for b in to_server {
                    moved = true;
                    server.feed(self.t, &b).expect("server feed");
                }
                while let Some(ev) = server.poll_event() {
                    match ev {
                        Event::Connect(_) => server.accept_connect(),
                        Event::Publish(p) => server.accept_publish(p.stream_id),
                        Event::Audio {
                            timestamp, payload, ..
                        } => self.got.push((8, timestamp, payload)),
                        Event::Video {
                            timestamp, payload, ..
                        } => self.got.push((9, timestamp, payload)),
                        _ => {}
                    }
                }
                let mut back = Vec::new();
                while let Some(b) = server.poll_transmit() {
                    back.push(b);
                }
                for b in back {
                    moved = true;
                    self.push.borrow_mut().on_data(self.t, &b);
                }
            }
            self.push.borrow_mut().set_unsent(self.t, 0);
            if !moved {
                return;
            }
        }
        panic!("did not settle");
    }

    fn publish(&mut self, type_id: u8, ts: u32, payload: Bytes) {
        self.t += 1;
        self.pipeline.ingest(
            Incoming {
                type_id,
                timestamp: ts,
                payload: &payload,
                now: now(self.t),
            },
            false,
        );
        self.settle();
    }

    fn tick(&mut self, ms: u64) {
        self.t += ms;
        self.push.borrow_mut().tick(self.t);
        self.settle();
    }
}

#[test]
fn target_gets_the_stream_and_gets_it_again_after_a_lost_connection() {
    let mut rig = Rig::new();
    rig.push.borrow_mut().start(rig.t);
    rig.settle();
    assert_eq!(rig.connects, vec!["127.0.0.1:1940".parse().unwrap()]);
    assert_eq!(rig.push.borrow().state(), RelayState::Streaming);

    rig.publish(9, 0, video(true, true, 0));
    rig.publish(8, 0, audio(true, 0));
    for i in 0..10u8 {
        rig.publish(9, u32::from(i) * 40, video(i == 0, false, i));
        rig.publish(8, u32::from(i) * 40, audio(false, i));
    }
    // The first published message joins the queue with the GOP cache: headers, then frames.
    let types: Vec<u8> = rig.got.iter().map(|g| g.0).collect();
    assert_eq!(types.len(), 22, "{types:?}");
    assert_eq!(rig.got[0].2, video(true, true, 0));
    assert!(rig.got.iter().any(|g| g.2 == video(false, false, 9)));

    // The connection breaks; the push backs off, reconnects and rejoins at the cached GOP.
    rig.push.borrow_mut().on_closed(rig.t);
    rig.settle();
    assert_eq!(rig.push.borrow().state(), RelayState::Backoff);
    rig.got.clear();
    rig.publish(9, 400, video(false, false, 10));
    assert!(rig.got.is_empty());
    rig.tick(2000);
    assert_eq!(rig.connects.len(), 2);
    assert_eq!(rig.push.borrow().state(), RelayState::Streaming);
    rig.publish(9, 440, video(false, false, 11));
    // Headers again, then the GOP from its keyframe (frame 0), through frame 11.
    assert_eq!(
        rig.got.first().map(|g| g.2.clone()),
        Some(video(true, true, 0))
    );
    assert!(rig.got.iter().any(|g| g.2 == video(true, false, 0)));
    assert_eq!(
        rig.got.last().map(|g| g.2.clone()),
        Some(video(false, false, 11))
    );
    assert_eq!(rig.push.borrow().stats().reconnects, 1);
}

#[test]
fn a_stalled_target_holds_at_most_the_relay_buffer() {
    let mut rig = Rig::new();
    rig.push.borrow_mut().start(rig.t);
    rig.settle();
    rig.publish(9, 0, video(true, true, 0));
    // The shell reports a socket that takes nothing: the session stops being fed, the queue
    // skips video to the next keyframe once 5 s of media wait.
    let server = rig.server.take();
    for i in 0..400u32 {
        let key = i % 50 == 0;
        rig.t += 1;
        let payload = video(key, false, i as u8);
        rig.pipeline.ingest(
            Incoming {
                type_id: 9,
                timestamp: i * 40,
                payload: &payload,
                now: now(rig.t),
            },
            false,
        );
        rig.push.borrow_mut().set_unsent(rig.t, 10 << 20);
    }
    rig.server = server;
    assert!(
        rig.push.borrow().dropped() > 200,
        "{}",
        rig.push.borrow().dropped()
    );
}
