//! A DNS server on loopback (`dns_server.py`) whose answers the test changes while it runs:
//! A records of the names it was told, silence for names set to `-`, NXDOMAIN for the rest.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The DNS server, stopped when dropped.
pub struct DnsServer {
    child: Child,
    /// Its UDP port on 127.0.0.1.
    pub port: u16,
    names: PathBuf,
}

impl DnsServer {
    /// Starts a server that knows no name yet; its table lives in `dir`.
    pub fn start(dir: &Path) -> DnsServer {
        let names = dir.join("dns-names");
        std::fs::write(&names, "").expect("write the DNS table");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/dns_server.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(&names)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the DNS server");
        let mut line = String::new();
        let out = child.stdout.take().expect("DNS server stdout");
        BufReader::new(out)
            .read_line(&mut line)
            .expect("DNS server port");
        let port = line
            .trim()
            .strip_prefix("port ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("DNS server said {line:?}"));
        DnsServer { child, port, names }
    }

    /// From now on `name` resolves to `addrs` (none: NXDOMAIN again; `["-"]`: queries go
    /// unanswered).
    pub fn set(&self, name: &str, addrs: &[&str]) {
        let line = if addrs.is_empty() {
            String::new()
        } else {
            format!("{name} {}\n", addrs.join(" "))
        };
        // Written whole and renamed: the server never reads half a table.
        let tmp = self.names.with_extension("tmp");
        std::fs::write(&tmp, line).expect("write the DNS table");
        std::fs::rename(&tmp, &self.names).expect("replace the DNS table");
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
