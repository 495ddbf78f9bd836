//! The `rtmp {}` configuration model: what the directives mean, independent of nginx.
//!
//! The nginx shell (`crate::ngx::conf`) tokenises the config with nginx's own parser and calls
//! into this module to interpret each directive's values; merging, defaults and cross-checks
//! (duplicate listens) live here so they can be unit tested.

mod app;
mod args;
mod directive;
mod error;
mod exec;
mod listen;
mod model;
mod notify;
mod record;
mod relay;
mod server;
mod tls;
mod tls_error;
mod value;

pub use app::{AppSettings, DashSettings, HlsSettings};
pub use error::ConfError;
pub use exec::{ExecPolicy, ExecSettings, StaticExec};
pub use listen::{Listen, ListenError};
pub use model::{AppConf, RtmpConf, Scope, ServerConf};
pub use notify::{update_verdict, Call, NotifySettings, NotifyUrl};
pub use record::{RecordDoneCommand, RecorderSettings};
pub use relay::{RelaySettings, RelaySsl};
pub use server::ServerSettings;
pub use tls::{CertificatePair, SessionCache, TlsProtocol, TlsProtocols, TlsSettings};
pub use tls_error::TlsError;
pub use value::{parse_flag, parse_size, parse_time_ms, ValueError};
