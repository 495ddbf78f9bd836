//! Client side of the RTMP handshake.
//!
//! ```text
//! client                      server
//!   C0 (version 3) + C1  ──▶
//!                       ◀──  S0 + S1 + S2
//!   C2                   ──▶
//! ```
//!
//! C1 is either plain (bytes 4..8 zero) or, as ffmpeg and librtmp send it,
//! signed with the Flash Player key at the scheme-0 position. Whatever we
//! sent, the answer is read the same way: an S1 carrying a valid server
//! digest (nginx-rtmp, FMS, our own server when C1 was signed) gets a C2
//! signed against that digest, any other S1 gets echoed. C2 is written as
//! soon as S1 is complete; S2 is consumed, not checked, because servers
//! differ too much in what they put there.

use bytes::{BufMut, BytesMut};

use crate::rtmp::digest;
use crate::rtmp::handshake::{HandshakeError, HandshakeKind, PACKET_LEN, RTMP_VERSION};
use crate::rtmp::rng::XorShift;

/// Version we put into C1 bytes 4..8 when signing it (ffmpeg's).
pub const CLIENT_VERSION: [u8; 4] = [0x09, 0x00, 0x7C, 0x02];

/// Which C1 we send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HandshakeStyle {
    /// C1 signed as Flash Player, ffmpeg and librtmp do: the servers that
    /// insist on the digest scheme accept it, the others ignore it.
    #[default]
    Digest,
    /// Zero version bytes, no digest.
    Plain,
}

#[derive(Debug)]
enum State {
    /// Waiting for S0.
    Version,
    /// Collecting S1.
    S1 {
        buf: Vec<u8>,
    },
    /// C2 written; `remaining` bytes of S2 still to consume.
    S2 {
        remaining: usize,
    },
    Done,
}

/// The client handshake state machine.
#[derive(Debug)]
pub struct ClientHandshake {
    state: State,
    rng: XorShift,
    server_kind: Option<HandshakeKind>,
}

impl ClientHandshake {
    /// Starts the handshake: appends C0 and C1 to `out`.
    pub fn start(style: HandshakeStyle, seed: u64, out: &mut BytesMut) -> ClientHandshake {
        let mut rng = XorShift::new(seed);
        let mut c1 = [0u8; PACKET_LEN];
        rng.fill(c1.get_mut(8..).unwrap_or(&mut []));
        if style == HandshakeStyle::Digest {
            if let Some(v) = c1.get_mut(4..8) {
                v.copy_from_slice(&CLIENT_VERSION);
            }
            digest::sign_packet(&mut c1, 0, digest::FP_PARTIAL_KEY);
        }
        out.reserve(1 + PACKET_LEN);
        out.put_u8(RTMP_VERSION);
        out.put_slice(&c1);
        ClientHandshake {
            state: State::Version,
            rng,
            server_kind: None,
        }
    }

    /// True once S2 has been consumed.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// How the server answered (known once S1 arrived).
    pub fn server_kind(&self) -> Option<HandshakeKind> {
        self.server_kind
    }

    /// Consumes handshake bytes from `input`, appending C2 to `out` when S1
    /// is complete. Returns how many bytes were consumed: once the handshake
    /// is done, the rest of `input` belongs to the chunk stream.
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
                    self.state = State::S1 {
                        buf: Vec::with_capacity(PACKET_LEN),
                    };
                }
                State::S1 { buf } => {
                    let take = PACKET_LEN.saturating_sub(buf.len()).min(rest.len());
                    buf.extend_from_slice(rest.get(..take).unwrap_or(&[]));
                    used = used.saturating_add(take);
                    if buf.len() < PACKET_LEN {
                        continue;
                    }
                    let s1 = std::mem::take(buf);
                    self.answer(&s1, out);
                    self.state = State::S2 {
                        remaining: PACKET_LEN,
                    };
                }
                State::S2 { remaining } => {
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

    fn answer(&mut self, s1: &[u8], out: &mut BytesMut) {
        let server_version = s1.get(4..8).unwrap_or(&[0; 4]);
        let found = if server_version == [0; 4] {
            None
        } else {
            digest::find_digest(s1, digest::FMS_PARTIAL_KEY)
        };
        out.reserve(PACKET_LEN);
        match found {
            None => {
                self.server_kind = Some(HandshakeKind::Plain);
                out.put_slice(s1);
            }
            Some((scheme, server_digest)) => {
                self.server_kind = Some(HandshakeKind::Digest { scheme });
                let mut c2 = [0u8; PACKET_LEN];
                self.rng.fill(&mut c2);
                digest::sign_response(&mut c2, &server_digest, digest::FP_KEY);
                out.put_slice(&c2);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::rtmp::handshake::Handshake;

    /// Runs a client handshake against our server handshake, feeding the
    /// server's answer in pieces of `step` bytes.
    fn against_server(style: HandshakeStyle, step: usize) -> (ClientHandshake, Handshake) {
        let mut c_out = BytesMut::new();
        let mut client = ClientHandshake::start(style, 1, &mut c_out);
        assert_eq!(c_out.len(), 1 + PACKET_LEN);
        let mut server = Handshake::new(2, 0);
        let mut s_out = BytesMut::new();
        assert_eq!(server.feed(&c_out, &mut s_out).unwrap(), 1 + PACKET_LEN);
        c_out.clear();
        for piece in s_out.chunks(step) {
            assert_eq!(client.feed(piece, &mut c_out).unwrap(), piece.len());
        }
        assert!(client.is_done());
        assert_eq!(c_out.len(), PACKET_LEN);
        let mut none = BytesMut::new();
        server.feed(&c_out, &mut none).unwrap();
        assert!(server.is_done());
        (client, server)
    }

    #[test]
    fn digest_c1_gets_a_digest_answer_and_a_signed_c2() {
        let (client, server) = against_server(HandshakeStyle::Digest, 4096);
        assert_eq!(server.kind(), Some(HandshakeKind::Digest { scheme: 0 }));
        assert_eq!(
            client.server_kind(),
            Some(HandshakeKind::Digest { scheme: 0 })
        );
    }

    #[test]
    fn plain_c1_gets_an_echo_and_c2_echoes_s1() {
        let (client, server) = against_server(HandshakeStyle::Plain, 1);
        assert_eq!(server.kind(), Some(HandshakeKind::Plain));
        assert_eq!(client.server_kind(), Some(HandshakeKind::Plain));
    }

    #[test]
    fn c2_echoes_a_plain_s1() {
        let mut out = BytesMut::new();
        let mut client = ClientHandshake::start(HandshakeStyle::Digest, 3, &mut out);
        out.clear();
        let mut s = vec![RTMP_VERSION];
        let s1: Vec<u8> = (0..PACKET_LEN).map(|i| (i % 251) as u8).collect();
        s.extend_from_slice(&s1);
        assert_eq!(client.feed(&s, &mut out).unwrap(), s.len());
        assert_eq!(&out[..], &s1[..]);
        assert!(!client.is_done());
        // S2 followed by chunk-stream bytes: only S2 is consumed.
        let mut s2 = vec![0u8; PACKET_LEN];
        s2.extend_from_slice(&[2, 0, 0]);
        assert_eq!(client.feed(&s2, &mut out).unwrap(), PACKET_LEN);
        assert!(client.is_done());
    }

    #[test]
    fn c2_is_signed_against_a_server_digest() {
        let mut out = BytesMut::new();
        let mut client = ClientHandshake::start(HandshakeStyle::Plain, 3, &mut out);
        out.clear();
        let mut s1 = [7u8; PACKET_LEN];
        s1[4..8].copy_from_slice(&[4, 5, 0, 1]);
        digest::sign_packet(&mut s1, 1, digest::FMS_PARTIAL_KEY);
        let (_, server_digest) = digest::find_digest(&s1, digest::FMS_PARTIAL_KEY).unwrap();
        client.feed(&[RTMP_VERSION], &mut out).unwrap();
        client.feed(&s1, &mut out).unwrap();
        assert_eq!(
            client.server_kind(),
            Some(HandshakeKind::Digest { scheme: 1 })
        );
        assert!(digest::verify_response(
            &out,
            &server_digest,
            digest::FP_KEY
        ));
    }

    #[test]
    fn bad_server_version_is_an_error() {
        let mut out = BytesMut::new();
        let mut client = ClientHandshake::start(HandshakeStyle::Plain, 3, &mut out);
        assert_eq!(
            client.feed(b"HTTP/1.1 400", &mut out),
            Err(HandshakeError::BadVersion(b'H'))
        );
    }

    #[test]
    fn empty_input_is_not_an_error() {
        let mut out = BytesMut::new();
        let mut client = ClientHandshake::start(HandshakeStyle::Plain, 3, &mut out);
        assert_eq!(client.feed(&[], &mut out), Ok(0));
        assert!(!client.is_done());
    }
}
