//! Checks that need the distro and arch models: does the distro exist,
//! does it build for the requested arches, can every chosen output honor
//! every customization, do the boot settings make sense on each arch.
//!
//! Every problem found is reported, not just the first, each pointing at
//! the key it is about.

use super::ours::{Firmware, OutputType, SecureBootMode};
use super::{diag, Diagnostic, Document, Seg};
use crate::distro::{self, arch, DistroDef};

/// What the command line adds to a manifest.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// `--arch`: build only these (must be among the manifest's, if it names any).
    pub arches: Vec<String>,
    /// `--type`: output types to build instead of the manifest's `[[output]]`.
    pub types: Vec<String>,
    /// `--only`: names of the manifest's outputs to build.
    pub only: Vec<String>,
    /// `--mirror`: mirror root for the distro repos (wins over `[build] mirror`).
    pub mirror: Option<String>,
}

/// Which outputs can honor a customization, and why not otherwise.
/// Names are the TOML keys under `[customizations]`.
pub fn customization_support(name: &str, t: OutputType) -> Result<(), &'static str> {
    use OutputType::*;
    match name {
        "filesystem" | "disk" | "partitioning_mode" => {
            if t.is_disk() || t == IsoInstaller {
                Ok(())
            } else {
                Err("it lays out partitions, and this output has no disk")
            }
        }
        "installer" | "installation_device" | "fdo" => {
            if t == IsoInstaller {
                Ok(())
            } else {
                Err("it configures the installer, and only iso-installer has one")
            }
        }
        "ignition" => {
            if t.is_disk() || t == IsoInstaller {
                Ok(())
            } else {
                Err("Ignition runs on first boot of a disk image")
            }
        }
        "kernel" | "fips" => {
            if matches!(t, Tar | Directory) {
                Err("a tar archive or directory has no boot loader to pass kernel arguments to")
            } else {
                Ok(())
            }
        }
        "rhsm" | "subscription" => Err("Red Hat Subscription Manager does not exist on AlmaLinux"),
        "wsl" => Err("this tool does not build WSL images"),
        _ => Ok(()),
    }
}

/// Effective distro id of a manifest.
pub fn distro_name(doc: &Document) -> &str {
    doc.manifest
        .distro
        .as_deref()
        .filter(|s| !s.is_empty())
        .unwrap_or(distro::DEFAULT_DISTRO)
}

/// Checks the manifest against the models. On success returns the distro.
pub fn check(doc: &Document, sel: &Selection) -> Result<&'static DistroDef, Vec<Diagnostic>> {
    let m = &doc.manifest;
    let mut out: Vec<Diagnostic> = vec![];
    let file = doc.file();

    let name = distro_name(doc);
    let distro = match distro::lookup(name) {
        Err(e) => {
            return Err(vec![Diagnostic::at(
                &file,
                &doc.text,
                None,
                format!("internal distro data: {e}"),
            )])
        }
        Ok(Some(d)) => d,
        Ok(None) => {
            let ids = distro::ids();
            let mut d = doc.diag(&["distro".into()], format!("unknown distro \"{name}\""));
            if let Some(n) = diag::nearest(name, ids.iter().copied()) {
                d = d.hint(format!("did you mean \"{n}\"?"));
            }
            return Err(vec![d.hint(format!("known distros: {}", ids.join(", ")))]);
        }
    };

    // Arches: manifest spellings first, then the command line.
    let mut listed: Vec<(Vec<Seg>, &str)> = vec![];
    if let Some(a) = m.architecture.as_deref() {
        listed.push((vec!["architecture".into()], a));
    }
    for (i, a) in m.architectures.iter().enumerate() {
        listed.push((vec!["architectures".into(), i.into()], a));
    }
    for (path, a) in &listed {
        check_arch(doc, distro, path, a, &mut out);
    }
    for a in &sel.arches {
        match arch::lookup(a) {
            None => out.push(arch_diag(&file, a, "--arch")),
            Some(ar)
                if !listed.is_empty()
                    && !listed
                        .iter()
                        .any(|(_, l)| arch::lookup(l).map(|x| x.name) == Some(ar.name)) =>
            {
                out.push(
                    Diagnostic::at(
                        &file,
                        &doc.text,
                        None,
                        format!("--arch {a} is not among the manifest's architectures"),
                    )
                    .hint(format!(
                        "the manifest builds for: {}",
                        listed
                            .iter()
                            .map(|(_, l)| *l)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                )
            }
            Some(ar) if !distro.supports_arch(ar.name) => out.push(Diagnostic::at(
                &file,
                &doc.text,
                None,
                format!("{} is not built for {a} (--arch)", distro.name),
            )),
            Some(_) => {}
        }
    }
    if !m.architecture.as_deref().unwrap_or_default().is_empty() && !m.architectures.is_empty() {
        out.push(
            doc.diag(
                &["architecture".into()],
                "both `architecture` and `architectures` are set",
            )
            .hint("use `architectures = [...]` alone to build several"),
        );
    }

    // Outputs.
    let mut names = std::collections::BTreeSet::new();
    for (i, o) in m.output.iter().enumerate() {
        if !names.insert(o.name()) {
            out.push(
                doc.diag(
                    &["output".into(), i.into()],
                    format!("two outputs are named \"{}\"", o.name()),
                )
                .hint("give one of them a distinct `name`"),
            );
        }
        check_output_options(doc, i, o, &mut out);
    }
    for t in &sel.types {
        if OutputType::parse(t).is_none() {
            let all: Vec<&str> = OutputType::ALL.iter().map(|t| t.as_str()).collect();
            let mut d = Diagnostic::at(
                &file,
                &doc.text,
                None,
                format!("unknown output type \"{t}\" (--type)"),
            );
            if let Some(n) = diag::nearest(t, all.iter().copied()) {
                d = d.hint(format!("did you mean \"{n}\"?"));
            }
            out.push(d.hint(format!("output types: {}", all.join(", "))));
        }
    }
    for o in &sel.only {
        if !m.output.iter().any(|x| x.name() == *o) {
            let have: Vec<String> = m.output.iter().map(|x| x.name()).collect();
            let mut d = Diagnostic::at(
                &file,
                &doc.text,
                None,
                format!("--only {o}: the manifest has no output of that name"),
            );
            if let Some(n) = diag::nearest(o, have.iter().map(String::as_str)) {
                d = d.hint(format!("did you mean \"{n}\"?"));
            }
            out.push(d);
        }
    }

    // Customizations each chosen output must honor.
    let types = selected_types(doc, sel);
    if let Some(c) = &m.customizations {
        for name in c.present() {
            for (_, t) in &types {
                if let Err(why) = customization_support(name, *t) {
                    out.push(
                        doc.diag(
                            &["customizations".into(), name.into()],
                            format!(
                                "customization `{name}` cannot be honored by the {t} output: {why}"
                            ),
                        )
                        .hint(format!(
                            "remove [customizations.{name}] or build a different output type"
                        )),
                    );
                }
            }
        }
    }

    // Modularity.
    if !distro.modularity {
        if !m.enabled_modules.is_empty() {
            out.push(doc.diag(
                &["enabled_modules".into()],
                format!("{} has no module streams", distro.name),
            ));
        }
        if !m.modules.is_empty() {
            out.push(doc.diag(
                &["modules".into()],
                format!("{} has no module streams", distro.name),
            ));
        }
    }

    if let Some(c) = &m.customizations {
        for (i, f) in c.filesystem.iter().enumerate() {
            if let Err(why) = super::mountpoint::check(&f.mountpoint) {
                out.push(doc.diag(
                    &[
                        "customizations".into(),
                        "filesystem".into(),
                        i.into(),
                        "mountpoint".into(),
                    ],
                    why,
                ));
            }
        }
    }
    check_disk_partitions(doc, &mut out);
    check_boot(doc, distro, &mut out);
    check_repositories(doc, &mut out);

    if out.is_empty() {
        Ok(distro)
    } else {
        Err(out)
    }
}

/// `[[customizations.disk.partitions]]` the disk builder can make: plain
/// xfs/ext4 filesystems and swap. LVM and btrfs are refused at their
/// `type` line until the builder supports them, so nothing is silently
/// laid out differently from what was asked.
fn check_disk_partitions(doc: &Document, out: &mut Vec<Diagnostic>) {
    use super::blueprint::Partition;
    let Some(d) = doc
        .manifest
        .customizations
        .as_ref()
        .and_then(|c| c.disk.as_ref())
    else {
        return;
    };
    for (i, p) in d.partitions.iter().enumerate() {
        let at = |key: &str| -> Vec<Seg> {
            vec![
                "customizations".into(),
                "disk".into(),
                "partitions".into(),
                i.into(),
                key.into(),
            ]
        };
        match p {
            Partition::Lvm(l) => {
                let what = l
                    .name
                    .as_deref()
                    .map(|n| format!("volume group \"{n}\""))
                    .unwrap_or_else(|| "a volume group".into());
                out.push(
                    doc.diag(
                        &at("type"),
                        format!(
                            "LVM is not supported yet: {what} with {} logical volume(s) cannot be built",
                            l.logical_volumes.len()
                        ),
                    )
                    .hint("use plain partitions (type = \"plain\") or [[customizations.filesystem]]"),
                );
            }
            Partition::Btrfs(_) => out.push(
                doc.diag(
                    &at("type"),
                    "btrfs partitions are not supported yet by the disk builder",
                )
                .hint("use plain partitions with fs_type = \"xfs\" or \"ext4\""),
            ),
            Partition::Plain(p) => {
                let fs = p.fs_type.as_deref();
                if let Some(f) = fs {
                    if !matches!(f, "xfs" | "ext4" | "swap") {
                        out.push(
                            doc.diag(
                                &at("fs_type"),
                                format!("fs_type \"{f}\" is not supported for a plain partition"),
                            )
                            .hint("fs_type: \"xfs\", \"ext4\" or \"swap\""),
                        );
                        continue;
                    }
                }
                match (&p.mountpoint, fs) {
                    (Some(_), Some("swap")) => {
                        out.push(doc.diag(&at("mountpoint"), "a swap partition has no mountpoint"))
                    }
                    (None, Some("swap")) => {}
                    (None, _) => out.push(doc.diag(
                        &at("minsize"),
                        "a plain partition needs a mountpoint (or fs_type = \"swap\")",
                    )),
                    (Some(mp), _) => {
                        if let Err(why) = super::mountpoint::check(mp) {
                            out.push(doc.diag(&at("mountpoint"), why));
                        }
                    }
                }
            }
        }
    }
}

/// Output types that will be built, each with the manifest path to blame.
pub fn selected_types(doc: &Document, sel: &Selection) -> Vec<(Vec<Seg>, OutputType)> {
    if !sel.types.is_empty() {
        return sel
            .types
            .iter()
            .filter_map(|t| OutputType::parse(t))
            .map(|t| (vec![], t))
            .collect();
    }
    doc.manifest
        .output
        .iter()
        .enumerate()
        .filter(|(_, o)| sel.only.is_empty() || sel.only.contains(&o.name()))
        .map(|(i, o)| {
            (
                vec![Seg::from("output"), Seg::from(i), Seg::from("type")],
                o.kind,
            )
        })
        .collect()
}

fn arch_diag(file: &str, a: &str, what: &str) -> Diagnostic {
    let mut d = Diagnostic::at(
        file,
        "",
        None,
        format!("unknown architecture \"{a}\" ({what})"),
    );
    if let Some(n) = diag::nearest(a, arch::names()) {
        d = d.hint(format!("did you mean \"{n}\"?"));
    }
    d.hint(format!("architectures: {}", arch::names().join(", ")))
}

fn check_arch(
    doc: &Document,
    distro: &DistroDef,
    path: &[Seg],
    a: &str,
    out: &mut Vec<Diagnostic>,
) {
    match arch::lookup(a) {
        None => {
            let mut d = doc.diag(path, format!("unknown architecture \"{a}\""));
            if let Some(n) = diag::nearest(a, arch::names()) {
                d = d.hint(format!("did you mean \"{n}\"?"));
            }
            out.push(d.hint(format!("architectures: {}", arch::names().join(", "))));
        }
        Some(ar) if !distro.supports_arch(ar.name) => out.push(
            doc.diag(
                path,
                format!("{} is not built for {}", distro.name, ar.name),
            )
            .hint(format!(
                "{} builds for: {}",
                distro.name,
                distro.arches.join(", ")
            )),
        ),
        Some(_) => {}
    }
}

fn check_output_options(
    doc: &Document,
    i: usize,
    o: &super::ours::Output,
    out: &mut Vec<Diagnostic>,
) {
    let t = o.kind;
    let wrong = |table: &str, fits: &str| {
        doc.diag(
            &["output".into(), i.into(), table.into()],
            format!("[output.{table}] does not apply to a {t} output; it is for {fits}"),
        )
    };
    if o.oci.is_some() && t != OutputType::Oci {
        out.push(wrong("oci", "oci"));
    }
    if o.ostree.is_some() && t != OutputType::Ostree {
        out.push(wrong("ostree", "ostree"));
    }
    if o.iso.is_some() && !t.is_iso() {
        out.push(wrong("iso", "iso-installer and iso-live"));
    }
    if o.ami.is_some() && t != OutputType::Ami {
        out.push(wrong("ami", "ami"));
    }
    if o.vhd.is_some() && t != OutputType::Vhd {
        out.push(wrong("vhd", "vhd"));
    }
    if o.partition_table.is_some() && !t.is_disk() {
        out.push(doc.diag(
            &["output".into(), i.into(), "partition_table".into()],
            format!("a {t} output has no partition table"),
        ));
    }
    if o.size.is_some() && !(t.is_disk() || t == OutputType::IsoInstaller) {
        out.push(doc.diag(
            &["output".into(), i.into(), "size".into()],
            format!("a {t} output has no disk size"),
        ));
    }
    if let Some(iso) = &o.iso {
        if let Some(v) = &iso.volume_id {
            if v.len() > 32 {
                out.push(doc.diag(
                    &["output".into(), i.into(), "iso".into(), "volume_id".into()],
                    "ISO 9660 volume ids are at most 32 characters",
                ));
            }
        }
    }
    if let Some(f) = &o.filename {
        if f.is_empty() || f.contains('/') || f == "." || f == ".." {
            out.push(doc.diag(
                &["output".into(), i.into(), "filename".into()],
                format!("filename \"{f}\" must be a plain file name"),
            ));
        }
    }
}

fn check_boot(doc: &Document, distro: &DistroDef, out: &mut Vec<Diagnostic>) {
    let m = &doc.manifest;
    let Some(b) = &m.boot else { return };
    let arches = super::arches::of(doc, distro, &[]);
    if let Some(fw) = b.firmware {
        for a in &arches {
            let ar = arch::lookup(a).expect("checked");
            // "bios" is the platform's own firmware where there is no UEFI
            // (SLOF, s390 IPL); "hybrid" is every firmware the arch has.
            let bad = match fw {
                Firmware::Uefi | Firmware::Hybrid => !ar.has_uefi(),
                Firmware::Bios => ar.has_uefi() && !ar.bios,
            };
            if bad {
                out.push(doc.diag(
                    &["boot".into(), "firmware".into()],
                    format!("firmware \"{}\" does not exist on {a}", fw.as_str()),
                ));
            }
        }
    }
    if let Some(SecureBootMode::Distro | SecureBootMode::Custom) = b.secureboot {
        if b.firmware == Some(Firmware::Bios) {
            out.push(doc.diag(
                &["boot".into(), "secureboot".into()],
                "Secure Boot needs UEFI, and firmware is \"bios\"",
            ));
        }
    }
    if b.secureboot == Some(SecureBootMode::Custom) {
        let k = b.keys.clone().unwrap_or_default();
        if k.dir.is_none() && (k.db_key.is_none() || k.db_cert.is_none()) {
            out.push(
                doc.diag(&["boot".into(), "secureboot".into()], "secureboot = \"custom\" needs keys")
                    .hint("set [boot.keys] dir = \"...\" (from `image-builder secureboot genkey DIR`) or db_key and db_cert"),
            );
        }
    } else if b.keys.is_some() {
        out.push(doc.diag(
            &["boot".into(), "keys".into()],
            "[boot.keys] is only used with secureboot = \"custom\"",
        ));
    }
}

fn check_repositories(doc: &Document, out: &mut Vec<Diagnostic>) {
    let m = &doc.manifest;
    let mut ids = std::collections::BTreeSet::new();
    for (i, r) in m.repositories.iter().enumerate() {
        let p = |k: &str| vec![Seg::from("repositories"), Seg::from(i), Seg::from(k)];
        if r.id.trim().is_empty() || r.id.contains(char::is_whitespace) || r.id.contains('/') {
            out.push(doc.diag(
                &p("id"),
                format!("repository id \"{}\" must be a non-empty word", r.id),
            ));
        }
        if !ids.insert(r.id.clone()) {
            out.push(doc.diag(&p("id"), format!("two repositories have id \"{}\"", r.id)));
        }
        let urls = r.baseurl.to_vec();
        if urls.is_empty() && r.mirrorlist.is_none() && r.metalink.is_none() {
            out.push(doc.diag(
                &[Seg::from("repositories"), Seg::from(i)],
                format!(
                    "repository \"{}\" needs baseurl, mirrorlist or metalink",
                    r.id
                ),
            ));
        }
        for u in urls
            .iter()
            .chain(r.mirrorlist.iter())
            .chain(r.metalink.iter())
        {
            if !(u.starts_with("http://") || u.starts_with("https://") || u.starts_with("file://"))
            {
                out.push(doc.diag(
                    &p("baseurl"),
                    format!("\"{u}\" is not an http(s):// or file:// URL"),
                ));
            }
        }
        for a in &r.arches {
            if arch::lookup(a).is_none() {
                out.push(doc.diag(&p("arches"), format!("unknown architecture \"{a}\"")));
            }
        }
    }
    let distro_repos = m
        .build
        .as_ref()
        .and_then(|b| b.distro_repos)
        .unwrap_or(true);
    if !distro_repos && m.repositories.is_empty() {
        out.push(
            doc.diag(
                &["build".into(), "distro_repos".into()],
                "distro_repos = false and no [[repositories]]: nothing to install from",
            )
            .hint("add a [[repositories]] table or drop distro_repos = false"),
        );
    }
}
