//! The abuse suite, end to end against a real nginx with `hls on`, for what
//! `e2e_hostile` does not cover: timestamps going backwards, jumping by hours and wrapping past
//! 2^32 ms in otherwise valid media; malformed codec headers and NAL lengths; thousands of
//! partial messages; slowloris publishers; commands out of order; control characters and path
//! tricks in app, tcUrl and key (with `?args`); thousands of idle connections.
//!
//! Media is real: an FLV that ffmpeg encodes once per test binary (H.264 with B-frames + AAC),
//! whose tags this file parses itself and sends through a raw RTMP publisher with rewritten
//! timestamps or corrupted payloads.
//!
//! Every test runs its own nginx and ends with [`aftermath`]: no worker exited on a signal (nor
//! panicked, nor logged an alert), the worker is the same process as before, a normal ffmpeg
//! publish still works and its HLS decodes cleanly, nothing was written in the prefix outside
//! `logs/`, `tmp/` and `www/hls/`, and the worker's RSS grew by less than [`RSS_MARGIN_KB`].

mod support;

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::thread::{self, sleep};
use std::time::{Duration, Instant};

use support::flv::{self, Tag};
use support::hls::decode_errors;
use support::m3u8::{parse_m3u8, M3u8};
use support::nginx::{closed_within, ffmpeg_publish, run_with_timeout, Conf, Nginx};
use support::rtmp_client::{
    chunks, cmd_msg, connect_msg, connect_msg_chunked, ext_chunks, handshake, publish_msg,
    set_chunk_size_msg, Amf, Publisher, PUB_CHUNK,
};

/// How much the worker's RSS may grow over a whole test (abuse + a normal publish with HLS).
///
/// Generous on purpose: glibc keeps freed heap in its arenas (RSS does not shrink when
/// connections close), and the first publish of a worker allocates its HLS muxer, live hub
/// and log buffers once. What this catches is growth proportional to the abuse: 2000
/// connections each leaking a 4 KiB buffer would be 8 MB, a leaked 1 MiB message reservation
/// per cycle of the cycling test 20 GB.
const RSS_MARGIN_KB: u64 = 32 * 1024;

/// Connection-level timers of the test server: silent connections are dropped within a few
/// seconds (handshake and pre-connect idle: `timeout`; connected: ping + ping_timeout), and so
/// are connections that leave a message partly sent without completing one for `timeout`.
const TIMEOUT_S: u64 = 4;
const PING_S: u64 = 3;
const PING_TIMEOUT_S: u64 = 2;

fn server(name: &str) -> Nginx {
    raise_nofile(16_384);
    Nginx::start(
        name,
        &Conf::rtmp(&format!(
            "timeout {TIMEOUT_S}s; ping {PING_S}s; ping_timeout {PING_TIMEOUT_S}s;
             server {{ listen 127.0.0.1:{{rtmp_port}}; chunk_size 4096;
               application live {{ live on; hls on; hls_path {{prefix}}/www/hls;
                 hls_fragment 1s; hls_playlist_length 30s; }} }}"
        )),
    )
}

fn hls_dir(n: &Nginx) -> PathBuf {
    n.prefix.join("www/hls")
}

// ---------------------------------------------------------------------------------------------
// Process facts: file descriptor limit, the worker, its RSS and CPU
// ---------------------------------------------------------------------------------------------

/// Raises this process's RLIMIT_NOFILE soft limit to `want` (at most the hard limit); nginx,
/// started by the test, inherits it. Returns the soft limit now in force.
// `rlim_t` is u64 on Linux glibc, not everywhere: keep the casts.
#[allow(clippy::unnecessary_cast)]
fn raise_nofile(want: u64) -> u64 {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid, initialised rlimit struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) != 0 {
            return 1024;
        }
        if rl.rlim_cur < want as libc::rlim_t {
            let new = libc::rlimit {
                rlim_cur: (want as libc::rlim_t).min(rl.rlim_max),
                rlim_max: rl.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &new) == 0 {
                rl = new;
            }
        }
    }
    rl.rlim_cur as u64
}

/// How many connections a test may hold: `want`, unless the descriptor limit is lower (two
/// such tests may run at once, each also holding nginx's side in another process).
fn conn_budget(want: usize) -> usize {
    let limit = raise_nofile(16_384) as usize;
    let n = want.min(limit.saturating_sub(256) / 2);
    if n < want {
        eprintln!("RLIMIT_NOFILE is {limit}: using {n} connections instead of {want}");
    }
    n
}

/// (pid, ppid, utime + stime ticks) from /proc/<pid>/stat.
fn proc_stat(pid: u32) -> Option<(u32, u64)> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): ppid is field 4, utime 14, stime 15.
    let ppid = f.get(1)?.parse().ok()?;
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some((ppid, ticks))
}

/// The (single) worker of `n`.
fn worker_pid(n: &Nginx) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(master) = fs::read_to_string(n.prefix.join("nginx.pid"))
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
        {
            for e in fs::read_dir("/proc").expect("/proc").flatten() {
                let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                    continue;
                };
                if proc_stat(pid).is_some_and(|(ppid, _)| ppid == master) {
                    return pid;
                }
            }
        }
        assert!(Instant::now() < deadline, "no nginx worker found");
        sleep(Duration::from_millis(50));
    }
}

fn rss_kb(pid: u32) -> u64 {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).expect("worker status");
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

fn cpu_ticks(pid: u32) -> u64 {
    proc_stat(pid).map_or(0, |(_, t)| t)
}

fn clk_tck() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// The worker and its RSS when the test started.
struct Watch {
    pid: u32,
    rss0: u64,
}

impl Watch {
    fn new(n: &Nginx) -> Watch {
        let pid = worker_pid(n);
        Watch {
            pid,
            rss0: rss_kb(pid),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The aftermath of every abuse
// ---------------------------------------------------------------------------------------------

/// After an abuse: no crash, same worker, a normal publish works and its HLS decodes, nothing
/// outside hls_path, memory bounded.
fn aftermath(n: &Nginx, w: &Watch, key: &str) {
    n.assert_no_crash();
    assert_eq!(
        worker_pid(n),
        w.pid,
        "the worker was replaced\n{}",
        n.error_log()
    );
    let (ok, err) = run_with_timeout(
        ffmpeg_publish(&n.rtmp_url("live", key), 3),
        Duration::from_secs(60),
    );
    assert!(
        ok,
        "normal publish after abuse failed: {err}\n{}",
        n.error_log()
    );
    let pl = wait_endlist(n, key, Duration::from_secs(10));
    assert!(
        pl.entries.len() >= 2,
        "{key}: playlist has {} segments",
        pl.entries.len()
    );
    let errs = decode_errors(&hls_dir(n).join(format!("{key}.m3u8")));
    assert!(
        errs.is_empty(),
        "{key}: HLS does not decode cleanly: {errs}"
    );
    n.assert_no_crash();
    assert_prefix_clean(n);
    let rss1 = rss_kb(w.pid);
    eprintln!(
        "{key}: worker RSS {} kB -> {} kB ({:+} kB)",
        w.rss0,
        rss1,
        rss1 as i64 - w.rss0 as i64
    );
    assert!(
        rss1 <= w.rss0 + RSS_MARGIN_KB,
        "{key}: worker RSS grew from {} kB to {rss1} kB",
        w.rss0
    );
}

/// Only nginx.conf, nginx.pid, logs/, tmp/ and www/hls/ in the prefix.
fn assert_prefix_clean(n: &Nginx) {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            out.push(p.clone());
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                walk(&p, out);
            }
        }
    }
    let mut all = Vec::new();
    walk(&n.prefix, &mut all);
    let bad: Vec<String> = all
        .iter()
        .filter_map(|p| p.strip_prefix(&n.prefix).ok())
        .map(|p| p.to_string_lossy().into_owned())
        .filter(|r| {
            !(matches!(
                r.as_str(),
                "nginx.conf" | "nginx.pid" | "logs" | "tmp" | "www" | "www/hls"
            ) || r.starts_with("logs/")
                || r.starts_with("tmp/")
                || r.starts_with("www/hls/"))
        })
        .collect();
    assert!(bad.is_empty(), "written outside hls_path: {bad:?}");
}

/// The error log holds no raw control characters (a key with "\r\n" must not forge lines).
fn assert_log_clean(n: &Nginx) {
    let log = fs::read(n.prefix.join("logs/error.log")).unwrap_or_default();
    if let Some(i) = log
        .iter()
        .position(|&b| (b < 0x20 && b != b'\n' && b != b'\t') || b == 0x7f)
    {
        let from = i.saturating_sub(200);
        panic!(
            "raw control byte 0x{:02x} in the error log: {:?}",
            log[i],
            String::from_utf8_lossy(&log[from..(i + 100).min(log.len())])
        );
    }
    let text = String::from_utf8_lossy(&log);
    assert!(
        !text.lines().any(|l| l.starts_with("FORGED")),
        "a key forged a log line:\n{text}"
    );
}

fn wait_endlist(n: &Nginx, name: &str, timeout: Duration) -> M3u8 {
    let path = hls_dir(n).join(format!("{name}.m3u8"));
    let deadline = Instant::now() + timeout;
    loop {
        let text = fs::read_to_string(&path).unwrap_or_default();
        let pl = parse_m3u8(&text);
        if pl.endlist && pl.errors.is_empty() {
            return pl;
        }
        if Instant::now() > deadline {
            panic!(
                "{}: no complete playlist with #EXT-X-ENDLIST: {:?}\n{text}\n{}",
                path.display(),
                pl.errors,
                n.error_log()
            );
        }
        sleep(Duration::from_millis(50));
    }
}

/// Every segment of `name`'s finished playlist decodes without a message from ffmpeg, and no
/// segment claims more than `max_extinf_ms`. Returns the playlist.
fn assert_hls_decodes(n: &Nginx, name: &str, max_extinf_ms: u64) -> M3u8 {
    let pl = wait_endlist(n, name, Duration::from_secs(10));
    assert!(!pl.entries.is_empty(), "{name}: no segment");
    for e in &pl.entries {
        assert!(
            e.duration_ms <= max_extinf_ms,
            "{name}: segment {} lasts {} ms",
            e.uri,
            e.duration_ms
        );
        let errs = decode_errors(&hls_dir(n).join(&e.uri));
        assert!(
            errs.is_empty(),
            "{name}: segment {} does not decode cleanly: {errs}",
            e.uri
        );
    }
    pl
}

/// Video packets ffprobe reads from a file or playlist.
fn video_packets(path: &Path) -> usize {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-count_packets"])
        .args(["-show_entries", "stream=nb_read_packets", "-of", "csv=p=0"])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .expect("run ffprobe");
    // The playlist's program and its stream both print the count.
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("ffprobe {}: {:?}", path.display(), out))
}

fn total_ms(pl: &M3u8) -> u64 {
    pl.entries.iter().map(|e| e.duration_ms).sum()
}

// ---------------------------------------------------------------------------------------------
// Real media: an FLV encoded by ffmpeg, parsed here
// ---------------------------------------------------------------------------------------------

struct Media {
    avc_header: Vec<u8>,
    aac_header: Vec<u8>,
    /// Coded frames (no sequence headers) in file order, timestamps from 0.
    frames: Vec<Tag>,
}

impl Media {
    /// The sequence headers then the frames from `from_ms` (a keyframe) to before `to_ms`, at
    /// timestamp `map(original)`.
    fn span(&self, from_ms: u32, to_ms: u32, map: impl Fn(u32) -> u32) -> Vec<Tag> {
        let mut out = vec![
            Tag {
                type_id: 9,
                ts: map(from_ms),
                body: self.avc_header.clone(),
            },
            Tag {
                type_id: 8,
                ts: map(from_ms),
                body: self.aac_header.clone(),
            },
        ];
        let start = self
            .frames
            .iter()
            .position(|t| t.keyframe() && t.ts >= from_ms)
            .expect("keyframe");
        let first_key_ts = self.frames[start].ts;
        out.extend(
            self.frames
                .iter()
                .skip_while(|t| t.ts < first_key_ts || (t.ts == first_key_ts && !t.video()))
                .filter(|t| t.ts < to_ms)
                .map(|t| Tag {
                    ts: map(t.ts),
                    ..t.clone()
                }),
        );
        out
    }
}

/// 6 s of H.264 (320x240, 30 fps, keyframe every second, B-frames so PTS ≠ DTS) + AAC.
fn media() -> &'static Media {
    static M: OnceLock<Media> = OnceLock::new();
    M.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target/e2e")
            .join(format!("abuse-input-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("input dir");
        let path = dir.join("src.flv");
        let st = Command::new("ffmpeg")
            .args(["-hide_banner", "-nostdin", "-v", "error", "-y"])
            .args(["-f", "lavfi", "-i", "testsrc=size=320x240:rate=30"])
            .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
            .args(["-t", "6", "-c:v", "libx264", "-preset", "veryfast"])
            .args(["-bf", "2", "-threads", "1", "-g", "30", "-keyint_min", "30"])
            .args(["-sc_threshold", "0", "-pix_fmt", "yuv420p"])
            .args(["-c:a", "aac", "-b:a", "64k", "-f", "flv"])
            .arg(&path)
            .stdin(Stdio::null())
            .status()
            .expect("run ffmpeg");
        assert!(st.success(), "ffmpeg could not encode the input");
        let tags: Vec<Tag> = flv::tags(&fs::read(&path).expect("read flv"))
            .into_iter()
            .filter(|t| matches!(t.type_id, 8 | 9) && t.body.len() >= 2)
            .collect();
        let is_header = |t: &Tag| t.body[1] == 0 && (t.video() || t.body[0] >> 4 == 10);
        let avc_header = tags
            .iter()
            .find(|t| t.video() && is_header(t))
            .expect("AVC sequence header")
            .body
            .clone();
        let aac_header = tags
            .iter()
            .find(|t| !t.video() && is_header(t))
            .expect("AAC sequence header")
            .body
            .clone();
        let frames: Vec<Tag> = tags.into_iter().filter(|t| !is_header(t)).collect();
        assert!(frames.iter().filter(|t| t.keyframe()).count() >= 6);
        Media {
            avc_header,
            aac_header,
            frames,
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Timestamps
// ---------------------------------------------------------------------------------------------

/// Valid media whose timestamps go backwards (a whole second pass from 1 s after 6 s), step
/// back a little inside a track, jump forward by three hours, and wrap past 2^32 ms. Each
/// stream's HLS: every segment decodes cleanly and lasts no more than a few seconds (a jump is
/// not counted as duration); jumps are marked `#EXT-X-DISCONTINUITY`, the 32-bit wrap is not a
/// discontinuity at all.
#[test]
fn timestamps_backwards_jumping_wrapping() {
    let n = server("abuse-ts");
    let w = Watch::new(&n);
    let m = media();
    let max_seg = 4_000;

    // Backwards: 0..6 s, then 1..6 s again (5 s back).
    let mut p = Publisher::live(n.rtmp_port, "back");
    let mut tags = m.span(0, 6_000, |t| t);
    tags.extend(m.span(1_000, 6_000, |t| t));
    p.tags(&tags);
    p.finish();
    let pl = assert_hls_decodes(&n, "back", max_seg);
    assert!(
        pl.entries.iter().any(|e| e.discontinuity),
        "back: no discontinuity marked"
    );
    assert!(total_ms(&pl) <= 14_000, "back: {} ms listed", total_ms(&pl));

    // Small steps back inside a track (audio frames 200 ms early now and then): not a jump.
    let mut p = Publisher::live(n.rtmp_port, "jitter");
    let mut k = 0;
    let tags: Vec<Tag> = m
        .span(0, 6_000, |t| t)
        .into_iter()
        .map(|mut t| {
            if !t.video() && t.body[1] == 1 {
                k += 1;
                if k % 10 == 0 {
                    t.ts = t.ts.saturating_sub(200);
                }
            }
            t
        })
        .collect();
    p.tags(&tags);
    p.finish();
    let pl = assert_hls_decodes(&n, "jitter", max_seg);
    assert!(
        !pl.entries.iter().any(|e| e.discontinuity),
        "jitter: small backward steps made a discontinuity"
    );

    // Forward by three hours after 3 s.
    const HOURS3: u32 = 3 * 3600 * 1000;
    let mut p = Publisher::live(n.rtmp_port, "jump");
    let mut tags = m.span(0, 3_000, |t| t);
    tags.extend(m.span(3_000, 6_000, |t| t + HOURS3));
    p.tags(&tags);
    p.finish();
    let pl = assert_hls_decodes(&n, "jump", max_seg);
    assert!(
        pl.entries.iter().any(|e| e.discontinuity),
        "jump: no discontinuity marked"
    );
    assert!(total_ms(&pl) <= 8_000, "jump: {} ms listed", total_ms(&pl));

    // Wrapping: starts 3 s before 2^32 ms (extended timestamps), goes on past it.
    let base = u32::MAX - 2_999;
    let mut p = Publisher::live(n.rtmp_port, "wrap");
    let tags = m.span(0, 6_000, |t| t.wrapping_add(base));
    assert!(tags.first().unwrap().ts > 0xFFFF_0000 && tags.last().unwrap().ts < 5_000);
    p.tags(&tags);
    p.finish();
    let pl = assert_hls_decodes(&n, "wrap", max_seg);
    assert!(
        !pl.entries.iter().any(|e| e.discontinuity),
        "wrap: the 32-bit wrap was taken for a discontinuity"
    );
    assert!(
        (5_000..=7_000).contains(&total_ms(&pl)),
        "wrap: {} ms listed for 6 s of media",
        total_ms(&pl)
    );
    let concat_errs = decode_errors(&hls_dir(&n).join("wrap.m3u8"));
    assert!(
        concat_errs.is_empty(),
        "wrap: the playlist does not decode cleanly across the wrap: {concat_errs}"
    );

    aftermath(&n, &w, "after-ts");
}

// ---------------------------------------------------------------------------------------------
// Codec headers and NAL lengths
// ---------------------------------------------------------------------------------------------

/// Garbage AVC sequence headers and truncated AAC configs, each followed by real frames, then
/// the real header and the rest of the media; and frames whose 4-byte NAL lengths overflow the
/// message, interleaved with the real ones. Nothing crashes, the publisher is not needed to
/// reconnect, and what reaches HLS decodes cleanly.
#[test]
fn malformed_codec_headers_and_nal_lengths() {
    let n = server("abuse-codec");
    let w = Watch::new(&n);
    let m = media();
    let avc = &m.avc_header;
    let aac = &m.aac_header;

    // AVC sequence headers: empty, random, truncated SPS, SPS count without SPS, 3-byte NAL
    // lengths, a structurally valid record whose SPS is garbage.
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut random = |len: usize| -> Vec<u8> {
        (0..len)
            .map(|_| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng as u8
            })
            .collect()
    };
    let mut bad_avc: Vec<Vec<u8>> = vec![
        vec![0x17, 0, 0, 0, 0],
        [vec![0x17, 0, 0, 0, 0], random(200)].concat(),
        vec![
            0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1, 0xff, 0xff, 0x67,
        ],
        vec![0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xff],
        vec![0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 0],
    ];
    let mut three_byte = avc.clone();
    three_byte[9] = 0xfe; // lengthSizeMinusOne = 2
    bad_avc.push(three_byte);
    let mut garbage_sps = avc.clone();
    let sps_len = u16::from_be_bytes([avc[11], avc[12]]) as usize;
    let junk = random(sps_len - 1);
    garbage_sps[14..13 + sps_len].copy_from_slice(&junk); // keep the NAL header byte

    // Structurally invalid records: refused, the video without a usable header is dropped.
    let first_second: Vec<Tag> = m.span(0, 1_000, |t| t).split_off(2);
    let bad_then_real = |bad: &[Vec<u8>]| {
        let mut tags = vec![Tag {
            type_id: 8,
            ts: 0,
            body: aac.clone(),
        }];
        for b in bad {
            tags.push(Tag {
                type_id: 9,
                ts: 0,
                body: b.clone(),
            });
            tags.extend(first_second.iter().take(20).cloned());
        }
        // Then the real header and 1..6 s.
        tags.extend(m.span(1_000, 6_000, |t| t));
        tags
    };
    let mut p = Publisher::live(n.rtmp_port, "badavc");
    p.tags(&bad_then_real(&bad_avc));
    p.finish();
    assert_hls_decodes(&n, "badavc", 4_000);

    // A well-formed record whose SPS is garbage cannot be told from a valid one without
    // decoding the SPS: what matters is that the real header that follows repairs the stream
    // (from the discontinuity it starts on).
    let mut p = Publisher::live(n.rtmp_port, "garbsps");
    p.tags(&bad_then_real(&[garbage_sps]));
    p.finish();
    let pl = wait_endlist(&n, "garbsps", Duration::from_secs(10));
    let from = pl
        .entries
        .iter()
        .rposition(|e| e.discontinuity)
        .unwrap_or(0);
    let repaired = &pl.entries[from..];
    assert!(repaired.len() >= 4, "garbsps: {:?}", pl.entries);
    for e in repaired {
        let errs = decode_errors(&hls_dir(&n).join(&e.uri));
        assert!(
            errs.is_empty(),
            "garbsps: {} after the real header: {errs}",
            e.uri
        );
    }

    // AAC configs: empty, 1 byte, object type escape without its bits, explicit frequency
    // without its 24 bits, object type 0, channel configuration 15.
    let bad_aac: Vec<Vec<u8>> = vec![
        vec![0xaf, 0],
        vec![0xaf, 0, 0x12],
        vec![0xaf, 0, 0xf8],
        vec![0xaf, 0, 0x17, 0x80],
        vec![0xaf, 0, 0x00, 0x00],
        vec![0xaf, 0, 0x12, 0x78],
    ];
    let mut p = Publisher::live(n.rtmp_port, "badaac");
    let mut tags = vec![Tag {
        type_id: 9,
        ts: 0,
        body: avc.clone(),
    }];
    let audio_first: Vec<Tag> = first_second
        .iter()
        .filter(|t| !t.video())
        .take(8)
        .cloned()
        .collect();
    for b in &bad_aac {
        tags.push(Tag {
            type_id: 8,
            ts: 0,
            body: b.clone(),
        });
        tags.extend(audio_first.iter().cloned());
    }
    p.tags(&tags);
    p.tags(&m.span(1_000, 6_000, |t| t));
    p.finish();
    assert_hls_decodes(&n, "badaac", 4_000);

    // NAL lengths that overflow the message, injected as extra frames after real ones.
    let bad_nal = |k: usize, frame: &[u8]| -> Vec<u8> {
        let mut b = vec![0x27, 1, 0, 0, 0];
        let rest = frame.len() as u32 - 5;
        match k % 7 {
            0 => b.extend_from_slice(&u32::MAX.to_be_bytes()),
            1 => b.extend_from_slice(&0x7fff_ffffu32.to_be_bytes()),
            2 => b.extend_from_slice(&(rest - 3).to_be_bytes()), // one byte too long
            3 => b.extend_from_slice(&[0, 0]),                   // truncated length
            4 => {
                // A valid small NAL, then one that overflows by 2^32 - 1.
                b.extend_from_slice(&[0, 0, 0, 2, 0x09, 0xf0]);
                b.extend_from_slice(&0xffff_fff0u32.to_be_bytes());
            }
            5 => {
                // Thousands of zero-length NALs.
                b.extend(std::iter::repeat_n(0u8, 4 * 4000));
            }
            _ => {
                b[0] = 0x17; // a "keyframe" whose only NAL overflows
                b.extend_from_slice(&0x8000_0000u32.to_be_bytes());
            }
        }
        b.extend_from_slice(&frame[9.min(frame.len())..]);
        b
    };
    let mut p = Publisher::live(n.rtmp_port, "badnal");
    let mut tags = Vec::new();
    let mut k = 0;
    for t in m.span(0, 6_000, |t| t) {
        let inject = t.video() && t.body[1] == 1 && t.body.len() > 16;
        let ts = t.ts;
        let body = t.body.clone();
        tags.push(t);
        if inject {
            tags.push(Tag {
                type_id: 9,
                ts,
                body: bad_nal(k, &body),
            });
            k += 1;
        }
    }
    let real_video = tags.iter().filter(|t| t.video() && t.body[1] == 1).count() - k;
    p.tags(&tags);
    p.finish();
    assert_hls_decodes(&n, "badnal", 4_000);
    // Every real picture made it to HLS, none of the broken ones did.
    let got = video_packets(&hls_dir(&n).join("badnal.m3u8"));
    assert_eq!(
        got, real_video,
        "badnal: {got} video packets in HLS, {real_video} valid pictures and {k} broken ones sent"
    );

    aftermath(&n, &w, "after-codec");
}

// ---------------------------------------------------------------------------------------------
// Partial messages
// ---------------------------------------------------------------------------------------------

/// Opens `count` connections with `open` (which must leave each one silent), holds them while
/// `during` runs, then waits until the server has closed them all (by `reap_s` after opening).
/// Returns the worker's RSS while they were held and after they were reaped.
fn hold_and_reap(
    n: &Nginx,
    w: &Watch,
    what: &str,
    count: usize,
    open: impl Fn(usize) -> TcpStream,
    during: impl FnOnce(),
    reap_s: u64,
) -> (u64, u64) {
    let t0 = Instant::now();
    let socks: Vec<TcpStream> = (0..count).map(&open).collect();
    let opened = t0.elapsed();
    sleep(Duration::from_millis(300));
    let held = rss_kb(w.pid);
    during();
    let deadline = t0 + opened + Duration::from_secs(reap_s);
    for (i, mut s) in socks.into_iter().enumerate() {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            closed_within(&mut s, left.max(Duration::from_millis(200))),
            "{what}: connection {i} still open {:?} after the start\n{}",
            t0.elapsed(),
            n.error_log()
        );
    }
    sleep(Duration::from_millis(200));
    let reaped = rss_kb(w.pid);
    eprintln!(
        "{what}: {count} connections opened in {opened:?}, all closed by the server after \
         {:?}; worker RSS {} kB at start, {held} kB while held, {reaped} kB after",
        t0.elapsed(),
        w.rss0
    );
    (held, reaped)
}

/// Two rounds of `count` connections held then reaped: the first with a normal publish while
/// they hang, the second alone. While held, the worker spends under 64 KiB of RSS per
/// connection; the second round grows the RSS left after the first by less than 2 MiB (a leak
/// of 1 KiB per connection would show as 2 MiB; what the first round leaves is the allocator
/// keeping freed memory, which the second round reuses).
fn two_rounds(n: &Nginx, w: &Watch, what: &str, open: impl Fn(usize) -> TcpStream, reap_s: u64) {
    let count = conn_budget(2000);
    let during_key = format!("during-{what}");
    let (held1, reaped1) = hold_and_reap(
        n,
        w,
        what,
        count,
        &open,
        || {
            let (ok, err) = run_with_timeout(
                ffmpeg_publish(&n.rtmp_url("live", &during_key), 2),
                Duration::from_secs(60),
            );
            assert!(ok, "publish during {what} failed: {err}\n{}", n.error_log());
        },
        reap_s,
    );
    let per_conn = held1.saturating_sub(w.rss0) * 1024 / count as u64;
    assert!(
        per_conn <= 64 * 1024,
        "{what}: {per_conn} bytes of worker RSS per connection"
    );
    let (_, reaped2) = hold_and_reap(n, w, what, count, &open, || {}, reap_s);
    assert!(
        reaped2 <= reaped1 + 2 * 1024,
        "{what}: worker RSS after a second round {reaped2} kB, after the first {reaped1} kB"
    );
}

/// 2000 connections, each connected and leaving a message unfinished (half a 4 KiB message, a
/// chunk header cut in the middle, or partial messages on eight chunk streams at once), twice
/// ([`two_rounds`]): a normal publish works while they hang; the server drops them all once
/// they fall silent (ping + ping_timeout); memory per connection is bounded and not leaked.
#[test]
fn thousands_of_partial_messages() {
    let n = server("abuse-partial");
    let w = Watch::new(&n);
    let port = n.rtmp_port;
    let open = |i: usize| {
        let mut s = handshake(port).expect("handshake");
        let mut out = connect_msg("live", "rtmp://127.0.0.1/live");
        match i % 4 {
            0 | 1 => {
                // Half of a 4096-byte video message on stream 0.
                out.extend_from_slice(&[6, 0, 0, 0, 0, 0x10, 0, 9, 0, 0, 0, 0]);
                out.extend(std::iter::repeat_n(0x17u8, 128));
                for _ in 0..15 {
                    out.push(0xC6);
                    out.extend(std::iter::repeat_n(0x17u8, 128));
                }
            }
            2 => out.extend_from_slice(&[6, 0, 0, 0, 0]),
            _ => {
                // One full 128-byte chunk of a 1024-byte message on each.
                for csid in 10u8..18 {
                    out.extend_from_slice(&[csid, 0, 0, 0, 0, 0x04, 0, 9, 0, 0, 0, 0]);
                    out.extend(std::iter::repeat_n(0x27u8, 128));
                }
            }
        }
        s.write_all(&out).expect("send partial");
        s
    };
    // Connected sessions are pinged after PING_S of silence and closed PING_TIMEOUT_S later.
    two_rounds(&n, &w, "partial", open, PING_S + PING_TIMEOUT_S + 5);
    aftermath(&n, &w, "after-partial");
}

/// One publishing connection starts 20 000 messages, each announcing 1 MiB, sends one 100-byte
/// chunk of it and aborts it (Abort Message), cycling over 50 chunk streams: the reservation of an
/// aborted message is released (4 MiB of partial messages are allowed per connection, so a
/// leak closes the connection after four cycles). Then the same connection publishes real
/// media whose HLS decodes cleanly.
#[test]
fn one_connection_cycling_message_starts() {
    let n = server("abuse-cycle");
    let w = Watch::new(&n);
    let mut p = Publisher::live(n.rtmp_port, "cycle");
    let cycles = 20_000u32;
    // 100-byte chunks: each cycle sends one full chunk of its message.
    let mut batch = ext_chunks(2, 1, 0, 0, &100u32.to_be_bytes());
    for i in 0..cycles {
        let csid = 10 + (i % 50) as u8;
        batch.extend_from_slice(&[csid, 0, 0, 0, 0x10, 0, 0, 9, 1, 0, 0, 0]);
        batch.extend(std::iter::repeat_n(0x27u8, 100));
        batch.extend(chunks(2, 2, 0, 0, &u32::from(csid).to_be_bytes(), 128));
        if batch.len() > 256 * 1024 {
            p.raw(&batch).unwrap_or_else(|e| {
                panic!("connection closed after {i} cycles: {e}\n{}", n.error_log())
            });
            batch.clear();
        }
    }
    batch.extend(chunks(2, 1, 0, 0, &(PUB_CHUNK as u32).to_be_bytes(), 100));
    p.raw(&batch).expect("send cycles");
    p.tags(&media().span(0, 6_000, |t| t));
    p.finish();
    assert_hls_decodes(&n, "cycle", 4_000);
    aftermath(&n, &w, "after-cycle");
}

// ---------------------------------------------------------------------------------------------
// Slowloris
// ---------------------------------------------------------------------------------------------

/// The reason the server logs when it drops a slowloris (`SessionError::MessageTimeout`).
fn message_timeout_reason() -> String {
    format!(
        "closed: session: no message completed for {} ms: slow or stalled sender",
        TIMEOUT_S * 1000
    )
}

/// Whether the server closed `s` (non-blocking; drains what it sent).
fn peer_closed(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return true,
        }
    }
}

/// 200 publishers publish validly, then drip one byte every 200 ms of a video message they
/// never finish (its header, then its payload): never idle, so neither the idle timeout nor
/// the ping catches them, but no whole message completes for `timeout` while one is partly
/// received. Each is dropped `timeout` after its first dripped byte (within a 2 s margin) and
/// the error log says why. Meanwhile a normal publish works, its HLS decodes, and the worker
/// spends little CPU on the drippers.
#[test]
fn slowloris_publishers() {
    let n = server("abuse-slow");
    let w = Watch::new(&n);
    let count = conn_budget(200);
    let mut slow: Vec<Publisher> = (0..count)
        .map(|i| Publisher::live(n.rtmp_port, &format!("slow{i}")))
        .collect();
    for p in &slow {
        p.sock.set_nonblocking(true).expect("non-blocking");
    }
    let mut drip = vec![6u8, 0, 0, 0, 0, 0x03, 0xe8, 9, 1, 0, 0, 0, 0x17, 1];
    drip.extend(std::iter::repeat_n(0u8, 100));
    let limit = Duration::from_secs(TIMEOUT_S + 2);
    let hz = clk_tck();
    let pid = w.pid;
    let dripper = thread::spawn(move || {
        let t0 = Instant::now();
        let c0 = cpu_ticks(pid);
        // When each was found closed (checked every 50 ms), after the round that sent its
        // first byte (t0).
        let mut closed: Vec<Option<Duration>> = vec![None; slow.len()];
        let mut k = 0;
        let mut tick = 0;
        while closed.iter().any(Option::is_none)
            && t0.elapsed() <= limit + Duration::from_millis(200)
            && k < drip.len()
        {
            let t = t0.elapsed();
            for (p, closed) in slow.iter_mut().zip(closed.iter_mut()) {
                if closed.is_some() {
                    continue;
                }
                if peer_closed(&mut p.sock) {
                    *closed = Some(t);
                } else if tick % 4 == 0 {
                    let _ = p.raw(&drip[k..k + 1]);
                }
            }
            if tick % 4 == 0 {
                k += 1;
            }
            tick += 1;
            sleep(Duration::from_millis(50));
        }
        let cpu = (cpu_ticks(pid) - c0) as f64 / hz as f64 / t0.elapsed().as_secs_f64();
        (closed, k, cpu)
    });
    // While they drip: a normal publish with HLS.
    let (ok, err) = run_with_timeout(
        ffmpeg_publish(&n.rtmp_url("live", "during-slow"), 3),
        Duration::from_secs(60),
    );
    assert!(
        ok,
        "publish during slowloris failed: {err}\n{}",
        n.error_log()
    );
    let (closed, dripped, cpu) = dripper.join().expect("dripper");
    assert_hls_decodes(&n, "during-slow", 4_000);
    let mut times: Vec<Duration> = closed.iter().flatten().copied().collect();
    times.sort();
    let at = |i: usize| times.get(i).copied().unwrap_or_default();
    eprintln!(
        "slowloris: {count} publishers dripped up to {dripped} bytes each; {} dropped {:?} to \
         {:?} after their first byte (median {:?}); worker CPU {:.1}% (incl. one normal \
         publish)",
        times.len(),
        at(0),
        at(times.len().saturating_sub(1)),
        at(times.len() / 2),
        cpu * 100.0
    );
    for (i, c) in closed.iter().enumerate() {
        let t = c.unwrap_or_else(|| {
            panic!(
                "slowloris {i} still open {limit:?} after its first byte\n{}",
                n.error_log()
            )
        });
        // Not before `timeout` (less 200 ms): it was dripping all along.
        assert!(
            t + Duration::from_millis(200) >= Duration::from_secs(TIMEOUT_S),
            "slowloris {i} dropped after only {t:?}\n{}",
            n.error_log()
        );
    }
    assert!(cpu < 0.5, "worker used {:.0}% CPU", cpu * 100.0);
    let reason = message_timeout_reason();
    let logged = n.error_log().matches(&reason).count();
    assert_eq!(
        logged,
        count,
        "{logged} of {count} drippers logged {reason:?}\n{}",
        n.error_log()
    );
    aftermath(&n, &w, "after-slow");
}

// ---------------------------------------------------------------------------------------------
// Commands out of order
// ---------------------------------------------------------------------------------------------

/// Sends `msgs` on a fresh connection after the handshake and Set Chunk Size, then reads for
/// `wait`; returns whether the server closed the connection.
fn exchange(port: u16, msgs: &[Vec<u8>], wait: Duration) -> bool {
    let mut s = handshake(port).expect("handshake");
    let mut out = set_chunk_size_msg();
    for m in msgs {
        out.extend_from_slice(m);
    }
    if s.write_all(&out).is_err() {
        return true;
    }
    closed_within(&mut s, wait)
}

/// play before createStream (and on stream 0), publish twice (same stream, and a second stream
/// with the same name), deleteStream/closeStream of unknown ids and odd arguments, connect
/// twice, 5000 createStreams, play after publish on the same stream. Each is answered or
/// closed; afterwards the names are free again, and a publish whose connection also sent
/// deleteStream of unknown ids keeps publishing.
#[test]
fn commands_out_of_order() {
    let n = server("abuse-order");
    let w = Watch::new(&n);
    let port = n.rtmp_port;
    let wait = Duration::from_millis(300);
    let connect = || connect_msg_chunked("live", "rtmp://127.0.0.1/live", PUB_CHUNK);
    let create = |txn: f64| cmd_msg(0, "createStream", txn, &[Amf::Null]);
    let play = |sid: u32, name: &str| {
        cmd_msg(
            sid,
            "play",
            4.0,
            &[Amf::Null, Amf::Str(name), Amf::Num(-1000.0)],
        )
    };
    let delete = |sid: u32, id: Amf| cmd_msg(sid, "deleteStream", 0.0, &[Amf::Null, id]);

    // play before createStream, on stream 1 and on stream 0.
    exchange(port, &[connect(), play(1, "p")], wait);
    exchange(port, &[connect(), play(0, "p")], wait);
    // publish twice on one stream; then the same name on a second stream.
    exchange(
        port,
        &[
            connect(),
            create(2.0),
            publish_msg(1, "twice"),
            publish_msg(1, "twice"),
        ],
        wait,
    );
    exchange(
        port,
        &[
            connect(),
            create(2.0),
            create(3.0),
            publish_msg(1, "same"),
            publish_msg(2, "same"),
            publish_msg(2, "other"),
        ],
        wait,
    );
    // deleteStream / closeStream of unknown ids and odd arguments, before and after connect.
    let odd = || {
        vec![
            delete(0, Amf::Num(0.0)),
            delete(0, Amf::Num(7.0)),
            delete(0, Amf::Num(4_294_967_297.0)),
            delete(0, Amf::Num(-1.0)),
            delete(0, Amf::Num(f64::NAN)),
            delete(0, Amf::Num(1e300)),
            delete(0, Amf::Str("1")),
            delete(5, Amf::Null),
            cmd_msg(9, "closeStream", 0.0, &[Amf::Null]),
            cmd_msg(0, "FCUnpublish", 5.0, &[Amf::Null, Amf::Str("nobody")]),
            cmd_msg(0, "releaseStream", 6.0, &[Amf::Null, Amf::Str("nobody")]),
        ]
    };
    exchange(port, &odd(), wait);
    exchange(port, &[vec![connect()], odd()].concat(), wait);
    // connect twice (same app, then another app).
    exchange(
        port,
        &[
            connect(),
            connect(),
            connect_msg_chunked("other", "rtmp://127.0.0.1/other", PUB_CHUNK),
            create(2.0),
            publish_msg(1, "conn2"),
        ],
        wait,
    );
    // 5000 createStreams on one connection.
    let many: Vec<Vec<u8>> = std::iter::once(connect())
        .chain((0..5000).map(|i| create(10.0 + f64::from(i))))
        .collect();
    exchange(port, &many, Duration::from_secs(1));
    // play after publish on the same stream, and publish after play.
    exchange(
        port,
        &[connect(), create(2.0), publish_msg(1, "pp"), play(1, "pp")],
        wait,
    );
    exchange(
        port,
        &[connect(), create(2.0), play(1, "pq"), publish_msg(1, "pq")],
        wait,
    );
    n.assert_no_crash();

    // The names used above are free again.
    for name in ["twice", "same", "other", "conn2", "pp", "pq"] {
        // The server may still be closing the last abusive connection: retry for a second.
        let deadline = Instant::now() + Duration::from_secs(1);
        loop {
            match Publisher::start(port, "live", "rtmp://127.0.0.1/live", name) {
                Ok(p) => break drop(p),
                Err(e) if Instant::now() > deadline => {
                    panic!("{name} not free after the abuse: {e}\n{}", n.error_log())
                }
                Err(_) => sleep(Duration::from_millis(100)),
            }
        }
    }

    // A publisher whose connection sends deleteStream of unknown ids between its frames keeps
    // publishing: its HLS covers the whole 6 s.
    // The input first: made by ffmpeg at its first use, which may take longer than the ping
    // and ping timeout that close a publisher sending nothing.
    let tags = media().span(0, 6_000, |t| t);
    let mut p = Publisher::live(port, "keep");
    let (a, b) = tags.split_at(tags.len() / 2);
    p.tags(a);
    for m in &odd() {
        p.raw(m).expect("send deleteStream");
    }
    p.tags(b);
    p.finish();
    let pl = assert_hls_decodes(&n, "keep", 4_000);
    assert!(
        total_ms(&pl) >= 5_000,
        "keep: {} ms listed of 6 s",
        total_ms(&pl)
    );
    aftermath(&n, &w, "after-order");
}

// ---------------------------------------------------------------------------------------------
// Names: control characters and path tricks in app, tcUrl and key
// ---------------------------------------------------------------------------------------------

/// Keys with `?args` (the args are not part of the HLS name, whatever they contain), path
/// tricks and control characters in key, app and tcUrl. Accepted names write their HLS under
/// hls_path only; nothing appears outside the prefix; the error log never carries a raw control
/// character (a "\r\n" in a key cannot forge a log line).
#[test]
fn control_characters_and_path_tricks() {
    let n = server("abuse-names");
    let w = Watch::new(&n);
    let port = n.rtmp_port;
    let marker = format!("pwned{}", std::process::id());
    let two_s: Vec<Tag> = media().span(0, 2_000, |t| t);

    // Keys with ?args: published as the part before '?'.
    for (key, name) in [
        ("argkey1?token=abc&x=1", "argkey1"),
        ("argkey2?a=../../../etc/passwd&b=/tmp/x", "argkey2"),
        ("argkey3?", "argkey3"),
        ("argkey4?x=%0d%0aFORGED%00&y=%7f", "argkey4"),
    ] {
        let mut p = Publisher::start(port, "live", "rtmp://127.0.0.1/live", key)
            .unwrap_or_else(|e| panic!("{key:?} refused: {e}"));
        p.tags(&two_s);
        p.finish();
        assert_hls_decodes(&n, name, 4_000);
    }

    // Keys that must never become a path (refused, or confined to hls_path).
    let up = format!("../../{marker}");
    let up3 = format!("../../../{marker}?x=1");
    let abs = format!("/tmp/{marker}");
    let long_args = format!("k?{}", "a".repeat(5000));
    let keys: Vec<String> = vec![
        up,
        up3,
        abs,
        format!("{marker}/../../x"),
        format!("ok\r\nFORGED line {marker}"),
        "nul\0key".into(),
        "delargs?y=\u{7f}&z=\r\nFORGED".into(),
        "esc\u{1b}[31mred".into(),
        "tab\tkey".into(),
        "?onlyargs".into(),
        "".into(),
        ".".into(),
        "..?x".into(),
        "%2e%2e%2f%2e%2e%2fpct".into(),
        "back\\..\\..\\slash".into(),
        "uni\u{202e}code".into(),
        long_args,
    ];
    let mut accepted = Vec::new();
    for key in &keys {
        if let Ok(mut p) = Publisher::start(port, "live", "rtmp://127.0.0.1/live", key) {
            accepted.push(key.clone());
            p.tags(&two_s);
            p.finish();
        }
    }
    eprintln!("names: accepted keys {accepted:?}");

    // Apps and tcUrls.
    let long_tc = format!("rtmp://127.0.0.1/live/{}", "x".repeat(60_000));
    let cases: Vec<(String, String)> = vec![
        ("live/../live".into(), "rtmp://127.0.0.1/live".into()),
        ("live\0".into(), "rtmp://127.0.0.1/live".into()),
        ("live\r\nFORGED".into(), "rtmp://127.0.0.1/live".into()),
        ("./live".into(), "rtmp://127.0.0.1/live".into()),
        ("/live".into(), "rtmp://127.0.0.1/live".into()),
        ("live?x=../..".into(), "rtmp://127.0.0.1/live".into()),
        ("".into(), "rtmp://127.0.0.1/".into()),
        (
            "live".into(),
            format!("rtmp://127.0.0.1/../../{marker}\r\nFORGED\u{1}"),
        ),
        ("live".into(), "\0\0\0".into()),
        ("live".into(), long_tc),
    ];
    let mut accepted_apps = Vec::new();
    for (i, (app, tc)) in cases.iter().enumerate() {
        let name = format!("tc{i}");
        if let Ok(mut p) = Publisher::start(port, app, tc, &name) {
            accepted_apps.push((app.clone(), i));
            p.tags(&two_s);
            p.finish();
            if app == "live" {
                assert_hls_decodes(&n, &name, 4_000);
            }
        }
    }
    eprintln!("names: accepted apps/tcUrls {accepted_apps:?}");
    // An app with a control character or a path step (before its `?args`, which nginx-rtmp
    // strips from the app) never reaches an application.
    assert!(
        accepted_apps.iter().all(|(app, _)| {
            let app = app.split('?').next().unwrap_or_default();
            !app.chars().any(char::is_control) && !app.contains("..")
        }),
        "app tricks accepted: {accepted_apps:?}\n{}",
        n.error_log()
    );

    n.assert_no_crash();
    assert_log_clean(&n);
    // Nothing outside the prefix carries the marker.
    let root = n.prefix.parent().unwrap();
    for dir in [
        root.to_path_buf(),
        root.parent().unwrap().to_path_buf(),
        PathBuf::from("/tmp"),
        PathBuf::from("/"),
    ] {
        for e in fs::read_dir(&dir).into_iter().flatten().flatten() {
            assert!(
                !e.file_name().to_string_lossy().contains(&marker),
                "written outside the prefix: {}",
                e.path().display()
            );
        }
    }
    // Inside hls_path: only plain file names (no directory escaped into, nothing odd).
    for e in fs::read_dir(hls_dir(&n)).expect("hls dir").flatten() {
        let f = e.file_name().to_string_lossy().into_owned();
        assert!(
            !f.chars().any(|c| c.is_control()) && !f.starts_with('.'),
            "odd file in hls_path: {f:?}"
        );
    }
    aftermath(&n, &w, "after-names");
    assert_log_clean(&n);
}

// ---------------------------------------------------------------------------------------------
// Idle connections
// ---------------------------------------------------------------------------------------------

/// 2000 idle connections, twice ([`two_rounds`]): a third silent after the TCP connect, a
/// third after the handshake, a third after connect. While they are open a normal publish
/// works; they are all reaped by the timeouts (handshake and `timeout` before connect, ping +
/// ping_timeout after); memory per connection is bounded and not leaked.
#[test]
fn thousands_of_idle_connections() {
    let n = server("abuse-idle");
    let w = Watch::new(&n);
    let port = n.rtmp_port;
    let open = |i: usize| match i % 3 {
        0 => TcpStream::connect(("127.0.0.1", port)).expect("connect"),
        1 => handshake(port).expect("handshake"),
        _ => {
            let mut s = handshake(port).expect("handshake");
            s.write_all(&connect_msg("live", "rtmp://127.0.0.1/live"))
                .expect("connect");
            s
        }
    };
    two_rounds(&n, &w, "idle", open, PING_S + PING_TIMEOUT_S + 5);
    aftermath(&n, &w, "after-idle");
}
