//! The RTMP client session against our server session, in memory: bytes
//! pumped both ways, in small pieces, until neither side has more to say.

use bytes::Bytes;
use ngx_rtmp::amf0::{self, Value};
use ngx_rtmp::rtmp::chunk::PreparedMessage;
use ngx_rtmp::rtmp::client::{
    ClientBlame, ClientConfig, ClientError, ClientEvent, ClientSession, ClientState,
    HandshakeStyle, Mode, StreamEndReason,
};
use ngx_rtmp::rtmp::handshake::HandshakeKind;
use ngx_rtmp::rtmp::message::csid;
use ngx_rtmp::rtmp::{Event, Rejection, Session, SessionConfig};

/// How the test's server answers requests.
#[derive(Clone)]
enum Answer {
    Accept,
    RejectConnect,
    Reject(Rejection),
}

struct Pair {
    client: ClientSession,
    server: Session,
    client_events: Vec<ClientEvent>,
    server_events: Vec<Event>,
    client_error: Option<ClientError>,
    answer: Answer,
    now: u64,
    /// Bytes moved per feed call (to exercise partial input).
    piece: usize,
}

impl Pair {
    fn new(config: ClientConfig, answer: Answer, piece: usize) -> Pair {
        Pair {
            client: ClientSession::new(config),
            server: Session::new(SessionConfig::default(), 1000, 11),
            client_events: Vec::new(),
            server_events: Vec::new(),
            client_error: None,
            answer,
            now: 1000,
            piece,
        }
    }

    /// Moves bytes both ways until both sides are quiet.
    fn pump(&mut self) {
        for _ in 0..10_000 {
            let mut moved = false;
            while let Some(b) = self.client.poll_output() {
                moved = true;
                for p in b.chunks(self.piece) {
                    self.now += 1;
                    self.server.feed(self.now, p).expect("server feed");
                    self.serve();
                }
            }
            self.serve();
            while let Some(b) = self.server.poll_transmit() {
                moved = true;
                for p in b.chunks(self.piece) {
                    if self.client_error.is_some() {
                        break;
                    }
                    if let Err(e) = self.client.feed(p) {
                        self.client_error = Some(e);
                    }
                }
            }
            while let Some(e) = self.client.poll_event() {
                self.client_events.push(e);
            }
            if !moved {
                return;
            }
        }
        panic!("pump did not settle");
    }

    fn serve(&mut self) {
        while let Some(ev) = self.server.poll_event() {
            match (&ev, self.answer.clone()) {
                (Event::Connect(_), Answer::RejectConnect) => self.server.reject_connect("go away"),
                (Event::Connect(_), _) => self.server.accept_connect(),
                (Event::Publish(p), Answer::Accept) => self.server.accept_publish(p.stream_id),
                (Event::Publish(p), Answer::Reject(r)) => {
                    self.server.reject_publish(p.stream_id, r)
                }
                (Event::Play(p), Answer::Accept) => self.server.accept_play(p.stream_id),
                (Event::Play(p), Answer::Reject(r)) => self.server.reject_play(p.stream_id, r),
                _ => {}
            }
            self.server_events.push(ev);
        }
    }
}

fn config(mode: Mode) -> ClientConfig {
    let mut c = ClientConfig::new("live", "rtmp://127.0.0.1:1935/live", "cam1", mode);
    c.swf_url = "http://example.com/player.swf".into();
    c.page_url = "http://example.com/".into();
    c.flash_ver = "FMLE/3.0 (compatible; ngx-rtmp)".into();
    c
}

fn media(i: u32, len: usize) -> Bytes {
    (0..len)
        .map(|j| (j as u32 ^ i) as u8)
        .collect::<Vec<u8>>()
        .into()
}

#[test]
fn publish_reaches_the_server_and_media_arrives_intact() {
    for (style, piece) in [
        (HandshakeStyle::Digest, 1 << 20),
        (HandshakeStyle::Plain, 7),
    ] {
        let mut c = config(Mode::Publish);
        c.handshake = style;
        c.chunk_size = 1000;
        let mut pair = Pair::new(c, Answer::Accept, piece);
        pair.pump();
        assert_eq!(pair.client_error, None);
        assert_eq!(pair.client.state(), ClientState::Publishing);
        assert_eq!(
            pair.client_events,
            vec![ClientEvent::Connected, ClientEvent::Publishing]
        );
        let expected_kind = match style {
            HandshakeStyle::Digest => HandshakeKind::Digest { scheme: 0 },
            HandshakeStyle::Plain => HandshakeKind::Plain,
        };
        assert_eq!(pair.server.handshake_kind(), Some(expected_kind));
        assert_eq!(pair.client.server_handshake(), Some(expected_kind));
        assert_eq!(pair.server.peer_chunk_size(), 1000);

        let Some(Event::Connect(req)) = pair.server_events.first() else {
            panic!("no connect: {:?}", pair.server_events);
        };
        assert_eq!(req.app, "live");
        assert_eq!(req.tc_url, "rtmp://127.0.0.1:1935/live");
        assert_eq!(req.swf_url, "http://example.com/player.swf");
        assert_eq!(req.page_url, "http://example.com/");
        assert_eq!(req.flashver, "FMLE/3.0 (compatible; ngx-rtmp)");
        assert_eq!(req.object_encoding, 0.0);
        let publish = pair.server_events.iter().find_map(|e| match e {
            Event::Publish(p) => Some(p.clone()),
            _ => None,
        });
        let publish = publish.expect("publish request");
        assert_eq!(publish.name, "cam1");
        assert_eq!(publish.kind.as_str(), "live");
        assert_eq!(pair.client.stream_id(), Some(publish.stream_id));

        // Metadata, then media of several sizes, some larger than a chunk,
        // one with an extended timestamp.
        let meta = amf0::encode_to_bytes(&[
            Value::from("@setDataFrame"),
            Value::from("onMetaData"),
            Value::EcmaArray(vec![("width".into(), Value::Number(640.0))]),
        ]);
        pair.client.send_media(18, 0, &meta).unwrap();
        // send_metadata wraps an onMetaData body (what the server reports).
        let on_meta = amf0::encode_to_bytes(&[
            Value::from("onMetaData"),
            Value::EcmaArray(vec![("height".into(), Value::Number(360.0))]),
        ]);
        pair.client.send_metadata(0, &on_meta).unwrap();
        let mut sent = Vec::new();
        for i in 0..40u32 {
            let type_id = if i % 3 == 0 { 8 } else { 9 };
            let ts = if i == 39 { 0x0100_0000 } else { i * 33 };
            let payload = media(i, 1 + (i as usize * 577) % 5000);
            pair.client.send_media(type_id, ts, &payload).unwrap();
            sent.push((type_id, ts, payload));
        }
        pair.pump();
        assert_eq!(pair.client_error, None);
        let got: Vec<(u8, u32, Bytes)> = pair
            .server_events
            .iter()
            .filter_map(|e| match e {
                Event::Audio {
                    timestamp, payload, ..
                } => Some((8, *timestamp, payload.clone())),
                Event::Video {
                    timestamp, payload, ..
                } => Some((9, *timestamp, payload.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(got, sent);
        let metas: Vec<Bytes> = pair
            .server_events
            .iter()
            .filter_map(|e| match e {
                Event::Metadata { data, .. } => Some(data.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(metas.len(), 2);
        assert_eq!(metas[1], on_meta);

        // A polite close ends the publish on the server.
        pair.client.close();
        pair.pump();
        assert_eq!(pair.client.state(), ClientState::Closed);
        assert!(pair
            .server_events
            .iter()
            .any(|e| matches!(e, Event::Unpublish { .. })));
        assert!(matches!(
            pair.client.send_media(9, 0, &Bytes::from_static(b"x")),
            Err(ClientError::NotPublishing { .. })
        ));
    }
}

#[test]
fn client_acknowledges_the_servers_window() {
    let mut pair = Pair::new(config(Mode::Play), Answer::Accept, 4096);
    pair.pump();
    assert_eq!(pair.client.state(), ClientState::Playing);
    let stream_id = pair.client.stream_id().unwrap();
    // The server's window is 5 000 000: send more than that in media.
    let payload = media(1, 100_000);
    let before = pair.client.bytes_sent();
    for i in 0..60 {
        let msg = PreparedMessage::new(csid::VIDEO, 4096, 9, i * 40, &payload);
        assert!(pair.server.send_prepared(stream_id, &msg));
        pair.pump();
    }
    assert_eq!(pair.client_error, None);
    assert!(pair.client.bytes_received() > 5_000_000);
    // Acknowledgements are all the client says while playing: one per
    // window, 12 bytes each (an fmt 1 header after the first control
    // message, and the sequence number).
    let acked = pair.client.bytes_sent() - before;
    assert_eq!(acked, 12, "one acknowledgement for 6 MB with a 5 MB window");
}

#[test]
fn play_receives_what_the_server_sends() {
    let mut pair = Pair::new(config(Mode::Play), Answer::Accept, 100);
    pair.pump();
    assert_eq!(pair.client_error, None);
    assert_eq!(pair.client.state(), ClientState::Playing);
    assert!(pair.client_events.contains(&ClientEvent::Playing));
    let play = pair.server_events.iter().find_map(|e| match e {
        Event::Play(p) => Some(p.clone()),
        _ => None,
    });
    let play = play.expect("play request");
    assert_eq!(play.name, "cam1");
    let stream_id = play.stream_id;
    pair.client_events.clear();

    let meta = amf0::encode_to_bytes(&[
        Value::from("onMetaData"),
        Value::EcmaArray(vec![("width".into(), Value::Number(640.0))]),
    ]);
    let msg = PreparedMessage::new(csid::DATA, pair.server.chunk_size(), 18, 0, &meta);
    assert!(pair.server.send_prepared(stream_id, &msg));
    let mut sent = Vec::new();
    for i in 0..30u32 {
        let type_id = if i % 2 == 0 { 8 } else { 9 };
        let payload = media(i, 10 + (i as usize * 997) % 9000);
        let msg = PreparedMessage::new(
            csid::for_media(type_id),
            pair.server.chunk_size(),
            type_id,
            1000 + i * 20,
            &payload,
        );
        assert!(pair.server.send_prepared(stream_id, &msg));
        sent.push(ClientEvent::Media {
            type_id,
            timestamp: 1000 + i * 20,
            payload,
        });
    }
    assert!(pair.server.send_unpublish_notify(stream_id));
    pair.pump();
    assert_eq!(pair.client_error, None);
    let mut expected = vec![ClientEvent::Metadata {
        timestamp: 0,
        data: meta,
    }];
    expected.extend(sent);
    let got: Vec<ClientEvent> = pair
        .client_events
        .iter()
        .filter(|e| matches!(e, ClientEvent::Media { .. } | ClientEvent::Metadata { .. }))
        .cloned()
        .collect();
    assert_eq!(got, expected);
    assert!(pair
        .client_events
        .iter()
        .any(|e| *e == ClientEvent::StreamEnd(StreamEndReason::UnpublishNotify)));
}

#[test]
fn refused_publish_is_a_typed_error() {
    let mut pair = Pair::new(config(Mode::Publish), Answer::Reject(Rejection::Busy), 4096);
    pair.pump();
    let err = pair.client_error.clone().expect("an error");
    assert_eq!(
        err,
        ClientError::PublishRefused {
            code: "NetStream.Publish.BadName".into(),
            description: "Already publishing".into()
        }
    );
    assert_eq!(err.blame(), ClientBlame::Refused);
    assert_eq!(pair.client.state(), ClientState::Closed);
    assert_eq!(pair.client.feed(b"x"), Err(ClientError::Closed));
}

#[test]
fn refused_play_is_a_typed_error() {
    let mut pair = Pair::new(
        config(Mode::Play),
        Answer::Reject(Rejection::NotFound),
        4096,
    );
    pair.pump();
    assert!(matches!(
        pair.client_error,
        Some(ClientError::PlayRefused { ref code, .. }) if code == "NetStream.Play.StreamNotFound"
    ));
}

#[test]
fn refused_connect_is_a_typed_error() {
    let mut pair = Pair::new(config(Mode::Publish), Answer::RejectConnect, 4096);
    pair.pump();
    assert!(matches!(
        pair.client_error,
        Some(ClientError::ConnectRejected { ref code, ref description })
            if code == "NetConnection.Connect.Rejected" && description == "go away"
    ));
}

#[test]
fn media_before_publish_start_is_refused_locally() {
    let mut client = ClientSession::new(config(Mode::Publish));
    assert_eq!(client.state(), ClientState::Handshaking);
    assert!(matches!(
        client.send_media(9, 0, &Bytes::from_static(b"x")),
        Err(ClientError::NotPublishing {
            state: ClientState::Handshaking
        })
    ));
    // Garbage instead of S0: a handshake error, then the session is closed.
    assert!(matches!(
        client.feed(b"HTTP/1.0 400 Bad Request\r\n"),
        Err(ClientError::Handshake(_))
    ));
    assert_eq!(client.feed(b""), Err(ClientError::Closed));
}
