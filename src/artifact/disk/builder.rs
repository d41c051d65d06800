//! The disk artifact builder: a raw disk from the tree (layout and boot
//! chain from the plan), converted to the output's format, SBOMs beside
//! it, and the enrollment files of custom Secure Boot keys.

use crate::artifact::{Bootable, Builder, Produced, Target, Tree};
use crate::plan::ArtifactPlan;
use crate::progress::{Event, Progress};
use anyhow::{bail, Context, Result};
use std::path::PathBuf;

pub struct DiskBuilder {
    pub output_dir: PathBuf,
    pub work: PathBuf,
    /// The build cache's root (deployed sysroots are kept there).
    pub cache: PathBuf,
}

impl Builder for DiskBuilder {
    fn add(&mut self, t: &Target, tree: Tree, progress: &dyn Progress) -> Result<Vec<Produced>> {
        let (a, o) = (t.arch, t.output);
        let (Some(layout), Some(boot), ArtifactPlan::Disk { format, signer }) =
            (&o.disk, &o.boot, &o.artifact)
        else {
            bail!(
                "{}/{}: a disk output without a layout or boot plan",
                a.arch,
                o.name
            );
        };
        if let Some(d) = &o.deploy {
            return super::deploy::add(
                &self.output_dir,
                &self.work,
                &self.cache,
                t,
                tree,
                d,
                progress,
            );
        }
        let arch = crate::distro::arch::lookup(&a.arch).context("planned arch vanished")?;
        let work = tempfile::Builder::new()
            .prefix("disk.")
            .tempdir_in(&self.work)
            .context("making the disk's work directory")?;
        let out = self.output_dir.join(&o.filename);
        let sbom = t.sbom(&tree)?;
        // Identifiers are seeded by what the disk holds: same lock, same
        // UUIDs.
        let seed = t.identity_seed();
        let sde = tree.report.source_date_epoch;
        crate::tarball::clamp_mtimes(&tree.root, sde)?;
        let signer = signer.as_ref().map(|s| crate::secureboot::keys::Signer {
            key: s.key.clone(),
            cert: s.cert.clone(),
        });
        let raw = work.path().join("disk.raw");
        let disk = super::build_raw(
            &super::Input {
                tree: &tree.root,
                layout,
                boot,
                arch,
                distro: t.distro,
                seed: &seed,
                source_date_epoch: sde,
                work: work.path(),
                signer: signer.as_ref(),
                deploy: None,
            },
            &raw,
        )?;
        let keys_dir = match o.artifact {
            ArtifactPlan::Disk {
                signer: Some(ref s),
                ..
            } => s.enroll_dir.clone(),
            _ => None,
        };
        if let Some(dir) = &keys_dir {
            let enroll = self.output_dir.join(format!("{}.enroll", o.filename));
            super::uki::write_enrollment(dir, &enroll)?;
        }
        progress.event(&Event::Note {
            message: format!("disk: kernel {}, root UUID {}", disk.kernel, disk.root_uuid),
        });
        let disk_to_boot = super::finish(&raw, format, &out, sde, &self.work)?;
        crate::artifact::sbom::write_beside(&out, &sbom)?;
        progress.event(&t.artifact_event(&tree, &out, None, None));
        Ok(vec![Produced {
            output: o.name.clone(),
            arch: Some(a.arch.clone()),
            path: out,
            bootable: Some(Bootable {
                arch,
                boot: boot.clone(),
                keys_dir,
                disk: disk_to_boot,
            }),
            image: None,
        }])
    }

    fn finish(self: Box<Self>, _: &dyn Progress) -> Result<Vec<Produced>> {
        Ok(vec![])
    }
}
