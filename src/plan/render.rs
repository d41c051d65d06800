//! Human form of a plan: stable, diff-friendly, wrapped at 80 columns
//! only where lists are long. The JSON form is the serde one.

use super::{BuildPlan, OutputPlan};
use crate::manifest::size::Size;
use std::fmt::Write;

/// Renders `plan` as text.
pub fn text(plan: &BuildPlan) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "plan for {} ({})", plan.name, plan.manifest);
    if let Some(v) = &plan.version {
        let _ = writeln!(s, "version: {v}");
    }
    let d = &plan.distro;
    let _ = writeln!(
        s,
        "distro: {} ({}), releasever {}, rpmdb {}",
        d.name, d.id, d.releasever, d.rpmdb
    );
    let _ = writeln!(
        s,
        "weak deps: {}",
        if plan.weak_deps { "yes" } else { "no" }
    );
    if let Some(b) = &plan.base_image {
        let _ = writeln!(s, "base image: {b}");
    }
    if let Some(m) = &plan.mirror {
        let _ = writeln!(
            s,
            "mirror: {m} (distro repos moved there, mirrorlists dropped)"
        );
    }
    for a in &plan.arches {
        let plat = match a.oci_platform.variant {
            Some(v) => format!(
                "{}/{}/{}",
                a.oci_platform.os, a.oci_platform.architecture, v
            ),
            None => format!("{}/{}", a.oci_platform.os, a.oci_platform.architecture),
        };
        let _ = writeln!(
            s,
            "\narch {} (rpm: {}; oci: {plat})",
            a.arch,
            a.rpm_arches.join(" ")
        );
        let _ = writeln!(s, "  repos:");
        if a.repos.is_empty() {
            let _ = writeln!(s, "    (none)");
        }
        for r in &a.repos {
            let check = match (r.gpgcheck, r.repo_gpgcheck) {
                (true, true) => "gpgcheck, repo_gpgcheck",
                (true, false) => "gpgcheck",
                (false, true) => "repo_gpgcheck only",
                (false, false) => "NO SIGNATURE CHECK",
            };
            let _ = writeln!(
                s,
                "    {} [{}] priority {}, {check}",
                r.id, r.origin, r.priority
            );
            for u in &r.baseurls {
                let _ = writeln!(s, "      baseurl {u}");
            }
            if let Some(u) = &r.mirrorlist {
                let _ = writeln!(s, "      mirrorlist {u}");
            }
            if let Some(u) = &r.metalink {
                let _ = writeln!(s, "      metalink {u}");
            }
            for k in &r.gpgkeys {
                let _ = writeln!(s, "      key {}", k.label());
            }
        }
        if a.outputs.is_empty() {
            let _ = writeln!(s, "  outputs: none (add [[output]] or pass --type)");
        }
        for o in &a.outputs {
            output(&mut s, o);
        }
    }
    for w in &plan.warnings {
        let _ = writeln!(s, "\nwarning: {w}");
    }
    s
}

fn wrap_list(s: &mut String, label: &str, items: &[String]) {
    if items.is_empty() {
        return;
    }
    let indent = "      ";
    let mut line = format!("    {label}:");
    for it in items {
        if line.len() + 1 + it.len() > 78 {
            let _ = writeln!(s, "{line}");
            line = indent.to_string() + it;
        } else {
            line.push(' ');
            line.push_str(it);
        }
    }
    let _ = writeln!(s, "{line}");
}

fn output(s: &mut String, o: &OutputPlan) {
    let _ = writeln!(s, "  output {} ({}) → {}", o.name, o.kind, o.filename);
    // The chain, in solving order; each exclude applies to its own set.
    for set in &o.packages.chain {
        wrap_list(s, &format!("packages ({})", set.name), &set.include);
        wrap_list(s, &format!("exclude ({})", set.name), &set.exclude);
    }
    wrap_list(s, "modules", &o.packages.modules);
    wrap_list(s, "customizations", &o.customizations);
    if let Some(d) = &o.disk {
        let table = match d.table {
            crate::manifest::ours::PartitionTableType::Gpt => "gpt",
            crate::manifest::ours::PartitionTableType::Dos => "dos",
        };
        let _ = writeln!(s, "    disk: {table}, {}", Size(d.size));
        for p in &d.partitions {
            let role = serde_json::to_value(p.role)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            let mut line = format!(
                "      {:<9} {:>10} at {:>9}  type {}",
                role,
                Size(p.size).to_string(),
                Size(p.start).to_string(),
                p.type_id
            );
            if let Some(fs) = &p.fs {
                line.push_str(&format!("  {fs}"));
            }
            if let Some(mp) = &p.mountpoint {
                line.push_str(&format!(" {mp}"));
            }
            if p.grow {
                line.push_str(" (grows)");
            }
            if p.bootable {
                line.push_str(" (bootable)");
            }
            let _ = writeln!(s, "{line}");
        }
    }
    if let Some(b) = &o.boot {
        let sb = serde_json::to_value(b.secureboot)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "    boot: {} firmware, secure boot {sb}{}",
            b.firmware.as_str(),
            if b.uki { ", UKI" } else { "" }
        );
        for step in &b.chain {
            let _ = writeln!(s, "      - {step}");
        }
        let _ = writeln!(s, "      cmdline: {}", b.cmdline.join(" "));
        let v = &b.verify;
        let _ = writeln!(
            s,
            "    verify: {} -machine {} -cpu {} ({}), {}",
            v.qemu, v.machine, v.cpu, v.accel, v.firmware
        );
    }
    targets(s, o);
}

/// Tree source, kernel arguments of images, the artifact's own settings,
/// destinations and dependencies.
fn targets(s: &mut String, o: &OutputPlan) {
    use super::{ArtifactPlan, Destination, TreeSource};
    let t = &o.tree;
    let source = match &t.source {
        TreeSource::Packages => "packages".to_string(),
        TreeSource::BaseImage { reference, .. } => format!("base image {reference}"),
        TreeSource::Output { name } => format!("the bootc image of output {name}"),
    };
    let _ = writeln!(
        s,
        "    tree: from {source}, rpmdb {} at {}",
        t.rpmdb, t.dbpath
    );
    if o.boot.is_none() && !t.kernel_args.is_empty() {
        let _ = writeln!(s, "      kargs: {}", t.kernel_args.join(" "));
    }
    for sc in &t.scripts {
        let _ = writeln!(
            s,
            "      script {:?}: {} via {}, network {}, {}",
            sc.name,
            sc.source,
            sc.interpreter,
            if sc.network { "on" } else { "off" },
            sc.digest
        );
    }
    match &o.artifact {
        ArtifactPlan::Oci(p) => {
            let _ = writeln!(
                s,
                "    image: tag {}, {} layers at most, {} compression",
                p.tag, p.max_layers, p.compression
            );
        }
        ArtifactPlan::Disk {
            format,
            signer: Some(k),
        } => {
            let _ = writeln!(s, "    {format}: signed with {}", k.keys);
        }
        ArtifactPlan::Ostree(p) => {
            let parent = match &p.parent {
                None => String::new(),
                Some(super::target::OstreeParent::Checksum { checksum }) => {
                    format!(", parent {checksum}")
                }
                Some(super::target::OstreeParent::Remote { url, rev }) => {
                    format!(", parent {rev} from {url}")
                }
            };
            let signed = if p.gpg_key.is_some() {
                ", GPG-signed"
            } else {
                ""
            };
            let _ = writeln!(
                s,
                "    ostree: ref {}, version {}{parent}{signed}",
                p.reference, p.version
            );
        }
        ArtifactPlan::IsoLive(p) => {
            let _ = writeln!(
                s,
                "    iso: volume id {}, live root LiveOS/squashfs.img (zstd level {}), hybrid MBR/GPT\n    iso cmdline: {}",
                p.volume_id,
                p.compression_level,
                p.cmdline.join(" ")
            );
        }
        ArtifactPlan::Pending { stage } => {
            let _ = writeln!(s, "    artifact: {stage} have not landed yet");
        }
        _ => {}
    }
    for d in &o.destinations {
        match d {
            Destination::File { path } => {
                let _ = writeln!(s, "    → {}", path.display());
            }
            Destination::Registry {
                reference,
                sign_key,
                ..
            } => {
                let signed = if sign_key.is_some() { ", signed" } else { "" };
                let _ = writeln!(s, "    → push {reference}{signed}");
            }
        }
    }
    if let Some(d) = &o.deploy {
        let _ = writeln!(
            s,
            "    deploy: OSTree stateroot {}, origin {}",
            d.stateroot, d.origin
        );
    }
    if !o.depends_on.is_empty() {
        let _ = writeln!(s, "    after: {}", o.depends_on.join(", "));
    }
}
