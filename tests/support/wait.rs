//! Polling for what a server or a child process does in its own time.

use std::thread::sleep;
use std::time::{Duration, Instant};

/// Whether `f` holds within `timeout`, asked every 50 ms and once more at the deadline (a
/// loaded machine may have slept past it).
pub fn until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        sleep(Duration::from_millis(50));
    }
    f()
}
