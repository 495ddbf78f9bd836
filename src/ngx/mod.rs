//! The nginx shell: the only part of the crate that touches nginx or uses `unsafe`.
//!
//! - [`module`]: the module statics nginx loads (`ngx_modules` and friends).
//! - [`conf`]: the `rtmp {}` block, parsed with nginx's own config parser.
//! - [`listen`]: listening sockets for every `listen`.
//! - [`conn`]: one RTMP connection: socket I/O around the sans-IO [`crate::rtmp::Session`].
//! - [`worker`]: per-worker state (live streams).

mod conf;
mod conn;
mod fanout;
mod hls_out;
mod listen;
mod module;
mod paths;
mod policy;
mod remote;
mod shm;
mod worker;

/// Runs `f`, turning a panic into `None` so that it never unwinds into nginx's C frames.
fn catch<T>(f: impl FnOnce() -> T) -> Option<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok()
}
