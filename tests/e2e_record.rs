//! Recording end to end: a real nginx with the module records what real ffmpeg publishes
//! (a pre-encoded FLV with a keyframe every second, `-re -c copy`, so the exact frames sent
//! are known), and ffmpeg judges the files: the final name only once finished, duration,
//! the keyframe index, seeking, per-frame MD5 against the source, splits, names that never
//! overwrite, `record_lock`, a worker killed mid-recording, callbacks and `exec_record_done`, the
//! publisher's `NetStream.Record.*` statuses, and a full disk that leaves the live stream alone.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::OnceLock;
use std::thread::sleep;
use std::time::{Duration, Instant};

use support::callback::CallbackServer;
use support::flv::tags;
use support::hls::{frame_md5, Input};
use support::nginx::{
    ffmpeg, ffmpeg_plays, ffmpeg_publish_file, is_root, run_with_timeout, Conf, Nginx,
};
use support::recording::{assert_starts_well, ffprobe_duration, metadata, numbers, tag_at};
use support::rtmp_client::{await_answer, cmd_msg, Amf, Publisher};
use support::wait;

const TIMEOUT: Duration = Duration::from_secs(90);

/// 20 s of the test pattern (H.264 30 fps, B-frames, a keyframe every second; AAC), and its
/// first 4 s; encoded once per test binary.
struct Inputs {
    av20: Input,
    av4: Input,
}

fn inputs() -> &'static Inputs {
    static INPUTS: OnceLock<Inputs> = OnceLock::new();
    INPUTS.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target/e2e")
            .join(format!("record-inputs-{}", std::process::id()));
        let gop = ["-g", "30", "-keyint_min", "30", "-sc_threshold", "0"];
        let av20 = Input::encode(&dir, "av20k1", 20, &gop);
        let av4 = av20.head(4, "av4k1");
        Inputs { av20, av4 }
    })
}

/// One server with `application live`, recording into `{prefix}/rec` with `extra`.
fn conf(extra: &str) -> Conf {
    Conf::rtmp(&format!(
        "server {{ listen 127.0.0.1:{{rtmp_port}};
           application live {{ live on; record_path {{prefix}}/rec; {extra} }} }}"
    ))
}

fn rec_dir(n: &Nginx) -> PathBuf {
    n.prefix.join("rec")
}

fn publish(n: &Nginx, input: &Input, name: &str) -> Child {
    ffmpeg_publish_file(&input.path, &n.rtmp_url("live", name))
        .spawn()
        .expect("start ffmpeg")
}

fn finish(mut c: Child) {
    let deadline = Instant::now() + TIMEOUT;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = c.try_wait() {
            return;
        }
        sleep(Duration::from_millis(50));
    }
    let _ = c.kill();
    let _ = c.wait();
    panic!("ffmpeg did not finish its publish");
}

/// The file names in `dir`, sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| Some(e.ok()?.file_name().to_str()?.to_owned()))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Waits for the recordings (no part left) of a publish that ended.
fn wait_finished(dir: &Path, want: usize) -> Vec<String> {
    let done = wait::until(Duration::from_secs(10), || {
        let f = files(dir);
        f.iter().all(|f| !f.ends_with(".part")) && f.len() >= want
    });
    let f = files(dir);
    assert!(done, "recordings not finished: {f:?}");
    f
}

/// Lines of the error log that report a failed recording.
fn record_errors(n: &Nginx) -> Vec<String> {
    n.error_log()
        .lines()
        .filter(|l| l.contains("[error]") && l.contains("record"))
        .map(str::to_owned)
        .collect()
}

/// The recording is complete and seekable, and holds every frame of the source once.
fn assert_whole(file: &Path, src: &Input) {
    let data = fs::read(file).unwrap();
    assert_starts_well(&data);
    let want = ffprobe_duration(&src.path);
    let got = ffprobe_duration(file);
    assert!((got - want).abs() <= 0.1, "duration {got} vs source {want}");
    let meta = metadata(&data);
    let dur = meta.get_f64("duration").unwrap_or(0.0);
    assert!(
        (dur - want).abs() <= 0.1,
        "metadata duration {dur} vs {want}"
    );
    let kf = meta.object_get("keyframes").expect("a keyframe index");
    let times = numbers(kf.object_get("times").unwrap());
    let positions = numbers(kf.object_get("filepositions").unwrap());
    assert!(times.len() >= 19, "a keyframe every second: {times:?}");
    assert_eq!(times.len(), positions.len());
    for (t, pos) in times.iter().zip(&positions) {
        let tag = tag_at(&data, *pos as usize);
        assert!(
            tag.keyframe() && tag.body[1] == 1,
            "{pos} is no keyframe tag"
        );
        assert!((f64::from(tag.ts) / 1000.0 - t).abs() < 1e-9, "{pos}: {t}");
    }
    let mut seek = ffmpeg();
    seek.args(["-ss", "10", "-i"])
        .arg(file)
        .args(["-f", "null", "-"]);
    let (ok, err) = run_with_timeout(seek, TIMEOUT);
    assert!(ok && err.trim().is_empty(), "-ss 10: {err}");
    let (video, err) = frame_md5(file, "v");
    assert!(err.trim().is_empty(), "decoding the video: {err}");
    assert_eq!(
        video, src.video_md5,
        "video frames differ from the source's"
    );
    let (audio, _) = frame_md5(file, "a");
    assert_eq!(
        audio, src.audio_md5,
        "audio frames differ from the source's"
    );
}

/// Whether another process can take an exclusive lock on `file` at once.
fn unlocked(file: &Path) -> bool {
    Command::new("flock")
        .args(["-n", "-E", "7"])
        .arg(file)
        .arg("true")
        .status()
        .map(|s| match s.code() {
            Some(0) => true,
            Some(7) => false,
            other => panic!("flock: {other:?}"),
        })
        .expect("flock (util-linux) is required")
}

fn write_script(n: &Nginx) -> PathBuf {
    let script = n.prefix.join("record-done.sh");
    fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$1\" >> {}/exec-done.txt\n",
            n.prefix.display()
        ),
    )
    .unwrap();
    let _ = Command::new("chmod").arg("755").arg(&script).status();
    script
}

#[test]
fn record_all_writes_a_part_then_a_whole_seekable_file_and_tells_the_callbacks() {
    let src = &inputs().av20;
    let dir = std::env::temp_dir().join(format!("ngx-rtmp-e2e-rec-cb-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let cb = CallbackServer::start(&dir);
    // The script path is known only once the prefix is: prepare, then write it.
    let script_at = "{prefix}/record-done.sh";
    let n = Nginx::prepare(
        "record-all",
        &conf(&format!(
            "record all; record_lock on; on_record_done http://127.0.0.1:{}/record_done;
             exec_record_done {script_at} $path;",
            cb.port
        )),
    );
    write_script(&n);
    let n = Nginx::start_prepared(n);
    let rec = rec_dir(&n);
    let pub_ = publish(&n, src, "cam");
    assert!(
        wait::until(TIMEOUT, || rec.join("cam.flv.part").exists()),
        "no part file: {:?}\n{}",
        files(&rec),
        n.error_log()
    );
    // While the publish goes on, only the part file is there, locked (`record_lock`).
    sleep(Duration::from_secs(2));
    assert_eq!(files(&rec), ["cam.flv.part"]);
    assert!(
        !unlocked(&rec.join("cam.flv.part")),
        "the part file is not locked"
    );
    finish(pub_);
    assert_eq!(wait_finished(&rec, 1), ["cam.flv"]);
    let file = rec.join("cam.flv");
    assert!(unlocked(&file), "the finished file is still locked");
    assert_whole(&file, src);

    let full = file.display().to_string();
    assert!(
        cb.wait_for("\"/record_done\""),
        "no record_done: {:?}",
        cb.requests()
    );
    let req = cb
        .requests()
        .into_iter()
        .find(|l| l.contains("\"/record_done\""))
        .unwrap();
    for field in ["record_done", &full, "recorder", "cam"] {
        assert!(req.contains(field), "{field} missing in {req}");
    }
    let out = n.prefix.join("exec-done.txt");
    assert!(
        wait::until(Duration::from_secs(10), || out.exists()),
        "exec_record_done did not run:\n{}",
        n.error_log()
    );
    assert!(wait::until(Duration::from_secs(5), || {
        fs::read_to_string(&out).unwrap_or_default() == format!("{full}\n")
    }));
    assert!(record_errors(&n).is_empty(), "{:?}", record_errors(&n));
    n.assert_no_crash();
}

#[test]
fn record_interval_splits_into_files_that_add_up() {
    let src = &inputs().av20;
    let n = Nginx::start(
        "record-interval",
        &conf("record all; record_interval 5s; record_unique on;"),
    );
    let rec = rec_dir(&n);
    let t0 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    finish(publish(&n, src, "cam"));
    let names = wait_finished(&rec, 4);
    assert_eq!(names.len(), 4, "{names:?}");
    let mut total = 0.0;
    let mut video = Vec::new();
    let mut audio = 0;
    for f in &names {
        // nginx-rtmp's `record_unique`: `<name>-<unix time>.flv`.
        let stamp: u64 = f
            .strip_prefix("cam-")
            .and_then(|s| s.strip_suffix(".flv"))
            .and_then(|s| s.split('-').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{f} is not cam-<time>.flv"));
        assert!(stamp >= t0 && stamp <= t0 + 60, "{f}");
        let path = rec.join(f);
        assert_starts_well(&fs::read(&path).unwrap());
        let d = ffprobe_duration(&path);
        assert!((d - 5.0).abs() <= 0.1, "{f}: {d} s");
        total += d;
        video.extend(frame_md5(&path, "v").0);
        audio += frame_md5(&path, "a").0.len();
    }
    let want = ffprobe_duration(&src.path);
    assert!(
        (total - want).abs() <= 0.1,
        "{total} s in files, {want} s sent"
    );
    assert_eq!(video, src.video_md5, "every video frame exactly once");
    assert_eq!(audio, src.audio_md5.len(), "every audio frame once");
    n.assert_no_crash();
}

#[test]
fn suffix_names_as_nginx_rtmp_and_a_second_publish_never_overwrites() {
    let src = &inputs().av4;
    let dir = std::env::temp_dir().join(format!("ngx-rtmp-e2e-rec-names-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let cb = CallbackServer::start(&dir);
    // The application's own recorder and a named one with a strftime suffix (recorder blocks
    // inherit the application's record_* directives, as in nginx-rtmp), its own
    // on_record_done.
    let n = Nginx::start(
        "record-names",
        &conf(&format!(
            "record all; record_unique on;
               recorder day {{ record video; record_unique off; record_suffix -%Y%m%d.flv;
                 on_record_done http://127.0.0.1:{}/day_done; }}",
            cb.port
        )),
    );
    let rec = rec_dir(&n);
    finish(publish(&n, src, "cam"));
    let first = wait_finished(&rec, 2);
    let day =
        String::from_utf8(Command::new("date").arg("+%Y%m%d").output().unwrap().stdout).unwrap();
    let day_file = format!("cam-{}.flv", day.trim());
    assert!(first.contains(&day_file), "{first:?}");
    let unique = first.iter().find(|f| **f != day_file).unwrap().clone();
    assert!(
        unique
            .strip_prefix("cam-")
            .and_then(|s| s.strip_suffix(".flv"))
            .is_some_and(|s| s.parse::<u64>().is_ok()),
        "{unique}"
    );
    let before = fs::read(rec.join(&day_file)).unwrap();
    // Only the block's recorder has a callback: its id and file.
    assert!(cb.wait_for("\"/day_done\""), "{:?}", cb.requests());
    let req = cb.requests().join("\n");
    let full = rec.join(&day_file).display().to_string();
    for field in ["record_done", "\"day\"", &full] {
        assert!(req.contains(field), "{field} missing in {req}");
    }
    assert_eq!(cb.requests().len(), 1, "{req}");
    // A video-only recorder writes no audio.
    assert!(tags(&before).iter().all(|t| t.type_id != 8));

    finish(publish(&n, src, "cam"));
    let second = wait_finished(&rec, 4);
    let again = format!("cam-{}-1.flv", day.trim());
    assert!(second.contains(&again), "{second:?}");
    assert_eq!(
        fs::read(rec.join(&day_file)).unwrap(),
        before,
        "first file changed"
    );
    assert_eq!(second.len(), 4, "{second:?}");
    n.assert_no_crash();
}

fn worker_pid(n: &Nginx) -> Option<i32> {
    let master = fs::read_to_string(n.prefix.join("nginx.pid")).ok()?;
    let out = Command::new("pgrep")
        .args(["-P", master.trim(), "-f", "worker process"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

/// Kills the worker 10 s into a recording in `format` (`flv`, `mp4`) and checks what the
/// part file holds: every frame up to the kill less `lost_s` of media, as the source's.
fn kill_while_recording(label: &str, format: &str, lost_s: f64) {
    let src = &inputs().av20;
    let n = Nginx::start(
        label,
        &conf(&format!("record all; record_format {format};")),
    );
    let rec = rec_dir(&n);
    let part = rec.join(format!("cam.{format}.part"));
    let pub_ = publish(&n, src, "cam");
    assert!(
        wait::until(TIMEOUT, || part.exists()),
        "no part file: {:?}",
        files(&rec)
    );
    let opened = Instant::now();
    let worker = worker_pid(&n).expect("the worker");
    // 10 s of media into the recording (the publish is real time).
    while opened.elapsed() < Duration::from_secs(10) {
        sleep(Duration::from_millis(50));
    }
    let st = Command::new("kill")
        .args(["-9", &worker.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let killed_after = opened.elapsed().as_secs_f64();
    let _ = finish_or_kill(pub_);
    assert!(part.exists(), "the part file stays: {:?}", files(&rec));
    assert!(!rec.join(format!("cam.{format}")).exists());
    let (video, err) = frame_md5(&part, "v");
    let frames = video.len();
    assert!(
        frames as f64 >= (killed_after - lost_s) * 30.0,
        "{format}: {frames} video frames after {killed_after:.1} s: {err}"
    );
    assert!(frames <= src.video_md5.len());
    // The last frame may be cut short by the kill.
    let whole = frames.saturating_sub(1);
    assert_eq!(
        video[..whole],
        src.video_md5[..whole],
        "decoded frames differ"
    );
    assert!(
        n.wait_log("exited on signal 9", Duration::from_secs(10)),
        "{}",
        n.error_log()
    );
}

#[test]
fn a_killed_worker_leaves_an_flv_part_file_that_decodes_up_to_the_kill() {
    // Appends are flushed every 250 ms of media at most; the rest is the publisher's
    // buffering and the kill's timing.
    kill_while_recording("record-kill-flv", "flv", 0.75);
}

#[test]
fn a_killed_worker_leaves_an_mp4_part_file_that_decodes_up_to_its_last_fragment() {
    // record_fragment 1s (the default) and a keyframe every second: a fragment and the
    // flush behind it at most.
    kill_while_recording("record-kill-mp4", "mp4", 2.5);
}

#[test]
fn record_format_mp4_writes_a_whole_seekable_file() {
    let src = &inputs().av20;
    let n = Nginx::start("record-mp4", &conf("record all; record_format mp4;"));
    let rec = rec_dir(&n);
    let pub_ = publish(&n, src, "cam");
    assert!(
        wait::until(TIMEOUT, || rec.join("cam.mp4.part").exists()),
        "no part file: {:?}",
        files(&rec)
    );
    finish(pub_);
    assert_eq!(wait_finished(&rec, 1), ["cam.mp4"]);
    let file = rec.join("cam.mp4");
    let want = ffprobe_duration(&src.path);
    let got = ffprobe_duration(&file);
    assert!((got - want).abs() <= 0.1, "duration {got} vs source {want}");
    let mut seek = ffmpeg();
    seek.args(["-ss", "10", "-i"])
        .arg(&file)
        .args(["-f", "null", "-"]);
    let (ok, err) = run_with_timeout(seek, TIMEOUT);
    assert!(ok && err.trim().is_empty(), "-ss 10: {err}");
    let (video, err) = frame_md5(&file, "v");
    assert!(err.trim().is_empty(), "decoding the video: {err}");
    assert_eq!(
        video, src.video_md5,
        "video frames differ from the source's"
    );
    let (audio, _) = frame_md5(&file, "a");
    assert_eq!(audio.len(), src.audio_md5.len(), "audio frames");
    n.assert_no_crash();
}

fn finish_or_kill(mut c: Child) -> bool {
    let done = wait::until(Duration::from_secs(30), || {
        matches!(c.try_wait(), Ok(Some(_)))
    });
    if !done {
        let _ = c.kill();
    }
    let _ = c.wait();
    done
}

#[test]
fn record_notify_tells_the_publisher_start_and_stop() {
    let src = &inputs().av4;
    let n = Nginx::start("record-notify", &conf("record all; record_notify on;"));
    let mut p = Publisher::live(n.rtmp_port, "cam");
    let data = fs::read(&src.path).unwrap();
    p.tags(&tags(&data));
    let want = rec_dir(&n).join("cam.flv").display().to_string();
    await_answer(
        &mut p.sock,
        "NetStream.Record.Start",
        Duration::from_secs(10),
    )
    .expect("NetStream.Record.Start");
    let unpublish = cmd_msg(0, "deleteStream", 5.0, &[Amf::Null, Amf::Num(1.0)]);
    p.raw(&unpublish).unwrap();
    await_answer(
        &mut p.sock,
        "NetStream.Record.Stop",
        Duration::from_secs(10),
    )
    .expect("NetStream.Record.Stop");
    p.finish();
    assert_eq!(wait_finished(&rec_dir(&n), 1), ["cam.flv"]);
    assert!(n.error_log().contains(&want));
    n.assert_no_crash();
}

/// Unmounts the tmpfs when the test ends, whatever happened.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_stops_the_recording_once_and_the_live_stream_goes_on() {
    if !is_root() {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    }
    let src = &inputs().av20;
    let n = Nginx::prepare(
        "record-full",
        &conf(
            "record all; hls on; hls_path {prefix}/www/hls; hls_fragment 2;
             hls_playlist_length 60;",
        ),
    );
    let rec = rec_dir(&n);
    fs::create_dir_all(&rec).unwrap();
    let st = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
        .arg(&rec)
        .status()
        .unwrap();
    assert!(st.success(), "mount tmpfs");
    let _mount = Mount(rec.clone());
    let n = Nginx::start_prepared(n);
    let pub_ = publish(&n, src, "cam");
    assert!(
        wait::until(TIMEOUT, || !record_errors(&n).is_empty()),
        "no recording error:\n{}",
        n.error_log()
    );
    let errors = record_errors(&n);
    assert!(
        errors[0].contains("cam.flv.part") && errors[0].contains("No space left on device"),
        "{errors:?}"
    );
    // The live stream goes on: new HLS segments, and an RTMP player gets media.
    let playlist = n.prefix.join("www/hls/cam.m3u8");
    let segments = || {
        fs::read_to_string(&playlist)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.ends_with(".ts"))
            .count()
    };
    let at_error = segments();
    assert!(
        wait::until(Duration::from_secs(12), || segments() >= at_error + 2),
        "no HLS segment after the error ({at_error} before)"
    );
    assert!(
        ffmpeg_plays(&n.rtmp_url("live", "cam")),
        "an RTMP player gets nothing"
    );
    finish(pub_);
    assert!(
        wait::until(Duration::from_secs(10), || fs::read_to_string(&playlist)
            .unwrap_or_default()
            .contains("#EXT-X-ENDLIST")),
        "HLS did not end"
    );
    assert_eq!(record_errors(&n).len(), 1, "{:?}", record_errors(&n));
    assert!(rec.join("cam.flv.part").exists(), "{:?}", files(&rec));
    n.assert_no_crash();
}

#[test]
fn a_vanished_record_path_fails_that_file_once_and_the_next_publish_records_again() {
    let src = &inputs().av4;
    let n = Nginx::start("record-vanished", &conf("record all;"));
    let rec = rec_dir(&n);
    let pub_ = publish(&n, src, "cam");
    assert!(
        wait::until(TIMEOUT, || rec.join("cam.flv.part").exists()),
        "no part file"
    );
    fs::remove_dir_all(&rec).unwrap();
    finish(pub_);
    assert!(
        wait::until(Duration::from_secs(10), || !record_errors(&n).is_empty()),
        "no recording error:\n{}",
        n.error_log()
    );
    let errors = record_errors(&n);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("cam.flv.part") && errors[0].contains("No such file or directory"),
        "{errors:?}"
    );
    // The directory is back: the next publish records as usual.
    fs::create_dir_all(&rec).unwrap();
    finish(publish(&n, src, "cam"));
    assert_eq!(wait_finished(&rec, 1), ["cam.flv"]);
    assert_eq!(record_errors(&n).len(), 1);
    n.assert_no_crash();
}

#[test]
fn record_append_continues_the_file_of_the_previous_publish() {
    let src = &inputs().av4;
    let n = Nginx::start("record-append", &conf("record all; record_append on;"));
    let rec = rec_dir(&n);
    finish(publish(&n, src, "cam"));
    assert_eq!(wait_finished(&rec, 1), ["cam.flv"]);
    let first = fs::read(rec.join("cam.flv")).unwrap();
    finish(publish(&n, src, "cam"));
    // Wait for the second publish's file to be finished again (it was the part meanwhile).
    assert!(
        wait::until(TIMEOUT, || fs::metadata(rec.join("cam.flv"))
            .is_ok_and(|m| m.len() > first.len() as u64 + 1000)
            && !rec.join("cam.flv.part").exists()),
        "not continued: {:?}",
        files(&rec)
    );
    assert_eq!(files(&rec), ["cam.flv"]);
    let file = rec.join("cam.flv");
    let data = fs::read(&file).unwrap();
    assert_starts_well(&data);
    let d = ffprobe_duration(&file);
    let one = ffprobe_duration(&src.path);
    assert!(
        (d - 2.0 * one).abs() <= 0.2,
        "{d} s after two publishes of {one} s"
    );
    let (video, _) = frame_md5(&file, "v");
    let twice: Vec<String> = src
        .video_md5
        .iter()
        .chain(&src.video_md5)
        .cloned()
        .collect();
    assert_eq!(video, twice, "both publishes' frames, in order");
    let meta = metadata(&data);
    let dur = meta.get_f64("duration").unwrap_or(0.0);
    assert!((dur - d).abs() <= 0.2, "metadata duration {dur}, file {d}");
    assert!(record_errors(&n).is_empty(), "{:?}", record_errors(&n));
    n.assert_no_crash();
}
