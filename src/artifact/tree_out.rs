//! `tar` and `directory` outputs: the finished tree itself, archived
//! reproducibly or moved into place.

use super::{Builder, Produced, Target, Tree};
use crate::plan::ArtifactPlan;
use crate::progress::Progress;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

pub(super) struct TreeOutput {
    pub output_dir: PathBuf,
    pub work: PathBuf,
}

impl Builder for TreeOutput {
    fn add(&mut self, t: &Target, tree: Tree, progress: &dyn Progress) -> Result<Vec<Produced>> {
        let o = t.output;
        let out = self.output_dir.join(&o.filename);
        let sbom = t.sbom(&tree)?;
        match o.artifact {
            ArtifactPlan::Directory => replace_dir(&tree.root, &out, &self.work)?,
            _ => crate::tarball::write(&tree.root, &out, tree.report.source_date_epoch)?,
        }
        super::sbom::write_beside(&out, &sbom)?;
        progress.event(&t.artifact_event(&tree, &out, None, None));
        Ok(vec![Produced {
            output: o.name.clone(),
            arch: Some(t.arch.arch.clone()),
            path: out,
            bootable: None,
            image: None,
        }])
    }

    fn finish(self: Box<Self>, _: &dyn Progress) -> Result<Vec<Produced>> {
        Ok(vec![])
    }
}

/// Moves the finished tree to `out`, replacing an earlier one only once
/// the new one is complete.
fn replace_dir(tree: &Path, out: &Path, work: &Path) -> Result<()> {
    if out.exists() {
        let aside = tempfile::Builder::new()
            .prefix("previous.")
            .tempdir_in(work)
            .context("making room for the previous directory")?;
        std::fs::rename(out, aside.path().join("previous"))
            .with_context(|| format!("moving the previous {} aside", out.display()))?;
        std::fs::rename(tree, out)
            .with_context(|| format!("moving the tree to {}", out.display()))?;
        return Ok(());
    }
    std::fs::rename(tree, out).with_context(|| format!("moving the tree to {}", out.display()))
}
