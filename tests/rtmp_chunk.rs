mod support;

use bytes::BytesMut;
use ngx_rtmp::rtmp::chunk::{ChunkDecoder, ChunkEncoder, ChunkError, RawMessage};
use ngx_rtmp::rtmp::Limits;
use support::session::Rng;

type Msg = (u32, u32, u8, u32, Vec<u8>);

fn sample_messages() -> Vec<Msg> {
    let mut rng = Rng(1234);
    vec![
        // (csid, timestamp, type, msid, payload)
        (3, 0, 20, 0, rng.bytes(200)),
        (2, 0, 5, 0, vec![0, 0x4c, 0x4b, 0x40]),
        (6, 0, 9, 1, rng.bytes(1000)),
        (6, 40, 9, 1, rng.bytes(1000)), // same length/type: fmt 2
        (6, 80, 9, 1, rng.bytes(1000)), // same delta: fmt 3
        (6, 120, 9, 1, rng.bytes(333)), // fmt 1
        (4, 0, 8, 1, rng.bytes(10)),
        (4, 23, 8, 1, rng.bytes(10)),
        (4, 46, 8, 1, rng.bytes(10)),
        (4, 10, 8, 1, rng.bytes(10)), // backwards: fmt 0
        (63, 5, 18, 1, rng.bytes(0)), // empty message
        (64, 7, 18, 1, rng.bytes(129)),
        (319, 7, 18, 2, rng.bytes(5)),
        (320, 7, 18, 2, rng.bytes(300)),
        (65599, 9, 18, 3, rng.bytes(64)),
        // Extended timestamps: absolute and as deltas, on multi-chunk messages.
        (7, 0x00FF_FFFF, 9, 1, rng.bytes(400)),
        (7, 0x0100_0000, 9, 1, rng.bytes(400)),
        (7, 0x0300_0000, 9, 1, rng.bytes(400)), // delta extended
        (7, 0x0500_0000, 9, 1, rng.bytes(400)), // same extended delta: fmt 3
        (7, 0x0500_0010, 9, 1, rng.bytes(10)),
        (8, u32::MAX, 9, 1, rng.bytes(300)),
    ]
}

fn encode_all(msgs: &[Msg], chunk_size: u32) -> Vec<u8> {
    let mut enc = ChunkEncoder::new();
    let mut out = BytesMut::new();
    if chunk_size != 128 {
        enc.write(&mut out, 2, 0, 1, 0, &chunk_size.to_be_bytes())
            .unwrap();
        enc.set_chunk_size(chunk_size);
    }
    for (csid, ts, t, msid, p) in msgs {
        enc.write(&mut out, *csid, *ts, *t, *msid, p).unwrap();
    }
    out.to_vec()
}

fn decode_pieces(limits: &Limits, pieces: &[&[u8]]) -> Result<Vec<RawMessage>, ChunkError> {
    let mut dec = ChunkDecoder::new(limits);
    let mut v = Vec::new();
    for piece in pieces {
        let mut rest = *piece;
        loop {
            let (used, m) = dec.decode(rest)?;
            rest = &rest[used..];
            match m {
                Some(m) => v.push(m),
                None => {
                    assert!(rest.is_empty(), "decoder stopped with input left");
                    break;
                }
            }
        }
    }
    Ok(v)
}

fn as_tuples(v: &[RawMessage]) -> Vec<Msg> {
    v.iter()
        .filter(|m| m.type_id != 1)
        .map(|m| {
            (
                m.csid,
                m.timestamp,
                m.type_id,
                m.stream_id,
                m.payload.to_vec(),
            )
        })
        .collect()
}

#[test]
fn encoder_decoder_roundtrip_at_several_chunk_sizes() {
    let msgs = sample_messages();
    for cs in [1u32, 2, 7, 128, 129, 1000, 4096, 65536] {
        let bytes = encode_all(&msgs, cs);
        let got = decode_pieces(&Limits::default(), &[&bytes]).unwrap();
        assert_eq!(as_tuples(&got), msgs, "chunk size {cs}");
    }
}

#[test]
fn split_at_every_byte_boundary_gives_identical_messages() {
    let msgs = sample_messages();
    let bytes = encode_all(&msgs, 128);
    let whole = decode_pieces(&Limits::default(), &[&bytes]).unwrap();
    for i in 0..=bytes.len() {
        let (a, b) = bytes.split_at(i);
        let got = decode_pieces(&Limits::default(), &[a, b]).unwrap();
        assert_eq!(got, whole, "split at {i}");
    }
}

#[test]
fn byte_by_byte_and_random_pieces() {
    let msgs = sample_messages();
    let bytes = encode_all(&msgs, 100);
    let whole = decode_pieces(&Limits::default(), &[&bytes]).unwrap();
    let singles: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(decode_pieces(&Limits::default(), &singles).unwrap(), whole);
    let mut rng = Rng(555);
    for _ in 0..200 {
        let mut pieces = Vec::new();
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let n = 1 + rng.below(rest.len().min(300));
            pieces.push(&rest[..n]);
            rest = &rest[n..];
        }
        assert_eq!(decode_pieces(&Limits::default(), &pieces).unwrap(), whole);
    }
}

#[test]
fn payload_is_one_allocation() {
    let msgs = vec![(6u32, 0u32, 9u8, 1u32, vec![7u8; 5000])];
    let bytes = encode_all(&msgs, 128);
    let got = decode_pieces(&Limits::default(), &[&bytes]).unwrap();
    // One contiguous Bytes holding the whole body.
    assert_eq!(got[0].payload.len(), 5000);
    assert!(got[0].payload.iter().all(|b| *b == 7));
}

/// Hand-made bytes in the style of ffmpeg/OBS: a fmt 0 header with an
/// extended timestamp followed by fmt 3 continuation chunks that repeat it.
#[test]
fn extended_timestamp_on_type3_continuations() {
    let ts: u32 = 0x0123_4567;
    let mut b = vec![0x06]; // fmt 0, csid 6
    b.extend_from_slice(&[0xFF, 0xFF, 0xFF]); // timestamp: extended
    b.extend_from_slice(&[0x00, 0x00, 200]); // length 200
    b.push(9);
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&ts.to_be_bytes());
    b.extend(std::iter::repeat_n(1u8, 128));
    b.push(0xC6); // fmt 3, csid 6
    b.extend_from_slice(&ts.to_be_bytes());
    b.extend(std::iter::repeat_n(2u8, 72));
    // Next message: fmt 3 starting a new message inherits the delta, which
    // after fmt 0 is the timestamp itself (spec 5.3.1.2.4).
    b.push(0xC6);
    b.extend_from_slice(&ts.to_be_bytes());
    b.extend(std::iter::repeat_n(3u8, 128));
    b.push(0xC6);
    b.extend_from_slice(&ts.to_be_bytes());
    b.extend(std::iter::repeat_n(4u8, 72));
    for i in 0..=b.len() {
        let got = decode_pieces(&Limits::default(), &[&b[..i], &b[i..]]).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].timestamp, ts);
        assert_eq!(got[0].payload.len(), 200);
        assert_eq!(&got[0].payload[126..130], &[1, 1, 2, 2]);
        assert_eq!(got[1].timestamp, ts.wrapping_add(ts));
        assert_eq!(got[1].type_id, 9);
    }
}

#[test]
fn basic_header_sizes() {
    // 1-byte (csid 2..63), 2-byte (64..319), 3-byte (320..65599) headers.
    for (csid, header) in [
        (2u32, vec![0x02]),
        (63, vec![0x3F]),
        (64, vec![0x00, 0x00]),
        (319, vec![0x00, 0xFF]),
        (320, vec![0x01, 0x00, 0x01]),
        (65599, vec![0x01, 0xFF, 0xFF]),
    ] {
        let mut b = header.clone();
        b.extend_from_slice(&[0, 0, 5, 0, 0, 3, 8, 1, 0, 0, 0, 0xAA, 0xBB, 0xCC]);
        let got = decode_pieces(&Limits::default(), &[&b]).unwrap();
        assert_eq!(got[0].csid, csid);
        assert_eq!(got[0].timestamp, 5);
        assert_eq!(got[0].payload.as_ref(), &[0xAA, 0xBB, 0xCC]);

        let mut enc = ChunkEncoder::new();
        let mut out = BytesMut::new();
        enc.write(&mut out, csid, 5, 8, 1, &[0xAA, 0xBB, 0xCC])
            .unwrap();
        assert_eq!(out.as_ref(), &b[..], "csid {csid}");
    }
}

#[test]
fn encoder_compresses_headers() {
    let mut enc = ChunkEncoder::new();
    let mut out = BytesMut::new();
    enc.write(&mut out, 6, 100, 9, 1, &[0; 10]).unwrap();
    assert_eq!(out.len(), 12 + 10);
    out.clear();
    enc.write(&mut out, 6, 140, 9, 1, &[0; 10]).unwrap();
    assert_eq!(out[0] >> 6, 2, "same length and type: fmt 2");
    out.clear();
    enc.write(&mut out, 6, 180, 9, 1, &[0; 10]).unwrap();
    assert_eq!(out[0] >> 6, 3, "same delta: fmt 3");
    assert_eq!(out.len(), 1 + 10);
    out.clear();
    enc.write(&mut out, 6, 200, 9, 1, &[0; 11]).unwrap();
    assert_eq!(out[0] >> 6, 1, "new length: fmt 1");
    out.clear();
    enc.write(&mut out, 6, 200, 9, 2, &[0; 11]).unwrap();
    assert_eq!(out[0] >> 6, 0, "new message stream: fmt 0");
}

#[test]
fn encoder_rejects_oversize_payload() {
    let mut enc = ChunkEncoder::new();
    let mut out = BytesMut::new();
    let big = vec![0u8; 0x0100_0000];
    assert!(matches!(
        enc.write(&mut out, 6, 0, 9, 1, &big),
        Err(ChunkError::MessageTooLarge { .. })
    ));
}

fn set_chunk_size_bytes(n: u32) -> Vec<u8> {
    let mut b = vec![0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0];
    b.extend_from_slice(&n.to_be_bytes());
    b
}

#[test]
fn set_chunk_size_is_applied_and_validated() {
    let limits = Limits::default();
    // 2^31: high bit set is malformed.
    assert_eq!(
        decode_pieces(&limits, &[&set_chunk_size_bytes(0x8000_0000)]),
        Err(ChunkError::InvalidChunkSize(0x8000_0000))
    );
    assert_eq!(
        decode_pieces(&limits, &[&set_chunk_size_bytes(0)]),
        Err(ChunkError::InvalidChunkSize(0))
    );
    // Legal per spec, above our limit.
    assert_eq!(
        decode_pieces(&limits, &[&set_chunk_size_bytes(0x7FFF_FFFF)]),
        Err(ChunkError::ChunkSizeTooLarge {
            size: 0x7FFF_FFFF,
            max: limits.max_chunk_size
        })
    );
    // Applied: a 300-byte message then needs no continuation headers.
    let mut b = set_chunk_size_bytes(1);
    b.extend(
        set_chunk_size_bytes(4096)
            .iter()
            .enumerate()
            .flat_map(|(i, x)| {
                // With chunk size 1 every body byte after the first needs a fmt 3
                // basic header.
                if i <= 12 {
                    vec![*x]
                } else {
                    vec![0xC2, *x]
                }
            }),
    );
    let mut enc = ChunkEncoder::new();
    enc.set_chunk_size(4096);
    let mut out = BytesMut::new();
    enc.write(&mut out, 5, 0, 9, 1, &[9u8; 300]).unwrap();
    b.extend_from_slice(&out);
    let mut dec = ChunkDecoder::new(&limits);
    let mut rest = &b[..];
    let mut got = Vec::new();
    while let (used, Some(m)) = dec.decode(rest).unwrap() {
        rest = &rest[used..];
        got.push(m);
    }
    assert_eq!(got.len(), 3);
    assert_eq!(dec.chunk_size(), 4096);
    assert_eq!(got[2].payload.len(), 300);
}

#[test]
fn oversize_message_is_refused_at_the_header() {
    let limits = Limits {
        max_message: 1000,
        ..Limits::default()
    };
    // Header alone announcing 1001 bytes: refused before any body arrives.
    let b = [0x06, 0, 0, 0, 0, 0x03, 0xE9, 9, 1, 0, 0, 0];
    assert_eq!(
        decode_pieces(&limits, &[&b]),
        Err(ChunkError::MessageTooLarge {
            len: 1001,
            max: 1000
        })
    );
    let ok = [0x06, 0, 0, 0, 0, 0x03, 0xE8, 9, 1, 0, 0, 0];
    assert_eq!(decode_pieces(&limits, &[&ok]), Ok(vec![]));
    // The default limit is 1 MiB; the 24-bit maximum is refused.
    let max = [0x06, 0, 0, 0, 0xFF, 0xFF, 0xFF, 9, 1, 0, 0, 0];
    assert!(matches!(
        decode_pieces(&Limits::default(), &[&max]),
        Err(ChunkError::MessageTooLarge { .. })
    ));
}

#[test]
fn too_many_chunk_streams() {
    let limits = Limits {
        max_chunk_streams: 4,
        ..Limits::default()
    };
    let mut b = Vec::new();
    for csid in 3..8u8 {
        b.extend_from_slice(&[csid, 0, 0, 0, 0, 0, 1, 8, 1, 0, 0, 0, 0xAA]);
    }
    assert_eq!(
        decode_pieces(&limits, &[&b]),
        Err(ChunkError::TooManyChunkStreams { max: 4 })
    );
    assert_eq!(decode_pieces(&limits, &[&b[..13 * 4]]).unwrap().len(), 4);
}

#[test]
fn partial_bytes_are_bounded_across_chunk_streams() {
    let limits = Limits {
        max_partial_bytes: 3010,
        ..Limits::default()
    };
    // Three chunk streams each start a 1000-byte message and send one chunk.
    let mut b = Vec::new();
    for csid in 4..7u8 {
        b.extend_from_slice(&[csid, 0, 0, 0, 0, 0x03, 0xE8, 9, 1, 0, 0, 0]);
        b.extend(std::iter::repeat_n(0u8, 128));
    }
    assert_eq!(decode_pieces(&limits, &[&b]), Ok(vec![]));
    let mut more = b.clone();
    more.extend_from_slice(&[7, 0, 0, 0, 0, 0, 100, 9, 1, 0, 0, 0]);
    assert_eq!(
        decode_pieces(&limits, &[&more]),
        Err(ChunkError::TooManyPartialBytes { max: 3010 })
    );
    // Abort Message on csid 4 releases its reservation.
    let mut aborted = b.clone();
    aborted.extend_from_slice(&[2, 0, 0, 0, 0, 0, 4, 2, 0, 0, 0, 0, 0, 0, 0, 4]);
    aborted.extend_from_slice(&[7, 0, 0, 0, 0, 0, 100, 9, 1, 0, 0, 0]);
    aborted.extend_from_slice(&[0x55; 100]);
    let got = decode_pieces(&limits, &[&aborted]).unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].payload.as_ref(), &[0x55; 100]);
}

#[test]
fn malformed_headers() {
    // fmt 3 (and 2) on a chunk stream never seen.
    assert_eq!(
        decode_pieces(&Limits::default(), &[&[0xC5]]),
        Err(ChunkError::NoPreviousHeader { csid: 5, fmt: 3 })
    );
    assert_eq!(
        decode_pieces(&Limits::default(), &[&[0x85, 0, 0, 0]]),
        Err(ChunkError::NoPreviousHeader { csid: 5, fmt: 2 })
    );
    // A fmt 0 header inside a message.
    let mut b = vec![0x05, 0, 0, 0, 0, 1, 0, 9, 1, 0, 0, 0];
    b.extend(std::iter::repeat_n(0u8, 128));
    b.extend_from_slice(&[0x05, 0, 0, 0, 0, 0, 1, 9, 1, 0, 0, 0, 0]);
    assert_eq!(
        decode_pieces(&Limits::default(), &[&b]),
        Err(ChunkError::HeaderInsideMessage { csid: 5, fmt: 0 })
    );
    // Short Set Chunk Size body.
    let short = [0x02, 0, 0, 0, 0, 0, 2, 1, 0, 0, 0, 0, 0, 1];
    assert_eq!(
        decode_pieces(&Limits::default(), &[&short]),
        Err(ChunkError::BadControlPayload { type_id: 1 })
    );
}

#[test]
fn random_garbage_never_panics() {
    let mut rng = Rng(0xDEAD_BEEF);
    let limits = Limits {
        max_message: 4096,
        max_partial_bytes: 16384,
        max_chunk_size: 4096,
        ..Limits::default()
    };
    for _ in 0..2000 {
        let len = rng.below(400);
        let data = rng.bytes(len);
        let _ = decode_pieces(&limits, &[&data]);
    }
}

/// `bytes_wanted` never overstates what a message still needs: feeding exactly that many
/// bytes at a time, every message completes, and the hint is `None` only between messages.
#[test]
fn bytes_wanted_is_a_lower_bound_until_each_message() {
    let msgs = sample_messages();
    let wire = encode_all(&msgs, 128);
    let mut dec = ChunkDecoder::new(&Limits::default());
    assert_eq!(dec.bytes_wanted(), None);
    let mut got = Vec::new();
    let mut rest = &wire[..];
    while !rest.is_empty() {
        let step = dec.bytes_wanted().unwrap_or(1).min(rest.len());
        assert!(step >= 1);
        let (used, msg) = dec.decode(&rest[..step]).unwrap();
        rest = &rest[used..];
        if let Some(m) = msg {
            got.push(m);
            continue;
        }
        assert_eq!(used, step, "input left unused without a message");
    }
    assert_eq!(as_tuples(&got), msgs);
    assert_eq!(dec.bytes_wanted(), None);
    // Inside a 1000-byte message, after its header and 300 bytes of body.
    let one = encode_all(&[(6, 0, 9, 1, vec![7u8; 1000])], 4096);
    let (set_size, media) = one.split_at(16);
    let mut dec = ChunkDecoder::new(&Limits::default());
    assert!(dec.decode(set_size).unwrap().1.is_some());
    let (used, msg) = dec.decode(&media[..12 + 300]).unwrap();
    assert!(msg.is_none() && used == 312);
    assert_eq!(dec.bytes_wanted(), Some(700));
    // Inside a header.
    let mut dec = ChunkDecoder::new(&Limits::default());
    dec.decode(&set_size[..5]).unwrap();
    assert_eq!(dec.bytes_wanted(), Some(1));
}

/// A video message in progress is a possible keyframe until its first byte says otherwise;
/// other messages never are.
#[test]
fn keyframe_pending_reads_the_first_byte_of_video() {
    for (type_id, first, pending) in [
        (9u8, 0x17u8, true),
        (9, 0x27, false),
        (9, 0x90, true),
        (9, 0xA1, false),
        (8, 0xAF, false),
    ] {
        let mut body = vec![first];
        body.resize(1000, 0);
        let wire = encode_all(&[(6, 0, type_id, 1, body)], 128);
        let mut dec = ChunkDecoder::new(&Limits::default());
        // The message's header alone: nothing of the body yet.
        dec.decode(&wire[..12]).unwrap();
        assert_eq!(dec.keyframe_pending(), type_id == 9);
        // Its first chunk.
        let (used, msg) = dec.decode(&wire[12..12 + 128]).unwrap();
        assert!(used == 128 && msg.is_none());
        assert_eq!(
            dec.keyframe_pending(),
            pending,
            "type {type_id}, first byte {first:#x}"
        );
        let (_, msg) = dec.decode(&wire[140..]).unwrap();
        assert!(msg.is_some());
        assert!(!dec.keyframe_pending());
    }
}
