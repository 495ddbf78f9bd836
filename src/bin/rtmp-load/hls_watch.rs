//! Publish -> segment-listed latency: playlists watched with inotify.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use crate::sys::Inotify;

pub struct HlsWatch {
    inotify: Inotify,
    dir: PathBuf,
    /// Per stream: URIs seen, end of the listed media (ms), latencies.
    seen: HashMap<String, (HashSet<String>, f64)>,
}

impl HlsWatch {
    pub fn new(dir: PathBuf) -> Result<HlsWatch, String> {
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let inotify =
            Inotify::watch_dir(&dir).map_err(|e| format!("inotify on {}: {e}", dir.display()))?;
        Ok(HlsWatch {
            inotify,
            dir,
            seen: HashMap::new(),
        })
    }

    /// The descriptor to poll for changes.
    pub fn fd(&self) -> i32 {
        self.inotify.as_raw_fd()
    }

    /// Names of the playlists that changed.
    pub fn changed(&mut self) -> HashSet<String> {
        let mut names = HashSet::new();
        let mut buf = [0u8; 16384];
        loop {
            let n = self.inotify.read(&mut buf);
            if n == 0 {
                break;
            }
            let mut pos = 0;
            let hdr = std::mem::size_of::<libc::inotify_event>();
            while pos + hdr <= n {
                let len = u32::from_ne_bytes([
                    buf[pos + 12],
                    buf[pos + 13],
                    buf[pos + 14],
                    buf[pos + 15],
                ]) as usize;
                let name_bytes = &buf[pos + hdr..(pos + hdr + len).min(n)];
                let name = String::from_utf8_lossy(name_bytes)
                    .trim_end_matches('\0')
                    .to_string();
                if let Some(stem) = name.strip_suffix(".m3u8") {
                    names.insert(stem.to_string());
                }
                pos += hdr + len;
            }
        }
        names
    }

    /// Reads the playlist of `stream`; returns the stream-time ends (ms) of newly listed
    /// segments.
    pub fn new_segments(&mut self, stream: &str) -> Vec<f64> {
        let text =
            std::fs::read_to_string(self.dir.join(format!("{stream}.m3u8"))).unwrap_or_default();
        let entry = self.seen.entry(stream.to_string()).or_default();
        let mut out = Vec::new();
        let mut dur = None;
        for line in text.lines() {
            if let Some(d) = line.strip_prefix("#EXTINF:") {
                dur = d
                    .split(',')
                    .next()
                    .and_then(|s| s.trim().parse::<f64>().ok());
            } else if !line.starts_with('#') && !line.trim().is_empty() {
                if let Some(d) = dur.take() {
                    if entry.0.insert(line.trim().to_string()) {
                        entry.1 += d * 1000.0;
                        out.push(entry.1);
                    }
                }
            }
        }
        out
    }
}
