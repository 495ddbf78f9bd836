//! What a session holds in memory for itself ([`Session::heap_bytes`]), and
//! tests that pin a player's footprint: a server has thousands of players,
//! so whatever one keeps after its handshake, its connect and its join burst
//! is multiplied by all of them.

use std::mem::size_of;

use super::{Phase, Session};
use crate::rtmp::event::Event;

impl Session {
    /// Heap bytes the session keeps for itself: the capacities of its
    /// buffers, queues and tables. Not counted: the shared pieces it queued
    /// (media bodies belong to every player of a stream) and the
    /// allocator's own overhead.
    pub fn heap_bytes(&self) -> usize {
        let handshake = match &self.phase {
            Phase::Handshake(hs) => hs.heap_bytes(),
            _ => 0,
        };
        handshake
            + self.decoder.heap_bytes()
            + self.encoder.heap_bytes()
            + self.streams.heap_bytes()
            + self.events.capacity() * size_of::<Event>()
            + self.out.heap_bytes()
            + self.backlog.capacity()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use bytes::{Bytes, BytesMut};

    use super::*;
    use crate::amf0::{self, Value};
    use crate::rtmp::chunk::{ChunkEncoder, PreparedMessage};
    use crate::rtmp::config::SessionConfig;
    use crate::rtmp::handshake::{Handshake, PACKET_LEN};
    use crate::rtmp::message::{csid, types};

    /// What a playing session may keep once its output was taken, whatever
    /// it was sent before. Today it keeps 450 to 600 bytes: the chunk stream
    /// tables, its stream, and the output queue's slots.
    const PLAYER_BOUND: usize = 768;

    /// C0 and a plain C1 (zero version bytes).
    fn c0c1() -> Vec<u8> {
        let mut v = vec![3u8];
        v.extend((0..PACKET_LEN).map(|i| if i < 8 { 0 } else { (i * 31) as u8 }));
        v
    }

    /// Handshake, then connect, createStream and play "cam" as ffmpeg sends
    /// them.
    fn client_bytes() -> Vec<u8> {
        let mut out = BytesMut::new();
        let mut enc = ChunkEncoder::new();
        let mut command = |msid: u32, values: &[Value]| {
            let body = amf0::encode_to_bytes(values);
            enc.write(&mut out, 3, 0, types::COMMAND_AMF0, msid, &body)
                .unwrap();
        };
        command(
            0,
            &[
                Value::from("connect"),
                Value::Number(1.0),
                Value::object([
                    ("app", Value::from("live")),
                    ("flashVer", Value::from("LNX 9,0,124,2")),
                    ("tcUrl", Value::from("rtmp://127.0.0.1:1935/live")),
                ]),
            ],
        );
        command(
            0,
            &[Value::from("createStream"), Value::Number(2.0), Value::Null],
        );
        command(
            1,
            &[
                Value::from("play"),
                Value::Number(3.0),
                Value::Null,
                Value::from("cam"),
                Value::Number(-1000.0),
            ],
        );
        let mut bytes = c0c1();
        bytes.extend_from_slice(&[9; PACKET_LEN]); // C2
        bytes.extend_from_slice(&out);
        bytes
    }

    /// Accepts every request, then takes all output.
    fn drain(s: &mut Session) -> Vec<Bytes> {
        while let Some(e) = s.poll_event() {
            match e {
                Event::Connect(_) => s.accept_connect(),
                Event::Play(p) => s.accept_play(p.stream_id),
                _ => {}
            }
        }
        std::iter::from_fn(|| s.poll_transmit()).collect()
    }

    fn player() -> Session {
        let mut s = Session::new(SessionConfig::default(), 1000, 7);
        s.feed(1001, &client_bytes()).unwrap();
        drain(&mut s);
        assert!(s.is_playing(1));
        s
    }

    /// A GOP's worth of live messages (2 s of 30 fps video and AAC).
    fn gop(chunk_size: u32) -> Vec<PreparedMessage> {
        (0..150u32)
            .map(|i| {
                let (type_id, len) = if i % 5 < 2 {
                    (types::VIDEO, 9000)
                } else {
                    (types::AUDIO, 300)
                };
                let payload = vec![i as u8; len];
                PreparedMessage::new(
                    csid::for_media(type_id),
                    chunk_size,
                    type_id,
                    i * 13,
                    &payload,
                )
            })
            .collect()
    }

    #[test]
    fn a_player_keeps_little_after_connect_and_play() {
        let s = player();
        assert!(
            s.heap_bytes() <= PLAYER_BOUND,
            "{} bytes after play",
            s.heap_bytes()
        );
    }

    #[test]
    fn a_join_burst_leaves_nothing_behind() {
        let mut s = player();
        let burst = gop(s.chunk_size());
        for m in &burst {
            assert!(s.send_prepared(1, m));
        }
        // Each message is one shared piece (header and body): the player wrote no bytes of
        // its own and keeps one queue slot per message until they are taken.
        let pieces = drain(&mut s);
        assert_eq!(pieces.len(), burst.len());
        for (piece, m) in pieces.iter().zip(&burst) {
            assert_eq!(piece.as_ptr_range().end, m.body().as_ptr_range().end);
            assert_eq!(piece.len(), m.wire_len());
        }
        assert!(
            s.heap_bytes() <= PLAYER_BOUND,
            "{} bytes after the burst",
            s.heap_bytes()
        );
    }

    #[test]
    fn live_flow_does_not_grow_the_footprint() {
        let mut s = player();
        let live = gop(s.chunk_size());
        let mut pings = ChunkEncoder::new();
        let mut pongs = 0;
        // A flush every few messages, and a ping answered now and then: the answer is
        // written into the session's own buffer, whose block is given up once taken.
        for (i, m) in live.iter().cycle().take(3000).enumerate() {
            assert!(s.send_prepared(1, m));
            if i % 100 == 0 {
                let mut ping = BytesMut::new();
                let body = [0, 6, 0, 0, 0, i as u8];
                pings
                    .write(&mut ping, 2, 0, types::USER_CONTROL, 0, &body)
                    .unwrap();
                s.feed(2000 + i as u64, &ping).unwrap();
            }
            if i % 4 == 3 {
                pongs += drain(&mut s).iter().filter(|p| p.len() < 64).count();
            }
        }
        drain(&mut s);
        assert_eq!(pongs, 30);
        assert!(
            s.heap_bytes() <= PLAYER_BOUND,
            "{} bytes after live flow",
            s.heap_bytes()
        );
    }

    #[test]
    fn another_stream_id_writes_its_own_headers_and_keeps_no_block() {
        let mut s = player();
        // A stream created after the first plays on id 2: its headers are the player's own.
        let mut out = BytesMut::new();
        let mut enc = ChunkEncoder::new();
        enc.write(
            &mut out,
            3,
            0,
            types::COMMAND_AMF0,
            0,
            &amf0::encode_to_bytes(&[Value::from("createStream"), Value::Number(4.0), Value::Null]),
        )
        .unwrap();
        enc.write(
            &mut out,
            8,
            0,
            types::COMMAND_AMF0,
            2,
            &amf0::encode_to_bytes(&[
                Value::from("play"),
                Value::Number(5.0),
                Value::Null,
                Value::from("cam2"),
            ]),
        )
        .unwrap();
        s.feed(2000, &out).unwrap();
        drain(&mut s);
        assert!(s.is_playing(2));
        let burst = gop(s.chunk_size());
        for m in &burst {
            assert!(s.send_prepared(2, m));
        }
        // Header, body, header, body...
        let pieces = drain(&mut s);
        assert_eq!(pieces.len(), 2 * burst.len());
        for (pair, m) in pieces.chunks(2).zip(&burst) {
            assert_eq!(pair[0].len(), m.header_len());
            assert_eq!(pair[1].as_ptr(), m.body().as_ptr());
        }
        assert!(
            s.heap_bytes() <= PLAYER_BOUND,
            "{} bytes after the burst on stream 2",
            s.heap_bytes()
        );
    }

    #[test]
    fn c1_is_copied_only_when_it_arrives_in_pieces() {
        let c0c1 = c0c1();
        let mut out = BytesMut::new();
        let mut whole = Handshake::new(1, 0);
        assert_eq!(whole.feed(&c0c1, &mut out).unwrap(), c0c1.len());
        assert_eq!(whole.heap_bytes(), 0);
        let mut split = Handshake::new(1, 0);
        let mut out2 = BytesMut::new();
        split.feed(&c0c1[..700], &mut out2).unwrap();
        assert_eq!(split.heap_bytes(), PACKET_LEN);
        split.feed(&c0c1[700..], &mut out2).unwrap();
        assert_eq!(split.heap_bytes(), 0);
        // The same answer either way (the same seed fills S1).
        assert_eq!(out, out2);
    }
}
