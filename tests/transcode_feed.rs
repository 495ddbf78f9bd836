//! `EncoderFeed` as an output of a source's pipeline: what an encoder reads (codec headers
//! first, a start at a keyframe, the cached GOP for a late join), the round trip of
//! timestamps through `RenditionReader`, and the bound on bytes a slow encoder leaves
//! unacknowledged (media dropped until a keyframe, counted).

use std::cell::RefCell;
use std::rc::Rc;

use bytes::Bytes;
use ngx_rtmp::files::Now;
use ngx_rtmp::live::{
    ByteSink, GopCache, Incoming, MemorySink, Output, OutputError, OutputOp, Pipeline, Published,
};
use ngx_rtmp::media::{FlvReader, FlvTag};
use ngx_rtmp::transcode::{EncoderFeed, FeedStats, RenditionReader, TimeBase};

/// An AVC sequence header x264 wrote (320x240 High): the pipeline caches only headers it can
/// parse.
const VIDEO_HEADER: &[u8] = &[
    0x17, 0x00, 0x00, 0x00, 0x00, 0x01, 0x64, 0x00, 0x0d, 0xff, 0xe1, 0x00, 0x19, 0x67, 0x64, 0x00,
    0x0d, 0xac, 0xd9, 0x41, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03,
    0x03, 0xc0, 0xf1, 0x42, 0x99, 0x60, 0x01, 0x00, 0x06, 0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0, 0xfd,
    0xf8, 0xf8, 0x00,
];
const AUDIO_HEADER: &[u8] = &[0xaf, 0, 0x12, 0x10];

fn key(size: usize) -> Bytes {
    let mut v = vec![0x17, 1, 0, 0, 0];
    v.resize(size, 0xab);
    Bytes::from(v)
}

fn inter(size: usize) -> Bytes {
    let mut v = vec![0x27, 1, 0, 0, 0];
    v.resize(size, 0xcd);
    Bytes::from(v)
}

fn audio() -> Bytes {
    Bytes::from_static(&[0xaf, 1, 0x21, 0x00, 0x11])
}

fn pipeline() -> Pipeline {
    Pipeline::published(GopCache::new(true, 2048, 16 << 20), 4096)
}

fn ingest(p: &mut Pipeline, type_id: u8, ts: u32, payload: &Bytes) {
    p.ingest(
        Incoming {
            type_id,
            timestamp: ts,
            payload,
            now: Now::default(),
        },
        false,
    );
}

/// Drains the pipeline into a sink of unlimited capacity, acknowledging as it goes.
fn drain_all(p: &mut Pipeline, out: &mut Vec<u8>) {
    while let Some((id, op)) = p.poll_op() {
        match op {
            OutputOp::Send(b) => {
                out.extend_from_slice(&b);
                p.acknowledge(id, b.len());
            }
            OutputOp::File(op) => panic!("the feed writes no files: {op:?}"),
        }
    }
}

fn read_flv(bytes: &[u8]) -> Vec<FlvTag> {
    let mut r = FlvReader::new(1 << 20);
    r.feed(bytes);
    let mut v = Vec::new();
    while let Some(t) = r.poll().unwrap() {
        v.push(t);
    }
    assert_eq!(r.buffered(), 0, "a partial tag");
    v
}

/// (type, timestamp, first body byte) of each tag.
fn shape(tags: &[FlvTag]) -> Vec<(u8, u32, u8)> {
    tags.iter()
        .map(|t| (t.type_id, t.timestamp, t.body[0]))
        .collect()
}

/// Wraps a feed to read its stats after the pipeline owns it.
struct Shared(Rc<RefCell<EncoderFeed>>);

impl Output for Shared {
    fn name(&self) -> &'static str {
        "transcode"
    }
    fn push(&mut self, msg: &Published<'_>) -> Result<(), OutputError> {
        self.0.borrow_mut().push(msg)
    }
    fn finish(&mut self, now: Now) -> Result<(), OutputError> {
        self.0.borrow_mut().finish(now)
    }
    fn poll_op(&mut self) -> Option<OutputOp> {
        self.0.borrow_mut().poll_op()
    }
    fn acknowledge(&mut self, bytes: usize) {
        self.0.borrow_mut().acknowledge(bytes)
    }
}

#[test]
fn starts_at_a_keyframe_after_the_codec_headers() {
    let mut p = pipeline();
    let time = TimeBase::new();
    p.attach(Box::new(EncoderFeed::new(time.clone(), 1 << 20)));
    let mut out = Vec::new();
    // Before the first keyframe: nothing goes out (the headers wait in the GOP cache).
    ingest(&mut p, 8, 990, &Bytes::from_static(AUDIO_HEADER));
    ingest(&mut p, 9, 990, &Bytes::from_static(VIDEO_HEADER));
    ingest(&mut p, 8, 995, &audio());
    ingest(&mut p, 9, 996, &inter(50));
    drain_all(&mut p, &mut out);
    assert!(out.is_empty());
    ingest(&mut p, 9, 1_000, &key(100));
    ingest(&mut p, 8, 1_010, &audio());
    ingest(&mut p, 9, 1_033, &inter(50));
    ingest(
        &mut p,
        18,
        1_040,
        &Bytes::from_static(b"\x02\x00\x0aonMetaData"),
    );
    drain_all(&mut p, &mut out);
    assert_eq!(&out[..4], b"FLV\x01");
    assert_eq!(out[4], 5, "audio and video announced");
    let tags = read_flv(&out);
    // The encoder's clock starts at PAD_MS; headers at the start's time; no script data.
    let pad = TimeBase::PAD_MS;
    assert_eq!(
        shape(&tags),
        [
            (9, pad, 0x17),
            (8, pad, 0xaf),
            (9, pad, 0x17),
            (8, pad + 10, 0xaf),
            (9, pad + 33, 0x27),
        ]
    );
    assert_eq!(tags[0].body.as_ref(), VIDEO_HEADER);
    // Back through the reader: the source's timestamps.
    let mut r = RenditionReader::new(time, 1 << 20);
    r.feed(&out);
    let mut back = Vec::new();
    while let Some(t) = r.poll().unwrap() {
        back.push(t.timestamp);
    }
    assert_eq!(back, [1_000, 1_000, 1_000, 1_010, 1_033]);
}

#[test]
fn a_late_encoder_starts_with_the_cached_gop() {
    let mut p = pipeline();
    ingest(&mut p, 9, 0, &Bytes::from_static(VIDEO_HEADER));
    ingest(&mut p, 8, 0, &Bytes::from_static(AUDIO_HEADER));
    ingest(&mut p, 9, 0, &key(100));
    ingest(&mut p, 8, 20, &audio());
    ingest(&mut p, 9, 33, &inter(50));
    ingest(&mut p, 9, 2_000, &key(100));
    ingest(&mut p, 8, 2_010, &audio());
    ingest(&mut p, 9, 2_033, &inter(50));
    let time = TimeBase::new();
    p.attach(Box::new(EncoderFeed::new(time.clone(), 1 << 20)));
    ingest(&mut p, 9, 2_066, &inter(50));
    let mut out = Vec::new();
    drain_all(&mut p, &mut out);
    let pad = TimeBase::PAD_MS;
    assert_eq!(time.base(), Some(2_000));
    assert_eq!(
        shape(&read_flv(&out)),
        [
            (9, pad, 0x17),
            (8, pad, 0xaf),
            (9, pad, 0x17),
            (8, pad + 10, 0xaf),
            (9, pad + 33, 0x27),
            (9, pad + 66, 0x27),
        ]
    );
}

#[test]
fn a_slow_encoder_costs_bounded_memory_and_resumes_at_a_keyframe() {
    const MAX_PENDING: usize = 64 * 1024;
    let mut p = pipeline();
    let feed = Rc::new(RefCell::new(EncoderFeed::new(TimeBase::new(), MAX_PENDING)));
    let stats_handle = feed.borrow().stats_handle();
    let id = p.attach(Box::new(Shared(feed.clone())));
    let mut sink = MemorySink::new(16 * 1024);
    let mut read = Vec::new();
    ingest(&mut p, 9, 0, &Bytes::from_static(VIDEO_HEADER));
    ingest(&mut p, 8, 0, &Bytes::from_static(AUDIO_HEADER));
    let mut max_held = 0;
    // 20 s at 30 fps, a keyframe every second; the encoder reads nothing from 3 s to 12 s.
    for i in 0..600u32 {
        let ts = i * 100 / 3;
        let frame = if i % 30 == 0 {
            key(8_000)
        } else {
            inter(1_500)
        };
        ingest(&mut p, 9, ts, &frame);
        ingest(&mut p, 8, ts + 5, &audio());
        while let Some((oid, op)) = p.poll_op() {
            assert_eq!(oid, id);
            let OutputOp::Send(b) = op else {
                panic!("a file op")
            };
            let n = sink.send(b).unwrap();
            p.acknowledge(id, n);
        }
        let stalled = (3_000..12_000).contains(&ts);
        if !stalled {
            read.extend(sink.consume());
            let n = sink.flush().unwrap();
            p.acknowledge(id, n);
        }
        let f = feed.borrow();
        assert!(
            f.unacknowledged() <= MAX_PENDING,
            "{} bytes in flight",
            f.unacknowledged()
        );
        // Everything handed out and not taken by the pipe is what the sink holds.
        assert_eq!(f.unacknowledged(), sink.pending());
        max_held = max_held.max(sink.pending());
    }
    read.extend(sink.consume());
    let stats: FeedStats = feed.borrow().stats();
    assert_eq!(stats_handle.get(), stats);
    assert!(stats.dropped > 0 && stats.overflows > 0, "{stats:?}");
    assert!(max_held <= MAX_PENDING);
    // What the encoder read is valid FLV in which every gap in the video ends at a keyframe.
    let tags = read_flv(&read);
    let video: Vec<&FlvTag> = tags
        .iter()
        .filter(|t| t.type_id == 9 && t.body[1] == 1)
        .collect();
    assert_eq!(video[0].body[0], 0x17);
    let mut gaps = 0;
    for w in video.windows(2) {
        if w[1].timestamp - w[0].timestamp > 34 {
            gaps += 1;
            assert_eq!(
                w[1].body[0], 0x17,
                "resumed at {} without a keyframe",
                w[1].timestamp
            );
        }
    }
    assert!(gaps >= 1, "the stall dropped nothing");
    // It caught up: the last second arrived whole.
    assert_eq!(video.last().unwrap().timestamp, 19_966 + TimeBase::PAD_MS);
}

#[test]
fn nothing_after_finish() {
    let mut p = pipeline();
    p.attach(Box::new(EncoderFeed::new(TimeBase::new(), 1 << 20)));
    ingest(&mut p, 9, 0, &Bytes::from_static(VIDEO_HEADER));
    ingest(&mut p, 9, 0, &key(100));
    let mut out = Vec::new();
    drain_all(&mut p, &mut out);
    assert!(!out.is_empty());
    p.finish(Now::default());
    ingest(&mut p, 9, 33, &inter(50));
    let mut more = Vec::new();
    drain_all(&mut p, &mut more);
    assert!(more.is_empty());
}
