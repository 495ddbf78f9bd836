//! A small `strftime` for `record_suffix` patterns, on a time given as Unix seconds and a UTC
//! offset (the shell knows the local zone; the core does not read it).

use std::fmt::Write;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const MONTHS_LONG: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const DAYS_LONG: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// A broken-down civil time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CivilTime {
    pub year: i64,
    /// 1..=12
    pub month: u32,
    /// 1..=31
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    /// 0 = Sunday.
    pub weekday: u32,
    /// 0-based day of the year.
    pub yday: u32,
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

impl CivilTime {
    /// The civil time `unix_s + utc_offset_s` seconds after the epoch (proleptic Gregorian).
    pub fn from_unix(unix_s: i64, utc_offset_s: i32) -> CivilTime {
        let t = unix_s.saturating_add(i64::from(utc_offset_s));
        let days = t.div_euclid(86_400);
        let secs = t.rem_euclid(86_400);
        let (year, month, day) = crate::files::civil_from_days(days);
        let cum = [0u32, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
        let leap_extra = u32::from(month > 2 && is_leap(year));
        let yday = cum.get(month as usize - 1).copied().unwrap_or(0) + day - 1 + leap_extra;
        CivilTime {
            year,
            month,
            day,
            hour: (secs / 3600) as u32,
            minute: (secs / 60 % 60) as u32,
            second: (secs % 60) as u32,
            weekday: (days + 4).rem_euclid(7) as u32,
            yday,
        }
    }
}

/// Formats `pattern` as C's `strftime` does for the conversions file names use:
/// `%Y %y %C %m %d %e %j %H %I %M %S %p %b %h %B %a %A %u %w %T %R %D %F %s %z %n %t %%`.
/// An unknown conversion is kept as written.
pub fn strftime(pattern: &str, unix_s: i64, utc_offset_s: i32) -> String {
    let t = CivilTime::from_unix(unix_s, utc_offset_s);
    let month = (t.month as usize).saturating_sub(1);
    let wd = t.weekday as usize;
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(conv) = chars.next() else {
            out.push('%');
            break;
        };
        // Writing to a String cannot fail.
        let _ = match conv {
            'Y' => write!(out, "{}", t.year),
            'y' => write!(out, "{:02}", t.year.rem_euclid(100)),
            'C' => write!(out, "{:02}", t.year.div_euclid(100)),
            'm' => write!(out, "{:02}", t.month),
            'd' => write!(out, "{:02}", t.day),
            'e' => write!(out, "{:2}", t.day),
            'j' => write!(out, "{:03}", t.yday + 1),
            'H' => write!(out, "{:02}", t.hour),
            'I' => write!(out, "{:02}", (t.hour + 11) % 12 + 1),
            'M' => write!(out, "{:02}", t.minute),
            'S' => write!(out, "{:02}", t.second),
            'p' => write!(out, "{}", if t.hour < 12 { "AM" } else { "PM" }),
            'b' | 'h' => write!(out, "{}", MONTHS.get(month).unwrap_or(&"")),
            'B' => write!(out, "{}", MONTHS_LONG.get(month).unwrap_or(&"")),
            'a' => write!(out, "{}", DAYS.get(wd).unwrap_or(&"")),
            'A' => write!(out, "{}", DAYS_LONG.get(wd).unwrap_or(&"")),
            'u' => write!(out, "{}", if t.weekday == 0 { 7 } else { t.weekday }),
            'w' => write!(out, "{}", t.weekday),
            'T' => write!(out, "{:02}:{:02}:{:02}", t.hour, t.minute, t.second),
            'R' => write!(out, "{:02}:{:02}", t.hour, t.minute),
            'D' => write!(
                out,
                "{:02}/{:02}/{:02}",
                t.month,
                t.day,
                t.year.rem_euclid(100)
            ),
            'F' => write!(out, "{}-{:02}-{:02}", t.year, t.month, t.day),
            's' => write!(out, "{unix_s}"),
            'z' => {
                let sign = if utc_offset_s < 0 { '-' } else { '+' };
                let off = utc_offset_s.unsigned_abs();
                write!(out, "{sign}{:02}{:02}", off / 3600, off / 60 % 60)
            }
            'n' => writeln!(out),
            't' => write!(out, "\t"),
            '%' => write!(out, "%"),
            other => write!(out, "%{other}"),
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-12-06 22:11:58 UTC, a Sunday.
    const T: i64 = 1_796_595_118;

    #[test]
    fn civil_time() {
        let c = CivilTime::from_unix(T, 0);
        assert_eq!((c.year, c.month, c.day), (2026, 12, 6));
        assert_eq!((c.hour, c.minute, c.second, c.weekday), (22, 11, 58, 0));
        assert_eq!(c.yday, 339);
        let epoch = CivilTime::from_unix(0, 0);
        assert_eq!(
            (epoch.year, epoch.month, epoch.day, epoch.weekday),
            (1970, 1, 1, 4)
        );
        let leap = CivilTime::from_unix(951_782_400, 0); // 2000-02-29
        assert_eq!(
            (leap.year, leap.month, leap.day, leap.yday),
            (2000, 2, 29, 59)
        );
    }

    #[test]
    fn nginx_rtmp_suffix() {
        assert_eq!(
            strftime("-%d-%b-%y-%T.flv", T, 0),
            "-06-Dec-26-22:11:58.flv"
        );
        assert_eq!(
            strftime("-%F_%H%M%S.flv", T, 3600),
            "-2026-12-06_231158.flv"
        );
        assert_eq!(
            strftime("%a %A %B %j %e %I%p %u %w", T, 0),
            "Sun Sunday December 340  6 10PM 7 0"
        );
        assert_eq!(
            strftime("%z|%s|%%|%Q|%", T, -5400),
            "-0130|1796595118|%|%Q|%"
        );
        assert_eq!(strftime("%D %R %C", T, 0), "12/06/26 22:11 20");
    }

    #[test]
    fn offset_crosses_midnight() {
        assert_eq!(strftime("%F %T", T, 7200), "2026-12-07 00:11:58");
        assert_eq!(strftime("%F %T", 0, -1), "1969-12-31 23:59:59");
    }
}
