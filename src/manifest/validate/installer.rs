//! Installer-side customizations (iso-installer only; the output check
//! refuses them elsewhere): Anaconda settings, ISO metadata, FDO,
//! Ignition and the installation device, with osbuild's own rules.

use super::{judge, keys};
use crate::distro::DistroDef;
use crate::manifest::blueprint::Customizations;
use crate::manifest::ours::OutputType;
use crate::manifest::rules;
use crate::manifest::Seg;
use crate::manifest::{Diagnostic, Document};

/// Anaconda's module for users and groups.
const USERS_MODULE: &str = "org.fedoraproject.Anaconda.Modules.Users";

pub(super) fn check(doc: &Document, c: &Customizations, out: &mut Vec<Diagnostic>) {
    if let Some(i) = &c.installer {
        let at = |k: &str| keys!["customizations", "installer", k];
        if i.kickstart.is_some() {
            if i.unattended == Some(true) {
                out.push(
                    doc.diag(&at("unattended"), "unattended = true cannot be combined with a kickstart of your own")
                        .hint("put the unattended settings in [customizations.installer.kickstart] contents"),
                );
            }
            if !i.sudo_nopasswd.is_empty() {
                out.push(doc.diag(
                    &at("sudo-nopasswd"),
                    "sudo-nopasswd cannot be combined with a kickstart of your own",
                ));
            }
        }
        for (j, n) in i.sudo_nopasswd.iter().enumerate() {
            let name = n.strip_prefix('%').unwrap_or(n);
            judge(
                doc,
                out,
                &keys!["customizations", "installer", "sudo-nopasswd", j],
                rules::account_name("user or %group", name),
            );
        }
        if let Some(m) = &i.modules {
            if let Some(j) = m.disable.iter().position(|x| x == USERS_MODULE) {
                if !c.user.is_empty() || !c.group.is_empty() {
                    out.push(doc.diag(
                        &keys!["customizations", "installer", "modules", "disable", j],
                        "the Users module cannot be disabled while [[customizations.user]] or [[customizations.group]] is set",
                    ));
                }
            }
            for (list, mods) in [("enable", &m.enable), ("disable", &m.disable)] {
                for (j, x) in mods.iter().enumerate() {
                    if !x.starts_with("org.fedoraproject.Anaconda.Modules.") {
                        out.push(
                            doc.diag(
                                &keys!["customizations", "installer", "modules", list, j],
                                format!("{x:?} is not an Anaconda module name"),
                            )
                            .hint("modules are named org.fedoraproject.Anaconda.Modules.NAME"),
                        );
                    }
                }
            }
        }
        if let Some(t) = i
            .bootloader
            .as_ref()
            .and_then(|b| b.grub2.as_ref())
            .and_then(|g| g.menu_timeout)
        {
            if t < -1 {
                out.push(doc.diag(
                    &keys![
                        "customizations",
                        "installer",
                        "bootloader",
                        "grub2",
                        "menu-timeout"
                    ],
                    format!("menu-timeout {t} is negative (-1 waits forever)"),
                ));
            }
        }
    }
    if let Some(iso) = &c.iso {
        let at = |k: &str| keys!["customizations", "iso", k];
        match &iso.volume_id {
            Some(v) => {
                judge(doc, out, &at("volume_id"), rules::volume_id(v));
            }
            None => out.push(doc.diag(
                &keys!["customizations", "iso"],
                "[customizations.iso] needs volume_id",
            )),
        }
        for (k, v) in [
            ("application_id", &iso.application_id),
            ("publisher", &iso.publisher),
        ] {
            if let Some(v) = v {
                if v.len() > 128 {
                    out.push(doc.diag(&at(k), format!("{k} is at most 128 characters (ISO 9660)")));
                }
            }
        }
    }
    if let Some(f) = &c.fdo {
        let at = |k: &str| keys!["customizations", "fdo", k];
        match &f.manufacturing_server_url {
            Some(u) => {
                judge(
                    doc,
                    out,
                    &at("manufacturing_server_url"),
                    rules::url("manufacturing_server_url", u, &rules::WEB_SCHEMES),
                );
            }
            None => out.push(doc.diag(
                &keys!["customizations", "fdo"],
                "[customizations.fdo] needs manufacturing_server_url",
            )),
        }
        let keys = [
            f.diun_pub_key_insecure.is_some(),
            f.diun_pub_key_hash.is_some(),
            f.diun_pub_key_root_certs.is_some(),
        ];
        if keys.iter().filter(|k| **k).count() != 1 {
            out.push(doc.diag(
                &keys!["customizations", "fdo"],
                "[customizations.fdo] needs exactly one of diun_pub_key_insecure, diun_pub_key_hash, diun_pub_key_root_certs",
            ));
        }
    }
    if let Some(ig) = &c.ignition {
        if let Some(e) = &ig.embedded {
            let ok = !e.config.trim().is_empty()
                && e.config
                    .trim()
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+/=\n\r".contains(&b));
            if !ok {
                out.push(doc.diag(
                    &keys!["customizations", "ignition", "embedded", "config"],
                    "the embedded Ignition config must be base64",
                ));
            }
            if ig.firstboot.is_some() {
                out.push(doc.diag(
                    &keys!["customizations", "ignition", "firstboot"],
                    "ignition embedded and firstboot are exclusive",
                ));
            }
        }
        if let Some(fb) = &ig.firstboot {
            let at = |k: &str| keys!["customizations", "ignition", "firstboot", k];
            match (&fb.url, fb.empty) {
                (Some(_), Some(true)) => out.push(doc.diag(
                    &at("empty"),
                    "ignition firstboot: url and empty are exclusive",
                )),
                (Some(u), _) => {
                    judge(
                        doc,
                        out,
                        &at("url"),
                        rules::url("ignition url", u, &rules::WEB_SCHEMES),
                    );
                }
                (None, _) => {}
            }
        }
    }
    if let Some(d) = c.installation_device.as_deref().filter(|d| !d.is_empty()) {
        let p = keys!["customizations", "installation_device"];
        if judge(doc, out, &p, rules::image_path(d)).is_some() && !d.starts_with("/dev/") {
            out.push(doc.diag(
                &p,
                format!("installation_device {d:?} is not a device under /dev"),
            ));
        }
    }
}

/// What only the kickstart of an `iso-installer` needs: a kickstart of
/// your own that names no payload (the generated one appends it), and a
/// bootc payload only where the release's Anaconda has `ostreecontainer`
/// (AlmaLinux 9 on). `kickstart::generate` calls the same rules.
pub(super) fn check_kickstart(
    doc: &Document,
    distro: &DistroDef,
    types: &[(Vec<Seg>, OutputType)],
    out: &mut Vec<Diagnostic>,
) {
    let Some((at, _)) = types.iter().find(|(_, t)| *t == OutputType::IsoInstaller) else {
        return;
    };
    let m = &doc.manifest;
    if let Some(k) = m
        .customizations
        .as_ref()
        .and_then(|c| c.installer.as_ref())
        .and_then(|i| i.kickstart.as_ref())
    {
        judge(
            doc,
            out,
            &keys!["customizations", "installer", "kickstart", "contents"],
            rules::kickstart_contents(&k.contents),
        );
    }
    // The fixture (major 1) stands in for AlmaLinux 10.
    if m.base.is_some() && (2..9).contains(&distro.major) {
        out.push(
            doc.diag(
                at,
                format!(
                    "{} cannot install a bootc image from an installer ISO: kickstart's ostreecontainer exists from AlmaLinux 9 on",
                    distro.name
                ),
            )
            .hint("build the installer from packages (drop [base]) or use almalinux-9 or later"),
        );
    }
}
