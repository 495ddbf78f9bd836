//! Facts about a test nginx's worker process from /proc: which process it is (a crash makes
//! the master start another) and its resident memory.

use std::fs;
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::nginx::Nginx;

/// The parent pid of `pid`, from /proc/<pid>/stat.
fn ppid(pid: u32) -> Option<u32> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After "pid (comm) state ": the ppid.
    s.get(s.rfind(')')? + 2..)?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The (single) worker of `n`.
pub fn worker_pid(n: &Nginx) -> u32 {
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
                if ppid(pid) == Some(master) {
                    return pid;
                }
            }
        }
        assert!(Instant::now() < deadline, "no nginx worker found");
        sleep(Duration::from_millis(50));
    }
}

/// The resident set of `pid` in kB.
pub fn rss_kb(pid: u32) -> u64 {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).expect("worker status");
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}
