//! `rtmp-load`: an RTMP load generator built on the crate's own chunk codec and AMF0.
//!
//! N publishers replay an FLV file paced in real time, M players connect, play and count
//! frames; everything runs in one thread over non-blocking sockets and `poll(2)`, so the
//! generator stays far lighter than the server it loads. With `--hls-dir`, it watches the
//! playlists with inotify and measures, for every newly listed segment, the time since the
//! keyframe that closed it was sent (publish → segment listed).
//!
//! ```text
//! rtmp-load --url rtmp://127.0.0.1:1935/live --flv in.flv --publishers 5 --players 50 \
//!           --duration 20 [--name bench] [--hls-dir /path/to/hls] [--player-delay-ms 1500]
//! ```
//!
//! Prints one line per stream and a final `SUMMARY key=value ...` line for scripts.
//! Only `std`, `libc` and the crate's pure core: it never links nginx.

use std::collections::{HashMap, HashSet, VecDeque};
use std::ffi::CString;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::unix::io::AsRawFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use ngx_rtmp::amf0::{self, Value};
use ngx_rtmp::rtmp::chunk::{ChunkDecoder, ChunkEncoder, RawMessage};
use ngx_rtmp::rtmp::message::{self, types, Control, UserControl};
use ngx_rtmp::rtmp::Limits;

const HANDSHAKE_PACKET: usize = 1536;
const OUT_CHUNK_SIZE: u32 = 4096;

// ---------------------------------------------------------------------------------------------
// FLV input

#[derive(Clone)]
struct Tag {
    type_id: u8,
    ts: u32,
    body: Bytes,
    keyframe: bool,
}

struct Flv {
    metadata: Option<Bytes>,
    /// Sequence headers (sent first, and again at each loop they are in the tags too).
    tags: Vec<Tag>,
    /// Duration of one pass, for looping with continuous timestamps.
    loop_ms: u32,
}

fn be24(b: &[u8]) -> u32 {
    u32::from_be_bytes([0, b[0], b[1], b[2]])
}

fn read_flv(path: &PathBuf) -> Result<Flv, String> {
    let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if data.len() < 13 || &data[..3] != b"FLV" {
        return Err(format!("{}: not an FLV file", path.display()));
    }
    let header_len = u32::from_be_bytes([data[5], data[6], data[7], data[8]]) as usize;
    let mut pos = header_len + 4;
    let mut tags = Vec::new();
    let mut metadata = None;
    let data = Bytes::from(data);
    while pos + 11 <= data.len() {
        let type_id = data[pos] & 0x1f;
        let len = be24(&data[pos + 1..]) as usize;
        let ts = be24(&data[pos + 4..]) | (u32::from(data[pos + 7]) << 24);
        let start = pos + 11;
        if start + len > data.len() {
            break;
        }
        let body = data.slice(start..start + len);
        pos = start + len + 4;
        match type_id {
            8 | 9 if !body.is_empty() => {
                let keyframe = type_id == 9 && body[0] >> 4 == 1 && body.get(1) == Some(&1);
                tags.push(Tag {
                    type_id,
                    ts,
                    body,
                    keyframe,
                });
            }
            18 if metadata.is_none() => metadata = Some(body),
            _ => {}
        }
    }
    if tags.is_empty() {
        return Err(format!("{}: no audio/video tags", path.display()));
    }
    let first = tags.first().map_or(0, |t| t.ts);
    let last = tags.last().map_or(0, |t| t.ts);
    for t in &mut tags {
        t.ts -= first;
    }
    // One video frame interval after the last tag (estimated from the first two video tags).
    let mut v = tags
        .iter()
        .filter(|t| t.type_id == 9 && t.body.get(1) == Some(&1));
    let frame = match (v.next(), v.next()) {
        (Some(a), Some(b)) if b.ts > a.ts => b.ts - a.ts,
        _ => 33,
    };
    Ok(Flv {
        metadata,
        tags,
        loop_ms: last - first + frame,
    })
}

fn is_sequence_header(t: &Tag) -> bool {
    t.body.get(1) == Some(&0) && (t.type_id == 9 || t.body[0] >> 4 == 10)
}

// ---------------------------------------------------------------------------------------------
// Connections

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Publisher,
    Player,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Handshake,
    Connecting,
    Creating,
    Starting,
    Streaming,
    Failed,
    Closed,
}

struct Conn {
    role: Role,
    stream: String,
    sock: TcpStream,
    state: State,
    error: Option<String>,
    out: Vec<u8>,
    out_pos: usize,
    inbuf: Vec<u8>,
    decoder: ChunkDecoder,
    encoder: ChunkEncoder,
    rx_bytes: u64,
    tx_bytes: u64,
    acked: u64,
    window: u64,
    stream_id: u32,
    joined: Instant,
    // publisher
    next_tag: usize,
    loops: u32,
    started: Option<Instant>,
    tags_sent: u64,
    keyframes: VecDeque<(u64, Instant)>,
    max_backlog: usize,
    // player
    video_rx: u64,
    audio_rx: u64,
    media_bytes: u64,
    first_frame: Option<Duration>,
    first_key: Option<Duration>,
}

impl Conn {
    fn open(addr: SocketAddr, role: Role, stream: String, seed: u64) -> Conn {
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

    fn alive(&self) -> bool {
        !matches!(self.state, State::Failed | State::Closed)
    }

    fn fail(&mut self, why: String) {
        if self.alive() {
            self.error = Some(why);
            self.state = State::Failed;
        }
    }

    fn message(&mut self, csid: u32, ts: u32, type_id: u8, stream_id: u32, body: &[u8]) {
        let mut b = BytesMut::new();
        if self
            .encoder
            .write(&mut b, csid, ts, type_id, stream_id, body)
            .is_ok()
        {
            self.out.extend_from_slice(&b);
        }
    }

    fn command(&mut self, stream_id: u32, values: &[Value]) {
        let body = amf0::encode_to_bytes(values);
        let csid = if stream_id == 0 { 3 } else { 8 };
        self.message(csid, 0, types::COMMAND_AMF0, stream_id, &body);
    }

    fn control(&mut self, c: Control) {
        let (t, body) = message::control_body(&c);
        self.message(2, 0, t, 0, &body);
    }

    fn flush(&mut self) {
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

    fn backlog(&self) -> usize {
        self.out.len() - self.out_pos
    }

    /// Reads everything available and processes it.
    fn read(&mut self, buf: &mut [u8], now: Instant) {
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

    fn input(&mut self, data: &[u8], now: Instant) {
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

    fn on_message(&mut self, m: RawMessage, now: Instant) {
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

    fn on_command(&mut self, v: &[Value]) {
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
    fn pump(&mut self, flv: &Flv, now: Instant) -> Option<Instant> {
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
    static APP: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    static TC_URL: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

// ---------------------------------------------------------------------------------------------
// HLS watch (inotify)

struct HlsWatch {
    fd: i32,
    dir: PathBuf,
    /// Per stream: URIs seen, end of the listed media (ms), latencies.
    seen: HashMap<String, (HashSet<String>, f64)>,
}

impl HlsWatch {
    fn new(dir: PathBuf) -> Result<HlsWatch, String> {
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let cdir = CString::new(dir.as_os_str().as_encoded_bytes()).map_err(|e| e.to_string())?;
        // SAFETY: plain syscalls on a valid C string; the fd is owned by this struct.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if fd < 0 {
            return Err("inotify_init1 failed".into());
        }
        // SAFETY: fd is a valid inotify descriptor, cdir a NUL-terminated path.
        let wd = unsafe {
            libc::inotify_add_watch(fd, cdir.as_ptr(), libc::IN_MOVED_TO | libc::IN_CLOSE_WRITE)
        };
        if wd < 0 {
            return Err(format!("inotify_add_watch {} failed", dir.display()));
        }
        Ok(HlsWatch {
            fd,
            dir,
            seen: HashMap::new(),
        })
    }

    /// Names of the playlists that changed.
    fn changed(&mut self) -> HashSet<String> {
        let mut names = HashSet::new();
        let mut buf = [0u8; 16384];
        loop {
            // SAFETY: reading into a local buffer of the given size.
            let n = unsafe { libc::read(self.fd, buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                break;
            }
            let n = n as usize;
            let mut pos = 0;
            let hdr = std::mem::size_of::<libc::inotify_event>();
            while pos + hdr <= n {
                let len = u32::from_ne_bytes([
                    buf[pos + 12],
                    buf[pos + 13],
                    buf[pos + 14],
                    buf[pos + 15],
                ]) as usize;
                let name_bytes = &buf[pos + hdr..(pos + hdr + len).min(n)];
                let name = String::from_utf8_lossy(name_bytes)
                    .trim_end_matches('\0')
                    .to_string();
                if let Some(stem) = name.strip_suffix(".m3u8") {
                    names.insert(stem.to_string());
                }
                pos += hdr + len;
            }
        }
        names
    }

    /// Reads the playlist of `stream`; returns the stream-time ends (ms) of newly listed
    /// segments.
    fn new_segments(&mut self, stream: &str) -> Vec<f64> {
        let text =
            std::fs::read_to_string(self.dir.join(format!("{stream}.m3u8"))).unwrap_or_default();
        let entry = self.seen.entry(stream.to_string()).or_default();
        let mut out = Vec::new();
        let mut dur = None;
        for line in text.lines() {
            if let Some(d) = line.strip_prefix("#EXTINF:") {
                dur = d
                    .split(',')
                    .next()
                    .and_then(|s| s.trim().parse::<f64>().ok());
            } else if !line.starts_with('#') && !line.trim().is_empty() {
                if let Some(d) = dur.take() {
                    if entry.0.insert(line.trim().to_string()) {
                        entry.1 += d * 1000.0;
                        out.push(entry.1);
                    }
                }
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Statistics

fn median(v: &mut [f64]) -> Option<f64> {
    percentile(v, 50.0)
}

fn percentile(v: &mut [f64], p: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let i = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
    v.get(i.min(v.len() - 1)).copied()
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{x:.1}"))
}

// ---------------------------------------------------------------------------------------------

struct Args {
    url: String,
    flv: PathBuf,
    publishers: usize,
    players: usize,
    duration: f64,
    name: String,
    hls_dir: Option<PathBuf>,
    player_delay_ms: u64,
    play_stream: Option<String>,
    quiet: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: rtmp-load --url rtmp://HOST:PORT/APP --flv FILE [--publishers N] [--players M]\n\
         \x20      [--duration SECS] [--name PREFIX] [--hls-dir DIR] [--player-delay-ms MS]\n\
         \x20      [--play-stream NAME] [--quiet]\n\
         Publishers publish PREFIX0..PREFIX{{N-1}}; players play them round-robin (or\n\
         --play-stream NAME, e.g. a stream published by someone else)."
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        url: String::new(),
        flv: PathBuf::new(),
        publishers: 1,
        players: 0,
        duration: 10.0,
        name: "load".into(),
        hls_dir: None,
        player_delay_ms: 1500,
        play_stream: None,
        quiet: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| usage());
        match k.as_str() {
            "--url" => a.url = val(),
            "--flv" => a.flv = PathBuf::from(val()),
            "--publishers" => a.publishers = val().parse().unwrap_or_else(|_| usage()),
            "--players" => a.players = val().parse().unwrap_or_else(|_| usage()),
            "--duration" => a.duration = val().parse().unwrap_or_else(|_| usage()),
            "--name" => a.name = val(),
            "--hls-dir" => a.hls_dir = Some(PathBuf::from(val())),
            "--player-delay-ms" => a.player_delay_ms = val().parse().unwrap_or_else(|_| usage()),
            "--play-stream" => a.play_stream = Some(val()),
            "--quiet" => a.quiet = true,
            _ => usage(),
        }
    }
    if a.url.is_empty() || (a.publishers > 0 && a.flv.as_os_str().is_empty()) {
        usage();
    }
    a
}

fn main() {
    let args = parse_args();
    let Some(rest) = args.url.strip_prefix("rtmp://") else {
        usage()
    };
    let (hostport, app) = rest.split_once('/').unwrap_or((rest, "live"));
    let hostport = if hostport.contains(':') {
        hostport.to_string()
    } else {
        format!("{hostport}:1935")
    };
    let addr = match hostport.to_socket_addrs().ok().and_then(|mut a| a.next()) {
        Some(a) => a,
        None => {
            eprintln!("rtmp-load: cannot resolve {hostport}");
            std::process::exit(2);
        }
    };
    APP.with(|a| *a.borrow_mut() = app.to_string());
    TC_URL.with(|a| *a.borrow_mut() = args.url.clone());
    let flv = if args.publishers > 0 {
        match read_flv(&args.flv) {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!("rtmp-load: {e}");
                std::process::exit(2);
            }
        }
    } else {
        None
    };
    let mut hls = match args.hls_dir.clone().map(HlsWatch::new).transpose() {
        Ok(h) => h,
        Err(e) => {
            eprintln!("rtmp-load: {e}");
            std::process::exit(2);
        }
    };

    let t0 = Instant::now();
    let end = t0 + Duration::from_secs_f64(args.duration);
    let mut conns: Vec<Conn> = Vec::new();
    for i in 0..args.publishers {
        conns.push(Conn::open(
            addr,
            Role::Publisher,
            format!("{}{i}", args.name),
            i as u64 + 1,
        ));
    }
    let players_at = t0 + Duration::from_millis(args.player_delay_ms);
    let mut players_started = args.players == 0;
    let mut seg_latencies: HashMap<String, Vec<f64>> = HashMap::new();
    let mut unmatched_segments = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    let mut pfds: Vec<libc::pollfd> = Vec::new();
    let mut idx: Vec<usize> = Vec::new();

    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        if !players_started && now >= players_at {
            players_started = true;
            for j in 0..args.players {
                let stream = match &args.play_stream {
                    Some(s) => s.clone(),
                    None => format!("{}{}", args.name, j % args.publishers.max(1)),
                };
                conns.push(Conn::open(addr, Role::Player, stream, 1000 + j as u64));
                // Flush the C0C1 right away so joins are measured from now.
                if let Some(c) = conns.last_mut() {
                    c.flush();
                }
            }
        }
        // Publishers: queue due tags.
        let mut next_due = end;
        if !players_started {
            next_due = next_due.min(players_at);
        }
        if let Some(flv) = &flv {
            for c in conns.iter_mut() {
                if let Some(due) = c.pump(flv, now) {
                    next_due = next_due.min(due);
                }
            }
        }
        for c in conns.iter_mut() {
            if c.alive() && c.backlog() > 0 {
                c.flush();
            }
        }
        // Poll.
        pfds.clear();
        idx.clear();
        for (i, c) in conns.iter().enumerate() {
            if !c.alive() {
                continue;
            }
            let mut events = libc::POLLIN;
            if c.backlog() > 0 {
                events |= libc::POLLOUT;
            }
            pfds.push(libc::pollfd {
                fd: c.sock.as_raw_fd(),
                events,
                revents: 0,
            });
            idx.push(i);
        }
        if let Some(h) = &hls {
            pfds.push(libc::pollfd {
                fd: h.fd,
                events: libc::POLLIN,
                revents: 0,
            });
        }
        let wait = next_due.saturating_duration_since(Instant::now());
        let timeout_ms = (wait.as_micros().div_ceil(1000)).min(100) as i32;
        // SAFETY: pfds is a valid array of pollfd of the given length.
        let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout_ms) };
        if n <= 0 {
            continue;
        }
        let now = Instant::now();
        for (k, &i) in idx.iter().enumerate() {
            let re = pfds[k].revents;
            if re == 0 {
                continue;
            }
            let c = &mut conns[i];
            if re & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
                c.read(&mut buf, now);
            }
            if c.alive() && c.backlog() > 0 {
                c.flush();
            }
        }
        if let Some(h) = &mut hls {
            if pfds.last().is_some_and(|p| p.revents != 0) {
                for stream in h.changed() {
                    let ends = h.new_segments(&stream);
                    let Some(p) = conns
                        .iter()
                        .find(|c| c.role == Role::Publisher && c.stream == stream)
                    else {
                        continue;
                    };
                    for end_ms in ends {
                        // The keyframe that closed the segment: the one at its end time.
                        let best = p
                            .keyframes
                            .iter()
                            .min_by(|a, b| {
                                (a.0 as f64 - end_ms)
                                    .abs()
                                    .total_cmp(&(b.0 as f64 - end_ms).abs())
                            })
                            .copied();
                        match best {
                            Some((ts, sent)) if (ts as f64 - end_ms).abs() < 150.0 => {
                                seg_latencies
                                    .entry(stream.clone())
                                    .or_default()
                                    .push(now.saturating_duration_since(sent).as_secs_f64() * 1e3);
                            }
                            _ => unmatched_segments += 1,
                        }
                    }
                }
            }
        }
    }

    // Report.
    let mut all_seg: Vec<f64> = Vec::new();
    let mut pub_ok = 0;
    let mut tags_sent = 0;
    for c in conns.iter().filter(|c| c.role == Role::Publisher) {
        let mut lat = seg_latencies.get(&c.stream).cloned().unwrap_or_default();
        all_seg.extend(&lat);
        if c.state == State::Streaming {
            pub_ok += 1;
        }
        tags_sent += c.tags_sent;
        if !args.quiet {
            println!(
                "publisher {:<12} state={:?} tags={} bytes={} max_backlog={} segments={} seg_latency_ms median={} max={}{}",
                c.stream,
                c.state,
                c.tags_sent,
                c.tx_bytes,
                c.max_backlog,
                lat.len(),
                fmt_opt(median(&mut lat)),
                fmt_opt(lat.iter().copied().reduce(f64::max)),
                c.error.as_ref().map(|e| format!(" error={e}")).unwrap_or_default()
            );
        }
    }
    // Players per stream.
    let mut by_stream: Vec<String> = conns
        .iter()
        .filter(|c| c.role == Role::Player)
        .map(|c| c.stream.clone())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    by_stream.sort();
    let mut first_all = Vec::new();
    let mut key_all = Vec::new();
    let mut play_ok = 0;
    let mut video_total = 0u64;
    let mut errors: HashMap<String, usize> = HashMap::new();
    for s in &by_stream {
        let ps: Vec<&Conn> = conns
            .iter()
            .filter(|c| c.role == Role::Player && &c.stream == s)
            .collect();
        let mut first: Vec<f64> = ps
            .iter()
            .filter_map(|c| c.first_frame.map(|d| d.as_secs_f64() * 1e3))
            .collect();
        let mut key: Vec<f64> = ps
            .iter()
            .filter_map(|c| c.first_key.map(|d| d.as_secs_f64() * 1e3))
            .collect();
        first_all.extend(&first);
        key_all.extend(&key);
        let video: u64 = ps.iter().map(|c| c.video_rx).sum();
        let audio: u64 = ps.iter().map(|c| c.audio_rx).sum();
        let bytes: u64 = ps.iter().map(|c| c.media_bytes).sum();
        video_total += video;
        let ok = ps.iter().filter(|c| c.state == State::Streaming).count();
        play_ok += ok;
        for c in &ps {
            if let Some(e) = &c.error {
                *errors.entry(e.clone()).or_default() += 1;
            }
        }
        if !args.quiet {
            println!(
                "players   {:<12} n={} ok={} video_frames={} audio_frames={} bytes={} first_frame_ms median={} p95={} first_key_ms median={} p95={}",
                s,
                ps.len(),
                ok,
                video,
                audio,
                bytes,
                fmt_opt(median(&mut first)),
                fmt_opt(percentile(&mut first, 95.0)),
                fmt_opt(median(&mut key)),
                fmt_opt(percentile(&mut key, 95.0)),
            );
        }
    }
    for (e, n) in &errors {
        println!("errors    {n} x {e}");
    }
    let players = conns.iter().filter(|c| c.role == Role::Player).count();
    println!(
        "SUMMARY publishers={} publishers_ok={} tags_sent={} players={} players_ok={} \
         video_frames_per_player={:.1} segments={} unmatched_segments={} \
         seg_latency_ms_median={} seg_latency_ms_p95={} seg_latency_ms_max={} \
         first_frame_ms_median={} first_frame_ms_p95={} first_key_ms_median={} first_key_ms_p95={}",
        args.publishers,
        pub_ok,
        tags_sent,
        players,
        play_ok,
        if players > 0 {
            video_total as f64 / players as f64
        } else {
            0.0
        },
        all_seg.len(),
        unmatched_segments,
        fmt_opt(median(&mut all_seg)),
        fmt_opt(percentile(&mut all_seg, 95.0)),
        fmt_opt(all_seg.iter().copied().reduce(f64::max)),
        fmt_opt(median(&mut first_all)),
        fmt_opt(percentile(&mut first_all, 95.0)),
        fmt_opt(median(&mut key_all)),
        fmt_opt(percentile(&mut key_all, 95.0)),
    );
}
