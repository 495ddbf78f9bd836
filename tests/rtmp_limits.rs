mod support;

use ngx_rtmp::amf0::{AmfError, Value};
use ngx_rtmp::rtmp::chunk::ChunkError;
use ngx_rtmp::rtmp::{Blame, Event, Limits, Session, SessionConfig, SessionError};
use support::session::*;

fn handshake() -> Vec<u8> {
    let mut b = plain_c0c1(2);
    b.extend(c2());
    b
}

fn with_raw(raw: &[u8]) -> Vec<u8> {
    let mut b = handshake();
    b.extend_from_slice(raw);
    b
}

fn set_chunk_size(n: u32) -> Vec<u8> {
    let mut b = vec![0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0];
    b.extend_from_slice(&n.to_be_bytes());
    b
}

#[test]
fn chunk_size_two_pow_31_is_malformed() {
    let o = run(
        SessionConfig::default(),
        &with_raw(&set_chunk_size(1 << 31)),
    );
    let e = o.error.unwrap();
    assert_eq!(
        e,
        SessionError::Chunk(ChunkError::InvalidChunkSize(1 << 31))
    );
    assert_eq!(e.blame(), Blame::PeerMalformed);
    let o = run(SessionConfig::default(), &with_raw(&set_chunk_size(0)));
    assert_eq!(o.error.unwrap().blame(), Blame::PeerMalformed);
}

#[test]
fn chunk_size_above_limit_is_misbehaviour() {
    let config = SessionConfig {
        limits: Limits {
            max_chunk_size: 65536,
            ..Limits::default()
        },
        ..SessionConfig::default()
    };
    let o = run(config.clone(), &with_raw(&set_chunk_size(65537)));
    let e = o.error.unwrap();
    assert!(matches!(
        e,
        SessionError::Chunk(ChunkError::ChunkSizeTooLarge { .. })
    ));
    assert_eq!(e.blame(), Blame::PeerMisbehaved);
    let o = run(config, &with_raw(&set_chunk_size(65536)));
    assert_eq!(o.error, None);
}

#[test]
fn oversize_message() {
    let config = SessionConfig {
        limits: Limits {
            max_message: 64 * 1024,
            ..Limits::default()
        },
        ..SessionConfig::default()
    };
    let mut c = Client::new();
    c.raw(6, 0, 9, 1, &vec![0u8; 64 * 1024 + 1]);
    let bytes = with_raw(&c.take());
    // Refused as soon as the header is in, whatever the split.
    let o = run_pieces(config, [&bytes[..3073 + 12]]);
    let e = o.error.unwrap();
    assert!(matches!(
        e,
        SessionError::Chunk(ChunkError::MessageTooLarge { .. })
    ));
    assert_eq!(e.blame(), Blame::PeerMisbehaved);
}

#[test]
fn too_many_chunk_streams() {
    let mut raw = Vec::new();
    // Window Ack Size messages (allowed before connect) on csids 3..=70.
    for csid in 3u8..=63 {
        raw.extend_from_slice(&[csid, 0, 0, 0, 0, 0, 4, 5, 0, 0, 0, 0, 0, 0, 1, 0]);
    }
    for csid in 0u8..8 {
        raw.extend_from_slice(&[0x00, csid, 0, 0, 0, 0, 0, 4, 5, 0, 0, 0, 0, 0, 0, 1, 0]);
    }
    let o = run(SessionConfig::default(), &with_raw(&raw));
    assert_eq!(
        o.error,
        Some(SessionError::Chunk(ChunkError::TooManyChunkStreams {
            max: 64
        }))
    );
}

#[test]
fn too_many_partial_bytes() {
    let config = SessionConfig {
        limits: Limits {
            max_message: 100_000,
            max_partial_bytes: 250_000,
            ..Limits::default()
        },
        ..SessionConfig::default()
    };
    let mut raw = Vec::new();
    for csid in 4u8..8 {
        // 100 000-byte messages, one 128-byte chunk each, never finished.
        raw.extend_from_slice(&[csid, 0, 0, 0, 0x01, 0x86, 0xA0, 9, 1, 0, 0, 0]);
        raw.extend(std::iter::repeat_n(0u8, 128));
    }
    let o = run(config, &with_raw(&raw));
    let e = o.error.unwrap();
    assert_eq!(
        e,
        SessionError::Chunk(ChunkError::TooManyPartialBytes { max: 250_000 })
    );
    assert_eq!(e.blame(), Blame::PeerMisbehaved);
}

#[test]
fn deep_amf_in_a_command() {
    let mut body = vec![0x02, 0, 7];
    body.extend_from_slice(b"connect");
    body.extend_from_slice(&[0x00, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0]);
    for _ in 0..100_000 {
        body.extend_from_slice(&[0x03, 0x00, 0x01, b'a']);
    }
    let config = SessionConfig {
        limits: Limits {
            max_message: 1 << 20,
            ..Limits::default()
        },
        ..SessionConfig::default()
    };
    let mut c = Client::new();
    c.raw(3, 0, 20, 0, &body);
    let o = run(config, &with_raw(&c.take()));
    let e = o.error.unwrap();
    assert_eq!(e, SessionError::Amf(AmfError::TooDeep { max: 32 }));
    assert_eq!(e.blame(), Blame::PeerMisbehaved);
}

#[test]
fn handshake_deadline_drops_slow_drippers() {
    let config = SessionConfig::default();
    let mut s = Session::new(config, 10_000, 1);
    assert_eq!(s.poll_timeout(), Some(20_000));
    let bytes = handshake();
    // One byte every 100 ms: never idle long enough for the idle timeout,
    // but the overall deadline hits.
    let mut now = 10_000;
    let mut err = None;
    for b in bytes.iter() {
        now += 100;
        if let Err(e) = s.feed(now, std::slice::from_ref(b)) {
            err = Some(e);
            break;
        }
        if s.poll_timeout().is_some_and(|t| t <= now) {
            if let Err(e) = s.handle_timeout(now) {
                err = Some(e);
                break;
            }
        }
    }
    assert_eq!(err, Some(SessionError::HandshakeTimeout));
    assert!(now <= 20_100);
    assert_eq!(s.poll_timeout(), None);
    // The timer alone also fires.
    let mut s = Session::new(SessionConfig::default(), 0, 1);
    s.feed(5, &[3]).unwrap();
    assert_eq!(s.handle_timeout(9_999), Ok(()));
    assert_eq!(
        s.handle_timeout(10_000),
        Err(SessionError::HandshakeTimeout)
    );
}

/// `timeout` 5 s, pings every 3 s answered within 1 s.
fn pinged_config() -> SessionConfig {
    SessionConfig {
        timeout_ms: 5_000,
        ping_ms: 3_000,
        ping_timeout_ms: 1_000,
        ..SessionConfig::default()
    }
}

fn connected_session(config: SessionConfig, now: u64) -> Session {
    let mut bytes = handshake();
    let mut c = Client::new();
    c.command(0, &connect_values("live"));
    bytes.extend(c.take());
    let mut s = Session::new(config, now, 1);
    s.feed(now, &bytes).unwrap();
    assert!(matches!(s.poll_event(), Some(Event::Connect(_))));
    s.accept_connect();
    while s.poll_transmit().is_some() {}
    s
}

#[test]
fn idle_timeout() {
    let config = SessionConfig {
        ping_ms: 0,
        ..SessionConfig::default()
    };
    let mut s = connected_session(config, 0);
    assert_eq!(s.poll_timeout(), Some(60_000));
    assert_eq!(s.handle_timeout(59_999), Ok(()));
    s.feed(30_000, &[]).unwrap(); // empty reads do not count as activity
    assert_eq!(s.handle_timeout(60_000), Err(SessionError::Timeout));
    assert_eq!(SessionError::Timeout.blame(), Blame::PeerMisbehaved);
}

#[test]
fn connected_peer_answering_pings_outlives_the_idle_timeout() {
    // Players may send nothing for minutes: with pings on, liveness is the ping's job.
    let config = pinged_config();
    let mut s = connected_session(config, 0);
    let mut now = 0;
    for _ in 0..10 {
        now = s.poll_timeout().unwrap();
        s.handle_timeout(now).unwrap();
        if s.poll_transmit().is_some() {
            // Ping request sent: the player answers.
            let mut c = Client::new();
            c.raw(2, 0, 4, 0, &[0, 7, 0, 0, 0, 0]);
            now += 100;
            s.feed(now, &c.take()).unwrap();
        }
    }
    assert!(now > 20_000, "only reached {now} ms");
}

#[test]
fn ping_then_ping_timeout() {
    let config = SessionConfig {
        ping_ms: 1_000,
        ping_timeout_ms: 500,
        ..SessionConfig::default()
    };
    let mut s = connected_session(config, 0);
    assert_eq!(s.poll_timeout(), Some(1_000));
    s.handle_timeout(1_000).unwrap();
    let out = s.poll_transmit().expect("ping request");
    // A user control message, event 6 (Ping Request) with the time.
    assert_eq!(&out[out.len() - 6..], &[0, 6, 0, 0, 0x03, 0xE8]);
    assert_eq!(s.poll_timeout(), Some(1_500));
    // Any byte from the peer clears the ping.
    let mut c = Client::new();
    c.raw(2, 0, 4, 0, &[0, 7, 0, 0, 3, 0xE8]);
    s.feed(1_200, &c.take()).unwrap();
    assert_eq!(s.poll_timeout(), Some(2_200));
    s.handle_timeout(2_200).unwrap();
    assert!(s.poll_transmit().is_some());
    assert_eq!(s.handle_timeout(2_699), Ok(()));
    assert_eq!(s.handle_timeout(2_700), Err(SessionError::PingTimeout));
    assert_eq!(s.handle_timeout(2_800), Err(SessionError::Closed));
}

#[test]
fn backlog_is_bounded_while_a_decision_is_pending() {
    let config = SessionConfig {
        limits: Limits {
            max_backlog: 10_000,
            ..Limits::default()
        },
        ..SessionConfig::default()
    };
    let mut bytes = handshake();
    let mut c = Client::new();
    c.command(0, &connect_values("live"));
    bytes.extend(c.take());
    let mut s = Session::new(config, 0, 1);
    s.feed(1, &bytes).unwrap();
    assert!(matches!(s.poll_event(), Some(Event::Connect(_))));
    s.feed(2, &[0u8; 6_000]).unwrap();
    assert_eq!(
        s.feed(3, &[0u8; 6_000]),
        Err(SessionError::BacklogExceeded { max: 10_000 })
    );
}

#[test]
fn display_is_short_and_useful() {
    let e = SessionError::Chunk(ChunkError::InvalidChunkSize(1 << 31));
    assert_eq!(e.to_string(), "chunk: invalid chunk size 2147483648");
    assert_eq!(
        SessionError::PingTimeout.to_string(),
        "session: no answer to ping"
    );
}

// ----- slowloris: a message that never completes -----

/// Plays the shell for a peer that sends `bytes` one at a time, every `every_ms` from `start`:
/// `handle_timeout` is called whenever `poll_timeout` asks. Returns when the session failed
/// (time and error) or the bytes ran out (time, `None`).
fn drip(
    sess: &mut Session,
    start: u64,
    bytes: &[u8],
    every_ms: u64,
) -> (u64, Option<SessionError>) {
    let mut next = start;
    let mut bytes = bytes.iter();
    loop {
        while sess.poll_transmit().is_some() {}
        let timer = sess.poll_timeout().unwrap_or(u64::MAX);
        if timer < next {
            if let Err(e) = sess.handle_timeout(timer) {
                return (timer, Some(e));
            }
            assert!(
                sess.poll_timeout().unwrap_or(u64::MAX) > timer,
                "timer at {timer} ms did nothing"
            );
            continue;
        }
        let Some(b) = bytes.next() else {
            return (next, None);
        };
        if let Err(e) = sess.feed(next, std::slice::from_ref(b)) {
            return (next, Some(e));
        }
        next += every_ms;
    }
}

/// A video message of `len` bytes (one 128-byte chunk at a time) that the peer starts.
fn video_message(len: usize) -> Vec<u8> {
    let mut c = Client::new();
    let mut payload = vec![0x17, 1];
    payload.resize(len, 0);
    c.raw(6, 0, 9, 1, &payload);
    c.take()
}

#[test]
fn connected_peer_dripping_a_message_is_dropped_after_timeout() {
    // Default timers: timeout 60 s, ping 60 s. One byte every 200 ms is never idle for the
    // ping, but no message completes: dropped `timeout` after the first byte of the message.
    let mut sess = connected_session(SessionConfig::default(), 0);
    let bytes = video_message(1000);
    assert!(bytes.len() * 200 > 120_000, "drip must outlast the timeout");
    let (at, err) = drip(&mut sess, 1_000, &bytes, 200);
    let e = err.expect("dripper dropped");
    assert_eq!(e, SessionError::MessageTimeout { timeout_ms: 60_000 });
    assert_eq!(at, 61_000);
    assert_eq!(e.blame(), Blame::PeerMisbehaved);
    assert_eq!(
        e.to_string(),
        "session: no message completed for 60000 ms: slow or stalled sender"
    );
    assert_eq!(sess.poll_timeout(), None);
}

#[test]
fn peer_dripping_its_connect_is_dropped_after_timeout() {
    // Before connect the idle timeout restarts with every byte; the message deadline does not.
    let config = SessionConfig {
        timeout_ms: 5_000,
        ..SessionConfig::default()
    };
    let mut sess = Session::new(config, 0, 1);
    sess.feed(10, &handshake()).unwrap();
    let mut c = Client::new();
    c.command(0, &connect_values("live"));
    let bytes = c.take();
    let (at, err) = drip(&mut sess, 2_000, &bytes, 200);
    assert_eq!(
        err,
        Some(SessionError::MessageTimeout { timeout_ms: 5_000 })
    );
    assert_eq!(at, 7_000);
    assert!(sess.poll_event().is_none(), "connect never completed");
}

/// Chunks of one message (fmt 0, then fmt 3 continuations) at chunk size 128.
fn message_chunks(csid: u8, ts: u32, type_id: u8, payload: &[u8]) -> Vec<Vec<u8>> {
    payload
        .chunks(128)
        .enumerate()
        .map(|(i, body)| {
            let mut c = if i == 0 {
                let mut h = vec![csid];
                h.extend_from_slice(&ts.to_be_bytes()[1..]);
                h.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
                h.push(type_id);
                h.extend_from_slice(&1u32.to_le_bytes());
                h
            } else {
                vec![0xC0 | csid]
            };
            c.extend_from_slice(body);
            c
        })
        .collect()
}

#[test]
fn interleaved_publisher_on_a_slow_link_never_hits_the_message_deadline() {
    // Five minutes of a publisher on a 40 KB/s link: audio every 23 ms, video every 40 ms and
    // a 300 KB keyframe every 20 s, chunks of the two chunk streams interleaved. A keyframe
    // takes longer than `timeout` to arrive, but audio messages keep completing meanwhile.
    let config = pinged_config();
    let mut sess = connected_session(config, 0);
    let mut c = Client::new();
    c.command(0, &[s("createStream"), n(2.0), Value::Null]);
    c.command(1, &[s("publish"), n(3.0), Value::Null, s("key"), s("live")]);
    sess.feed(10, &c.take()).unwrap();
    let publish = std::iter::from_fn(|| sess.poll_event())
        .find_map(|e| match e {
            Event::Publish(p) => Some(p.stream_id),
            _ => None,
        })
        .expect("publish request");
    sess.accept_publish(publish);
    let mut audio: std::collections::VecDeque<Vec<u8>> = Default::default();
    let mut video: std::collections::VecDeque<Vec<u8>> = Default::default();
    let mut pending: Vec<u8> = Vec::new();
    let (mut frames, mut keyframes) = (0u32, 0u32);
    let mut keyframe_started: Option<u64> = None;
    let mut longest_keyframe = 0u64;
    let step = 10u64;
    let per_step = 40_000 * step as usize / 1000;
    let mut now = 100u64;
    while now < 300_000 {
        let ts = now as u32;
        if now % 23 < step {
            let mut aac = vec![0xaf, 1];
            aac.resize(200, 0x11);
            audio.extend(message_chunks(4, ts, 8, &aac));
        }
        if now % 40 < step {
            let key = now % 20_000 < 40;
            let mut frame = vec![if key { 0x17 } else { 0x27 }, 1, 0, 0, 0];
            frame.resize(if key { 300_000 } else { 300 }, 0x22);
            video.extend(message_chunks(6, ts, 9, &frame));
        }
        // The link: round robin between the two chunk streams.
        let mut turn_audio = true;
        while pending.len() < per_step {
            let q = if turn_audio { &mut audio } else { &mut video };
            turn_audio = !turn_audio;
            if let Some(chunk) = q.pop_front() {
                if chunk.first() == Some(&6) && chunk.get(12) == Some(&0x17) {
                    keyframe_started.get_or_insert(now);
                }
                pending.extend(chunk);
            } else if audio.is_empty() && video.is_empty() {
                break;
            }
        }
        let n_send = per_step.min(pending.len());
        let send: Vec<u8> = pending.drain(..n_send).collect();
        if let Some(t) = sess.poll_timeout() {
            if t <= now {
                sess.handle_timeout(now)
                    .unwrap_or_else(|e| panic!("timer at {now} ms: {e}"));
            }
        }
        sess.feed(now, &send)
            .unwrap_or_else(|e| panic!("feed at {now} ms: {e}"));
        while let Some(e) = sess.poll_event() {
            if let Event::Video { payload, .. } = e {
                frames += 1;
                if payload.first() == Some(&0x17) {
                    keyframes += 1;
                    if let Some(t0) = keyframe_started.take() {
                        longest_keyframe = longest_keyframe.max(now - t0);
                    }
                }
            }
        }
        while sess.poll_transmit().is_some() {}
        now += step;
    }
    assert!(keyframes >= 13, "only {keyframes} keyframes arrived");
    assert!(frames >= 7_000, "only {frames} video frames arrived");
    assert!(
        longest_keyframe > 5_000,
        "a keyframe took only {longest_keyframe} ms: the link is too fast to test anything"
    );
}

#[test]
fn nothing_partial_means_no_message_deadline() {
    // Pings every 20 s, timeout 5 s: whole messages only, now and then, and the only timer is
    // the ping's, for minutes.
    let config = SessionConfig {
        timeout_ms: 5_000,
        ping_ms: 20_000,
        ping_timeout_ms: 1_000,
        ..SessionConfig::default()
    };
    let mut sess = connected_session(config, 0);
    let mut pong = Client::new();
    pong.raw(2, 0, 4, 0, &[0, 7, 0, 0, 0, 0]);
    let pong = pong.take();
    let mut now = 0;
    while now < 300_000 {
        assert_eq!(sess.poll_timeout(), Some(now + 20_000));
        now += 20_000;
        sess.handle_timeout(now).unwrap();
        assert!(
            sess.poll_transmit().is_some(),
            "timer at {now} ms was no ping"
        );
        now += 100;
        sess.feed(now, &pong).unwrap();
    }
    // One byte of a header: now the deadline applies, from that byte on.
    sess.feed(now + 1_000, &[6]).unwrap();
    assert_eq!(sess.poll_timeout(), Some(now + 6_000));
    let (at, err) = drip(&mut sess, now + 1_200, &video_message(1000)[1..], 200);
    assert_eq!(
        err,
        Some(SessionError::MessageTimeout { timeout_ms: 5_000 })
    );
    assert_eq!(at, now + 6_000);
}

#[test]
fn input_held_for_a_decision_is_not_timed() {
    // A partial message on csid 5, then publish: the session waits for the shell's decision
    // (30 s here, while the peer answers pings) without timing what it holds; after the
    // decision the wait for a message starts at the next byte, not at the publish.
    let config = pinged_config();
    let mut sess = connected_session(config, 0);
    let mut c = Client::new();
    c.command(0, &[s("createStream"), n(2.0), Value::Null]);
    sess.feed(10, &c.take()).unwrap();
    let mut data = vec![0x02, 0x01, 0x29];
    data.resize(300, b'x');
    let chunks = message_chunks(5, 0, 18, &data);
    let mut bytes = chunks[0].clone();
    c.command(1, &[s("publish"), n(3.0), Value::Null, s("key"), s("live")]);
    bytes.extend(c.take());
    sess.feed(100, &bytes).unwrap();
    let publish = std::iter::from_fn(|| sess.poll_event())
        .find_map(|e| match e {
            Event::Publish(p) => Some(p.stream_id),
            _ => None,
        })
        .expect("publish request");
    let mut pong = Client::new();
    pong.raw(2, 0, 4, 0, &[0, 7, 0, 0, 0, 0]);
    let pong = pong.take();
    let mut now = 100;
    while now < 30_000 {
        now = sess.poll_timeout().unwrap();
        sess.handle_timeout(now)
            .unwrap_or_else(|e| panic!("paused session failed at {now} ms: {e}"));
        assert!(
            sess.poll_transmit().is_some(),
            "timer at {now} ms was no ping"
        );
        now += 100;
        sess.feed(now, &pong).unwrap();
    }
    sess.accept_publish(publish);
    let until = now + 2_000;
    // The held pongs were decoded; csid 5 is still partial, but the deadline waits for a clock.
    assert!(sess.poll_timeout().unwrap() > until);
    let (at, err) = drip(&mut sess, until, &chunks[1], 200);
    assert_eq!(
        err,
        Some(SessionError::MessageTimeout { timeout_ms: 5_000 })
    );
    assert_eq!(at, until + 5_000);
}
