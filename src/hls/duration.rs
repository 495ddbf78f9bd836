//! Durations as playlists write them: seconds with three decimals.

/// `ms` as seconds with exactly three decimals ("4.000").
pub fn format_duration(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// Parses "4.000" (or "4", "4.5") into ms.
pub(crate) fn parse_duration_ms(v: &str) -> Option<u64> {
    let (int, frac) = match v.split_once('.') {
        Some((i, f)) => (i, f),
        None => (v, ""),
    };
    let int: u64 = int.parse().ok()?;
    let mut ms = 0u64;
    let mut scale = 100;
    for c in frac.chars().take(3) {
        ms += u64::from(c.to_digit(10)?) * scale;
        scale /= 10;
    }
    int.checked_mul(1000)?.checked_add(ms)
}
