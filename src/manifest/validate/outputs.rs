//! What an output is and how it boots: per-output option tables
//! (`[output.oci]`, `[output.iso]`, …), `[boot]` (firmware, Secure Boot,
//! UKI, keys, cmdline) and `[base]`, each judged against the output types
//! this run builds.

use super::{judge, keys};
use crate::distro::{arch, DistroDef};
use crate::manifest::ours::{Firmware, OciOptions, OneOrMany, Output, OutputType, SecureBootMode};
use crate::manifest::rules;
use crate::manifest::{Diagnostic, Document, Seg};

pub(super) fn check_output_options(
    doc: &Document,
    i: usize,
    o: &Output,
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
        if let Some(l) = iso.compression_level {
            if !(1..=22).contains(&l) {
                out.push(
                    doc.diag(
                        &keys!["output", i, "iso", "compression_level"],
                        format!("compression_level {l}: zstd levels are 1 to 22"),
                    )
                    .hint("leave it out for mksquashfs's default (15); 3 builds fast"),
                );
            }
        }
        if let Some(v) = &iso.volume_id {
            judge(
                doc,
                out,
                &keys!["output", i, "iso", "volume_id"],
                rules::volume_id(v),
            );
        }
    }
    if let Some(oci) = &o.oci {
        oci_options(doc, i, oci, out);
    }
    if let Some(m) = o.ami.as_ref().and_then(|a| a.boot_mode.as_deref()) {
        const MODES: [&str; 3] = ["uefi", "legacy-bios", "uefi-preferred"];
        if !MODES.contains(&m) {
            out.push(
                doc.diag(
                    &keys!["output", i, "ami", "boot_mode"],
                    format!("unknown boot_mode {m:?}"),
                )
                .hint(format!("boot_mode: {}", MODES.join(", "))),
            );
        }
    }
    if let Some(f) = o.vhd.as_ref().and_then(|v| v.subformat.as_deref()) {
        if f != "fixed" {
            out.push(
                doc.diag(
                    &keys!["output", i, "vhd", "subformat"],
                    format!("vhd subformat {f:?} is not built: this tool writes fixed VHDs (what Azure takes)"),
                )
                .hint("use subformat = \"fixed\" or leave it out"),
            );
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

fn oci_options(doc: &Document, i: usize, o: &OciOptions, out: &mut Vec<Diagnostic>) {
    // Compression and the reference are judged by the plan, which owns
    // the OCI model (`plan::oci_input`).
    for k in o.labels.keys() {
        judge(
            doc,
            out,
            &keys!["output", i, "oci", "labels", k.as_str()],
            rules::oci_label_key(k),
        );
    }
    if o.max_layers == Some(0) {
        out.push(doc.diag(
            &keys!["output", i, "oci", "max_layers"],
            "max_layers must be at least 1",
        ));
    }
}

/// `[base]` names a bootc image: an `oci` (bootc) output derives from it,
/// a disk output deploys it into an OSTree sysroot (`bootc install
/// to-filesystem`'s layout). `output:NAME` names the bootc output of this
/// manifest, composed from packages in the same run. Everything else is
/// refused here, at the output it is about, with what to do instead.
pub(super) fn check_base(
    doc: &Document,
    types: &[(Vec<Seg>, OutputType)],
    out: &mut Vec<Diagnostic>,
) {
    let Some(base) = &doc.manifest.base else {
        return;
    };
    let m = &doc.manifest;
    let own = base.image.strip_prefix(BASE_OUTPUT_PREFIX);
    if let Some(name) = own {
        let named = m.output.iter().find(|o| o.name() == name);
        match named {
            Some(o) if o.kind == OutputType::Oci => {}
            Some(o) => out.push(doc.diag(
                &keys!["base", "image"],
                format!(
                    "[base] image {:?} names the {} output {name:?}; a disk deploys a bootc image, so it must name a bootc (oci) output",
                    base.image, o.kind
                ),
            )),
            None => {
                let names: Vec<String> = m
                    .output
                    .iter()
                    .filter(|o| o.kind == OutputType::Oci)
                    .map(|o| o.name())
                    .collect();
                out.push(
                    doc.diag(
                        &keys!["base", "image"],
                        format!("[base] image {:?}: this manifest has no output named {name:?}", base.image),
                    )
                    .hint(if names.is_empty() {
                        "add an [[output]] with type = \"bootc\" and name it".to_string()
                    } else {
                        format!("bootc outputs here: {}", names.join(", "))
                    }),
                )
            }
        }
    }
    // Disks deploy the bootc output built from [base] when there is one;
    // with several, which one is not ours to guess.
    let bootc_outputs: Vec<String> = m
        .output
        .iter()
        .filter(|o| o.kind == OutputType::Oci)
        .map(|o| o.name())
        .collect();
    for (p, t) in types {
        let at = if p.is_empty() {
            keys!["base"].to_vec()
        } else {
            p.clone()
        };
        if *t == OutputType::Oci {
            // With `output:NAME` the named output is the composed image;
            // another bootc output cannot derive from it in the same run.
            if let Some(name) = own {
                let this = p
                    .get(1)
                    .and_then(|s| match s {
                        Seg::Index(i) => m.output.get(*i),
                        _ => None,
                    })
                    .map(|o| o.name());
                if this.as_deref() != Some(name) {
                    out.push(doc.diag(
                        &at,
                        format!("[base] image = \"output:{name}\" makes {name} the bootc image disks deploy; a second bootc output cannot derive from it in the same run"),
                    ).hint("build the derived image in its own manifest with [base] image = the first one's reference"));
                }
            }
            continue;
        }
        if t.is_disk() {
            if own.is_none() && bootc_outputs.len() > 1 {
                out.push(
                    doc.diag(
                        &at,
                        format!(
                            "a {t} output deploys the bootc image this manifest derives from [base], and it builds {}: {}",
                            bootc_outputs.len(),
                            bootc_outputs.join(", ")
                        ),
                    )
                    .hint("keep one bootc output in a manifest with disks, or name it: [base] image = \"output:NAME\" composes it from packages"),
                );
            }
            continue;
        }
        out.push(
            doc.diag(
                &at,
                format!(
                    "[base] names a bootc image, and the {t} output cannot be built from one yet (bootc outputs derive from it, disk outputs deploy it)"
                ),
            )
            .hint(
                "build type = \"bootc\" or a disk type (qcow2, raw, vmdk, vhd, ami, gce) from [base], or drop [base] to compose from packages",
            ),
        );
    }
}

/// `[base] image = "output:NAME"`: the bootc output NAME of this manifest.
pub const BASE_OUTPUT_PREFIX: &str = "output:";

pub(super) fn check_boot(doc: &Document, distro: &DistroDef, out: &mut Vec<Diagnostic>) {
    let m = &doc.manifest;
    let Some(b) = &m.boot else { return };
    let arches = crate::manifest::arches::of(doc, distro, &[]);
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
    for (i, c) in b.cmdline.to_vec().iter().enumerate() {
        let p = match &b.cmdline {
            OneOrMany::Many(_) => keys!["boot", "cmdline", i].to_vec(),
            _ => keys!["boot", "cmdline"].to_vec(),
        };
        judge(doc, out, &p, rules::kernel_cmdline(c));
    }
    // A UKI is signed with our db key, and our db key is trusted only
    // where we enroll it: the two go together.
    let custom = b.secureboot == Some(SecureBootMode::Custom);
    match (b.uki, b.secureboot) {
        (Some(false), Some(SecureBootMode::Custom)) => out.push(
            doc.diag(&keys!["boot", "uki"], "secureboot = \"custom\" needs a unified kernel image, and uki = false")
                .hint("our keys sign a UKI; the shim → GRUB chain is Microsoft-signed and would not boot under our keys: drop uki = false"),
        ),
        (Some(true), sb) if !custom => out.push(
            doc.diag(
                &keys!["boot", "uki"],
                format!(
                    "uki = true signs the kernel with our db key, which secureboot = \"{}\" does not enroll",
                    match sb {
                        Some(SecureBootMode::Off) => "off",
                        _ => "distro",
                    }
                ),
            )
            .hint("set secureboot = \"custom\" and [boot.keys]"),
        ),
        _ => {}
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
