//! Child processes the module runs (encoders, `exec` commands), the part that needs no
//! system: how a child ended, when a dead one is started again, when a stopping one is
//! killed, and what it last wrote on stderr.
//!
//! The shell (`ngx::process`) spawns, signals and reaps; a [`Supervisor`] per child decides.

mod backoff;
mod exit;
mod supervisor;
mod tail;

pub use backoff::{Backoff, Retries, MIN_INITIAL_MS};
pub use exit::ExitStatus;
pub use supervisor::{Action, ChildSummary, Policy, Supervisor};
pub use tail::StderrTail;
