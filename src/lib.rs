//! ngx-rtmp: RTMP ingest, live fan-out and HLS for stock nginx.
//!
//! The crate is a pure, sans-IO core (everything but [`ngx`]) and a thin nginx shell
//! (`ngx`, behind the default `nginx` feature), the only place with `unsafe`. The core builds
//! and tests without nginx: `cargo test --no-default-features`.

pub mod amf0;
pub mod auth;
pub mod conf;
pub mod dash;
pub mod hls;
pub mod http;
pub mod live;
pub mod media;
pub mod rtmp;
pub mod stat;

#[cfg(feature = "nginx")]
mod ngx;
