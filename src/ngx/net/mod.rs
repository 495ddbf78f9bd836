//! Safe handles over nginx's network objects, so that the protocol shells ([`super::conn`],
//! [`super::http_client`]) drive sockets, events and timers without raw pointers.
//!
//! - [`Connection`]: a live `ngx_connection_t` (an accepted client or a connection nginx made
//!   for us): receive, send, `writev`, event arming, timers, posting, peer address, log, close.
//! - [`Peer`]: an outgoing connection made with `ngx_event_connect_peer`, with the memory
//!   nginx keeps pointers to (address, name, log).
//! - `sockaddr`: socket addresses between Rust and C.
//! - `tls`: TLS on a [`Connection`] through nginx's OpenSSL layer (handshake, buffered
//!   writes, shutdown).
//!
//! Every `unsafe` of the shells' socket I/O lives here, each with its `// SAFETY:` line.

mod connection;
mod peer;
mod sockaddr;
mod tls;

pub use connection::{Connection, LogError, Recv, Sent};
pub use peer::{ConnectError, Connected, Peer};
pub use sockaddr::ip_of;
pub use tls::Handshake;
