//! Seed corpus for the session fuzz target, replayed in plain `cargo test`.
//!
//! `REGENERATE_CORPUS=1 cargo test --no-default-features --test rtmp_corpus`
//! regenerates the files from the scripted clients.

mod support;

use std::path::PathBuf;

use ngx_rtmp::amf0::Value;
use ngx_rtmp::rtmp::{Event, Rejection, Session, SessionConfig};
use support::session::*;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/session")
}

fn generate() -> Vec<(&'static str, Vec<u8>)> {
    let mut v = vec![
        ("ffmpeg_publish_plain.bin", ffmpeg_publish(false, None)),
        ("ffmpeg_publish_digest.bin", ffmpeg_publish(true, None)),
        (
            "obs_publish_chunk4096.bin",
            ffmpeg_publish(true, Some(4096)),
        ),
    ];
    // Extended timestamps around the 24-bit boundary, aggregate, play.
    let mut b = plain_c0c1(8);
    b.extend(c2());
    let mut c = Client::new();
    c.set_chunk_size(60);
    c.command(0, &connect_values("live?user=me"));
    c.command(0, &[s("createStream"), n(2.0), Value::Null]);
    c.command(
        1,
        &[
            s("publish"),
            n(3.0),
            Value::Null,
            s("cam?token=abc"),
            s("record"),
        ],
    );
    for i in 0..6u32 {
        let ts = 0x00FF_FFF0 + i * 7;
        c.raw(6, ts, 9, 1, &[0x27; 150]);
        c.raw(4, ts, 8, 1, &[0xaf, 1, 2, 3]);
    }
    let mut agg = vec![9u8, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0, 0x17, 1, 2, 0, 0, 0, 14];
    agg.extend_from_slice(&[8, 0, 0, 2, 0, 0, 20, 1, 0, 0, 0, 0xaf, 1, 0, 0, 0, 13]);
    c.raw(6, 0x0100_0100, 22, 1, &agg);
    c.command(1, &[s("closeStream"), n(0.0), Value::Null]);
    b.extend(c.take());
    v.push(("extended_ts_aggregate.bin", b));

    let mut b = digest_c0c1(9, 1).0;
    b.extend(c2());
    let mut c = Client::new();
    c.command(0, &connect_values("live"));
    c.window_ack(2_500_000);
    c.command(0, &[s("createStream"), n(2.0), Value::Null]);
    c.raw(2, 0, 4, 0, &[0, 3, 0, 0, 0, 1, 0, 0, 0x0B, 0xB8]);
    c.command(
        1,
        &[
            s("play"),
            n(0.0),
            Value::Null,
            s("cam"),
            n(-2.0),
            n(-1.0),
            Value::Boolean(true),
        ],
    );
    c.raw(2, 0, 4, 0, &[0, 6, 0, 0, 0, 5]);
    c.command(0, &[s("deleteStream"), n(4.0), Value::Null, n(1.0)]);
    b.extend(c.take());
    v.push(("player_play.bin", b));
    v
}

/// The stored corpus exists and every generated session is in it (regenerated on demand).
#[test]
fn corpus_is_present() {
    let dir = corpus_dir();
    let regenerate = std::env::var_os("REGENERATE_CORPUS").is_some();
    if regenerate {
        std::fs::create_dir_all(&dir).unwrap();
    }
    for (name, bytes) in generate() {
        let path = dir.join(name);
        if regenerate {
            std::fs::write(&path, &bytes).unwrap();
        }
        let stored = std::fs::read(&path).unwrap_or_default();
        assert!(
            !stored.is_empty(),
            "{} missing: REGENERATE_CORPUS=1 writes it",
            path.display()
        );
    }
}

#[test]
fn generated_corpus_runs_clean() {
    for (name, bytes) in generate() {
        let o = run(SessionConfig::default(), &bytes);
        assert_eq!(o.error, None, "{name}");
        assert!(!o.events.is_empty(), "{name}");
    }
}

/// Replays with three shell behaviours: accept all, reject all, never
/// answer. Only panics matter here.
fn replay(bytes: &[u8], cuts: &[usize], mode: u8) {
    let mut s = Session::new(SessionConfig::default(), 0, 3);
    let mut now = 0;
    let mut last = 0;
    let mut bounds: Vec<usize> = cuts.iter().copied().filter(|c| *c <= bytes.len()).collect();
    bounds.push(bytes.len());
    for cut in bounds {
        if cut < last {
            continue;
        }
        now += 7;
        let r = s.feed(now, &bytes[last..cut]);
        last = cut;
        while let Some(ev) = s.poll_event() {
            match (mode, ev) {
                (0, Event::Connect(_)) => s.accept_connect(),
                (0, Event::Publish(p)) => s.accept_publish(p.stream_id),
                (0, Event::Play(p)) => s.accept_play(p.stream_id),
                (1, Event::Connect(_)) => s.accept_connect(),
                (1, Event::Publish(p)) => s.reject_publish(p.stream_id, Rejection::Busy),
                (1, Event::Play(p)) => s.reject_play(p.stream_id, Rejection::NotFound),
                _ => {}
            }
        }
        while s.poll_transmit().is_some() {}
        if r.is_err() {
            return;
        }
        if let Some(t) = s.poll_timeout() {
            if t <= now && s.handle_timeout(now).is_err() {
                return;
            }
        }
    }
    let _ = s.handle_timeout(now + 120_000);
}

#[test]
fn replay_corpus_at_several_split_points() {
    let mut files: Vec<_> = std::fs::read_dir(corpus_dir())
        .expect("tests/corpus/session exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(files.len() >= 5, "seed corpus missing: {files:?}");
    let mut rng = Rng(31337);
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        let len = bytes.len();
        let mut splits: Vec<Vec<usize>> = vec![
            vec![],
            vec![1],
            vec![1537],
            vec![3073],
            vec![3074, 3090],
            vec![len / 3, 2 * len / 3],
            vec![len.saturating_sub(1)],
        ];
        for _ in 0..5 {
            let mut cuts: Vec<usize> = (0..6).map(|_| rng.below(len.max(1))).collect();
            cuts.sort();
            splits.push(cuts);
        }
        for cuts in &splits {
            for mode in 0..3 {
                replay(&bytes, cuts, mode);
            }
        }
        // Mutations of the real input must not panic either.
        for _ in 0..50 {
            let mut m = bytes.clone();
            for _ in 0..4 {
                let i = rng.below(len.max(1));
                if let Some(b) = m.get_mut(i) {
                    *b = rng.next() as u8;
                }
            }
            replay(&m, &[rng.below(len.max(1))], 0);
        }
    }
}
