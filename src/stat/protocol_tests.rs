//! The client's protocol (`rtmp`, `rtmps`) in every format.

use super::tests::{client, ctx, layout, snapshot, stream};
use super::*;

fn view_with_tls_publisher() -> (Snapshot, StatView) {
    let publisher = ClientStat {
        tls: true,
        ..client(1, true)
    };
    let snap = snapshot(
        10,
        vec![stream("cam", true, vec![publisher, client(2, false)])],
    );
    let view = merge(&ctx(), &layout(), vec![snap.clone()]);
    (snap, view)
}

#[test]
fn rtmps_clients_say_so() {
    let (snap, view) = view_with_tls_publisher();
    let b = codec::encode(&snap, 1 << 20).unwrap();
    assert_eq!(codec::decode(&b).unwrap(), snap);

    let x = xml::render(&view, Sections::ALL, None);
    assert_eq!(x.matches("<protocol>rtmps</protocol>").count(), 1, "{x}");
    assert!(
        !x.contains("<protocol>rtmp<"),
        "plain clients as nginx-rtmp: {x}"
    );

    let j = json::render(&view, Sections::ALL);
    assert_eq!(j.matches("\"protocol\":\"rtmps\"").count(), 1, "{j}");
    assert_eq!(j.matches("\"protocol\":\"rtmp\"").count(), 1, "{j}");
}

#[test]
fn http_flv_players_say_so() {
    let player = ClientStat {
        http: true,
        ..client(2, false)
    };
    let snap = snapshot(10, vec![stream("cam", true, vec![client(1, true), player])]);
    let view = merge(&ctx(), &layout(), vec![snap.clone()]);
    let b = codec::encode(&snap, 1 << 20).unwrap();
    assert_eq!(codec::decode(&b).unwrap(), snap);
    let x = xml::render(&view, Sections::ALL, None);
    assert_eq!(x.matches("<protocol>http-flv</protocol>").count(), 1, "{x}");
    let j = json::render(&view, Sections::ALL);
    assert_eq!(j.matches("\"protocol\":\"http-flv\"").count(), 1, "{j}");
    assert_eq!(j.matches("\"protocol\":\"rtmp\"").count(), 1, "{j}");
}
