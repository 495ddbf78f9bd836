//! Helpers shared by the rtmp_* integration tests: a scripted client that
//! builds real-looking byte streams with the crate's own chunk encoder, a
//! digest-handshake C1 built independently with hmac/sha2, and a tiny shell
//! that drives a Session.

use bytes::{Bytes, BytesMut};
use hmac::{Hmac, Mac};
use ngx_rtmp::amf0::{self, Value};
use ngx_rtmp::rtmp::chunk::{ChunkDecoder, ChunkEncoder, RawMessage};
use ngx_rtmp::rtmp::{Event, Limits, Session, SessionConfig, SessionError};
use sha2::Sha256;

pub const FP_PARTIAL: &[u8] = b"Genuine Adobe Flash Player 001";
pub const FMS_PARTIAL: &[u8] = b"Genuine Adobe Flash Media Server 001";
pub const KEY_TAIL: [u8; 32] = [
    0xF0, 0xEE, 0xC2, 0x4A, 0x80, 0x68, 0xBE, 0xE8, 0x2E, 0x00, 0xD0, 0xD1, 0x02, 0x9E, 0x7E, 0x57,
    0x6E, 0xEC, 0x5D, 0x2D, 0x29, 0x80, 0x6F, 0xAB, 0x93, 0xB8, 0xE6, 0x36, 0xCF, 0xEB, 0x31, 0xAE,
];

pub fn fms_full_key() -> Vec<u8> {
    let mut k = FMS_PARTIAL.to_vec();
    k.extend_from_slice(&KEY_TAIL);
    k
}

pub fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// Deterministic test randomness.
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

pub fn digest_pos(packet: &[u8], scheme: u8) -> usize {
    let base = if scheme == 0 { 8 } else { 772 };
    let sum: usize = packet[base..base + 4].iter().map(|b| *b as usize).sum();
    sum % 728 + base + 4
}

/// C0+C1 of a plain handshake (version bytes zero).
pub fn plain_c0c1(seed: u64) -> Vec<u8> {
    let mut v = vec![3u8];
    let mut c1 = Rng(seed | 1).bytes(1536);
    c1[..8].copy_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
    v.extend_from_slice(&c1);
    v
}

/// C0+C1 of a digest handshake as ffmpeg builds it; returns the bytes and
/// the client digest.
pub fn digest_c0c1(seed: u64, scheme: u8) -> (Vec<u8>, [u8; 32]) {
    let mut c1 = Rng(seed | 1).bytes(1536);
    c1[..4].copy_from_slice(&[0, 0, 0, 0]);
    c1[4..8].copy_from_slice(&[9, 0, 124, 2]);
    let pos = digest_pos(&c1, scheme);
    let d = hmac(FP_PARTIAL, &[&c1[..pos], &c1[pos + 32..]]);
    c1[pos..pos + 32].copy_from_slice(&d);
    let mut v = vec![3u8];
    v.extend_from_slice(&c1);
    (v, d)
}

pub fn c2() -> Vec<u8> {
    Rng(77).bytes(1536)
}

/// A client writing chunked messages.
pub struct Client {
    pub enc: ChunkEncoder,
    pub out: BytesMut,
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

impl Client {
    pub fn new() -> Self {
        Client {
            enc: ChunkEncoder::new(),
            out: BytesMut::new(),
        }
    }
    pub fn raw(&mut self, csid: u32, ts: u32, type_id: u8, msid: u32, payload: &[u8]) {
        self.enc
            .write(&mut self.out, csid, ts, type_id, msid, payload)
            .unwrap();
    }
    pub fn command(&mut self, msid: u32, values: &[Value]) {
        let body = amf0::encode_to_bytes(values);
        self.raw(3, 0, 20, msid, &body);
    }
    pub fn data(&mut self, msid: u32, values: &[Value]) {
        let body = amf0::encode_to_bytes(values);
        self.raw(4, 0, 18, msid, &body);
    }
    pub fn set_chunk_size(&mut self, n: u32) {
        self.raw(2, 0, 1, 0, &n.to_be_bytes());
        self.enc.set_chunk_size(n);
    }
    pub fn window_ack(&mut self, n: u32) {
        self.raw(2, 0, 5, 0, &n.to_be_bytes());
    }
    pub fn take(&mut self) -> Vec<u8> {
        self.out.split().to_vec()
    }
}

pub fn s(v: &str) -> Value {
    Value::from(v)
}
pub fn n(v: f64) -> Value {
    Value::Number(v)
}

pub fn connect_values(app: &str) -> Vec<Value> {
    vec![
        s("connect"),
        n(1.0),
        Value::object([
            ("app", s(app)),
            ("type", s("nonprivate")),
            ("flashVer", s("FMLE/3.0 (compatible; Lavf61.1.100)")),
            ("tcUrl", s(&format!("rtmp://127.0.0.1:1935/{app}"))),
        ]),
    ]
}

pub fn metadata_values() -> Vec<Value> {
    vec![
        s("@setDataFrame"),
        s("onMetaData"),
        Value::EcmaArray(vec![
            ("duration".into(), n(0.0)),
            ("width".into(), n(1280.0)),
            ("height".into(), n(720.0)),
            ("videocodecid".into(), n(7.0)),
            ("audiocodecid".into(), n(10.0)),
            ("encoder".into(), s("Lavf61.1.100")),
        ]),
    ]
}

/// Media of the scripted publish: (type_id, timestamp, payload).
pub fn media_script() -> Vec<(u8, u32, Vec<u8>)> {
    let mut rng = Rng(99);
    let mut v = vec![
        (
            9u8,
            0u32,
            vec![0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1],
        ),
        (8, 0, vec![0xaf, 0, 0x12, 0x10]),
    ];
    for i in 0..6u32 {
        let mut frame = vec![if i % 3 == 0 { 0x17 } else { 0x27 }, 1, 0, 0, 0];
        frame.extend(rng.bytes(if i == 0 { 700 } else { 150 + (i as usize) * 37 }));
        v.push((9, i * 40, frame));
        let mut aac = vec![0xaf, 1];
        aac.extend(rng.bytes(40 + i as usize));
        v.push((8, i * 23, aac));
    }
    v
}

/// Client bytes of a whole ffmpeg-style publish: handshake (digest when
/// `digest`), connect, releaseStream, FCPublish, createStream, publish,
/// @setDataFrame, audio/video, FCUnpublish, deleteStream.
pub fn ffmpeg_publish(digest: bool, chunk_size: Option<u32>) -> Vec<u8> {
    let mut bytes = if digest {
        digest_c0c1(5, 0).0
    } else {
        plain_c0c1(5)
    };
    bytes.extend(c2());
    let mut c = Client::new();
    if let Some(cs) = chunk_size {
        c.set_chunk_size(cs);
    }
    c.command(0, &connect_values("live"));
    c.window_ack(2_500_000);
    c.command(0, &[s("releaseStream"), n(2.0), Value::Null, s("key")]);
    c.command(0, &[s("FCPublish"), n(3.0), Value::Null, s("key")]);
    c.command(0, &[s("createStream"), n(4.0), Value::Null]);
    c.command(1, &[s("publish"), n(5.0), Value::Null, s("key"), s("live")]);
    c.data(1, &metadata_values());
    for (t, ts, payload) in media_script() {
        c.raw(if t == 8 { 4 } else { 6 }, ts, t, 1, &payload);
    }
    c.command(0, &[s("FCUnpublish"), n(6.0), Value::Null, s("key")]);
    c.command(0, &[s("deleteStream"), n(7.0), Value::Null, n(1.0)]);
    bytes.extend(c.take());
    bytes
}

/// What the test shell saw.
#[derive(Debug, Default)]
pub struct Outcome {
    pub events: Vec<Event>,
    pub output: Vec<u8>,
    pub error: Option<SessionError>,
}

/// Drains events, accepting every request (or applying `policy`).
pub fn drain(session: &mut Session, out: &mut Outcome, accept: bool) {
    while let Some(ev) = session.poll_event() {
        match &ev {
            Event::Connect(_) if accept => session.accept_connect(),
            Event::Publish(p) if accept => session.accept_publish(p.stream_id),
            Event::Play(p) if accept => session.accept_play(p.stream_id),
            _ => {}
        }
        out.events.push(ev);
    }
    while let Some(b) = session.poll_transmit() {
        out.output.extend_from_slice(&b);
    }
}

/// Feeds `pieces` one after another (time advancing 1 ms per piece),
/// accepting every request. Stops at the first error.
pub fn run_pieces<'a>(
    config: SessionConfig,
    pieces: impl IntoIterator<Item = &'a [u8]>,
) -> Outcome {
    let mut session = Session::new(config, 1000, 42);
    let mut out = Outcome::default();
    let mut now = 1000;
    for p in pieces {
        now += 1;
        if let Err(e) = session.feed(now, p) {
            out.error = Some(e);
            drain(&mut session, &mut out, true);
            return out;
        }
        drain(&mut session, &mut out, true);
    }
    // Errors found while resuming after an accept surface here.
    if session.poll_timeout() == Some(now) {
        if let Err(e) = session.handle_timeout(now) {
            out.error = Some(e);
        }
        drain(&mut session, &mut out, true);
    }
    out
}

pub fn run(config: SessionConfig, bytes: &[u8]) -> Outcome {
    run_pieces(config, [bytes])
}

/// Decodes what the server sent (after S0+S1+S2) into messages.
pub fn server_messages(output: &[u8]) -> Vec<RawMessage> {
    assert!(output.len() >= 3073, "no handshake in output");
    let mut dec = ChunkDecoder::new(&Limits::default());
    let mut rest = &output[3073..];
    let mut v = Vec::new();
    while !rest.is_empty() {
        let (used, m) = dec.decode(rest).unwrap();
        rest = &rest[used..];
        match m {
            Some(m) => v.push(m),
            None => break,
        }
    }
    v
}

/// Server commands/data decoded as AMF0 values, with their message stream.
pub fn server_commands(output: &[u8]) -> Vec<(u32, Vec<Value>)> {
    server_messages(output)
        .into_iter()
        .filter(|m| m.type_id == 20 || m.type_id == 18)
        .map(|m| (m.stream_id, amf0::decode_all(&m.payload, 32).unwrap()))
        .collect()
}

/// Status codes of onStatus/_result/_error infos in server output.
pub fn status_codes(output: &[u8]) -> Vec<String> {
    server_commands(output)
        .iter()
        .filter_map(|(_, v)| v.get(3).and_then(|i| i.get_str("code")).map(str::to_owned))
        .collect()
}

pub fn payload(b: &[u8]) -> Bytes {
    Bytes::copy_from_slice(b)
}
