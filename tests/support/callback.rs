//! A real HTTP server for notify callbacks (`callback_server.py`): it records every request
//! as a JSON line and answers as the test asks.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::nginx::free_port;

/// The callback server, stopped when dropped.
pub struct CallbackServer {
    child: Child,
    pub port: u16,
    log: PathBuf,
}

impl CallbackServer {
    pub fn start(dir: &Path) -> CallbackServer {
        let port = free_port();
        let log = dir.join("callbacks.jsonl");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/callback_server.py");
        let child = Command::new("python3")
            .arg(script)
            .arg(port.to_string())
            .arg(&log)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the callback server");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "callback server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        CallbackServer { child, port, log }
    }

    /// The requests received so far, as JSON lines.
    pub fn requests(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    pub fn wait_for(&self, needle: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.requests().iter().any(|l| l.contains(needle)) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for CallbackServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
