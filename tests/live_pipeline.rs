//! The route of a published message, without nginx: a recorded ffmpeg publish (its audio and
//! video messages, `tests/corpus/demux/ffmpeg_3s`) runs through a stream's `Pipeline` with HLS,
//! DASH and probe outputs attached, as the shell runs it.

#[path = "../fuzz/drivers.rs"]
mod drivers;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use bytes::Bytes;
use ngx_rtmp::dash::{DashConfig, DashStream};
use ngx_rtmp::files::{FileOp, Now};
use ngx_rtmp::hls::{HlsConfig, HlsStream};
use ngx_rtmp::live::{
    GopCache, Incoming, MediaKind, Output, OutputError, OutputId, OutputOp, Pipeline,
    PipelineEvent, Published, View,
};
use ngx_rtmp::rtmp::message::types;

/// A message of the recording.
struct Message {
    type_id: u8,
    timestamp: u32,
    payload: Bytes,
}

fn recording() -> Vec<Message> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus/demux/ffmpeg_3s");
    let data = std::fs::read(path).expect("corpus file");
    let msgs: Vec<Message> = drivers::media_records(&data)
        .into_iter()
        .map(|r| Message {
            type_id: if r.video { types::VIDEO } else { types::AUDIO },
            timestamp: r.timestamp,
            payload: Bytes::copy_from_slice(r.payload),
        })
        .collect();
    assert!(
        msgs.len() > 100,
        "the recording has {} messages",
        msgs.len()
    );
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

/// What a probe output saw of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    type_id: u8,
    timestamp: u32,
    len: usize,
    frame: bool,
    keyframe: bool,
}

/// What a probe saw, shared with the test.
type Log = Rc<RefCell<Vec<Seen>>>;

/// An output that records what it is given, and fails on the message numbered `fail_at`.
struct Probe {
    seen: Log,
    finished: Rc<RefCell<bool>>,
    fail_at: Option<(usize, OutputError)>,
}

impl Output for Probe {
    fn name(&self) -> &'static str {
        "probe"
    }

    fn push(&mut self, msg: &Published<'_>) -> Result<(), OutputError> {
        let mut seen = self.seen.borrow_mut();
        if let Some((n, e)) = &self.fail_at {
            if seen.len() == *n {
                return Err(e.clone());
            }
        }
        seen.push(Seen {
            type_id: msg.type_id,
            timestamp: msg.timestamp,
            len: msg.payload.len(),
            frame: msg.frame().is_some(),
            keyframe: msg.info.keyframe,
        });
        Ok(())
    }

    fn finish(&mut self, _now: Now) -> Result<(), OutputError> {
        *self.finished.borrow_mut() = true;
        Ok(())
    }
}

fn probe(fail_at: Option<(usize, OutputError)>) -> (Probe, Log, Rc<RefCell<bool>>) {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let finished = Rc::new(RefCell::new(false));
    let p = Probe {
        seen: seen.clone(),
        finished: finished.clone(),
        fail_at,
    };
    (p, seen, finished)
}

fn hls_config() -> HlsConfig {
    HlsConfig {
        fragment_ms: 1_000,
        playlist_length_ms: 10_000,
        ..HlsConfig::default()
    }
}

fn published() -> Pipeline {
    Pipeline::published(GopCache::new(true, 1000, 16 << 20), 4096)
}

/// Drains the pipeline's file operations, by output.
fn drain(p: &mut Pipeline, ops: &mut HashMap<OutputId, Vec<FileOp>>) {
    while let Some((id, op)) = p.poll_op() {
        match op {
            OutputOp::File(op) => ops.entry(id).or_default().push(op),
            OutputOp::Send(_) => panic!("no output here sends bytes"),
        }
    }
}

#[test]
fn every_message_reaches_each_output_once_in_order() {
    let msgs = recording();
    let mut p = published();
    let (a, seen_a, finished_a) = probe(None);
    let (b, seen_b, _) = probe(None);
    p.attach(Box::new(a));
    p.attach(Box::new(b));
    for m in &msgs {
        p.ingest(incoming(m), false);
    }
    p.finish(now_at(3_000));
    let expected: Vec<(u8, u32, usize)> = msgs
        .iter()
        .map(|m| (m.type_id, m.timestamp, m.payload.len()))
        .collect();
    for seen in [&seen_a, &seen_b] {
        let got: Vec<(u8, u32, usize)> = seen
            .borrow()
            .iter()
            .map(|s| (s.type_id, s.timestamp, s.len))
            .collect();
        assert_eq!(got, expected);
    }
    assert!(*finished_a.borrow(), "finish reaches the outputs");
    // The demuxer turns every coded audio/video message into a frame; the codec headers
    // and ffmpeg's closing AVC end-of-sequence carry none.
    let seen = seen_a.borrow();
    let without_frame: Vec<usize> = (0..msgs.len()).filter(|&i| !seen[i].frame).collect();
    let expected_without: Vec<usize> = (0..msgs.len())
        .filter(|&i| is_sequence_header(&msgs[i]) || is_end_of_sequence(&msgs[i]))
        .collect();
    assert_eq!(without_frame, expected_without);
    assert_eq!(
        without_frame.len(),
        3,
        "AVC and AAC headers, end of sequence"
    );
    assert!(seen.iter().any(|s| s.keyframe), "keyframes are classified");
    let c = p.counters();
    let video = msgs.iter().filter(|m| m.type_id == types::VIDEO).count() as u64;
    let audio = msgs.iter().filter(|m| m.type_id == types::AUDIO).count() as u64;
    let bytes: u64 = msgs.iter().map(|m| m.payload.len() as u64).sum();
    assert_eq!(
        (c.video_messages, c.audio_messages, c.bytes_in),
        (video, audio, bytes)
    );
    assert_eq!(c.video_bytes + c.audio_bytes, bytes);
    assert_eq!(c.bad_messages, 0);
    let info = p.codecs().codec_info();
    assert!(info.video_codec.is_some() && info.audio_codec.is_some());
}

#[test]
fn hls_and_dash_write_their_files_through_file_operations() {
    let msgs = recording();
    let mut p = published();
    let hls = HlsStream::new(hls_config(), "cam", None, now_at(0)).expect("hls");
    let dash = DashStream::new(
        DashConfig {
            fragment_ms: 1_000,
            playlist_length_ms: 10_000,
            nested: false,
            cleanup: true,
        },
        "cam",
        now_at(0),
    )
    .expect("dash");
    let hls_id = p.attach(Box::new(hls));
    let dash_id = p.attach(Box::new(dash));
    assert_eq!(p.output_name(hls_id), Some("hls"));
    assert_eq!(p.output_name(dash_id), Some("dash"));
    let mut ops = HashMap::new();
    for m in &msgs {
        p.ingest(incoming(m), false);
        drain(&mut p, &mut ops);
    }
    p.finish(now_at(3_100));
    drain(&mut p, &mut ops);
    assert!(p.poll_event().is_none(), "no output failed");

    let hls_ops = &ops[&hls_id];
    let closed: Vec<&str> = hls_ops
        .iter()
        .filter_map(|op| match op {
            FileOp::CloseSegment { path } => Some(path.as_str()),
            _ => None,
        })
        .collect();
    assert!(closed.len() >= 2, "3 s at 1 s fragments: {closed:?}");
    assert!(closed
        .iter()
        .all(|p| p.starts_with("cam-") && p.ends_with(".ts")));
    let last_playlist = hls_ops
        .iter()
        .rev()
        .find_map(|op| match op {
            FileOp::WritePlaylist { path, contents } if path.as_str() == "cam.m3u8" => {
                Some(String::from_utf8_lossy(contents).into_owned())
            }
            _ => None,
        })
        .expect("a playlist");
    assert!(last_playlist.contains("#EXT-X-ENDLIST"), "{last_playlist}");
    for seg in &closed {
        assert!(
            last_playlist.contains(seg),
            "{seg} listed in {last_playlist}"
        );
    }

    let dash_ops = &ops[&dash_id];
    assert!(dash_ops.iter().any(|op| matches!(op,
        FileOp::WritePlaylist { path, .. } if path.as_str() == "cam.mpd")));
    assert!(dash_ops.iter().any(|op| matches!(op,
        FileOp::WritePlaylist { path, .. } if path.as_str().ends_with(".m4v"))
        || matches!(op, FileOp::OpenSegment { path } if path.as_str().ends_with(".m4v"))));
    // Each output's operations are its own.
    assert!(!dash_ops.iter().any(|op| matches!(op,
        FileOp::WritePlaylist { path, .. } if path.as_str().ends_with(".m3u8"))));
}

#[test]
fn players_get_the_message_chunked_once_and_joiners_start_at_a_keyframe() {
    let msgs = recording();
    let mut p = published();
    let mut delivered = 0;
    for (i, m) in msgs.iter().enumerate() {
        let for_players = i % 2 == 0;
        let d = p.ingest(incoming(m), for_players);
        assert_eq!(d.is_some(), for_players);
        if let Some(d) = d {
            delivered += 1;
            assert_eq!(d.message.type_id, m.type_id);
            assert_eq!(d.message.timestamp, m.timestamp);
            let body: Vec<u8> = d.message.payload_pieces().flatten().copied().collect();
            assert_eq!(body, m.payload.as_ref());
        }
    }
    assert_eq!(delivered, msgs.len().div_ceil(2));
    // A joiner gets the codec headers, then the current GOP from its keyframe, whether the
    // GOP's messages were chunked for players or kept bare.
    let burst: Vec<_> = p
        .join_burst(View::AsPublished)
        .map(|(info, m)| (info, m.timestamp))
        .collect();
    let first_media = burst
        .iter()
        .position(|(info, _)| !info.sequence_header && info.kind != MediaKind::Meta)
        .expect("a GOP");
    assert!(burst[..first_media].iter().all(|(i, _)| i.sequence_header));
    let (key, _) = burst[first_media];
    assert!(key.kind == MediaKind::Video && key.keyframe, "{burst:?}");
    // ... exactly the recording's messages from its last keyframe on.
    let last_key = msgs
        .iter()
        .rposition(|m| m.type_id == types::VIDEO && m.payload.get(..2) == Some(&[0x17, 1][..]))
        .expect("a keyframe");
    let expected: Vec<u32> = msgs[last_key..].iter().map(|m| m.timestamp).collect();
    let got: Vec<u32> = burst[first_media..].iter().map(|(_, t)| *t).collect();
    assert_eq!(got, expected);
}

/// An empty `onMetaData` as a publisher's data message.
fn metadata() -> Message {
    Message {
        type_id: types::DATA_AMF0,
        timestamp: 0,
        payload: Bytes::from_static(b"\x02\x00\x0aonMetaData\x08\x00\x00\x00\x00\x00\x00\x09"),
    }
}

/// An AVC or AAC sequence header (FLV packet type 0).
fn is_sequence_header(m: &Message) -> bool {
    m.payload.get(1) == Some(&0)
}

/// An AVC end of sequence (FLV AVC packet type 2).
fn is_end_of_sequence(m: &Message) -> bool {
    m.type_id == types::VIDEO && m.payload.get(1) == Some(&2)
}

/// A publication that goes on under another name (`rtmp_control redirect`) starts its new
/// stream with the old one's metadata and sequence headers: the frames that follow demux.
#[test]
fn setup_messages_start_a_new_stream_where_the_old_one_left_off() {
    let msgs = recording();
    let meta = metadata();
    let mut old = published();
    old.ingest(incoming(&meta), false);
    let half = msgs.len() / 2;
    for m in &msgs[..half] {
        old.ingest(incoming(m), false);
    }
    let setup = old.setup_messages();
    let headers: Vec<(u8, &[u8])> = msgs
        .iter()
        .filter(|m| is_sequence_header(m))
        .map(|m| (m.type_id, &m.payload[..]))
        .collect();
    assert_eq!(
        headers.len(),
        2,
        "the recording has one video and one audio header"
    );
    let mut expected = vec![(types::DATA_AMF0, &meta.payload[..])];
    expected.extend(headers.iter().copied());
    let got: Vec<(u8, &[u8])> = setup.iter().map(|(t, _, p)| (*t, &p[..])).collect();
    assert_eq!(got, expected);

    // The new stream: the setup, then the rest of the publish from its next keyframe.
    let mut new = published();
    let (probe, seen, _) = probe(None);
    new.attach(Box::new(probe));
    for (type_id, timestamp, payload) in &setup {
        new.ingest(
            Incoming {
                type_id: *type_id,
                timestamp: *timestamp,
                payload,
                now: now_at(*timestamp),
            },
            false,
        );
    }
    let rest = &msgs[half..];
    let key = rest
        .iter()
        .position(|m| m.type_id == types::VIDEO && m.payload.first().is_some_and(|b| b >> 4 == 1))
        .expect("a keyframe in the second half");
    for m in &rest[key..] {
        new.ingest(incoming(m), false);
    }
    let refused = new.counters().bad_messages;
    assert_eq!(refused, 0, "{:?}", new.poll_event());
    let frames = seen.borrow().iter().filter(|s| s.frame).count();
    let media = rest[key..]
        .iter()
        .filter(|m| !is_sequence_header(m) && !is_end_of_sequence(m))
        .count();
    assert_eq!(frames, media);

    // Without them, the same messages are refused.
    let mut bare = published();
    for m in &rest[key..] {
        bare.ingest(incoming(m), false);
    }
    assert!(bare.counters().bad_messages > 0);
}

#[test]
fn metadata_reaches_outputs_and_joiners_but_is_not_media() {
    let mut p = published();
    let (probe, seen, _) = probe(None);
    p.attach(Box::new(probe));
    let meta = metadata();
    let d = p.ingest(incoming(&meta), false);
    assert!(d.is_none());
    assert_eq!(seen.borrow().len(), 1);
    assert!(!seen.borrow()[0].frame);
    assert_eq!(p.counters().bytes_in, 0, "metadata is not media");
    let burst: Vec<_> = p
        .join_burst(View::AsPublished)
        .map(|(i, _)| i.kind)
        .collect();
    assert_eq!(burst, vec![MediaKind::Meta]);
}

#[test]
fn a_failing_output_is_removed_and_the_others_go_on() {
    let msgs = recording();
    let mut p = published();
    let (bad, bad_seen, bad_finished) = probe(Some((10, OutputError::Failed("disk full".into()))));
    let (good, good_seen, _) = probe(None);
    let bad_id = p.attach(Box::new(bad));
    p.attach(Box::new(good));
    for m in &msgs {
        p.ingest(incoming(m), false);
    }
    p.finish(now_at(3_000));
    assert_eq!(
        p.poll_event(),
        Some(PipelineEvent::OutputFailed {
            id: bad_id,
            name: "probe",
            error: OutputError::Failed("disk full".into()),
        })
    );
    assert_eq!(p.poll_event(), None, "reported once");
    assert_eq!(bad_seen.borrow().len(), 10);
    assert!(!*bad_finished.borrow(), "a removed output is not finished");
    assert_eq!(good_seen.borrow().len(), msgs.len());
    assert_eq!(p.output_name(bad_id), None);

    // An output that loses the stream to another publisher says so.
    let mut p = published();
    let (lost, _, _) = probe(Some((0, OutputError::Replaced)));
    p.attach(Box::new(lost));
    p.ingest(incoming(&msgs[0]), false);
    assert!(matches!(
        p.poll_event(),
        Some(PipelineEvent::OutputFailed {
            error: OutputError::Replaced,
            ..
        })
    ));
}

#[test]
fn a_detached_output_gets_nothing_more() {
    let msgs = recording();
    let mut p = published();
    let (a, seen, _) = probe(None);
    let id = p.attach(Box::new(a));
    p.ingest(incoming(&msgs[0]), false);
    assert!(p.detach(id).is_some());
    assert!(p.detach(id).is_none());
    p.ingest(incoming(&msgs[1]), false);
    assert_eq!(seen.borrow().len(), 1);
}

#[test]
fn a_mirrored_stream_serves_players_without_demuxing() {
    let msgs = recording();
    let mut p = Pipeline::mirrored(GopCache::new(true, 1000, 16 << 20), 4096);
    let (a, seen, _) = probe(None);
    p.attach(Box::new(a));
    for m in &msgs {
        assert!(p.ingest(incoming(m), true).is_some());
    }
    assert!(seen.borrow().iter().all(|s| !s.frame), "no frames");
    let info = p.codecs().codec_info();
    assert!(info.video_codec.is_none() && info.audio_codec.is_none());
    assert_eq!(
        p.counters().video_messages + p.counters().audio_messages,
        msgs.len() as u64
    );
    assert!(p.join_burst(View::AsPublished).any(|(i, _)| i.keyframe));
}
