mod support;

use bytes::BytesMut;
use ngx_rtmp::rtmp::handshake::{Handshake, HandshakeError, HandshakeKind};
use ngx_rtmp::rtmp::{Blame, Event, Session, SessionConfig, SessionError};
use support::session::*;

fn respond(c0c1: &[u8]) -> (Handshake, BytesMut) {
    let mut hs = Handshake::new(7, 1234);
    let mut out = BytesMut::new();
    let used = hs.feed(c0c1, &mut out).unwrap();
    assert_eq!(used, 1537);
    assert_eq!(out.len(), 1 + 1536 * 2);
    (hs, out)
}

#[test]
fn plain_handshake_echoes_c1() {
    let c0c1 = plain_c0c1(3);
    let (mut hs, out) = respond(&c0c1);
    assert_eq!(hs.kind(), Some(HandshakeKind::Plain));
    assert_eq!(out[0], 3);
    assert_eq!(&out[1..5], &1234u32.to_be_bytes());
    assert_eq!(&out[5..9], &[0, 0, 0, 0]);
    assert_eq!(&out[1537..], &c0c1[1..], "S2 must echo C1");
    assert!(!hs.is_done());
    let mut more = BytesMut::new();
    let mut c2_and_more = c2();
    c2_and_more.extend_from_slice(b"rest");
    assert_eq!(hs.feed(&c2_and_more, &mut more).unwrap(), 1536);
    assert!(hs.is_done());
    assert!(more.is_empty());
}

fn check_digest_reply(scheme: u8) {
    let (c0c1, client_digest) = digest_c0c1(11 + scheme as u64, scheme);
    let (_hs, out) = respond(&c0c1);
    let s1 = &out[1..1537];
    let s2 = &out[1537..];
    assert_eq!(&s1[4..8], &[0x0D, 0x0E, 0x0A, 0x0D]);
    // S1 carries a server digest made with the FMS partial key, at the
    // position of the client's scheme.
    let pos = digest_pos(s1, scheme);
    let expect = hmac(FMS_PARTIAL, &[&s1[..pos], &s1[pos + 32..]]);
    assert_eq!(&s1[pos..pos + 32], &expect);
    // S2: last 32 bytes = HMAC(HMAC(FMS full key, client digest), rest).
    let key = hmac(&fms_full_key(), &[&client_digest]);
    let sig = hmac(&key, &[&s2[..1504]]);
    assert_eq!(&s2[1504..], &sig);
}

#[test]
fn digest_handshake_scheme0() {
    check_digest_reply(0);
    let (c0c1, _) = digest_c0c1(11, 0);
    let (hs, _) = respond(&c0c1);
    assert_eq!(hs.kind(), Some(HandshakeKind::Digest { scheme: 0 }));
}

#[test]
fn digest_handshake_scheme1() {
    check_digest_reply(1);
    let (c0c1, _) = digest_c0c1(12, 1);
    let (hs, _) = respond(&c0c1);
    assert_eq!(hs.kind(), Some(HandshakeKind::Digest { scheme: 1 }));
}

#[test]
fn invalid_client_digest_falls_back_to_echo() {
    let (mut c0c1, _) = digest_c0c1(13, 0);
    // Break the digest (and make sure scheme 1 does not match by chance).
    let pos = digest_pos(&c0c1[1..], 0) + 1;
    c0c1[pos] ^= 0xFF;
    let (hs, out) = respond(&c0c1);
    assert_eq!(hs.kind(), Some(HandshakeKind::Plain));
    assert_eq!(&out[1537..], &c0c1[1..]);
}

#[test]
fn bad_version_is_rejected() {
    for v in [0u8, 1, 2, 4, 0x47, 0xFF] {
        let mut hs = Handshake::new(1, 0);
        let mut out = BytesMut::new();
        assert_eq!(
            hs.feed(&[v, 0, 0], &mut out),
            Err(HandshakeError::BadVersion(v))
        );
        assert!(out.is_empty());
    }
    // RTMPE is reported as unsupported rather than garbage.
    let mut s = Session::new(SessionConfig::default(), 0, 1);
    let e = s.feed(0, &[6]).unwrap_err();
    assert_eq!(e.blame(), Blame::Unsupported);
    let mut s = Session::new(SessionConfig::default(), 0, 1);
    let e = s.feed(0, b"GET / HTTP/1.1\r\n").unwrap_err();
    assert!(matches!(e, SessionError::Handshake(_)));
    assert_eq!(e.blame(), Blame::PeerMalformed);
    assert!(s.poll_transmit().is_none());
}

#[test]
fn handshake_byte_by_byte() {
    let c0c1 = digest_c0c1(21, 1).0;
    let mut hs = Handshake::new(7, 0);
    let mut out = BytesMut::new();
    for b in c0c1.iter().chain(c2().iter()) {
        assert_eq!(hs.feed(std::slice::from_ref(b), &mut out).unwrap(), 1);
    }
    assert!(hs.is_done());
    assert_eq!(out.len(), 3073);
}

#[test]
fn bytes_after_c2_reach_the_chunk_decoder() {
    // Everything in one read: C0C1, C2 and the connect command.
    let mut bytes = digest_c0c1(5, 0).0;
    bytes.extend(c2());
    let mut c = Client::new();
    c.command(0, &connect_values("live"));
    bytes.extend(c.take());
    let mut s = Session::new(SessionConfig::default(), 0, 9);
    s.feed(1, &bytes).unwrap();
    assert!(s.is_handshake_done());
    assert_eq!(
        s.handshake_kind(),
        Some(HandshakeKind::Digest { scheme: 0 })
    );
    match s.poll_event() {
        Some(Event::Connect(c)) => assert_eq!(c.app, "live"),
        other => panic!("expected connect, got {other:?}"),
    }
    let out = s.poll_transmit().unwrap();
    assert_eq!(out.len(), 3073);
}

#[test]
fn same_seed_same_bytes() {
    let c0c1 = digest_c0c1(5, 0).0;
    assert_eq!(respond(&c0c1).1, respond(&c0c1).1);
}
