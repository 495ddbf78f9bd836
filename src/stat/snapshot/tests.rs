use super::*;
use crate::media::demux::TrackInfo;
use crate::media::Track;
use crate::stat::model::{RecorderStat, Snapshot};

fn id(server: u32, name: &str) -> StreamId {
    StreamId {
        server,
        app: "live".into(),
        name: name.into(),
    }
}

fn h264_aac() -> CodecInfo {
    CodecInfo {
        video_codec: Some("H264"),
        width: Some(1280),
        height: Some(720),
        video_profile: Some("High"),
        video_compat: Some(0),
        video_level: Some("3.1".into()),
        audio_codec: Some("AAC"),
        audio_profile: Some("LC"),
        sample_rate: Some(44100),
        channels: Some(2),
        tracks: vec![TrackInfo {
            kind: Track::Video,
            id: 1,
            codec: "AV1",
            profile: Some("Main"),
            level: Some("2.0".into()),
            width: Some(640),
            height: Some(360),
            sample_rate: None,
            channels: None,
        }],
    }
}

/// A stream published here, `bytes` in so far (a quarter of it audio), `frames` video frames.
fn published(name: &str, started_ms: u64, bytes: u64, frames: u64) -> StreamInput {
    StreamInput {
        relays: Vec::new(),
        id: id(0, name),
        started_ms,
        bytes_in: bytes,
        published: Some(LocalFigures {
            audio_bytes: bytes / 4,
            video_bytes: bytes - bytes / 4,
            video_messages: frames,
            codecs: h264_aac(),
            recorders: vec![RecorderStat {
                path: format!("/rec/{name}.flv"),
                recording: true,
                bytes: bytes / 2,
                ..RecorderStat::default()
            }],
        }),
    }
}

fn client(key: u64, bytes_in: u64, bytes_out: u64) -> ClientInput {
    ClientInput {
        key,
        number: key + 100,
        server: Some(0),
        address: format!("10.0.0.{key}"),
        flashver: "FMLE/3.0".into(),
        bytes_in,
        bytes_out,
        ..ClientInput::default()
    }
}

fn publisher(key: u64, stream: &str, bytes_in: u64) -> ClientInput {
    ClientInput {
        publishing: vec![id(0, stream)],
        ..client(key, bytes_in, 3_000)
    }
}

fn player(key: u64, stream: &str, bytes_out: u64, dropped: u64) -> ClientInput {
    ClientInput {
        playing: vec![(id(0, stream), dropped)],
        ..client(key, 500, bytes_out)
    }
}

fn worker(now_ms: u64, streams: Vec<StreamInput>, clients: Vec<ClientInput>) -> WorkerInput {
    WorkerInput {
        now_ms,
        unix_ms: 1_700_000_000_000 + now_ms,
        pid: 42,
        started_unix: 1_699_999_000,
        naccepted: 7,
        hls_segments: 3,
        transcode_refused: 0,
        record_failed: 2,
        accepted: vec![5, 2],
        rejected: [("bad key".to_owned(), 4)].into_iter().collect(),
        streams,
        clients,
        processes: Vec::new(),
        pending_relays: Vec::new(),
    }
}

fn stream<'a>(snap: &'a Snapshot, name: &str) -> &'a StreamStat {
    snap.streams
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no stream {name} in {snap:#?}"))
}

#[test]
fn clients_are_counted_in_their_streams_and_servers() {
    let mut agg = Aggregator::default();
    let snap = agg.snapshot(worker(
        10_000,
        vec![
            published("a", 4_000, 1_000, 30),
            published("b", 9_000, 0, 0),
        ],
        vec![
            publisher(1, "a", 1_000),
            player(2, "a", 7_000, 3),
            player(3, "b", 100, 0),
            // A connection that has not published or played yet, on the second server.
            ClientInput {
                server: Some(1),
                ..client(4, 10, 20)
            },
        ],
    ));
    assert_eq!(snap.pid, 42);
    assert_eq!(snap.taken_unix_ms, 1_700_000_010_000);
    assert_eq!(snap.started_unix, 1_699_999_000);
    assert_eq!((snap.naccepted, snap.hls_segments), (7, 3));
    assert_eq!(snap.rejected.get("bad key"), Some(&4));
    assert_eq!(
        snap.servers,
        vec![
            ServerCounters {
                accepted: 5,
                active: 3
            },
            ServerCounters {
                accepted: 2,
                active: 1
            },
        ]
    );
    assert_eq!(snap.streams.len(), 2);

    let a = stream(&snap, "a");
    assert!(a.publishing && a.active);
    assert_eq!((a.time_ms, a.bytes_in, a.bytes_out), (6_000, 1_000, 7_000));
    assert_eq!(a.recorders.len(), 1);
    assert_eq!(
        (a.recorders[0].path.as_str(), a.recorders[0].bytes),
        ("/rec/a.flv", 500)
    );
    assert_eq!(snap.record_failed, 2);
    let ids: Vec<(u64, bool, bool, u64)> = a
        .clients
        .iter()
        .map(|c| (c.id, c.publishing, c.active, c.dropped))
        .collect();
    assert_eq!(ids, vec![(101, true, true, 0), (102, false, true, 3)]);
    let p = &a.clients[0];
    assert_eq!(p.address, "10.0.0.1");
    assert_eq!(p.flashver, "FMLE/3.0");
    assert_eq!(
        (p.bytes_in, p.bytes_out, p.pid, p.time_ms),
        (1_000, 3_000, 42, 0)
    );

    let meta = a.meta.clone().unwrap_or_default();
    assert_eq!(
        meta.video,
        Some(VideoMeta {
            width: 1280,
            height: 720,
            frame_rate: 0,
            codec: "H264".into(),
            profile: "High".into(),
            compat: 0,
            level: "3.1".into(),
        })
    );
    assert_eq!(
        meta.audio,
        Some(AudioMeta {
            codec: "AAC".into(),
            profile: "LC".into(),
            channels: 2,
            sample_rate: 44100,
        })
    );

    assert_eq!(
        meta.tracks,
        [TrackMeta {
            kind: "video".into(),
            id: 1,
            codec: "AV1".into(),
            profile: "Main".into(),
            level: "2.0".into(),
            width: 640,
            height: 360,
            channels: 0,
            sample_rate: 0,
        }]
    );

    let b = stream(&snap, "b");
    assert_eq!(b.clients.len(), 1);
    assert_eq!((b.clients[0].id, b.bytes_out), (103, 100));
}

#[test]
fn bitrates_are_measured_over_a_window() {
    let mut agg = Aggregator::default();
    let first = agg.snapshot(worker(
        10_000,
        vec![published("a", 0, 0, 0)],
        vec![publisher(1, "a", 0), player(2, "a", 0, 0)],
    ));
    let a = stream(&first, "a");
    assert_eq!((a.bw_in, a.bw_out, a.bw_audio, a.bw_video), (0, 0, 0, 0));
    assert_eq!((first.bw_in, first.bw_out), (0, 0));

    // 2 s later: 500 000 bytes in, 1 000 000 out to the player, 60 frames.
    let second = agg.snapshot(worker(
        12_000,
        vec![published("a", 0, 500_000, 60)],
        vec![publisher(1, "a", 500_000), player(2, "a", 1_000_000, 0)],
    ));
    let a = stream(&second, "a");
    assert_eq!(a.bw_in, 2_000_000);
    assert_eq!(a.bw_out, 4_000_000);
    assert_eq!(a.bw_audio, 500_000);
    assert_eq!(a.bw_video, 1_500_000);
    assert_eq!(
        a.meta
            .as_ref()
            .and_then(|m| m.video.as_ref())
            .map(|v| v.frame_rate),
        Some(30)
    );
    // The worker's totals: every connection's bytes (the publisher's 3 000 out, the player's
    // 500 in).
    assert_eq!((second.bytes_in, second.bytes_out), (500_500, 1_003_000));
    assert_eq!(second.bw_in, (500_500 - 500) * 8 / 2);
    assert_eq!(second.bw_out, 1_000_000 * 8 / 2);

    // Half a second later the window is too short: the rates stand.
    let third = agg.snapshot(worker(
        12_500,
        vec![published("a", 0, 900_000, 80)],
        vec![publisher(1, "a", 900_000), player(2, "a", 1_000_000, 0)],
    ));
    assert_eq!(stream(&third, "a").bw_in, 2_000_000);
    assert_eq!(third.bw_in, second.bw_in);
}

#[test]
fn counters_that_reset_on_republish_give_no_bogus_rates() {
    let mut agg = Aggregator::default();
    agg.snapshot(worker(
        10_000,
        vec![published("a", 0, 9_000_000, 900)],
        vec![publisher(1, "a", 9_000_000)],
    ));
    // Republished between two snapshots, by a new connection: the stream's counters restart.
    let snap = agg.snapshot(worker(
        11_000,
        vec![published("a", 10_900, 10_000, 3)],
        vec![publisher(2, "a", 10_000)],
    ));
    let a = stream(&snap, "a");
    assert_eq!((a.bw_in, a.bw_audio, a.bw_video), (0, 0, 0));
    assert_eq!(a.time_ms, 100);
    // The first publisher's bytes still count in the worker's totals.
    assert_eq!(snap.bytes_in, 9_010_000);
    let next = agg.snapshot(worker(
        12_000,
        vec![published("a", 10_900, 135_000, 33)],
        vec![publisher(2, "a", 135_000)],
    ));
    let a = stream(&next, "a");
    assert_eq!(a.bw_in, 1_000_000);
    assert_eq!(
        a.meta
            .as_ref()
            .and_then(|m| m.video.as_ref())
            .map(|v| v.frame_rate),
        Some(30)
    );
}

#[test]
fn a_stream_that_ended_starts_its_windows_afresh() {
    let mut agg = Aggregator::default();
    agg.snapshot(worker(10_000, vec![published("a", 0, 0, 0)], vec![]));
    agg.snapshot(worker(11_000, vec![published("a", 0, 125_000, 0)], vec![]));
    // Gone for a snapshot: its window is forgotten.
    let gone = agg.snapshot(worker(12_000, vec![], vec![]));
    assert!(gone.streams.is_empty());
    // Back with counters above the old window's: the first snapshot only starts a window.
    let back = agg.snapshot(worker(
        13_000,
        vec![published("a", 12_500, 500_000, 0)],
        vec![],
    ));
    assert_eq!(stream(&back, "a").bw_in, 0);
}

#[test]
fn a_player_waiting_for_a_stream_shows_it_inactive() {
    let mut agg = Aggregator::default();
    let snap = agg.snapshot(worker(10_000, vec![], vec![player(1, "soon", 250, 0)]));
    let s = stream(&snap, "soon");
    assert!(!s.active && !s.publishing);
    assert_eq!((s.time_ms, s.bytes_in, s.bytes_out), (0, 0, 250));
    assert_eq!(s.meta, None);
    assert_eq!(s.clients.len(), 1);
    assert!(!s.clients[0].active && !s.clients[0].publishing);
}

#[test]
fn a_mirrored_stream_has_no_publisher_figures() {
    let mut agg = Aggregator::default();
    let mirrored = |bytes_in| StreamInput {
        relays: Vec::new(),
        id: id(0, "m"),
        started_ms: 9_000,
        bytes_in,
        published: None,
    };
    agg.snapshot(worker(
        10_000,
        vec![mirrored(0)],
        vec![player(1, "m", 0, 0)],
    ));
    let snap = agg.snapshot(worker(
        11_000,
        vec![mirrored(125_000)],
        vec![player(1, "m", 250_000, 0)],
    ));
    let m = stream(&snap, "m");
    assert!(m.active && !m.publishing);
    assert_eq!(m.meta, None);
    assert!(
        m.recorders.is_empty(),
        "recorders are the publisher's worker's"
    );
    assert_eq!((m.bw_in, m.bw_out), (1_000_000, 2_000_000));
    assert_eq!((m.bw_audio, m.bw_video), (0, 0));
    assert!(m.clients[0].active);
}

#[test]
fn closed_connections_keep_counting_and_clients_age_from_first_sight() {
    let mut agg = Aggregator::default();
    agg.snapshot(worker(10_000, vec![], vec![client(1, 100, 200)]));
    let snap = agg.snapshot(worker(
        12_500,
        vec![published("a", 12_000, 0, 0)],
        vec![client(1, 150, 250), publisher(2, "a", 10)],
    ));
    assert_eq!((snap.bytes_in, snap.bytes_out), (160, 3_250));
    assert_eq!(stream(&snap, "a").clients[0].time_ms, 0);
    // Connection 1 closed with its last counts; 2 is 1 s older than at its first sight.
    let snap = agg.snapshot(worker(
        13_500,
        vec![published("a", 12_000, 0, 0)],
        vec![publisher(2, "a", 20)],
    ));
    assert_eq!((snap.bytes_in, snap.bytes_out), (170, 3_250));
    assert_eq!(stream(&snap, "a").clients[0].time_ms, 1_000);
    let snap = agg.snapshot(worker(14_000, vec![], vec![]));
    assert_eq!((snap.bytes_in, snap.bytes_out), (170, 3_250));
}

#[test]
fn unknown_servers_and_streams_are_left_out() {
    let mut agg = Aggregator::default();
    let snap = agg.snapshot(worker(
        10_000,
        vec![published("a", 0, 0, 0)],
        vec![
            ClientInput {
                server: None,
                ..client(1, 0, 0)
            },
            ClientInput {
                server: Some(9),
                ..client(2, 0, 0)
            },
            // Publishes a stream the worker does not list: not shown.
            publisher(3, "gone", 0),
        ],
    ));
    assert_eq!(snap.servers.iter().map(|s| s.active).sum::<u64>(), 1);
    assert_eq!(snap.streams.len(), 1);
    assert!(stream(&snap, "a").clients.is_empty());
}

#[test]
fn streams_are_sorted_by_server_app_and_name() {
    let mut agg = Aggregator::default();
    let mut b1 = published("b", 0, 0, 0);
    b1.id.server = 1;
    let mut z = published("a", 0, 0, 0);
    z.id.app = "zz".into();
    let snap = agg.snapshot(worker(
        10_000,
        vec![b1, z, published("c", 0, 0, 0), published("a", 0, 0, 0)],
        vec![],
    ));
    let order: Vec<(u32, &str, &str)> = snap
        .streams
        .iter()
        .map(|s| (s.server, s.app.as_str(), s.name.as_str()))
        .collect();
    assert_eq!(
        order,
        vec![
            (0, "live", "a"),
            (0, "live", "c"),
            (0, "zz", "a"),
            (1, "live", "b")
        ]
    );
}
