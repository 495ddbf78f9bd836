//! `record manual` driven by `/control/record/start|stop` with two workers: whichever worker
//! answers the HTTP request, the answer is the path of the file the publisher's worker
//! writes, and stat (XML, JSON, Prometheus) shows the recorder while it records; a
//! recording stopped by a full disk counts in every worker's stat answer.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command};
use std::thread::sleep;
use std::time::{Duration, Instant};

use support::nginx::{ffmpeg, is_root, Conf, Nginx};

/// An HTTP/1.1 keep-alive connection: every request on it is answered by the same worker.
struct Http {
    reader: BufReader<TcpStream>,
}

struct Reply {
    status: u16,
    body: String,
}

impl Http {
    fn connect(port: u16) -> Http {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect http");
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        Http {
            reader: BufReader::new(s),
        }
    }

    fn get(&mut self, path: &str) -> Reply {
        write!(
            self.reader.get_mut(),
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n"
        )
        .unwrap();
        let mut status = 0;
        let mut length = 0usize;
        let mut line = String::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line).expect("read header");
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if l.starts_with("HTTP/") {
                status = l.split_whitespace().nth(1).unwrap().parse().unwrap();
            } else if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap();
                }
            }
        }
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body).expect("read body");
        Reply {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    /// The pid of the worker that serves this connection.
    fn worker(&mut self) -> u32 {
        let r = self.get("/stat?format=json");
        json_eval(&r.body, "d['pid']").parse().unwrap()
    }
}

fn json_eval(doc: &str, expr: &str) -> String {
    let mut child = Command::new("python3")
        .args([
            "-c",
            &format!("import json,sys; d=json.load(sys.stdin); print({expr})"),
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(doc.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "python on {doc}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(Duration::from_millis(200));
    }
}

/// A 1 s GOP test pattern with audio, in real time, for `secs`.
fn publish(url: &str, secs: u32) -> Child {
    let mut cmd = ffmpeg();
    cmd.arg("-re")
        .args(["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
        .args(["-t", &secs.to_string()])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
        ])
        .args([
            "-g", "25", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k",
        ])
        .args(["-f", "flv", url]);
    cmd.spawn().expect("ffmpeg")
}

fn ffprobe_duration(file: &Path) -> f64 {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(file)
        .output()
        .expect("ffprobe");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("ffprobe: {}", String::from_utf8_lossy(&out.stderr)))
}

fn decode_errors(file: &Path) -> String {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "error", "-i"])
        .arg(file)
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn manual_recording_through_control_whichever_worker_answers() {
    let conf = Conf::rtmp(
        "server { listen 127.0.0.1:{rtmp_port};
            application live {
                live on;
                record all manual;
                record_unique on;
                record_path {prefix}/rec;
            }
        }",
    )
    .workers(2)
    .http(
        "location /stat { rtmp_stat all; }
         location /control { rtmp_control all; }",
    );
    let n = Nginx::start("record-control", &conf);
    n.wait_listening(n.http_port);
    let mut publisher = publish(&n.rtmp_url("live", "cam"), 40);

    // The publisher's worker, from stat (any worker lists it).
    let mut holder = 0u32;
    wait_until("the publisher in stat", Duration::from_secs(15), || {
        let mut c = Http::connect(n.http_port);
        let r = c.get("/stat?format=json");
        let pids = json_eval(
            &r.body,
            "[c['pid'] for a in d['servers'][0]['applications'] for s in a['live']['streams'] \
              for c in s['clients'] if c['publishing']]",
        );
        holder = pids.trim_matches(['[', ']']).parse().unwrap_or(0);
        holder != 0
    });
    // A connection to the publisher's worker and one to the other worker.
    let (mut at_holder, mut elsewhere) = (None, None);
    for _ in 0..100 {
        let mut c = Http::connect(n.http_port);
        let pid = c.worker();
        if pid == holder {
            at_holder.get_or_insert(c);
        } else {
            elsewhere.get_or_insert(c);
        }
        if at_holder.is_some() && elsewhere.is_some() {
            break;
        }
    }
    let (Some(mut at_holder), Some(mut elsewhere)) = (at_holder, elsewhere) else {
        panic!("HTTP requests never reached both workers");
    };

    // Idle manual recorder: stat lists it, stop answers nothing.
    let x = elsewhere.get("/stat").body;
    assert!(x.contains("<recorders>") && x.contains("<manual/>"), "{x}");
    assert!(!x.contains("<recording/>"), "{x}");
    assert_eq!(
        elsewhere
            .get("/control/record/stop?app=live&name=cam")
            .status,
        204
    );
    // Unknown stream: nothing; unknown recorder or server: nginx-rtmp's 500.
    assert_eq!(
        elsewhere
            .get("/control/record/start?app=live&name=nope")
            .status,
        204
    );
    assert_eq!(
        at_holder
            .get("/control/record/start?app=live&name=nope")
            .status,
        204
    );
    for c in [&mut at_holder, &mut elsewhere] {
        assert_eq!(
            c.get("/control/record/start?app=live&name=cam&rec=x")
                .status,
            500
        );
        assert_eq!(c.get("/control/record/start?name=cam&srv=5").status, 500);
    }

    // The first start is answered by the worker without the publisher: it names the file.
    let started = Instant::now();
    let first = elsewhere.get("/control/record/start?app=live&name=cam");
    assert_eq!(first.status, 200, "{}", first.body);
    let path = first.body.clone();
    let rec_dir = n.prefix.join("rec");
    assert!(
        path.starts_with(&format!("{}/cam-", rec_dir.display())) && path.ends_with(".flv"),
        "{path}"
    );
    // Every later start, from either worker, answers the same file.
    for i in 0..10 {
        sleep(Duration::from_millis(250));
        let c = if i % 2 == 0 {
            &mut at_holder
        } else {
            &mut elsewhere
        };
        let r = c.get("/control/record/start?app=live&name=cam");
        assert_eq!(
            (r.status, r.body.as_str()),
            (200, path.as_str()),
            "start {i}"
        );
    }

    // While recording, stat on both workers shows the file growing.
    for c in [&mut at_holder, &mut elsewhere] {
        let mut last = String::new();
        wait_until(
            "the recorder recording in stat",
            Duration::from_secs(5),
            || {
                last = c.get("/stat?format=json").body;
                json_eval(
                    &last,
                    "[(r['path'], r['recording'], r['bytes'] > 0, r['started']) \
                  for s in d['servers'][0]['applications'][0]['live']['streams'] \
                  for r in s['recorders']]",
                ) == format!("[('{path}', True, True, True)]")
            },
        );
        let x = c.get("/stat").body;
        assert!(
            x.contains(&format!("<path>{path}</path>")) && x.contains("<recording/>"),
            "{x}"
        );
        let m = c.get("/stat?format=prometheus").body;
        assert!(
            m.contains(
                "rtmp_record_recording{server=\"0\",app=\"live\",name=\"cam\",recorder=\"\"} 1"
            ),
            "{m}"
        );
    }
    assert!(
        !Path::new(&path).exists() && Path::new(&format!("{path}.part")).exists(),
        "written under its part name until finished"
    );

    // Stop after ~5 s, from the worker without the publisher: the same path.
    sleep(Duration::from_secs(5).saturating_sub(started.elapsed()));
    // The steps above may have taken longer on a loaded machine: the file covers what ran.
    let held = started.elapsed().as_secs_f64();
    let stop = elsewhere.get("/control/record/stop?app=live&name=cam");
    assert_eq!((stop.status, stop.body.as_str()), (200, path.as_str()));
    wait_until("the file finished", Duration::from_secs(5), || {
        Path::new(&path).exists()
    });
    sleep(Duration::from_millis(300));
    assert_eq!(
        at_holder
            .get("/control/record/stop?app=live&name=cam")
            .status,
        204
    );
    let x = at_holder.get("/stat").body;
    assert!(
        !x.contains("<recording/>") && x.contains("<files>1</files>"),
        "{x}"
    );

    // Unpublish: the file is there under its final name, ~5 s, decodable.
    let _ = publisher.kill();
    let _ = publisher.wait();
    sleep(Duration::from_millis(500));
    let names: Vec<String> = std::fs::read_dir(&rec_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [Path::new(&path).file_name().unwrap().to_string_lossy()],
        "one finished file, no part file"
    );
    let d = ffprobe_duration(Path::new(&path));
    // The file opens at the first keyframe after the start (1 s GOP) and closes within the
    // mailbox period after the stop.
    assert!(
        (held - 1.2..=held + 0.6).contains(&d),
        "duration {d}, recording held {held:.2} s"
    );
    let errors = decode_errors(Path::new(&path));
    assert!(errors.is_empty(), "decode errors: {errors}");
    n.assert_no_crash();
}

/// Unmounts a test's tmpfs when dropped.
struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_recording_stopped_by_a_full_disk_counts_in_stat() {
    if !is_root() {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    }
    let conf = Conf::rtmp(
        "server { listen 127.0.0.1:{rtmp_port};
            application live { live on; record all; record_path {prefix}/rec; }
        }",
    )
    .workers(2)
    .http("location /stat { rtmp_stat all; }");
    let n = Nginx::prepare("record-stat-full", &conf);
    let rec = n.prefix.join("rec");
    std::fs::create_dir_all(&rec).unwrap();
    let st = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=128k", "tmpfs"])
        .arg(&rec)
        .status()
        .unwrap();
    assert!(st.success(), "mount tmpfs");
    let _mount = Mount(rec.clone());
    let n = Nginx::start_prepared(n);
    n.wait_listening(n.http_port);
    let mut publisher = publish(&n.rtmp_url("live", "cam"), 30);
    // Whichever worker answers, the failure of the publisher's worker is counted once.
    let mut last = String::new();
    wait_until("record_failed in stat", Duration::from_secs(20), || {
        let mut c = Http::connect(n.http_port);
        last = c.get("/stat?format=json").body;
        json_eval(&last, "d['record_failed']") == "1"
    });
    for _ in 0..6 {
        let mut c = Http::connect(n.http_port);
        let m = c.get("/stat?format=prometheus").body;
        assert!(m.contains("\nrtmp_record_failed_total 1\n"), "{m}");
        let j = c.get("/stat?format=json").body;
        assert_eq!(
            json_eval(
                &j,
                "[(r['recording'], r['files']) \
                  for s in d['servers'][0]['applications'][0]['live']['streams'] \
                  for r in s['recorders']]"
            ),
            "[(False, 0)]",
            "the failed file is not being recorded: {j}"
        );
    }
    let _ = publisher.kill();
    let _ = publisher.wait();
    n.assert_no_crash();
}
