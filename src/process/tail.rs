//! The end of what a child wrote on stderr, kept to say why it died.

use std::collections::VecDeque;

/// The last `capacity` bytes a child wrote on stderr.
#[derive(Debug, Clone)]
pub struct StderrTail {
    buf: VecDeque<u8>,
    capacity: usize,
}

/// The longest line [`StderrTail::last_lines`] returns, in characters.
const MAX_LINE: usize = 240;

impl StderrTail {
    pub fn new(capacity: usize) -> StderrTail {
        StderrTail {
            buf: VecDeque::with_capacity(capacity.min(4096)),
            capacity: capacity.max(1),
        }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        let keep = bytes.len().min(self.capacity);
        let bytes = bytes.get(bytes.len() - keep..).unwrap_or_default();
        let over = (self.buf.len() + bytes.len()).saturating_sub(self.capacity);
        self.buf.drain(..over.min(self.buf.len()));
        self.buf.extend(bytes);
    }

    /// Up to `n` last non-empty lines, oldest first, control characters removed, each cut
    /// to a bounded length (a log line stays a line).
    pub fn last_lines(&self, n: usize) -> Vec<String> {
        let (a, b) = self.buf.as_slices();
        let mut all = Vec::with_capacity(a.len() + b.len());
        all.extend_from_slice(a);
        all.extend_from_slice(b);
        let text = String::from_utf8_lossy(&all);
        let mut lines: Vec<String> = text
            .split(['\n', '\r'])
            .map(|l| {
                l.chars()
                    .filter(|c| !c.is_control())
                    .take(MAX_LINE)
                    .collect::<String>()
                    .trim()
                    .to_owned()
            })
            .filter(|l| !l.is_empty())
            .collect();
        let skip = lines.len().saturating_sub(n);
        lines.drain(..skip);
        lines
    }

    pub fn clear(&mut self) {
        self.buf.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_bytes_and_lines() {
        let mut t = StderrTail::new(20);
        t.push(b"first line\nsecond\n");
        t.push(b"third\r\n\n");
        assert_eq!(t.last_lines(2), ["second", "third"]);
        assert_eq!(t.last_lines(9), ["line", "second", "third"]);
        t.push(&[b'x'; 100]);
        assert_eq!(t.last_lines(1), ["x".repeat(20)]);
        t.clear();
        assert!(t.last_lines(3).is_empty());
    }

    #[test]
    fn lines_are_cleaned_and_bounded() {
        let mut t = StderrTail::new(4096);
        t.push(b"\x1b[31mred\x1b[0m \xff\n");
        t.push(&[b'y'; 1000]);
        let lines = t.last_lines(2);
        assert_eq!(lines[0], "[31mred[0m \u{fffd}");
        assert_eq!(lines[1].len(), MAX_LINE);
    }
}
