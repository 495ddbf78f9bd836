//! What the outputs that write files (HLS, DASH) share: the file operations the shell executes
//! for them, paths relative to their output directory built from checked stream names, the
//! clock they are given, dates as those documents write them, and escaping for the names and documents they write.
//!
//! Outputs never touch the file system or a clock: they return [`FileOp`]s, in order, and
//! take the time as [`Now`].

mod date;
mod ops;
mod path;
mod xml;

pub use date::{civil_from_days, date_time, parse_date_time};
pub use ops::{FileOp, Now};
pub use path::{uri_escape, validate_stream_name, NameError, RelPath, MAX_NAME_LEN};
pub use xml::escape as xml_escape;
