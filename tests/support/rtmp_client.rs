//! A deliberately independent, minimal RTMP client for end-to-end tests: it writes bytes by
//! hand (not with the crate's encoder) so the server is tested against another implementation.
//! [`Client`] drives the usual handshake/connect/publish steps with default chunking;
//! [`Publisher`] announces a large chunk size, sends extended timestamps and waits for the
//! server's answers, for tests that send real media with rewritten timestamps.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use super::flv::Tag;
use super::nginx::closed_within;

/// AMF0 values the tests send.
pub enum Amf<'a> {
    Num(f64),
    Str(&'a str),
    Null,
    Obj(Vec<(&'a str, Amf<'a>)>),
}

pub fn amf(out: &mut Vec<u8>, v: &Amf) {
    match v {
        Amf::Num(n) => {
            out.push(0);
            out.extend_from_slice(&n.to_be_bytes());
        }
        Amf::Str(s) => {
            out.push(2);
            out.extend_from_slice(&(s.len() as u16).to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        Amf::Null => out.push(5),
        Amf::Obj(props) => {
            out.push(3);
            for (k, v) in props {
                out.extend_from_slice(&(k.len() as u16).to_be_bytes());
                out.extend_from_slice(k.as_bytes());
                amf(out, v);
            }
            out.extend_from_slice(&[0, 0, 9]);
        }
    }
}

/// One message as a type-0 chunk followed by type-3 continuations of `chunk_size` bytes, with
/// the extended timestamp field (in every chunk, as the spec and ffmpeg do) when `timestamp`
/// does not fit 24 bits.
pub fn chunks(
    csid: u8,
    type_id: u8,
    stream_id: u32,
    timestamp: u32,
    payload: &[u8],
    chunk_size: usize,
) -> Vec<u8> {
    assert!((2..64).contains(&csid));
    let ext = timestamp >= 0xFF_FFFF;
    let mut out = vec![csid];
    out.extend_from_slice(&timestamp.min(0xFF_FFFF).to_be_bytes()[1..]);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    out.push(type_id);
    out.extend_from_slice(&stream_id.to_le_bytes());
    if ext {
        out.extend_from_slice(&timestamp.to_be_bytes());
    }
    for (i, part) in payload.chunks(chunk_size).enumerate() {
        if i > 0 {
            out.push(0xC0 | csid);
            if ext {
                out.extend_from_slice(&timestamp.to_be_bytes());
            }
        }
        out.extend_from_slice(part);
    }
    out
}

/// The chunk size a [`Publisher`] announces and then uses.
pub const PUB_CHUNK: usize = 60_000;

/// [`chunks`] of [`PUB_CHUNK`] bytes (after Set Chunk Size).
pub fn ext_chunks(csid: u8, type_id: u8, stream_id: u32, ts: u32, payload: &[u8]) -> Vec<u8> {
    chunks(csid, type_id, stream_id, ts, payload, PUB_CHUNK)
}

/// An AMF0 command body: name, transaction id, arguments.
pub fn command(name: &str, txn: f64, args: &[Amf]) -> Vec<u8> {
    let mut p = Vec::new();
    amf(&mut p, &Amf::Str(name));
    amf(&mut p, &Amf::Num(txn));
    for a in args {
        amf(&mut p, a);
    }
    p
}

/// The `connect` command body for `app` (with `flashVer` when given).
pub fn connect_command(app: &str, tc_url: &str, flash_ver: Option<&str>) -> Vec<u8> {
    let mut props = vec![("app", Amf::Str(app)), ("type", Amf::Str("nonprivate"))];
    if let Some(v) = flash_ver {
        props.push(("flashVer", Amf::Str(v)));
    }
    props.push(("tcUrl", Amf::Str(tc_url)));
    command("connect", 1.0, &[Amf::Obj(props)])
}

/// The `publish` command body for live `name`.
pub fn publish_command(name: &str) -> Vec<u8> {
    command(
        "publish",
        3.0,
        &[Amf::Null, Amf::Str(name), Amf::Str("live")],
    )
}

/// A plain handshake on a connected socket (setting a 5 s read timeout); returns the version
/// byte of the server's S0.
pub fn handshake_socket(sock: &mut TcpStream) -> std::io::Result<u8> {
    sock.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut c0c1 = vec![3u8];
    c0c1.extend((0..1536).map(|i| (i * 7 % 251) as u8));
    c0c1[1..9].fill(0);
    sock.write_all(&c0c1)?;
    let mut s0s1s2 = vec![0u8; 1 + 1536 * 2];
    sock.read_exact(&mut s0s1s2)?;
    sock.write_all(&s0s1s2[1..1537])?;
    Ok(s0s1s2[0])
}

/// Connects without Nagle (C2 and the commands after it go out at once, not after a delayed
/// ACK) and completes a plain handshake.
pub fn handshake(port: u16) -> std::io::Result<TcpStream> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_nodelay(true)?;
    handshake_socket(&mut s)?;
    Ok(s)
}

pub struct Client {
    pub sock: TcpStream,
}

impl Client {
    /// Connects and completes a plain handshake.
    pub fn handshake(port: u16) -> Client {
        Client::handshake_on(TcpStream::connect(("127.0.0.1", port)).unwrap())
    }

    fn handshake_on(mut sock: TcpStream) -> Client {
        assert_eq!(handshake_socket(&mut sock).unwrap(), 3);
        Client { sock }
    }

    /// Like [`Client::handshake`] with a tiny receive buffer, for a client that stops reading
    /// (the kernel's buffers then hold little of what the server sends).
    pub fn handshake_small_rcvbuf(port: u16) -> Client {
        use std::os::fd::FromRawFd;
        // SAFETY: plain socket calls on a fresh descriptor we own; the sockaddr is fully
        // initialised for 127.0.0.1:port.
        let sock = unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
            assert!(fd >= 0);
            let size: libc::c_int = 4096;
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
            let mut sa: libc::sockaddr_in = std::mem::zeroed();
            sa.sin_family = libc::AF_INET as libc::sa_family_t;
            sa.sin_port = port.to_be();
            sa.sin_addr.s_addr = u32::from(std::net::Ipv4Addr::LOCALHOST).to_be();
            let r = libc::connect(
                fd,
                (&sa as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            );
            assert_eq!(r, 0, "connect");
            TcpStream::from_raw_fd(fd)
        };
        Client::handshake_on(sock)
    }

    pub fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.sock.write_all(bytes)
    }

    pub fn connect(&mut self, app: &str) {
        let cmd = connect_command(app, "rtmp://127.0.0.1/live", None);
        self.send(&chunks(3, 20, 0, 0, &cmd, 128)).unwrap();
    }

    pub fn create_stream(&mut self) {
        let cmd = command("createStream", 2.0, &[Amf::Null]);
        self.send(&chunks(3, 20, 0, 0, &cmd, 128)).unwrap();
    }

    pub fn publish(&mut self, name: &str) {
        self.send(&chunks(8, 20, 1, 0, &publish_command(name), 128))
            .unwrap();
    }
}

/// `connect` with any app and tcUrl, in 128-byte chunks (the default, before our Set Chunk
/// Size).
pub fn connect_msg(app: &str, tc_url: &str) -> Vec<u8> {
    connect_msg_chunked(app, tc_url, 128)
}

pub fn connect_msg_chunked(app: &str, tc_url: &str, chunk_size: usize) -> Vec<u8> {
    let cmd = connect_command(app, tc_url, Some("FMLE/3.0 (compatible; e2e_abuse)"));
    chunks(3, 20, 0, 0, &cmd, chunk_size)
}

/// Set Chunk Size to [`PUB_CHUNK`].
pub fn set_chunk_size_msg() -> Vec<u8> {
    chunks(2, 1, 0, 0, &(PUB_CHUNK as u32).to_be_bytes(), 128)
}

/// A command on message stream `sid`, after our Set Chunk Size.
pub fn cmd_msg(sid: u32, name: &str, txn: f64, args: &[Amf]) -> Vec<u8> {
    command_msg(sid, &command(name, txn, args))
}

pub fn publish_msg(sid: u32, name: &str) -> Vec<u8> {
    command_msg(sid, &publish_command(name))
}

fn command_msg(sid: u32, body: &[u8]) -> Vec<u8> {
    ext_chunks(if sid == 0 { 3 } else { 8 }, 20, sid, 0, body)
}

fn find(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Reads until `want` appears (Ok), the server answers with an error status or `_error`, or
/// closes, or `timeout` passes (Err with what was seen).
pub fn await_answer(sock: &mut TcpStream, want: &str, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let mut rx = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        if find(&rx, want.as_bytes()) {
            return Ok(());
        }
        // AMF0 strings "_error" (command) and "error" (status level).
        if find(&rx, b"\x02\x00\x06_error") || find(&rx, b"\x02\x00\x05error") {
            return Err(format!("refused: {}", printable(&rx)));
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(format!("no {want} within {timeout:?}: {}", printable(&rx)));
        }
        let _ = sock.set_read_timeout(Some(deadline - now));
        match sock.read(&mut buf) {
            Ok(0) => return Err(format!("closed: {}", printable(&rx))),
            Ok(k) => rx.extend_from_slice(&buf[..k]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => return Err(format!("{e}: {}", printable(&rx))),
        }
    }
}

/// `b` with everything but printable ASCII as dots.
pub fn printable(b: &[u8]) -> String {
    b.iter()
        .map(|&c| {
            if c.is_ascii_graphic() || c == b' ' {
                c as char
            } else {
                '.'
            }
        })
        .collect()
}

/// A raw publisher: extended timestamps, its own chunk size, media as FLV tags.
pub struct Publisher {
    pub sock: TcpStream,
}

impl Publisher {
    /// Handshake, connect `app` with `tc_url`, createStream, publish `name`; Ok once the server
    /// answered NetStream.Publish.Start.
    pub fn start(port: u16, app: &str, tc_url: &str, name: &str) -> Result<Publisher, String> {
        let mut sock = handshake(port).map_err(|e| format!("handshake: {e}"))?;
        let mut out = set_chunk_size_msg();
        out.extend(connect_msg_chunked(app, tc_url, PUB_CHUNK));
        out.extend(cmd_msg(0, "createStream", 2.0, &[Amf::Null]));
        out.extend(publish_msg(1, name));
        sock.write_all(&out).map_err(|e| format!("write: {e}"))?;
        await_answer(&mut sock, "NetStream.Publish.Start", Duration::from_secs(5))?;
        Ok(Publisher { sock })
    }

    pub fn live(port: u16, name: &str) -> Publisher {
        Publisher::start(port, "live", "rtmp://127.0.0.1/live", name)
            .unwrap_or_else(|e| panic!("publish {name}: {e}"))
    }

    pub fn tags(&mut self, tags: &[Tag]) {
        let mut out = Vec::new();
        for t in tags {
            out.extend(ext_chunks(
                if t.video() { 6 } else { 4 },
                t.type_id,
                1,
                t.ts,
                &t.body,
            ));
        }
        self.sock.write_all(&out).expect("send media");
    }

    pub fn raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.sock.write_all(bytes)
    }

    /// Half-closes and waits for the server to close: everything sent was processed (closing
    /// with unread input would send a RST that may discard it).
    pub fn finish(self) {
        let mut s = self.sock;
        let _ = s.shutdown(Shutdown::Write);
        let _ = closed_within(&mut s, Duration::from_secs(10));
    }
}
