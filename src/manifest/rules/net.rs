//! Network values: firewall ports and sources, URLs.

use super::{firewalld_name, refuse, Refusal, Rule};

/// Protocols firewalld takes in `<port protocol=…>`.
pub const PROTOCOLS: [&str; 4] = ["tcp", "udp", "sctp", "dccp"];

/// The port part of a firewall port spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ports {
    /// `22` or `8000-8080` (a single port is `a == b`).
    Range(u16, u16),
    /// A service name from the tree's `/etc/services` (`imap`), resolved
    /// by the build (only the tree knows them).
    Named(String),
}

/// `22:tcp`, `8000-8080:udp`, `imap:tcp`: ports and a protocol. Judged
/// whole except a name's lookup in `/etc/services`.
pub fn port_spec(spec: &str) -> Rule<(Ports, &str)> {
    let hint = "write PORT:PROTOCOL, PORT-PORT:PROTOCOL or SERVICE:PROTOCOL, e.g. \"22:tcp\"";
    let Some((ports, proto)) = spec.rsplit_once(':') else {
        return Err(Refusal::new(format!("port {spec:?} has no protocol")).hint(hint));
    };
    if !PROTOCOLS.contains(&proto) {
        return Err(Refusal::new(format!(
            "port {spec:?}: protocol must be one of {}",
            PROTOCOLS.join(", ")
        ))
        .hint(hint));
    }
    let number = |p: &str| -> Rule<u16> {
        match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
            _ => refuse(format!("port {spec:?}: {p} is not a port number (1-65535)")),
        }
    };
    let numeric = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    let value = match ports.split_once('-') {
        Some((a, b)) if numeric(a) => {
            let (a, b) = (number(a)?, number(b)?);
            if a > b {
                return refuse(format!("port {spec:?}: the range goes backwards"));
            }
            Ports::Range(a, b)
        }
        _ if numeric(ports) => {
            let n = number(ports)?;
            Ports::Range(n, n)
        }
        _ => {
            let ok = ports
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphanumeric())
                && ports
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.+/".contains(&b));
            if !ok {
                return Err(Refusal::new(format!(
                    "port {spec:?}: {ports:?} is neither a port number nor a service name"
                ))
                .hint(hint));
            }
            Ports::Named(ports.to_string())
        }
    };
    Ok((value, proto))
}

/// A zone source as `firewall-cmd --add-source` takes it: an address, a
/// network (`ADDR/BITS` or `ADDR/MASK`), a MAC or `ipset:NAME`. Returns
/// the zone file's attribute name and value.
pub fn firewall_source(s: &str) -> Rule<(&'static str, &str)> {
    let s = s.trim();
    if let Some(set) = s.strip_prefix("ipset:") {
        firewalld_name("ipset", set)?;
        return Ok(("ipset", set));
    }
    let is_mac = s.len() == 17
        && s.split(':').count() == 6
        && s.split(':')
            .all(|b| b.len() == 2 && b.chars().all(|c| c.is_ascii_hexdigit()));
    if is_mac {
        return Ok(("mac", s));
    }
    let (addr, mask) = s.split_once('/').unwrap_or((s, ""));
    let addr_ok = addr.parse::<std::net::IpAddr>().is_ok();
    let mask_ok =
        mask.is_empty() || mask.parse::<u8>().is_ok() || mask.parse::<std::net::Ipv4Addr>().is_ok();
    if !addr_ok || !mask_ok {
        return refuse(format!(
            "source {s:?}: expected an address, a network (ADDR/MASK), a MAC or ipset:NAME"
        ));
    }
    Ok(("address", s))
}

/// A URL with one of `schemes` (`"https://"`, …), something after the
/// scheme, and no whitespace or control characters.
pub fn url(what: &str, u: &str, schemes: &[&str]) -> Rule {
    let scheme_ok = schemes
        .iter()
        .any(|p| u.starts_with(p) && u.len() > p.len());
    if !scheme_ok {
        let list = match schemes {
            [] => String::new(),
            [one] => one.to_string(),
            [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
        };
        return refuse(format!("{what} {u:?} is not an {list} URL"));
    }
    if u.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return refuse(format!("{what} {u:?} contains whitespace"));
    }
    Ok(())
}

/// Schemes a package repository may use.
pub const REPO_SCHEMES: [&str; 3] = ["http://", "https://", "file://"];
/// Schemes of a server the booted image talks to.
pub const WEB_SCHEMES: [&str; 2] = ["http://", "https://"];
