//! The configuration tree (rtmp → server → application), its construction, and the
//! inheritance and defaults applied when the `rtmp {}` block ends.

use crate::auth::AccessList;
use crate::live::player::DEFAULT_MAX_PENDING_BYTES;

use super::app::{AppLayer, AppSettings};
use super::error::ConfError;
use super::exec::{ExecSettings, StaticExec};
use super::listen::Listen;
use super::notify::NotifySettings;
use super::record::{valid_recorder_name, RecorderBlock};
use super::relay::RelaySettings;
use super::server::{ServerLayer, ServerSettings};
use super::tls::TlsSettings;

/// Where a directive appears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Directly inside `rtmp {}`.
    Main,
    /// Inside the n-th `server {}`.
    Server(usize),
    /// Inside `application {}` number `app` of server `server`.
    Application { server: usize, app: usize },
    /// Inside `recorder {}` block number `rec` of that application.
    Recorder {
        server: usize,
        app: usize,
        rec: usize,
    },
}

impl Scope {
    /// The application a scope is in (a `recorder` block is in its application).
    pub(super) fn application(self) -> Option<(usize, usize)> {
        match self {
            Scope::Application { server, app } | Scope::Recorder { server, app, .. } => {
                Some((server, app))
            }
            Scope::Main | Scope::Server(_) => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppConf {
    pub name: String,
    pub settings: AppSettings,
    pub(super) layer: AppLayer,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConf {
    pub listens: Vec<Listen>,
    /// Callbacks as set at server level (`on_connect` runs before an application is known).
    pub notify: NotifySettings,
    pub settings: ServerSettings,
    /// TLS for its `listen ... ssl` sockets; `None` when it has none.
    pub tls: Option<TlsSettings>,
    pub applications: Vec<AppConf>,
    pub(super) layer: ServerLayer,
    pub(super) app_layer: AppLayer,
}

impl ServerConf {
    /// The application a client's `connect` names (exact match, as nginx-rtmp).
    pub fn application(&self, name: &str) -> Option<&AppConf> {
        self.applications.iter().find(|a| a.name == name)
    }
}

/// The whole `rtmp {}` block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RtmpConf {
    pub servers: Vec<ServerConf>,
    /// `live_shm_size` (rtmp level): the zone through which workers share live streams.
    pub shm_size: Option<usize>,
    /// `exec_static` lines of every level, each with its level's policy (after `finish`).
    pub static_execs: Vec<StaticExec>,
    /// `exec_static` lines as read, with where they appeared.
    pub(super) static_lines: Vec<(Scope, crate::exec::ExecLine)>,
    pub(super) layer: ServerLayer,
    pub(super) app_layer: AppLayer,
}

/// Application names become part of URLs and (through HLS) paths: keep them plain.
fn valid_app_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

impl RtmpConf {
    pub fn new() -> RtmpConf {
        RtmpConf::default()
    }

    /// Starts a `server {}` block; returns its index.
    pub fn add_server(&mut self) -> usize {
        self.servers.push(ServerConf {
            listens: Vec::new(),
            notify: NotifySettings::default(),
            settings: ServerSettings::default(),
            tls: None,
            applications: Vec::new(),
            layer: ServerLayer::default(),
            app_layer: AppLayer::default(),
        });
        self.servers.len() - 1
    }

    /// Starts an `application NAME {}` block in `server`; returns its index.
    pub fn add_application(&mut self, server: usize, name: &str) -> Result<usize, ConfError> {
        if !valid_app_name(name) {
            return Err(ConfError::InvalidApplicationName(name.to_owned()));
        }
        let srv = self
            .servers
            .get_mut(server)
            .ok_or(ConfError::NotAllowedHere("application"))?;
        if srv.application(name).is_some() {
            return Err(ConfError::DuplicateApplication(name.to_owned()));
        }
        srv.applications.push(AppConf {
            name: name.to_owned(),
            settings: AppSettings {
                live: false,
                notify: NotifySettings::default(),
                idle_streams: true,
                gop_cache: true,
                wait_key: false,
                wait_video: false,
                player_buffer: DEFAULT_MAX_PENDING_BYTES,
                drop_idle_publisher_ms: None,
                publish_takeover: false,
                access: AccessList::default(),
                publish_keys: None,
                publish_secret: None,
                play_secret: None,
                hls: None,
                dash: None,
                renditions: Vec::new(),
                transcode_ffmpeg: None,
                exec: ExecSettings::default(),
                record: Vec::new(),
                relay: RelaySettings::default(),
            },
            layer: AppLayer::default(),
        });
        Ok(srv.applications.len() - 1)
    }

    /// Starts a `recorder NAME {}` block in an application; returns its scope.
    pub fn add_recorder(&mut self, scope: Scope, name: &str) -> Result<Scope, ConfError> {
        let Scope::Application { server, app } = scope else {
            return Err(ConfError::NotAllowedHere("recorder"));
        };
        if !valid_recorder_name(name) {
            return Err(ConfError::InvalidRecorderName(name.to_owned()));
        }
        let layer = &mut self
            .servers
            .get_mut(server)
            .and_then(|s| s.applications.get_mut(app))
            .ok_or(ConfError::NotAllowedHere("recorder"))?
            .layer;
        if layer.recorders.iter().any(|r| r.name == name) {
            return Err(ConfError::DuplicateRecorder(name.to_owned()));
        }
        layer.recorders.push(RecorderBlock::new(name));
        Ok(Scope::Recorder {
            server,
            app,
            rec: layer.recorders.len() - 1,
        })
    }

    /// Size of the live shared-memory zone: every stream gets a ring of size/64 (at most 64
    /// streams publish at once across all workers; more publish, but play only on their own
    /// worker). Default 64 MiB.
    pub fn live_shm_size(&self) -> usize {
        self.shm_size.unwrap_or(64 << 20)
    }

    /// The `exec` policy in effect at `scope` (after inheritance).
    fn exec_policy_at(&self, scope: Scope) -> crate::conf::ExecPolicy {
        let main = &self.app_layer.exec;
        match scope {
            Scope::Main => main.policy(),
            Scope::Server(s) => self
                .servers
                .get(s)
                .map_or_else(|| main.policy(), |s| s.app_layer.exec.merge(main).policy()),
            Scope::Application { server, app } | Scope::Recorder { server, app, .. } => {
                self.servers.get(server).map_or_else(
                    || main.policy(),
                    |s| {
                        let srv = s.app_layer.exec.merge(main);
                        s.applications
                            .get(app)
                            .map_or_else(|| srv.policy(), |a| a.layer.exec.merge(&srv).policy())
                    },
                )
            }
        }
    }

    /// Whether any application plays live streams (and so needs the zone).
    pub fn has_live(&self) -> bool {
        self.servers
            .iter()
            .flat_map(|s| &s.applications)
            .any(|a| a.settings.live)
    }

    /// Ends the `rtmp {}` block: applies inheritance and defaults. A server without `listen`
    /// listens on `*:1935`, as nginx-rtmp.
    pub fn finish(&mut self) -> Result<(), ConfError> {
        for i in 0..self.servers.len() {
            if self.servers[i].listens.is_empty() {
                self.set_listen(Scope::Server(i), &["1935"])?;
            }
        }
        for srv in &mut self.servers {
            let layer = srv.layer.merge(&self.layer);
            srv.settings = layer.resolve();
            srv.tls = layer.tls.resolve(&srv.listens).map_err(ConfError::Tls)?;
            let srv_apps = srv.app_layer.merge(&self.app_layer);
            srv.notify = srv_apps.notify.resolve();
            for app in &mut srv.applications {
                app.settings = app.layer.merge(&srv_apps).resolve(&app.name)?;
            }
        }
        self.static_execs = self
            .static_lines
            .iter()
            .map(|(scope, line)| StaticExec {
                line: line.clone(),
                policy: self.exec_policy_at(*scope),
            })
            .collect();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inheritance_and_defaults() {
        let mut c = RtmpConf::new();
        c.set(Scope::Main, "ping", &["10s"]).unwrap();
        c.set(Scope::Main, "live", &["on"]).unwrap();
        let s = c.add_server();
        c.set(Scope::Server(s), "listen", &["19350"]).unwrap();
        c.set(Scope::Server(s), "chunk_size", &["8192"]).unwrap();
        let a = c.add_application(s, "live").unwrap();
        let b = c.add_application(s, "vod").unwrap();
        c.set(Scope::Application { server: s, app: b }, "live", &["off"])
            .unwrap();
        c.finish().unwrap();
        let srv = &c.servers[0];
        assert_eq!(srv.settings.chunk_size, 8192);
        assert_eq!(srv.settings.ping_ms, 10_000);
        assert_eq!(srv.settings.timeout_ms, 60_000);
        assert!(srv.applications[a].settings.live);
        assert!(!srv.applications[b].settings.live);
        assert_eq!(srv.application("vod").map(|a| a.name.as_str()), Some("vod"));
        assert!(srv.application("nope").is_none());
    }

    #[test]
    fn hls_fragment_type_is_inherited_and_defaults_to_mpegts() {
        use crate::hls::{FragmentType, HlsConfig};
        let mut c = RtmpConf::new();
        let s = c.add_server();
        c.set(Scope::Server(s), "hls_fragment_type", &["fmp4"])
            .unwrap();
        let mut apps = Vec::new();
        for name in ["inherits", "own"] {
            let app = c.add_application(s, name).unwrap();
            for (d, v) in [("hls", "on"), ("hls_path", "/tmp")] {
                c.set(Scope::Application { server: s, app }, d, &[v])
                    .unwrap();
            }
            apps.push(app);
        }
        let own = Scope::Application {
            server: s,
            app: apps[1],
        };
        c.set(own, "hls_fragment_type", &["mpegts"]).unwrap();
        assert!(matches!(
            c.set(own, "hls_fragment_type", &["mpegts"]),
            Err(ConfError::Duplicate(_))
        ));
        assert!(matches!(
            c.set(Scope::Main, "hls_fragment_type", &["cmaf"]),
            Err(ConfError::Value { .. })
        ));
        c.finish().unwrap();
        let kind = |app: usize| {
            c.servers[0].applications[app]
                .settings
                .hls
                .as_ref()
                .unwrap()
                .config
                .fragment_type
        };
        assert_eq!(kind(apps[0]), FragmentType::Fmp4);
        assert_eq!(kind(apps[1]), FragmentType::MpegTs);
        assert_eq!(HlsConfig::default().fragment_type, FragmentType::MpegTs);
    }

    #[test]
    fn batching_intervals() {
        let mut c = RtmpConf::new();
        c.set(Scope::Main, "publish_read_interval", &["20ms"])
            .unwrap();
        assert!(matches!(
            c.set(Scope::Main, "play_flush_interval", &["2s"]),
            Err(ConfError::Value { .. })
        ));
        let s = c.add_server();
        let t = c.add_server();
        c.set(Scope::Server(t), "listen", &["19351"]).unwrap();
        c.set(Scope::Server(t), "publish_read_interval", &["0"])
            .unwrap();
        let a = c.add_application(s, "live").unwrap();
        assert_eq!(
            c.set(
                Scope::Application { server: s, app: a },
                "publish_read_interval",
                &["10ms"]
            ),
            Err(ConfError::NotAllowedHere("publish_read_interval"))
        );
        c.finish().unwrap();
        let (inherited, own) = (&c.servers[0].settings, &c.servers[1].settings);
        assert_eq!(inherited.publish_read_interval_ms, 20);
        assert_eq!(inherited.play_flush_interval_ms, 50);
        assert_eq!(own.publish_read_interval_ms, 0);
        assert_eq!(ServerSettings::default().publish_read_interval_ms, 50);
    }

    #[test]
    fn default_listen() {
        let mut c = RtmpConf::new();
        c.add_server();
        c.finish().unwrap();
        assert_eq!(
            c.servers[0].listens[0].addr,
            "0.0.0.0:1935".parse().unwrap()
        );
    }
}
