//! Recording to fragmented MP4 on real media: a 20 s FFmpeg encode (H.264 with B-frames,
//! AAC) demuxed as RTMP delivers it and written by `Mp4Writer`, then read back by FFmpeg:
//! duration, seeking, every video frame exactly once, a crash in the middle of a fragment,
//! and the random access index at the end. Then the same through the `Recorder`
//! (`record_format mp4`) as an output of a real pipeline, its ops executed on disk: names,
//! interval splits, and a crash 10 s in.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use bytes::Bytes;
use ngx_rtmp::live::{GopCache, Incoming, OutputOp, Pipeline};
use ngx_rtmp::media::{Demuxer, Track};
use ngx_rtmp::record::mp4::{Mp4Writer, Tracks, DEFAULT_FRAGMENT_MS};
use ngx_rtmp::record::{RecordConfig, RecordFormat, RecordHandle, RecordMode, Recorder};
use support::fileops::Disk;
use support::media::now;

fn tmpdir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ngx-rtmp-rec-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs a tool with a whitespace-separated argument line; returns (success, stdout, stderr).
fn run(tool: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(tool).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn have_ffmpeg() -> bool {
    Command::new("ffmpeg").arg("-version").output().is_ok()
        && Command::new("ffprobe").arg("-version").output().is_ok()
}

/// 320x240 at 30 fps with 2 B-frames and a keyframe every 1.6 s, AAC at 44.1 kHz, 20 s.
fn encode_source(dir: &Path) -> PathBuf {
    encode_source_gop(dir, 48)
}

/// The same with a keyframe every `gop` frames.
fn encode_source_gop(dir: &Path, gop: u32) -> PathBuf {
    let src = dir.join("src.flv");
    let line = format!(
        "-v error -y -f lavfi -i testsrc=size=320x240:rate=30 -f lavfi \
         -i sine=frequency=440:sample_rate=44100 -t 20 -c:v libx264 -g {gop} \
         -keyint_min {gop} -sc_threshold 0 -bf 2 \
         -pix_fmt yuv420p -c:a aac -b:a 64k -f flv {}",
        src.display()
    );
    let args: Vec<&str> = line.split_whitespace().collect();
    let (ok, _, err) = run("ffmpeg", &args);
    assert!(ok, "encode: {err}");
    src
}

/// The recording of `src` and, for each piece the writer handed out, the file size after
/// it and the number of video frames it completes.
struct Recording {
    file: Vec<u8>,
    pieces: Vec<(usize, usize)>,
    video_frames: usize,
    writer: Mp4Writer,
}

fn record(src: &Path, fragment_ms: u64) -> Recording {
    let mut demuxer = Demuxer::new();
    let mut writer = Mp4Writer::new(fragment_ms, Tracks::ALL);
    let mut file = Vec::new();
    let mut pieces = Vec::new();
    let mut video_frames = 0;
    for tag in support::flv::tags(&std::fs::read(src).unwrap()) {
        let frame = match tag.type_id {
            8 => demuxer
                .push_audio(tag.ts, Bytes::from(tag.body))
                .unwrap()
                .first()
                .cloned(),
            9 => demuxer
                .push_video(tag.ts, Bytes::from(tag.body))
                .unwrap()
                .first()
                .cloned(),
            _ => None,
        };
        let Some(frame) = frame else { continue };
        if let Some(piece) = writer.push(&frame, &demuxer).unwrap() {
            file.extend_from_slice(&piece);
            pieces.push((file.len(), video_frames));
        }
        video_frames += usize::from(frame.track == Track::Video);
    }
    let tail = writer.finish();
    assert!(!tail.is_empty());
    file.extend_from_slice(&tail);
    Recording {
        file,
        pieces,
        video_frames,
        writer,
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

fn duration(path: &Path) -> f64 {
    let p = path.to_str().unwrap();
    let (ok, out, err) = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
            p,
        ],
    );
    assert!(ok, "ffprobe {p}: {err}");
    out.trim().parse().unwrap()
}

/// The format's start time: 0 when the file's edit lists start its presentation at 0.
fn start_time(path: &Path) -> f64 {
    let p = path.to_str().unwrap();
    let (ok, out, err) = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-show_entries",
            "format=start_time",
            "-of",
            "csv=p=0",
            p,
        ],
    );
    assert!(ok, "ffprobe {p}: {err}");
    out.trim().parse().unwrap()
}

/// The duration of the file's video track.
fn video_duration(path: &Path) -> f64 {
    let p = path.to_str().unwrap();
    let (ok, out, err) = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=duration",
            "-of",
            "csv=p=0",
            p,
        ],
    );
    assert!(ok, "ffprobe {p}: {err}");
    out.trim().parse().unwrap()
}

/// MD5 of each decoded video frame, in output order.
fn frame_md5s(path: &Path, pre: &[&str]) -> (Vec<String>, String) {
    stream_md5s(path, pre, "0:v")
}

/// MD5 of each decoded frame of the streams `map` selects, in output order.
fn stream_md5s(path: &Path, pre: &[&str], map: &str) -> (Vec<String>, String) {
    let mut args: Vec<&str> = vec!["-v", "error"];
    args.extend_from_slice(pre);
    args.extend_from_slice(&[
        "-i",
        path.to_str().unwrap(),
        "-map",
        map,
        "-f",
        "framemd5",
        "-",
    ]);
    let (_, out, err) = run("ffmpeg", &args);
    let md5s = out
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit(',').next())
        .map(|h| h.trim().to_owned())
        .collect();
    (md5s, err)
}

#[test]
fn ffmpeg_reads_a_real_recording() {
    assert!(
        have_ffmpeg(),
        "ffmpeg is required (scripts/test.sh installs it)"
    );
    let dir = tmpdir("mp4");
    let src = encode_source(&dir);
    let rec = record(&src, DEFAULT_FRAGMENT_MS);
    let path = dir.join("rec.mp4");
    std::fs::write(&path, &rec.file).unwrap();
    assert_eq!(rec.writer.bytes_written(), rec.file.len() as u64);
    // One fragment per keyframe interval (1.6 s) over 20 s.
    assert!(
        (12..=14).contains(&rec.writer.fragments()),
        "{} fragments",
        rec.writer.fragments()
    );

    // Presentation from 0 (the edit lists skip the B-frame delay), duration within 100 ms
    // of the media.
    assert_eq!(start_time(&path), 0.0);
    let (want, got) = (duration(&src), duration(&path));
    eprintln!(
        "source {want} s, recording {got} s, {} fragments, {} bytes",
        rec.writer.fragments(),
        rec.file.len()
    );
    assert!(
        (want - got).abs() <= 0.1,
        "source {want} s, recording {got} s"
    );
    assert!(
        (rec.writer.duration_ms() as f64 / 1000.0 - got).abs() <= 0.1,
        "writer says {} ms, ffprobe {got} s",
        rec.writer.duration_ms()
    );

    // Every video frame exactly once, bit-exact.
    let (source, err) = frame_md5s(&src, &[]);
    assert!(err.trim().is_empty(), "{err}");
    assert_eq!(source.len(), rec.video_frames);
    let (recorded, err) = frame_md5s(&path, &[]);
    assert!(err.trim().is_empty(), "{err}");
    assert_eq!(recorded.len(), source.len());
    assert!(
        recorded == source,
        "decoded frames differ from the source's"
    );

    // Audio too, and no decoding error anywhere.
    let (source, err) = stream_md5s(&src, &[], "0:a");
    assert!(err.trim().is_empty(), "{err}");
    let (recorded, err) = stream_md5s(&path, &[], "0:a");
    assert!(err.trim().is_empty(), "{err}");
    assert!(
        recorded == source,
        "decoded audio differs from the source's"
    );
    let source_video = frame_md5s(&src, &[]).0;

    // Seeking to 10 s decodes from there on, without an error.
    for pre in [&[][..], &["-use_mfra_for", "pts"][..]] {
        let mut args = pre.to_vec();
        args.extend_from_slice(&["-ss", "10"]);
        let (seeked, err) = frame_md5s(&path, &args);
        assert!(err.trim().is_empty(), "{pre:?}: {err}");
        assert!(
            (295..=305).contains(&seeked.len()),
            "{pre:?}: {} frames after -ss 10",
            seeked.len()
        );
        assert_eq!(seeked.last(), source_video.last());
    }

    // The index: an mfra found from the mfro at the end, a tfra per track with an entry per
    // fragment (each starts with a keyframe here), each pointing at a moof.
    let n = rec.file.len();
    let mfra_size = u32::from_be_bytes(rec.file[n - 4..].try_into().unwrap()) as usize;
    let mfra = &rec.file[n - mfra_size..];
    assert_eq!(&mfra[4..8], b"mfra");
    let mut pos = 8;
    let mut tracks = Vec::new();
    while &mfra[pos + 4..pos + 8] == b"tfra" {
        let size = u32_at(mfra, pos) as usize;
        let (id, count) = (u32_at(mfra, pos + 12), u32_at(mfra, pos + 20));
        for e in 0..count as usize {
            let at = pos + 24 + e * 22;
            let moof = u64::from_be_bytes(mfra[at + 8..at + 16].try_into().unwrap()) as usize;
            assert_eq!(
                &rec.file[moof + 4..moof + 8],
                b"moof",
                "track {id} entry {e}"
            );
        }
        tracks.push((id, count));
        pos += size;
    }
    assert_eq!(&mfra[pos + 4..pos + 8], b"mfro");
    let fragments = rec.writer.fragments();
    assert_eq!(tracks, vec![(1, fragments), (2, fragments)]);
    // FFmpeg reads it when told to use it (by default it walks the moof headers instead).
    let p = path.to_str().unwrap();
    let (ok, _, trace) = run("ffprobe", &["-v", "trace", "-use_mfra_for", "pts", p]);
    assert!(ok);
    assert!(trace.contains("stream has mfra"), "{trace}");
    assert!(trace.contains("found tfra"), "{trace}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_crash_in_the_middle_of_a_fragment_keeps_every_complete_fragment() {
    assert!(
        have_ffmpeg(),
        "ffmpeg is required (scripts/test.sh installs it)"
    );
    let dir = tmpdir("crash");
    let src = encode_source(&dir);
    let rec = record(&src, DEFAULT_FRAGMENT_MS);
    let (source, _) = frame_md5s(&src, &[]);
    // Cut halfway through the fragment that ends past the middle of the file.
    let k = rec
        .pieces
        .iter()
        .position(|&(end, _)| end > rec.file.len() / 2)
        .unwrap();
    let (start, complete) = rec.pieces[k - 1];
    let (end, _) = rec.pieces[k];
    let cut = (start + end) / 2;
    let path = dir.join("crashed.mp4");
    std::fs::write(&path, &rec.file[..cut]).unwrap();
    let (decoded, err) = frame_md5s(&path, &[]);
    assert!(
        decoded.len() >= complete,
        "{} frames decoded, {complete} in complete fragments: {err}",
        decoded.len()
    );
    assert!(decoded.len() < source.len());
    assert!(
        source.starts_with(&decoded),
        "the crashed file's frames are not the source's first ones"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- The recorder with `record_format mp4`, through a pipeline, onto disk. ----

fn mp4_conf() -> RecordConfig {
    let mut conf = RecordConfig::new(RecordMode::ALL);
    conf.format = RecordFormat::Mp4;
    conf
}

/// Publishes the source's tags through a pipeline with a recorder, executing its ops in
/// `dir`. `crash_at`: stop executing after the tags up to that timestamp (no finish), as a
/// killed worker does. Returns the finished recordings' names.
fn record_pipeline(
    dir: &Path,
    src: &Path,
    conf: RecordConfig,
    crash_at: Option<u32>,
) -> (Vec<String>, RecordHandle) {
    record_pipeline_until(dir, src, conf, crash_at, true)
}

/// [`record_pipeline`] where the publisher stops (the stream finishes) after the tags up
/// to `until` when `crash` is false.
fn record_pipeline_until(
    dir: &Path,
    src: &Path,
    conf: RecordConfig,
    until: Option<u32>,
    crash: bool,
) -> (Vec<String>, RecordHandle) {
    let crash_at = until.filter(|_| crash);
    let end_at = until.filter(|_| !crash);
    let data = std::fs::read(src).unwrap();
    let mut p = Pipeline::published(GopCache::new(true, 4096, 32 << 20), 4096);
    let rec = Recorder::new(conf, "cam");
    let handle = rec.handle();
    p.attach(Box::new(rec));
    let mut disk = Disk::new(dir.to_path_buf());
    let drain = |p: &mut Pipeline, disk: &mut Disk| {
        while let Some((_, op)) = p.poll_op() {
            match op {
                OutputOp::File(op) => disk.apply(op),
                OutputOp::Send(_) => panic!("the recorder sends no bytes"),
            }
        }
    };
    let mut last = 0;
    for t in support::flv::tags(&data) {
        if crash_at.is_some_and(|c| t.ts > c) {
            return (disk.recordings.clone(), handle);
        }
        if end_at.is_some_and(|e| t.ts > e) {
            break;
        }
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
        drain(&mut p, &mut disk);
    }
    p.finish(now(last + 40));
    drain(&mut p, &mut disk);
    (disk.recordings.clone(), handle)
}

#[test]
fn the_recorder_writes_mp4_that_is_exact_and_seekable() {
    assert!(have_ffmpeg(), "ffmpeg is required");
    let dir = tmpdir("rec-mp4");
    let src = encode_source(&dir);
    let (files, handle) = record_pipeline(&dir, &src, mp4_conf(), None);
    assert_eq!(files, ["cam.mp4"], "the format's default suffix");
    assert!(!dir.join("cam.mp4.part").exists());
    assert_eq!(handle.status().files, 1);
    let path = dir.join("cam.mp4");
    assert_eq!(start_time(&path), 0.0);
    let (want, got) = (duration(&src), duration(&path));
    assert!(
        (want - got).abs() <= 0.1,
        "source {want} s, recording {got} s"
    );
    for map in ["0:v", "0:a"] {
        let (source, _) = stream_md5s(&src, &[], map);
        let (recorded, err) = stream_md5s(&path, &[], map);
        assert!(err.trim().is_empty(), "{map}: {err}");
        assert!(source.len() > 400, "{map}: {} frames", source.len());
        assert!(recorded == source, "{map}: decoded frames differ");
    }
    let (seeked, err) = frame_md5s(&path, &["-ss", "10"]);
    assert!(err.trim().is_empty(), "-ss 10: {err}");
    assert!((295..=305).contains(&seeked.len()), "{}", seeked.len());
    let data = std::fs::read(&path).unwrap();
    let n = data.len();
    assert_eq!(&data[n - 12..n - 8], b"mfro", "finished with the index");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn recorder_interval_splits_are_complete_mp4_files_that_add_up() {
    assert!(have_ffmpeg(), "ffmpeg is required");
    let dir = tmpdir("rec-mp4-split");
    let src = encode_source_gop(&dir, 30);
    let mut conf = mp4_conf();
    conf.interval_ms = Some(5_000);
    conf.unique = true;
    let (files, _) = record_pipeline(&dir, &src, conf, None);
    assert_eq!(files.len(), 4, "{files:?}");

    assert!(files.iter().all(|f| f.ends_with(".mp4")), "{files:?}");
    let mut total = 0.0;
    let mut video = Vec::new();
    let mut audio = 0;
    for f in &files {
        let path = dir.join(f);
        let data = std::fs::read(&path).unwrap();
        assert_eq!(&data[4..8], b"ftyp", "{f}");
        assert_eq!(&data[data.len() - 12..data.len() - 8], b"mfro", "{f}");
        assert_eq!(start_time(&path), 0.0, "{f}");
        let d = duration(&path);
        assert!((d - 5.0).abs() <= 0.1, "{f}: {d}");
        total += d;
        let (v, err) = frame_md5s(&path, &[]);
        assert!(err.trim().is_empty(), "{f} decodes from its start: {err}");
        video.extend(v);
        audio += stream_md5s(&path, &[], "0:a").0.len();
    }
    // The video tracks add up to the source's 600 frames at 30 fps exactly, and the files'
    // durations to the source's: the audio presented before a split's keyframe (its
    // B-frame delay after the cut) is in the file before it, so the files do not overlap.
    let video_total: f64 = files.iter().map(|f| video_duration(&dir.join(f))).sum();
    assert!((video_total - 20.0).abs() <= 0.05, "video {video_total} s");
    let want = duration(&src);
    eprintln!("files {total} s, source {want} s");
    assert!((total - want).abs() <= 0.1, "{total} vs {want}");
    assert!(video == frame_md5s(&src, &[]).0, "every video frame once");
    assert_eq!(audio, stream_md5s(&src, &[], "0:a").0.len());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_recorder_killed_at_10s_leaves_a_part_file_that_decodes_to_within_a_fragment() {
    assert!(have_ffmpeg(), "ffmpeg is required");
    let dir = tmpdir("rec-mp4-crash");
    // A keyframe every second: fragments of `record_fragment` (1 s).
    let src = encode_source_gop(&dir, 30);
    let (files, handle) = record_pipeline(&dir, &src, mp4_conf(), Some(10_000));
    assert!(files.is_empty());
    let st = handle.status();
    let part = dir.join("cam.mp4.part");
    let on_disk = std::fs::metadata(&part).unwrap().len();
    assert_eq!(st.path.as_ref().map(|p| p.as_str()), Some("cam.mp4"));
    assert!(st.bytes > on_disk, "{} bytes, {on_disk} on disk", st.bytes);
    assert!((9_900..=10_100).contains(&st.duration_ms), "{st:?}");
    assert!(st.frames > 700, "{st:?}");
    let (decoded, err) = frame_md5s(&part, &[]);
    let (source, _) = frame_md5s(&src, &[]);
    // 10 s at 30 fps, less at most one fragment (1 s) and the frame at the cut.
    assert!(
        decoded.len() >= 300 - 31 && decoded.len() <= 300,
        "{} frames decoded: {err}",
        decoded.len()
    );
    assert!(source.starts_with(&decoded), "the source's first frames");
    assert_eq!(start_time(&part), 0.0);
    let d = duration(&part);
    assert!((9.0..=10.1).contains(&d), "{d}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_stream_that_ends_at_a_split_keyframe_keeps_it_in_a_last_file() {
    assert!(have_ffmpeg(), "ffmpeg is required");
    let dir = tmpdir("rec-mp4-end-at-split");
    let src = encode_source_gop(&dir, 30);
    let mut conf = mp4_conf();
    conf.interval_ms = Some(5_000);
    conf.unique = true;
    // The last message is the keyframe at 5 s that is due to split: its file waits for the
    // audio presented before it, and the end of the stream writes it.
    let (files, _) = record_pipeline_until(&dir, &src, conf, Some(5_000), false);
    assert_eq!(files.len(), 2, "{files:?}");
    let (source, _) = frame_md5s(&src, &[]);
    let mut video = Vec::new();
    for f in &files {
        let (v, err) = frame_md5s(&dir.join(f), &[]);
        assert!(err.trim().is_empty(), "{f}: {err}");
        video.push(v.len());
        assert!(
            source[video.iter().sum::<usize>() - v.len()..].starts_with(&v),
            "{f}"
        );
    }
    assert_eq!(video, [150, 1]);
    let _ = std::fs::remove_dir_all(&dir);
}
