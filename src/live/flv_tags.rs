//! The HTTP-FLV form of a player message: the FLV tag (11-byte header, the message payload,
//! the 4-byte PreviousTagSize) built once per message from its chunked form and shared by
//! every HTTP-FLV player, as the chunked form is shared by every RTMP player. Enhanced RTMP
//! payloads (HEVC, AV1, VP9, Opus, multitrack) are carried as they are: Enhanced FLV.

use bytes::{BufMut, Bytes, BytesMut};

use crate::media::flv_stream::{FlvWriter, TAG_HEADER_LEN};
use crate::rtmp::chunk::PreparedMessage;

/// Bytes after each tag: its PreviousTagSize.
const PREVIOUS_SIZE_LEN: usize = 4;

/// The FLV tag of `m` (one allocation, one copy of the payload). A payload too large for the
/// tag's 24-bit size (never produced by the chunk decoder) gives an empty tag.
pub fn tag_of(m: &PreparedMessage) -> Bytes {
    let size = m.len;
    if size >= 1 << 24 {
        return Bytes::new();
    }
    let mut b = BytesMut::with_capacity(TAG_HEADER_LEN + size as usize + PREVIOUS_SIZE_LEN);
    b.put_u8(m.type_id & 0x1f);
    b.put_slice(&size.to_be_bytes()[1..]);
    b.put_slice(&(m.timestamp & 0xff_ffff).to_be_bytes()[1..]);
    b.put_u8((m.timestamp >> 24) as u8);
    b.put_slice(&[0, 0, 0]);
    for piece in m.payload_pieces() {
        b.put_slice(piece);
    }
    b.put_u32(TAG_HEADER_LEN as u32 + size);
    b.freeze()
}

/// The FLV file header a player is sent first (with the first PreviousTagSize).
pub fn file_header(has_audio: bool, has_video: bool) -> Bytes {
    FlvWriter::header(has_audio, has_video)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::media::flv_stream::{FlvReader, DEFAULT_MAX_TAG};
    use crate::rtmp::message::csid;

    #[test]
    fn a_tag_equals_the_flv_writers_whatever_the_chunking() {
        let payload: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
        for chunk in [1, 128, 4096, 9999, 10_000, 60_000] {
            for ts in [0, 40, 0x00ff_ffff, 0x0100_0000, 0xffff_fff0] {
                let m = PreparedMessage::new(csid::for_media(9), chunk, 9, ts, &payload);
                assert_eq!(
                    tag_of(&m),
                    FlvWriter::tag(9, ts, &payload).unwrap(),
                    "chunk {chunk} ts {ts}"
                );
            }
        }
    }

    #[test]
    fn header_and_tags_read_back_as_flv() {
        let mut stream = file_header(true, true).to_vec();
        for (type_id, ts, body) in [
            (18u8, 0u32, &b"meta"[..]),
            (9, 0, b"\x17\x00k"),
            (8, 23, b"\xaf\x01a"),
        ] {
            let m = PreparedMessage::new(csid::for_media(type_id), 128, type_id, ts, body);
            stream.extend_from_slice(&tag_of(&m));
        }
        let mut r = FlvReader::new(DEFAULT_MAX_TAG);
        r.feed(&stream);
        let mut got = Vec::new();
        while let Some(t) = r.poll().unwrap() {
            got.push((t.type_id, t.timestamp, t.body.to_vec()));
        }
        assert_eq!(r.header_flags(), 5);
        assert_eq!(got.len(), 3);
        assert_eq!(got[2], (8, 23, b"\xaf\x01a".to_vec()));
    }
}
