//! Statistics and control, the pure part: the stat model, its renderings (nginx-rtmp's XML,
//! JSON, Prometheus text), the binary snapshot every worker publishes, the shared board that
//! holds the snapshots and the control mailboxes, and the `rtmp_control` commands.
//!
//! Why a board: nginx-rtmp's stat page shows the worker that happens to answer. Here every
//! worker publishes its part (about once a second, and at once when its streams or clients
//! change) and whichever worker answers merges them all.

pub mod board;
pub mod codec;
pub mod control;
pub mod json;
pub mod model;
pub mod prom;
pub mod xml;

pub use control::{ClientView, Command, ControlError, ControlSections, Subject};
pub use model::{
    merge, AudioMeta, ClientStat, MergeContext, Meta, Sections, ServerCounters, ServerLayout,
    Snapshot, StatView, StreamStat, VideoMeta,
};

/// Output format of `rtmp_stat` (`rtmp_stat_format`, or `?format=` per request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Xml,
    Json,
    Prometheus,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "xml" => Some(Format::Xml),
            "json" => Some(Format::Json),
            "prometheus" | "prom" | "metrics" => Some(Format::Prometheus),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Xml => "text/xml",
            Format::Json => "application/json",
            Format::Prometheus => "text/plain; version=0.0.4",
        }
    }

    pub fn render(self, view: &StatView, sections: Sections, stylesheet: Option<&str>) -> String {
        match self {
            Format::Xml => xml::render(view, sections, stylesheet),
            Format::Json => json::render(view, sections),
            Format::Prometheus => prom::render(view),
        }
    }
}

#[cfg(test)]
mod tests;
