//! The Enhanced RTMP side of `connect`: the client's `fourCcList`, info maps and `capsEx`
//! read into the session, and the server's codecs and extensions in the `_result` — only for
//! a client that announced Enhanced RTMP (a legacy client gets nginx-rtmp's answer).

mod support;

use ngx_rtmp::amf0::Value;
use ngx_rtmp::media::FourCc;
use ngx_rtmp::rtmp::caps::{caps_ex, SERVER_CAPS_EX};
use ngx_rtmp::rtmp::{Session, SessionConfig};
use support::session::*;

/// Connects with `object` extra properties; returns the session and what it sent.
fn connect(extra: Vec<(&str, Value)>) -> (Session, Vec<u8>) {
    let mut values = connect_values("live");
    if let Value::Object(props) = &mut values[2] {
        for (k, v) in extra {
            props.push((k.to_owned(), v));
        }
    }
    let mut bytes = plain_c0c1(7);
    bytes.extend(c2());
    let mut c = Client::new();
    c.command(0, &values);
    bytes.extend(c.take());
    let mut session = Session::new(SessionConfig::default(), 1000, 1);
    let mut out = Outcome::default();
    session.feed(1001, &bytes).unwrap();
    drain(&mut session, &mut out, true);
    (session, out.output)
}

/// The properties object of the connect `_result`.
fn result_properties(output: &[u8]) -> Vec<(String, Value)> {
    let commands = server_commands(output);
    let (_, r) = commands
        .iter()
        .find(|(_, v)| v.first() == Some(&s("_result")))
        .expect("a _result");
    r[2].properties().expect("properties").to_vec()
}

#[test]
fn ffmpeg_fourcc_list_is_read_and_answered() {
    // What FFmpeg 9 sends with `-rtmp_enhanced_codecs hvc1,av01,vp09,avc1,mp4a,Opus`.
    let list = ["hvc1", "av01", "vp09", "avc1", "mp4a", "Opus"];
    let (session, output) = connect(vec![(
        "fourCcList",
        Value::StrictArray(list.iter().map(|c| s(c)).collect()),
    )]);
    let caps = session.client_caps();
    assert!(caps.enhanced);
    for c in list {
        let code: [u8; 4] = c.as_bytes().try_into().unwrap();
        assert!(caps.codecs.contains(FourCc(code)), "{c}");
    }
    assert!(!caps.codecs.contains(FourCc::new(b"fLaC")));
    let props = result_properties(&output);
    let get = |k: &str| props.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(get("fmsVer"), Some(s("FMS/3,0,1,123")));
    let Some(Value::StrictArray(ours)) = get("fourCcList") else {
        panic!("no fourCcList in {props:?}");
    };
    assert_eq!(
        ours,
        ["avc1", "hvc1", "av01", "vp09", "mp4a", "Opus"]
            .iter()
            .map(|c| s(c))
            .collect::<Vec<_>>()
    );
    let video = get("videoFourCcInfoMap").unwrap();
    for c in ["avc1", "hvc1", "av01", "vp09"] {
        // CanForward.
        assert_eq!(video.get_f64(c), Some(4.0), "{c}");
    }
    let audio = get("audioFourCcInfoMap").unwrap();
    assert_eq!(audio.get_f64("Opus"), Some(4.0));
    assert_eq!(audio.get_f64("mp4a"), Some(4.0));
    assert_eq!(audio.get_f64("fLaC"), None);
    assert_eq!(get("capsEx"), Some(n(f64::from(SERVER_CAPS_EX))));
    assert_eq!(
        SERVER_CAPS_EX,
        caps_ex::MULTITRACK | caps_ex::MOD_EX,
        "we serve multitrack and parse ModEx"
    );
}

#[test]
fn info_maps_and_caps_ex() {
    let (session, output) = connect(vec![
        (
            "videoFourCcInfoMap",
            Value::object([("*", n(4.0)), ("hvc1", n(1.0))]),
        ),
        ("capsEx", n(15.0)),
    ]);
    let caps = session.client_caps();
    assert!(caps.codecs.is_any());
    assert_eq!(caps.caps_ex, 15);
    assert!(result_properties(&output)
        .iter()
        .any(|(k, _)| k == "videoFourCcInfoMap"));
}

#[test]
fn legacy_client_gets_the_nginx_rtmp_answer() {
    let (session, output) = connect(vec![]);
    assert!(!session.client_caps().enhanced);
    assert!(session.client_caps().codecs.is_empty());
    let keys: Vec<String> = result_properties(&output)
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, ["fmsVer", "capabilities"]);
}

#[test]
fn hostile_properties_are_ignored() {
    // A list of the wrong type, entries of the wrong type, a huge list, a NaN capsEx: the
    // connect succeeds and only what is well-formed counts.
    let mut huge: Vec<Value> = (0..5000).map(|i| s(&format!("x{i:03}"))).collect();
    huge.insert(0, n(1.0));
    huge.insert(1, s("av01"));
    let (session, output) = connect(vec![
        ("fourCcList", Value::StrictArray(huge)),
        ("videoFourCcInfoMap", s("hvc1")),
        ("capsEx", n(f64::NAN)),
    ]);
    let caps = session.client_caps();
    assert!(caps.enhanced && caps.codecs.contains(FourCc::new(b"av01")));
    assert!(!caps.codecs.contains(FourCc::new(b"hvc1")));
    assert_eq!(caps.caps_ex, 0);
    assert!(status_codes(&output)
        .iter()
        .any(|c| c == "NetConnection.Connect.Success"));
}
