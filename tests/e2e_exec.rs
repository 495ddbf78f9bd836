//! nginx-rtmp's `exec` family end to end: real nginx, real ffmpeg publishing and real ffmpeg
//! encoders started by the module. What is checked is what an operator sees: the renditions
//! in HLS, the processes under nginx's workers in /proc (no leftover, no zombie, exactly one
//! per line), and the error log (no "unknown process", no "exited on signal", no flood).
//!
//! Tests that run an encoder take turns (`ENCODING`): the machine has few cores.

mod support;

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Child;
use std::sync::Mutex;
use std::thread::sleep;
use std::time::{Duration, Instant};

use support::nginx::{ffmpeg, ffmpeg_plays, ffmpeg_publish, Conf, Nginx};
use support::wait;

static ENCODING: Mutex<()> = Mutex::new(());

fn encoding() -> std::sync::MutexGuard<'static, ()> {
    ENCODING.lock().unwrap_or_else(|e| e.into_inner())
}

/// A process as /proc shows it.
#[derive(Debug, Clone)]
struct Proc {
    pid: i32,
    ppid: i32,
    state: char,
    cmdline: String,
}

fn read_proc(pid: i32) -> Option<Proc> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid ...`: comm may hold spaces, so parse after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut f = rest.split_whitespace();
    let state = f.next()?.chars().next()?;
    let ppid = f.next()?.parse().ok()?;
    let cmdline = fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            String::from_utf8_lossy(&b)
                .replace('\0', " ")
                .trim()
                .to_owned()
        })
        .unwrap_or_default();
    Some(Proc {
        pid,
        ppid,
        state,
        cmdline,
    })
}

fn all_procs() -> Vec<Proc> {
    fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .filter_map(read_proc)
                .collect()
        })
        .unwrap_or_default()
}

fn master_pid(n: &Nginx) -> i32 {
    fs::read_to_string(n.prefix.join("nginx.pid"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .expect("nginx.pid")
}

/// nginx's workers (children of the master that are workers).
fn workers(n: &Nginx) -> Vec<Proc> {
    let master = master_pid(n);
    all_procs()
        .into_iter()
        .filter(|p| p.ppid == master && p.cmdline.contains("worker process"))
        .collect()
}

/// Every process whose parent is one of nginx's workers (zombies included).
fn worker_children(n: &Nginx) -> Vec<Proc> {
    let workers: Vec<i32> = workers(n).iter().map(|w| w.pid).collect();
    all_procs()
        .into_iter()
        .filter(|p| workers.contains(&p.ppid))
        .collect()
}

/// Children of the workers running a command line that contains `needle` (not zombies).
fn running(n: &Nginx, needle: &str) -> Vec<Proc> {
    worker_children(n)
        .into_iter()
        .filter(|p| p.state != 'Z' && p.cmdline.contains(needle))
        .collect()
}

/// Live processes anywhere whose command line contains `needle` (a marker unique to a test).
fn anywhere(needle: &str) -> Vec<Proc> {
    all_procs()
        .into_iter()
        .filter(|p| p.state != 'Z' && p.cmdline.contains(needle))
        .collect()
}

/// The error log has neither nginx's alerts about children it does not know nor a process
/// "exited on signal" (lines that `allowed` matches excepted).
fn assert_quiet_log(n: &Nginx, allowed: &[&str]) {
    let log = n.error_log();
    for line in log.lines() {
        if allowed.iter().any(|a| line.contains(a)) {
            continue;
        }
        for bad in [
            "unknown process",
            "exited on signal",
            "[alert]",
            "[emerg]",
            "panicked",
        ] {
            assert!(!line.contains(bad), "error log line {line:?}; log:\n{log}");
        }
    }
}

const STAT: &str = "location /stat { rtmp_stat all; }";

/// The body of an http GET on nginx's http port.
fn get(n: &Nginx, path: &str) -> String {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", n.http_port)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    text.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default()
}

fn publish(n: &Nginx, app: &str, name: &str, secs: u32) -> Child {
    ffmpeg_publish(&n.rtmp_url(app, name), secs)
        .spawn()
        .expect("spawn ffmpeg")
}

fn stop(mut c: Child) {
    let _ = c.kill();
    let _ = c.wait();
}

/// Media segments listed in a playlist (0 when it does not exist).
fn segments(playlist: &Path) -> usize {
    fs::read_to_string(playlist)
        .map(|t| t.lines().filter(|l| l.ends_with(".ts")).count())
        .unwrap_or(0)
}

/// The last media segment a playlist lists.
fn last_segment(playlist: &Path) -> Option<String> {
    fs::read_to_string(playlist)
        .ok()?
        .lines()
        .rfind(|l| l.ends_with(".ts"))
        .map(str::to_owned)
}

/// One encoder of two renditions (nginx-rtmp's documented recipe, small sizes), its stderr
/// appended to a file by redirection.
fn recipe_conf(extra_src: &str) -> Conf {
    let encoder = "exec ffmpeg -hide_banner -loglevel warning -i rtmp://127.0.0.1:{rtmp_port}/src/$name \
         -c:v libx264 -preset ultrafast -tune zerolatency -threads 1 -s 160x120 -b:v 150k -g 30 -c:a copy \
         -f flv rtmp://127.0.0.1:{rtmp_port}/hls/$name_low \
         -c:v libx264 -preset ultrafast -tune zerolatency -threads 1 -s 320x240 -b:v 300k -g 30 -c:a copy \
         -f flv rtmp://127.0.0.1:{rtmp_port}/hls/$name_hi \
         2>>{prefix}/logs/ffmpeg-$name.log;";
    Conf::rtmp(&format!(
        "server {{ listen 127.0.0.1:{{rtmp_port}};
           application src {{ live on; {extra_src} {encoder} }}
           application hls {{ live on; hls on; hls_path {{prefix}}/www/hls; hls_fragment 1s; }} }}"
    ))
    .http(STAT)
}

/// The marker of the recipe's encoder in /proc (its output URL: not the publisher's).
fn encoder(n: &Nginx) -> String {
    format!(":{}/hls/cam_low", n.rtmp_port)
}

fn wait_renditions(n: &Nginx, min_segments: usize) {
    let hls = n.prefix.join("www/hls");
    let ok = wait::until(Duration::from_secs(60), || {
        segments(&hls.join("cam_low.m3u8")) >= min_segments
            && segments(&hls.join("cam_hi.m3u8")) >= min_segments
    });
    let ff = fs::read_to_string(n.prefix.join("logs/ffmpeg-cam.log")).unwrap_or_default();
    assert!(
        ok,
        "no cam_low/cam_hi renditions; ffmpeg said:\n{ff}\nlog:\n{}",
        n.error_log()
    );
}

#[test]
fn recipe_renditions_respawn_and_stop_without_leftovers() {
    let _turn = encoding();
    let n = Nginx::start("exec-recipe", &recipe_conf("respawn_timeout 1s;"));
    let publisher = publish(&n, "src", "cam", 120);
    wait_renditions(&n, 2);
    let encoders = running(&n, &encoder(&n));
    assert_eq!(encoders.len(), 1, "one encoder per exec line: {encoders:?}");
    let first = encoders[0].pid;
    // The encoder is in its own process group.
    let pgid = fs::read_to_string(format!("/proc/{first}/stat"))
        .ok()
        .and_then(|s| {
            let rest = s[s.rfind(')')? + 2..].to_owned();
            rest.split_whitespace().nth(2)?.parse::<i32>().ok()
        });
    assert_eq!(pgid, Some(first), "the encoder leads its own process group");

    // kill -9: a new encoder within the backoff (1 s, then 2 s), and the renditions go on.
    let hls = n.prefix.join("www/hls");
    let before = last_segment(&hls.join("cam_low.m3u8"));
    send_signal(first, 9);
    assert!(
        wait::until(Duration::from_secs(10), || {
            let now = running(&n, &encoder(&n));
            now.len() == 1 && now[0].pid != first
        }),
        "no new encoder after kill -9; log:\n{}",
        n.error_log()
    );
    assert!(
        wait::until(Duration::from_secs(30), || {
            last_segment(&hls.join("cam_low.m3u8")) != before
                && segments(&hls.join("cam_low.m3u8")) >= 1
        }),
        "cam_low did not come back"
    );
    assert!(n
        .error_log()
        .contains("killed by signal 9 (SIGKILL); restarting in 1000 ms"));

    // Stat shows the child: its new pid, one restart, how the last one ended.
    let second = running(&n, &encoder(&n))[0].clone();
    let xml_entry = format!(
        "<process><label>exec &quot;ffmpeg&quot; of &quot;src/cam&quot;</label><worker>{}</worker><pid>{}</pid>",
        second.ppid, second.pid
    );
    assert!(
        wait::until(Duration::from_secs(5), || {
            let x = get(&n, "/stat");
            x.contains(&xml_entry)
                && x.contains("<restarts>1</restarts><last_exit>killed by signal 9 (SIGKILL)</last_exit><log></log></process>")
        }),
        "stat XML: {}",
        get(&n, "/stat")
    );
    let j = get(&n, "/stat?format=json");
    assert!(
        j.contains(&format!("\"pid\":{},", second.pid)) && j.contains("\"restarts\":1,"),
        "stat JSON: {j}"
    );
    let p = get(&n, "/stat?format=prometheus");
    assert!(
        p.contains("label=\"exec \\\"ffmpeg\\\" of \\\"src/cam\\\"\"} 1\n")
            && p.contains("rtmp_process_restarts_total{"),
        "stat Prometheus: {p}"
    );

    // Unpublish: no encoder and no zombie 2 s later.
    stop(publisher);
    assert!(
        wait::until(Duration::from_secs(2), || worker_children(&n).is_empty()),
        "children left after unpublish: {:?}",
        worker_children(&n)
    );
    sleep(Duration::from_millis(500));
    assert!(worker_children(&n).is_empty());
    assert!(
        anywhere(&encoder(&n)).is_empty(),
        "{:?}",
        anywhere(&encoder(&n))
    );
    assert_quiet_log(&n, &[]);
}

fn send_signal(pid: i32, sig: i32) {
    let st = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .expect("kill");
    assert!(st.success(), "kill -{sig} {pid}");
}

#[test]
fn reload_while_publishing_keeps_one_encoder_per_line() {
    let _turn = encoding();
    let n = Nginx::start("exec-reload", &recipe_conf("").workers(2));
    let publisher = publish(&n, "src", "cam", 120);
    wait_renditions(&n, 1);
    let old_workers: Vec<i32> = workers(&n).iter().map(|w| w.pid).collect();
    n.signal("reload");
    assert!(
        wait::until(Duration::from_secs(10), || {
            workers(&n).iter().any(|w| !old_workers.contains(&w.pid))
        }),
        "no new worker after reload"
    );
    // The old worker keeps its publisher and its encoder; nobody starts a second one.
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let e = anywhere(&encoder(&n));
        assert_eq!(e.len(), 1, "encoders after reload: {e:?}");
        sleep(Duration::from_millis(200));
    }
    stop(publisher);
    assert!(
        wait::until(Duration::from_secs(3), || anywhere(&encoder(&n)).is_empty()),
        "encoder left after the publisher of the old worker left"
    );
    // The old worker, its publisher gone, exits.
    assert!(
        wait::until(Duration::from_secs(10), || {
            workers(&n).iter().all(|w| !old_workers.contains(&w.pid))
        }),
        "old worker did not exit"
    );
    assert!(worker_children(&n).is_empty());
    assert_quiet_log(&n, &[]);
}

#[test]
fn killed_worker_leaves_no_encoder() {
    let _turn = encoding();
    let n = Nginx::start("exec-kill-worker", &recipe_conf(""));
    let publisher = publish(&n, "src", "cam", 120);
    assert!(
        wait::until(Duration::from_secs(30), || running(&n, &encoder(&n)).len()
            == 1),
        "no encoder; log:\n{}",
        n.error_log()
    );
    let worker = running(&n, &encoder(&n))[0].ppid;
    send_signal(worker, 9);
    assert!(
        wait::until(Duration::from_secs(2), || anywhere(&encoder(&n)).is_empty()),
        "encoder outlived its worker: {:?}",
        anywhere(&encoder(&n))
    );
    stop(publisher);
    // The master reports its worker's death; nothing else may.
    assert_quiet_log(
        &n,
        &[&format!("worker process {worker} exited on signal 9")],
    );
}

/// `nginx -s stop` takes the encoders down with the workers; `nginx -s quit` waits for the
/// publisher (nginx's graceful shutdown), then the encoder goes with it.
#[test]
fn stop_and_quit_leave_no_encoder() {
    let _turn = encoding();
    for signal in ["stop", "quit"] {
        let mut n = Nginx::start("exec-shutdown", &recipe_conf(""));
        let publisher = publish(&n, "src", "cam", 120);
        assert!(
            wait::until(Duration::from_secs(30), || running(&n, &encoder(&n)).len()
                == 1),
            "no encoder; log:\n{}",
            n.error_log()
        );
        let marker = encoder(&n);
        // The encoder's own connections are up (nginx -s quit closes the listening sockets).
        wait_renditions(&n, 1);
        if signal == "quit" {
            n.signal("quit");
            sleep(Duration::from_secs(1));
            assert_eq!(
                anywhere(&marker).len(),
                1,
                "quit stops nothing while publishing"
            );
            stop(publisher);
            let pid_file = n.prefix.join("nginx.pid");
            assert!(
                wait::until(Duration::from_secs(10), || !pid_file.exists()),
                "nginx did not quit once its publisher left"
            );
        } else {
            assert!(n.shut_down("stop"), "nginx did not stop");
            stop(publisher);
        }
        assert!(
            wait::until(Duration::from_secs(2), || anywhere(&marker).is_empty()),
            "encoder left after nginx -s {signal}: {:?}",
            anywhere(&marker)
        );
        assert_quiet_log(&n, &[]);
    }
}

#[test]
fn failing_command_backs_off_without_flooding_the_log() {
    let n = Nginx::start(
        "exec-failing",
        &Conf::rtmp(
            "server { listen 127.0.0.1:{rtmp_port};
               application src { live on; hls on; hls_path {prefix}/www/hls; hls_fragment 1s;
                 exec ffmpeg -bogus_option -i rtmp://127.0.0.1:{rtmp_port}/src/$name -f flv rtmp://127.0.0.1:{rtmp_port}/src/$name_x; } }",
        )
        .http(STAT)
        .user("nobody nogroup"),
    );
    let publisher = publish(&n, "src", "cam", 120);
    let start = Instant::now();
    assert!(
        n.wait_log("exited with code", Duration::from_secs(20)),
        "the failing command was not reported; log:\n{}",
        n.error_log()
    );
    sleep(Duration::from_secs(40).saturating_sub(start.elapsed()));
    let log = n.error_log();
    let deaths: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("exec \"ffmpeg\""))
        .collect();
    // respawn_timeout 5s doubling: deaths at about 0, 5, 15 and 35 s; a start line once.
    assert!(
        (3..=6).contains(&deaths.len()),
        "{} lines in 40 s:\n{}",
        deaths.len(),
        deaths.join("\n")
    );
    assert!(
        deaths.iter().any(|l| l.contains("restarting in 10000 ms")),
        "no backoff visible:\n{}",
        deaths.join("\n")
    );
    assert!(
        deaths
            .iter()
            .any(|l| l.contains("last output:") && l.contains("bogus_option")),
        "the death line does not say why:\n{}",
        deaths.join("\n")
    );
    // Without a `2>` redirection, stderr is copied next to nginx's error log (into a
    // directory the workers' user can write: they run as nobody here), and stat says where.
    let child_log = n.prefix.join("logs/rtmp-children/src-cam-ffmpeg-0.log");
    let copied = fs::read_to_string(&child_log).unwrap_or_default();
    assert!(
        copied.contains("bogus_option"),
        "{}: {copied:?}",
        child_log.display()
    );
    let x = get(&n, "/stat");
    assert!(
        x.contains(&format!("<log>{}</log>", child_log.display())) && x.contains("<pid>0</pid>"),
        "stat XML: {x}"
    );
    // The source streams on, untouched.
    assert!(
        ffmpeg_plays(&n.rtmp_url("src", "cam")),
        "source not playable"
    );
    assert!(segments(&n.prefix.join("www/hls/cam.m3u8")) >= 3);
    stop(publisher);
    assert!(wait::until(Duration::from_secs(3), || worker_children(&n).is_empty()));
    assert_quiet_log(&n, &[]);
}

#[test]
fn exec_static_runs_once_and_once_only_after_reload() {
    let marker = format!("exec-static-marker-{}", std::process::id());
    let n = Nginx::start(
        "exec-static",
        &Conf::rtmp(&format!(
            "exec_static /bin/sh -c \"echo started >> {{prefix}}/static.out; exec sleep 600\" {marker};
             server {{ listen 127.0.0.1:{{rtmp_port}}; application live {{ live on; }} }}"
        ))
        .workers(2),
    );
    let sleeper = |n: &Nginx| {
        worker_children(n)
            .into_iter()
            .filter(|p| p.state != 'Z' && p.cmdline.contains("sleep 600"))
            .collect::<Vec<_>>()
    };
    assert!(
        wait::until(Duration::from_secs(10), || sleeper(&n).len() == 1),
        "exec_static did not start; log:\n{}",
        n.error_log()
    );
    let first = sleeper(&n)[0].clone();
    sleep(Duration::from_secs(1));
    assert_eq!(
        sleeper(&n).len(),
        1,
        "one exec_static process for two workers"
    );
    for _ in 0..2 {
        let before = sleeper(&n)[0].pid;
        n.signal("reload");
        assert!(
            wait::until(Duration::from_secs(10), || {
                let s = sleeper(&n);
                s.len() == 1 && s[0].pid != before
            }),
            "not exactly one exec_static after reload: {:?}",
            worker_children(&n)
        );
        // And it stays one: the old worker's was stopped, not left to run.
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            let all: Vec<Proc> = anywhere("sleep 600")
                .into_iter()
                .filter(|p| worker_children(&n).iter().any(|c| c.pid == p.pid) || p.ppid == 1)
                .collect();
            assert!(all.len() <= 1, "two exec_static after reload: {all:?}");
            sleep(Duration::from_millis(200));
        }
    }
    assert_ne!(sleeper(&n)[0].pid, first.pid);
    let started = fs::read_to_string(n.prefix.join("static.out")).unwrap_or_default();
    assert_eq!(started.lines().count(), 3, "{started}");
    assert_quiet_log(&n, &[]);
}

/// An old worker that keeps running after a reload (its publisher stays) stops its
/// `exec_static` child at once: the new worker's is the only one.
#[test]
fn exec_static_of_a_busy_old_worker_stops_at_reload() {
    let n = Nginx::start(
        "exec-static-busy",
        &Conf::rtmp(
            "exec_static /bin/sh -c \"exec sleep 601\";
             server { listen 127.0.0.1:{rtmp_port}; application live { live on; } }",
        ),
    );
    let sleeper = |n: &Nginx| {
        worker_children(n)
            .into_iter()
            .filter(|p| p.state != 'Z' && p.cmdline.contains("sleep 601"))
            .collect::<Vec<_>>()
    };
    assert!(wait::until(Duration::from_secs(10), || sleeper(&n).len() == 1));
    let publisher = publish(&n, "live", "cam", 60);
    assert!(
        wait::until(Duration::from_secs(15), || n
            .error_log()
            .contains("publishes \"")),
        "no publish; log:\n{}",
        n.error_log()
    );
    let old = workers(&n)[0].pid;
    n.signal("reload");
    assert!(
        wait::until(Duration::from_secs(5), || {
            let s = sleeper(&n);
            s.len() == 1 && s[0].ppid != old
        }),
        "not exactly one exec_static after reload: {:?}",
        sleeper(&n)
    );
    assert!(
        workers(&n).iter().any(|w| w.pid == old),
        "the old worker, still serving its publisher, is alive"
    );
    stop(publisher);
    assert_quiet_log(&n, &[]);
}

#[test]
fn one_shot_commands_get_substituted_arguments() {
    let n = Nginx::start(
        "exec-oneshot",
        &Conf::rtmp(
            "server { listen 127.0.0.1:{rtmp_port};
               application src { live on;
                 exec_publish /bin/sh -c \"echo publish $app $name [$args] $addr >> {prefix}/events\";
                 exec_publish_done /bin/echo done ${name}x $app >>{prefix}/events;
                 exec_play /bin/sh -c \"echo play $name >> {prefix}/events\";
                 exec_play_done /bin/echo play_done $name \\$name >>{prefix}/events;
                 exec_publish env >{prefix}/env;
                 exec_options on;
                 exec_publish /bin/echo only-for-other name=other >>{prefix}/events;
               } }",
        ),
    );
    let events = n.prefix.join("events");
    let read = || fs::read_to_string(&events).unwrap_or_default();
    let publisher = publish(&n, "src", "cam?k=v", 30);
    assert!(
        wait::until(Duration::from_secs(15), || read()
            .contains("publish src cam")),
        "exec_publish did not run: {:?}; log:\n{}",
        read(),
        n.error_log()
    );
    assert!(ffmpeg_plays(&n.rtmp_url("src", "cam")));
    stop(publisher);
    assert!(
        wait::until(Duration::from_secs(10), || read().contains("done camx src")
            && read().contains("play_done cam $name")),
        "done lines missing: {:?}",
        read()
    );
    let text = read();
    assert!(text.contains("publish src cam [k=v] 127.0.0.1"), "{text}");
    assert!(text.contains("play cam"), "{text}");
    assert!(
        !text.contains("only-for-other"),
        "name= filter ignored: {text}"
    );
    // nginx clears its workers' environment: commands get a PATH all the same.
    let env = fs::read_to_string(n.prefix.join("env")).unwrap_or_default();
    assert!(env.lines().any(|l| l.starts_with("PATH=/")), "{env}");
    assert!(wait::until(Duration::from_secs(3), || worker_children(&n).is_empty()));
    assert_quiet_log(&n, &[]);
}

/// nginx-rtmp turns a substituted value that reads `>file` into a redirection: a client
/// could truncate any file the workers may write. Here values stay arguments.
#[test]
fn client_values_never_become_redirections() {
    let n = Nginx::start(
        "exec-hostile",
        &Conf::rtmp(
            "server { listen 127.0.0.1:{rtmp_port};
               application src { live on; exec_publish /bin/echo $flashver; } }",
        ),
    );
    let victim = n.prefix.join("victim");
    fs::write(&victim, "precious\n").unwrap();
    let mut cmd = ffmpeg();
    cmd.args([
        "-re",
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=160x120:rate=15",
        "-t",
        "30",
    ])
    .args(["-c:v", "libx264", "-preset", "ultrafast", "-g", "15"])
    .arg("-rtmp_flashver")
    .arg(format!(">{}", victim.display()))
    .args(["-f", "flv", &n.rtmp_url("src", "cam")]);
    let publisher = cmd.spawn().expect("spawn ffmpeg");
    assert!(
        n.wait_log(
            "exec_publish \"/bin/echo\" of \"src/cam\"",
            Duration::from_secs(15)
        ) && wait::until(Duration::from_secs(5), || n
            .error_log()
            .contains("exited with code 0")),
        "exec_publish did not run; log:\n{}",
        n.error_log()
    );
    stop(publisher);
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious\n");
    assert_quiet_log(&n, &[]);
}

/// After a reload the old worker exits as its last publisher leaves, right when
/// `exec_publish_done` runs: the command must finish its job all the same.
#[test]
fn publish_done_finishes_after_its_worker_exits() {
    let n = Nginx::start(
        "exec-done-reload",
        &Conf::rtmp(
            "server { listen 127.0.0.1:{rtmp_port};
               application src { live on;
                 exec_publish_done /bin/sh -c \"sleep 1; echo finished $name >> {prefix}/events\"; } }",
        ),
    );
    let publisher = publish(&n, "src", "cam", 60);
    assert!(
        wait::until(Duration::from_secs(15), || n
            .error_log()
            .contains("publishes \"")),
        "no publish; log:\n{}",
        n.error_log()
    );
    let old: Vec<i32> = workers(&n).iter().map(|w| w.pid).collect();
    n.signal("reload");
    assert!(wait::until(Duration::from_secs(10), || workers(&n)
        .iter()
        .any(|w| !old.contains(&w.pid))));
    stop(publisher);
    assert!(
        wait::until(Duration::from_secs(10), || workers(&n)
            .iter()
            .all(|w| !old.contains(&w.pid))),
        "old worker did not exit"
    );
    let events = n.prefix.join("events");
    assert!(
        wait::until(Duration::from_secs(5), || fs::read_to_string(&events)
            .unwrap_or_default()
            .contains("finished cam")),
        "exec_publish_done was killed with its worker; log:\n{}",
        n.error_log()
    );
    assert_quiet_log(&n, &[]);
}

#[test]
fn config_errors_name_file_and_line() {
    let line_of = |n: &Nginx, needle: &str| {
        fs::read_to_string(&n.conf)
            .unwrap()
            .lines()
            .position(|l| l.trim_start().starts_with(needle))
            .expect("needle")
            + 1
    };
    for (directive, message) in [
        (
            "exec no-such-program-here -i x;",
            "program \"no-such-program-here\": not found on PATH",
        ),
        (
            "exec_static {prefix}/nginx.conf;",
            "nginx.conf\": not executable",
        ),
        ("exec_kill_signal TERMINATE;", "invalid value \"TERMINATE\""),
        ("respawn_timeout soon;", "invalid value \"soon\""),
        ("respawn maybe;", "\"on\" or \"off\""),
        (
            "exec_pull no-such-program-here -i x;",
            "\"exec_pull\": program \"no-such-program-here\": not found on PATH",
        ),
        (
            "exec_record_done no-such-program-here $path;",
            "\"exec_record_done\": program \"no-such-program-here\": not found on PATH",
        ),
    ] {
        let n = Nginx::prepare(
            "exec-conf",
            &Conf::rtmp(&format!(
                "server {{ listen 127.0.0.1:{{rtmp_port}};\napplication a {{ live on;\n{directive}\n}} }}"
            )),
        );
        let out = n.test_config();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "nginx -t accepted {directive:?}");
        assert!(
            err.contains(message),
            "{directive}: expected {message:?} in:\n{err}"
        );
        let location = format!(
            "{}:{}",
            n.conf.display(),
            line_of(&n, directive.split('{').next().unwrap_or(directive))
        );
        assert!(
            err.contains(&location),
            "{directive}: expected {location} in:\n{err}"
        );
    }
    let n = Nginx::prepare(
        "exec-conf-ok",
        &Conf::rtmp(
            "respawn_timeout 2s; exec_kill_signal usr1;
             server { listen 127.0.0.1:{rtmp_port}; exec_kill_signal 15;
               application a { live on; respawn off; exec_options on;
                 exec_push ffmpeg -i x name=a; exec_play /bin/true; exec_play_done true;
                 exec_publish_done /bin/true; exec_static /bin/true; } }",
        ),
    );
    let out = n.test_config();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
