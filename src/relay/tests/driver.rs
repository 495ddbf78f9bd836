//! The relay state machine, transition by transition.

use std::net::SocketAddr;

use crate::process::Backoff;
use crate::relay::*;

const URL: &str = "rtmp://origin.example/live/s";

fn config() -> RelayConfig {
    RelayConfig {
        reconnect: Backoff {
            initial_ms: 1000,
            cap_ms: 8000,
            stable_ms: 30_000,
        },
        step_timeout_ms: 5000,
        still_down_every_ms: 60_000,
        give_up_after: None,
    }
}

fn relay(host: &str) -> Relay {
    Relay::new(
        config(),
        RelayEndpoint {
            url: URL.to_owned(),
            host: host.to_owned(),
            port: 1935,
            tls: false,
        },
        42,
    )
}

fn addr(s: &str) -> SocketAddr {
    s.parse()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
}

/// The ops since the last call, logs apart.
fn drain(r: &mut Relay) -> (Vec<RelayOp>, Vec<(LogLevel, String)>) {
    let mut ops = Vec::new();
    let mut logs = Vec::new();
    while let Some(op) = r.poll_op() {
        match op {
            RelayOp::Log { level, line } => logs.push((level, line)),
            op => ops.push(op),
        }
    }
    (ops, logs)
}

/// Runs a relay from start to streaming on `host` (a name), at `now`.
fn up(r: &mut Relay, now: u64) {
    r.tick(now);
    r.start(now);
    if r.state() == RelayState::Resolving {
        r.on_resolved(now, Ok(vec![addr("10.0.0.1:0")]));
    }
    r.on_connected(now);
    r.on_session_ready(now);
    assert_eq!(r.state(), RelayState::Streaming);
}

#[test]
fn a_name_is_resolved_connected_negotiated_and_streams() {
    let mut r = relay("origin.example");
    assert_eq!(r.state(), RelayState::Idle);
    assert_eq!(r.deadline(), None);
    r.start(100);
    assert_eq!(r.state(), RelayState::Resolving);
    assert_eq!(r.deadline(), Some(5100));
    let (ops, logs) = drain(&mut r);
    assert_eq!(ops, [RelayOp::Resolve("origin.example".into())]);
    assert_eq!(logs.len(), 1);
    r.on_resolved(200, Ok(vec![addr("10.0.0.1:0"), addr("10.0.0.2:0")]));
    assert_eq!(r.state(), RelayState::Connecting);
    assert_eq!(drain(&mut r).0, [RelayOp::Connect(addr("10.0.0.1:1935"))]);
    r.on_connected(300);
    assert_eq!(r.state(), RelayState::Negotiating);
    assert_eq!(r.deadline(), Some(5300));
    r.on_session_ready(400);
    assert_eq!(r.state(), RelayState::Streaming);
    assert_eq!(r.deadline(), None);
    let (ops, logs) = drain(&mut r);
    assert!(ops.is_empty());
    assert_eq!(logs.len(), 2, "one line per state change: {logs:?}");
    assert_eq!(logs[1].0, LogLevel::Info);
    r.add_bytes(1000, 10);
    let s = r.stats();
    assert_eq!(
        (s.state, s.target, s.bytes_out, s.bytes_in, s.since_ms),
        (RelayState::Streaming, URL, 1000, 10, 400)
    );
    assert_eq!(s.addr, Some(addr("10.0.0.1:1935")));
    assert_eq!((s.reconnects, s.failures, s.last_error), (0, 0, None));
}

#[test]
fn an_address_literal_is_not_resolved() {
    let mut r = relay("127.0.0.2");
    r.start(0);
    assert_eq!(r.state(), RelayState::Connecting);
    assert_eq!(drain(&mut r).0, [RelayOp::Connect(addr("127.0.0.2:1935"))]);
    let mut r = relay("::1");
    r.start(0);
    assert_eq!(drain(&mut r).0, [RelayOp::Connect(addr("[::1]:1935"))]);
}

#[test]
fn a_failed_connect_tries_the_next_address_then_backs_off() {
    let mut r = relay("origin.example");
    r.start(0);
    r.on_resolved(0, Ok(vec![addr("10.0.0.1:0"), addr("10.0.0.2:0")]));
    drain(&mut r);
    r.on_error(10, ErrorKind::Connect, "refused");
    assert_eq!(r.state(), RelayState::Connecting);
    assert_eq!(
        drain(&mut r).0,
        [RelayOp::Close, RelayOp::Connect(addr("10.0.0.2:1935"))]
    );
    r.on_error(20, ErrorKind::Connect, "refused");
    assert_eq!(r.state(), RelayState::Backoff);
    assert_eq!(drain(&mut r).0, [RelayOp::Close]);
    let s = r.stats();
    assert_eq!((s.failures, s.last_error), (1, Some("connect: refused")));
    let until = r.deadline().unwrap_or(0);
    assert!((20 + 500..=20 + 1000).contains(&until), "{until}");
}

#[test]
fn resolve_failures_and_empty_answers_back_off() {
    let mut r = relay("nowhere.example");
    r.start(0);
    r.on_resolved(0, Err("host not found".into()));
    assert_eq!(r.state(), RelayState::Backoff);
    assert_eq!(r.stats().last_error, Some("resolve: host not found"));
    let until = r.deadline().unwrap_or(0);
    r.tick(until - 1);
    assert_eq!(r.state(), RelayState::Backoff);
    r.tick(until);
    // Every attempt resolves again: the name may have moved.
    assert_eq!(r.state(), RelayState::Resolving);
    assert_eq!(r.stats().reconnects, 1);
    assert!(drain(&mut r)
        .0
        .contains(&RelayOp::Resolve("nowhere.example".into())));
    r.on_resolved(until, Ok(vec![]));
    assert_eq!(r.state(), RelayState::Backoff);
    assert_eq!(r.stats().last_error, Some("resolve: no address"));
}

#[test]
fn every_step_times_out() {
    let mut r = relay("origin.example");
    r.start(0);
    drain(&mut r);
    r.tick(4999);
    assert_eq!(r.state(), RelayState::Resolving);
    r.tick(5000);
    assert_eq!(r.state(), RelayState::Backoff);
    assert_eq!(
        drain(&mut r).0,
        [RelayOp::Close],
        "the resolve is cancelled"
    );
    let mut r = relay("10.0.0.1");
    r.start(0);
    r.tick(5000);
    assert_eq!(r.state(), RelayState::Backoff);
    let mut r = relay("10.0.0.1");
    r.start(0);
    r.on_connected(100);
    r.tick(5099);
    assert_eq!(r.state(), RelayState::Negotiating);
    r.tick(5100);
    assert_eq!(r.state(), RelayState::Backoff);
    assert!(r.stats().last_error.unwrap_or("").starts_with("timeout"));
}

#[test]
fn inputs_out_of_their_state_are_ignored() {
    let mut r = relay("origin.example");
    r.on_connected(0);
    r.on_session_ready(0);
    r.on_closed(0);
    r.on_error(0, ErrorKind::Session, "x");
    r.on_resolved(0, Ok(vec![addr("10.0.0.1:0")]));
    r.tick(1_000_000);
    assert_eq!(r.state(), RelayState::Idle);
    assert!(r.poll_op().is_none());
    r.start(0);
    r.on_session_ready(0);
    assert_eq!(r.state(), RelayState::Resolving);
    r.start(0);
    assert_eq!(drain(&mut r).0.len(), 1, "start twice resolves once");
}

#[test]
fn lost_mid_stream_reconnects_within_the_backoff() {
    let mut r = relay("10.0.0.1");
    up(&mut r, 0);
    drain(&mut r);
    r.on_closed(10_000);
    assert_eq!(r.state(), RelayState::Backoff);
    let (ops, logs) = drain(&mut r);
    assert!(ops.is_empty(), "closed already: no Close");
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].0, LogLevel::Warn);
    assert!(logs[0].1.contains("lost after 10 s"), "{}", logs[0].1);
    let until = r.deadline().unwrap_or(0);
    assert!(until <= 11_000);
    r.tick(until);
    assert_eq!(r.state(), RelayState::Connecting);
    r.on_connected(until);
    r.on_session_ready(until);
    let (_, logs) = drain(&mut r);
    assert!(logs.iter().any(|(_, l)| l.contains("again after 1 failed")));
    let s = r.stats();
    assert_eq!((s.reconnects, s.failures), (1, 0));
    assert_eq!(s.last_error, Some("closed: connection closed"));
}

#[test]
fn an_error_while_streaming_closes() {
    let mut r = relay("10.0.0.1");
    up(&mut r, 0);
    drain(&mut r);
    r.on_error(100, ErrorKind::Session, "publish refused");
    assert_eq!(drain(&mut r).0, [RelayOp::Close]);
    assert_eq!(r.state(), RelayState::Backoff);
}

/// Drives failed attempts until `end`; returns the delays.
fn fail_until(r: &mut Relay, mut now: u64, end: u64) -> (u64, Vec<u64>) {
    let mut delays = Vec::new();
    while now < end {
        r.tick(now);
        if r.state() == RelayState::Connecting {
            r.on_error(now, ErrorKind::Connect, "refused");
        }
        let until = r.deadline().unwrap_or(now);
        delays.push(until - now);
        now = until;
    }
    (now, delays)
}

#[test]
fn backoff_grows_with_jitter_to_the_cap_and_resets_after_a_stable_run() {
    let mut r = relay("10.0.0.1");
    r.start(0);
    let (now, delays) = fail_until(&mut r, 0, 60_000);
    let nominal = [1000, 2000, 4000, 8000, 8000, 8000];
    for (d, n) in delays.iter().zip(nominal) {
        assert!((n / 2..=n).contains(d), "{delays:?}");
    }
    assert!(delays.iter().all(|&d| d <= 8000));
    // Up for less than the stable run: the delay keeps growing.
    r.tick(now);
    r.on_connected(now);
    r.on_session_ready(now);
    r.on_closed(now + 29_999);
    assert!(r.deadline().unwrap_or(0) - (now + 29_999) >= 4000);
    // Up for the stable run: back to the first delay.
    let now = r.deadline().unwrap_or(0);
    r.tick(now);
    r.on_connected(now);
    r.on_session_ready(now);
    r.on_closed(now + 30_000);
    assert!(r.deadline().unwrap_or(0) - (now + 30_000) <= 1000);
}

#[test]
fn a_target_down_for_an_hour_logs_a_line_a_minute() {
    let mut r = relay("10.0.0.1");
    r.start(0);
    let (_, delays) = fail_until(&mut r, 0, 3_600_000);
    let (_, logs) = drain(&mut r);
    let loud: Vec<&String> = logs
        .iter()
        .filter(|(l, _)| *l > LogLevel::Debug)
        .map(|(_, l)| l)
        .collect();
    assert!(delays.len() > 400, "{} attempts", delays.len());
    assert!(loud.len() <= 61, "{} lines: {loud:?}", loud.len());
    assert!(loud.len() >= 50, "{} lines", loud.len());
    assert!(loud[1].contains("still down after"), "{}", loud[1]);
    assert!(
        loud[1].contains("last error: connect: refused"),
        "{}",
        loud[1]
    );
    // Still one line per state change, most of them debug.
    assert!(logs.len() >= 2 * delays.len() - 2);
    assert_eq!(r.stats().failures as usize, delays.len());
}

#[test]
fn stop_closes_what_is_open_and_is_final() {
    let mut r = relay("10.0.0.1");
    up(&mut r, 0);
    drain(&mut r);
    r.stop(5);
    assert_eq!(r.state(), RelayState::Stopped);
    let (ops, logs) = drain(&mut r);
    assert_eq!(ops, [RelayOp::Close]);
    assert_eq!(logs.len(), 1);
    r.start(6);
    r.tick(1_000_000);
    r.stop(7);
    assert!(r.poll_op().is_none());
    assert_eq!(r.deadline(), None);
    // A backing-off relay has nothing open.
    let mut r = relay("10.0.0.1");
    r.start(0);
    r.on_error(0, ErrorKind::Connect, "refused");
    drain(&mut r);
    r.stop(1);
    assert_eq!(drain(&mut r).0, []);
}

#[test]
fn gives_up_after_its_attempts() {
    let mut r = Relay::new(
        RelayConfig {
            give_up_after: Some(2),
            ..config()
        },
        RelayEndpoint {
            url: URL.into(),
            host: "10.0.0.1".into(),
            port: 1935,
            tls: false,
        },
        1,
    );
    r.start(0);
    r.on_error(0, ErrorKind::Tls, "certificate verify failed");
    assert_eq!(r.state(), RelayState::Backoff);
    let until = r.deadline().unwrap_or(0);
    r.tick(until);
    r.on_error(until, ErrorKind::Tls, "certificate verify failed");
    assert_eq!(r.state(), RelayState::Stopped);
    let (ops, logs) = drain(&mut r);
    assert!(ops.ends_with(&[RelayOp::Close, RelayOp::GaveUp]), "{ops:?}");
    assert!(logs
        .last()
        .is_some_and(|(_, l)| l.contains("gave up after 2")));
    assert_eq!(r.stats().last_error, Some("tls: certificate verify failed"));
}

#[test]
fn defaults_follow_nginx_rtmp() {
    let c = RelayConfig::default();
    assert_eq!(c.reconnect.initial_ms, 3000);
    assert_eq!(c.reconnect.cap_ms, 30_000);
    assert_eq!(c.give_up_after, None);
    assert_eq!(RelayState::Backoff.to_string(), "backoff");
    assert_eq!(ErrorKind::Resolve.to_string(), "resolve");
}
