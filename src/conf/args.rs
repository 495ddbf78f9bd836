//! Directive arguments: arity, value syntax and ranges, each failure as a [`ConfError`].

use super::error::ConfError;
use super::value::{parse_flag, parse_size, parse_time_ms, ValueError};

pub(super) fn set_once<T>(
    slot: &mut Option<T>,
    directive: &'static str,
    value: T,
) -> Result<(), ConfError> {
    if slot.is_some() {
        return Err(ConfError::Duplicate(directive));
    }
    *slot = Some(value);
    Ok(())
}

pub(super) fn one_arg<'a>(directive: &'static str, args: &[&'a str]) -> Result<&'a str, ConfError> {
    match args {
        [a] => Ok(a),
        _ => Err(ConfError::Arity {
            directive,
            expected: "1",
        }),
    }
}

pub(super) fn value_err(directive: &'static str, arg: &str) -> impl Fn(ValueError) -> ConfError {
    let arg = arg.to_owned();
    move |error| ConfError::Value {
        directive,
        arg: arg.clone(),
        error,
    }
}

pub(super) fn ranged(
    directive: &'static str,
    arg: &str,
    v: u64,
    min: u64,
    max: u64,
) -> Result<u64, ConfError> {
    if (min..=max).contains(&v) {
        Ok(v)
    } else {
        Err(value_err(directive, arg)(ValueError::Range { min, max }))
    }
}

pub(super) fn time_arg(directive: &'static str, args: &[&str], min: u64) -> Result<u64, ConfError> {
    let a = one_arg(directive, args)?;
    let v = parse_time_ms(a).map_err(value_err(directive, a))?;
    ranged(directive, a, v, min, 7 * 86_400_000)
}

/// A batching interval (`play_flush_interval`, `publish_read_interval`): 0 to 1 s.
pub(super) fn interval_arg(directive: &'static str, args: &[&str]) -> Result<u64, ConfError> {
    let a = one_arg(directive, args)?;
    let v = parse_time_ms(a).map_err(value_err(directive, a))?;
    ranged(directive, a, v, 0, 1000)
}

pub(super) fn size_arg(
    directive: &'static str,
    args: &[&str],
    min: u64,
    max: u64,
) -> Result<u32, ConfError> {
    let a = one_arg(directive, args)?;
    let v = parse_size(a).map_err(value_err(directive, a))?;
    // `max` never exceeds u32::MAX.
    Ok(ranged(directive, a, v, min, max)? as u32)
}

pub(super) fn flag_arg(directive: &'static str, args: &[&str]) -> Result<bool, ConfError> {
    let a = one_arg(directive, args)?;
    parse_flag(a).map_err(value_err(directive, a))
}

/// An absolute output directory (`hls_path`, `dash_path`), without trailing slashes.
pub(super) fn path_arg(directive: &'static str, args: &[&str]) -> Result<String, ConfError> {
    let a = one_arg(directive, args)?;
    if !a.starts_with('/') || a.contains('\0') {
        return Err(value_err(directive, a)(ValueError::Path));
    }
    let v = a.trim_end_matches('/');
    Ok(if v.is_empty() {
        "/".to_owned()
    } else {
        v.to_owned()
    })
}
