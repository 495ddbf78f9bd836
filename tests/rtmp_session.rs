mod support;

use ngx_rtmp::amf0::{self, Value};
use ngx_rtmp::rtmp::status::RecordNotice;
use ngx_rtmp::rtmp::{
    Blame, Event, OrderError, PublishKind, PublishRequest, Rejection, Session, SessionConfig,
    SessionError,
};
use support::session::*;

fn expected_publish_events() -> Vec<Event> {
    let mut v = Vec::new();
    let meta = amf0::encode_to_bytes(&[s("onMetaData"), metadata_values()[2].clone()]);
    v.push(Event::Publish(PublishRequest {
        stream_id: 1,
        name: "key".into(),
        args: String::new(),
        kind: PublishKind::Live,
    }));
    v.push(Event::Metadata {
        stream_id: 1,
        data: meta,
    });
    for (t, ts, p) in media_script() {
        let payload = payload(&p);
        v.push(if t == 8 {
            Event::Audio {
                stream_id: 1,
                timestamp: ts,
                payload,
            }
        } else {
            Event::Video {
                stream_id: 1,
                timestamp: ts,
                payload,
            }
        });
    }
    v.push(Event::Unpublish { stream_id: 1 });
    v
}

fn check_publish_outcome(o: &Outcome) {
    assert_eq!(o.error, None);
    match &o.events[0] {
        Event::Connect(c) => {
            assert_eq!(c.app, "live");
            assert_eq!(c.app_args, "");
            assert_eq!(c.tc_url, "rtmp://127.0.0.1:1935/live");
            assert_eq!(c.flashver, "FMLE/3.0 (compatible; Lavf61.1.100)");
            assert_eq!(c.object_encoding, 0.0);
        }
        other => panic!("first event {other:?}"),
    }
    assert_eq!(&o.events[1..], &expected_publish_events()[..]);
}

#[test]
fn ffmpeg_publish_flow_in_one_piece() {
    for digest in [false, true] {
        let bytes = ffmpeg_publish(digest, None);
        let o = run(SessionConfig::default(), &bytes);
        check_publish_outcome(&o);
        assert_eq!(
            status_codes(&o.output),
            [
                "NetConnection.Connect.Success",
                "NetStream.Publish.Start",
                "NetStream.Unpublish.Success"
            ]
        );
        let msgs = server_messages(&o.output);
        // Window Ack Size, Set Peer Bandwidth, Set Chunk Size, Stream Begin 0.
        let ctl: Vec<(u8, Vec<u8>)> = msgs
            .iter()
            .take(4)
            .map(|m| (m.type_id, m.payload.to_vec()))
            .collect();
        assert_eq!(ctl[0], (5, 5_000_000u32.to_be_bytes().to_vec()));
        assert_eq!(ctl[1], (6, vec![0x00, 0x4C, 0x4B, 0x40, 2]));
        assert_eq!(ctl[2], (1, 4096u32.to_be_bytes().to_vec()));
        assert_eq!(ctl[3], (4, vec![0, 0, 0, 0, 0, 0]));
        let cmds = server_commands(&o.output);
        let connect = &cmds[0].1;
        assert_eq!(connect[0].as_str(), Some("_result"));
        assert_eq!(connect[1].as_f64(), Some(1.0));
        assert_eq!(connect[2].get_str("fmsVer"), Some("FMS/3,0,1,123"));
        assert_eq!(connect[2].get_f64("capabilities"), Some(31.0));
        assert_eq!(connect[3].get_str("level"), Some("status"));
        assert_eq!(
            connect[3].get_str("description"),
            Some("Connection succeeded.")
        );
        assert_eq!(connect[3].get_f64("objectEncoding"), Some(0.0));
        let create = cmds
            .iter()
            .find(|(_, v)| v[1].as_f64() == Some(4.0))
            .unwrap();
        assert_eq!(create.1[0].as_str(), Some("_result"));
        assert_eq!(create.1[3].as_f64(), Some(1.0));
        let start = cmds
            .iter()
            .find(|(_, v)| v[0].as_str() == Some("onStatus"))
            .unwrap();
        assert_eq!(start.0, 1, "onStatus on the publishing stream");
    }
}

#[test]
fn ffmpeg_publish_flow_split_at_every_byte() {
    let bytes = ffmpeg_publish(false, None);
    let whole = run(SessionConfig::default(), &bytes);
    check_publish_outcome(&whole);
    for i in 0..=bytes.len() {
        let (a, b) = bytes.split_at(i);
        let o = run_pieces(SessionConfig::default(), [a, b]);
        assert_eq!(o.error, None, "split {i}");
        assert_eq!(o.events, whole.events, "split {i}");
        assert_eq!(o.output, whole.output, "split {i}");
    }
}

#[test]
fn publish_flow_random_pieces_big_chunks_and_digest() {
    let bytes = ffmpeg_publish(true, Some(4096));
    let whole = run(SessionConfig::default(), &bytes);
    check_publish_outcome(&whole);
    let mut rng = Rng(4242);
    for round in 0..60 {
        let mut pieces = Vec::new();
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let n = 1 + rng.below(rest.len().min(if round % 2 == 0 { 64 } else { 3000 }));
            pieces.push(&rest[..n]);
            rest = &rest[n..];
        }
        let o = run_pieces(SessionConfig::default(), pieces);
        assert_eq!(o.events, whole.events, "round {round}");
        assert_eq!(o.output, whole.output, "round {round}");
    }
    let singles = run_pieces(SessionConfig::default(), bytes.chunks(1));
    assert_eq!(singles.events, whole.events);
}

/// Handshake + the given client messages.
fn session_bytes(build: impl FnOnce(&mut Client)) -> Vec<u8> {
    let mut bytes = plain_c0c1(1);
    bytes.extend(c2());
    let mut c = Client::new();
    build(&mut c);
    bytes.extend(c.take());
    bytes
}

fn connected(c: &mut Client) {
    c.command(0, &connect_values("live"));
}

fn with_stream(c: &mut Client) {
    connected(c);
    c.command(0, &[s("createStream"), n(2.0), Value::Null]);
}

fn publishing(c: &mut Client) {
    with_stream(c);
    c.command(1, &[s("publish"), n(3.0), Value::Null, s("key"), s("live")]);
}

fn order_error(o: &Outcome) -> OrderError {
    match &o.error {
        Some(SessionError::Order(e)) => e.clone(),
        other => panic!("expected order error, got {other:?}"),
    }
}

#[test]
fn data_media_and_commands_before_connect_are_errors() {
    let o = run(
        SessionConfig::default(),
        &session_bytes(|c| c.data(0, &metadata_values())),
    );
    assert_eq!(order_error(&o), OrderError::BeforeConnect { type_id: 18 });
    assert_eq!(o.error.unwrap().blame(), Blame::PeerMisbehaved);
    let o = run(
        SessionConfig::default(),
        &session_bytes(|c| c.raw(4, 0, 8, 1, &[0xaf, 1, 2])),
    );
    assert_eq!(order_error(&o), OrderError::BeforeConnect { type_id: 8 });
    let o = run(
        SessionConfig::default(),
        &session_bytes(|c| c.command(0, &[s("createStream"), n(2.0), Value::Null])),
    );
    assert_eq!(order_error(&o), OrderError::BeforeConnect { type_id: 20 });
    // Protocol control is fine before connect.
    let o = run(
        SessionConfig::default(),
        &session_bytes(|c| {
            c.set_chunk_size(4096);
            c.window_ack(1_000_000);
            c.raw(2, 0, 4, 0, &[0, 6, 0, 0, 0, 9]);
            connected(c);
        }),
    );
    assert_eq!(o.error, None);
    assert!(matches!(o.events[0], Event::Connect(_)));
}

#[test]
fn connect_twice_is_an_error() {
    let o = run(
        SessionConfig::default(),
        &session_bytes(|c| {
            connected(c);
            connected(c);
        }),
    );
    assert_eq!(order_error(&o), OrderError::ConnectTwice);
}

#[test]
fn publish_and_media_on_wrong_streams() {
    let o = run(
        SessionConfig::default(),
        &session_bytes(|c| {
            connected(c);
            c.command(5, &[s("publish"), n(3.0), Value::Null, s("key")]);
        }),
    );
    assert_eq!(order_error(&o), OrderError::UnknownStream(5));

    let o = run(
        SessionConfig::default(),
        &session_bytes(|c| {
            with_stream(c);
            c.raw(6, 0, 9, 1, &[0x17, 0]);
        }),
    );
    assert_eq!(order_error(&o), OrderError::NotPublishing(1));

    let o = run(
        SessionConfig::default(),
        &session_bytes(|c| {
            publishing(c);
            c.raw(6, 0, 9, 0, &[0x17, 0]);
        }),
    );
    assert_eq!(order_error(&o), OrderError::UnknownStream(0));

    let o = run(
        SessionConfig::default(),
        &session_bytes(|c| {
            publishing(c);
            c.command(1, &[s("publish"), n(4.0), Value::Null, s("key2")]);
        }),
    );
    assert_eq!(order_error(&o), OrderError::AlreadyPublishing(1));
}

#[test]
fn publish_while_pending_is_an_error_once_accepted() {
    // The shell does not answer: the second publish waits in the backlog.
    let bytes = session_bytes(|c| {
        publishing(c);
        c.command(1, &[s("publish"), n(4.0), Value::Null, s("key")]);
    });
    let mut sess = Session::new(SessionConfig::default(), 0, 1);
    sess.feed(1, &bytes).unwrap();
    assert!(matches!(sess.poll_event(), Some(Event::Connect(_))));
    assert!(sess.poll_event().is_none());
    sess.accept_connect();
    assert!(matches!(sess.poll_event(), Some(Event::Publish(_))));
    assert!(sess.poll_event().is_none());
    sess.accept_publish(1);
    assert_eq!(
        sess.poll_timeout(),
        Some(1),
        "deferred error wants a call now"
    );
    assert_eq!(
        sess.handle_timeout(1),
        Err(SessionError::Order(OrderError::AlreadyPublishing(1)))
    );
    assert_eq!(sess.feed(2, b"x"), Err(SessionError::Closed));
}

#[test]
fn invalid_app_is_rejected_by_the_session() {
    for app in ["../etc", "", "li ve", "a\u{1}b", "live/x"] {
        let o = run(
            SessionConfig::default(),
            &session_bytes(|c| c.command(0, &connect_values(app))),
        );
        assert!(
            matches!(o.error, Some(SessionError::InvalidName(_))),
            "{app:?}: {:?}",
            o.error
        );
        assert!(o.events.is_empty());
        assert_eq!(status_codes(&o.output), ["NetConnection.Connect.Rejected"]);
        assert_eq!(server_commands(&o.output)[0].1[0].as_str(), Some("_error"));
    }
    // Arguments are split off.
    let o = run(
        SessionConfig::default(),
        &session_bytes(|c| c.command(0, &connect_values("live?user=1&t=2"))),
    );
    match &o.events[0] {
        Event::Connect(c) => {
            assert_eq!(c.app, "live");
            assert_eq!(c.app_args, "user=1&t=2");
        }
        e => panic!("{e:?}"),
    }
}

fn publish_name(name: &str) -> Outcome {
    let name = name.to_owned();
    run(
        SessionConfig::default(),
        &session_bytes(move |c| {
            with_stream(c);
            c.command(
                1,
                &[
                    s("publish"),
                    n(3.0),
                    Value::Null,
                    Value::from(name.as_str()),
                ],
            );
        }),
    )
}

#[test]
fn control_characters_and_bad_names_in_keys() {
    for name in [
        "ke\u{1}y",
        "ke\ny",
        "key\u{7f}",
        "a/b",
        "..",
        ".hidden",
        "a b",
        "k:y",
        "",
        "é",
    ] {
        let o = publish_name(name);
        assert!(
            matches!(o.error, Some(SessionError::InvalidName(_))),
            "{name:?}: {:?}",
            o.error
        );
        assert_eq!(o.error.as_ref().unwrap().blame(), Blame::PeerMisbehaved);
        assert_eq!(
            status_codes(&o.output).last().map(String::as_str),
            Some("NetStream.Publish.BadName"),
            "{name:?}"
        );
        assert!(!o.events.iter().any(|e| matches!(e, Event::Publish(_))));
    }
    // Control characters in args too.
    let o = publish_name("key?a=\u{0}");
    assert!(matches!(o.error, Some(SessionError::InvalidName(_))));
}

#[test]
fn over_long_keys_and_args() {
    let o = publish_name(&"k".repeat(257));
    assert!(matches!(o.error, Some(SessionError::InvalidName(_))));
    let o = publish_name(&"k".repeat(256));
    assert_eq!(o.error, None);
    let o = publish_name(&format!("key?{}", "a".repeat(1025)));
    assert!(matches!(o.error, Some(SessionError::InvalidName(_))));
    let o = publish_name(&format!("key?{}", "a".repeat(1024)));
    assert_eq!(o.error, None);
    match &o.events[1] {
        Event::Publish(p) => {
            assert_eq!(p.name, "key");
            assert_eq!(p.args.len(), 1024);
        }
        e => panic!("{e:?}"),
    }
}

#[test]
fn shell_rejections() {
    // Connect rejected.
    let bytes = session_bytes(connected);
    let mut sess = Session::new(SessionConfig::default(), 0, 1);
    sess.feed(1, &bytes).unwrap();
    assert!(matches!(sess.poll_event(), Some(Event::Connect(_))));
    sess.reject_connect("go away");
    assert!(sess.is_closing());
    let mut out = Vec::new();
    while let Some(b) = sess.poll_transmit() {
        out.extend_from_slice(&b);
    }
    assert_eq!(status_codes(&out), ["NetConnection.Connect.Rejected"]);
    let cmds = server_commands(&out);
    assert_eq!(cmds[0].1[3].get_str("description"), Some("go away"));
    // Further input is ignored while closing.
    assert_eq!(sess.feed(2, b"\x05garbage"), Ok(()));

    // Publish rejected (busy / unauthorized).
    for (reason, code, desc) in [
        (
            Rejection::Busy,
            "NetStream.Publish.BadName",
            "Already publishing",
        ),
        (
            Rejection::Unauthorized("bad key".into()),
            "NetStream.Publish.Denied",
            "bad key",
        ),
        (
            Rejection::BadName,
            "NetStream.Publish.BadName",
            "Invalid stream name",
        ),
    ] {
        let bytes = session_bytes(|c| {
            publishing(c);
            c.raw(6, 0, 9, 1, &[0x17, 0]);
        });
        let mut sess = Session::new(SessionConfig::default(), 0, 1);
        sess.feed(1, &bytes).unwrap();
        let mut out = Vec::new();
        while let Some(ev) = sess.poll_event() {
            match ev {
                Event::Connect(_) => sess.accept_connect(),
                Event::Publish(p) => sess.reject_publish(p.stream_id, reason.clone()),
                e => panic!("unexpected {e:?}"),
            }
        }
        assert!(sess.is_closing());
        while let Some(b) = sess.poll_transmit() {
            out.extend_from_slice(&b);
        }
        let cmds = server_commands(&out);
        let last = &cmds.last().unwrap().1;
        assert_eq!(last[0].as_str(), Some("onStatus"));
        assert_eq!(last[3].get_str("level"), Some("error"));
        assert_eq!(last[3].get_str("code"), Some(code));
        assert_eq!(last[3].get_str("description"), Some(desc));
        assert_eq!(sess.handle_timeout(2), Ok(()));
    }
}

#[test]
fn play_flow() {
    let bytes = session_bytes(|c| {
        with_stream(c);
        c.raw(2, 0, 4, 0, &[0, 3, 0, 0, 0, 1, 0, 0, 0x0B, 0xB8]); // buffer length
        c.command(
            1,
            &[s("play"), n(0.0), Value::Null, s("cam?tok=1"), n(-2.0)],
        );
        c.command(0, &[s("deleteStream"), n(5.0), Value::Null, n(1.0)]);
    });
    let o = run(SessionConfig::default(), &bytes);
    assert_eq!(o.error, None);
    match &o.events[1] {
        Event::Play(p) => {
            assert_eq!(p.stream_id, 1);
            assert_eq!(p.name, "cam");
            assert_eq!(p.args, "tok=1");
            assert_eq!(p.start, -2.0);
            assert_eq!(p.duration, -1.0);
            assert!(p.reset);
        }
        e => panic!("{e:?}"),
    }
    assert_eq!(o.events[2], Event::StopPlay { stream_id: 1 });
    assert_eq!(
        status_codes(&o.output),
        [
            "NetConnection.Connect.Success",
            "NetStream.Play.Reset",
            "NetStream.Play.Start"
        ]
    );
    let msgs = server_messages(&o.output);
    assert!(msgs
        .iter()
        .any(|m| m.type_id == 4 && m.payload.as_ref() == [0, 0, 0, 0, 0, 1]));
    let cmds = server_commands(&o.output);
    assert!(cmds
        .iter()
        .any(|(sid, v)| *sid == 1 && v[0].as_str() == Some("|RtmpSampleAccess")));

    // Refused play.
    let bytes = session_bytes(|c| {
        with_stream(c);
        c.command(1, &[s("play"), n(0.0), Value::Null, s("nope")]);
    });
    let mut sess = Session::new(SessionConfig::default(), 0, 1);
    sess.feed(1, &bytes).unwrap();
    while let Some(ev) = sess.poll_event() {
        match ev {
            Event::Connect(_) => sess.accept_connect(),
            Event::Play(p) => sess.reject_play(p.stream_id, Rejection::NotFound),
            e => panic!("{e:?}"),
        }
    }
    assert!(sess.is_closing());
    let mut out = Vec::new();
    while let Some(b) = sess.poll_transmit() {
        out.extend_from_slice(&b);
    }
    assert_eq!(
        status_codes(&out).last().map(String::as_str),
        Some("NetStream.Play.StreamNotFound")
    );
}

#[test]
fn close_stream_and_delete_stream_unpublish() {
    for close in [true, false] {
        let bytes = session_bytes(|c| {
            publishing(c);
            c.raw(6, 10, 9, 1, &[0x17, 1]);
            if close {
                c.command(1, &[s("closeStream"), n(0.0), Value::Null]);
            } else {
                c.command(0, &[s("deleteStream"), n(6.0), Value::Null, n(1.0)]);
            }
        });
        let o = run(SessionConfig::default(), &bytes);
        assert_eq!(o.error, None);
        assert_eq!(o.events.last(), Some(&Event::Unpublish { stream_id: 1 }));
        assert_eq!(
            status_codes(&o.output).last().map(String::as_str),
            Some("NetStream.Unpublish.Success")
        );
    }
}

#[test]
fn too_many_streams() {
    let config = SessionConfig {
        max_streams: 2,
        ..SessionConfig::default()
    };
    let bytes = session_bytes(|c| {
        connected(c);
        for i in 0..3 {
            c.command(0, &[s("createStream"), n(2.0 + i as f64), Value::Null]);
        }
    });
    let o = run(config, &bytes);
    assert_eq!(order_error(&o), OrderError::TooManyStreams { max: 2 });
    let cmds = server_commands(&o.output);
    assert_eq!(cmds.last().unwrap().1[0].as_str(), Some("_error"));
    // Deleted streams free their slot.
    let bytes = session_bytes(|c| {
        connected(c);
        for i in 0..5 {
            c.command(0, &[s("createStream"), n(2.0), Value::Null]);
            c.command(
                0,
                &[s("deleteStream"), n(0.0), Value::Null, n(1.0 + i as f64)],
            );
        }
    });
    let o = run(
        SessionConfig {
            max_streams: 1,
            ..SessionConfig::default()
        },
        &bytes,
    );
    assert_eq!(o.error, None);
}

#[test]
fn ping_request_is_answered_and_acks_are_sent() {
    let bytes = session_bytes(|c| {
        c.window_ack(1000);
        connected(c);
        c.raw(2, 0, 4, 0, &[0, 6, 0, 0, 0x12, 0x34]);
    });
    let o = run(SessionConfig::default(), &bytes);
    assert_eq!(o.error, None);
    let msgs = server_messages(&o.output);
    assert!(msgs
        .iter()
        .any(|m| m.type_id == 4 && m.payload.as_ref() == [0, 7, 0, 0, 0x12, 0x34]));
    let ack = msgs
        .iter()
        .find(|m| m.type_id == 3)
        .expect("acknowledgement");
    let seq = u32::from_be_bytes(ack.payload[..4].try_into().unwrap());
    assert!(seq >= 1000);
}

#[test]
fn unknown_commands_get_a_result_only_with_a_transaction_id() {
    let bytes = session_bytes(|c| {
        connected(c);
        c.command(0, &[s("_checkbw"), n(9.0), Value::Null]);
        c.command(0, &[s("someNotification"), n(0.0), Value::Null]);
        c.command(0, &[s("getStreamLength"), n(10.0), Value::Null, s("x")]);
        c.command(0, &[s("_result"), n(11.0), Value::Null]);
    });
    let o = run(SessionConfig::default(), &bytes);
    assert_eq!(o.error, None);
    let tx: Vec<f64> = server_commands(&o.output)
        .iter()
        .map(|(_, v)| v[1].as_f64().unwrap())
        .collect();
    assert_eq!(tx, [1.0, 9.0, 10.0]);
}

#[test]
fn amf3_command_and_data_messages() {
    let bytes = session_bytes(|c| {
        let mut body = vec![0u8];
        body.extend_from_slice(&amf0::encode_to_bytes(&connect_values("live")));
        c.raw(3, 0, 17, 0, &body);
        c.command(0, &[s("createStream"), n(2.0), Value::Null]);
        c.command(1, &[s("publish"), n(3.0), Value::Null, s("k")]);
        let mut data = vec![0u8];
        data.extend_from_slice(&amf0::encode_to_bytes(&metadata_values()));
        c.raw(4, 0, 15, 1, &data);
    });
    let o = run(SessionConfig::default(), &bytes);
    assert_eq!(o.error, None);
    assert!(matches!(o.events[0], Event::Connect(_)));
    assert!(matches!(o.events[2], Event::Metadata { stream_id: 1, .. }));
    // A real AMF3 body (format byte not 0) is unsupported.
    let bytes = session_bytes(|c| c.raw(3, 0, 17, 0, &[0x11, 0x06, 0x0f]));
    let o = run(SessionConfig::default(), &bytes);
    assert_eq!(o.error.unwrap().blame(), Blame::Unsupported);
}

#[test]
fn aggregate_messages_are_split_with_rebased_timestamps() {
    use support::flv::tag_bytes as tag;
    let mut agg = tag(9, 1000, &[0x17, 1, 2]);
    agg.extend(tag(8, 1020, &[0xaf, 1]));
    agg.extend(tag(9, 1040, &[0x27, 1, 3]));
    let bytes = session_bytes(|c| {
        publishing(c);
        c.raw(6, 5000, 22, 1, &agg);
    });
    let o = run(SessionConfig::default(), &bytes);
    assert_eq!(o.error, None);
    let media: Vec<(bool, u32, Vec<u8>)> = o
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Audio {
                timestamp, payload, ..
            } => Some((true, *timestamp, payload.to_vec())),
            Event::Video {
                timestamp, payload, ..
            } => Some((false, *timestamp, payload.to_vec())),
            _ => None,
        })
        .collect();
    assert_eq!(
        media,
        [
            (false, 5000, vec![0x17, 1, 2]),
            (true, 5020, vec![0xaf, 1]),
            (false, 5040, vec![0x27, 1, 3])
        ]
    );
    // Truncated aggregate.
    let bytes = session_bytes(|c| {
        publishing(c);
        c.raw(6, 5000, 22, 1, &agg[..agg.len() - 5]);
    });
    let o = run(SessionConfig::default(), &bytes);
    assert!(matches!(o.error, Some(SessionError::Message(_))));
}

#[test]
fn bare_on_metadata_and_other_data_are_handled() {
    let bytes = session_bytes(|c| {
        publishing(c);
        c.data(1, &[s("onMetaData"), Value::object([("width", n(640.0))])]);
        c.data(1, &[s("onTextData"), Value::object([("text", s("hi"))])]);
    });
    let o = run(SessionConfig::default(), &bytes);
    assert_eq!(o.error, None);
    let metas: Vec<_> = o
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Metadata { data, .. } => Some(amf0::decode_all(data, 8).unwrap()),
            _ => None,
        })
        .collect();
    assert_eq!(metas.len(), 1);
    assert_eq!(metas[0][0].as_str(), Some("onMetaData"));
    assert_eq!(metas[0][1].get_f64("width"), Some(640.0));
}

#[test]
fn counters() {
    let bytes = ffmpeg_publish(false, None);
    let mut sess = Session::new(SessionConfig::default(), 0, 1);
    let mut out = Outcome::default();
    sess.feed(1, &bytes).unwrap();
    drain(&mut sess, &mut out, true);
    assert_eq!(sess.bytes_received(), bytes.len() as u64);
    assert_eq!(sess.bytes_sent(), out.output.len() as u64);
    assert_eq!(sess.peer_chunk_size(), 128);
}

#[test]
fn record_notices_reach_the_publisher_as_statuses() {
    let mut session = Session::new(SessionConfig::default(), 1000, 42);
    let mut out = Outcome::default();
    session.feed(1001, &ffmpeg_publish(false, None)).unwrap();
    drain(&mut session, &mut out, true);
    let before = out.output.len();
    session.notify_record(1, RecordNotice::Start, "/rec/cam.flv");
    session.notify_record(1, RecordNotice::Stop, "/rec/cam.flv");
    session.notify_record(1, RecordNotice::Failed, "/rec/cam-1.flv.part");
    drain(&mut session, &mut out, true);
    assert!(out.output.len() > before);
    let statuses: Vec<(u32, String, String, String)> = server_commands(&out.output)
        .into_iter()
        .filter_map(|(msid, v)| {
            let info = v.get(3)?;
            let code = info.get_str("code")?;
            code.starts_with("NetStream.Record").then(|| {
                (
                    msid,
                    code.to_owned(),
                    info.get_str("level").unwrap_or_default().to_owned(),
                    info.get_str("description").unwrap_or_default().to_owned(),
                )
            })
        })
        .collect();
    let want = |code: &str, level: &str, d: &str| (1, code.into(), level.into(), d.into());
    assert_eq!(
        statuses,
        [
            want("NetStream.Record.Start", "status", "/rec/cam.flv"),
            want("NetStream.Record.Stop", "status", "/rec/cam.flv"),
            want("NetStream.Record.Failed", "error", "/rec/cam-1.flv.part"),
        ]
    );
}
