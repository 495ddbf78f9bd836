//! `rtmp-load`: an RTMP load generator built on the crate's own chunk codec and AMF0.
//!
//! N publishers replay an FLV file paced in real time, M players connect, play and count
//! frames; everything runs in one thread over non-blocking sockets and `poll(2)`, so the
//! generator stays far lighter than the server it loads. With `--hls-dir`, it watches the
//! playlists with inotify and measures, for every newly listed segment, the time since the
//! keyframe that closed it was sent (publish → segment listed).
//!
//! ```text
//! rtmp-load --url rtmp://127.0.0.1:1935/live --flv in.flv --publishers 5 --players 50 \
//!           --duration 20 [--name bench] [--hls-dir /path/to/hls] [--player-delay-ms 1500]
//! ```
//!
//! Prints one line per stream and a final `SUMMARY key=value ...` line for scripts.
//! Only `std`, `libc` and the crate's pure core: it never links nginx.

use std::collections::{HashMap, HashSet};
use std::net::ToSocketAddrs;
use std::os::unix::io::AsRawFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub(crate) const HANDSHAKE_PACKET: usize = 1536;
pub(crate) const OUT_CHUNK_SIZE: u32 = 4096;

mod conn;
mod flv;
mod hls_watch;
mod stats;
mod sys;

use conn::{Conn, Role, State, APP, TC_URL};
use flv::read_flv;
use hls_watch::HlsWatch;
use stats::{fmt_opt, median, percentile};

// ---------------------------------------------------------------------------------------------

struct Args {
    url: String,
    flv: PathBuf,
    publishers: usize,
    players: usize,
    duration: f64,
    name: String,
    hls_dir: Option<PathBuf>,
    player_delay_ms: u64,
    play_stream: Option<String>,
    quiet: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: rtmp-load --url rtmp://HOST:PORT/APP --flv FILE [--publishers N] [--players M]\n\
         \x20      [--duration SECS] [--name PREFIX] [--hls-dir DIR] [--player-delay-ms MS]\n\
         \x20      [--play-stream NAME] [--quiet]\n\
         Publishers publish PREFIX0..PREFIX{{N-1}}; players play them round-robin (or\n\
         --play-stream NAME, e.g. a stream published by someone else)."
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        url: String::new(),
        flv: PathBuf::new(),
        publishers: 1,
        players: 0,
        duration: 10.0,
        name: "load".into(),
        hls_dir: None,
        player_delay_ms: 1500,
        play_stream: None,
        quiet: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| usage());
        match k.as_str() {
            "--url" => a.url = val(),
            "--flv" => a.flv = PathBuf::from(val()),
            "--publishers" => a.publishers = val().parse().unwrap_or_else(|_| usage()),
            "--players" => a.players = val().parse().unwrap_or_else(|_| usage()),
            "--duration" => a.duration = val().parse().unwrap_or_else(|_| usage()),
            "--name" => a.name = val(),
            "--hls-dir" => a.hls_dir = Some(PathBuf::from(val())),
            "--player-delay-ms" => a.player_delay_ms = val().parse().unwrap_or_else(|_| usage()),
            "--play-stream" => a.play_stream = Some(val()),
            "--quiet" => a.quiet = true,
            _ => usage(),
        }
    }
    if a.url.is_empty() || (a.publishers > 0 && a.flv.as_os_str().is_empty()) {
        usage();
    }
    a
}

fn main() {
    let args = parse_args();
    let Some(rest) = args.url.strip_prefix("rtmp://") else {
        usage()
    };
    let (hostport, app) = rest.split_once('/').unwrap_or((rest, "live"));
    let hostport = if hostport.contains(':') {
        hostport.to_string()
    } else {
        format!("{hostport}:1935")
    };
    let addr = match hostport.to_socket_addrs().ok().and_then(|mut a| a.next()) {
        Some(a) => a,
        None => {
            eprintln!("rtmp-load: cannot resolve {hostport}");
            std::process::exit(2);
        }
    };
    APP.with(|a| *a.borrow_mut() = app.to_string());
    TC_URL.with(|a| *a.borrow_mut() = args.url.clone());
    let flv = if args.publishers > 0 {
        match read_flv(&args.flv) {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!("rtmp-load: {e}");
                std::process::exit(2);
            }
        }
    } else {
        None
    };
    let mut hls = match args.hls_dir.clone().map(HlsWatch::new).transpose() {
        Ok(h) => h,
        Err(e) => {
            eprintln!("rtmp-load: {e}");
            std::process::exit(2);
        }
    };

    let t0 = Instant::now();
    let end = t0 + Duration::from_secs_f64(args.duration);
    let mut conns: Vec<Conn> = Vec::new();
    for i in 0..args.publishers {
        conns.push(Conn::open(
            addr,
            Role::Publisher,
            format!("{}{i}", args.name),
            i as u64 + 1,
        ));
    }
    let players_at = t0 + Duration::from_millis(args.player_delay_ms);
    let mut players_started = args.players == 0;
    let mut seg_latencies: HashMap<String, Vec<f64>> = HashMap::new();
    let mut unmatched_segments = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    let mut pfds: Vec<sys::pollfd> = Vec::new();
    let mut idx: Vec<usize> = Vec::new();

    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        if !players_started && now >= players_at {
            players_started = true;
            for j in 0..args.players {
                let stream = match &args.play_stream {
                    Some(s) => s.clone(),
                    None => format!("{}{}", args.name, j % args.publishers.max(1)),
                };
                conns.push(Conn::open(addr, Role::Player, stream, 1000 + j as u64));
                // Flush the C0C1 right away so joins are measured from now.
                if let Some(c) = conns.last_mut() {
                    c.flush();
                }
            }
        }
        // Publishers: queue due tags.
        let mut next_due = end;
        if !players_started {
            next_due = next_due.min(players_at);
        }
        if let Some(flv) = &flv {
            for c in conns.iter_mut() {
                if let Some(due) = c.pump(flv, now) {
                    next_due = next_due.min(due);
                }
            }
        }
        for c in conns.iter_mut() {
            if c.alive() && c.backlog() > 0 {
                c.flush();
            }
        }
        // Poll.
        pfds.clear();
        idx.clear();
        for (i, c) in conns.iter().enumerate() {
            if !c.alive() {
                continue;
            }
            let mut events = libc::POLLIN;
            if c.backlog() > 0 {
                events |= libc::POLLOUT;
            }
            pfds.push(sys::pollfd {
                fd: c.sock.as_raw_fd(),
                events,
                revents: 0,
            });
            idx.push(i);
        }
        if let Some(h) = &hls {
            pfds.push(sys::pollfd {
                fd: h.fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        let wait = next_due.saturating_duration_since(Instant::now());
        let timeout_ms = (wait.as_micros().div_ceil(1000)).min(100) as i32;
        if sys::poll(&mut pfds, timeout_ms) == 0 {
            continue;
        }
        let now = Instant::now();
        for (k, &i) in idx.iter().enumerate() {
            let re = pfds[k].revents;
            if re == 0 {
                continue;
            }
            let c = &mut conns[i];
            if re & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
                c.read(&mut buf, now);
            }
            if c.alive() && c.backlog() > 0 {
                c.flush();
            }
        }
        if let Some(h) = &mut hls {
            if pfds.last().is_some_and(|p| p.revents != 0) {
                for stream in h.changed() {
                    let ends = h.new_segments(&stream);
                    let Some(p) = conns
                        .iter()
                        .find(|c| c.role == Role::Publisher && c.stream == stream)
                    else {
                        continue;
                    };
                    for end_ms in ends {
                        // The keyframe that closed the segment: the one at its end time.
                        let best = p
                            .keyframes
                            .iter()
                            .min_by(|a, b| {
                                (a.0 as f64 - end_ms)
                                    .abs()
                                    .total_cmp(&(b.0 as f64 - end_ms).abs())
                            })
                            .copied();
                        match best {
                            Some((ts, sent)) if (ts as f64 - end_ms).abs() < 150.0 => {
                                seg_latencies
                                    .entry(stream.clone())
                                    .or_default()
                                    .push(now.saturating_duration_since(sent).as_secs_f64() * 1e3);
                            }
                            _ => unmatched_segments += 1,
                        }
                    }
                }
            }
        }
    }

    // Report.
    let mut all_seg: Vec<f64> = Vec::new();
    let mut pub_ok = 0;
    let mut tags_sent = 0;
    for c in conns.iter().filter(|c| c.role == Role::Publisher) {
        let mut lat = seg_latencies.get(&c.stream).cloned().unwrap_or_default();
        all_seg.extend(&lat);
        if c.state == State::Streaming {
            pub_ok += 1;
        }
        tags_sent += c.tags_sent;
        if !args.quiet {
            println!(
                "publisher {:<12} state={:?} tags={} bytes={} max_backlog={} segments={} seg_latency_ms median={} max={}{}",
                c.stream,
                c.state,
                c.tags_sent,
                c.tx_bytes,
                c.max_backlog,
                lat.len(),
                fmt_opt(median(&mut lat)),
                fmt_opt(lat.iter().copied().reduce(f64::max)),
                c.error.as_ref().map(|e| format!(" error={e}")).unwrap_or_default()
            );
        }
    }
    // Players per stream.
    let mut by_stream: Vec<String> = conns
        .iter()
        .filter(|c| c.role == Role::Player)
        .map(|c| c.stream.clone())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    by_stream.sort();
    let mut first_all = Vec::new();
    let mut key_all = Vec::new();
    let mut play_ok = 0;
    let mut video_total = 0u64;
    let mut errors: HashMap<String, usize> = HashMap::new();
    for s in &by_stream {
        let ps: Vec<&Conn> = conns
            .iter()
            .filter(|c| c.role == Role::Player && &c.stream == s)
            .collect();
        let mut first: Vec<f64> = ps
            .iter()
            .filter_map(|c| c.first_frame.map(|d| d.as_secs_f64() * 1e3))
            .collect();
        let mut key: Vec<f64> = ps
            .iter()
            .filter_map(|c| c.first_key.map(|d| d.as_secs_f64() * 1e3))
            .collect();
        first_all.extend(&first);
        key_all.extend(&key);
        let video: u64 = ps.iter().map(|c| c.video_rx).sum();
        let audio: u64 = ps.iter().map(|c| c.audio_rx).sum();
        let bytes: u64 = ps.iter().map(|c| c.media_bytes).sum();
        video_total += video;
        let ok = ps.iter().filter(|c| c.state == State::Streaming).count();
        play_ok += ok;
        for c in &ps {
            if let Some(e) = &c.error {
                *errors.entry(e.clone()).or_default() += 1;
            }
        }
        if !args.quiet {
            println!(
                "players   {:<12} n={} ok={} video_frames={} audio_frames={} bytes={} first_frame_ms median={} p95={} first_key_ms median={} p95={}",
                s,
                ps.len(),
                ok,
                video,
                audio,
                bytes,
                fmt_opt(median(&mut first)),
                fmt_opt(percentile(&mut first, 95.0)),
                fmt_opt(median(&mut key)),
                fmt_opt(percentile(&mut key, 95.0)),
            );
        }
    }
    for (e, n) in &errors {
        println!("errors    {n} x {e}");
    }
    let players = conns.iter().filter(|c| c.role == Role::Player).count();
    println!(
        "SUMMARY publishers={} publishers_ok={} tags_sent={} players={} players_ok={} \
         video_frames_per_player={:.1} segments={} unmatched_segments={} \
         seg_latency_ms_median={} seg_latency_ms_p95={} seg_latency_ms_max={} \
         first_frame_ms_median={} first_frame_ms_p95={} first_key_ms_median={} first_key_ms_p95={}",
        args.publishers,
        pub_ok,
        tags_sent,
        players,
        play_ok,
        if players > 0 {
            video_total as f64 / players as f64
        } else {
            0.0
        },
        all_seg.len(),
        unmatched_segments,
        fmt_opt(median(&mut all_seg)),
        fmt_opt(percentile(&mut all_seg, 95.0)),
        fmt_opt(all_seg.iter().copied().reduce(f64::max)),
        fmt_opt(median(&mut first_all)),
        fmt_opt(percentile(&mut first_all, 95.0)),
        fmt_opt(median(&mut key_all)),
        fmt_opt(percentile(&mut key_all, 95.0)),
    );
}
