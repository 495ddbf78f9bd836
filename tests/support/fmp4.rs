//! A strict reader of the fMP4 files our HLS writes: boxes, the init segment's tracks and
//! each fragment's `traf`s (track id, `tfdt`, `trun` samples with their bytes).

/// One box: its type and body (after the 8-byte header).
#[derive(Debug, Clone)]
pub struct Mp4Box<'a> {
    pub kind: String,
    pub body: &'a [u8],
}

pub fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

pub fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().unwrap())
}

/// The boxes of `buf`, which must be exactly a sequence of whole boxes.
pub fn walk(buf: &[u8]) -> Vec<Mp4Box<'_>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        assert!(pos + 8 <= buf.len(), "truncated box header at {pos}");
        let size = u32_at(buf, pos) as usize;
        assert!(
            size >= 8 && pos + size <= buf.len(),
            "bad box size {size} at {pos}"
        );
        out.push(Mp4Box {
            kind: String::from_utf8_lossy(&buf[pos + 4..pos + 8]).into_owned(),
            body: &buf[pos + 8..pos + size],
        });
        pos += size;
    }
    out
}

pub fn kinds(boxes: &[Mp4Box]) -> Vec<String> {
    boxes.iter().map(|b| b.kind.clone()).collect()
}

fn children<'a>(b: &Mp4Box<'a>, kind: &str) -> Vec<Mp4Box<'a>> {
    walk(b.body)
        .into_iter()
        .filter(|c| c.kind == kind)
        .collect()
}

fn child<'a>(b: &Mp4Box<'a>, kind: &str) -> Mp4Box<'a> {
    children(b, kind)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no {kind} in {}", b.kind))
}

/// A track of an init segment: id, handler (`vide`/`soun`), timescale, sample entry type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitTrack {
    pub id: u32,
    pub handler: String,
    pub timescale: u32,
    pub entry: String,
}

/// Parses an init segment: `ftyp` + `moov` (with `mvex`), nothing else.
pub fn parse_init(buf: &[u8]) -> Vec<InitTrack> {
    let top = walk(buf);
    assert_eq!(kinds(&top), ["ftyp", "moov"]);
    let moov = &top[1];
    let trex = children(&child(moov, "mvex"), "trex");
    let traks = children(moov, "trak");
    assert_eq!(trex.len(), traks.len(), "a trex per track");
    traks
        .iter()
        .map(|trak| {
            let tkhd = child(trak, "tkhd");
            let mdia = child(trak, "mdia");
            let mdhd = child(&mdia, "mdhd");
            let hdlr = child(&mdia, "hdlr");
            let stbl = child(&child(&mdia, "minf"), "stbl");
            let stsd = child(&stbl, "stsd");
            assert_eq!(u32_at(stsd.body, 4), 1, "one sample entry");
            let entry = walk(&stsd.body[8..]);
            InitTrack {
                id: u32_at(tkhd.body, 12),
                handler: String::from_utf8_lossy(&hdlr.body[8..12]).into_owned(),
                timescale: u32_at(mdhd.body, 12),
                entry: entry[0].kind.clone(),
            }
        })
        .collect()
}

/// One track's run of a fragment.
#[derive(Debug, Clone)]
pub struct TrackRun {
    pub track_id: u32,
    pub base_decode_time: u64,
    pub durations: Vec<u32>,
    pub sync: Vec<bool>,
    pub ctos: Vec<u32>,
    /// Each sample's bytes, found through the data offset.
    pub samples: Vec<Vec<u8>>,
}

impl TrackRun {
    pub fn duration(&self) -> u64 {
        self.durations.iter().map(|&d| u64::from(d)).sum()
    }
}

/// A media segment: exactly one `moof` + `mdat`; returns the `mfhd` sequence and the runs.
/// Every byte of the `mdat` belongs to exactly one sample.
pub fn parse_fragment(buf: &[u8]) -> (u32, Vec<TrackRun>) {
    let top = walk(buf);
    assert_eq!(kinds(&top), ["moof", "mdat"], "one moof + mdat per segment");
    let moof = &top[0];
    let moof_size = 8 + moof.body.len();
    let mdat_len = top[1].body.len();
    let sequence = u32_at(child(moof, "mfhd").body, 4);
    let mut runs = Vec::new();
    let mut covered = 0;
    for traf in children(moof, "traf") {
        let tfhd = child(&traf, "tfhd");
        assert_eq!(u32_at(tfhd.body, 0) & 0x02_0000, 0x02_0000, "base is moof");
        let tfdt = child(&traf, "tfdt");
        assert_eq!(tfdt.body[0], 1, "64-bit tfdt");
        let truns = children(&traf, "trun");
        assert_eq!(truns.len(), 1, "one trun per traf");
        let trun = truns[0].body;
        let flags = u32_at(trun, 0) & 0xff_ffff;
        assert_eq!(
            flags & 0x701,
            0x701,
            "offset, duration, size and flags per sample"
        );
        let has_cto = flags & 0x800 != 0;
        let count = u32_at(trun, 4) as usize;
        let mut offset = u32_at(trun, 8) as usize;
        let mut run = TrackRun {
            track_id: u32_at(tfhd.body, 4),
            base_decode_time: u64_at(tfdt.body, 4),
            durations: Vec::new(),
            sync: Vec::new(),
            ctos: Vec::new(),
            samples: Vec::new(),
        };
        let stride = if has_cto { 16 } else { 12 };
        assert_eq!(trun.len(), 12 + count * stride);
        for i in 0..count {
            let at = 12 + i * stride;
            let size = u32_at(trun, at + 4) as usize;
            run.durations.push(u32_at(trun, at));
            run.sync.push(u32_at(trun, at + 8) & 0x0001_0000 == 0);
            run.ctos
                .push(if has_cto { u32_at(trun, at + 12) } else { 0 });
            assert!(offset >= moof_size + 8 && offset + size <= buf.len());
            run.samples.push(buf[offset..offset + size].to_vec());
            offset += size;
            covered += size;
        }
        runs.push(run);
    }
    assert_eq!(covered, mdat_len, "mdat holds the samples and nothing else");
    (sequence, runs)
}

/// The sample entry of a track of an init segment.
#[derive(Debug, Clone)]
pub struct SampleEntry {
    /// `avc1`, `hvc1`, `av01`, `vp09`, `mp4a`, `Opus`.
    pub kind: String,
    /// The Visual/AudioSampleEntry fields before the child boxes.
    pub fields: Vec<u8>,
    /// The child boxes (`avcC`, `hvcC`, `av1C`, `vpcC`, `esds`, `dOps`) as `(type, body)`.
    pub boxes: Vec<(String, Vec<u8>)>,
}

/// The sample entry of each track of an init segment.
pub fn sample_entries(buf: &[u8]) -> Vec<SampleEntry> {
    let top = walk(buf);
    let moov = &top[1];
    children(moov, "trak")
        .iter()
        .map(|trak| {
            let mdia = child(trak, "mdia");
            let stbl = child(&child(&mdia, "minf"), "stbl");
            let stsd = child(&stbl, "stsd");
            let entry = walk(&stsd.body[8..]).remove(0);
            // VisualSampleEntry: 78 bytes of fields; AudioSampleEntry: 28.
            let fixed = if child(&mdia, "hdlr").body[8..12] == *b"vide" {
                78
            } else {
                28
            };
            let boxes = walk(&entry.body[fixed..])
                .into_iter()
                .map(|b| (b.kind, b.body.to_vec()))
                .collect();
            SampleEntry {
                kind: entry.kind,
                fields: entry.body[..fixed].to_vec(),
                boxes,
            }
        })
        .collect()
}
