/// Extends 32-bit millisecond timestamps (FLV/RTMP) to 64 bits so they stay
/// monotonic across the wrap at 2^32 ms (about 49.7 days).
///
/// A step of more than 2^31 ms backwards is read as a wrap forwards; a step of
/// more than 2^31 ms forwards right after a wrap is read as a late frame from
/// before the wrap.
#[derive(Debug, Clone, Default)]
pub struct TimestampExtender {
    last: Option<u32>,
    epoch: u64,
}

const HALF: u32 = 1 << 31;
const WRAP: u64 = 1 << 32;

impl TimestampExtender {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn extend(&mut self, ts: u32) -> u64 {
        let Some(last) = self.last else {
            self.last = Some(ts);
            return u64::from(ts);
        };
        if ts < last && last - ts > HALF {
            // Wrapped forwards.
            self.epoch += WRAP;
            self.last = Some(ts);
            return self.epoch + u64::from(ts);
        }
        if ts > last && ts - last > HALF && self.epoch >= WRAP {
            // A straggler from before the wrap: do not move `last`.
            return self.epoch - WRAP + u64::from(ts);
        }
        self.last = Some(ts);
        self.epoch + u64::from(ts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_forward_and_handles_stragglers() {
        let mut x = TimestampExtender::new();
        assert_eq!(x.extend(u32::MAX - 10), u64::from(u32::MAX - 10));
        assert_eq!(x.extend(5), WRAP + 5);
        assert_eq!(x.extend(u32::MAX - 3), u64::from(u32::MAX - 3));
        assert_eq!(x.extend(40), WRAP + 40);
        // Small backwards steps are not wraps.
        assert_eq!(x.extend(30), WRAP + 30);
    }
}
