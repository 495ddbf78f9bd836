//! The Low-Latency HLS lines: `hls_low_latency`, `hls_part_duration` and
//! `hls_program_date_time`.

use super::super::args::{flag_arg, one_arg, ranged, set_once, value_err};
use super::super::error::ConfError;
use super::super::model::{RtmpConf, Scope};
use super::super::value::{parse_time_ms, ValueError};
use crate::hls::{MAX_PART_MS, MIN_PART_MS};

/// A part duration: nginx's time syntax (`330ms`, `1s`) or decimal seconds (`0.33`, `0.33s`),
/// to the millisecond.
fn parse_part_duration(a: &str) -> Result<u64, ValueError> {
    let Some((int, frac)) = a.strip_suffix('s').unwrap_or(a).split_once('.') else {
        return parse_time_ms(a);
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || !digits(frac) || frac.len() > 3 {
        return Err(ValueError::Time);
    }
    let int: u64 = int.parse().map_err(|_| ValueError::Time)?;
    let mut ms = 0;
    let mut scale = 100;
    for b in frac.bytes() {
        ms += u64::from(b - b'0') * scale;
        scale /= 10;
    }
    int.checked_mul(1000)
        .and_then(|v| v.checked_add(ms))
        .ok_or(ValueError::Time)
}

impl RtmpConf {
    /// One of the Low-Latency HLS lines (`name` is one of the three).
    pub(super) fn set_low_latency(
        &mut self,
        scope: Scope,
        name: &str,
        args: &[&str],
    ) -> Result<(), ConfError> {
        match name {
            "hls_low_latency" => {
                let v = flag_arg("hls_low_latency", args)?;
                let l = self.app_layer(scope, "hls_low_latency")?;
                set_once(&mut l.hls_low_latency, "hls_low_latency", v)
            }
            "hls_program_date_time" => {
                let v = flag_arg("hls_program_date_time", args)?;
                let l = self.app_layer(scope, "hls_program_date_time")?;
                set_once(&mut l.hls_program_date_time, "hls_program_date_time", v)
            }
            "hls_part_duration" => {
                let d = "hls_part_duration";
                let a = one_arg(d, args)?;
                let v = parse_part_duration(a).map_err(value_err(d, a))?;
                let v = ranged(d, a, v, MIN_PART_MS, MAX_PART_MS)?;
                let l = self.app_layer(scope, d)?;
                set_once(&mut l.hls_part_duration, d, v)
            }
            _ => Err(ConfError::Unknown(name.to_owned())),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn part_durations_parse_in_both_forms() {
        assert_eq!(parse_part_duration("0.33"), Ok(330));
        assert_eq!(parse_part_duration("0.33s"), Ok(330));
        assert_eq!(parse_part_duration("0.5"), Ok(500));
        assert_eq!(parse_part_duration("1"), Ok(1000));
        assert_eq!(parse_part_duration("250ms"), Ok(250));
        assert_eq!(parse_part_duration("1.0005"), Err(ValueError::Time));
        assert_eq!(parse_part_duration(".5"), Err(ValueError::Time));
        assert_eq!(parse_part_duration("0.x"), Err(ValueError::Time));
        assert_eq!(parse_part_duration("0.3ms"), Err(ValueError::Time));
    }

    #[test]
    fn directives_resolve_with_their_defaults_and_ranges() {
        let mut c = RtmpConf::new();
        let s = c.add_server();
        c.set(Scope::Server(s), "hls_low_latency", &["on"]).unwrap();
        let mut apps = Vec::new();
        for name in ["ll", "ll_short_no_dates", "plain_dated", "plain"] {
            let app = c.add_application(s, name).unwrap();
            let scope = Scope::Application { server: s, app };
            for (d, v) in [("hls", "on"), ("hls_path", "/tmp")] {
                c.set(scope, d, &[v]).unwrap();
            }
            apps.push(scope);
        }
        c.set(apps[1], "hls_part_duration", &["0.2s"]).unwrap();
        c.set(apps[1], "hls_program_date_time", &["off"]).unwrap();
        c.set(apps[2], "hls_low_latency", &["off"]).unwrap();
        c.set(apps[2], "hls_program_date_time", &["on"]).unwrap();
        c.set(apps[3], "hls_low_latency", &["off"]).unwrap();
        for bad in ["199ms", "1.001", "2s", "0", "fast"] {
            assert!(
                matches!(
                    c.set(apps[0], "hls_part_duration", &[bad]),
                    Err(ConfError::Value { .. })
                ),
                "{bad}"
            );
        }
        assert!(c.set(apps[0], "hls_low_latency", &["yes"]).is_err());
        assert!(matches!(
            c.set(apps[1], "hls_part_duration", &["1s"]),
            Err(ConfError::Duplicate(_))
        ));
        c.finish().unwrap();
        let got: Vec<(Option<u64>, bool)> = (0..4)
            .map(|i| {
                let hls = c.servers[0].applications[i].settings.hls.as_ref().unwrap();
                (hls.config.part_ms, hls.config.program_date_time)
            })
            .collect();
        assert_eq!(
            got,
            [
                (Some(330), true),
                (Some(200), false),
                (None, true),
                (None, false)
            ]
        );
    }
}
