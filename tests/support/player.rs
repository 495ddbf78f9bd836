//! A test RTMP player: the independent raw client for the handshake and commands, the crate's
//! chunk decoder for what the server sends back.

use std::io::Read;
use std::time::{Duration, Instant};

use ngx_rtmp::rtmp::chunk::{ChunkDecoder, RawMessage};
use ngx_rtmp::rtmp::Limits;

use super::rtmp_client::{chunks, command, Amf, Client};

/// A media message as received.
#[derive(Debug, Clone)]
pub struct Got {
    pub type_id: u8,
    pub timestamp: u32,
    /// Video: FLV frame type 1 and not a sequence header.
    pub keyframe: bool,
    pub sequence_header: bool,
    /// AVC end of sequence (not a picture).
    pub end_of_sequence: bool,
    pub len: usize,
    pub at: Instant,
}

pub struct TestPlayer {
    pub client: Client,
    dec: ChunkDecoder,
    buf: Vec<u8>,
    pub play_sent: Instant,
    /// Messages other than audio/video seen (type id, first bytes), for debugging.
    pub other: Vec<u8>,
}

impl TestPlayer {
    /// Connects, creates a stream and plays `app/name`.
    pub fn play(port: u16, app: &str, name: &str) -> TestPlayer {
        TestPlayer::play_on(Client::handshake(port), app, name)
    }

    /// A player that will not read: tiny receive buffer.
    pub fn play_stalled(port: u16, app: &str, name: &str) -> TestPlayer {
        TestPlayer::play_on(Client::handshake_small_rcvbuf(port), app, name)
    }

    fn play_on(mut client: Client, app: &str, name: &str) -> TestPlayer {
        client.connect(app);
        client.create_stream();
        let cmd = command("play", 3.0, &[Amf::Null, Amf::Str(name), Amf::Num(-1000.0)]);
        client.send(&chunks(8, 20, 1, 0, &cmd, 128)).unwrap();
        let limits = Limits {
            max_message: 16 << 20,
            ..Limits::default()
        };
        TestPlayer {
            client,
            dec: ChunkDecoder::new(&limits),
            buf: Vec::new(),
            play_sent: Instant::now(),
            other: Vec::new(),
        }
    }

    /// The next message, or `None` if none arrives before `deadline` (or the server closed).
    pub fn next(&mut self, deadline: Instant) -> Option<RawMessage> {
        let mut tmp = [0u8; 65536];
        loop {
            if !self.buf.is_empty() {
                let (used, msg) = self
                    .dec
                    .decode(&self.buf)
                    .expect("server sent a malformed chunk stream");
                self.buf.drain(..used);
                if let Some(m) = msg {
                    return Some(m);
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            let _ = self
                .client
                .sock
                .set_read_timeout(Some((deadline - now).max(Duration::from_millis(1))));
            match self.client.sock.read(&mut tmp) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&tmp[..n]),
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    return None
                }
                Err(_) => return None,
            }
        }
    }

    /// Audio/video messages received until `deadline` (or until the server closes, or
    /// `stop_after` media messages).
    pub fn collect(&mut self, deadline: Instant, stop_after: usize) -> Vec<Got> {
        let mut out = Vec::new();
        while out.len() < stop_after {
            let Some(m) = self.next(deadline) else { break };
            if m.type_id == 8 || m.type_id == 9 {
                let first = m.payload.first().copied().unwrap_or(0);
                let second = m.payload.get(1).copied().unwrap_or(0xff);
                out.push(Got {
                    type_id: m.type_id,
                    timestamp: m.timestamp,
                    keyframe: m.type_id == 9 && first >> 4 == 1 && second != 0,
                    sequence_header: second == 0,
                    end_of_sequence: m.type_id == 9 && second == 2,
                    len: m.payload.len(),
                    at: Instant::now(),
                });
            } else {
                self.other.push(m.type_id);
            }
        }
        out
    }
}

/// Checks order rules on what a player got: starts (after sequence headers) with a keyframe,
/// timestamps never go backwards per track. Returns the number of video frames.
pub fn check_stream(got: &[Got]) -> Result<usize, String> {
    let pictures = || {
        got.iter()
            .filter(|g| g.type_id == 9 && !g.sequence_header && !g.end_of_sequence)
    };
    let mut video = pictures();
    match video.next() {
        Some(first) if first.keyframe => {}
        Some(first) => return Err(format!("first video frame is not a keyframe: {first:?}")),
        None => return Err("no video".into()),
    }
    for ty in [8u8, 9] {
        let ts: Vec<u32> = got
            .iter()
            .filter(|g| g.type_id == ty && !g.sequence_header)
            .map(|g| g.timestamp)
            .collect();
        if let Some(w) = ts.windows(2).find(|w| w[1] < w[0]) {
            return Err(format!(
                "type {ty}: timestamp went back {} -> {}",
                w[0], w[1]
            ));
        }
    }
    Ok(pictures().count())
}
