//! `[customizations.firewall]`: firewalld's permanent configuration,
//! written offline.
//!
//! Why not `firewall-offline-cmd`: it is Python and needs the tree's
//! interpreter chrooted, on the build host's arch; what it does for these
//! options is edit one XML file per zone. So this reads the zone as the
//! tree has it (/etc/firewalld/zones/Z.xml, or the vendor default in
//! /usr/lib/firewalld/zones when /etc has none, as firewalld itself
//! falls back), adds or removes `<service>`, `<port>` and `<source>`
//! elements and writes the result to /etc, keeping every other element,
//! attribute and comment (firewalld.zone(5)). Ports and services go to the
//! default zone (`DefaultZone=` in /etc/firewalld/firewalld.conf, else
//! `public`); `[[zones]]` bind sources to a named zone. Like osbuild, an
//! unknown service or zone fails the build instead of producing a zone
//! firewalld would refuse at boot. Port names (`imap:tcp`) are resolved
//! with the tree's /etc/services now, so a typo fails here too.

use super::Env;
use crate::manifest::blueprint::*;
use crate::manifest::rules::{self, Ports};
use anyhow::{bail, Context, Result};
use std::path::Path;

pub fn apply(env: &Env, f: &Firewall) -> Result<()> {
    let root = &env.root;
    if !root.join("usr/lib/firewalld").is_dir() {
        bail!("firewalld is not in the tree (no /usr/lib/firewalld): add firewalld to the package set to use [customizations.firewall]");
    }
    let default = default_zone(root)?;
    let services = f.services.clone().unwrap_or_default();
    if !f.ports.is_empty() || !services.enabled.is_empty() || !services.disabled.is_empty() {
        let mut zone = Zone::load(root, &default)?;
        for p in &f.ports {
            let (port, proto) = parse_port(root, p)?;
            zone.add(
                "port",
                &[("port", port.as_str()), ("protocol", proto.as_str())],
            );
        }
        for s in &services.enabled {
            check_service(root, s)?;
            zone.add("service", &[("name", s.as_str())]);
        }
        for s in &services.disabled {
            check_service(root, s)?;
            zone.remove("service", "name", s);
        }
        zone.save(env)?;
    }
    for z in &f.zones {
        let name = z.name.as_deref().unwrap_or(&default);
        let mut zone = Zone::load(root, name)?;
        for s in &z.sources {
            let (attr, value) = source_attr(s).with_context(|| format!("zone {name}"))?;
            zone.add("source", &[(attr, value)]);
        }
        zone.save(env)?;
    }
    Ok(())
}

/// `DefaultZone=` from /etc/firewalld/firewalld.conf, else `public`.
fn default_zone(root: &Path) -> Result<String> {
    let conf = root.join("etc/firewalld/firewalld.conf");
    let text = match std::fs::read_to_string(&conf) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok("public".into()),
        Err(e) => return Err(e).context("reading /etc/firewalld/firewalld.conf"),
    };
    let zone = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.strip_prefix("DefaultZone="))
        .map(|v| v.trim().trim_matches('"').to_string())
        .next_back()
        .filter(|v| !v.is_empty());
    Ok(zone.unwrap_or_else(|| "public".into()))
}

/// A firewalld name (zone or service): a plain file name.
fn check_name(kind: &str, name: &str) -> Result<()> {
    Ok(rules::firewalld_name(kind, name)?)
}

fn check_service(root: &Path, name: &str) -> Result<()> {
    check_name("service", name)?;
    for dir in ["etc/firewalld/services", "usr/lib/firewalld/services"] {
        if root.join(dir).join(format!("{name}.xml")).is_file() {
            return Ok(());
        }
    }
    bail!("firewalld service {name} is not defined in the tree (/etc/firewalld/services or /usr/lib/firewalld/services)")
}

/// `22:tcp`, `8000-8080:udp`, `imap:tcp` → (`22`, `tcp`) etc. The shape
/// is `rules::port_spec`'s (judged by validation too); only a name's
/// lookup in the tree's /etc/services happens here.
fn parse_port(root: &Path, spec: &str) -> Result<(String, String)> {
    let (ports, proto) = rules::port_spec(spec)?;
    let value = match ports {
        Ports::Range(a, b) if a == b => a.to_string(),
        Ports::Range(a, b) => format!("{a}-{b}"),
        Ports::Named(p) => service_port(root, &p, proto)
            .with_context(|| format!("port {spec:?}"))?
            .with_context(|| {
                format!("port {spec:?}: {p}/{proto} is not in the tree's /etc/services")
            })?
            .to_string(),
    };
    Ok((value, proto.to_string()))
}

/// Looks a port name up in the tree's /etc/services (names and aliases).
fn service_port(root: &Path, name: &str, proto: &str) -> Result<Option<u16>> {
    let text = match std::fs::read_to_string(root.join("etc/services")) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).context("reading /etc/services"),
    };
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default();
        let mut words = line.split_whitespace();
        let (Some(first), Some(port)) = (words.next(), words.next()) else {
            continue;
        };
        let Some((num, p)) = port.split_once('/') else {
            continue;
        };
        if p == proto && (first == name || words.any(|a| a == name)) {
            return Ok(num.parse().ok());
        }
    }
    Ok(None)
}

/// `--add-source` accepts an address or network, a MAC or `ipset:NAME`.
fn source_attr(s: &str) -> Result<(&'static str, &str)> {
    Ok(rules::firewall_source(s)?)
}

/// A zone file held as a small element tree, so that whatever else it
/// says (targets, rich rules, forward ports, comments) survives.
struct Zone {
    name: String,
    root: Elem,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Elem(Elem),
    Text(String),
    Comment(String),
}

#[derive(Debug, Clone, PartialEq)]
struct Elem {
    name: String,
    attrs: Vec<(String, String)>,
    children: Vec<Node>,
}

impl Zone {
    /// /etc/firewalld/zones/NAME.xml, else the vendor one.
    fn load(root: &Path, name: &str) -> Result<Zone> {
        check_name("zone", name)?;
        let file = format!("{name}.xml");
        let etc = root.join("etc/firewalld/zones").join(&file);
        let vendor = root.join("usr/lib/firewalld/zones").join(&file);
        let path = if etc.is_file() {
            etc
        } else if vendor.is_file() {
            vendor
        } else {
            bail!("firewalld zone {name} is not defined in the tree (/etc/firewalld/zones or /usr/lib/firewalld/zones)");
        };
        let text =
            std::fs::read_to_string(&path).with_context(|| format!("reading zone {name}"))?;
        let doc = roxmltree::Document::parse(&text)
            .with_context(|| format!("parsing {}", path.display()))?;
        let top = doc.root_element();
        if top.tag_name().name() != "zone" {
            bail!(
                "{}: root element is <{}>, not <zone>",
                path.display(),
                top.tag_name().name()
            );
        }
        Ok(Zone {
            name: name.to_string(),
            root: convert(top),
        })
    }

    /// Adds `<tag attrs/>` unless an equal element is there; it goes after
    /// the last element of the same kind, or at the end.
    fn add(&mut self, tag: &str, attrs: &[(&str, &str)]) {
        let new = Elem {
            name: tag.into(),
            attrs: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            children: Vec::new(),
        };
        let same = |n: &Node| matches!(n, Node::Elem(e) if e.name == tag && attrs.iter().all(|(k, v)| e.attr(k) == Some(v)));
        let kids = &mut self.root.children;
        if kids.iter().any(same) {
            return;
        }
        let at = kids
            .iter()
            .rposition(|n| matches!(n, Node::Elem(e) if e.name == tag))
            .map_or(kids.len(), |i| i + 1);
        kids.insert(at, Node::Elem(new));
    }

    /// Removes every `<tag key="value">`.
    fn remove(&mut self, tag: &str, key: &str, value: &str) {
        self.root
            .children
            .retain(|n| !matches!(n, Node::Elem(e) if e.name == tag && e.attr(key) == Some(value)));
    }

    /// Writes /etc/firewalld/zones/NAME.xml (mode 0644, mtime clamped).
    fn save(&self, env: &Env) -> Result<()> {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
        write_elem(&mut out, &self.root, 0);
        let path = format!("/etc/firewalld/zones/{}.xml", self.name);
        super::firstboot::write_file(env, &path, &out, 0o644)
    }
}

impl Elem {
    fn attr(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

fn convert(n: roxmltree::Node) -> Elem {
    let children = n
        .children()
        .filter_map(|c| match c.node_type() {
            roxmltree::NodeType::Element => Some(Node::Elem(convert(c))),
            roxmltree::NodeType::Text => {
                let t = c.text().unwrap_or_default();
                (!t.trim().is_empty()).then(|| Node::Text(t.trim().to_string()))
            }
            roxmltree::NodeType::Comment => {
                Some(Node::Comment(c.text().unwrap_or_default().to_string()))
            }
            _ => None,
        })
        .collect();
    Elem {
        name: n.tag_name().name().to_string(),
        attrs: n
            .attributes()
            .map(|a| (a.name().to_string(), a.value().to_string()))
            .collect(),
        children,
    }
}

fn escape(s: &str, attr: bool) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' if attr => o.push_str("&quot;"),
            '\n' if attr => o.push_str("&#10;"),
            _ => o.push(c),
        }
    }
    o
}

/// Writes `e` indented by two spaces a level; an element holding only
/// text stays on one line.
fn write_elem(out: &mut String, e: &Elem, depth: usize) {
    let pad = "  ".repeat(depth);
    out.push_str(&pad);
    out.push('<');
    out.push_str(&e.name);
    for (k, v) in &e.attrs {
        out.push_str(&format!(" {k}=\"{}\"", escape(v, true)));
    }
    if e.children.is_empty() {
        out.push_str("/>\n");
        return;
    }
    if e.children.iter().all(|c| matches!(c, Node::Text(_))) {
        out.push('>');
        for c in &e.children {
            if let Node::Text(t) = c {
                out.push_str(&escape(t, false));
            }
        }
        out.push_str(&format!("</{}>\n", e.name));
        return;
    }
    out.push_str(">\n");
    for c in &e.children {
        match c {
            Node::Elem(k) => write_elem(out, k, depth + 1),
            Node::Text(t) => out.push_str(&format!("{pad}  {}\n", escape(t, false))),
            Node::Comment(t) => {
                out.push_str(&format!("{pad}  <!--{}-->\n", t.replace("--", "- -")))
            }
        }
    }
    out.push_str(&format!("{pad}</{}>\n", e.name));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const PUBLIC: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<zone>
  <short>Public</short>
  <description>For use in public areas. You do not trust the other computers &amp; networks.</description>
  <service name="ssh"/>
  <service name="dhcpv6-client"/>
  <service name="cockpit"/>
  <!-- keep me -->
  <forward/>
</zone>
"#;

    fn tree() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        for (p, t) in [
            ("usr/lib/firewalld/zones/public.xml", PUBLIC),
            (
                "usr/lib/firewalld/zones/trusted.xml",
                "<zone target=\"ACCEPT\"><short>Trusted</short></zone>",
            ),
            (
                "usr/lib/firewalld/zones/internal.xml",
                "<zone><short>Internal</short></zone>",
            ),
            ("usr/lib/firewalld/services/ssh.xml", "<service/>"),
            ("usr/lib/firewalld/services/cockpit.xml", "<service/>"),
            ("usr/lib/firewalld/services/dhcpv6-client.xml", "<service/>"),
            ("etc/firewalld/services/mine.xml", "<service/>"),
            (
                "etc/services",
                "ssh 22/tcp\nimap 143/tcp imap2 # comment\nimap 143/udp imap2\n",
            ),
        ] {
            let p = r.join(p);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, t).unwrap();
        }
        d
    }

    fn env(root: &Path) -> Env {
        Env {
            root: root.to_path_buf(),
            manifest_dir: root.to_path_buf(),
            source_date_epoch: 0,
            releasever: "9".into(),
        }
    }

    fn fw(
        ports: &[&str],
        enabled: &[&str],
        disabled: &[&str],
        zones: &[(Option<&str>, &[&str])],
    ) -> Firewall {
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        Firewall {
            ports: v(ports),
            services: Some(FirewallServices {
                enabled: v(enabled),
                disabled: v(disabled),
            }),
            zones: zones
                .iter()
                .map(|(n, s)| FirewallZone {
                    name: n.map(str::to_string),
                    sources: v(s),
                })
                .collect(),
        }
    }

    /// (tag, attrs) of the zone's child elements, in order.
    fn elements(root: &Path, zone: &str) -> Vec<(String, Vec<(String, String)>)> {
        let text =
            fs::read_to_string(root.join(format!("etc/firewalld/zones/{zone}.xml"))).unwrap();
        let doc = roxmltree::Document::parse(&text).unwrap();
        assert_eq!(doc.root_element().tag_name().name(), "zone");
        doc.root_element()
            .children()
            .filter(|n| n.is_element())
            .map(|n| {
                let a = n
                    .attributes()
                    .map(|a| (a.name().to_string(), a.value().to_string()))
                    .collect();
                (n.tag_name().name().to_string(), a)
            })
            .collect()
    }

    fn has(els: &[(String, Vec<(String, String)>)], tag: &str, attrs: &[(&str, &str)]) -> bool {
        els.iter().any(|(t, a)| {
            t == tag
                && a.len() == attrs.len()
                && attrs
                    .iter()
                    .all(|(k, v)| a.iter().any(|(x, y)| x == k && y == v))
        })
    }

    #[test]
    fn default_zone_gets_ports_and_services_and_keeps_the_rest() {
        let t = tree();
        let r = t.path();
        let f = fw(
            &["22:tcp", "8000-8080:udp", "imap2:udp", "9090:tcp"],
            &["mine", "ssh"],
            &["cockpit"],
            &[],
        );
        apply(&env(r), &f).unwrap();
        let els = elements(r, "public");
        assert!(has(&els, "port", &[("port", "22"), ("protocol", "tcp")]));
        assert!(has(
            &els,
            "port",
            &[("port", "8000-8080"), ("protocol", "udp")]
        ));
        assert!(has(&els, "port", &[("port", "143"), ("protocol", "udp")]));
        assert!(has(&els, "service", &[("name", "mine")]));
        assert!(has(&els, "service", &[("name", "dhcpv6-client")]));
        assert!(!has(&els, "service", &[("name", "cockpit")]));
        assert_eq!(
            els.iter()
                .filter(|(t, a)| t == "service" && a[0].1 == "ssh")
                .count(),
            1
        );
        assert!(has(&els, "forward", &[]));
        let text = fs::read_to_string(r.join("etc/firewalld/zones/public.xml")).unwrap();
        let doc = roxmltree::Document::parse(&text).unwrap();
        let desc = doc
            .descendants()
            .find(|n| n.has_tag_name("description"))
            .unwrap();
        assert!(desc.text().unwrap().contains("computers & networks"));
        assert!(text.contains("<!-- keep me -->"), "{text}");
        let mtime = fs::metadata(r.join("etc/firewalld/zones/public.xml"))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(mtime, std::time::UNIX_EPOCH, "clamped to SOURCE_DATE_EPOCH");
        // The vendor file is untouched; a second run changes nothing.
        assert_eq!(
            fs::read_to_string(r.join("usr/lib/firewalld/zones/public.xml")).unwrap(),
            PUBLIC
        );
        apply(&env(r), &f).unwrap();
        assert_eq!(
            fs::read_to_string(r.join("etc/firewalld/zones/public.xml")).unwrap(),
            text
        );
    }

    #[test]
    fn zones_and_default_zone_from_config() {
        let t = tree();
        let r = t.path();
        fs::write(
            r.join("etc/firewalld/firewalld.conf"),
            "# DefaultZone=trusted\nDefaultZone=internal\n",
        )
        .unwrap();
        let f = fw(
            &["443:tcp"],
            &[],
            &[],
            &[
                (
                    Some("trusted"),
                    &["10.0.0.0/8", "fd00::/8", "52:54:00:12:34:56", "ipset:lab"],
                ),
                (None, &["192.168.1.1"]),
            ],
        );
        apply(&env(r), &f).unwrap();
        let trusted = elements(r, "trusted");
        assert!(has(&trusted, "short", &[]));
        assert!(has(&trusted, "source", &[("address", "10.0.0.0/8")]));
        assert!(has(&trusted, "source", &[("address", "fd00::/8")]));
        assert!(has(&trusted, "source", &[("mac", "52:54:00:12:34:56")]));
        assert!(has(&trusted, "source", &[("ipset", "lab")]));
        let text = fs::read_to_string(r.join("etc/firewalld/zones/trusted.xml")).unwrap();
        assert!(text.contains("<zone target=\"ACCEPT\">"), "{text}");
        let internal = elements(r, "internal");
        assert!(has(
            &internal,
            "port",
            &[("port", "443"), ("protocol", "tcp")]
        ));
        assert!(has(&internal, "source", &[("address", "192.168.1.1")]));
        assert!(!r.join("etc/firewalld/zones/public.xml").exists());
        // An /etc zone is the starting point when present.
        apply(&env(r), &fw(&["444:tcp"], &[], &[], &[])).unwrap();
        let internal = elements(r, "internal");
        assert!(has(
            &internal,
            "port",
            &[("port", "443"), ("protocol", "tcp")]
        ));
        assert!(has(
            &internal,
            "port",
            &[("port", "444"), ("protocol", "tcp")]
        ));
    }

    #[test]
    fn refusals_name_what_is_wrong() {
        let t = tree();
        let r = t.path();
        let err = |f: Firewall| format!("{:#}", apply(&env(r), &f).unwrap_err());
        assert!(err(fw(&[], &["nosuch"], &[], &[])).contains("service nosuch"));
        assert!(err(fw(&[], &[], &["gone"], &[])).contains("service gone"));
        assert!(err(fw(&["22"], &[], &[], &[])).contains("\"22\""));
        assert!(err(fw(&["22:icmp"], &[], &[], &[])).contains("protocol"));
        assert!(err(fw(&["0:tcp"], &[], &[], &[])).contains("not a port number"));
        assert!(err(fw(&["90-80:tcp"], &[], &[], &[])).contains("backwards"));
        assert!(err(fw(&["nope:tcp"], &[], &[], &[])).contains("/etc/services"));
        assert!(err(fw(&[], &[], &[], &[(Some("dmz"), &["1.2.3.4"])])).contains("zone dmz"));
        assert!(
            err(fw(&[], &[], &[], &[(Some("trusted"), &["not-an-address"])]))
                .contains("not-an-address")
        );
        assert!(err(fw(&[], &[], &[], &[(Some("../x"), &["1.2.3.4"])])).contains("not a valid"));
        assert!(
            !r.join("etc/firewalld/zones").exists(),
            "nothing written on refusal"
        );
        fs::remove_dir_all(r.join("usr/lib/firewalld")).unwrap();
        assert!(err(fw(&["22:tcp"], &[], &[], &[])).contains("add firewalld to the package set"));
    }
}
