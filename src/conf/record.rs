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
mod tests {
    use crate::conf::{Call, ConfError, RtmpConf, Scope};
    use crate::exec::{Redirection, Source};
    use crate::record::{RecordFormat, RecordMode};

    use super::*;

    fn conf() -> (RtmpConf, Scope) {
        let mut c = RtmpConf::new();
        let s = c.add_server();
        let a = c.add_application(s, "live").unwrap();
        (c, Scope::Application { server: s, app: a })
    }

    #[test]
    fn modes_combine_and_off_is_alone() {
        let (mut c, app) = conf();
        c.set(app, "record", &["audio", "keyframes"]).unwrap();
        assert_eq!(
            c.set(app, "record", &["all"]),
            Err(ConfError::Duplicate("record"))
        );
        for bad in [&["off", "all"][..], &["everything"], &["all", "off"]] {
            let (mut c, app) = conf();
            assert!(
                matches!(c.set(app, "record", bad), Err(ConfError::Value { .. })),
                "{bad:?}"
            );
        }
        let (mut d, app2) = conf();
        assert!(matches!(
            d.set(app2, "record", &[]),
            Err(ConfError::Arity { .. })
        ));
        c.finish().unwrap();
        let r = &c.servers[0].applications[0].settings.record;
        assert_eq!(r.len(), 1);
        let mode = r[0].config.mode;
        assert!(mode.audio && mode.keyframes && !mode.video && !mode.manual);
        assert_eq!(r[0].config.id, "");
    }

    #[test]
    fn defaults_as_nginx_rtmp() {
        let (mut c, app) = conf();
        c.set(app, "record", &["all", "manual"]).unwrap();
        c.finish().unwrap();
        let r = &c.servers[0].applications[0].settings.record[0];
        let expected = RecordConfig::new(RecordMode {
            manual: true,
            ..RecordMode::ALL
        });
        assert_eq!(r.config, expected);
        assert_eq!(r.config.suffix(), ".flv");
        assert_eq!(r.path, PathBuf::from("/tmp"));
        assert!(!r.lock && !r.notify);

        // `record off`, or no `record`: no recorder.
        let (mut c, app) = conf();
        c.set(app, "record", &["off"]).unwrap();
        c.set(app, "record_path", &["/var/rec"]).unwrap();
        c.finish().unwrap();
        assert!(c.servers[0].applications[0].settings.record.is_empty());
        let (mut c, _) = conf();
        c.finish().unwrap();
        assert!(c.servers[0].applications[0].settings.record.is_empty());
    }

    #[test]
    fn every_directive_and_inheritance() {
        let mut c = RtmpConf::new();
        c.set(Scope::Main, "record_path", &["/var/rec/"]).unwrap();
        c.set(Scope::Main, "record_max_size", &["10m"]).unwrap();
        let s = c.add_server();
        c.set(Scope::Server(s), "record", &["all"]).unwrap();
        c.set(Scope::Server(s), "record_interval", &["15s"])
            .unwrap();
        let a = c.add_application(s, "live").unwrap();
        let app = Scope::Application { server: s, app: a };
        for (d, v) in [
            ("record_suffix", "-%d-%b-%y-%T.flv"),
            ("record_unique", "on"),
            ("record_lock", "on"),
            ("record_notify", "on"),
            ("record_max_frames", "2k"),
            ("record_append", "on"),
        ] {
            c.set(app, d, &[v]).unwrap();
        }
        let b = c.add_application(s, "mp4").unwrap();
        let mp4 = Scope::Application { server: s, app: b };
        for (d, v) in [
            ("record_format", "mp4"),
            ("record_fragment", "500ms"),
            ("record_interval", "off"),
        ] {
            c.set(mp4, d, &[v]).unwrap();
        }
        c.finish().unwrap();
        let apps = &c.servers[0].applications;
        let live = &apps[0].settings.record[0];
        assert_eq!(live.path, PathBuf::from("/var/rec"));
        assert_eq!(live.config.suffix(), "-%d-%b-%y-%T.flv");
        assert!(live.config.unique && live.config.append && live.lock && live.notify);
        assert_eq!(live.config.max_size, 10 << 20);
        assert_eq!(live.config.max_frames, 2048);
        assert_eq!(live.config.interval_ms, Some(15_000));
        assert_eq!(live.config.format, RecordFormat::Flv);
        let m = &apps[1].settings.record[0];
        assert_eq!(m.config.mode, RecordMode::ALL);
        assert_eq!(m.config.format, RecordFormat::Mp4);
        assert_eq!(m.config.suffix, None);
        assert_eq!(m.config.suffix(), ".mp4");
        assert_eq!(m.config.fragment_ms, 500);
        assert_eq!(m.config.interval_ms, None);
        assert_eq!(m.config.max_size, 10 << 20);
        assert!(!m.config.append && !m.lock);
    }

    #[test]
    fn values_out_of_range_or_malformed() {
        for (d, v) in [
            ("record_fragment", "50ms"),
            ("record_fragment", "61s"),
            ("record_fragment", "soon"),
            ("record_interval", "5x"),
            ("record_max_size", "1.5m"),
            ("record_max_frames", "-1"),
            ("record_unique", "yes"),
            ("record_append", "1"),
            ("record_lock", "maybe"),
            ("record_notify", ""),
            ("record_format", "mkv"),
            ("record_path", "relative/dir"),
            ("record_suffix", "/x.flv"),
            ("record_suffix", "a\tb"),
        ] {
            let (mut c, app) = conf();
            assert!(
                matches!(c.set(app, d, &[v]), Err(ConfError::Value { .. })),
                "{d} {v:?}"
            );
        }
        let (mut c, app) = conf();
        assert!(matches!(
            c.set(app, "record_path", &["/a", "/b"]),
            Err(ConfError::Arity { .. })
        ));
        c.set(app, "record_interval", &["0"]).unwrap();
        c.set(app, "record_fragment", &["60s"]).unwrap();
    }

    #[test]
    fn append_with_mp4_is_refused() {
        // In one level: at the directive that completes the pair.
        let (mut c, app) = conf();
        c.set(app, "record_append", &["on"]).unwrap();
        let e = c.set(app, "record_format", &["mp4"]).unwrap_err();
        assert!(
            e.to_string().contains("\"record_format\" cannot be used"),
            "{e}"
        );
        // Across levels: when the application is resolved.
        let mut c = RtmpConf::new();
        c.set(Scope::Main, "record_append", &["on"]).unwrap();
        let s = c.add_server();
        let a = c.add_application(s, "live").unwrap();
        let app = Scope::Application { server: s, app: a };
        c.set(app, "record", &["all"]).unwrap();
        c.set(app, "record_format", &["mp4"]).unwrap();
        let e = c.finish().unwrap_err();
        assert!(matches!(e, ConfError::Conflict { .. }));
        assert!(e.to_string().contains("application \"live\""), "{e}");
        // `record_append off` with mp4 is fine.
        let (mut c, app) = conf();
        c.set(app, "record_append", &["off"]).unwrap();
        c.set(app, "record_format", &["mp4"]).unwrap();
        c.set(app, "record", &["all"]).unwrap();
        c.finish().unwrap();
    }

    #[test]
    fn recorder_blocks() {
        let mut c = RtmpConf::new();
        c.set(Scope::Main, "record_path", &["/var/rec"]).unwrap();
        let s = c.add_server();
        let a = c.add_application(s, "live").unwrap();
        let app = Scope::Application { server: s, app: a };
        c.set(app, "record", &["video"]).unwrap();
        c.set(app, "record_unique", &["on"]).unwrap();
        let audio = c.add_recorder(app, "audio").unwrap();
        c.set(audio, "record", &["audio"]).unwrap();
        c.set(audio, "record_suffix", &[".audio.flv"]).unwrap();
        let chunked = c.add_recorder(app, "chunked").unwrap();
        c.set(chunked, "record_interval", &["15s"]).unwrap();
        c.set(chunked, "record_format", &["mp4"]).unwrap();
        c.set(chunked, "record_path", &["/var/chunks"]).unwrap();
        let off = c.add_recorder(app, "silent").unwrap();
        c.set(off, "record", &["off"]).unwrap();
        assert_eq!(
            c.add_recorder(app, "audio"),
            Err(ConfError::DuplicateRecorder("audio".into()))
        );
        assert_eq!(
            c.add_recorder(app, "a/b"),
            Err(ConfError::InvalidRecorderName("a/b".into()))
        );
        assert_eq!(
            c.add_recorder(Scope::Server(s), "x"),
            Err(ConfError::NotAllowedHere("recorder"))
        );
        assert_eq!(
            c.add_recorder(audio, "x"),
            Err(ConfError::NotAllowedHere("recorder"))
        );
        // Only the record* directives belong in a recorder block.
        assert_eq!(
            c.set(audio, "live", &["on"]),
            Err(ConfError::NotAllowedHere("live"))
        );
        assert_eq!(
            c.set(audio, "record", &["all"]),
            Err(ConfError::Duplicate("record"))
        );
        c.finish().unwrap();
        let r = &c.servers[0].applications[a].settings.record;
        let ids: Vec<_> = r.iter().map(|r| r.config.id.as_str()).collect();
        assert_eq!(ids, ["", "audio", "chunked"]);
        assert!(r[0].config.mode.video && !r[0].config.mode.audio);
        assert!(r[1].config.mode.audio && !r[1].config.mode.video);
        assert_eq!(r[1].config.suffix(), ".audio.flv");
        assert!(r[1].config.unique, "inherited from the application");
        assert_eq!(r[1].path, PathBuf::from("/var/rec"));
        // A block without `record` records what the application records.
        assert_eq!(r[2].config.mode, r[0].config.mode);
        assert_eq!(r[2].config.interval_ms, Some(15_000));
        assert_eq!(r[2].config.suffix(), ".mp4");
        assert_eq!(r[2].path, PathBuf::from("/var/chunks"));
        assert_eq!(r[0].config.interval_ms, None);

        // Blocks alone, the application itself recording nothing.
        let (mut c, app) = conf();
        let only = c.add_recorder(app, "only").unwrap();
        c.set(only, "record", &["keyframes"]).unwrap();
        c.finish().unwrap();
        let r = &c.servers[0].applications[0].settings.record;
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].config.id, "only");
    }

    fn notify_url(u: &str) -> NotifyUrl {
        NotifyUrl {
            url: crate::http::Url::parse(u).unwrap(),
            addr: "127.0.0.1:9".parse().unwrap(),
        }
    }

    #[test]
    fn record_done_per_recorder() {
        let p = || PathBuf::from("/bin/mv");
        let mut c = RtmpConf::new();
        c.set_notify(
            Scope::Main,
            Call::RecordDone,
            notify_url("http://127.0.0.1:9/main"),
        )
        .unwrap();
        let s = c.add_server();
        let a = c.add_application(s, "live").unwrap();
        let app = Scope::Application { server: s, app: a };
        c.set(app, "record", &["all"]).unwrap();
        c.set_exec(app, ExecKind::RecordDone, p(), &["mv", "app"])
            .unwrap();
        c.set_exec(app, ExecKind::PublishDone, p(), &["mv", "publish"])
            .unwrap();
        let own = c.add_recorder(app, "own").unwrap();
        c.set_notify(own, Call::RecordDone, notify_url("http://127.0.0.1:9/own"))
            .unwrap();
        assert_eq!(
            c.set_notify(own, Call::RecordDone, notify_url("http://127.0.0.1:9/x")),
            Err(ConfError::Duplicate("on_record_done"))
        );
        assert_eq!(
            c.set_notify(own, Call::Publish, notify_url("http://127.0.0.1:9/x")),
            Err(ConfError::NotAllowedHere("on_publish"))
        );
        c.set_exec(own, ExecKind::RecordDone, p(), &["mv", "own"])
            .unwrap();
        assert_eq!(
            c.set_exec(own, ExecKind::Static, p(), &["mv", "x"]),
            Err(ConfError::NotAllowedHere("exec_static"))
        );
        assert_eq!(
            c.set_exec(own, ExecKind::Push, p(), &["mv", "x"]),
            Err(ConfError::NotAllowedHere("exec"))
        );
        c.add_recorder(app, "inherits").unwrap();
        c.finish().unwrap();
        let r = &c.servers[0].applications[a].settings.record;
        let urls: Vec<_> = r
            .iter()
            .map(|r| r.on_record_done.as_ref().unwrap().url.target())
            .collect();
        assert_eq!(urls, ["/main", "/own", "/main"]);
        let args = |r: &RecorderSettings| -> Vec<String> {
            r.exec_record_done
                .iter()
                .map(|l| l.args[0].clone())
                .collect()
        };
        assert_eq!(args(&r[0]), ["app"]);
        assert_eq!(
            args(&r[1]),
            ["own", "app"],
            "own lines first, as nginx-rtmp"
        );
        assert_eq!(args(&r[2]), ["app"]);

        // Without any: nothing.
        let (mut c, app) = conf();
        c.set(app, "record", &["all"]).unwrap();
        c.finish().unwrap();
        let r = &c.servers[0].applications[0].settings.record[0];
        assert!(r.on_record_done.is_none() && r.exec_record_done.is_empty());
    }

    #[test]
    fn record_done_commands_substitute_the_file() {
        let (mut c, app) = conf();
        c.set(app, "record", &["all"]).unwrap();
        c.set(app, "exec_options", &["on"]).unwrap();
        let p = || PathBuf::from("/bin/mv");
        let line = [
            "mv",
            "$path",
            "/done/$basename.$recorder",
            "2>>/var/log/mv-$basename.log",
        ];
        c.set_exec(app, ExecKind::RecordDone, p(), &line).unwrap();
        c.set_exec(
            app,
            ExecKind::RecordDone,
            p(),
            &["mv", "$filename", "name=other"],
        )
        .unwrap();
        c.finish().unwrap();
        let r = &c.servers[0].applications[0].settings.record[0];
        let vars = Vars {
            name: "cam".into(),
            app: "live".into(),
            ..Vars::default()
        }
        .with_record_file("/var/rec/cam.flv", "hd");
        let cmds = r.record_done_commands(&vars);
        assert_eq!(cmds.len(), 1, "only the lines for this name");
        assert_eq!(cmds[0].line.path, PathBuf::from("/bin/mv"));
        let inv = cmds[0].invocation.as_ref().unwrap();
        assert_eq!(inv.args, ["/var/rec/cam.flv", "/done/cam.hd"]);
        assert_eq!(
            inv.redirections,
            [Redirection {
                fd: 2,
                // A value names one file in a redirection: `$dirname` there would be
                // `_var_rec`.
                source: Source::Append("/var/log/mv-cam.log".into())
            }]
        );
        // The application's other lines do not run for a file.
        let (mut c, app) = conf();
        c.set(app, "record", &["all"]).unwrap();
        c.set_exec(app, ExecKind::PublishDone, p(), &["mv", "x"])
            .unwrap();
        c.finish().unwrap();
        let r = &c.servers[0].applications[0].settings.record[0];
        assert!(r.record_done_commands(&vars).is_empty());
    }
}
