//! DASH and recording of the modern codecs in the core: FFmpeg 9 encodes HEVC+AAC, AV1+Opus
//! and VP9+Opus into FLV (Enhanced RTMP tags); the tags go through the `Demuxer` into a
//! `DashStream`, an `Mp4Writer` and, on a pipeline, an FLV `Recorder`, and FFmpeg 9 reads
//! what they wrote: zero errors, the video frame for frame (MD5) equal to the source's,
//! every audio frame; Opus on a 48 kHz timeline in 960-sample frames; the FLV's metadata
//! names the codecs as FFmpeg's muxer does.

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;

use bytes::Bytes;
use ngx_rtmp::dash::{DashConfig, DashStream};
use ngx_rtmp::live::{GopCache, Incoming, OutputOp, Pipeline};
use ngx_rtmp::media::{Demuxer, Frame, Track};
use ngx_rtmp::record::mp4::{Mp4Writer, Tracks};
use ngx_rtmp::record::{RecordConfig, RecordFormat, RecordMode, Recorder};
use support::ffmpeg9;
use support::fileops::Disk;
use support::fmp4::{parse_fragment, parse_init};
use support::media::now;
use support::recording::metadata;

/// A source file and what FFmpeg 9 decodes from it.
struct Source {
    name: &'static str,
    path: PathBuf,
    video_md5: Vec<String>,
    audio_frames: usize,
    /// Audio frames before the first video keyframe (a recording starts at that keyframe).
    audio_before_key: usize,
    /// RFC 6381 codecs of the video and audio.
    codecs: (&'static str, &'static str),
    fourccs: (&'static [u8; 4], Option<&'static [u8; 4]>),
}

/// Name, encoder arguments, codecs (video prefix, audio), FourCCs (video, audio if not AAC).
type Recipe = (
    &'static str,
    &'static [&'static str],
    (&'static str, &'static str),
    (&'static [u8; 4], Option<&'static [u8; 4]>),
);

struct Sources {
    all: Vec<Source>,
}

fn dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ngx-rtmp-codecs-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// 4 s of 320x240 at 15 fps with a keyframe every second, and a 48 kHz tone.
fn encode(d: &Path, name: &'static str, codecs: &[&str]) -> (PathBuf, Vec<String>, usize) {
    let path = d.join(format!("{name}.flv"));
    ffmpeg9::encode_test_pattern(&path, "4", codecs);
    let (video, err) = ffmpeg9::frame_md5(&path, "0:v:0", false);
    assert!(err.is_empty(), "{name}: {err}");
    let (audio, err) = ffmpeg9::frame_md5(&path, "0:a:0", false);
    assert!(err.is_empty(), "{name}: {err}");
    assert_eq!(video.len(), 60, "{name}: 4 s at 15 fps");
    (path, video, audio.len())
}

fn sources() -> &'static Sources {
    static S: OnceLock<Sources> = OnceLock::new();
    S.get_or_init(|| {
        let d = dir("src");
        let mut all = Vec::new();
        let list: [Recipe; 3] = [
            (
                "hevc",
                &[
                    "-c:v",
                    "libx265",
                    "-preset",
                    "ultrafast",
                    "-x265-params",
                    "keyint=15:min-keyint=15:scenecut=0:log-level=error",
                    "-c:a",
                    "aac",
                ],
                ("hvc1.", "mp4a.40.2"),
                (b"hvc1", None),
            ),
            (
                "av1",
                &[
                    "-c:v",
                    "libsvtav1",
                    "-preset",
                    "12",
                    "-g",
                    "15",
                    "-svtav1-params",
                    "log-level=0",
                    "-c:a",
                    "libopus",
                    "-b:a",
                    "32k",
                ],
                ("av01.", "opus"),
                (b"av01", Some(b"Opus")),
            ),
            (
                "vp9",
                &[
                    "-c:v",
                    "libvpx-vp9",
                    "-deadline",
                    "realtime",
                    "-cpu-used",
                    "8",
                    "-g",
                    "15",
                    "-b:v",
                    "200k",
                    "-c:a",
                    "libopus",
                    "-b:a",
                    "32k",
                ],
                ("vp09.", "opus"),
                (b"vp09", Some(b"Opus")),
            ),
        ];
        for (name, args, codecs, fourccs) in list {
            let (path, video_md5, audio_frames) = encode(&d, name, args);
            let mut src = Source {
                name,
                path,
                video_md5,
                audio_frames,
                audio_before_key: 0,
                codecs,
                fourccs,
            };
            let mut key = None;
            let mut before = 0;
            demux(&src, |f, _| {
                if f.track == Track::Video && f.keyframe {
                    key.get_or_insert(f.dts);
                }
                before += usize::from(f.track == Track::Audio && key.is_none());
            });
            src.audio_before_key = before;
            all.push(src);
        }
        Sources { all }
    })
}

/// The source's frames as RTMP delivers them, with the demuxer after each.
fn demux(src: &Source, mut f: impl FnMut(&Frame, &Demuxer)) {
    let mut d = Demuxer::new();
    for tag in support::flv::tags(&std::fs::read(&src.path).unwrap()) {
        let payload = Bytes::from(tag.body);
        let frames = match tag.type_id {
            8 => d.push_audio(tag.ts, payload).unwrap().to_vec(),
            9 => d.push_video(tag.ts, payload).unwrap().to_vec(),
            _ => Vec::new(),
        };
        for frame in &frames {
            f(frame, &d);
        }
    }
}

/// The decoded file equals the source: zero errors, the video frame for frame, and
/// `audio_frames` audio frames.
fn assert_same(what: &str, file: &Path, src: &Source, audio_frames: usize) {
    let (video, err) = ffmpeg9::frame_md5(file, "0:v:0", false);
    assert!(err.is_empty(), "{what} {}: video: {err}", src.name);
    assert_eq!(video.len(), src.video_md5.len(), "{what} {}", src.name);
    assert!(video == src.video_md5, "{what} {}: frames differ", src.name);
    let (audio, err) = ffmpeg9::frame_md5(file, "0:a:0", false);
    assert!(err.is_empty(), "{what} {}: audio: {err}", src.name);
    assert_eq!(audio.len(), audio_frames, "{what} {}", src.name);
}

fn attr<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    text.match_indices(&format!(" {name}=\""))
        .filter_map(|(i, m)| {
            let rest = &text[i + m.len()..];
            rest.find('"').map(|end| &rest[..end])
        })
        .collect()
}

#[test]
fn dash_writes_every_codec_as_ffmpeg_reads_it() {
    for src in &sources().all {
        let out = dir(&format!("dash-{}", src.name));
        let mut disk = Disk::new(out.clone());
        let conf = DashConfig {
            fragment_ms: 2000,
            cleanup: false,
            ..DashConfig::default()
        };
        let mut s = DashStream::new(conf, "cam", now(0)).unwrap();
        let mut last = 0;
        demux(src, |frame, d| {
            s.push(frame, d, now(frame.dts)).unwrap();
            last = frame.dts;
            while let Some(op) = s.poll_op() {
                disk.apply(op);
            }
        });
        s.finish(now(last + 100)).unwrap();
        while let Some(op) = s.poll_op() {
            disk.apply(op);
        }
        let mpd = out.join("cam.mpd");
        let text = std::fs::read_to_string(&mpd).unwrap();
        let codecs = attr(&text, "codecs");
        assert!(
            codecs.len() == 2 && codecs[0].starts_with(src.codecs.0) && codecs[1] == src.codecs.1,
            "{}: {codecs:?}",
            src.name
        );
        assert_same("DASH", &mpd, src, src.audio_frames);

        // Opus: a 48 kHz timeline of 960-sample frames, end to end.
        if src.codecs.1 == "opus" {
            assert_eq!(attr(&text, "audioSamplingRate"), ["48000"]);
            let init = std::fs::read(out.join("cam-init.m4a")).unwrap();
            assert_eq!(parse_init(&init)[0].timescale, 48_000);
            let seg = std::fs::read(out.join("cam-0.m4a")).unwrap();
            // After the segment's `styp`.
            let styp = u32::from_be_bytes(seg[..4].try_into().unwrap()) as usize;
            let (_, runs) = parse_fragment(&seg[styp..]);
            assert_eq!(runs[0].base_decode_time, 0);
            assert!(
                runs[0].durations.iter().all(|&d| d == 960),
                "{:?}",
                runs[0].durations
            );
        }
    }
}

#[test]
fn mp4_recordings_of_every_codec_read_back_whole() {
    for src in &sources().all {
        let out = dir(&format!("mp4-{}", src.name));
        let mut w = Mp4Writer::new(1000, Tracks::ALL);
        let mut file = Vec::new();
        demux(src, |frame, d| {
            if let Some(piece) = w.push(frame, d).unwrap() {
                file.extend_from_slice(&piece);
            }
        });
        file.extend_from_slice(&w.finish());
        let path = out.join("cam.mp4");
        std::fs::write(&path, &file).unwrap();
        assert_eq!((w.dropped_frames(), w.skipped_frames()), (0, 0));
        assert_same("MP4", &path, src, src.audio_frames);
    }
}

/// Records the FLV file `src` through a pipeline with a recorder (`record all`, in
/// `format`) into `out`; returns the recording's path.
fn record(src: &Path, out: &Path, format: RecordFormat) -> PathBuf {
    let mut p = Pipeline::published(GopCache::new(true, 4096, 32 << 20), 4096);
    let mut conf = RecordConfig::new(RecordMode::ALL);
    conf.format = format;
    p.attach(Box::new(Recorder::new(conf, "cam")));
    let mut disk = Disk::new(out.to_path_buf());
    let mut drain = |p: &mut Pipeline| {
        while let Some((_, op)) = p.poll_op() {
            match op {
                OutputOp::File(op) => disk.apply(op),
                OutputOp::Send(_) => panic!("the recorder sends no bytes"),
            }
        }
    };
    let mut last = 0;
    for t in support::flv::tags(&std::fs::read(src).unwrap()) {
        let payload = Bytes::from(t.body);
        last = u64::from(t.ts);
        p.ingest(
            Incoming {
                type_id: t.type_id,
                timestamp: t.ts,
                payload: &payload,
                now: now(last),
            },
            false,
        );
        drain(&mut p);
    }
    p.finish(now(last + 40));
    drain(&mut p);
    out.join(match format {
        RecordFormat::Flv => "cam.flv",
        RecordFormat::Mp4 => "cam.mp4",
    })
}

#[test]
fn flv_recordings_of_enhanced_rtmp_read_back_whole() {
    for src in &sources().all {
        let path = record(
            &src.path,
            &dir(&format!("flv-{}", src.name)),
            RecordFormat::Flv,
        );
        assert_same("FLV", &path, src, src.audio_frames - src.audio_before_key);
        let meta = metadata(&std::fs::read(&path).unwrap());
        let id = |c: &[u8; 4]| f64::from(u32::from_be_bytes(*c));
        assert_eq!(meta.get_f64("videocodecid"), Some(id(src.fourccs.0)));
        let audio = src.fourccs.1.map_or(10.0, id);
        assert_eq!(meta.get_f64("audiocodecid"), Some(audio));
        assert_eq!(meta.get_f64("audiosamplerate"), Some(48_000.0));
        // VP9's from its key frames: its configuration records carry no picture size.
        assert_eq!(meta.get_f64("height"), Some(240.0));
    }
}

/// The frames of each stream FFmpeg 9 finds in `file`, in the order it lists them
/// (`v:0`, `v:1`, `a:0`, `a:1`).
fn multitrack_md5(file: &Path) -> Vec<Vec<String>> {
    ["v:0", "v:1", "a:0", "a:1"]
        .iter()
        .map(|sel| {
            let (hashes, err) = ffmpeg9::frame_md5(file, &format!("0:{sel}"), false);
            assert!(err.is_empty(), "{} {sel}: {err}", file.display());
            hashes
        })
        .collect()
}

#[test]
fn a_multitrack_stream_recorded_keeps_every_track_in_flv_and_the_primary_ones_in_mp4() {
    // H.264 320x240 and HEVC 160x120, AAC and Opus: FFmpeg 9 sends the second of each kind
    // as a multitrack message of track 1, its SequenceStart included.
    let d = dir("multi");
    let path = d.join("multi.flv");
    let out = ffmpeg9::command()
        .args(["-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=15"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-t", "4", "-pix_fmt", "yuv420p"])
        .args(["-map", "0:v", "-map", "0:v", "-map", "1:a", "-map", "1:a"])
        .args([
            "-c:v:0", "libx264", "-g", "15", "-c:v:1", "libx265", "-s:v:1", "160x120",
        ])
        .args([
            "-x265-params",
            "keyint=15:min-keyint=15:scenecut=0:log-level=error",
        ])
        .args(["-c:a:0", "aac", "-c:a:1", "libopus", "-f", "flv"])
        .arg(&path)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let source = multitrack_md5(&path);
    assert!(
        source.iter().all(|s| !s.is_empty()),
        "four streams in the source"
    );
    // Audio of each track sent before the primary video keyframe: not in the recording.
    let mut before = [0usize; 2];
    let mut keyed = false;
    let mut d_ = Demuxer::new();
    for tag in support::flv::tags(&std::fs::read(&path).unwrap()) {
        let payload = Bytes::from(tag.body);
        let frames = match tag.type_id {
            8 => d_.push_audio(tag.ts, payload).unwrap().to_vec(),
            9 => d_.push_video(tag.ts, payload).unwrap().to_vec(),
            _ => continue,
        };
        for f in frames {
            keyed |= f.track == Track::Video && f.track_id == 0 && f.keyframe;
            if !keyed && f.track == Track::Audio {
                before[usize::from(f.track_id.min(1))] += 1;
            }
        }
    }
    let rec = record(&path, &d, RecordFormat::Flv);
    let got = multitrack_md5(&rec);
    assert!(got[0] == source[0], "track 0 video frames differ");
    assert!(got[1] == source[1], "track 1 video frames differ");
    assert_eq!(got[2].len(), source[2].len() - before[0], "track 0 audio");
    assert_eq!(got[3].len(), source[3].len() - before[1], "track 1 audio");

    // An MP4 recording holds the primary tracks only.
    let mp4 = record(&path, &d, RecordFormat::Mp4);
    let (video, err) = ffmpeg9::frame_md5(&mp4, "0:v:0", false);
    assert!(err.is_empty(), "MP4: {err}");
    assert!(video == source[0], "MP4: track 0 video frames differ");
    let (audio, err) = ffmpeg9::frame_md5(&mp4, "0:a:0", false);
    assert!(err.is_empty(), "MP4: {err}");
    assert_eq!(
        audio.len(),
        source[2].len() - before[0],
        "MP4: track 0 audio"
    );
    let probe = ffmpeg9::command()
        .args(["-v", "info", "-i"])
        .arg(&mp4)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&probe.stderr);
    assert_eq!(
        listing.matches("Stream #0:").count(),
        2,
        "MP4: one video and one audio track\n{listing}"
    );
}
