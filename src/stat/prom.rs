//! Prometheus text exposition format (version 0.0.4).

use std::fmt::Write;

use super::model::StatView;

/// Escapes a label value: backslash, double quote and line feed.
pub fn label(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = write!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
    }

    fn sample(&mut self, name: &str, labels: &str, v: u64) {
        if labels.is_empty() {
            let _ = writeln!(self.0, "{name} {v}");
        } else {
            let _ = writeln!(self.0, "{name}{{{labels}}} {v}");
        }
    }
}

pub fn render(view: &StatView) -> String {
    let mut o = Out(String::with_capacity(4096));
    o.family("rtmp_up", "gauge", "The RTMP module answers.");
    o.sample("rtmp_up", "", 1);
    o.family("rtmp_workers", "gauge", "Worker processes reporting.");
    o.sample("rtmp_workers", "", view.workers.len() as u64);
    o.family(
        "rtmp_uptime_seconds",
        "gauge",
        "Seconds since the oldest worker started.",
    );
    o.sample("rtmp_uptime_seconds", "", view.uptime);
    o.family(
        "rtmp_connections_accepted_total",
        "counter",
        "RTMP connections accepted, per server block.",
    );
    for s in &view.servers {
        o.sample(
            "rtmp_connections_accepted_total",
            &format!("server=\"{}\"", s.index),
            s.accepted,
        );
    }
    o.family(
        "rtmp_connections_active",
        "gauge",
        "Open RTMP connections, per server block.",
    );
    for s in &view.servers {
        o.sample(
            "rtmp_connections_active",
            &format!("server=\"{}\"", s.index),
            s.active,
        );
    }
    o.family(
        "rtmp_received_bytes_total",
        "counter",
        "Bytes received from RTMP clients.",
    );
    o.sample("rtmp_received_bytes_total", "", view.bytes_in);
    o.family(
        "rtmp_sent_bytes_total",
        "counter",
        "Bytes sent to RTMP clients.",
    );
    o.sample("rtmp_sent_bytes_total", "", view.bytes_out);
    o.family(
        "rtmp_publish_rejected_total",
        "counter",
        "Refused publish requests, by reason.",
    );
    for (reason, n) in &view.rejected {
        o.sample(
            "rtmp_publish_rejected_total",
            &format!("reason=\"{}\"", label(reason)),
            *n,
        );
    }
    o.family(
        "rtmp_hls_segments_total",
        "counter",
        "HLS segments written.",
    );
    o.sample("rtmp_hls_segments_total", "", view.hls_segments);
    o.family(
        "rtmp_transcode_refused_total",
        "counter",
        "Streams served at their source quality only because transcode_max was reached.",
    );
    o.sample("rtmp_transcode_refused_total", "", view.transcode_refused);

    let families: [(&str, &str, &str); 8] = [
        (
            "rtmp_stream_received_bytes_total",
            "counter",
            "Bytes of media received from the publisher.",
        ),
        (
            "rtmp_stream_sent_bytes_total",
            "counter",
            "Bytes sent to the stream's players.",
        ),
        (
            "rtmp_stream_bitrate_in_bits_per_second",
            "gauge",
            "Incoming bitrate.",
        ),
        (
            "rtmp_stream_bitrate_out_bits_per_second",
            "gauge",
            "Outgoing bitrate (all players).",
        ),
        (
            "rtmp_stream_clients",
            "gauge",
            "Clients of the stream (publisher and players).",
        ),
        (
            "rtmp_stream_uptime_seconds",
            "gauge",
            "Seconds since the stream was published.",
        ),
        (
            "rtmp_stream_dropped_messages",
            "gauge",
            "Messages dropped for slow players of the stream.",
        ),
        (
            "rtmp_stream_publishing",
            "gauge",
            "1 while a publisher sends the stream.",
        ),
    ];
    for (i, (name, kind, help)) in families.iter().enumerate() {
        o.family(name, kind, help);
        for server in &view.servers {
            for app in &server.applications {
                for s in &app.streams {
                    let labels = format!(
                        "server=\"{}\",app=\"{}\",name=\"{}\"",
                        server.index,
                        label(&app.name),
                        label(&s.name)
                    );
                    let v = match i {
                        0 => s.bytes_in,
                        1 => s.bytes_out,
                        2 => s.bw_in,
                        3 => s.bw_out,
                        4 => s.nclients() as u64,
                        5 => s.time_ms / 1000,
                        6 => s.dropped(),
                        _ => u64::from(s.publishing),
                    };
                    o.sample(name, &labels, v);
                }
            }
        }
    }
    o.family(
        "rtmp_record_failed_total",
        "counter",
        "Recordings stopped by a write error (full disk, vanished directory).",
    );
    o.sample("rtmp_record_failed_total", "", view.record_failed);
    let recorders: [(&str, &str, &str); 4] = [
        (
            "rtmp_record_recording",
            "gauge",
            "1 while the recorder writes a file.",
        ),
        (
            "rtmp_record_file_bytes",
            "gauge",
            "Bytes in the file the recorder writes.",
        ),
        (
            "rtmp_record_file_duration_seconds",
            "gauge",
            "Media time in the file the recorder writes.",
        ),
        (
            "rtmp_record_files_total",
            "counter",
            "Files the recorder finished since the stream was published.",
        ),
    ];
    for (i, (name, kind, help)) in recorders.iter().enumerate() {
        o.family(name, kind, help);
        for server in &view.servers {
            for app in &server.applications {
                for s in &app.streams {
                    for r in &s.recorders {
                        let labels = format!(
                            "server=\"{}\",app=\"{}\",name=\"{}\",recorder=\"{}\"",
                            server.index,
                            label(&app.name),
                            label(&s.name),
                            label(&r.id)
                        );
                        let v = match i {
                            0 => u64::from(r.recording),
                            1 => r.bytes,
                            2 => r.duration_ms / 1000,
                            _ => r.files,
                        };
                        o.sample(name, &labels, v);
                    }
                }
            }
        }
    }
    relays(&mut o, view);
    let processes: [(&str, &str, &str); 3] = [
        (
            "rtmp_process_running",
            "gauge",
            "1 while a child process (exec line, encoder) runs, 0 while it waits to restart.",
        ),
        (
            "rtmp_process_restarts_total",
            "counter",
            "Times a child process was started again after it died.",
        ),
        (
            "rtmp_process_uptime_seconds",
            "gauge",
            "Seconds the child's current process has run.",
        ),
    ];
    for (i, (name, kind, help)) in processes.iter().enumerate() {
        o.family(name, kind, help);
        for p in &view.processes {
            let labels = format!("worker=\"{}\",label=\"{}\"", p.worker, label(&p.label));
            let v = match i {
                0 => u64::from(p.pid != 0),
                1 => u64::from(p.restarts),
                _ => p.uptime_ms / 1000,
            };
            o.sample(name, &labels, v);
        }
    }
    o.0
}

/// Every relay of every stream: whether it streams, its bytes each way, its reconnects and
/// failures, and how long it has been in its state.
fn relays(o: &mut Out, view: &StatView) {
    let families: [(&str, &str, &str); 5] = [
        (
            "rtmp_relay_up",
            "gauge",
            "1 while the relay streams to (push) or from (pull) its target.",
        ),
        (
            "rtmp_relay_bytes_total",
            "counter",
            "Bytes the relay's connections sent (direction=\"out\") and received (\"in\").",
        ),
        (
            "rtmp_relay_reconnects_total",
            "counter",
            "Attempts the relay started after a failure.",
        ),
        (
            "rtmp_relay_failures",
            "gauge",
            "Failed attempts since the relay last streamed.",
        ),
        (
            "rtmp_relay_state_seconds",
            "gauge",
            "Seconds the relay has been in its state (label state).",
        ),
    ];
    for (i, (name, kind, help)) in families.iter().enumerate() {
        o.family(name, kind, help);
        for server in &view.servers {
            for app in &server.applications {
                for s in &app.streams {
                    for r in &s.relays {
                        let labels = format!(
                            "server=\"{}\",app=\"{}\",name=\"{}\",kind=\"{}\",url=\"{}\",worker=\"{}\"",
                            server.index,
                            label(&app.name),
                            label(&s.name),
                            label(&r.kind),
                            label(&r.target),
                            r.pid
                        );
                        match i {
                            0 => o.sample(name, &labels, u64::from(r.up())),
                            1 => {
                                o.sample(name, &format!("{labels},direction=\"out\""), r.bytes_out);
                                o.sample(name, &format!("{labels},direction=\"in\""), r.bytes_in);
                            }
                            2 => o.sample(name, &labels, r.reconnects),
                            3 => o.sample(name, &labels, r.failures),
                            _ => o.sample(
                                name,
                                &format!("{labels},state=\"{}\"", label(&r.state)),
                                r.time_in_state_ms / 1000,
                            ),
                        }
                    }
                }
            }
        }
    }
}
