use bytes::BytesMut;

use super::*;
use crate::rtmp::chunk::{ChunkDecoder, ChunkEncoder};
use crate::rtmp::client::{ClientConfig, ClientState};
use crate::rtmp::command::{parse_command, Command};
use crate::rtmp::config::Limits;
use crate::rtmp::handshake::PACKET_LEN;
use crate::rtmp::message::control_body;
use crate::rtmp::status;

/// A scripted server: writes messages with our encoder and reads what
/// the client sends with our decoder.
struct Script {
    client: ClientSession,
    enc: ChunkEncoder,
    dec: ChunkDecoder,
    wire: Vec<u8>,
    read: usize,
}

impl Script {
    fn new(mode: Mode) -> Script {
        let mut client = ClientSession::new(ClientConfig::new("app", "rtmp://h/app", "s", mode));
        let c0c1 = client.poll_output().unwrap();
        assert_eq!(c0c1.len(), 1 + PACKET_LEN);
        let mut s = vec![3u8];
        s.extend_from_slice(&[0u8; 2 * PACKET_LEN]);
        client.feed(&s).unwrap();
        assert_eq!(client.state(), ClientState::Connecting);
        let mut script = Script {
            client,
            enc: ChunkEncoder::new(),
            dec: ChunkDecoder::new(&Limits::default()),
            wire: Vec::new(),
            read: 0,
        };
        // Skip C2 (the echo of our S1).
        script.collect();
        script.read = PACKET_LEN;
        script
    }

    fn collect(&mut self) {
        while let Some(b) = self.client.poll_output() {
            self.wire.extend_from_slice(&b);
        }
    }

    /// Messages the client sent since the last call.
    fn sent(&mut self) -> Vec<RawMessage> {
        self.collect();
        let mut out = Vec::new();
        loop {
            let (n, m) = self.dec.decode(&self.wire[self.read..]).unwrap();
            self.read += n;
            match m {
                Some(m) => out.push(m),
                None => return out,
            }
        }
    }

    fn commands(&mut self) -> Vec<Command> {
        self.sent()
            .into_iter()
            .filter(|m| m.type_id == types::COMMAND_AMF0)
            .map(|m| parse_command(&amf0::decode_all(&m.payload, 8).unwrap()).unwrap())
            .collect()
    }

    fn send(
        &mut self,
        type_id: u8,
        stream_id: u32,
        ts: u32,
        payload: &[u8],
    ) -> Result<(), ClientError> {
        let mut b = BytesMut::new();
        self.enc
            .write(&mut b, 3, ts, type_id, stream_id, payload)
            .unwrap();
        self.client.feed(&b)
    }

    fn command(&mut self, stream_id: u32, values: &[Value]) -> Result<(), ClientError> {
        self.send(
            types::COMMAND_AMF0,
            stream_id,
            0,
            &amf0::encode_to_bytes(values),
        )
    }

    fn events(&mut self) -> Vec<ClientEvent> {
        std::iter::from_fn(|| self.client.poll_event()).collect()
    }

    /// Answers connect and createStream (stream 1).
    fn answer_connect_and_create(&mut self) {
        let cmds = self.commands();
        let connect = cmds.iter().find(|c| c.name() == "connect").unwrap();
        let t = connect.transaction_id();
        self.command(0, &status::connect_result(t, 0.0, false))
            .unwrap();
        let cmds = self.commands();
        let create = cmds.iter().find(|c| c.name() == "createStream").unwrap();
        let t = create.transaction_id();
        self.command(0, &status::result(t, Value::Number(1.0)))
            .unwrap();
    }
}

#[test]
fn connect_object_and_publish_sequence() {
    let mut s = Script::new(Mode::Publish);
    let sent = s.sent();
    // Set Chunk Size, Window Ack Size, connect.
    assert_eq!(sent[0].type_id, types::SET_CHUNK_SIZE);
    assert_eq!(sent[1].type_id, types::WINDOW_ACK_SIZE);
    let values = amf0::decode_all(&sent[2].payload, 8).unwrap();
    let Command::Connect { object, .. } = parse_command(&values).unwrap() else {
        panic!("not connect");
    };
    let get = |k: &str| object.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(get("app"), Some(Value::from("app")));
    assert_eq!(get("tcUrl"), Some(Value::from("rtmp://h/app")));
    assert_eq!(get("objectEncoding"), Some(Value::Number(0.0)));
    assert_eq!(get("swfUrl"), None);
    s.command(0, &status::connect_result(1.0, 0.0, false))
        .unwrap();
    let names: Vec<String> = s.commands().iter().map(|c| c.name().to_owned()).collect();
    assert_eq!(names, ["releaseStream", "FCPublish", "createStream"]);
    assert_eq!(s.client.state(), ClientState::CreatingStream);
    s.command(0, &status::result(4.0, Value::Number(1.0)))
        .unwrap();
    let cmds = s.commands();
    assert!(
        matches!(&cmds[..], [Command::Publish { name, kind, .. }] if name == "s" && kind == "live")
    );
    assert_eq!(s.client.state(), ClientState::StartingPublish);
    // Results to other transactions and unknown commands change nothing.
    s.command(0, &status::result(2.0, Value::Null)).unwrap();
    s.command(0, &status::error(3.0, "x", "y")).unwrap();
    s.command(
        0,
        &[Value::from("onBWDone"), Value::Number(0.0), Value::Null],
    )
    .unwrap();
    assert_eq!(s.client.state(), ClientState::StartingPublish);
    s.command(1, &status::on_status("status", code::PUBLISH_START, "ok"))
        .unwrap();
    assert_eq!(s.client.state(), ClientState::Publishing);
    assert_eq!(
        s.events(),
        vec![ClientEvent::Connected, ClientEvent::Publishing]
    );
}

#[test]
fn create_stream_answers_that_are_not_usable() {
    for bad in [
        Value::Null,
        Value::Number(-1.0),
        Value::Number(1.5),
        Value::Number(f64::NAN),
        Value::Number(1e12),
    ] {
        let mut s = Script::new(Mode::Play);
        s.command(0, &status::connect_result(1.0, 0.0, false))
            .unwrap();
        assert_eq!(
            s.command(0, &status::result(2.0, bad)),
            Err(ClientError::BadStreamId)
        );
        assert_eq!(s.client.state(), ClientState::Closed);
    }
    let mut s = Script::new(Mode::Play);
    s.command(0, &status::connect_result(1.0, 0.0, false))
        .unwrap();
    assert!(matches!(
        s.command(0, &status::error(2.0, "NetConnection.Call.Failed", "no")),
        Err(ClientError::CommandFailed {
            command: "createStream",
            ..
        })
    ));
}

#[test]
fn play_sequence_media_and_end() {
    let mut s = Script::new(Mode::Play);
    s.answer_connect_and_create();
    let sent = s.sent();
    let play = sent
        .iter()
        .find(|m| m.type_id == types::COMMAND_AMF0)
        .unwrap();
    assert_eq!(play.stream_id, 1);
    let values = amf0::decode_all(&play.payload, 8).unwrap();
    assert!(
        matches!(parse_command(&values).unwrap(), Command::Play { name, start, .. } if name == "s" && start == -1000.0)
    );
    assert!(sent.iter().any(|m| m.type_id == types::USER_CONTROL));
    // Media before Play.Start is kept; media on another stream is not.
    s.send(types::VIDEO, 1, 5, b"early").unwrap();
    s.send(types::VIDEO, 2, 5, b"other").unwrap();
    s.command(1, &status::on_status("status", code::PLAY_RESET, "reset"))
        .unwrap();
    s.command(1, &status::on_status("status", code::PLAY_START, "go"))
        .unwrap();
    // Data: @setDataFrame is unwrapped, AMF3 data has its format byte
    // dropped, |RtmpSampleAccess is ignored.
    let meta = [
        Value::from("@setDataFrame"),
        Value::from("onMetaData"),
        Value::EcmaArray(vec![]),
    ];
    s.send(types::DATA_AMF0, 1, 0, &amf0::encode_to_bytes(&meta))
        .unwrap();
    let mut amf3 = vec![0u8];
    amf3.extend_from_slice(&amf0::encode_to_bytes(&meta[1..]));
    s.send(types::DATA_AMF3, 1, 0, &amf3).unwrap();
    s.send(
        types::DATA_AMF0,
        1,
        0,
        &amf0::encode_to_bytes(&status::sample_access()),
    )
    .unwrap();
    // An aggregate of two tags.
    let mut agg = Vec::new();
    for (t, ts, body) in [(8u8, 100u32, &b"aa"[..]), (9, 140, &b"vvv"[..])] {
        agg.push(t);
        agg.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        agg.extend_from_slice(&ts.to_be_bytes()[1..]);
        agg.push(0);
        agg.extend_from_slice(&[0, 0, 0]);
        agg.extend_from_slice(body);
        agg.extend_from_slice(&(11 + body.len() as u32).to_be_bytes());
    }
    s.send(types::AGGREGATE, 1, 1000, &agg).unwrap();
    let (_, ping) = control_body(&Control::UserControl(Uc::PingRequest(77)));
    s.send(types::USER_CONTROL, 0, 0, &ping).unwrap();
    let (_, eof) = control_body(&Control::UserControl(Uc::StreamEof(1)));
    s.send(types::USER_CONTROL, 0, 0, &eof).unwrap();
    s.command(
        1,
        &status::on_status("status", code::PLAY_UNPUBLISH_NOTIFY, "gone"),
    )
    .unwrap();
    s.command(
        1,
        &status::on_status("status", code::PLAY_PUBLISH_NOTIFY, "back"),
    )
    .unwrap();
    let onmeta = amf0::encode_to_bytes(&meta[1..]);
    let media = |type_id, timestamp, p: &'static [u8]| ClientEvent::Media {
        type_id,
        timestamp,
        payload: Bytes::from_static(p),
    };
    assert_eq!(
        s.events(),
        vec![
            ClientEvent::Connected,
            media(9, 5, b"early"),
            ClientEvent::Status {
                level: "status".into(),
                code: code::PLAY_RESET.into(),
                description: "reset".into()
            },
            ClientEvent::Playing,
            ClientEvent::Metadata {
                timestamp: 0,
                data: onmeta.clone()
            },
            ClientEvent::Metadata {
                timestamp: 0,
                data: onmeta
            },
            media(8, 1000, b"aa"),
            media(9, 1040, b"vvv"),
            ClientEvent::StreamEnd(StreamEndReason::StreamEof),
            ClientEvent::StreamEnd(StreamEndReason::UnpublishNotify),
            ClientEvent::Status {
                level: "status".into(),
                code: code::PLAY_PUBLISH_NOTIFY.into(),
                description: "back".into()
            },
        ]
    );
    let pong = s.sent();
    assert!(pong.iter().any(|m| m.type_id == types::USER_CONTROL
        && parse_control(m.type_id, &m.payload).unwrap()
            == Some(Control::UserControl(Uc::PingResponse(77)))));
    // close: deleteStream on our stream.
    s.client.close();
    let cmds = s.commands();
    assert!(matches!(&cmds[..], [Command::DeleteStream { stream_id: Some(id), .. }] if *id == 1.0));
    assert_eq!(s.client.state(), ClientState::Closed);
    // Input after close is ignored.
    assert_eq!(s.send(types::VIDEO, 1, 0, b"late"), Ok(()));
    assert_eq!(s.events(), vec![]);
}

#[test]
fn malformed_server_messages_are_errors() {
    let mut s = Script::new(Mode::Play);
    assert!(matches!(
        s.send(types::COMMAND_AMF0, 0, 0, &[0x02, 0x00, 0x09, b'x']),
        Err(ClientError::Amf(_))
    ));
    let mut s = Script::new(Mode::Play);
    assert!(matches!(
        s.send(types::COMMAND_AMF3, 0, 0, &[0x11, 0x02]),
        Err(ClientError::Command(_))
    ));
    let mut s = Script::new(Mode::Play);
    assert!(matches!(
        s.send(types::WINDOW_ACK_SIZE, 0, 0, &[0, 1]),
        Err(ClientError::Message(_))
    ));
    let mut s = Script::new(Mode::Play);
    assert!(matches!(
        s.send(types::SET_CHUNK_SIZE, 0, 0, &[0, 0, 0, 0]),
        Err(ClientError::Chunk(_))
    ));
    // A command without a name, and an aggregate before play: ignored.
    let mut s = Script::new(Mode::Play);
    assert_eq!(s.command(0, &[Value::Number(1.0)]), Ok(()));
    assert_eq!(s.send(types::AGGREGATE, 1, 0, &[9, 9]), Ok(()));
    // A refused connect.
    let mut s = Script::new(Mode::Publish);
    assert!(matches!(
        s.command(0, &status::connect_rejected(1.0, "nope")),
        Err(ClientError::ConnectRejected { description, .. }) if description == "nope"
    ));
}

#[test]
fn publish_denied_is_a_refusal() {
    let mut s = Script::new(Mode::Publish);
    s.answer_connect_and_create();
    let r = s.command(
        1,
        &status::on_status("error", code::PUBLISH_DENIED, "bad key"),
    );
    assert_eq!(
        r,
        Err(ClientError::PublishRefused {
            code: code::PUBLISH_DENIED.into(),
            description: "bad key".into()
        })
    );
    assert!(r.unwrap_err().is_refusal());
}
