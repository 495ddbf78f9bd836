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
