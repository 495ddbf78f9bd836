//! FLV tags: read from a file (`ffmpeg -f flv` output) and written one by one (the body of an
//! RTMP aggregate message is a run of them).

/// One tag: type (8 audio, 9 video, 18 script data), 32-bit timestamp, body.
#[derive(Debug, Clone)]
pub struct Tag {
    pub type_id: u8,
    pub ts: u32,
    pub body: Vec<u8>,
}

impl Tag {
    pub fn video(&self) -> bool {
        self.type_id == 9
    }

    /// A video tag of frame type 1 (sequence headers included).
    pub fn keyframe(&self) -> bool {
        self.video() && self.body[0] >> 4 == 1
    }

    /// (type, timestamp, body).
    pub fn into_parts(self) -> (u8, u32, Vec<u8>) {
        (self.type_id, self.ts, self.body)
    }
}

fn be24(b: &[u8]) -> u32 {
    u32::from_be_bytes([0, b[0], b[1], b[2]])
}

/// Every tag of an FLV file in order, up to the first truncated one.
pub fn tags(data: &[u8]) -> Vec<Tag> {
    assert!(data.len() > 13 && &data[..3] == b"FLV", "not an FLV file");
    let header = u32::from_be_bytes([data[5], data[6], data[7], data[8]]) as usize;
    let mut pos = header + 4;
    let mut out = Vec::new();
    while pos + 11 <= data.len() {
        let type_id = data[pos] & 0x1f;
        let len = be24(&data[pos + 1..]) as usize;
        let ts = be24(&data[pos + 4..]) | (u32::from(data[pos + 7]) << 24);
        let body = pos + 11;
        if body + len > data.len() {
            break;
        }
        out.push(Tag {
            type_id,
            ts,
            body: data[body..body + len].to_vec(),
        });
        pos = body + len + 4;
    }
    out
}

/// One tag as FLV bytes: header, body, PreviousTagSize.
pub fn tag_bytes(type_id: u8, ts: u32, body: &[u8]) -> Vec<u8> {
    let mut v = vec![type_id];
    v.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    v.extend_from_slice(&ts.to_be_bytes()[1..]);
    v.push((ts >> 24) as u8);
    v.extend_from_slice(&[0, 0, 0]);
    v.extend_from_slice(body);
    v.extend_from_slice(&(body.len() as u32 + 11).to_be_bytes());
    v
}
