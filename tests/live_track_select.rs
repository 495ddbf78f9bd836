//! `TrackSelect` without nginx: a recorded ffmpeg publish (`tests/corpus/demux/ffmpeg_3s`,
//! legacy AVC + AAC) is made multitrack by sending each video message a second time as an
//! Enhanced RTMP Multitrack/OneTrack message of track 1 (the layout FFmpeg 9 writes for its
//! second video stream); outputs behind `TrackSelect` must see one track each, as track 0.

#[path = "../fuzz/drivers.rs"]
mod drivers;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use bytes::Bytes;
use ngx_rtmp::files::{FileOp, Now};
use ngx_rtmp::hls::{HlsConfig, HlsStream};
use ngx_rtmp::live::{
    AudioChoice, GopCache, Incoming, Output, OutputError, OutputId, OutputOp, Pipeline, Published,
    TrackSelect,
};
use ngx_rtmp::media::{Frame, Track};
use ngx_rtmp::rtmp::message::types;

struct Message {
    type_id: u8,
    timestamp: u32,
    payload: Bytes,
}

/// The legacy AVC tag `legacy` as a Multitrack/OneTrack message of track `id`.
fn as_track(legacy: &[u8], id: u8) -> Option<Vec<u8>> {
    let (&b0, rest) = legacy.split_first()?;
    let (&avc_type, rest) = rest.split_first()?;
    let frame_type = b0 >> 4;
    // Legacy AVC packet types 0, 1, 2 are SequenceStart, CodedFrames, SequenceEnd.
    let (packet_type, body) = match avc_type {
        0 => (0u8, rest.get(3..)?),
        1 => (1u8, rest),
        2 => (2u8, &[][..]),
        _ => return None,
    };
    let mut out = vec![0x80 | (frame_type << 4) | 6, packet_type];
    out.extend_from_slice(b"avc1");
    out.push(id);
    out.extend_from_slice(body);
    Some(out)
}

/// The legacy AAC tag `legacy` as a Multitrack/OneTrack audio message of track `id`.
fn as_audio_track(legacy: &[u8], id: u8) -> Option<Vec<u8>> {
    let (&aac_type, body) = legacy.get(1..)?.split_first()?;
    // Legacy AAC packet types 0, 1 are SequenceStart, CodedFrames.
    let mut out = vec![(9 << 4) | 5, aac_type & 1];
    out.extend_from_slice(b"mp4a");
    out.push(id);
    out.extend_from_slice(body);
    Some(out)
}

/// The recording, each video message followed by its copy as track 1.
fn multitrack() -> Vec<Message> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus/demux/ffmpeg_3s");
    let data = std::fs::read(path).expect("corpus file");
    let mut msgs = Vec::new();
    for r in drivers::media_records(&data) {
        let type_id = if r.video { types::VIDEO } else { types::AUDIO };
        msgs.push(Message {
            type_id,
            timestamp: r.timestamp,
            payload: Bytes::copy_from_slice(r.payload),
        });
        if r.video {
            let copy = as_track(r.payload, 1).expect("an AVC tag");
            msgs.push(Message {
                type_id,
                timestamp: r.timestamp,
                payload: Bytes::from(copy),
            });
        }
    }
    assert!(msgs.len() > 150, "{} messages", msgs.len());
    msgs
}

fn now_at(ms: u32) -> Now {
    Now {
        monotonic_ms: 10_000 + u64::from(ms),
        unix_ms: 1_700_000_000_000 + u64::from(ms),
    }
}

fn incoming(m: &Message) -> Incoming<'_> {
    Incoming {
        type_id: m.type_id,
        timestamp: m.timestamp,
        payload: &m.payload,
        now: now_at(m.timestamp),
    }
}

/// What a probe saw of one message.
#[derive(Debug, Clone)]
struct Seen {
    frames: Vec<Frame>,
    /// Whether each frame's data lies inside the message payload (no copy).
    in_payload: bool,
    video_tracks: Vec<(u8, u32, String)>,
    audio_tracks: Vec<u8>,
    primary: Option<Track>,
}

type Log = Rc<RefCell<Vec<Seen>>>;

struct Probe(Log);

impl Output for Probe {
    fn name(&self) -> &'static str {
        "probe"
    }

    fn push(&mut self, msg: &Published<'_>) -> Result<(), OutputError> {
        let range = msg.payload.as_ptr_range();
        self.0.borrow_mut().push(Seen {
            frames: msg.frames.to_vec(),
            in_payload: msg.frames.iter().all(|f| {
                let r = f.data.as_ptr_range();
                range.start <= r.start && r.end <= range.end
            }),
            video_tracks: msg
                .codecs
                .video_tracks()
                .iter()
                .map(|t| (t.id, t.generation, t.config.codec_string()))
                .collect(),
            audio_tracks: msg.codecs.audio_tracks().iter().map(|t| t.id).collect(),
            primary: msg.frame().map(|f| f.track),
        });
        Ok(())
    }

    fn finish(&mut self, _now: Now) -> Result<(), OutputError> {
        Ok(())
    }
}

fn published() -> Pipeline {
    Pipeline::published(GopCache::new(true, 1000, 16 << 20), 4096)
}

fn probe_of(p: &mut Pipeline, track: u8) -> Log {
    probe_with(p, track, AudioChoice::Primary)
}

fn probe_with(p: &mut Pipeline, track: u8, audio: AudioChoice) -> Log {
    let log = Log::default();
    p.attach(Box::new(TrackSelect::new(Probe(log.clone()), track, audio)));
    log
}

#[test]
fn each_output_sees_its_track_as_track_zero() {
    let msgs = multitrack();
    let mut p = published();
    let (t0, t1) = (probe_of(&mut p, 0), probe_of(&mut p, 1));
    let mut source: HashMap<u8, Vec<(u64, usize)>> = HashMap::new();
    for m in &msgs {
        p.ingest(incoming(m), false);
        for f in p.codecs().frames() {
            if f.track == Track::Video {
                source
                    .entry(f.track_id)
                    .or_default()
                    .push((f.dts, f.data.len()));
            }
        }
    }
    assert_eq!(p.codecs().video_tracks().len(), 2);
    assert_eq!(p.counters().bad_messages, 0);
    for (id, log) in [(0u8, &t0), (1u8, &t1)] {
        let seen = log.borrow();
        let video: Vec<(u64, usize)> = seen
            .iter()
            .flat_map(|s| &s.frames)
            .filter(|f| f.track == Track::Video)
            .map(|f| (f.dts, f.data.len()))
            .collect();
        assert_eq!(video, source[&id], "track {id}: every frame once, in order");
        let audio = seen
            .iter()
            .flat_map(|s| &s.frames)
            .filter(|f| f.track == Track::Audio)
            .count();
        assert!(audio > 50, "track {id} has the primary audio ({audio})");
        for s in seen.iter() {
            assert!(s.frames.iter().all(|f| f.track_id == 0), "relabelled");
            assert!(s.in_payload, "frames are slices of the message");
            assert!(s.frames.len() <= 1, "one chosen frame per message");
            assert!(s.video_tracks.len() <= 1 && s.audio_tracks.len() <= 1);
            assert!(s.video_tracks.iter().all(|t| t.0 == 0));
            assert!(s.audio_tracks.iter().all(|t| *t == 0));
            // Every chosen frame is the primary frame of the view.
            assert_eq!(s.primary, s.frames.first().map(|f| f.track));
        }
    }
    // Messages of the other track only are not passed on: each probe saw the audio messages,
    // its own video messages and the headers, not the other track's frames.
    let n0 = t0.borrow().len();
    let n1 = t1.borrow().len();
    assert_eq!(n0, n1);
    assert!(n0 < msgs.len());
}

#[test]
fn a_configuration_change_reaches_the_view() {
    let mut msgs = multitrack();
    // Track 1's configuration changes half way (another level): SequenceStart again.
    let seq_start = |m: &Message| m.payload.get(..2) == Some(&[0x96, 0x00][..]);
    let mut changed = msgs
        .iter()
        .find(|m| seq_start(m))
        .map(|m| m.payload.to_vec())
        .expect("track 1's SequenceStart");
    // Header (2), fourcc (4), track id (1), then the avcC record, whose byte 3 is the level.
    changed[7 + 3] = 0x33;
    let half = msgs.len() / 2;
    let timestamp = msgs[half].timestamp;
    msgs.insert(
        half,
        Message {
            type_id: types::VIDEO,
            timestamp,
            payload: Bytes::from(changed),
        },
    );
    let mut p = published();
    let (t0, t1) = (probe_of(&mut p, 0), probe_of(&mut p, 1));
    for m in &msgs {
        p.ingest(incoming(m), false);
    }
    let views = |log: &Log| -> Vec<(u8, u32, String)> {
        let mut v: Vec<_> = log
            .borrow()
            .iter()
            .filter_map(|s| s.video_tracks.first().cloned())
            .collect();
        v.dedup();
        v
    };
    let source = |id| {
        p.codecs()
            .video_track(id)
            .map(|t| t.config.codec_string())
            .expect("track")
    };
    // Generations count the stream's configurations: track 0 has the first, track 1 the
    // second, then the third after its change.
    let v0 = views(&t0);
    assert_eq!(v0, [(0, 1, source(0))], "track 0 never changed");
    let v1 = views(&t1);
    assert_eq!(v1.len(), 2, "{v1:?}");
    assert_eq!(
        v1[0],
        (0, 2, source(0)),
        "track 1 started as track 0's twin"
    );
    assert_eq!(v1[1], (0, 3, source(1)), "then changed");
    assert!(source(1).ends_with("33"), "{}", source(1));
}

#[test]
fn an_hls_output_writes_the_chosen_track() {
    let msgs = multitrack();
    let mut p = published();
    let config = HlsConfig {
        fragment_ms: 1_000,
        playlist_length_ms: 10_000,
        ..HlsConfig::default()
    };
    let mut ids: Vec<OutputId> = Vec::new();
    for (id, name) in [(0u8, "cam_t0"), (1u8, "cam_t1")] {
        let mut hls = HlsStream::new(config.clone(), name, None, now_at(0)).expect("hls");
        hls.set_group_member();
        ids.push(p.attach(Box::new(TrackSelect::new(hls, id, AudioChoice::Primary))));
    }
    let mut ops: HashMap<OutputId, Vec<FileOp>> = HashMap::new();
    let mut drain = |p: &mut Pipeline| {
        while let Some((id, op)) = p.poll_op() {
            match op {
                OutputOp::File(op) => ops.entry(id).or_default().push(op),
                OutputOp::Send(_) => panic!("HLS sends no bytes"),
            }
        }
    };
    for m in &msgs {
        p.ingest(incoming(m), false);
        drain(&mut p);
    }
    p.finish(now_at(3_500));
    drain(&mut p);
    let playlists: Vec<String> = ids
        .iter()
        .map(|id| {
            ops[id]
                .iter()
                .rev()
                .find_map(|op| match op {
                    FileOp::WritePlaylist { path, contents }
                        if path.as_str().ends_with(".m3u8") =>
                    {
                        Some(String::from_utf8_lossy(contents).into_owned())
                    }
                    _ => None,
                })
                .expect("a playlist")
        })
        .collect();
    // The same media in both tracks: the same segments, named after each rendition.
    assert!(playlists[0].contains("#EXTINF"), "{}", playlists[0]);
    assert!(playlists[0].contains("#EXT-X-ENDLIST"));
    assert_eq!(playlists[0].replace("cam_t0", "cam_t1"), playlists[1]);
    let bytes = |id: &OutputId| -> usize {
        ops[id]
            .iter()
            .map(|op| match op {
                FileOp::AppendSegment { data } => data.len(),
                _ => 0,
            })
            .sum()
    };
    assert_eq!(bytes(&ids[0]), bytes(&ids[1]));
    assert!(bytes(&ids[0]) > 10_000);
}

#[test]
fn a_chosen_audio_track() {
    // Each audio message is followed by its copy as audio track 1, with every byte of the
    // frame's data inverted so that the two tracks' frames differ.
    let mut msgs = Vec::new();
    for m in multitrack() {
        let copy = (m.type_id == types::AUDIO).then(|| {
            let mut c = as_audio_track(&m.payload, 1).expect("an AAC tag");
            if c[1] == 1 {
                for b in &mut c[7..] {
                    *b = !*b;
                }
            }
            c
        });
        msgs.push(m);
        if let Some(c) = copy {
            let last = msgs.last().expect("pushed");
            let (type_id, timestamp) = (last.type_id, last.timestamp);
            msgs.push(Message {
                type_id,
                timestamp,
                payload: Bytes::from(c),
            });
        }
    }
    let mut p = published();
    let primary = probe_with(&mut p, 1, AudioChoice::Primary);
    let chosen = probe_with(&mut p, 1, AudioChoice::Track(1));
    let mut source: HashMap<u8, Vec<Bytes>> = HashMap::new();
    for m in &msgs {
        p.ingest(incoming(m), false);
        for f in p.codecs().frames() {
            if f.track == Track::Audio {
                source.entry(f.track_id).or_default().push(f.data.clone());
            }
        }
    }
    assert_eq!(p.counters().bad_messages, 0);
    assert_eq!(p.codecs().audio_tracks().len(), 2);
    for (log, id) in [(&primary, 0u8), (&chosen, 1u8)] {
        let audio: Vec<Bytes> = log
            .borrow()
            .iter()
            .flat_map(|s| s.frames.clone())
            .filter(|f| f.track == Track::Audio)
            .map(|f| {
                assert_eq!(f.track_id, 0);
                f.data
            })
            .collect();
        assert!(audio.len() > 50);
        assert_eq!(audio, source[&id], "audio track {id}");
        assert!(log.borrow().iter().all(|s| s.audio_tracks.len() <= 1));
    }
    assert_ne!(source[&0], source[&1]);
}
