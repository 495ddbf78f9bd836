use bytes::Bytes;
use ngx_rtmp::rtmp::message::{
    control_body, parse_control, split_aggregate, Control, MessageError, UserControl,
};

#[test]
fn control_messages_roundtrip() {
    for c in [
        Control::SetChunkSize(4096),
        Control::Abort { csid: 6 },
        Control::Acknowledgement { sequence: 123_456 },
        Control::WindowAckSize(5_000_000),
        Control::SetPeerBandwidth {
            size: 5_000_000,
            limit_type: 2,
        },
        Control::UserControl(UserControl::StreamBegin(1)),
        Control::UserControl(UserControl::StreamEof(1)),
        Control::UserControl(UserControl::StreamDry(1)),
        Control::UserControl(UserControl::SetBufferLength {
            stream_id: 1,
            millis: 3000,
        }),
        Control::UserControl(UserControl::StreamIsRecorded(1)),
        Control::UserControl(UserControl::PingRequest(77)),
        Control::UserControl(UserControl::PingResponse(77)),
    ] {
        let (t, body) = control_body(&c);
        assert_eq!(parse_control(t, &body), Ok(Some(c)));
    }
    assert_eq!(parse_control(8, &[1, 2]), Ok(None));
    assert_eq!(
        parse_control(4, &[0, 26, 0, 0, 0, 0]),
        Ok(Some(Control::UserControl(UserControl::Unknown(26))))
    );
}

#[test]
fn short_control_payloads() {
    for t in 1..=6u8 {
        assert_eq!(
            parse_control(t, &[0]),
            Err(MessageError::ShortPayload { type_id: t })
        );
    }
    assert_eq!(
        parse_control(4, &[0, 3, 0, 0, 0, 1]),
        Err(MessageError::ShortPayload { type_id: 4 })
    );
}

#[test]
fn aggregate_edge_cases() {
    assert_eq!(split_aggregate(5, &Bytes::new()), Ok(vec![]));
    assert_eq!(
        split_aggregate(5, &Bytes::from_static(&[9, 0, 0])),
        Err(MessageError::BadAggregate)
    );
    let nested = Bytes::from_static(&[22, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 11]);
    assert_eq!(
        split_aggregate(5, &nested),
        Err(MessageError::NestedAggregate)
    );
    // Huge announced size.
    let huge = Bytes::from_static(&[9, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(split_aggregate(5, &huge), Err(MessageError::BadAggregate));
    // Sub-messages share the aggregate's allocation.
    let one = Bytes::from(vec![
        8u8, 0, 0, 2, 0, 0, 10, 0, 0, 0, 0, 0xAF, 1, 0, 0, 0, 13,
    ]);
    let subs = split_aggregate(100, &one).unwrap();
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].timestamp, 100);
    assert_eq!(subs[0].payload.as_ptr(), one[11..].as_ptr());
}
