//! Who may publish and play: `allow`/`deny` rules, stream key maps and signed names.

mod access;
pub mod http_play;
mod keys;
pub mod query;
pub mod signed;

pub use access::{AccessError, AccessList, Action, Rule};
pub use keys::{KeyError, KeyFileError, KeyMap};
