//! `allow|deny publish|play addr|CIDR|all`, as nginx-rtmp-module: rules are checked in order,
//! the first that matches decides, and no match allows. A level that has rules of its own
//! replaces the inherited ones.

use std::fmt;
use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Publish,
    Play,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Net {
    All,
    Cidr { addr: IpAddr, prefix: u8 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    allow: bool,
    action: Action,
    net: Net,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessError {
    Action(String),
    Address(String),
    Prefix(String),
}

impl fmt::Display for AccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AccessError::Action(a) => write!(f, "expected \"publish\" or \"play\", got \"{a}\""),
            AccessError::Address(a) => {
                write!(f, "invalid address \"{a}\" (expected IP, CIDR or all)")
            }
            AccessError::Prefix(a) => write!(f, "invalid prefix length in \"{a}\""),
        }
    }
}

impl std::error::Error for AccessError {}

/// Canonical form for matching: IPv4-mapped IPv6 addresses are IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

fn bits(ip: IpAddr) -> (u128, u8) {
    match ip {
        IpAddr::V4(a) => (u128::from(u32::from(a)), 32),
        IpAddr::V6(a) => (u128::from(a), 128),
    }
}

impl Rule {
    /// Parses `allow|deny` arguments: `publish|play` and `addr`, `addr/prefix` or `all`.
    pub fn parse(allow: bool, action: &str, target: &str) -> Result<Rule, AccessError> {
        let action = match action {
            "publish" => Action::Publish,
            "play" => Action::Play,
            other => return Err(AccessError::Action(other.to_owned())),
        };
        let net = if target == "all" {
            Net::All
        } else {
            let (addr, prefix) = match target.split_once('/') {
                Some((a, p)) => (a, Some(p)),
                None => (target, None),
            };
            let addr: IpAddr = addr
                .parse()
                .map_err(|_| AccessError::Address(target.to_owned()))?;
            let addr = canonical(addr);
            let (_, width) = bits(addr);
            let prefix = match prefix {
                None => width,
                Some(p) => p
                    .parse::<u8>()
                    .ok()
                    .filter(|p| *p <= width)
                    .ok_or_else(|| AccessError::Prefix(target.to_owned()))?,
            };
            Net::Cidr { addr, prefix }
        };
        Ok(Rule { allow, action, net })
    }

    fn matches(&self, action: Action, ip: IpAddr) -> bool {
        if self.action != action {
            return false;
        }
        match &self.net {
            Net::All => true,
            Net::Cidr { addr, prefix } => {
                let (a, wa) = bits(*addr);
                let (b, wb) = bits(canonical(ip));
                if wa != wb {
                    return false;
                }
                let shift = u32::from(wa - prefix);
                let mask = if shift >= 128 { 0 } else { u128::MAX << shift };
                (a & mask) == (b & mask)
            }
        }
    }
}

/// An ordered list of rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessList {
    rules: Vec<Rule>,
}

impl AccessList {
    pub fn push(&mut self, rule: Rule) {
        self.rules.push(rule);
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// First matching rule decides; no match allows.
    pub fn allows(&self, action: Action, ip: IpAddr) -> bool {
        self.rules
            .iter()
            .find(|r| r.matches(action, ip))
            .is_none_or(|r| r.allow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(rules: &[(bool, &str, &str)]) -> AccessList {
        let mut l = AccessList::default();
        for (allow, action, target) in rules {
            l.push(Rule::parse(*allow, action, target).unwrap());
        }
        l
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn first_match_wins() {
        let l = list(&[(true, "publish", "127.0.0.1"), (false, "publish", "all")]);
        assert!(l.allows(Action::Publish, ip("127.0.0.1")));
        assert!(!l.allows(Action::Publish, ip("10.0.0.1")));
        assert!(
            l.allows(Action::Play, ip("10.0.0.1")),
            "no play rule: allowed"
        );
        // The seed config: allow 127.0.0.1, then allow all.
        let seed = list(&[(true, "publish", "127.0.0.1"), (true, "publish", "all")]);
        assert!(seed.allows(Action::Publish, ip("192.0.2.7")));
    }

    #[test]
    fn cidr_v4_v6_and_mapped() {
        let l = list(&[
            (true, "play", "192.168.0.0/16"),
            (true, "play", "2001:db8::/32"),
            (false, "play", "all"),
        ]);
        assert!(l.allows(Action::Play, ip("192.168.44.1")));
        assert!(!l.allows(Action::Play, ip("192.169.0.1")));
        assert!(
            l.allows(Action::Play, ip("::ffff:192.168.1.1")),
            "IPv4-mapped"
        );
        assert!(l.allows(Action::Play, ip("2001:db8:1::5")));
        assert!(!l.allows(Action::Play, ip("2001:db9::1")));
        let zero = list(&[(false, "publish", "0.0.0.0/0")]);
        assert!(!zero.allows(Action::Publish, ip("8.8.8.8")));
        assert!(
            zero.allows(Action::Publish, ip("::1")),
            "v4 rule does not match v6"
        );
    }

    #[test]
    fn parse_errors() {
        assert!(matches!(
            Rule::parse(true, "record", "all"),
            Err(AccessError::Action(_))
        ));
        assert!(matches!(
            Rule::parse(true, "play", "example.com"),
            Err(AccessError::Address(_))
        ));
        assert!(matches!(
            Rule::parse(true, "play", "10.0.0.0/33"),
            Err(AccessError::Prefix(_))
        ));
        assert!(matches!(
            Rule::parse(true, "play", "::/129"),
            Err(AccessError::Prefix(_))
        ));
        assert!(matches!(
            Rule::parse(true, "play", "10.0.0.0/x"),
            Err(AccessError::Prefix(_))
        ));
    }
}
