mod rtmp_common;

use ngx_rtmp::amf0::AmfError;
use ngx_rtmp::rtmp::chunk::ChunkError;
use ngx_rtmp::rtmp::{Blame, Event, Limits, Session, SessionConfig, SessionError};
use rtmp_common::*;

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
    let config = SessionConfig {
        timeout_ms: 5_000,
        ping_ms: 3_000,
        ping_timeout_ms: 1_000,
        ..SessionConfig::default()
    };
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
