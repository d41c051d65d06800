//! The `ostree` artifact: an OSTree commit of the tree in an `archive`
//! repository, shipped as `NAME-ARCH.ostree.tar` (the repository's files;
//! untar it and serve it over HTTP, or `ostree pull-local` from it).
//!
//! The tree arrives bootc-prepared (one kernel and its initramfs under
//! `/usr/lib/modules/KVER`, empty `/boot`, `/sysroot`, `/ostree`, kernel
//! arguments in kargs.d); `rootfs` turns it into rpm-ostree's shape and
//! `repo` commits it with libostree. The repository is written in a work
//! directory and its tar renamed into place, so a build that dies leaves
//! nothing at the output path.

pub mod cache;
pub mod repo;
pub mod rootfs;
pub mod sign;
pub mod sysroot;

use crate::artifact::{Builder, Produced, Target, Tree};
use crate::plan::{ArtifactPlan, OstreeParent, OstreePlan};
use crate::progress::Progress;
use anyhow::{bail, Context, Result};
use std::path::PathBuf;

pub struct OstreeBuilder {
    pub output_dir: PathBuf,
    pub work: PathBuf,
}

impl Builder for OstreeBuilder {
    fn add(&mut self, t: &Target, tree: Tree, progress: &dyn Progress) -> Result<Vec<Produced>> {
        let (a, o) = (t.arch, t.output);
        let ArtifactPlan::Ostree(plan) = &o.artifact else {
            bail!("{}/{}: not an ostree output", a.arch, o.name);
        };
        let work = tempfile::Builder::new()
            .prefix("ostree.")
            .tempdir_in(&self.work)
            .context("making the commit's work directory")?;
        let out = self.output_dir.join(&o.filename);
        let sde = tree.report.source_date_epoch;
        let sbom = t.sbom(&tree)?;
        let converted = rootfs::convert(&tree.root)?;
        if !converted.var_files_dropped.is_empty() {
            crate::report::info(format!(
                "ostree: {} files under /var are not committed (ostree never updates /var; declare them in tmpfiles.d): {}",
                converted.var_files_dropped.len(),
                converted
                    .var_files_dropped
                    .iter()
                    .take(5)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let checksum = commit(plan, &tree.root, work.path(), sde, &t.plan.name)?;
        crate::tarball::write(&work.path().join("repo"), &out, sde)?;
        crate::artifact::sbom::write_beside(&out, &sbom)?;
        progress.event(&t.artifact_event(
            &tree,
            &out,
            Some(checksum),
            Some(plan.reference.clone()),
        ));
        Ok(vec![Produced {
            output: o.name.clone(),
            arch: Some(a.arch.clone()),
            path: out,
            bootable: None,
            image: None,
        }])
    }

    fn finish(self: Box<Self>, _: &dyn Progress) -> Result<Vec<Produced>> {
        Ok(vec![])
    }
}

/// Makes `work/repo` holding one commit of `root` on the plan's ref;
/// returns its checksum.
fn commit(
    plan: &OstreePlan,
    root: &std::path::Path,
    work: &std::path::Path,
    sde: i64,
    name: &str,
) -> Result<String> {
    let repo = repo::Repo::init(&work.join("repo"))?;
    let signer = plan.gpg_key.as_deref().map(sign::gpg_signer).transpose()?;
    let parent = match &plan.parent {
        None => None,
        Some(OstreeParent::Checksum { checksum }) => Some(checksum.clone()),
        Some(OstreeParent::Remote { url, rev }) => Some(repo.pull_parent(url, rev)?),
    };
    let checksum = repo.commit(&repo::Commit {
        tree: root,
        reference: &plan.reference,
        parent: parent.as_deref(),
        timestamp: sde,
        subject: &format!("{name} {}", plan.version),
        version: &plan.version,
    })?;
    if let Some(s) = &signer {
        repo.sign_commit(&checksum, s, sde)?;
    }
    repo.summary(sde, signer.as_ref())?;
    Ok(checksum)
}
