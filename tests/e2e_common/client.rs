//! A deliberately independent, minimal RTMP client for hostile-input tests: it writes bytes by
//! hand (not with the crate's encoder) so the server is tested against another implementation.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

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

/// One message as a type-0 chunk followed by type-3 continuations of `chunk_size` bytes.
pub fn chunks(
    csid: u8,
    type_id: u8,
    stream_id: u32,
    timestamp: u32,
    payload: &[u8],
    chunk_size: usize,
) -> Vec<u8> {
    assert!((2..64).contains(&csid));
    let mut out = vec![csid];
    out.extend_from_slice(&timestamp.min(0xFF_FFFF).to_be_bytes()[1..]);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    out.push(type_id);
    out.extend_from_slice(&stream_id.to_le_bytes());
    for (i, part) in payload.chunks(chunk_size).enumerate() {
        if i > 0 {
            out.push(0xC0 | csid);
        }
        out.extend_from_slice(part);
    }
    out
}

pub fn command(name: &str, txn: f64, args: &[Amf]) -> Vec<u8> {
    let mut p = Vec::new();
    amf(&mut p, &Amf::Str(name));
    amf(&mut p, &Amf::Num(txn));
    for a in args {
        amf(&mut p, a);
    }
    p
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
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut c0c1 = vec![3u8];
        c0c1.extend((0..1536).map(|i| (i * 7 % 251) as u8));
        c0c1[1..9].fill(0);
        sock.write_all(&c0c1).unwrap();
        let mut s0s1s2 = vec![0u8; 1 + 1536 * 2];
        sock.read_exact(&mut s0s1s2).unwrap();
        assert_eq!(s0s1s2[0], 3);
        sock.write_all(&s0s1s2[1..1537]).unwrap();
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
        let cmd = command(
            "connect",
            1.0,
            &[Amf::Obj(vec![
                ("app", Amf::Str(app)),
                ("type", Amf::Str("nonprivate")),
                ("tcUrl", Amf::Str("rtmp://127.0.0.1/live")),
            ])],
        );
        self.send(&chunks(3, 20, 0, 0, &cmd, 128)).unwrap();
    }

    pub fn create_stream(&mut self) {
        let cmd = command("createStream", 2.0, &[Amf::Null]);
        self.send(&chunks(3, 20, 0, 0, &cmd, 128)).unwrap();
    }

    pub fn publish(&mut self, name: &str) {
        let cmd = command(
            "publish",
            3.0,
            &[Amf::Null, Amf::Str(name), Amf::Str("live")],
        );
        self.send(&chunks(8, 20, 1, 0, &cmd, 128)).unwrap();
    }
}
