//! nginx-rtmp's `exec_pull` end to end: real nginx with two workers, a real ffmpeg started
//! by the module when a player plays a stream nobody publishes, publishing it back. What is
//! checked is what an operator sees: the players' frames, the processes under nginx's workers
//! in /proc (one per stream, whatever the number of players and workers; none left once the
//! players are gone) and the error log.

mod support;

use std::fs;
use std::time::{Duration, Instant};

use support::nginx::{ffmpeg_publish, Conf, Nginx};
use support::player::TestPlayer;
use support::wait;

/// (pid, parent pid, state, command line) of every process.
fn all_procs() -> Vec<(i32, i32, char, String)> {
    let read = |pid: i32| {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // `pid (comm) state ppid ...`: comm may hold spaces, so parse after the last ')'.
        let rest = &stat[stat.rfind(')')? + 2..];
        let mut f = rest.split_whitespace();
        let state = f.next()?.chars().next()?;
        let ppid = f.next()?.parse().ok()?;
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        Some((pid, ppid, state, cmdline.trim().to_owned()))
    };
    fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .filter_map(read)
                .collect()
        })
        .unwrap_or_default()
}

/// Live children of nginx's workers whose command line contains `needle`.
fn children_running(n: &Nginx, needle: &str) -> usize {
    let master: i32 = fs::read_to_string(n.prefix.join("nginx.pid"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .expect("nginx.pid");
    let procs = all_procs();
    let workers: Vec<i32> = procs
        .iter()
        .filter(|p| p.1 == master && p.3.contains("worker process"))
        .map(|p| p.0)
        .collect();
    procs
        .iter()
        .filter(|p| workers.contains(&p.1) && p.2 != 'Z' && p.3.contains(needle))
        .count()
}

/// Video pictures a player gets before `deadline` (at most `want`), and when the first came.
fn pictures(p: &mut TestPlayer, deadline: Instant, want: usize) -> (usize, Option<Instant>) {
    let got = p.collect(deadline, want * 3);
    let pics: Vec<_> = got
        .iter()
        .filter(|g| g.type_id == 9 && !g.sequence_header)
        .collect();
    (pics.len().min(want), pics.first().map(|g| g.at))
}

/// The command waits a second before publishing: players that come meanwhile, on either
/// worker, find the command started and nothing published.
fn conf() -> Conf {
    let ffmpeg = "ffmpeg -hide_banner -nostdin -loglevel error -re \
        -f lavfi -i testsrc=size=320x240:rate=25 -t 60 \
        -c:v libx264 -preset ultrafast -tune zerolatency -g 25 -pix_fmt yuv420p \
        -f flv rtmp://127.0.0.1:{rtmp_port}/live/$name";
    Conf::rtmp(&format!(
        "server {{ listen 127.0.0.1:{{rtmp_port}};
            application live {{
                live on;
                pull_grace 1s;
                exec_pull /bin/sh -c \"sleep 1; exec {ffmpeg}\";
            }}
        }}"
    ))
    .workers(2)
}

/// Plays `live/cam` until a player landed on the other worker than the first one's (the log
/// says so), at most 3 s.
fn players_on_both_workers(n: &Nginx) -> Vec<TestPlayer> {
    let start = Instant::now();
    let mut players = vec![TestPlayer::play(n.rtmp_port, "live", "cam")];
    while start.elapsed() < Duration::from_secs(3)
        && !n.error_log().contains("runs on another worker")
    {
        players.push(TestPlayer::play(n.rtmp_port, "live", "cam"));
        std::thread::sleep(Duration::from_millis(20));
    }
    players
}

#[test]
fn players_start_one_command_per_stream_which_stops_when_they_leave() {
    let n = Nginx::start("exec-pull", &conf());
    let port = n.rtmp_port;
    let cam = format!("rtmp://127.0.0.1:{port}/live/cam");

    // The first player waits for the command's publish; players that come meanwhile, on
    // either worker, wait for the same command (more players until one landed on the other
    // worker).
    let mut more = players_on_both_workers(&n);
    let mut first = more.remove(0);
    let (got, at) = pictures(&mut first, Instant::now() + Duration::from_secs(15), 10);
    assert!(
        got >= 10,
        "the first player got {got} pictures:\n{}",
        n.error_log()
    );
    let delay = at.map(|a| a - first.play_sent).unwrap_or_default();
    assert!(
        delay < Duration::from_secs(8),
        "first picture {delay:?} after play"
    );
    assert_eq!(children_running(&n, &cam), 1, "{}", n.error_log());
    assert!(
        n.error_log().contains("runs on another worker"),
        "no player waited on the other worker:\n{}",
        n.error_log()
    );
    // Players after the publish, on either worker.
    more.extend((0..4).map(|_| TestPlayer::play(port, "live", "cam")));
    for p in &mut more {
        let (got, _) = pictures(p, Instant::now() + Duration::from_secs(10), 5);
        assert!(got >= 5, "a later player got {got} pictures");
    }
    assert_eq!(children_running(&n, &cam), 1, "{}", n.error_log());
    let log = n.error_log();
    let started = log
        .lines()
        .filter(|l| l.contains("exec_pull of") && l.contains("started"))
        .count();
    assert_eq!(started, 1, "{log}");

    // The players leave: the command is stopped (pull_grace, plus the time a worker that
    // read the stream counts as watching).
    drop(first);
    drop(more);
    assert!(
        wait::until(Duration::from_secs(20), || children_running(&n, &cam) == 0),
        "the exec_pull command outlived its players:\n{}",
        n.error_log()
    );
    assert!(n.wait_log("stopped: no player left", Duration::from_secs(2)));

    // A name a real publisher publishes starts no command.
    let real = format!("rtmp://127.0.0.1:{port}/live/real");
    let mut publisher = ffmpeg_publish(&real, 30).spawn().expect("spawn ffmpeg");
    // Until the publisher is there a player would start the command: wait for its publish.
    let published = wait::until(Duration::from_secs(15), || {
        n.error_log()
            .lines()
            .any(|l| l.contains("publishes") && l.contains("real"))
    });
    let mut player = TestPlayer::play(port, "live", "real");
    let (got, _) = pictures(&mut player, Instant::now() + Duration::from_secs(10), 5);
    let ok = published && got >= 5;
    let _ = publisher.kill();
    let _ = publisher.wait();
    assert!(ok, "no picture of the published stream:\n{}", n.error_log());
    assert_eq!(children_running(&n, &real), 0);
    let log = n.error_log();
    assert!(
        !log.lines()
            .any(|l| l.contains("exec_pull of") && l.contains("real")),
        "{log}"
    );
    for bad in ["unknown process", "[alert]", "[emerg]", "panicked"] {
        assert!(!log.contains(bad), "{bad} in the log:\n{log}");
    }
    n.assert_no_crash();
}

/// A player that leaves before the command published: the command stops all the same.
#[test]
fn a_player_that_leaves_early_stops_the_command() {
    let n = Nginx::start("exec-pull-early", &conf().workers(1));
    let port = n.rtmp_port;
    let url = format!("rtmp://127.0.0.1:{port}/live/early");
    let p = TestPlayer::play(port, "live", "early");
    assert!(
        wait::until(Duration::from_secs(5), || children_running(&n, &url) == 1),
        "no exec_pull command:\n{}",
        n.error_log()
    );
    drop(p);
    assert!(
        wait::until(Duration::from_secs(20), || children_running(&n, &url) == 0),
        "the exec_pull command outlived its player:\n{}",
        n.error_log()
    );
    n.assert_no_crash();
}

/// The pid of the worker that logged `needle` first (`[level] PID#TID: ...`).
fn logging_pid(n: &Nginx, needle: &str) -> Option<i32> {
    let log = n.error_log();
    let line = log.lines().find(|l| l.contains(needle))?;
    let after = &line[line.find("] ")? + 2..];
    after.split('#').next()?.parse().ok()
}

/// The worker running the command is killed: a worker whose players wait takes the run
/// over, and its players get the stream again.
#[test]
fn a_worker_with_players_takes_over_when_the_runner_dies() {
    let n = Nginx::start("exec-pull-takeover", &conf());
    let port = n.rtmp_port;
    let cam = format!("rtmp://127.0.0.1:{port}/live/cam");
    let mut players = players_on_both_workers(&n);
    assert!(
        wait::until(Duration::from_secs(15), || n
            .error_log()
            .contains("publishes")),
        "the command did not publish:\n{}",
        n.error_log()
    );
    let runner = logging_pid(&n, "exec_pull of \"live/cam\" started").expect("runner pid");
    let waiter = logging_pid(&n, "runs on another worker")
        .unwrap_or_else(|| panic!("no waiting worker:\n{}", n.error_log()));
    assert_ne!(runner, waiter);
    // What came before the kill is not counted.
    for p in &mut players {
        p.collect(Instant::now() + Duration::from_millis(200), usize::MAX);
    }
    let st = std::process::Command::new("kill")
        .args(["-9", &runner.to_string()])
        .status()
        .expect("kill");
    assert!(st.success());
    let took_over = wait::until(Duration::from_secs(15), || {
        n.error_log().lines().any(|l| {
            l.contains(&format!("{waiter}#")) && l.contains("exec_pull of \"live/cam\" started")
        })
    });
    assert!(
        took_over,
        "the waiting worker did not take over:\n{}",
        n.error_log()
    );
    // The players of the surviving worker get the stream again, from the new command.
    let mut again = 0;
    for p in &mut players {
        if pictures(p, Instant::now() + Duration::from_secs(8), 25).0 >= 25 {
            again += 1;
        }
    }
    let log = n.error_log();
    assert!(again > 0, "no player got the stream back:\n{log}");
    assert_eq!(children_running(&n, &cam), 1, "{log}");
}
