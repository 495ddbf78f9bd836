//! The `rtmp {}` configuration model: what the directives mean, independent of nginx.
//!
//! The nginx shell (`crate::ngx::conf`) tokenises the config with nginx's own parser and calls
//! into this module to interpret each directive's values; merging, defaults and cross-checks
//! (duplicate listens) live here so they can be unit tested.

mod listen;
mod model;
mod notify;
mod value;

pub use listen::{Listen, ListenError};
pub use model::{
    AppConf, AppSettings, ConfError, DashSettings, HlsSettings, RtmpConf, Scope, ServerConf,
    ServerSettings,
};
pub use notify::{Call, NotifySettings, NotifyUrl};
pub use value::{parse_flag, parse_size, parse_time_ms, ValueError};
