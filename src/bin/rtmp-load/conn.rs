//! One RTMP connection of the generator: a publisher or a player, as a state machine over a
//! non-blocking socket.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use ngx_rtmp::amf0::{self, Value};
use ngx_rtmp::rtmp::chunk::{ChunkDecoder, ChunkEncoder, RawMessage};
use ngx_rtmp::rtmp::message::{self, types, Control, UserControl};
use ngx_rtmp::rtmp::Limits;

use crate::flv::{is_sequence_header, Flv};
use crate::{HANDSHAKE_PACKET, OUT_CHUNK_SIZE};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Publisher,
    Player,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Handshake,
    Connecting,
    Creating,
    Starting,
    Streaming,
    Failed,
    Closed,
}

pub(crate) struct Conn {
    pub(crate) role: Role,
    pub(crate) stream: String,
    pub(crate) sock: TcpStream,
    pub(crate) state: State,
    pub(crate) error: Option<String>,
    pub(crate) out: Vec<u8>,
    pub(crate) out_pos: usize,
    pub(crate) inbuf: Vec<u8>,
    pub(crate) decoder: ChunkDecoder,
    pub(crate) encoder: ChunkEncoder,
    pub(crate) rx_bytes: u64,
    pub(crate) tx_bytes: u64,
    pub(crate) acked: u64,
    pub(crate) window: u64,
    pub(crate) stream_id: u32,
    pub(crate) joined: Instant,
    // publisher
    pub(crate) next_tag: usize,
    pub(crate) loops: u32,
    pub(crate) started: Option<Instant>,
    pub(crate) tags_sent: u64,
    pub(crate) keyframes: VecDeque<(u64, Instant)>,
    pub(crate) max_backlog: usize,
    // player
    pub(crate) video_rx: u64,
    pub(crate) audio_rx: u64,
    pub(crate) media_bytes: u64,
    pub(crate) first_frame: Option<Duration>,
    pub(crate) first_key: Option<Duration>,
}

impl Conn {
    pub(crate) fn open(addr: SocketAddr, role: Role, stream: String, seed: u64) -> Conn {
        let joined = Instant::now();
        let sock = match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("rtmp-load: cannot connect to {addr}: {e}");
                std::process::exit(2);
            }
        };
        let _ = sock.set_nodelay(true);
        let _ = sock.set_nonblocking(true);
        let limits = Limits {
            max_message: 16 << 20,
            max_partial_bytes: 64 << 20,
            ..Limits::default()
        };
        let mut c = Conn {
            role,
            stream,
            sock,
            state: State::Handshake,
            error: None,
            out: Vec::with_capacity(8192),
            out_pos: 0,
            inbuf: Vec::new(),
            decoder: ChunkDecoder::new(&limits),
            encoder: ChunkEncoder::new(),
            rx_bytes: 0,
            tx_bytes: 0,
            acked: 0,
            window: 2_500_000,
            stream_id: 0,
            joined,
            next_tag: 0,
            loops: 0,
            started: None,
            tags_sent: 0,
            keyframes: VecDeque::new(),
            max_backlog: 0,
            video_rx: 0,
            audio_rx: 0,
            media_bytes: 0,
            first_frame: None,
            first_key: None,
        };
        // C0 + C1 (plain handshake: time 0, zero version, pseudo-random fill).
        c.out.push(3);
        let mut x = seed | 1;
        for i in 0..HANDSHAKE_PACKET {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            c.out.push(if i < 8 { 0 } else { x as u8 });
        }
        c
    }

    pub(crate) fn alive(&self) -> bool {
        !matches!(self.state, State::Failed | State::Closed)
    }

    pub(crate) fn fail(&mut self, why: String) {
        if self.alive() {
            self.error = Some(why);
            self.state = State::Failed;
        }
    }

    pub(crate) fn message(&mut self, csid: u32, ts: u32, type_id: u8, stream_id: u32, body: &[u8]) {
        let mut b = BytesMut::new();
        if self
            .encoder
            .write(&mut b, csid, ts, type_id, stream_id, body)
            .is_ok()
        {
            self.out.extend_from_slice(&b);
        }
    }

    pub(crate) fn command(&mut self, stream_id: u32, values: &[Value]) {
        let body = amf0::encode_to_bytes(values);
        let csid = if stream_id == 0 { 3 } else { 8 };
        self.message(csid, 0, types::COMMAND_AMF0, stream_id, &body);
    }

    pub(crate) fn control(&mut self, c: Control) {
        let (t, body) = message::control_body(&c);
        self.message(2, 0, t, 0, &body);
    }

    pub(crate) fn flush(&mut self) {
        while self.out_pos < self.out.len() {
            match self.sock.write(&self.out[self.out_pos..]) {
                Ok(0) => {
                    self.fail("write: closed".into());
                    return;
                }
                Ok(n) => {
                    self.out_pos += n;
                    self.tx_bytes += n as u64;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    self.fail(format!("write: {e}"));
                    return;
                }
            }
        }
        if self.out_pos == self.out.len() {
            self.out.clear();
            self.out_pos = 0;
        } else if self.out_pos > 1 << 20 {
            self.out.drain(..self.out_pos);
            self.out_pos = 0;
        }
        self.max_backlog = self.max_backlog.max(self.out.len() - self.out_pos);
    }

    pub(crate) fn backlog(&self) -> usize {
        self.out.len() - self.out_pos
    }

    /// Reads everything available and processes it.
    pub(crate) fn read(&mut self, buf: &mut [u8], now: Instant) {
        loop {
            match self.sock.read(buf) {
                Ok(0) => {
                    if self.alive() {
                        self.state = State::Closed;
                        if self.error.is_none() {
                            self.error = Some("closed by server".into());
                        }
                    }
                    return;
                }
                Ok(n) => {
                    self.rx_bytes += n as u64;
                    self.input(&buf[..n], now);
                    if !self.alive() {
                        return;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    self.fail(format!("read: {e}"));
                    return;
                }
            }
        }
    }

    pub(crate) fn input(&mut self, data: &[u8], now: Instant) {
        let mut data = data;
        if self.state == State::Handshake {
            let want = 1 + 2 * HANDSHAKE_PACKET - self.inbuf.len();
            let take = want.min(data.len());
            self.inbuf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.inbuf.len() < 1 + 2 * HANDSHAKE_PACKET {
                return;
            }
            // C2 echoes S1.
            let s1 = self.inbuf[1..1 + HANDSHAKE_PACKET].to_vec();
            self.out.extend_from_slice(&s1);
            self.inbuf = Vec::new();
            if self.role == Role::Publisher {
                self.control(Control::SetChunkSize(OUT_CHUNK_SIZE));
                self.encoder.set_chunk_size(OUT_CHUNK_SIZE);
            }
            let app = APP.with(|a| a.borrow().clone());
            let tc_url = TC_URL.with(|a| a.borrow().clone());
            self.command(
                0,
                &[
                    Value::string("connect"),
                    Value::Number(1.0),
                    Value::object([
                        ("app", Value::string(app)),
                        ("type", Value::string("nonprivate")),
                        (
                            "flashVer",
                            Value::string("FMLE/3.0 (compatible; rtmp-load)"),
                        ),
                        ("tcUrl", Value::string(tc_url)),
                    ]),
                ],
            );
            self.state = State::Connecting;
        }
        let mut rest = data;
        while !rest.is_empty() || self.decoder.partial_bytes() > 0 {
            match self.decoder.decode(rest) {
                Ok((used, msg)) => {
                    rest = rest.get(used..).unwrap_or(&[]);
                    match msg {
                        Some(m) => self.on_message(m, now),
                        None => break,
                    }
                    if !self.alive() {
                        return;
                    }
                }
                Err(e) => {
                    self.fail(format!("chunk stream: {e}"));
                    return;
                }
            }
        }
        if self.rx_bytes - self.acked >= self.window / 2 {
            self.acked = self.rx_bytes;
            self.control(Control::Acknowledgement {
                sequence: self.rx_bytes as u32,
            });
        }
    }

    pub(crate) fn on_message(&mut self, m: RawMessage, now: Instant) {
        match m.type_id {
            types::AUDIO | types::VIDEO => {
                let p = &m.payload;
                self.media_bytes += p.len() as u64;
                if m.type_id == types::VIDEO {
                    let coded = p.get(1) == Some(&1);
                    if coded {
                        self.video_rx += 1;
                        if self.first_frame.is_none() {
                            self.first_frame = Some(now - self.joined);
                        }
                        if self.first_key.is_none() && p.first().map(|b| b >> 4) == Some(1) {
                            self.first_key = Some(now - self.joined);
                        }
                    }
                } else if p.get(1) == Some(&1) {
                    self.audio_rx += 1;
                }
            }
            types::COMMAND_AMF0 => {
                let values = match amf0::decode_all(&m.payload, 16) {
                    Ok(v) => v,
                    Err(e) => return self.fail(format!("bad AMF0 from server: {e}")),
                };
                self.on_command(&values);
            }
            t if types::is_protocol_control(t) => match message::parse_control(t, &m.payload) {
                Ok(Some(Control::WindowAckSize(w))) => self.window = u64::from(w.max(1)),
                Ok(Some(Control::UserControl(UserControl::PingRequest(ts)))) => {
                    self.control(Control::UserControl(UserControl::PingResponse(ts)));
                }
                _ => {}
            },
            _ => {}
        }
    }

    pub(crate) fn on_command(&mut self, v: &[Value]) {
        let name = v.first().and_then(Value::as_str).unwrap_or("");
        let txn = v.get(1).and_then(Value::as_f64).unwrap_or(0.0);
        match (name, self.state) {
            ("_result", State::Connecting) if txn == 1.0 => {
                if self.role == Role::Publisher {
                    let s = self.stream.clone();
                    self.command(
                        0,
                        &[
                            Value::string("releaseStream"),
                            Value::Number(2.0),
                            Value::Null,
                            Value::string(s.clone()),
                        ],
                    );
                    self.command(
                        0,
                        &[
                            Value::string("FCPublish"),
                            Value::Number(3.0),
                            Value::Null,
                            Value::string(s),
                        ],
                    );
                }
                self.command(
                    0,
                    &[
                        Value::string("createStream"),
                        Value::Number(4.0),
                        Value::Null,
                    ],
                );
                self.state = State::Creating;
            }
            ("_result", State::Creating) if txn == 4.0 => {
                let id = v.get(3).and_then(Value::as_f64).unwrap_or(1.0);
                self.stream_id = id as u32;
                let s = self.stream.clone();
                if self.role == Role::Publisher {
                    self.command(
                        self.stream_id,
                        &[
                            Value::string("publish"),
                            Value::Number(5.0),
                            Value::Null,
                            Value::string(s),
                            Value::string("live"),
                        ],
                    );
                } else {
                    self.control(Control::UserControl(UserControl::SetBufferLength {
                        stream_id: 0,
                        millis: 3000,
                    }));
                    self.command(
                        self.stream_id,
                        &[
                            Value::string("play"),
                            Value::Number(5.0),
                            Value::Null,
                            Value::string(s),
                            Value::Number(-2000.0),
                        ],
                    );
                    self.control(Control::UserControl(UserControl::SetBufferLength {
                        stream_id: self.stream_id,
                        millis: 3000,
                    }));
                }
                self.state = State::Starting;
            }
            ("onStatus", _) => {
                let info = v.get(3);
                let code = info.and_then(|i| i.get_str("code")).unwrap_or("");
                let level = info.and_then(|i| i.get_str("level")).unwrap_or("");
                if level == "error" || code.ends_with("BadName") || code.ends_with("Failed") {
                    self.fail(format!("onStatus {code}"));
                } else if code == "NetStream.Publish.Start" || code == "NetStream.Play.Start" {
                    self.state = State::Streaming;
                }
            }
            ("_error", _) => self.fail(format!("_error: {v:?}")),
            _ => {}
        }
    }

    /// Publisher: queues every tag that is due. Returns when the next one is due.
    pub(crate) fn pump(&mut self, flv: &Flv, now: Instant) -> Option<Instant> {
        if self.role != Role::Publisher || self.state != State::Streaming {
            return None;
        }
        let started = match self.started {
            Some(s) => s,
            None => {
                self.started = Some(now);
                if let Some(meta) = &flv.metadata {
                    let mut body =
                        amf0::encode_to_bytes(&[Value::string("@setDataFrame")]).to_vec();
                    body.extend_from_slice(meta);
                    self.message(4, 0, types::DATA_AMF0, self.stream_id, &body);
                }
                now
            }
        };
        // Do not pile up more than ~2 s of media on a server that does not read.
        if self.backlog() > 1 << 20 {
            return Some(now + Duration::from_millis(5));
        }
        loop {
            let Some(tag) = flv.tags.get(self.next_tag) else {
                self.next_tag = 0;
                self.loops += 1;
                continue;
            };
            let ts = u64::from(tag.ts) + u64::from(self.loops) * u64::from(flv.loop_ms);
            let due = started + Duration::from_millis(ts);
            if due > now {
                return Some(due);
            }
            // Sequence headers are sent once (the first pass).
            if self.loops == 0 || !is_sequence_header(tag) {
                let csid = if tag.type_id == 9 { 6 } else { 4 };
                let (sid, ts32) = (self.stream_id, ts as u32);
                self.message(csid, ts32, tag.type_id, sid, &tag.body);
                self.tags_sent += 1;
                if tag.keyframe {
                    self.keyframes.push_back((ts, now));
                    if self.keyframes.len() > 256 {
                        self.keyframes.pop_front();
                    }
                }
            }
            self.next_tag += 1;
        }
    }
}

thread_local! {
    pub(crate) static APP: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    pub(crate) static TC_URL: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}
