//! Relays in the stat: carried by the snapshot codec, gathered from every worker by the
//! merge, rendered in XML, JSON and Prometheus.

use super::*;

fn relay(kind: &str, state: &str, target: &str, pid: u32) -> RelayStat {
    RelayStat {
        kind: kind.into(),
        state: state.into(),
        target: target.into(),
        addr: if state == "streaming" {
            "127.0.0.2:1935".into()
        } else {
            String::new()
        },
        bytes_out: 5000,
        bytes_in: 300,
        reconnects: 2,
        failures: u64::from(state == "backoff") * 3,
        last_error: if state == "backoff" {
            "connect: Connection refused <x>".into()
        } else {
            String::new()
        },
        time_in_state_ms: 2500,
        pid,
    }
}

fn snapshot(pid: u32, publishing: bool, relays: Vec<RelayStat>) -> Snapshot {
    Snapshot {
        pid,
        servers: vec![ServerCounters::default()],
        streams: vec![StreamStat {
            app: "live".into(),
            name: "cam".into(),
            publishing,
            active: true,
            relays,
            ..StreamStat::default()
        }],
        ..Snapshot::default()
    }
}

fn view() -> StatView {
    let layout = vec![ServerLayout {
        applications: vec![("live".into(), true)],
    }];
    let ctx = MergeContext {
        pid: 10,
        ..MergeContext::default()
    };
    // The publisher's worker runs the pushes; another worker mirrors the stream and (an
    // edge's pull in the future) may run a relay of its own.
    let a = snapshot(
        10,
        true,
        vec![
            relay("push", "streaming", "rtmp://b/live/cam", 10),
            relay("push", "backoff", "rtmp://a/live/cam", 10),
        ],
    );
    let b = snapshot(
        11,
        false,
        vec![relay("pull", "streaming", "rtmp://o/live/cam", 11)],
    );
    merge(&ctx, &layout, vec![b, a])
}

#[test]
fn relays_travel_in_the_snapshot() {
    let s = snapshot(
        10,
        true,
        vec![relay("push", "backoff", "rtmp://a/live/cam", 10)],
    );
    let b = codec::encode(&s, 1 << 20).unwrap();
    assert_eq!(codec::decode(&b).unwrap(), s);
}

#[test]
fn relays_of_every_worker_are_merged_in_a_stable_order() {
    let v = view();
    let cam = v.streams().next().unwrap();
    let got: Vec<_> = cam
        .relays
        .iter()
        .map(|r| (r.kind.as_str(), r.target.as_str(), r.pid))
        .collect();
    assert_eq!(
        got,
        [
            ("pull", "rtmp://o/live/cam", 11),
            ("push", "rtmp://a/live/cam", 10),
            ("push", "rtmp://b/live/cam", 10)
        ]
    );
}

#[test]
fn relays_in_xml_json_and_prometheus() {
    let x = xml::render(&view(), Sections::ALL, None);
    let needle =
        "<relays>\r\n<relay><kind>pull</kind><state>streaming</state><url>rtmp://o/live/cam</url>\
                  <addr>127.0.0.2:1935</addr><bytes_out>5000</bytes_out><bytes_in>300</bytes_in>\
                  <reconnects>2</reconnects><failures>0</failures><last_error></last_error>\
                  <time>2500</time><pid>11</pid></relay>\r\n";
    assert!(x.contains(needle), "missing {needle:?} in\n{x}");
    assert!(
        x.contains("<last_error>connect: Connection refused &lt;x&gt;</last_error>"),
        "{x}"
    );
    assert!(x.contains("</relays>\r\n</stream>"), "{x}");
    let j = json::render(&view(), Sections::ALL);
    assert!(
        j.contains(r#""relays":[{"kind":"pull","state":"streaming","url":"rtmp://o/live/cam","addr":"127.0.0.2:1935","bytes_out":5000,"bytes_in":300,"reconnects":2,"failures":0,"last_error":null,"time_in_state_ms":2500,"pid":11},"#),
        "{j}"
    );
    assert!(
        j.contains(r#""addr":null,"bytes_out":5000,"bytes_in":300,"reconnects":2,"failures":3,"last_error":"connect: Connection refused \u003cx>""#),
        "{j}"
    );
    let p = prom::render(&view());
    let l = "server=\"0\",app=\"live\",name=\"cam\",kind=\"push\",url=\"rtmp://a/live/cam\",worker=\"10\"";
    for needle in [
        "# TYPE rtmp_relay_up gauge\n".to_owned(),
        format!("rtmp_relay_up{{{l}}} 0\n"),
        "rtmp_relay_up{server=\"0\",app=\"live\",name=\"cam\",kind=\"push\",url=\"rtmp://b/live/cam\",worker=\"10\"} 1\n".to_owned(),
        "# TYPE rtmp_relay_bytes_total counter\n".to_owned(),
        format!("rtmp_relay_bytes_total{{{l},direction=\"out\"}} 5000\n"),
        format!("rtmp_relay_bytes_total{{{l},direction=\"in\"}} 300\n"),
        format!("rtmp_relay_reconnects_total{{{l}}} 2\n"),
        format!("rtmp_relay_failures{{{l}}} 3\n"),
        format!("rtmp_relay_state_seconds{{{l},state=\"backoff\"}} 2\n"),
    ] {
        assert!(p.contains(&needle), "missing {needle:?} in\n{p}");
    }
}

#[test]
fn a_relay_of_a_stream_not_live_here_shows_under_an_inactive_stream() {
    let id = StreamId {
        server: 0,
        app: "live".into(),
        name: "edge".into(),
    };
    let snap = Aggregator::default().snapshot(WorkerInput {
        pid: 7,
        accepted: vec![0],
        pending_relays: vec![(id, vec![relay("pull", "backoff", "rtmp://o/live/edge", 0)])],
        ..WorkerInput::default()
    });
    let s = &snap.streams[0];
    assert_eq!(
        (s.name.as_str(), s.active, s.publishing),
        ("edge", false, false)
    );
    assert_eq!(s.relays.len(), 1);
    assert_eq!(
        (s.relays[0].state.as_str(), s.relays[0].pid),
        ("backoff", 7)
    );
}
