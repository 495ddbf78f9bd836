//! Hostile and broken clients are closed and logged; nobody else notices.

mod support;

use std::io::Write;
use std::net::TcpStream;
use std::thread::sleep;
use std::time::{Duration, Instant};

use support::nginx::{closed_within, ffmpeg_publish, run_with_timeout, Conf, Nginx};
use support::rtmp_client::{chunks, command, Client};

const CLOSE: Duration = Duration::from_secs(5);

fn server() -> Nginx {
    Nginx::start(
        "hostile",
        &Conf::rtmp(
            "timeout 2s; server { listen 127.0.0.1:{rtmp_port}; application live { live on; } }",
        ),
    )
}

/// After the abuse: a normal publish works, no worker crashed.
fn still_healthy(n: &Nginx, key: &str) {
    let (ok, err) = run_with_timeout(
        ffmpeg_publish(&n.rtmp_url("live", key), 2),
        Duration::from_secs(60),
    );
    assert!(
        ok,
        "normal publish after abuse failed: {err}\n{}",
        n.error_log()
    );
    n.assert_no_crash();
}

fn assert_closed(n: &Nginx, mut c: TcpStream, what: &str) {
    assert!(
        closed_within(&mut c, CLOSE),
        "{what}: connection not closed\n{}",
        n.error_log()
    );
}

/// Every reason must appear in a "closed:" line of the error log.
fn assert_logged(n: &Nginx, reasons: &[&str]) {
    let log = n.error_log();
    for r in reasons {
        assert!(
            log.lines().any(|l| l.contains("closed:") && l.contains(r)),
            "no close logged for {r:?}:\n{log}"
        );
    }
}

#[test]
fn garbage_and_broken_handshakes() {
    let n = server();
    // Not RTMP at all (an HTTP request).
    let mut s = TcpStream::connect(("127.0.0.1", n.rtmp_port)).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_closed(&n, s, "http request");
    // RTMPE / unknown version byte followed by noise.
    let mut s = TcpStream::connect(("127.0.0.1", n.rtmp_port)).unwrap();
    s.write_all(&[6u8; 1537]).unwrap();
    assert_closed(&n, s, "version 6");
    // Truncated handshake, then silence: dropped by the deadline.
    let mut s = TcpStream::connect(("127.0.0.1", n.rtmp_port)).unwrap();
    s.write_all(&[3u8; 700]).unwrap();
    assert_closed(&n, s, "truncated handshake");
    // Slow handshake: one byte every 100 ms keeps the socket busy but not the deadline.
    let mut s = TcpStream::connect(("127.0.0.1", n.rtmp_port)).unwrap();
    let start = Instant::now();
    let mut closed = false;
    for _ in 0..60 {
        if s.write_all(&[3]).is_err() {
            closed = true;
            break;
        }
        sleep(Duration::from_millis(100));
    }
    closed = closed || closed_within(&mut s, CLOSE);
    assert!(closed, "dripping client not dropped\n{}", n.error_log());
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "dropped only after {:?}",
        start.elapsed()
    );
    // Connect and leave: closed by the timeout.
    let s = TcpStream::connect(("127.0.0.1", n.rtmp_port)).unwrap();
    assert_closed(&n, s, "idle connection");
    still_healthy(&n, "after-handshakes");
    assert_logged(
        &n,
        &["bad rtmp version", "version 6", "handshake: timed out"],
    );
}

#[test]
fn hostile_chunk_streams() {
    let n = server();
    // Set Chunk Size 2^31.
    let mut c = Client::handshake(n.rtmp_port);
    c.send(&chunks(2, 1, 0, 0, &0x8000_0000u32.to_be_bytes(), 128))
        .unwrap();
    assert_closed(&n, c.sock, "2^31 chunk size");
    // A message header announcing more than max_message.
    let mut c = Client::handshake(n.rtmp_port);
    c.connect("live");
    let mut hdr = vec![4u8, 0, 0, 0, 0xFF, 0xFF, 0xFF, 9, 1, 0, 0, 0];
    hdr.extend_from_slice(&[0u8; 128]);
    c.send(&hdr).unwrap();
    assert_closed(&n, c.sock, "oversize message");
    // Thousands of chunk streams, each with a partial message.
    let mut c = Client::handshake(n.rtmp_port);
    let mut ok = true;
    for csid in 64u32..3000 {
        // 2-byte basic header: fmt 0, csid 0 marker, csid - 64.
        let mut m = vec![0u8, (csid - 64) as u8];
        if csid - 64 > 255 {
            m = vec![1u8, ((csid - 64) & 0xFF) as u8, ((csid - 64) >> 8) as u8];
        }
        m.extend_from_slice(&[0, 0, 0, 0, 0x10, 0, 9, 1, 0, 0, 0]);
        m.extend_from_slice(&[0x17; 128]); // one full chunk of a 4096-byte message
        if c.send(&m).is_err() {
            ok = false;
            break;
        }
    }
    if ok {
        assert_closed(&n, c.sock, "too many chunk streams");
    }
    // Deeply nested AMF (100k objects).
    let mut c = Client::handshake(n.rtmp_port);
    let mut deep = command("connect", 1.0, &[]);
    for _ in 0..100_000 {
        deep.extend_from_slice(&[3, 0, 1, b'a']);
    }
    let _ = c.send(&chunks(3, 20, 0, 0, &deep, 128));
    assert_closed(&n, c.sock, "deep AMF");
    still_healthy(&n, "after-chunks");
    assert_logged(
        &n,
        &[
            "invalid chunk size 2147483648",
            "above limit",
            "more than 64 chunk streams",
            "nesting deeper than",
        ],
    );
}

#[test]
fn out_of_order_and_bad_names() {
    let n = server();
    // Media before connect.
    let mut c = Client::handshake(n.rtmp_port);
    c.send(&chunks(6, 9, 1, 0, &[0x17, 0, 0, 0, 0], 128))
        .unwrap();
    assert_closed(&n, c.sock, "video before connect");
    // publish before connect.
    let mut c = Client::handshake(n.rtmp_port);
    c.publish("key");
    assert_closed(&n, c.sock, "publish before connect");
    // Control characters, path tricks and over-long keys.
    let long = "k".repeat(5000);
    for name in [
        "bad\u{1}key",
        "../../etc/passwd",
        "a/b",
        "..",
        long.as_str(),
    ] {
        let mut c = Client::handshake(n.rtmp_port);
        c.connect("live");
        c.create_stream();
        c.publish(name);
        assert_closed(&n, c.sock, name);
    }
    // Path tricks in the application name.
    let mut c = Client::handshake(n.rtmp_port);
    c.connect("../live");
    assert_closed(&n, c.sock, "app ../live");
    // Garbage after a valid connect.
    let mut c = Client::handshake(n.rtmp_port);
    c.connect("live");
    let _ = c.send(&[0xFFu8; 4096]);
    assert_closed(&n, c.sock, "garbage after connect");
    still_healthy(&n, "after-names");
    assert_logged(
        &n,
        &[
            "message type 9 before connect",
            "message type 20 before connect",
            "byte 0x01",
            "'/' not allowed",
            "starts with '.'",
            "limit 256",
        ],
    );
    assert!(
        !n.error_log().contains("publishes \"live/.."),
        "{}",
        n.error_log()
    );
}

#[test]
fn many_idle_and_partial_connections_are_reaped() {
    let n = server();
    let socks: Vec<TcpStream> = (0..300)
        .map(|i| {
            let mut s = TcpStream::connect(("127.0.0.1", n.rtmp_port)).unwrap();
            if i % 2 == 0 {
                s.write_all(&[3u8; 100]).unwrap();
            }
            s
        })
        .collect();
    still_healthy(&n, "during-idle");
    for (i, mut s) in socks.into_iter().enumerate() {
        assert!(
            closed_within(&mut s, CLOSE),
            "idle connection {i} not reaped"
        );
    }
    n.assert_no_crash();
}
