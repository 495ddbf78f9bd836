//! Server side of the RTMP handshake.
//!
//! ```text
//! client                      server
//!   C0 (version 3) + C1  ──▶
//!                       ◀──  S0 + S1 + S2
//!   C2                   ──▶
//! ```
//!
//! Two flavours exist. In the plain one (C1 bytes 4..8 are zero) S2 echoes
//! C1. In the digest one used by Flash, librtmp (OBS) and ffmpeg, C1 carries
//! an HMAC-SHA256 digest at a position derived from C1 itself (scheme 0:
//! offset bytes at 8, scheme 1: at 772), keyed with the "Genuine Adobe Flash
//! Player 001" key; the server answers with its own digest in S1 and a
//! digest-signed S2. A C1 whose digest does not validate gets the plain
//! echo. C2 is consumed, not checked: clients differ too much.

use std::fmt;

use bytes::{BufMut, BytesMut};

use super::digest;
use super::rng::XorShift;

/// Size of C1/S1/C2/S2.
pub const PACKET_LEN: usize = 1536;
/// The only RTMP version we speak (C0/S0).
pub const RTMP_VERSION: u8 = 3;
/// Version we put into S1 bytes 4..8 in digest mode (as FMS 3.5 does).
pub const SERVER_VERSION: [u8; 4] = [0x0D, 0x0E, 0x0A, 0x0D];

/// Handshake failures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeError {
    /// C0 was not 3. 6 (RTMPE) and 8/9 (encrypted variants) are reported as
    /// unsupported, anything else as garbage.
    BadVersion(u8),
}

impl HandshakeError {
    /// True for versions that are real but not implemented (RTMPE).
    pub fn is_unsupported(&self) -> bool {
        matches!(self, HandshakeError::BadVersion(6 | 8 | 9))
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::BadVersion(v) if self.is_unsupported() => {
                write!(f, "handshake: encrypted rtmp (version {v}) not supported")
            }
            HandshakeError::BadVersion(v) => write!(f, "handshake: bad rtmp version {v}"),
        }
    }
}

impl std::error::Error for HandshakeError {}

/// Which handshake the client used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeKind {
    /// S2 echoes C1.
    Plain,
    /// Digest handshake; `scheme` 0 (offset base 8) or 1 (offset base 772).
    Digest { scheme: u8 },
}

#[derive(Debug)]
enum State {
    /// Waiting for C0.
    Version,
    /// Collecting C1.
    C1 {
        buf: Vec<u8>,
    },
    /// S0/S1/S2 written; `remaining` bytes of C2 still to consume.
    C2 {
        remaining: usize,
    },
    Done,
}

/// The server handshake state machine.
#[derive(Debug)]
pub struct Handshake {
    state: State,
    rng: XorShift,
    epoch: u32,
    kind: Option<HandshakeKind>,
}

impl Handshake {
    /// `seed` feeds the filler bytes, `epoch` is the time we put into S1.
    pub fn new(seed: u64, epoch: u32) -> Self {
        Handshake {
            state: State::Version,
            rng: XorShift::new(seed),
            epoch,
            kind: None,
        }
    }

    /// True once C2 has been consumed.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// The flavour chosen after C1 arrived.
    pub fn kind(&self) -> Option<HandshakeKind> {
        self.kind
    }

    /// Heap bytes held: a copy of C1 while it arrives in pieces.
    pub fn heap_bytes(&self) -> usize {
        match &self.state {
            State::C1 { buf } => buf.capacity(),
            _ => 0,
        }
    }

    /// Consumes handshake bytes from `input` and appends what must be sent
    /// to `out`. Returns how many bytes were consumed: once the handshake is
    /// done, the rest of `input` belongs to the chunk stream.
    pub fn feed(&mut self, input: &[u8], out: &mut BytesMut) -> Result<usize, HandshakeError> {
        let mut used = 0usize;
        loop {
            let rest = input.get(used..).unwrap_or(&[]);
            match &mut self.state {
                State::Done => return Ok(used),
                _ if rest.is_empty() => return Ok(used),
                State::Version => {
                    let v = rest.first().copied().unwrap_or(0);
                    if v != RTMP_VERSION {
                        return Err(HandshakeError::BadVersion(v));
                    }
                    used = used.saturating_add(1);
                    self.state = State::C1 { buf: Vec::new() };
                }
                State::C1 { buf } => {
                    let want = PACKET_LEN.saturating_sub(buf.len());
                    let take = want.min(rest.len());
                    let piece = rest.get(..take).unwrap_or(&[]);
                    used = used.saturating_add(take);
                    if buf.is_empty() && take == PACKET_LEN {
                        // C1 arrived in one piece (the usual case): answered from the
                        // input, never copied.
                        self.respond(piece, out);
                    } else {
                        buf.reserve_exact(want);
                        buf.extend_from_slice(piece);
                        if buf.len() < PACKET_LEN {
                            continue;
                        }
                        let c1 = std::mem::take(buf);
                        self.respond(&c1, out);
                    }
                    self.state = State::C2 {
                        remaining: PACKET_LEN,
                    };
                }
                State::C2 { remaining } => {
                    let take = (*remaining).min(rest.len());
                    *remaining = remaining.saturating_sub(take);
                    used = used.saturating_add(take);
                    if *remaining == 0 {
                        self.state = State::Done;
                    }
                }
            }
        }
    }

    fn respond(&mut self, c1: &[u8], out: &mut BytesMut) {
        let client_version = c1.get(4..8).unwrap_or(&[0; 4]);
        let found = if client_version == [0; 4] {
            None
        } else {
            digest::find_client_digest(c1)
        };
        out.reserve(1 + 2 * PACKET_LEN);
        out.put_u8(RTMP_VERSION);
        match found {
            None => {
                self.kind = Some(HandshakeKind::Plain);
                let mut s1 = [0u8; PACKET_LEN];
                self.rng.fill(s1.get_mut(8..).unwrap_or(&mut []));
                if let Some(t) = s1.get_mut(..4) {
                    t.copy_from_slice(&self.epoch.to_be_bytes());
                }
                out.put_slice(&s1);
                out.put_slice(c1);
            }
            Some((scheme, client_digest)) => {
                self.kind = Some(HandshakeKind::Digest { scheme });
                let mut s1 = [0u8; PACKET_LEN];
                self.rng.fill(&mut s1);
                if let Some(t) = s1.get_mut(..4) {
                    t.copy_from_slice(&self.epoch.to_be_bytes());
                }
                if let Some(v) = s1.get_mut(4..8) {
                    v.copy_from_slice(&SERVER_VERSION);
                }
                digest::sign_packet(&mut s1, scheme, digest::FMS_PARTIAL_KEY);
                out.put_slice(&s1);

                let mut s2 = [0u8; PACKET_LEN];
                self.rng.fill(&mut s2);
                digest::sign_response(&mut s2, &client_digest, digest::FMS_KEY);
                out.put_slice(&s2);
            }
        }
    }
}
