//! At most one line per interval: the repeat of "still down" while a target stays down.

/// Lets a line through at most once per `interval_ms`, the first one `interval_ms` after
/// [`LogLimiter::arm`] (the line that armed it was already logged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLimiter {
    interval_ms: u64,
    /// When the next line may go out; `None` while disarmed.
    next_ms: Option<u64>,
    /// Lines held back since the last one let through.
    suppressed: u32,
}

impl LogLimiter {
    pub fn new(interval_ms: u64) -> LogLimiter {
        LogLimiter {
            interval_ms,
            next_ms: None,
            suppressed: 0,
        }
    }

    /// A line was just logged at `now_ms` outside the limiter: the next one waits a full
    /// interval.
    pub fn arm(&mut self, now_ms: u64) {
        self.next_ms = Some(now_ms.saturating_add(self.interval_ms));
        self.suppressed = 0;
    }

    /// Whether a line may go out at `now_ms`. `Some(n)`: yes, and `n` lines were held back
    /// since the last one. A disarmed limiter lets the first line through and arms itself.
    pub fn allow(&mut self, now_ms: u64) -> Option<u32> {
        match self.next_ms {
            Some(next) if now_ms < next => {
                self.suppressed = self.suppressed.saturating_add(1);
                None
            }
            _ => {
                let held = self.suppressed;
                self.arm(now_ms);
                Some(held)
            }
        }
    }

    /// Forget the last line (the condition it repeats is over).
    pub fn disarm(&mut self) {
        self.next_ms = None;
        self.suppressed = 0;
    }

    pub fn is_armed(&self) -> bool {
        self.next_ms.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_once_per_interval() {
        let mut l = LogLimiter::new(60_000);
        l.arm(1000);
        assert_eq!(l.allow(1000), None);
        assert_eq!(l.allow(60_999), None);
        assert_eq!(l.allow(61_000), Some(2));
        assert_eq!(l.allow(61_001), None);
        assert_eq!(l.allow(120_999), None);
        assert_eq!(l.allow(121_000), Some(2));
        // Many calls, few lines.
        let lines = (121_001..421_000)
            .step_by(100)
            .filter(|&t| l.allow(t).is_some())
            .count();
        assert_eq!(lines, 4);
    }

    #[test]
    fn disarmed_lets_the_first_line_through() {
        let mut l = LogLimiter::new(10);
        assert!(!l.is_armed());
        assert_eq!(l.allow(5), Some(0));
        assert!(l.is_armed());
        assert_eq!(l.allow(14), None);
        l.disarm();
        assert_eq!(l.allow(14), Some(0));
    }
}
