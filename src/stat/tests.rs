use super::board::Board;
use super::record_control::{self, RecordAction, RecordCommand};
use super::*;
use crate::live::shm::HeapRegion;
use crate::record::{RecordConfig, RecordMode};

const HOSTILE: &str = "a<b>&\"c'\\\n\u{1}</name><x>";

pub(super) fn client(id: u64, publishing: bool) -> ClientStat {
    ClientStat {
        id,
        address: "127.0.0.1".into(),
        time_ms: 1500,
        flashver: if publishing {
            "FMLE/3.0 (compatible; <x>)".into()
        } else {
            "LNX 9,0,124,2".into()
        },
        dropped: if publishing { 0 } else { 3 },
        bytes_in: 100,
        bytes_out: 200,
        publishing,
        active: true,
        pid: 10,
        ..ClientStat::default()
    }
}

pub(super) fn stream(name: &str, publishing: bool, clients: Vec<ClientStat>) -> StreamStat {
    StreamStat {
        server: 0,
        app: "live".into(),
        name: name.into(),
        time_ms: 5000,
        bytes_in: if publishing { 1000 } else { 900 },
        bytes_out: 400,
        bw_in: 8000,
        bw_out: 16000,
        bw_audio: 64000,
        bw_video: 500000,
        meta: publishing.then(|| Meta {
            video: Some(VideoMeta {
                width: 320,
                height: 240,
                frame_rate: 30,
                codec: "H264".into(),
                profile: "High".into(),
                compat: 0,
                level: "1.3".into(),
            }),
            audio: Some(AudioMeta {
                codec: "AAC".into(),
                profile: "LC".into(),
                channels: 1,
                sample_rate: 44100,
            }),
            // H.264 and an HEVC rendition (multitrack track 1), AAC.
            tracks: vec![
                TrackMeta {
                    kind: "video".into(),
                    id: 0,
                    codec: "H264".into(),
                    profile: "High".into(),
                    level: "1.3".into(),
                    width: 320,
                    height: 240,
                    ..TrackMeta::default()
                },
                TrackMeta {
                    kind: "video".into(),
                    id: 1,
                    codec: "HEVC".into(),
                    profile: "Main".into(),
                    level: "2".into(),
                    width: 160,
                    height: 120,
                    ..TrackMeta::default()
                },
                TrackMeta {
                    kind: "audio".into(),
                    id: 0,
                    codec: "AAC".into(),
                    profile: "LC".into(),
                    channels: 1,
                    sample_rate: 44100,
                    ..TrackMeta::default()
                },
            ],
        }),
        clients,
        publishing,
        active: true,
        recorders: if publishing {
            vec![
                RecorderStat {
                    id: String::new(),
                    path: format!("/rec/{name}.flv"),
                    recording: true,
                    failed: true,
                    bytes: 123_456,
                    duration_ms: 4_500,
                    frames: 250,
                    files: 2,
                    manual: false,
                    started: false,
                },
                RecorderStat {
                    id: "hi<gh>".into(),
                    manual: true,
                    ..RecorderStat::default()
                },
            ]
        } else {
            Vec::new()
        },
        relays: Vec::new(),
    }
}

pub(super) fn snapshot(pid: u32, streams: Vec<StreamStat>) -> Snapshot {
    Snapshot {
        pid,
        taken_unix_ms: 10_000_000,
        started_unix: 9_000,
        naccepted: 3,
        bytes_in: 1000,
        bytes_out: 2000,
        bw_in: 1,
        bw_out: 2,
        hls_segments: 4,
        transcode_refused: 0,
        record_failed: u64::from(pid % 2),
        servers: vec![ServerCounters {
            accepted: 3,
            active: 2,
        }],
        rejected: [("unauthorized".to_owned(), 2)].into_iter().collect(),
        streams,
        truncated: false,
        processes: vec![ProcessStat {
            label: format!("exec \"ffmpeg\" of \"live/cam{pid}\""),
            worker: 0,
            pid: pid * 100,
            uptime_ms: 2500,
            restarts: 1,
            last_exit: "killed by signal 9 (SIGKILL)".into(),
            log: "/var/log/nginx/rtmp-exec-live-cam-ffmpeg-0.log".into(),
        }],
    }
}

pub(super) fn layout() -> Vec<ServerLayout> {
    vec![ServerLayout {
        applications: vec![("live".into(), true), ("vod".into(), false)],
    }]
}

pub(super) fn ctx() -> MergeContext {
    MergeContext {
        nginx_version: "1.22.1".into(),
        module_version: "0.1.0".into(),
        pid: 10,
        now_unix_ms: 10_000_500,
    }
}

fn view() -> StatView {
    let a = snapshot(
        10,
        vec![stream("cam", true, vec![client(1, true), client(2, false)])],
    );
    // Worker 11 mirrors "cam" for its own player, and has a player of the hostile name.
    let b = snapshot(
        11,
        vec![
            stream("cam", false, vec![client(7, false)]),
            stream(HOSTILE, false, vec![client(8, false)]),
        ],
    );
    merge(&ctx(), &layout(), vec![a, b])
}

#[test]
fn merge_combines_workers() {
    let v = view();
    assert_eq!(v.naccepted, 6);
    assert_eq!(v.workers.len(), 2);
    assert_eq!(v.uptime, 1000);
    assert_eq!(v.rejected.get("unauthorized"), Some(&4));
    assert_eq!(v.servers[0].accepted, 6);
    let cam = v.streams().find(|s| s.name == "cam").unwrap();
    assert!(cam.publishing);
    assert_eq!(cam.bytes_in, 1000, "publisher's figure, not summed");
    assert_eq!(cam.bytes_out, 800, "summed over workers");
    assert_eq!(cam.nclients(), 3);
    assert!(cam.clients[0].publishing, "publisher listed first");
    assert!(cam.meta.is_some());
    assert_eq!(v.servers[0].applications.len(), 2);
}

#[test]
fn xml_layout_and_escaping() {
    let x = xml::render(&view(), Sections::ALL, Some("stat.xsl"));
    assert!(x.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\" ?>\r\n<?xml-stylesheet type=\"text/xsl\" href=\"stat.xsl\" ?>"));
    for needle in [
        "<rtmp>",
        "<nginx_version>1.22.1</nginx_version>",
        "<naccepted>6</naccepted>",
        "<server>\r\n<application>\r\n<name>live</name>\r\n<live>\r\n<stream>\r\n",
        "<stream>\r\n<name>cam</name>",
        "<meta><video><width>320</width><height>240</height><frame_rate>30</frame_rate><codec>H264</codec><profile>High</profile><compat>0</compat><level>1.3</level></video><audio><codec>AAC</codec><profile>LC</profile><channels>1</channels><sample_rate>44100</sample_rate></audio><tracks>\
         <track><id>0</id><type>video</type><codec>H264</codec><profile>High</profile><level>1.3</level><width>320</width><height>240</height></track>\
         <track><id>1</id><type>video</type><codec>HEVC</codec><profile>Main</profile><level>2</level><width>160</width><height>120</height></track>\
         <track><id>0</id><type>audio</type><codec>AAC</codec><profile>LC</profile><channels>1</channels><sample_rate>44100</sample_rate></track>\
         </tracks></meta>",
        "<client><id>1</id><address>127.0.0.1</address><time>1500</time><flashver>FMLE/3.0 (compatible; &lt;x&gt;)</flashver>",
        "<publishing/><active/></client>",
        "<nclients>3</nclients>",
        "<application>\r\n<name>vod</name>\r\n</application>",
        "<name>a&lt;b&gt;&amp;&quot;c&apos;\\\n\u{fffd}&lt;/name&gt;&lt;x&gt;</name>",
        "<processes>\r\n<process><label>exec &quot;ffmpeg&quot; of &quot;live/cam10&quot;</label><worker>10</worker><pid>1000</pid><uptime>2500</uptime><restarts>1</restarts><last_exit>killed by signal 9 (SIGKILL)</last_exit><log>/var/log/nginx/rtmp-exec-live-cam-ffmpeg-0.log</log></process>\r\n<process><label>exec &quot;ffmpeg&quot; of &quot;live/cam11&quot;</label><worker>11</worker>",
    ] {
        assert!(x.contains(needle), "missing {needle:?} in\n{x}");
    }
    assert!(!x.contains("<x>"));
    // Balanced tags: every opening tag is closed.
    for tag in [
        "rtmp",
        "server",
        "application",
        "live",
        "stream",
        "client",
        "meta",
        "tracks",
        "track",
        "processes",
        "process",
    ] {
        assert_eq!(
            x.matches(&format!("<{tag}>")).count(),
            x.matches(&format!("</{tag}>")).count(),
            "{tag}"
        );
    }
    let no_clients = xml::render(
        &view(),
        Sections {
            clients: false,
            ..Sections::ALL
        },
        None,
    );
    assert!(!no_clients.contains("<client>") && !no_clients.contains("xml-stylesheet"));
}

#[test]
fn json_content_and_escaping() {
    let j = json::render(&view(), Sections::ALL);
    assert!(j.contains("\"name\":\"cam\""));
    assert!(j.contains("\"width\":320"));
    assert!(
        j.contains(r#""tracks":[{"id":0,"type":"video","codec":"H264","profile":"High","level":"1.3","width":320,"height":240,"channels":0,"sample_rate":0},{"id":1,"type":"video","codec":"HEVC","#),
        "{j}"
    );
    assert!(j.contains("\"nclients\":3"));
    assert!(
        j.contains(r#""processes":[{"label":"exec \"ffmpeg\" of \"live/cam10\"","worker":10,"pid":1000,"uptime_ms":2500,"restarts":1,"last_exit":"killed by signal 9 (SIGKILL)","log":"/var/log/nginx/rtmp-exec-live-cam-ffmpeg-0.log"},"#),
        "{j}"
    );
    assert!(
        j.contains(r#""name":"a\u003cb>&\"c'\\\n\u0001\u003c/name>\u003cx>""#),
        "{j}"
    );
    // Structure: brackets balance outside strings.
    let (mut depth, mut in_str, mut esc) = (0i32, false, false);
    for ch in j.chars() {
        if in_str {
            match (esc, ch) {
                (true, _) => esc = false,
                (false, '\\') => esc = true,
                (false, '"') => in_str = false,
                (false, c) => assert!(c as u32 >= 0x20, "raw control char in string"),
            }
            continue;
        }
        match ch {
            '"' => in_str = true,
            '{' | '[' => depth += 1,
            '}' | ']' => depth -= 1,
            _ => {}
        }
        assert!(depth >= 0);
    }
    assert_eq!(depth, 0);
}

#[test]
fn prometheus_lines_and_escaping() {
    let p = prom::render(&view());
    assert!(p.contains("rtmp_connections_accepted_total{server=\"0\"} 6\n"));
    assert!(p.contains("rtmp_publish_rejected_total{reason=\"unauthorized\"} 4\n"));
    assert!(p.contains("rtmp_stream_clients{server=\"0\",app=\"live\",name=\"cam\"} 3\n"));
    assert!(p.contains("rtmp_hls_segments_total 8\n"));
    assert!(p.contains(
        "rtmp_process_restarts_total{worker=\"11\",label=\"exec \\\"ffmpeg\\\" of \\\"live/cam11\\\"\"} 1\n"
    ), "{p}");
    assert!(p.contains("rtmp_process_running{worker=\"10\","));
    assert!(p.contains("rtmp_process_uptime_seconds{worker=\"10\","));
    assert!(
        p.contains("name=\"a<b>&\\\"c'\\\\\\n\u{1}</name><x>\"}"),
        "{p}"
    );
    for line in p.lines() {
        if line.starts_with('#') {
            assert!(line.starts_with("# HELP ") || line.starts_with("# TYPE "));
            continue;
        }
        let (metric, value) = line.rsplit_once(' ').unwrap();
        assert!(value.parse::<f64>().is_ok(), "{line}");
        let name_end = metric.find('{').unwrap_or(metric.len());
        assert!(metric[..name_end]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_'));
    }
}

#[test]
fn codec_round_trip_and_garbage() {
    let s = snapshot(
        10,
        vec![
            stream("cam", true, vec![client(1, true)]),
            stream(HOSTILE, false, vec![]),
        ],
    );
    let b = codec::encode(&s, 1 << 20).unwrap();
    assert_eq!(codec::decode(&b).unwrap(), s);
    // Too small for the clients: dropped and flagged.
    let lean = codec::encode(&s, b.len() - 1).unwrap();
    let d = codec::decode(&lean).unwrap();
    assert!(d.truncated && d.streams.iter().all(|s| s.clients.is_empty()));
    assert!(codec::encode(&s, 10).is_none());
    for n in 0..b.len() {
        assert!(codec::decode(&b[..n]).is_err());
    }
    let mut bad = b.clone();
    bad[0] ^= 1;
    assert_eq!(codec::decode(&bad), Err(codec::DecodeError::BadMagic));
    // Random bytes never panic.
    let mut x = 0x1234_5678u32;
    for _ in 0..200 {
        let mut v = b.clone();
        for _ in 0..4 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let i = (x as usize) % v.len();
            v[i] = (x >> 8) as u8;
        }
        let _ = codec::decode(&v);
    }
}

#[test]
fn board_slots_seqlock_and_mailbox() {
    let board = Board::new(4, 64 * 1024).unwrap();
    let r = HeapRegion::new(board::zone_size(4, 64 * 1024));
    assert!(board.check(&r).is_err());
    board.format(&r).unwrap();
    let alive = |o: u64| o != 0xdead;
    let (a, cur_a) = board.claim(&r, 0xa, alive).unwrap();
    let (b, _) = board.claim(&r, 0xb, alive).unwrap();
    assert_ne!(a, b);
    assert_eq!(board.claim(&r, 0xa, alive).unwrap().0, a, "own slot again");
    board.publish(&r, a, b"hello", 5).unwrap();
    assert_eq!(
        board.read(&r, a).unwrap(),
        Some((0xa, 5, b"hello".to_vec()))
    );
    assert_eq!(board.read(&r, b).unwrap(), None);
    assert!(board.publish(&r, a, &vec![0; 70 * 1024], 5).is_err());
    // A dead owner's slot is reclaimed when the board is full.
    let (c, _) = board.claim(&r, 0xc, alive).unwrap();
    let (d, _) = board.claim(&r, 0xdead, alive).unwrap();
    assert!(board
        .claim(&r, 0xe, |o| o != 0xdead && o != 0xe)
        .is_ok_and(|(i, _)| i == d));
    assert!(board.claim(&r, 0xf, alive).is_err());
    let _ = c;
    // Mailbox: in order, once; overflow keeps the newest.
    let mut cursor = cur_a;
    board.post(&r, a, b"one").unwrap();
    board.post(&r, a, b"two").unwrap();
    assert_eq!(
        board.poll(&r, a, &mut cursor),
        vec![b"one".to_vec(), b"two".to_vec()]
    );
    assert!(board.poll(&r, a, &mut cursor).is_empty());
    for i in 0..(board::MB_ENTRIES + 3) {
        board.post(&r, a, &i.to_le_bytes()).unwrap();
    }
    let got = board.poll(&r, a, &mut cursor);
    assert_eq!(got.len() as u64, board::MB_ENTRIES);
    assert_eq!(
        got.last().unwrap(),
        &(board::MB_ENTRIES + 2).to_le_bytes().to_vec()
    );
    assert!(board.post(&r, a, &[0; board::MB_DATA + 1]).is_err());
}

#[test]
fn recorders_come_from_the_publishers_worker() {
    let a = snapshot(10, vec![stream("cam", true, vec![client(1, true)])]);
    let b = snapshot(11, vec![stream("cam", false, vec![client(7, false)])]);
    // Whichever order the slots are read in.
    for snaps in [vec![a.clone(), b.clone()], vec![b, a]] {
        let v = merge(&ctx(), &layout(), snaps);
        let cam = v.streams().find(|s| s.name == "cam").unwrap();
        assert_eq!(cam.recorders.len(), 2);
        assert_eq!(cam.recorders[0].path, "/rec/cam.flv");
        assert_eq!(v.record_failed, 1, "summed over workers");
    }
}

#[test]
fn recorders_in_xml_json_and_prometheus() {
    let x = xml::render(&view(), Sections::ALL, None);
    for needle in [
        "<active/>\r\n<recorders>\r\n<recorder><id></id><path>/rec/cam.flv</path><bytes>123456</bytes><duration>4500</duration><frames>250</frames><files>2</files><recording/><failed/></recorder>\r\n",
        "<recorder><id>hi&lt;gh&gt;</id><path></path><bytes>0</bytes><duration>0</duration><frames>0</frames><files>0</files><manual/></recorder>\r\n</recorders>\r\n</stream>",
    ] {
        assert!(x.contains(needle), "missing {needle:?} in\n{x}");
    }
    assert_eq!(
        x.matches("<recorders>").count(),
        1,
        "the publisher's stream only"
    );
    let j = json::render(&view(), Sections::ALL);
    assert!(j.contains(r#""record_failed":1,"#), "{j}");
    assert!(
        j.contains(r#""recorders":[{"id":"","path":"/rec/cam.flv","recording":true,"failed":true,"bytes":123456,"duration_ms":4500,"frames":250,"files":2,"manual":false,"started":false},{"id":"hi\u003cgh>","path":null,"recording":false,"#),
        "{j}"
    );
    assert!(
        j.contains(r#""recorders":[],"relays":[]}"#),
        "a stream without recorders: {j}"
    );
    let p = prom::render(&view());
    for needle in [
        "rtmp_record_failed_total 1\n",
        "rtmp_record_recording{server=\"0\",app=\"live\",name=\"cam\",recorder=\"\"} 1\n",
        "rtmp_record_recording{server=\"0\",app=\"live\",name=\"cam\",recorder=\"hi<gh>\"} 0\n",
        "rtmp_record_file_bytes{server=\"0\",app=\"live\",name=\"cam\",recorder=\"\"} 123456\n",
        "rtmp_record_file_duration_seconds{server=\"0\",app=\"live\",name=\"cam\",recorder=\"\"} 4\n",
        "rtmp_record_files_total{server=\"0\",app=\"live\",name=\"cam\",recorder=\"\"} 2\n",
        "# TYPE rtmp_record_files_total counter\n",
    ] {
        assert!(p.contains(needle), "missing {needle:?} in\n{p}");
    }
}

#[test]
fn record_commands_parse_and_travel() {
    let all = ControlSections::parse(["all"]).unwrap();
    let rec = |path: &str, q: &str| match Control::parse(path, q, all, 1_700_000_000) {
        Ok(Control::Record(c)) => c,
        other => panic!("{other:?}"),
    };
    let start = rec("/control/record/start", "app=live&name=cam&rec=hi");
    assert_eq!(
        start,
        RecordCommand {
            action: RecordAction::Start,
            srv: 0,
            app: Some("live".into()),
            name: Some("cam".into()),
            rec: "hi".into(),
            at_unix_s: 1_700_000_000,
        }
    );
    assert!(start.matches(0, "live", "cam"));
    assert!(!start.matches(1, "live", "cam") && !start.matches(0, "live", "cam2"));
    let stop = rec("/control/record/stop", "srv=1");
    assert_eq!(stop.action, RecordAction::Stop);
    assert!(stop.rec.is_empty() && stop.matches(1, "any", "thing"));
    for c in [start, stop] {
        let e = c.encode();
        assert_eq!(Control::decode(&e), Some(Control::Record(c.clone())));
        assert_eq!(Command::decode(&e), None, "not taken for a drop");
        for n in 0..e.len() {
            assert_eq!(RecordCommand::decode(&e[..n]), None);
        }
    }
    let Ok(Control::Drop(d)) = Control::parse("/c/drop/client", "clientid=6", all, 0) else {
        panic!("a drop");
    };
    assert_eq!(Control::decode(&d.encode()), Some(Control::Drop(d)));
    assert_eq!(RecordCommand::decode(&[0x10]), None);
}

#[test]
fn record_answers_for_another_workers_publisher() {
    let mut manual = RecordConfig::new(RecordMode {
        manual: true,
        ..RecordMode::ALL
    });
    manual.unique = true;
    manual.id = "hi<gh>".into();
    let auto = RecordConfig::new(RecordMode::ALL);
    let lookup = |server: u32, app: &str, rec: &str| -> Option<(&RecordConfig, &str)> {
        match (server, app, rec) {
            (0, "live", "") => Some((&auto, "/rec")),
            (0, "live", "hi<gh>") => Some((&manual, "/rec/manual/")),
            _ => None,
        }
    };
    let v = view();
    let cmd = |action, rec: &str, name: Option<&str>| RecordCommand {
        action,
        srv: 0,
        app: Some("live".into()),
        name: name.map(Into::into),
        rec: rec.into(),
        at_unix_s: 1_700_000_000,
    };
    // An open file: start and stop answer it.
    for action in [RecordAction::Start, RecordAction::Stop] {
        assert_eq!(
            cmd(action, "", Some("cam")).remote_answers(v.streams(), lookup),
            Ok(vec!["/rec/cam.flv".to_owned()])
        );
    }
    // Manual, idle: start names the file at the command's second, stop answers nothing.
    assert_eq!(
        cmd(RecordAction::Start, "hi<gh>", Some("cam")).remote_answers(v.streams(), lookup),
        Ok(vec!["/rec/manual/cam-1700000000.flv".to_owned()])
    );
    assert_eq!(
        cmd(RecordAction::Stop, "hi<gh>", Some("cam")).remote_answers(v.streams(), lookup),
        Ok(vec![])
    );
    // No such publisher (the hostile name is only played): nothing, 204.
    let none = cmd(RecordAction::Start, "", Some(HOSTILE)).remote_answers(v.streams(), lookup);
    assert_eq!(none, Ok(vec![]));
    assert_eq!(record_control::answer(&[]), (204, String::new()));
    // A recorder the application does not have: nginx-rtmp's 500.
    assert_eq!(
        cmd(RecordAction::Start, "nope", None)
            .remote_answers(v.streams(), lookup)
            .unwrap_err()
            .status,
        500
    );
    // A non-manual recorder with no file does not start on demand.
    let mut idle = v.clone();
    for s in idle.servers[0].applications[0].streams.iter_mut() {
        for r in &mut s.recorders {
            r.path.clear();
            r.recording = false;
        }
    }
    assert_eq!(
        cmd(RecordAction::Start, "", Some("cam")).remote_answers(idle.streams(), lookup),
        Ok(vec![])
    );
    assert_eq!(
        record_control::answer(&["/a".into(), "/b".into()]),
        (200, "/a\n/b".into())
    );
}
