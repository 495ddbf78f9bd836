//! TLS through nginx's OpenSSL (the `ngx_ssl_*` API that nginx's own modules use).
//!
//! - [`client`]: client contexts made with the configuration, and TLS on outgoing
//!   connections (relays to `rtmps://` targets).
//! - [`server`]: the contexts of `listen ... ssl` sockets (RTMPS ingest).
//! - `capture`: a log that keeps what nginx's SSL functions write, for the reason of a
//!   failure.

mod capture;
pub mod client;
pub mod server;
