//! Dates in documents the outputs write (`#EXT-X-PROGRAM-DATE-TIME`, the MPD's times): Unix
//! milliseconds as ISO 8601 in UTC (`2026-12-07T08:35:00.123Z`) and back, in the proleptic
//! Gregorian calendar (days from civil dates as in H. Hinnant's "chrono-compatible low-level
//! date algorithms").

const MS_PER_DAY: u64 = 86_400_000;

/// The civil date (year, month 1..=12, day 1..=31) of day `z` since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Days since 1970-01-01 of a civil date.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `unix_ms` as `YYYY-MM-DDThh:mm:ss.sssZ`.
pub fn date_time(unix_ms: u64) -> String {
    let days = (unix_ms / MS_PER_DAY) as i64;
    let ms_of_day = unix_ms % MS_PER_DAY;
    let (y, mo, d) = civil_from_days(days);
    let s = ms_of_day / 1000;
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        s / 3600,
        s / 60 % 60,
        s % 60,
        ms_of_day % 1000
    )
}

fn number(s: &str) -> Option<u64> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// Parses a date-time this module wrote (`Z`, or a `±hh:mm` offset; fractions to the ms).
pub fn parse_date_time(v: &str) -> Option<u64> {
    let (date, time) = v.split_once('T')?;
    let mut date = date.splitn(3, '-');
    let y = number(date.next()?)? as i64;
    let mo = u32::try_from(number(date.next()?)?).ok()?;
    let d = u32::try_from(number(date.next()?)?).ok()?;
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let (clock, offset_min) = if let Some(c) = time.strip_suffix('Z') {
        (c, 0i64)
    } else {
        let at = time.rfind(['+', '-'])?;
        let (c, off) = time.split_at(at);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (h, m) = off.get(1..)?.split_once(':')?;
        (c, sign * (number(h)? * 60 + number(m)?) as i64)
    };
    let (hms, frac) = clock.split_once('.').unwrap_or((clock, ""));
    let mut hms = hms.splitn(3, ':');
    let h = number(hms.next()?)?;
    let mi = number(hms.next()?)?;
    let s = number(hms.next()?)?;
    let mut ms = 0;
    let mut scale = 100;
    for b in frac.bytes().take(3) {
        if !b.is_ascii_digit() {
            return None;
        }
        ms += u64::from(b - b'0') * scale;
        scale /= 10;
    }
    let day_ms = ((h * 60 + mi) * 60 + s) * 1000 + ms;
    let total = days_from_civil(y, mo, d) * MS_PER_DAY as i64 + day_ms as i64 - offset_min * 60_000;
    u64::try_from(total).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_back() {
        assert_eq!(date_time(0), "1970-01-01T00:00:00.000Z");
        // 2026-12-07T08:35:00.123Z
        let t = 1_796_632_500_123;
        assert_eq!(date_time(t), "2026-12-07T08:35:00.123Z");
        assert_eq!(parse_date_time("2026-12-07T08:35:00.123Z"), Some(t));
        assert_eq!(parse_date_time("2026-12-07T09:35:00.123+01:00"), Some(t));
        assert_eq!(parse_date_time("2026-12-07T08:05:00.123-00:30"), Some(t));
        assert_eq!(date_time(951_782_400_000), "2000-02-29T00:00:00.000Z");
        for t in [1, 59_999, 86_399_999, 4_102_444_800_000, 1_709_164_800_999] {
            assert_eq!(parse_date_time(&date_time(t)), Some(t));
        }
        assert_eq!(parse_date_time("2026-13-07T08:35:00Z"), None);
        assert_eq!(parse_date_time("2026-12-07 08:35:00Z"), None);
        assert_eq!(parse_date_time("2026-12-07T08:35:0x.1Z"), None);
    }
}
