//! Replays every fuzz corpus file (`tests/corpus/<target>/*`, seeds from real captures and
//! regression inputs of crashes) through every fuzz driver (`fuzz/drivers.rs`, the code the
//! cargo-fuzz targets run), so plain `cargo test` keeps them: no panic, bounded time.
//!
//! `REGENERATE_CORPUS=1 cargo test --no-default-features --test corpus_replay` rewrites the
//! seeds extracted from a real ffmpeg FLV (made with ffmpeg, or `SEED_FLV=file.flv`) and from
//! the session corpus of `tests/rtmp_corpus.rs` (regenerate that one first).

#[path = "../fuzz/drivers.rs"]
mod drivers;
mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use ngx_rtmp::amf0::{self, Value};
use ngx_rtmp::rtmp::chunk::{ChunkDecoder, ChunkEncoder};
use ngx_rtmp::rtmp::Limits;

fn corpus_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn every_corpus_file_through_every_driver() {
    let start = Instant::now();
    let mut count = 0;
    for (target, _) in drivers::DRIVERS {
        let dir = corpus_root().join(target);
        let files = files_in(&dir);
        assert!(!files.is_empty(), "no seeds in {}", dir.display());
        for path in files {
            let bytes = std::fs::read(&path).unwrap();
            for (name, driver) in drivers::DRIVERS {
                let t = Instant::now();
                driver(&bytes);
                assert!(
                    t.elapsed() < Duration::from_secs(10),
                    "{name} on {} took {:?}",
                    path.display(),
                    t.elapsed()
                );
            }
            count += 1;
        }
    }
    // Regression inputs of crashes found by fuzzing, if any.
    for path in files_in(&corpus_root().join("regressions")) {
        let bytes = std::fs::read(&path).unwrap();
        for (_, driver) in drivers::DRIVERS {
            driver(&bytes);
        }
        count += 1;
    }
    assert!(count >= 20, "corpus too small: {count} files");
    assert!(
        start.elapsed() < Duration::from_secs(120),
        "corpus replay took {:?}",
        start.elapsed()
    );
}

fn make_seed_flv() -> Vec<u8> {
    if let Some(p) = std::env::var_os("SEED_FLV") {
        return std::fs::read(p).unwrap();
    }
    let out = std::env::temp_dir().join(format!("ngx-rtmp-seed-{}.flv", std::process::id()));
    let st = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc=size=320x240:rate=15"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
        .args([
            "-t",
            "3",
            "-c:v",
            "libx264",
            "-profile:v",
            "high",
            "-g",
            "15",
        ])
        .args([
            "-pix_fmt", "yuv420p", "-b:v", "60k", "-c:a", "aac", "-b:a", "32k", "-f", "flv",
        ])
        .arg(&out)
        .status()
        .expect("run ffmpeg");
    assert!(st.success());
    let v = std::fs::read(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    v
}

/// With `REGENERATE_CORPUS=1`: writes tests/corpus/<target>/ seeds (needs ffmpeg or
/// `SEED_FLV`). Without it there is nothing to do: the replay test checks the seeds exist.
#[test]
fn regenerate_seeds_on_request() {
    if std::env::var_os("REGENERATE_CORPUS").is_none() {
        return;
    }
    let root = corpus_root();
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    };
    let flv = make_seed_flv();
    let tags: Vec<(u8, u32, Vec<u8>)> = support::flv::tags(&flv)
        .into_iter()
        .map(support::flv::Tag::into_parts)
        .collect();
    let video: Vec<_> = tags.iter().filter(|t| t.0 == 9).collect();
    let audio: Vec<_> = tags.iter().filter(|t| t.0 == 8).collect();
    let script: Vec<_> = tags.iter().filter(|t| t.0 == 18).collect();

    // FLV tag headers: sequence headers, a keyframe, an inter frame, audio (truncated bodies:
    // only the header matters).
    let cut = |b: &[u8]| b[..b.len().min(64)].to_vec();
    write("flv_tag", "video_seq_header", &video[0].2);
    if let Some(k) = video.iter().skip(1).find(|t| t.2[0] >> 4 == 1) {
        write("flv_tag", "video_keyframe", &cut(&k.2));
    }
    if let Some(p) = video.iter().find(|t| t.2[0] >> 4 == 2) {
        write("flv_tag", "video_inter", &cut(&p.2));
    }
    write("flv_tag", "audio_seq_header", &audio[0].2);
    // An encoder's output: the stream's start, fed in pieces of 7 and of 256 bytes.
    let head = &flv[..flv.len().min(6 * 1024)];
    write("flv_stream", "ffmpeg_head_7", &[&[6u8][..], head].concat());
    write(
        "flv_stream",
        "ffmpeg_head_256",
        &[&[255u8][..], head].concat(),
    );
    write("flv_tag", "audio_raw", &cut(&audio[1].2));

    // AVCDecoderConfigurationRecord and its SPS; AudioSpecificConfig.
    let record = &video[0].2[5..];
    write("avc_config", "x264_high_record", record);
    let sps_len = u16::from_be_bytes([record[6], record[7]]) as usize;
    write("avc_config", "x264_high_sps", &record[8..8 + sps_len]);
    write("aac_config", "aac_lc_44100_mono", &audio[0].2[2..]);

    // AMF0: onMetaData as ffmpeg writes it, and every command of the session corpus.
    write("amf0_decode", "ffmpeg_onmetadata", &script[0].2);
    let mut n = 0;
    for path in files_in(&root.join("session")) {
        let bytes = std::fs::read(&path).unwrap();
        let body = &bytes[drivers::HANDSHAKE_LEN.min(bytes.len())..];
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        // The session's chunk stream, for the chunk decoder (step byte 255: whole input) and
        // for the session target that starts after a valid handshake.
        let mut chunked = vec![255u8];
        chunked.extend_from_slice(body);
        write("chunk_decoder", &stem, &chunked);
        write("session_handshake", &stem, body);
        let mut d = ChunkDecoder::new(&Limits::default());
        let mut rest = body;
        while let Ok((used, Some(m))) = d.decode(rest) {
            rest = &rest[used..];
            if m.type_id == 20 || m.type_id == 18 {
                let name = match amf0::decode_all(&m.payload, 8).ok().and_then(|v| {
                    v.first()
                        .and_then(Value::as_str)
                        .map(|s| s.replace(|c: char| !c.is_ascii_alphanumeric(), "_"))
                }) {
                    Some(s) => s,
                    None => "data".into(),
                };
                write("amf0_decode", &format!("{stem}_{n:02}_{name}"), &m.payload);
                n += 1;
            }
        }
    }

    // The FLV as RTMP chunks: Set Chunk Size 4096 then the first tags, as ffmpeg sends them.
    let mut enc = ChunkEncoder::new();
    let mut out = BytesMut::new();
    enc.write(&mut out, 2, 0, 1, 0, &4096u32.to_be_bytes())
        .unwrap();
    enc.set_chunk_size(4096);
    for (t, ts, body) in tags.iter().take(40) {
        let csid = if *t == 9 { 7 } else { 6 };
        enc.write(&mut out, csid, *ts, *t, 1, body).unwrap();
    }
    let mut chunked = vec![200u8];
    chunked.extend_from_slice(&out);
    write("chunk_decoder", "ffmpeg_flv_chunk4096", &chunked);
    let mut enc = ChunkEncoder::new();
    let mut out = BytesMut::new();
    for (t, ts, body) in tags.iter().take(12) {
        enc.write(&mut out, if *t == 9 { 7 } else { 6 }, *ts, *t, 1, body)
            .unwrap();
    }
    let mut chunked = vec![16u8];
    chunked.extend_from_slice(&out);
    write("chunk_decoder", "ffmpeg_flv_chunk128", &chunked);

    // Media records for demux / hls: the whole clip, and its first second.
    let media: Vec<_> = tags.iter().filter(|t| t.0 == 8 || t.0 == 9).collect();
    let mut all = Vec::new();
    let mut first = Vec::new();
    for (t, ts, body) in &media {
        drivers::encode_media_record(&mut all, *t == 9, *ts, body);
        if *ts < 1000 {
            drivers::encode_media_record(&mut first, *t == 9, *ts, body);
        }
    }
    write("demux", "ffmpeg_3s", &all);
    write("demux", "ffmpeg_1s", &first);
    // hls_stream: a config byte first (0x02: 600 ms fragments; 0x61: nested, aligned).
    for (name, cfg) in [("ffmpeg_3s_frag600", 0x02u8), ("ffmpeg_3s_nested", 0x61)] {
        let mut v = vec![cfg];
        v.extend_from_slice(&all);
        write("hls_stream", name, &v);
    }
}

/// The Enhanced RTMP seeds are valid input (so the fuzzer starts from the parsers' good paths):
/// every `ex_header` seed parses as a video or an audio message, every record seed parses.
#[test]
fn enhanced_rtmp_seeds_parse() {
    use bytes::Bytes;
    use ngx_rtmp::media::{
        parse_ex_audio, parse_ex_video, Av1Config, HevcConfig, HevcSpsInfo, OpusHead, VpConfig,
    };
    let seeds = |target: &str| -> Vec<(PathBuf, Bytes)> {
        files_in(&corpus_root().join(target))
            .into_iter()
            .map(|p| {
                let b = Bytes::from(std::fs::read(&p).unwrap());
                (p, b)
            })
            .collect()
    };
    for (p, b) in seeds("ex_header") {
        assert!(
            parse_ex_video(&b).is_ok() || parse_ex_audio(&b).is_ok(),
            "{}",
            p.display()
        );
    }
    for (p, b) in seeds("hevc_config") {
        assert!(
            HevcConfig::parse(&b).is_ok() || HevcSpsInfo::parse(&b).is_ok(),
            "{}",
            p.display()
        );
    }
    for (p, b) in seeds("av1_config") {
        assert!(
            Av1Config::parse(&b).unwrap().max_size.is_some(),
            "{}",
            p.display()
        );
    }
    for (p, b) in seeds("vp_config") {
        VpConfig::parse(&b).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    }
    for (p, b) in seeds("opus_head") {
        OpusHead::parse(&b).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    }
}
