//! Directive interpretation, inheritance (rtmp → server → application) and defaults.

use std::fmt;
use std::path::PathBuf;

use std::sync::Arc;

use crate::auth::{AccessError, AccessList, KeyMap, Rule};
use crate::dash::DashConfig;
use crate::hls::{HlsConfig, Naming, PlaylistKind, Slicing};
use crate::live::gop::{DEFAULT_MAX_BYTES as GOP_MAX_BYTES, DEFAULT_MAX_FRAMES as GOP_MAX_FRAMES};
use crate::live::player::DEFAULT_MAX_PENDING_BYTES;
use crate::live::{GopCache, QueuePolicy};

use super::listen::{Listen, ListenError};
use super::notify::{Call, NotifyLayer, NotifySettings, NotifyUrl};
use super::value::{parse_flag, parse_size, parse_time_ms, ValueError};
use crate::http::Method;

/// Where a directive appears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Directly inside `rtmp {}`.
    Main,
    /// Inside the n-th `server {}`.
    Server(usize),
    /// Inside `application {}` number `app` of server `server`.
    Application { server: usize, app: usize },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfError {
    Unknown(String),
    NotAllowedHere(&'static str),
    Arity {
        directive: &'static str,
        expected: &'static str,
    },
    Duplicate(&'static str),
    Value {
        directive: &'static str,
        arg: String,
        error: ValueError,
    },
    Listen(ListenError),
    DuplicateListen(String),
    DuplicateApplication(String),
    InvalidApplicationName(String),
    Missing {
        directive: &'static str,
        app: String,
    },
    Access(AccessError),
    Unsupported {
        directive: &'static str,
        what: &'static str,
    },
}

impl fmt::Display for ConfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfError::Unknown(d) => write!(f, "unknown directive \"{d}\""),
            ConfError::NotAllowedHere(d) => write!(f, "\"{d}\" directive is not allowed here"),
            ConfError::Arity {
                directive,
                expected,
            } => write!(
                f,
                "invalid number of arguments in \"{directive}\" directive (expected {expected})"
            ),
            ConfError::Duplicate(d) => write!(f, "\"{d}\" directive is duplicate"),
            ConfError::Value {
                directive,
                arg,
                error,
            } => {
                write!(
                    f,
                    "invalid value \"{arg}\" in \"{directive}\" directive: {error}"
                )
            }
            ConfError::Listen(e) => e.fmt(f),
            ConfError::DuplicateListen(a) => write!(f, "duplicate listen {a}"),
            ConfError::DuplicateApplication(a) => write!(f, "duplicate application \"{a}\""),
            ConfError::Access(e) => e.fmt(f),
            ConfError::Missing { directive, app } => {
                write!(f, "\"{directive}\" is required in application \"{app}\"")
            }
            ConfError::Unsupported { directive, what } => {
                write!(f, "\"{directive}\": {what} is not supported")
            }
            ConfError::InvalidApplicationName(a) => write!(
                f,
                "invalid application name \"{a}\" (use letters, digits, '_', '-' and '.')"
            ),
        }
    }
}

impl std::error::Error for ConfError {}

/// Connection-level settings: they apply before the client names an application, so they are
/// set in `rtmp {}` or `server {}` (nginx-rtmp's core module directives).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct ServerLayer {
    chunk_size: Option<u32>,
    play_flush_interval_ms: Option<u64>,
    timeout_ms: Option<u64>,
    ping_ms: Option<u64>,
    ping_timeout_ms: Option<u64>,
    max_message: Option<u32>,
    ack_window: Option<u32>,
    max_streams: Option<u32>,
}

/// Resolved connection-level settings of one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    pub chunk_size: u32,
    /// `play_flush_interval` (default 50ms): players' output is written at most this often, so
    /// that several messages share one `writev` (a player's cost is mostly one syscall and
    /// one trip through the TCP stack per write; batching roughly halves it, at the price of
    /// up to this much added latency, small against a live player's buffer). 0 writes every
    /// message at once, as nginx-rtmp does.
    pub play_flush_interval_ms: u64,
    pub timeout_ms: u64,
    pub ping_ms: u64,
    pub ping_timeout_ms: u64,
    pub max_message: u32,
    pub ack_window: u32,
    pub max_streams: u32,
}

impl Default for ServerSettings {
    /// nginx-rtmp-module's defaults (`play_flush_interval` is ours).
    fn default() -> Self {
        ServerSettings {
            chunk_size: 4096,
            play_flush_interval_ms: 50,
            timeout_ms: 60_000,
            ping_ms: 60_000,
            ping_timeout_ms: 30_000,
            max_message: 1024 * 1024,
            ack_window: 5_000_000,
            max_streams: 32,
        }
    }
}

impl ServerLayer {
    fn merge(&self, parent: &ServerLayer) -> ServerLayer {
        ServerLayer {
            chunk_size: self.chunk_size.or(parent.chunk_size),
            play_flush_interval_ms: self
                .play_flush_interval_ms
                .or(parent.play_flush_interval_ms),
            timeout_ms: self.timeout_ms.or(parent.timeout_ms),
            ping_ms: self.ping_ms.or(parent.ping_ms),
            ping_timeout_ms: self.ping_timeout_ms.or(parent.ping_timeout_ms),
            max_message: self.max_message.or(parent.max_message),
            ack_window: self.ack_window.or(parent.ack_window),
            max_streams: self.max_streams.or(parent.max_streams),
        }
    }

    fn resolve(&self) -> ServerSettings {
        let d = ServerSettings::default();
        ServerSettings {
            chunk_size: self.chunk_size.unwrap_or(d.chunk_size),
            play_flush_interval_ms: self
                .play_flush_interval_ms
                .unwrap_or(d.play_flush_interval_ms),
            timeout_ms: self.timeout_ms.unwrap_or(d.timeout_ms),
            ping_ms: self.ping_ms.unwrap_or(d.ping_ms),
            ping_timeout_ms: self.ping_timeout_ms.unwrap_or(d.ping_timeout_ms),
            max_message: self.max_message.unwrap_or(d.max_message),
            ack_window: self.ack_window.unwrap_or(d.ack_window),
            max_streams: self.max_streams.unwrap_or(d.max_streams),
        }
    }
}

/// Application-level settings, inheritable from `rtmp {}` and `server {}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct AppLayer {
    live: Option<bool>,
    notify: NotifyLayer,
    idle_streams: Option<bool>,
    gop_cache: Option<bool>,
    wait_key: Option<bool>,
    wait_video: Option<bool>,
    player_buffer: Option<u32>,
    drop_idle_publisher: Option<u64>,
    publish_takeover: Option<bool>,
    /// `allow`/`deny` rules of this level; a level with rules replaces inherited ones.
    access: Option<AccessList>,
    publish_keys: Option<Arc<KeyMap>>,
    publish_secret: Option<String>,
    play_secret: Option<String>,
    record_off: Option<bool>,
    hls: Option<bool>,
    hls_path: Option<String>,
    hls_fragment: Option<u64>,
    hls_playlist_length: Option<u64>,
    hls_max_fragment: Option<u64>,
    hls_continuous: Option<bool>,
    hls_nested: Option<bool>,
    hls_cleanup: Option<bool>,
    hls_naming: Option<Naming>,
    hls_slicing: Option<Slicing>,
    hls_type: Option<PlaylistKind>,
    hls_base_url: Option<String>,
    dash: Option<bool>,
    dash_path: Option<String>,
    dash_fragment: Option<u64>,
    dash_playlist_length: Option<u64>,
    dash_nested: Option<bool>,
    dash_cleanup: Option<bool>,
}

impl AppLayer {
    fn merge(&self, parent: &AppLayer) -> AppLayer {
        AppLayer {
            live: self.live.or(parent.live),
            notify: self.notify.merge(&parent.notify),
            idle_streams: self.idle_streams.or(parent.idle_streams),
            gop_cache: self.gop_cache.or(parent.gop_cache),
            wait_key: self.wait_key.or(parent.wait_key),
            wait_video: self.wait_video.or(parent.wait_video),
            player_buffer: self.player_buffer.or(parent.player_buffer),
            drop_idle_publisher: self.drop_idle_publisher.or(parent.drop_idle_publisher),
            publish_takeover: self.publish_takeover.or(parent.publish_takeover),
            access: self.access.clone().or_else(|| parent.access.clone()),
            publish_keys: self
                .publish_keys
                .clone()
                .or_else(|| parent.publish_keys.clone()),
            publish_secret: self
                .publish_secret
                .clone()
                .or_else(|| parent.publish_secret.clone()),
            play_secret: self
                .play_secret
                .clone()
                .or_else(|| parent.play_secret.clone()),
            record_off: self.record_off.or(parent.record_off),
            hls: self.hls.or(parent.hls),
            hls_path: self.hls_path.clone().or_else(|| parent.hls_path.clone()),
            hls_fragment: self.hls_fragment.or(parent.hls_fragment),
            hls_playlist_length: self.hls_playlist_length.or(parent.hls_playlist_length),
            hls_max_fragment: self.hls_max_fragment.or(parent.hls_max_fragment),
            hls_continuous: self.hls_continuous.or(parent.hls_continuous),
            hls_nested: self.hls_nested.or(parent.hls_nested),
            hls_cleanup: self.hls_cleanup.or(parent.hls_cleanup),
            hls_naming: self.hls_naming.or(parent.hls_naming),
            hls_slicing: self.hls_slicing.or(parent.hls_slicing),
            hls_type: self.hls_type.or(parent.hls_type),
            hls_base_url: self
                .hls_base_url
                .clone()
                .or_else(|| parent.hls_base_url.clone()),
            dash: self.dash.or(parent.dash),
            dash_path: self.dash_path.clone().or_else(|| parent.dash_path.clone()),
            dash_fragment: self.dash_fragment.or(parent.dash_fragment),
            dash_playlist_length: self.dash_playlist_length.or(parent.dash_playlist_length),
            dash_nested: self.dash_nested.or(parent.dash_nested),
            dash_cleanup: self.dash_cleanup.or(parent.dash_cleanup),
        }
    }

    fn resolve(&self, app: &str) -> Result<AppSettings, ConfError> {
        let hls = if self.hls.unwrap_or(false) {
            let path = self.hls_path.clone().ok_or_else(|| ConfError::Missing {
                directive: "hls_path",
                app: app.to_owned(),
            })?;
            let d = HlsConfig::default();
            let config = HlsConfig {
                fragment_ms: self.hls_fragment.unwrap_or(d.fragment_ms),
                playlist_length_ms: self.hls_playlist_length.unwrap_or(d.playlist_length_ms),
                max_fragment_ms: self.hls_max_fragment.or(d.max_fragment_ms),
                continuous: self.hls_continuous.unwrap_or(d.continuous),
                nested: self.hls_nested.unwrap_or(d.nested),
                cleanup: self.hls_cleanup.unwrap_or(d.cleanup),
                naming: self.hls_naming.unwrap_or(d.naming),
                slicing: self.hls_slicing.unwrap_or(d.slicing),
                kind: self.hls_type.unwrap_or(d.kind),
                base_url: self.hls_base_url.clone().unwrap_or(d.base_url),
            };
            Some(HlsSettings {
                path: PathBuf::from(path),
                config,
            })
        } else {
            None
        };
        let dash = if self.dash.unwrap_or(false) {
            let path = self.dash_path.clone().ok_or_else(|| ConfError::Missing {
                directive: "dash_path",
                app: app.to_owned(),
            })?;
            let d = DashConfig::default();
            Some(DashSettings {
                path: PathBuf::from(path),
                config: DashConfig {
                    fragment_ms: self.dash_fragment.unwrap_or(d.fragment_ms),
                    playlist_length_ms: self.dash_playlist_length.unwrap_or(d.playlist_length_ms),
                    nested: self.dash_nested.unwrap_or(d.nested),
                    cleanup: self.dash_cleanup.unwrap_or(d.cleanup),
                },
            })
        } else {
            None
        };
        Ok(AppSettings {
            live: self.live.unwrap_or(false),
            notify: self.notify.resolve(),
            idle_streams: self.idle_streams.unwrap_or(true),
            gop_cache: self.gop_cache.unwrap_or(true),
            wait_key: self.wait_key.unwrap_or(false),
            wait_video: self.wait_video.unwrap_or(false),
            player_buffer: self
                .player_buffer
                .map_or(DEFAULT_MAX_PENDING_BYTES, |b| b as usize),
            drop_idle_publisher_ms: self.drop_idle_publisher,
            publish_takeover: self.publish_takeover.unwrap_or(false),
            access: self.access.clone().unwrap_or_default(),
            publish_keys: self.publish_keys.clone(),
            publish_secret: self.publish_secret.clone(),
            play_secret: self.play_secret.clone(),
            hls,
            dash,
        })
    }
}

/// `hls on` with its directory and settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HlsSettings {
    /// `hls_path`: where playlists and segments are written.
    pub path: PathBuf,
    pub config: HlsConfig,
}

/// `dash on` with its directory and settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashSettings {
    /// `dash_path`: where the MPD and the fragments are written.
    pub path: PathBuf,
    pub config: DashConfig,
}

/// Resolved settings of one application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppSettings {
    /// `live on|off`: accept live publishers and players.
    pub live: bool,
    /// `on_publish`, `on_play`, ... callbacks.
    pub notify: NotifySettings,
    /// `idle_streams on|off` (default on): players of an unpublished name wait for it.
    pub idle_streams: bool,
    /// `gop_cache on|off` (default on): joining players start at the latest keyframe at once.
    pub gop_cache: bool,
    /// `wait_key on|off`: a player's video starts with a keyframe.
    pub wait_key: bool,
    /// `wait_video on|off`: no audio to a player before its first video frame.
    pub wait_video: bool,
    /// `player_buffer SIZE` (default 2m): unsent bytes a player may have before it skips to
    /// the next keyframe.
    pub player_buffer: usize,
    /// `drop_idle_publisher TIME`: a publisher that sends no media for this long is closed.
    pub drop_idle_publisher_ms: Option<u64>,
    /// `publish_takeover on`: a new publisher of a live name replaces the old one (an encoder
    /// that reconnected while its old TCP session hangs) instead of being refused.
    pub publish_takeover: bool,
    /// `allow`/`deny publish|play` rules.
    pub access: AccessList,
    /// `publish_keys`: secret key → public name; publishers must use a listed key.
    pub publish_keys: Option<Arc<KeyMap>>,
    /// `publish_secret`: publish names must carry a valid `expires`/`sig` signature.
    pub publish_secret: Option<String>,
    /// `play_secret`: the same for players.
    pub play_secret: Option<String>,
    /// `hls on` (with `hls_path`), or `None`.
    pub hls: Option<HlsSettings>,
    /// `dash on` (with `dash_path`), or `None`.
    pub dash: Option<DashSettings>,
}

impl AppSettings {
    /// The queue rules of each player.
    pub fn queue_policy(&self) -> QueuePolicy {
        QueuePolicy {
            max_pending_bytes: self.player_buffer,
            wait_key: self.wait_key,
            wait_video: self.wait_video,
        }
    }

    /// A GOP cache for a newly published stream.
    pub fn gop_cache(&self) -> GopCache {
        GopCache::new(self.gop_cache, GOP_MAX_FRAMES, GOP_MAX_BYTES)
    }

    /// Whether a publisher's stream goes anywhere.
    pub fn accepts_publish(&self) -> bool {
        self.live || self.hls.is_some() || self.dash.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppConf {
    pub name: String,
    pub settings: AppSettings,
    layer: AppLayer,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConf {
    pub listens: Vec<Listen>,
    /// Callbacks as set at server level (`on_connect` runs before an application is known).
    pub notify: NotifySettings,
    pub settings: ServerSettings,
    pub applications: Vec<AppConf>,
    layer: ServerLayer,
    app_layer: AppLayer,
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
    layer: ServerLayer,
    app_layer: AppLayer,
}

fn set_once<T>(slot: &mut Option<T>, directive: &'static str, value: T) -> Result<(), ConfError> {
    if slot.is_some() {
        return Err(ConfError::Duplicate(directive));
    }
    *slot = Some(value);
    Ok(())
}

fn one_arg<'a>(directive: &'static str, args: &[&'a str]) -> Result<&'a str, ConfError> {
    match args {
        [a] => Ok(a),
        _ => Err(ConfError::Arity {
            directive,
            expected: "1",
        }),
    }
}

fn value_err(directive: &'static str, arg: &str) -> impl Fn(ValueError) -> ConfError {
    let arg = arg.to_owned();
    move |error| ConfError::Value {
        directive,
        arg: arg.clone(),
        error,
    }
}

fn ranged(
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

fn time_arg(directive: &'static str, args: &[&str], min: u64) -> Result<u64, ConfError> {
    let a = one_arg(directive, args)?;
    let v = parse_time_ms(a).map_err(value_err(directive, a))?;
    ranged(directive, a, v, min, 7 * 86_400_000)
}

fn size_arg(directive: &'static str, args: &[&str], min: u64, max: u64) -> Result<u32, ConfError> {
    let a = one_arg(directive, args)?;
    let v = parse_size(a).map_err(value_err(directive, a))?;
    // `max` never exceeds u32::MAX.
    Ok(ranged(directive, a, v, min, max)? as u32)
}

fn flag_arg(directive: &'static str, args: &[&str]) -> Result<bool, ConfError> {
    let a = one_arg(directive, args)?;
    parse_flag(a).map_err(value_err(directive, a))
}

/// An absolute output directory (`hls_path`, `dash_path`), without trailing slashes.
fn path_arg(directive: &'static str, args: &[&str]) -> Result<String, ConfError> {
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
            },
            layer: AppLayer::default(),
        });
        Ok(srv.applications.len() - 1)
    }

    fn server_layer(
        &mut self,
        scope: Scope,
        directive: &'static str,
    ) -> Result<&mut ServerLayer, ConfError> {
        match scope {
            Scope::Main => Ok(&mut self.layer),
            Scope::Server(s) => self
                .servers
                .get_mut(s)
                .map(|s| &mut s.layer)
                .ok_or(ConfError::NotAllowedHere(directive)),
            Scope::Application { .. } => Err(ConfError::NotAllowedHere(directive)),
        }
    }

    fn app_layer(
        &mut self,
        scope: Scope,
        directive: &'static str,
    ) -> Result<&mut AppLayer, ConfError> {
        let layer = match scope {
            Scope::Main => Some(&mut self.app_layer),
            Scope::Server(s) => self.servers.get_mut(s).map(|s| &mut s.app_layer),
            Scope::Application { server, app } => self
                .servers
                .get_mut(server)
                .and_then(|s| s.applications.get_mut(app))
                .map(|a| &mut a.layer),
        };
        layer.ok_or(ConfError::NotAllowedHere(directive))
    }

    /// Interprets one simple (non-block) directive.
    pub fn set(&mut self, scope: Scope, name: &str, args: &[&str]) -> Result<(), ConfError> {
        match name {
            "listen" => self.set_listen(scope, args),
            "live_shm_size" => {
                if scope != Scope::Main {
                    return Err(ConfError::NotAllowedHere("live_shm_size"));
                }
                let v = size_arg("live_shm_size", args, 1 << 20, 4095 << 20)?;
                set_once(&mut self.shm_size, "live_shm_size", v as usize)
            }
            "chunk_size" => {
                let v = size_arg("chunk_size", args, 128, 0xFF_FFFF)?;
                set_once(
                    &mut self.server_layer(scope, "chunk_size")?.chunk_size,
                    "chunk_size",
                    v,
                )
            }
            "play_flush_interval" => {
                let v = time_arg("play_flush_interval", args, 0)?;
                let v = ranged(
                    "play_flush_interval",
                    args.first().copied().unwrap_or_default(),
                    v,
                    0,
                    1000,
                )?;
                let l = self.server_layer(scope, "play_flush_interval")?;
                set_once(&mut l.play_flush_interval_ms, "play_flush_interval", v)
            }
            "max_message" => {
                let v = size_arg("max_message", args, 1024, 64 * 1024 * 1024)?;
                set_once(
                    &mut self.server_layer(scope, "max_message")?.max_message,
                    "max_message",
                    v,
                )
            }
            "ack_window" => {
                let v = size_arg("ack_window", args, 1, 0x7FFF_FFFF)?;
                set_once(
                    &mut self.server_layer(scope, "ack_window")?.ack_window,
                    "ack_window",
                    v,
                )
            }
            "max_streams" => {
                let v = size_arg("max_streams", args, 1, 1024)?;
                set_once(
                    &mut self.server_layer(scope, "max_streams")?.max_streams,
                    "max_streams",
                    v,
                )
            }
            "timeout" => {
                let v = time_arg("timeout", args, 1)?;
                set_once(
                    &mut self.server_layer(scope, "timeout")?.timeout_ms,
                    "timeout",
                    v,
                )
            }
            "ping" => {
                let v = time_arg("ping", args, 0)?;
                set_once(&mut self.server_layer(scope, "ping")?.ping_ms, "ping", v)
            }
            "ping_timeout" => {
                let v = time_arg("ping_timeout", args, 1)?;
                set_once(
                    &mut self.server_layer(scope, "ping_timeout")?.ping_timeout_ms,
                    "ping_timeout",
                    v,
                )
            }
            "live" => {
                let v = flag_arg("live", args)?;
                set_once(&mut self.app_layer(scope, "live")?.live, "live", v)
            }
            "idle_streams" => {
                let v = flag_arg("idle_streams", args)?;
                set_once(
                    &mut self.app_layer(scope, "idle_streams")?.idle_streams,
                    "idle_streams",
                    v,
                )
            }
            "gop_cache" => {
                let v = flag_arg("gop_cache", args)?;
                set_once(
                    &mut self.app_layer(scope, "gop_cache")?.gop_cache,
                    "gop_cache",
                    v,
                )
            }
            "wait_key" => {
                let v = flag_arg("wait_key", args)?;
                set_once(
                    &mut self.app_layer(scope, "wait_key")?.wait_key,
                    "wait_key",
                    v,
                )
            }
            "wait_video" => {
                let v = flag_arg("wait_video", args)?;
                set_once(
                    &mut self.app_layer(scope, "wait_video")?.wait_video,
                    "wait_video",
                    v,
                )
            }
            "drop_idle_publisher" => {
                let v = time_arg("drop_idle_publisher", args, 100)?;
                let l = self.app_layer(scope, "drop_idle_publisher")?;
                set_once(&mut l.drop_idle_publisher, "drop_idle_publisher", v)
            }
            "publish_takeover" => {
                let v = flag_arg("publish_takeover", args)?;
                let l = self.app_layer(scope, "publish_takeover")?;
                set_once(&mut l.publish_takeover, "publish_takeover", v)
            }
            "player_buffer" => {
                let v = size_arg("player_buffer", args, 64 * 1024, 1 << 30)?;
                let l = self.app_layer(scope, "player_buffer")?;
                set_once(&mut l.player_buffer, "player_buffer", v)
            }
            "allow" | "deny" => {
                let (action, target) = match args {
                    [a, t] => (*a, *t),
                    _ => {
                        return Err(ConfError::Arity {
                            directive: if name == "allow" { "allow" } else { "deny" },
                            expected: "2: publish|play and an address, CIDR or all",
                        })
                    }
                };
                let rule =
                    Rule::parse(name == "allow", action, target).map_err(ConfError::Access)?;
                let directive = if name == "allow" { "allow" } else { "deny" };
                self.app_layer(scope, directive)?
                    .access
                    .get_or_insert_with(AccessList::default)
                    .push(rule);
                Ok(())
            }
            "notify_method" => {
                let a = one_arg("notify_method", args)?;
                let m = match a {
                    "get" | "GET" => Method::Get,
                    "post" | "POST" => Method::Post,
                    _ => {
                        return Err(value_err("notify_method", a)(ValueError::Choice(
                            "get or post",
                        )))
                    }
                };
                if self.app_layer(scope, "notify_method")?.notify.set_method(m) {
                    Ok(())
                } else {
                    Err(ConfError::Duplicate("notify_method"))
                }
            }
            "publish_secret" | "play_secret" => {
                let directive = if name == "publish_secret" {
                    "publish_secret"
                } else {
                    "play_secret"
                };
                let a = one_arg(directive, args)?;
                if a.len() < 16 {
                    return Err(value_err(directive, "(secret)")(ValueError::Choice(
                        "a secret of at least 16 characters",
                    )));
                }
                let l = self.app_layer(scope, directive)?;
                let slot = if directive == "publish_secret" {
                    &mut l.publish_secret
                } else {
                    &mut l.play_secret
                };
                set_once(slot, directive, a.to_owned())
            }
            "record" => {
                // Recording is not implemented: only the explicit "off" is honest to accept.
                if one_arg("record", args)? != "off" {
                    return Err(ConfError::Unsupported {
                        directive: "record",
                        what: "recording",
                    });
                }
                set_once(
                    &mut self.app_layer(scope, "record")?.record_off,
                    "record",
                    true,
                )
            }
            "hls" => {
                let v = flag_arg("hls", args)?;
                set_once(&mut self.app_layer(scope, "hls")?.hls, "hls", v)
            }
            "hls_path" => {
                let v = path_arg("hls_path", args)?;
                set_once(
                    &mut self.app_layer(scope, "hls_path")?.hls_path,
                    "hls_path",
                    v,
                )
            }
            "hls_fragment" => {
                let v = time_arg("hls_fragment", args, 100)?;
                set_once(
                    &mut self.app_layer(scope, "hls_fragment")?.hls_fragment,
                    "hls_fragment",
                    v,
                )
            }
            "hls_playlist_length" => {
                let v = time_arg("hls_playlist_length", args, 1000)?;
                let l = self.app_layer(scope, "hls_playlist_length")?;
                set_once(&mut l.hls_playlist_length, "hls_playlist_length", v)
            }
            "hls_max_fragment" => {
                let v = time_arg("hls_max_fragment", args, 100)?;
                let l = self.app_layer(scope, "hls_max_fragment")?;
                set_once(&mut l.hls_max_fragment, "hls_max_fragment", v)
            }
            "hls_continuous" => {
                let v = flag_arg("hls_continuous", args)?;
                let l = self.app_layer(scope, "hls_continuous")?;
                set_once(&mut l.hls_continuous, "hls_continuous", v)
            }
            "hls_nested" => {
                let v = flag_arg("hls_nested", args)?;
                set_once(
                    &mut self.app_layer(scope, "hls_nested")?.hls_nested,
                    "hls_nested",
                    v,
                )
            }
            "hls_cleanup" => {
                let v = flag_arg("hls_cleanup", args)?;
                set_once(
                    &mut self.app_layer(scope, "hls_cleanup")?.hls_cleanup,
                    "hls_cleanup",
                    v,
                )
            }
            "hls_fragment_naming" => {
                let a = one_arg("hls_fragment_naming", args)?;
                let v = match a {
                    "sequential" => Naming::Sequential,
                    "timestamp" => Naming::Timestamp,
                    "system" => Naming::System,
                    _ => {
                        return Err(value_err("hls_fragment_naming", a)(ValueError::Choice(
                            "sequential, timestamp or system",
                        )))
                    }
                };
                let l = self.app_layer(scope, "hls_fragment_naming")?;
                set_once(&mut l.hls_naming, "hls_fragment_naming", v)
            }
            "hls_fragment_slicing" => {
                let a = one_arg("hls_fragment_slicing", args)?;
                let v = match a {
                    "plain" => Slicing::Plain,
                    "aligned" => Slicing::Aligned,
                    _ => {
                        return Err(value_err("hls_fragment_slicing", a)(ValueError::Choice(
                            "plain or aligned",
                        )))
                    }
                };
                let l = self.app_layer(scope, "hls_fragment_slicing")?;
                set_once(&mut l.hls_slicing, "hls_fragment_slicing", v)
            }
            "hls_type" => {
                let a = one_arg("hls_type", args)?;
                let v = match a {
                    "live" => PlaylistKind::Live,
                    "event" => PlaylistKind::Event,
                    _ => {
                        return Err(value_err("hls_type", a)(ValueError::Choice(
                            "live or event",
                        )))
                    }
                };
                set_once(
                    &mut self.app_layer(scope, "hls_type")?.hls_type,
                    "hls_type",
                    v,
                )
            }
            "hls_base_url" => {
                let a = one_arg("hls_base_url", args)?;
                if a.chars().any(|c| c.is_control() || c.is_whitespace()) {
                    return Err(value_err("hls_base_url", a)(ValueError::Choice(
                        "a URL without spaces or control characters",
                    )));
                }
                let l = self.app_layer(scope, "hls_base_url")?;
                set_once(&mut l.hls_base_url, "hls_base_url", a.to_owned())
            }
            "dash" => {
                let v = flag_arg("dash", args)?;
                set_once(&mut self.app_layer(scope, "dash")?.dash, "dash", v)
            }
            "dash_path" => {
                let v = path_arg("dash_path", args)?;
                let l = self.app_layer(scope, "dash_path")?;
                set_once(&mut l.dash_path, "dash_path", v)
            }
            "dash_fragment" => {
                let v = time_arg("dash_fragment", args, 100)?;
                let l = self.app_layer(scope, "dash_fragment")?;
                set_once(&mut l.dash_fragment, "dash_fragment", v)
            }
            "dash_playlist_length" => {
                let v = time_arg("dash_playlist_length", args, 1000)?;
                let l = self.app_layer(scope, "dash_playlist_length")?;
                set_once(&mut l.dash_playlist_length, "dash_playlist_length", v)
            }
            "dash_nested" => {
                let v = flag_arg("dash_nested", args)?;
                let l = self.app_layer(scope, "dash_nested")?;
                set_once(&mut l.dash_nested, "dash_nested", v)
            }
            "dash_cleanup" => {
                let v = flag_arg("dash_cleanup", args)?;
                let l = self.app_layer(scope, "dash_cleanup")?;
                set_once(&mut l.dash_cleanup, "dash_cleanup", v)
            }
            other => Err(ConfError::Unknown(other.to_owned())),
        }
    }

    fn set_listen(&mut self, scope: Scope, args: &[&str]) -> Result<(), ConfError> {
        let Scope::Server(s) = scope else {
            return Err(ConfError::NotAllowedHere("listen"));
        };
        let listen = Listen::parse(args).map_err(ConfError::Listen)?;
        if self
            .servers
            .iter()
            .flat_map(|s| &s.listens)
            .any(|l| l.conflicts_with(&listen))
        {
            return Err(ConfError::DuplicateListen(listen.addr.to_string()));
        }
        self.servers
            .get_mut(s)
            .ok_or(ConfError::NotAllowedHere("listen"))?
            .listens
            .push(listen);
        Ok(())
    }

    /// Size of the live shared-memory zone: every stream gets a ring of size/64 (at most 64
    /// streams publish at once across all workers; more publish, but play only on their own
    /// worker). Default 64 MiB.
    pub fn live_shm_size(&self) -> usize {
        self.shm_size.unwrap_or(64 << 20)
    }

    /// Whether any application plays live streams (and so needs the zone).
    pub fn has_live(&self) -> bool {
        self.servers
            .iter()
            .flat_map(|s| &s.applications)
            .any(|a| a.settings.live)
    }

    /// `on_connect|on_publish|... URL`: the shell parses and resolves the URL (at
    /// configuration time), then hands it here.
    pub fn set_notify(
        &mut self,
        scope: Scope,
        call: Call,
        url: NotifyUrl,
    ) -> Result<(), ConfError> {
        let directive = call.directive();
        if call == Call::Connect && matches!(scope, Scope::Application { .. }) {
            return Err(ConfError::NotAllowedHere(directive));
        }
        if self.app_layer(scope, directive)?.notify.set(call, url) {
            Ok(())
        } else {
            Err(ConfError::Duplicate(directive))
        }
    }

    /// `publish_keys FILE`: the shell reads and parses the file, then hands the map here.
    pub fn set_publish_keys(&mut self, scope: Scope, keys: KeyMap) -> Result<(), ConfError> {
        let l = self.app_layer(scope, "publish_keys")?;
        set_once(&mut l.publish_keys, "publish_keys", Arc::new(keys))
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
            srv.settings = srv.layer.merge(&self.layer).resolve();
            let srv_apps = srv.app_layer.merge(&self.app_layer);
            srv.notify = srv_apps.notify.resolve();
            for app in &mut srv.applications {
                app.settings = app.layer.merge(&srv_apps).resolve(&app.name)?;
            }
        }
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
    fn dash_directives() {
        let mut c = RtmpConf::new();
        c.set(Scope::Main, "dash_fragment", &["3"]).unwrap();
        let s = c.add_server();
        let app = |a| Scope::Application { server: s, app: a };
        let a = c.add_application(s, "live").unwrap();
        let b = c.add_application(s, "nopath").unwrap();
        c.set(app(a), "dash", &["on"]).unwrap();
        c.set(app(a), "dash_path", &["/var/www/dash/"]).unwrap();
        c.set(app(a), "dash_nested", &["on"]).unwrap();
        assert!(matches!(
            c.set(app(a), "dash_path", &["/other"]),
            Err(ConfError::Duplicate(_))
        ));
        assert!(matches!(
            c.set(app(b), "dash_path", &["relative"]),
            Err(ConfError::Value { .. })
        ));
        c.finish().unwrap();
        let d = c.servers[0].applications[a].settings.dash.clone().unwrap();
        assert_eq!(d.path, PathBuf::from("/var/www/dash"));
        assert_eq!(d.config.fragment_ms, 3_000);
        assert_eq!(d.config.playlist_length_ms, 30_000);
        assert!(d.config.nested && d.config.cleanup);
        assert!(c.servers[0].applications[a].settings.accepts_publish());
        assert!(c.servers[0].applications[b].settings.dash.is_none());

        let mut c = RtmpConf::new();
        let s = c.add_server();
        let a = c.add_application(s, "live").unwrap();
        c.set(Scope::Application { server: s, app: a }, "dash", &["on"])
            .unwrap();
        assert!(matches!(c.finish(), Err(ConfError::Missing { .. })));
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

    #[test]
    fn errors() {
        let mut c = RtmpConf::new();
        let s = c.add_server();
        let app = Scope::Application {
            server: s,
            app: c.add_application(s, "live").unwrap(),
        };
        assert_eq!(
            c.set(Scope::Main, "bogus", &[]),
            Err(ConfError::Unknown("bogus".into()))
        );
        assert_eq!(
            c.set(app, "chunk_size", &["4096"]),
            Err(ConfError::NotAllowedHere("chunk_size"))
        );
        assert_eq!(
            c.set(Scope::Main, "listen", &["1935"]),
            Err(ConfError::NotAllowedHere("listen"))
        );
        assert!(matches!(
            c.set(Scope::Main, "chunk_size", &["1"]),
            Err(ConfError::Value { .. })
        ));
        assert!(matches!(
            c.set(Scope::Main, "chunk_size", &[]),
            Err(ConfError::Arity { .. })
        ));
        assert!(matches!(
            c.set(app, "live", &["maybe"]),
            Err(ConfError::Value { .. })
        ));
        c.set(app, "live", &["on"]).unwrap();
        assert_eq!(
            c.set(app, "live", &["on"]),
            Err(ConfError::Duplicate("live"))
        );
        c.set(Scope::Server(s), "listen", &["1935"]).unwrap();
        let s2 = c.add_server();
        assert!(matches!(
            c.set(Scope::Server(s2), "listen", &["0.0.0.0:1935"]),
            Err(ConfError::DuplicateListen(_))
        ));
        c.set(Scope::Server(s2), "listen", &["[::]:1935", "ipv6only=on"])
            .unwrap();
        assert!(matches!(
            c.add_application(s, "live"),
            Err(ConfError::DuplicateApplication(_))
        ));
        assert!(matches!(
            c.add_application(s, "../x"),
            Err(ConfError::InvalidApplicationName(_))
        ));
    }
}
