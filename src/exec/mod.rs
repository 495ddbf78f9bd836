//! nginx-rtmp's `exec` family, the part that needs no system: what each line runs, the
//! substitution of `$name`-style variables into its arguments, the shell-like redirections
//! among them, and the signal names `exec_kill_signal` accepts.
//!
//! The shell (`ngx::exec`) starts the resulting commands through the worker's supervised
//! child processes.

mod eval;
mod line;
mod redirect;
mod signal;

pub use eval::{eval, Vars};
pub use line::{ExecKind, ExecLine, Invocation};
pub use redirect::{parse_redirect, RedirectError, Redirection, Source};
pub use signal::{parse_signal, SignalError};
