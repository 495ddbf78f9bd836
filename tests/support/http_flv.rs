//! An HTTP-FLV reader for end-to-end tests: one GET (HTTP/1.1 or 1.0, `Connection: close`),
//! the response's status and headers, and its body read to its end (the last chunk, or the
//! close) with the chunked framing checked and removed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

pub struct FlvResponse {
    pub status: u16,
    /// Header lines, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body (chunked framing removed).
    pub body: Vec<u8>,
    /// Chunked and ended by the last chunk (not cut).
    pub last_chunk: bool,
}

impl FlvResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn chunked(&self) -> bool {
        self.header("transfer-encoding") == Some("chunked")
    }

    /// Video tags (sequence headers left out), audio tags (same).
    pub fn frames(&self) -> (usize, usize) {
        let tags = super::flv::tags(&self.body);
        let video = tags
            .iter()
            .filter(|t| t.type_id == 9 && t.body.get(1) != Some(&0))
            .count();
        let audio = tags
            .iter()
            .filter(|t| t.type_id == 8 && t.body.get(1) != Some(&0))
            .count();
        (video, audio)
    }
}

/// Sends `GET path` and reads the head.
pub fn open(
    port: u16,
    path: &str,
    http10: bool,
) -> (BufReader<TcpStream>, u16, Vec<(String, String)>) {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect http");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let version = if http10 { "1.0" } else { "1.1" };
    write!(
        &s,
        "GET {path} HTTP/{version}\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut r = BufReader::new(s);
    let mut status = 0;
    let mut headers = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if status == 0 {
            status = l
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
        } else if let Some((n, v)) = l.split_once(':') {
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    (r, status, headers)
}

/// GETs `path` and reads the response to its end (at most `limit`).
pub fn get(port: u16, path: &str, http10: bool, limit: Duration) -> FlvResponse {
    let (mut r, status, headers) = open(port, path, http10);
    let deadline = Instant::now() + limit;
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v == "chunked");
    let mut body = Vec::new();
    let mut last_chunk = false;
    if chunked {
        let mut line = String::new();
        while Instant::now() < deadline {
            line.clear();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            let size = usize::from_str_radix(line.trim_end(), 16)
                .unwrap_or_else(|_| panic!("bad chunk size line {line:?}"));
            let mut chunk = vec![0; size + 2];
            if r.read_exact(&mut chunk).is_err() {
                break;
            }
            assert_eq!(&chunk[size..], b"\r\n", "chunk not followed by CRLF");
            if size == 0 {
                last_chunk = true;
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else {
        let mut buf = [0u8; 65536];
        while Instant::now() < deadline {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => body.extend_from_slice(&buf[..n]),
            }
        }
    }
    FlvResponse {
        status,
        headers,
        body,
        last_chunk,
    }
}
