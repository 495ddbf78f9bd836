//! ngx-rtmp: RTMP ingest, live fan-out and HLS for stock nginx.
//!
//! The crate is a pure, sans-IO core (everything but [`ngx`]) and a thin nginx shell
//! (`ngx`, behind the default `nginx` feature), the only place with `unsafe`. The core builds
//! and tests without nginx: `cargo test --no-default-features`.

#[forbid(unsafe_code)]
pub mod amf0;
#[forbid(unsafe_code)]
pub mod auth;
#[forbid(unsafe_code)]
pub mod conf;
#[forbid(unsafe_code)]
pub mod dash;
#[forbid(unsafe_code)]
pub mod exec;
#[forbid(unsafe_code)]
pub mod files;
#[forbid(unsafe_code)]
pub mod hls;
#[forbid(unsafe_code)]
pub mod hls_http;
#[forbid(unsafe_code)]
pub mod http;
#[forbid(unsafe_code)]
pub mod live;
#[forbid(unsafe_code)]
pub mod media;
#[forbid(unsafe_code)]
pub mod process;
#[forbid(unsafe_code)]
pub mod record;
#[forbid(unsafe_code)]
pub mod relay;
#[forbid(unsafe_code)]
pub mod rtmp;
#[forbid(unsafe_code)]
pub mod stat;
#[forbid(unsafe_code)]
pub mod transcode;

#[cfg(feature = "nginx")]
mod ngx;
