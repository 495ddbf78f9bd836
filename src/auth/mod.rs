//! Who may publish and play: `allow`/`deny` rules (and, later, stream keys).

mod access;

pub use access::{AccessError, AccessList, Action, Rule};
