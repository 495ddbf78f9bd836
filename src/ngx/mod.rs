//! The nginx shell: the only part of the crate that touches nginx or uses `unsafe`.
//!
//! - [`module`]: the module statics nginx loads (`ngx_modules` and friends).
//! - [`conf`]: the `rtmp {}` block, parsed with nginx's own config parser.
//! - [`listen`]: listening sockets for every `listen`; [`accept`]: their clients, plain or
//!   after the TLS handshake of [`rtmps`].
//! - [`conn`]: one RTMP connection: socket I/O around the sans-IO [`crate::rtmp::Session`].
//! - [`worker`]: per-worker state (live streams).
//! - [`http_stat`], [`stat_snapshot`], [`stat_board`]: `rtmp_stat` and `rtmp_control` (http
//!   module; every worker's snapshot in a shared zone).
//! - [`http_hls`], [`hls_wait`], [`http_reply`]: `rtmp_hls`, the files of `hls_path` over http
//!   with LL-HLS blocking reload (its own http module).

#[macro_use]
mod log;

mod accept;
mod conf;
mod conn;
mod exec;
mod exec_pull;
mod executable;
mod fanout;
mod file_ops;
mod flv_out;
mod flv_player;
mod hls_access;
mod hls_wait;
mod http_client;
mod http_flv;
mod http_hls;
mod http_play;
mod http_reply;
mod http_stat;
mod ingest;
mod listen;
mod module;
mod net;
mod outputs;
mod paths;
mod policy;
mod process;
mod record_files;
mod recordings;
mod relay;
mod remote;
mod resolver;
mod rtmps;
mod shm;
mod ssl;
mod stat_board;
mod stat_snapshot;
mod timer;
mod tracks;
mod transcode;
mod variants;
mod worker;

/// Runs `f`, turning a panic into `None` so that it never unwinds into nginx's C frames.
fn catch<T>(f: impl FnOnce() -> T) -> Option<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok()
}

/// The worker's monotonic clock in ms (nginx's cached `ngx_current_msec`).
fn now_ms() -> u64 {
    // SAFETY: nginx updates `ngx_current_msec` on the worker's only thread.
    unsafe { nginx_sys::ngx_current_msec as u64 }
}
