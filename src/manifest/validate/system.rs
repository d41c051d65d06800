//! System settings: hostname, kernel arguments, time zone and NTP,
//! locale and keyboard, systemd services, sshd options, the firewall.
//! Shapes only; whether the tree has the zone, keymap, unit or firewalld
//! service is the build's to see, since only the tree knows.

use super::{judge, keys};
use crate::manifest::blueprint::Customizations;
use crate::manifest::rules;
use crate::manifest::{Diagnostic, Document};
use std::collections::BTreeMap;

pub(super) fn check(doc: &Document, c: &Customizations, out: &mut Vec<Diagnostic>) {
    if let Some(h) = &c.hostname {
        judge(
            doc,
            out,
            &keys!["customizations", "hostname"],
            rules::hostname(h),
        );
    }
    if let Some(k) = &c.kernel {
        if let Some(a) = &k.append {
            judge(
                doc,
                out,
                &keys!["customizations", "kernel", "append"],
                rules::kernel_cmdline(a),
            );
        }
        if let Some(n) = &k.name {
            if n.is_empty() || n.contains(char::is_whitespace) {
                out.push(doc.diag(
                    &keys!["customizations", "kernel", "name"],
                    format!("kernel name {n:?} is not a package name"),
                ));
            }
        }
    }
    if let Some(t) = &c.timezone {
        if let Some(z) = &t.timezone {
            judge(
                doc,
                out,
                &keys!["customizations", "timezone", "timezone"],
                rules::timezone(z),
            );
        }
        for (i, s) in t.ntpservers.iter().enumerate() {
            judge(
                doc,
                out,
                &keys!["customizations", "timezone", "ntpservers", i],
                rules::host("NTP server", s),
            );
        }
    }
    if let Some(l) = &c.locale {
        for (i, lang) in l.languages.iter().enumerate() {
            judge(
                doc,
                out,
                &keys!["customizations", "locale", "languages", i],
                rules::language(lang),
            );
        }
        if let Some(k) = &l.keyboard {
            judge(
                doc,
                out,
                &keys!["customizations", "locale", "keyboard"],
                rules::keymap(k),
            );
        }
    }
    if let Some(s) = &c.services {
        // One unit, one fate: enabling and disabling (or masking) the
        // same unit is a contradiction the build would settle silently.
        let mut fate: BTreeMap<String, &str> = BTreeMap::new();
        for (list, names) in [
            ("enabled", &s.enabled),
            ("disabled", &s.disabled),
            ("masked", &s.masked),
        ] {
            for (i, n) in names.iter().enumerate() {
                let p = keys!["customizations", "services", list, i];
                let Some(unit) = judge(doc, out, &p, rules::unit_name(n)) else {
                    continue;
                };
                match fate.get(&unit) {
                    Some(other) if *other != list => out.push(
                        doc.diag(&p, format!("unit {unit} is both {other} and {list}"))
                            .hint("keep it in one list"),
                    ),
                    Some(_) => out.push(doc.diag(&p, format!("unit {unit} is listed twice"))),
                    None => {
                        fate.insert(unit, list);
                    }
                }
            }
        }
    }
    if let Some(s) = &c.sshd {
        if let Some(n) = s.client_alive_interval {
            judge(
                doc,
                out,
                &keys!["customizations", "sshd", "client_alive_interval"],
                rules::client_alive_interval(n),
            );
        }
        if let Some(p) = &s.permit_root_login {
            judge(
                doc,
                out,
                &keys!["customizations", "sshd", "permit_root_login"],
                rules::permit_root_login(p),
            );
        }
    }
    if let Some(f) = &c.firewall {
        for (i, p) in f.ports.iter().enumerate() {
            judge(
                doc,
                out,
                &keys!["customizations", "firewall", "ports", i],
                rules::port_spec(p),
            );
        }
        if let Some(s) = &f.services {
            let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
            for (list, names) in [("enabled", &s.enabled), ("disabled", &s.disabled)] {
                for (i, n) in names.iter().enumerate() {
                    let p = keys!["customizations", "firewall", "services", list, i];
                    if judge(doc, out, &p, rules::firewalld_name("service", n)).is_none() {
                        continue;
                    }
                    match seen.insert(n, list) {
                        Some(other) if other != list => out.push(doc.diag(
                            &p,
                            format!("firewall service {n} is both {other} and {list}"),
                        )),
                        _ => {}
                    }
                }
            }
        }
        for (i, z) in f.zones.iter().enumerate() {
            if let Some(n) = &z.name {
                judge(
                    doc,
                    out,
                    &keys!["customizations", "firewall", "zones", i, "name"],
                    rules::firewalld_name("zone", n),
                );
            }
            for (j, s) in z.sources.iter().enumerate() {
                judge(
                    doc,
                    out,
                    &keys!["customizations", "firewall", "zones", i, "sources", j],
                    rules::firewall_source(s),
                );
            }
        }
    }
}
