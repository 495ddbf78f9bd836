//! nginx-rtmp's recording directives as the shell uses them: one [`RecorderSettings`] per
//! recorder of an application (the application's own `record` line, then each
//! `recorder NAME {}` block in order).

use std::path::PathBuf;

use crate::exec::{ExecKind, ExecLine, Invocation, RedirectError, Vars};
use crate::record::{RecordConfig, RecordFormat, RecordMode, DEFAULT_FRAGMENT_MS};

use super::args::{flag_arg, one_arg, path_arg, ranged, set_once, time_arg, value_err};
use super::error::ConfError;
use super::notify::NotifyUrl;
use super::value::{parse_size, parse_time_ms, ValueError};

/// One recorder: what it records and how ([`RecordConfig`]), where its files go, and what the
/// shell does around its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecorderSettings {
    /// `record`, `record_suffix`, `record_unique`, `record_append`, `record_max_size`,
    /// `record_max_frames`, `record_interval`, `record_format`, `record_fragment`; the
    /// block's name in `config.id` (empty for the application's own recorder).
    pub config: RecordConfig,
    /// `record_path` (nginx-rtmp's default: `/tmp`); `nginx -t` creates it and checks that
    /// the workers can write it.
    pub path: PathBuf,
    /// `record_lock on`: the file being written is locked (`flock`) until it is finished.
    pub lock: bool,
    /// `record_notify on`: the publisher gets `NetStream.Record.Start`/`Stop` statuses.
    pub notify: bool,
    /// `on_record_done` for this recorder's files: its block's own, else the application's
    /// (sent with the application's `notify_method`, the usual fields and
    /// [`Call::record_done_fields`](super::Call::record_done_fields)).
    pub on_record_done: Option<NotifyUrl>,
    /// `exec_record_done` lines for its files: its block's own, then the application's (as
    /// nginx-rtmp merges them). See [`RecorderSettings::record_done_commands`].
    pub exec_record_done: Vec<ExecLine>,
}

/// What one `exec_record_done` line runs for a finished file: the program found when the
/// configuration was read, and its arguments and redirections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordDoneCommand<'a> {
    pub line: &'a ExecLine,
    /// The invocation, or why the line cannot run (a malformed redirection).
    pub invocation: Result<Invocation, RedirectError>,
}

impl RecorderSettings {
    /// The commands of the `exec_record_done` lines for a finished file of this recorder:
    /// `vars` are the publisher's values with the file's ([`Vars::with_record_file`]). Each
    /// runs once and is reaped, like `exec_publish_done`.
    pub fn record_done_commands<'a>(&'a self, vars: &Vars) -> Vec<RecordDoneCommand<'a>> {
        self.exec_record_done
            .iter()
            .filter(|l| l.kind == ExecKind::RecordDone && l.applies_to(&vars.name))
            .map(|line| RecordDoneCommand {
                line,
                invocation: line.invocation(Some(vars)),
            })
            .collect()
    }
}

/// Where `record_path` points when no level sets it.
pub const DEFAULT_RECORD_PATH: &str = "/tmp";
/// Bounds of `record_fragment`.
const FRAGMENT_MIN_MS: u64 = 100;
const FRAGMENT_MAX_MS: u64 = 60_000;

/// The `record*` directives of one level (`rtmp`, `server`, `application`, or a `recorder`
/// block), inherited by the levels inside it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct RecordLayer {
    /// `record`: `Some(RecordMode::default())` is `record off`.
    mode: Option<RecordMode>,
    path: Option<String>,
    suffix: Option<String>,
    unique: Option<bool>,
    append: Option<bool>,
    lock: Option<bool>,
    notify: Option<bool>,
    max_size: Option<u64>,
    max_frames: Option<u64>,
    /// `record_interval`: `Some(None)` is `0`/`off`.
    interval: Option<Option<u64>>,
    format: Option<RecordFormat>,
    fragment: Option<u64>,
}

/// The directives of a [`RecordLayer`]: allowed at every level and in `recorder` blocks.
const RECORD_DIRECTIVES: [&str; 12] = [
    "record",
    "record_path",
    "record_suffix",
    "record_unique",
    "record_append",
    "record_lock",
    "record_notify",
    "record_max_size",
    "record_max_frames",
    "record_interval",
    "record_format",
    "record_fragment",
];

/// A `recorder NAME {}` block of an application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RecorderBlock {
    pub(super) name: String,
    pub(super) layer: RecordLayer,
    pub(super) on_record_done: Option<NotifyUrl>,
    pub(super) exec_record_done: Vec<ExecLine>,
}

impl RecorderBlock {
    pub(super) fn new(name: &str) -> RecorderBlock {
        RecorderBlock {
            name: name.to_owned(),
            layer: RecordLayer::default(),
            on_record_done: None,
            exec_record_done: Vec::new(),
        }
    }
}

/// What happens around the files of an application's recorders, as set at the application
/// (and inherited).
pub(super) struct RecordDone<'a> {
    pub(super) url: Option<&'a NotifyUrl>,
    pub(super) lines: Vec<&'a ExecLine>,
}

/// Whether `name` may name a recorder: it is a `rec=` argument of the control API and a
/// form field of `on_record_done`, so it stays plain.
pub(super) fn valid_recorder_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// `record_append on` with `record_format mp4` (reported on the directive that completes the
/// pair: `name`).
fn append_mp4_conflict(name: &str, app: &str, recorder: &str) -> ConfError {
    let (directive, with) = if name == "record_format" {
        ("record_format", "record_append on")
    } else {
        ("record_append", "record_format mp4")
    };
    ConfError::Conflict {
        directive,
        with,
        why: "a finished MP4 file cannot be continued (use record_unique or a strftime \
              record_suffix)",
        app: app.to_owned(),
        recorder: recorder.to_owned(),
    }
}

fn parse_mode(args: &[&str]) -> Result<RecordMode, ConfError> {
    if args.is_empty() {
        return Err(ConfError::Arity {
            directive: "record",
            expected: "off, or one or more of all, audio, video, keyframes, manual",
        });
    }
    let mut mode = RecordMode::default();
    for a in args {
        match *a {
            "off" if args.len() == 1 => {}
            "all" => {
                mode.audio = true;
                mode.video = true;
            }
            "audio" => mode.audio = true,
            "video" => mode.video = true,
            "keyframes" => mode.keyframes = true,
            "manual" => mode.manual = true,
            _ => {
                return Err(value_err("record", a)(ValueError::Choice(
                    "off (alone), or a combination of all, audio, video, keyframes, manual",
                )))
            }
        }
    }
    Ok(mode)
}

impl RecordLayer {
    /// Interprets a `record*` directive; `None`: not one of them.
    pub(super) fn set(&mut self, name: &str, args: &[&str]) -> Option<Result<(), ConfError>> {
        let r = self.set_one(name, args)?;
        if r.is_ok() && self.append == Some(true) && self.format == Some(RecordFormat::Mp4) {
            return Some(Err(append_mp4_conflict(name, "", "")));
        }
        Some(r)
    }

    fn set_one(&mut self, name: &str, args: &[&str]) -> Option<Result<(), ConfError>> {
        Some(match name {
            "record" => parse_mode(args).and_then(|m| set_once(&mut self.mode, "record", m)),
            "record_path" => path_arg("record_path", args)
                .and_then(|p| set_once(&mut self.path, "record_path", p)),
            "record_suffix" => one_arg("record_suffix", args).and_then(|a| {
                if a.contains('/') || a.chars().any(char::is_control) {
                    return Err(value_err("record_suffix", a)(ValueError::Choice(
                        "a file name suffix without '/' or control characters",
                    )));
                }
                set_once(&mut self.suffix, "record_suffix", a.to_owned())
            }),
            "record_unique" => flag_arg("record_unique", args)
                .and_then(|v| set_once(&mut self.unique, "record_unique", v)),
            "record_append" => flag_arg("record_append", args)
                .and_then(|v| set_once(&mut self.append, "record_append", v)),
            "record_lock" => flag_arg("record_lock", args)
                .and_then(|v| set_once(&mut self.lock, "record_lock", v)),
            "record_notify" => flag_arg("record_notify", args)
                .and_then(|v| set_once(&mut self.notify, "record_notify", v)),
            "record_max_size" => one_arg("record_max_size", args).and_then(|a| {
                let v = parse_size(a).map_err(value_err("record_max_size", a))?;
                set_once(&mut self.max_size, "record_max_size", v)
            }),
            "record_max_frames" => one_arg("record_max_frames", args).and_then(|a| {
                let v = parse_size(a).map_err(value_err("record_max_frames", a))?;
                set_once(&mut self.max_frames, "record_max_frames", v)
            }),
            "record_interval" => {
                let v = match args {
                    ["off"] => Ok(None),
                    _ => time_arg("record_interval", args, 0).map(|ms| Some(ms).filter(|&v| v > 0)),
                };
                v.and_then(|v| set_once(&mut self.interval, "record_interval", v))
            }
            "record_format" => one_arg("record_format", args).and_then(|a| {
                let f = match a {
                    "flv" => RecordFormat::Flv,
                    "mp4" => RecordFormat::Mp4,
                    _ => {
                        return Err(value_err("record_format", a)(ValueError::Choice(
                            "flv or mp4",
                        )))
                    }
                };
                set_once(&mut self.format, "record_format", f)
            }),
            "record_fragment" => one_arg("record_fragment", args).and_then(|a| {
                let v = parse_time_ms(a).map_err(value_err("record_fragment", a))?;
                let v = ranged("record_fragment", a, v, FRAGMENT_MIN_MS, FRAGMENT_MAX_MS)?;
                set_once(&mut self.fragment, "record_fragment", v)
            }),
            _ => return None,
        })
    }

    /// `name` as a static string when it is one of the directives of this layer.
    pub(super) fn directive(name: &str) -> Option<&'static str> {
        RECORD_DIRECTIVES.into_iter().find(|d| *d == name)
    }

    pub(super) fn merge(&self, parent: &RecordLayer) -> RecordLayer {
        RecordLayer {
            mode: self.mode.or(parent.mode),
            path: self.path.clone().or_else(|| parent.path.clone()),
            suffix: self.suffix.clone().or_else(|| parent.suffix.clone()),
            unique: self.unique.or(parent.unique),
            append: self.append.or(parent.append),
            lock: self.lock.or(parent.lock),
            notify: self.notify.or(parent.notify),
            max_size: self.max_size.or(parent.max_size),
            max_frames: self.max_frames.or(parent.max_frames),
            interval: self.interval.or(parent.interval),
            format: self.format.or(parent.format),
            fragment: self.fragment.or(parent.fragment),
        }
    }

    /// The recorder these settings describe, `None` when it keeps nothing (`record off`, or
    /// no `record` at all). `id` is the block's name, empty for the application's own.
    pub(super) fn resolve(
        &self,
        app: &str,
        id: &str,
    ) -> Result<Option<RecorderSettings>, ConfError> {
        let mode = self.mode.unwrap_or_default();
        if !mode.any() {
            return Ok(None);
        }
        let format = self.format.unwrap_or_default();
        let append = self.append.unwrap_or(false);
        if append && format == RecordFormat::Mp4 {
            return Err(append_mp4_conflict("record_append", app, id));
        }
        let mut config = RecordConfig::new(mode);
        config.id = id.to_owned();
        config.format = format;
        // Unset: the format's own suffix (`.flv`, `.mp4`).
        config.suffix = self.suffix.clone();
        config.unique = self.unique.unwrap_or(false);
        config.append = append;
        config.max_size = self.max_size.unwrap_or(0);
        config.max_frames = self.max_frames.unwrap_or(0);
        config.interval_ms = self.interval.flatten();
        config.fragment_ms = self.fragment.unwrap_or(DEFAULT_FRAGMENT_MS);
        Ok(Some(RecorderSettings {
            config,
            path: PathBuf::from(self.path.as_deref().unwrap_or(DEFAULT_RECORD_PATH)),
            lock: self.lock.unwrap_or(false),
            notify: self.notify.unwrap_or(false),
            on_record_done: None,
            exec_record_done: Vec::new(),
        }))
    }
}

/// The recorders of an application: its own (`record` other than `off`), then each block in
/// order, a block inheriting what it does not set from the application.
pub(super) fn resolve_recorders(
    app: &str,
    own: &RecordLayer,
    blocks: &[RecorderBlock],
    done: &RecordDone<'_>,
) -> Result<Vec<RecorderSettings>, ConfError> {
    let mut out = Vec::with_capacity(blocks.len() + 1);
    if let Some(mut r) = own.resolve(app, "")? {
        r.on_record_done = done.url.cloned();
        r.exec_record_done = done.lines.iter().map(|l| (*l).clone()).collect();
        out.push(r);
    }
    for b in blocks {
        if let Some(mut r) = b.layer.merge(own).resolve(app, &b.name)? {
            r.on_record_done = b.on_record_done.clone().or_else(|| done.url.cloned());
            r.exec_record_done = b
                .exec_record_done
                .iter()
                .chain(done.lines.iter().copied())
                .cloned()
                .collect();
            out.push(r);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
