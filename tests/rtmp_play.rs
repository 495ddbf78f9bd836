//! Playback at the session layer: the play flow as ffmpeg/ffplay run it,
//! prepared (shared) media decoded back with the crate's ChunkDecoder and
//! AMF0, pause/receive commands, notifications, and a publisher → GOP cache
//! → late player pipeline.

mod support;

use bytes::Bytes;
use ngx_rtmp::amf0::{self, Value};
use ngx_rtmp::live::{Admit, GopCache, LegacyForm, MediaInfo, PlayerQueue, QueuePolicy};
use ngx_rtmp::rtmp::chunk::{ChunkDecoder, PreparedMessage, RawMessage};
use ngx_rtmp::rtmp::message::csid;
use ngx_rtmp::rtmp::{Event, Limits, SendError, Session, SessionConfig};
use support::session::*;

/// A player connection driven by the test: a session plus everything it
/// sent, decoded incrementally.
struct Player {
    session: Session,
    events: Vec<Event>,
    wire: Vec<u8>,
    /// Pieces handed out by poll_transmit (to check sharing).
    pieces: Vec<Bytes>,
    decoder: ChunkDecoder,
    decoded_upto: usize,
    now: u64,
}

impl Player {
    fn new(chunk_size: u32) -> Player {
        let config = SessionConfig {
            chunk_size,
            ..SessionConfig::default()
        };
        Player {
            session: Session::new(config, 1000, 7),
            events: Vec::new(),
            wire: Vec::new(),
            pieces: Vec::new(),
            decoder: ChunkDecoder::new(&Limits::default()),
            decoded_upto: 3073,
            now: 1000,
        }
    }

    fn feed(&mut self, bytes: &[u8]) {
        self.now += 1;
        self.session.feed(self.now, bytes).unwrap();
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(ev) = self.session.poll_event() {
            match &ev {
                Event::Connect(_) => self.session.accept_connect(),
                Event::Play(p) => self.session.accept_play(p.stream_id),
                _ => {}
            }
            self.events.push(ev);
        }
        self.flush();
    }

    fn flush(&mut self) {
        while let Some(b) = self.session.poll_transmit() {
            self.wire.extend_from_slice(&b);
            self.pieces.push(b);
        }
        assert_eq!(self.session.pending_bytes(), 0);
    }

    /// Messages received since the last call.
    fn messages(&mut self) -> Vec<RawMessage> {
        self.flush();
        let mut v = Vec::new();
        loop {
            let rest = &self.wire[self.decoded_upto..];
            if rest.is_empty() {
                break;
            }
            let (used, m) = self.decoder.decode(rest).unwrap();
            self.decoded_upto += used;
            match m {
                Some(m) => v.push(m),
                None if used == 0 => break,
                None => {}
            }
        }
        assert_eq!(self.decoded_upto, self.wire.len(), "trailing partial chunk");
        v
    }
}

fn amf(m: &RawMessage) -> Vec<Value> {
    amf0::decode_all(&m.payload, 32).unwrap()
}

fn status_code(m: &RawMessage) -> Option<String> {
    if m.type_id != 20 {
        return None;
    }
    let v = amf(m);
    (v.first()?.as_str()? == "onStatus")
        .then(|| v.get(3)?.get_str("code").map(str::to_owned))
        .flatten()
}

/// Client bytes of ffmpeg's play sequence (as `ffplay rtmp://.../live/cam`
/// sends it): handshake, connect, window ack size, FCSubscribe,
/// createStream, getStreamLength, play, Set Buffer Length.
fn ffmpeg_play(reset: Option<bool>) -> Vec<u8> {
    let mut bytes = plain_c0c1(9);
    bytes.extend(c2());
    let mut c = Client::new();
    c.command(
        0,
        &[
            s("connect"),
            n(1.0),
            Value::object([
                ("app", s("live")),
                ("flashVer", s("LNX 9,0,124,2")),
                ("tcUrl", s("rtmp://127.0.0.1:1935/live")),
                ("fpad", Value::Boolean(false)),
                ("capabilities", n(15.0)),
                ("audioCodecs", n(4071.0)),
                ("videoCodecs", n(252.0)),
                ("videoFunction", n(1.0)),
            ]),
        ],
    );
    c.window_ack(5_000_000);
    c.command(0, &[s("FCSubscribe"), n(2.0), Value::Null, s("cam")]);
    c.command(0, &[s("createStream"), n(3.0), Value::Null]);
    c.command(1, &[s("getStreamLength"), n(4.0), Value::Null, s("cam")]);
    let mut play = vec![s("play"), n(5.0), Value::Null, s("cam"), n(-1000.0)];
    if let Some(r) = reset {
        play.extend([n(-1.0), Value::Boolean(r)]);
    }
    c.command(1, &play);
    // Set Buffer Length (stream 1, 3000 ms).
    c.raw(2, 0, 4, 0, &[0, 3, 0, 0, 0, 1, 0, 0, 0x0B, 0xB8]);
    bytes.extend(c.take());
    bytes
}

fn playing_player(chunk_size: u32) -> Player {
    let mut p = Player::new(chunk_size);
    p.feed(&ffmpeg_play(None));
    p
}

/// Live messages of a stream: (type, timestamp, payload).
fn live_messages() -> Vec<(u8, u32, Vec<u8>)> {
    let mut rng = Rng(3);
    let meta = amf0::encode_to_bytes(&[s("onMetaData"), metadata_values()[2].clone()]);
    let mut v = vec![
        (18, 0, meta.to_vec()),
        (9, 0, vec![0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1]),
        (8, 0, vec![0xaf, 0, 0x12, 0x10]),
    ];
    let mut key = vec![0x17, 1, 0, 0, 0];
    key.extend(rng.bytes(10_000));
    v.push((9, 40, key));
    let mut aac = vec![0xaf, 1];
    aac.extend(rng.bytes(300));
    v.push((8, 41, aac));
    let mut inter = vec![0x27, 1, 0, 0, 0];
    inter.extend(rng.bytes(4096 - 5));
    v.push((9, 80, inter)); // exactly one 4096-byte chunk
    v.push((9, 120, vec![0x27, 1, 0, 0, 0])); // tiny
                                              // Extended timestamps: at the threshold and beyond, on multi-chunk
                                              // messages.
    for (i, ts) in [0x00FF_FFFEu32, 0x00FF_FFFF, 0x0100_0000, 0xFFFF_FFF0]
        .into_iter()
        .enumerate()
    {
        let mut f = vec![if i == 1 { 0x17 } else { 0x27 }, 1, 0, 0, 0];
        f.extend(rng.bytes(5000 + i * 300));
        v.push((9, ts, f));
        let mut a = vec![0xaf, 1];
        a.extend(rng.bytes(200));
        v.push((8, ts.wrapping_add(1), a));
    }
    v
}

#[test]
fn ffmpeg_play_flow_then_prepared_media() {
    for chunk_size in [128u32, 4096] {
        let mut p = playing_player(chunk_size);
        assert!(p.session.is_playing(1));
        assert_eq!(p.session.playing().collect::<Vec<_>>(), [(1, "cam")]);
        let play_events: Vec<_> = p
            .events
            .iter()
            .filter(|e| matches!(e, Event::Play(_)))
            .collect();
        assert_eq!(play_events.len(), 1);

        let msgs = p.messages();
        // Control: Window Ack Size, Set Peer Bandwidth, Set Chunk Size,
        // Stream Begin 0.
        let ctl: Vec<(u8, Vec<u8>)> = msgs[..4]
            .iter()
            .map(|m| (m.type_id, m.payload.to_vec()))
            .collect();
        assert_eq!(ctl[2], (1, chunk_size.to_be_bytes().to_vec()));
        assert_eq!(ctl[3], (4, vec![0, 0, 0, 0, 0, 0]));
        let rest = &msgs[4..];
        // connect _result, FCSubscribe _result, createStream _result 1,
        // getStreamLength _result.
        let results: Vec<Vec<Value>> = rest[..4].iter().map(amf).collect();
        assert_eq!(results[0][0].as_str(), Some("_result"));
        assert_eq!(
            results[0][3].get_str("code"),
            Some("NetConnection.Connect.Success")
        );
        assert_eq!(results[1][1].as_f64(), Some(2.0));
        assert_eq!(results[2][1].as_f64(), Some(3.0));
        assert_eq!(results[2][3].as_f64(), Some(1.0));
        assert_eq!(results[3][1].as_f64(), Some(4.0));
        // Stream Begin 1, Play.Reset, Play.Start, |RtmpSampleAccess, all
        // on message stream 1 except the control.
        let play = &rest[4..];
        assert_eq!(play.len(), 4, "{play:?}");
        assert_eq!((play[0].type_id, play[0].stream_id), (4, 0));
        assert_eq!(play[0].payload.as_ref(), [0, 0, 0, 0, 0, 1]);
        assert_eq!(
            status_code(&play[1]).as_deref(),
            Some("NetStream.Play.Reset")
        );
        assert_eq!(
            status_code(&play[2]).as_deref(),
            Some("NetStream.Play.Start")
        );
        assert!(play[1..].iter().all(|m| m.stream_id == 1));
        assert_eq!(play[3].type_id, 18);
        assert_eq!(
            amf(&play[3]),
            [
                s("|RtmpSampleAccess"),
                Value::Boolean(true),
                Value::Boolean(true)
            ]
        );

        // Live media, prepared once.
        let live = live_messages();
        let prepared: Vec<PreparedMessage> = live
            .iter()
            .map(|(t, ts, pl)| {
                PreparedMessage::new(csid::for_media(*t), p.session.chunk_size(), *t, *ts, pl)
            })
            .collect();
        for m in &prepared {
            let before = p.session.pending_bytes();
            assert!(p.session.send_prepared(1, m));
            assert_eq!(p.session.pending_bytes(), before + m.wire_len());
        }
        let got = p.messages();
        assert_eq!(got.len(), live.len());
        for (g, (t, ts, pl)) in got.iter().zip(&live) {
            assert_eq!(g.type_id, *t);
            assert_eq!(g.timestamp, *ts, "type {t}");
            assert_eq!(g.stream_id, 1);
            assert_eq!(g.csid, csid::for_media(*t));
            assert_eq!(g.payload.as_ref(), pl.as_slice());
        }
        // The shared bodies went out as the very same buffers (behind their shared header:
        // one piece per message).
        for m in &prepared {
            let body = m.body().as_ptr_range();
            assert!(p.pieces.iter().any(|b| {
                let piece = b.as_ptr_range();
                piece.end == body.end && piece.start <= body.start && b.len() == m.wire_len()
            }));
        }
    }
}

#[test]
fn many_players_share_one_body() {
    let mut a = playing_player(4096);
    let mut b = playing_player(4096);
    a.messages();
    b.messages();
    let payload: Vec<u8> = (0..20_000u32).map(|i| i as u8).collect();
    let m = PreparedMessage::new(csid::VIDEO, 4096, 9, 1234, &payload);
    assert!(a.session.send_prepared(1, &m));
    assert!(b.session.send_prepared(1, &m));
    for p in [&mut a, &mut b] {
        let got = p.messages();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].payload.as_ref(), payload.as_slice());
        let shared = p.pieces.last().unwrap();
        assert_eq!(shared.as_ptr_range().end, m.body().as_ptr_range().end);
        assert_eq!(shared.len(), m.wire_len());
    }
}

#[test]
fn reset_flag_controls_play_reset() {
    for (reset, expect_reset) in [(None, true), (Some(true), true), (Some(false), false)] {
        let mut p = Player::new(4096);
        p.feed(&ffmpeg_play(reset));
        let codes: Vec<String> = p.messages().iter().filter_map(status_code).collect();
        assert_eq!(
            codes.contains(&"NetStream.Play.Reset".to_owned()),
            expect_reset,
            "{reset:?}: {codes:?}"
        );
        assert!(codes.contains(&"NetStream.Play.Start".to_owned()));
    }
}

#[test]
fn refusals_send_nothing() {
    let mut p = playing_player(4096);
    p.messages();
    let m = PreparedMessage::new(csid::VIDEO, 4096, 9, 0, &[0x17, 1, 0, 0, 0]);
    // Unknown stream, stream 0.
    assert!(!p.session.send_prepared(2, &m));
    assert_eq!(
        p.session.try_send_prepared(0, &m),
        Err(SendError::NotPlaying(0))
    );
    // Wrong chunk size.
    let wrong = PreparedMessage::new(csid::VIDEO, 128, 9, 0, &[0x17, 1, 0, 0, 0]);
    assert_eq!(
        p.session.try_send_prepared(1, &wrong),
        Err(SendError::ChunkSizeMismatch {
            prepared: 128,
            session: 4096
        })
    );
    assert_eq!(p.session.pending_bytes(), 0);
    // A publisher's stream is not a player.
    let mut bytes = plain_c0c1(5);
    bytes.extend(c2());
    let mut c = Client::new();
    c.command(0, &connect_values("live"));
    c.command(0, &[s("createStream"), n(2.0), Value::Null]);
    c.command(1, &[s("publish"), n(3.0), Value::Null, s("key"), s("live")]);
    bytes.extend(c.take());
    let mut pubs = Session::new(SessionConfig::default(), 0, 1);
    pubs.feed(1, &bytes).unwrap();
    while let Some(ev) = pubs.poll_event() {
        match ev {
            Event::Connect(_) => pubs.accept_connect(),
            Event::Publish(r) => pubs.accept_publish(r.stream_id),
            _ => {}
        }
    }
    assert!(pubs.is_publishing(1));
    assert_eq!(pubs.try_send_prepared(1, &m), Err(SendError::NotPlaying(1)));
    assert!(!pubs.send_stream_eof(1));
}

#[test]
fn status_and_media_interleave_on_the_same_chunk_stream() {
    // onMetaData goes on csid 5 like onStatus: the session's encoder must
    // not compress a status header against what it sent before the
    // prepared message.
    let mut p = playing_player(128);
    p.messages();
    let meta = amf0::encode_to_bytes(&[s("onMetaData"), metadata_values()[2].clone()]);
    let prepared = PreparedMessage::new(csid::DATA, 128, 18, 500, &meta);
    assert!(p
        .session
        .send_play_status(1, "NetStream.Play.Start", "again"));
    assert!(p.session.send_prepared(1, &prepared));
    assert!(p
        .session
        .send_play_status(1, "NetStream.Play.Start", "again"));
    assert!(p.session.send_prepared(1, &prepared));
    assert!(p.session.send_sample_access(1));
    let got = p.messages();
    assert_eq!(got.len(), 5);
    assert!(got.iter().all(|m| m.csid == 5 && m.stream_id == 1));
    assert_eq!(
        got.iter()
            .map(|m| (m.type_id, m.timestamp))
            .collect::<Vec<_>>(),
        [(20, 0), (18, 500), (20, 0), (18, 500), (18, 0)]
    );
    assert_eq!(got[1].payload, meta);
    assert_eq!(got[3].payload, meta);
    assert_eq!(
        status_code(&got[2]).as_deref(),
        Some("NetStream.Play.Start")
    );
}

#[test]
fn publisher_leaves_and_returns() {
    let mut p = playing_player(4096);
    p.messages();
    assert!(p.session.send_stream_eof(1));
    assert!(p.session.send_unpublish_notify(1));
    assert!(p.session.send_publish_notify(1));
    assert!(p.session.send_stream_begin(1));
    assert!(!p.session.send_publish_notify(3));
    let got = p.messages();
    let summary: Vec<String> = got
        .iter()
        .map(|m| match m.type_id {
            4 => format!("uc{:?}", &m.payload[..]),
            _ => status_code(m).unwrap(),
        })
        .collect();
    assert_eq!(
        summary,
        [
            "uc[0, 1, 0, 0, 0, 1]",
            "uc[0, 1, 0, 0, 0, 1]",
            "NetStream.Play.UnpublishNotify",
            "uc[0, 0, 0, 0, 0, 1]",
            "NetStream.Play.PublishNotify",
            "uc[0, 0, 0, 0, 0, 1]",
        ]
    );
}

#[test]
fn pause_and_receive_commands() {
    let mut p = playing_player(4096);
    p.messages();
    p.events.clear();
    let m = PreparedMessage::new(csid::AUDIO, 4096, 8, 10, &[0xaf, 1, 2]);
    let mut c = Client::new();
    c.set_chunk_size(4096);
    // Acknowledgement and Window Ack Size from the player: no effect.
    c.raw(2, 0, 3, 0, &100u32.to_be_bytes());
    c.window_ack(2_500_000);
    c.command(
        1,
        &[
            s("pause"),
            n(6.0),
            Value::Null,
            Value::Boolean(true),
            n(1500.0),
        ],
    );
    p.feed(&c.take());
    assert_eq!(
        p.events,
        [Event::Pause {
            stream_id: 1,
            paused: true
        }]
    );
    assert_eq!(
        p.session.try_send_prepared(1, &m),
        Err(SendError::Paused(1))
    );
    assert!(p.session.is_play_paused(1));
    let got = p.messages();
    assert_eq!(
        status_code(&got[0]).as_deref(),
        Some("NetStream.Pause.Notify")
    );
    assert_eq!(got[1].payload.as_ref(), [0, 1, 0, 0, 0, 1]);
    assert_eq!(got.len(), 2, "no _result for pause");

    p.events.clear();
    c.command(
        1,
        &[
            s("pause"),
            n(7.0),
            Value::Null,
            Value::Boolean(false),
            n(1500.0),
        ],
    );
    c.command(
        1,
        &[
            s("receiveAudio"),
            n(0.0),
            Value::Null,
            Value::Boolean(false),
        ],
    );
    c.command(
        1,
        &[s("receiveVideo"), n(0.0), Value::Null, Value::Boolean(true)],
    );
    p.feed(&c.take());
    assert_eq!(
        p.events,
        [
            Event::Pause {
                stream_id: 1,
                paused: false
            },
            Event::Receive {
                stream_id: 1,
                audio: Some(false),
                video: None
            },
            Event::Receive {
                stream_id: 1,
                audio: None,
                video: Some(true)
            },
        ]
    );
    let got = p.messages();
    assert_eq!(got.len(), 2);
    assert_eq!(
        status_code(&got[0]).as_deref(),
        Some("NetStream.Unpause.Notify")
    );
    assert_eq!(got[1].payload.as_ref(), [0, 0, 0, 0, 0, 1]);
    assert!(p.session.send_prepared(1, &m));

    // Pause on a stream that does not play: ignored.
    p.events.clear();
    c.command(0, &[s("pause"), n(8.0), Value::Null, Value::Boolean(true)]);
    p.feed(&c.take());
    assert!(p.events.is_empty());
}

#[test]
fn close_and_delete_stop_the_player() {
    for close in [true, false] {
        let mut p = playing_player(4096);
        let mut c = Client::new();
        c.set_chunk_size(4096);
        if close {
            c.command(1, &[s("closeStream"), n(0.0), Value::Null]);
        } else {
            c.command(0, &[s("deleteStream"), n(9.0), Value::Null, n(1.0)]);
        }
        p.feed(&c.take());
        assert_eq!(p.events.last(), Some(&Event::StopPlay { stream_id: 1 }));
        assert!(!p.session.is_playing(1));
        assert_eq!(p.session.playing().count(), 0);
        let m = PreparedMessage::new(csid::AUDIO, 4096, 8, 10, &[0xaf, 1, 2]);
        assert!(!p.session.send_prepared(1, &m));
    }
}

/// A publisher session feeds a stream; every message is prepared once,
/// pushed to the GOP cache and sent to the players present; a player
/// joining mid-GOP gets metadata, headers and the GOP from its keyframe.
#[test]
fn publisher_to_gop_cache_to_late_player() {
    let chunk_size = SessionConfig::default().chunk_size;
    let mut publisher = Session::new(SessionConfig::default(), 0, 1);
    publisher
        .feed(1, &ffmpeg_publish(true, Some(4096)))
        .unwrap();
    let mut gop = GopCache::new(true, 1000, 1 << 20);
    let mut early = playing_player(chunk_size);
    early.messages();
    let mut early_queue = PlayerQueue::new(QueuePolicy::default());
    let mut late: Option<(Player, PlayerQueue)> = None;
    let mut sent_live = Vec::new();
    let mut video_count = 0;
    while let Some(ev) = publisher.poll_event() {
        let (type_id, ts, payload) = match ev {
            Event::Connect(_) => {
                publisher.accept_connect();
                continue;
            }
            Event::Publish(r) => {
                publisher.accept_publish(r.stream_id);
                continue;
            }
            Event::Metadata { data, .. } => (18u8, 0u32, data),
            Event::Video {
                timestamp, payload, ..
            } => (9, timestamp, payload),
            Event::Audio {
                timestamp, payload, ..
            } => (8, timestamp, payload),
            _ => continue,
        };
        let info = MediaInfo::classify(type_id, &payload);
        let msg = PreparedMessage::new(csid::for_media(type_id), chunk_size, type_id, ts, &payload);
        gop.push(info, &msg, LegacyForm::Same);
        let pending = early.session.pending_bytes();
        if early_queue.admit(&info, pending) == Admit::Send {
            assert!(early.session.send_prepared(1, &msg));
        }
        if let Some((p, q)) = &mut late {
            if q.admit(&info, p.session.pending_bytes()) == Admit::Send {
                assert!(p.session.send_prepared(1, &msg));
            }
        }
        sent_live.push((type_id, ts, payload));
        if type_id == 9 {
            video_count += 1;
            // Join after the second picture of the GOP that starts at the
            // 4th video message (media_script: key at i = 0 and 3).
            if video_count == 6 {
                let mut p = playing_player(chunk_size);
                p.messages();
                let mut q = PlayerQueue::new(QueuePolicy::default());
                for (info, m) in gop.join_burst(chunk_size, false) {
                    assert_eq!(q.admit_burst(&info), Admit::Send);
                    assert!(p.session.send_prepared(1, m));
                }
                late = Some((p, q));
            }
        }
    }
    // The early player got everything in order.
    let got: Vec<(u8, u32, Vec<u8>)> = early
        .messages()
        .into_iter()
        .map(|m| (m.type_id, m.timestamp, m.payload.to_vec()))
        .collect();
    let want: Vec<(u8, u32, Vec<u8>)> = sent_live
        .iter()
        .map(|(t, ts, p)| (*t, *ts, p.to_vec()))
        .collect();
    assert_eq!(got, want);
    // The late player: metadata, AVC header, AAC header, then the GOP from
    // the keyframe at 120 ms (with the audio that followed it), then live.
    let (mut p, q) = late.unwrap();
    let got: Vec<(u8, u32, u8)> = p
        .messages()
        .into_iter()
        .map(|m| (m.type_id, m.timestamp, m.payload[0]))
        .collect();
    assert_eq!(got[0].0, 18);
    assert_eq!(got[1], (9, 0, 0x17));
    assert_eq!(got[2], (8, 0, 0xaf));
    assert_eq!(got[3], (9, 120, 0x17), "{got:?}");
    let video_ts: Vec<u32> = got[3..].iter().filter(|m| m.0 == 9).map(|m| m.1).collect();
    assert_eq!(video_ts, [120, 160, 200]);
    assert_eq!(q.dropped(), 0);
}
