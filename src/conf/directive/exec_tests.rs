use std::path::PathBuf;

use super::*;
use crate::conf::ExecPolicy;
use crate::exec::ExecKind;

fn p() -> PathBuf {
    PathBuf::from("/bin/echo")
}

#[test]
fn lines_policies_and_static() {
    let mut c = RtmpConf::new();
    c.set(Scope::Main, "respawn_timeout", &["2s"]).unwrap();
    c.set_exec(Scope::Main, ExecKind::Publish, p(), &["echo", "main"])
        .unwrap();
    c.set_exec(Scope::Main, ExecKind::Static, p(), &["echo", "static"])
        .unwrap();
    let s = c.add_server();
    let a = c.add_application(s, "src").unwrap();
    let app = Scope::Application { server: s, app: a };
    c.set(app, "exec_options", &["on"]).unwrap();
    c.set(app, "exec_kill_signal", &["KILL"]).unwrap();
    c.set(app, "respawn", &["off"]).unwrap();
    c.set_exec(
        app,
        ExecKind::Push,
        p(),
        &["echo", "name=cam", "$name", "name=x"],
    )
    .unwrap();
    c.set_exec(app, ExecKind::Static, p(), &["echo", "in-app"])
        .unwrap();
    let b = c.add_application(s, "other").unwrap();
    let other = Scope::Application { server: s, app: b };
    // Without exec_options, name= is an argument.
    c.set_exec(other, ExecKind::Push, p(), &["echo", "name=cam"])
        .unwrap();
    c.finish().unwrap();
    let e = &c.servers[0].applications[a].settings.exec;
    assert_eq!(e.lines.len(), 2);
    assert_eq!(e.lines[0].kind, ExecKind::Push);
    assert_eq!(e.lines[0].args, ["$name"]);
    assert_eq!(e.lines[0].names, ["cam", "x"]);
    assert_eq!(e.lines[1].args, ["main"]);
    assert_eq!(e.lines_for(ExecKind::Push, "cam").count(), 1);
    assert_eq!(e.lines_for(ExecKind::Push, "dog").count(), 0);
    assert_eq!(e.lines_for(ExecKind::Publish, "dog").count(), 1);
    assert_eq!(
        e.policy,
        ExecPolicy {
            respawn: false,
            respawn_timeout_ms: 2000,
            kill_signal: 9
        }
    );
    let o = &c.servers[0].applications[b].settings.exec;
    assert_eq!(o.lines[0].args, ["name=cam"]);
    assert_eq!(o.policy.kill_signal, 15);
    assert!(o.policy.respawn);
    assert_eq!(c.static_execs.len(), 2);
    assert_eq!(c.static_execs[0].line.args, ["static"]);
    assert_eq!(c.static_execs[0].policy.respawn_timeout_ms, 2000);
    assert_eq!(c.static_execs[1].policy.kill_signal, 9);
}

#[test]
fn errors() {
    let mut c = RtmpConf::new();
    assert!(matches!(
        c.set(Scope::Main, "exec_kill_signal", &["TERMINATE"]),
        Err(ConfError::Value { .. })
    ));
    assert!(matches!(
        c.set(Scope::Main, "respawn_timeout", &["soon"]),
        Err(ConfError::Value { .. })
    ));
    assert!(matches!(
        c.set(Scope::Main, "respawn", &["maybe"]),
        Err(ConfError::Value { .. })
    ));
    c.set(Scope::Main, "respawn", &["on"]).unwrap();
    assert_eq!(
        c.set(Scope::Main, "respawn", &["on"]),
        Err(ConfError::Duplicate("respawn"))
    );
    assert!(matches!(
        c.set_exec(Scope::Main, ExecKind::Push, p(), &[]),
        Err(ConfError::Arity { .. })
    ));
    assert!(matches!(
        c.set_exec(Scope::Main, ExecKind::Pull, p(), &[]),
        Err(ConfError::Arity { .. })
    ));
}

#[test]
fn exec_pull_lines_are_the_applications() {
    let mut c = RtmpConf::new();
    c.set_exec(Scope::Main, ExecKind::Pull, p(), &["ffmpeg", "$name"])
        .unwrap();
    let s = c.add_server();
    let a = c.add_application(s, "live").unwrap();
    let app = Scope::Application { server: s, app: a };
    c.set(app, "exec_options", &["on"]).unwrap();
    c.set_exec(app, ExecKind::Pull, p(), &["ffmpeg", "name=cam", "-i", "x"])
        .unwrap();
    c.finish().unwrap();
    let e = &c.servers[0].applications[a].settings.exec;
    assert_eq!(e.lines_for(ExecKind::Pull, "cam").count(), 2);
    assert_eq!(e.lines_for(ExecKind::Pull, "dog").count(), 1);
    assert!(e.pulls("dog"));
    assert!(e.lines_for(ExecKind::Push, "cam").next().is_none());
    assert!(c.static_execs.is_empty());
}
