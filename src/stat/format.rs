//! Output format of `rtmp_stat`: the location's `rtmp_stat_format`, or `?format=` per request.

use super::model::{Sections, StatView};
use super::{json, prom, xml};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// nginx-rtmp's XML, the default.
    #[default]
    Xml,
    Json,
    Prometheus,
}

impl Format {
    /// A format name as a request asks for it: the directive's names, and the Prometheus
    /// aliases scrapers use.
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "xml" => Some(Format::Xml),
            "json" => Some(Format::Json),
            "prometheus" | "prom" | "metrics" => Some(Format::Prometheus),
            _ => None,
        }
    }

    /// The value of `rtmp_stat_format` (its error is an `nginx -t` message).
    pub fn from_directive(value: &str) -> Result<Format, String> {
        match value {
            "xml" => Ok(Format::Xml),
            "json" => Ok(Format::Json),
            "prometheus" => Ok(Format::Prometheus),
            other => Err(format!(
                "invalid value \"{other}\" in \"rtmp_stat_format\" (xml, json, prometheus)"
            )),
        }
    }

    /// The format a stat request asks for: `format=` of its query string `args` when present
    /// (a query string that does not parse has none), else `configured`. The error is the body
    /// of a 400 answer.
    pub fn for_request(args: &str, configured: Format) -> Result<Format, String> {
        let asked = crate::auth::query::parse(args)
            .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == "format"))
            .map(|(_, v)| v);
        match asked {
            None => Ok(configured),
            Some(f) => Format::parse(&f)
                .ok_or_else(|| format!("unknown format \"{f}\" (xml, json, prometheus)\n")),
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
mod tests {
    use super::Format;

    #[test]
    fn the_directive_takes_the_three_names_only() {
        assert_eq!(Format::from_directive("xml"), Ok(Format::Xml));
        assert_eq!(Format::from_directive("json"), Ok(Format::Json));
        assert_eq!(Format::from_directive("prometheus"), Ok(Format::Prometheus));
        assert_eq!(
            Format::from_directive("prom"),
            Err("invalid value \"prom\" in \"rtmp_stat_format\" (xml, json, prometheus)".into())
        );
        assert!(Format::from_directive("").is_err());
    }

    #[test]
    fn a_request_overrides_the_configured_format() {
        assert_eq!(Format::for_request("", Format::Json), Ok(Format::Json));
        assert_eq!(
            Format::for_request("a=1&format=metrics", Format::Xml),
            Ok(Format::Prometheus)
        );
        assert_eq!(
            Format::for_request("format=xml", Format::Json),
            Ok(Format::Xml)
        );
        assert_eq!(
            Format::for_request("format=yaml", Format::Xml),
            Err("unknown format \"yaml\" (xml, json, prometheus)\n".into())
        );
        // A malformed query string asks for nothing.
        assert_eq!(
            Format::for_request("format=%zz", Format::Json),
            Ok(Format::Json)
        );
        assert_eq!(Format::default(), Format::Xml);
    }
}
