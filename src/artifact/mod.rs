//! Artifact builders: one module per format behind one boundary, the
//! `Builder` trait. The pipeline hands each builder the trees of its
//! target, one per arch (`add`), then asks it to write what spans arches
//! (`finish`: an OCI index holds every arch in one archive). A new output
//! type is one module here and one arm in `builder_for`.
//!
//! Builders read the plan and the lock, never the manifest. Each writes
//! under its own work directory and renames into place, so a failed build
//! leaves nothing half-written at an output path.

pub mod disk;
pub mod iso;
pub mod oci;
pub mod ostree;
pub mod sbom;
mod tree_out;

use crate::plan::{ArchPlan, ArtifactPlan, BuildPlan, OutputPlan};
use crate::progress::Progress;
use crate::resolve::lockfile;
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// A finished tree, handed to exactly one builder (shared trees are
/// copied before they are handed out).
pub struct Tree {
    pub root: PathBuf,
    pub report: crate::tree::make::Report,
    /// Derived trees: the base image they were unpacked from.
    pub base: Option<BaseTree>,
}

/// The base image under a derived tree and the layout holding its blobs.
pub struct BaseTree {
    pub image: oci::BaseImage,
    /// The image's manifest digest (this arch's).
    pub digest: String,
    pub layout: crate::oci::layout::Layout,
    /// Whether the layers were applied to the tree's root (a deployed disk
    /// reads them only when its build-cache entry is missing).
    pub unpacked: bool,
}

/// One arch of one output, as the plan and the lock fix it.
pub struct Target<'a> {
    pub plan: &'a BuildPlan,
    pub arch: &'a ArchPlan,
    pub output: &'a OutputPlan,
    pub lock: &'a lockfile::Target,
    pub distro: &'static crate::distro::DistroDef,
}

impl Target<'_> {
    /// The seed of the identifiers an artifact invents (filesystem and
    /// partition UUIDs, volume GUIDs): the file name, the arch and the
    /// locked package set, so the same lock gives the same identifiers.
    pub fn identity_seed(&self) -> String {
        let pkgs: Vec<&str> = self
            .lock
            .packages
            .iter()
            .map(|p| p.checksum.as_str())
            .collect();
        format!(
            "{}:{}:{}",
            self.output.filename,
            self.arch.arch,
            pkgs.join(",")
        )
    }

    /// The SBOM of one arch's tree as this output ships it.
    pub fn sbom(&self, tree: &Tree) -> Result<sbom::Document> {
        sbom::from_tree(
            &tree.report,
            self.lock,
            &self.output.filename,
            &self.plan.distro,
            &self.arch.arch,
        )
    }

    /// The `artifact` event for a file made from one arch's tree;
    /// `digest` and `tag` for outputs that have them (an OSTree commit).
    pub fn artifact_event(
        &self,
        tree: &Tree,
        path: &Path,
        digest: Option<String>,
        tag: Option<String>,
    ) -> crate::progress::Event {
        crate::progress::Event::Artifact {
            arch: Some(self.arch.arch.clone()),
            output: self.output.name.clone(),
            kind: self.output.kind.as_str().to_string(),
            path: path.to_path_buf(),
            packages: Some(tree.report.packages.len()),
            customizations: Some(tree.report.customizations.clone()),
            selinux_labelled: Some(tree.report.selinux_labelled),
            source_date_epoch: Some(tree.report.source_date_epoch),
            digest,
            tag,
            arches: None,
        }
    }
}

/// What a builder made that later stages act on.
pub struct Produced {
    pub output: String,
    pub arch: Option<String>,
    pub path: PathBuf,
    /// A disk to boot with `--verify`: its arch and boot plan, and the
    /// enrollment keys for custom Secure Boot.
    pub bootable: Option<Bootable>,
    /// An OCI layout ready to push.
    pub image: Option<oci::builder::Pushable>,
}

pub struct Bootable {
    pub arch: &'static crate::distro::Arch,
    pub boot: crate::plan::boot::BootPlan,
    pub keys_dir: Option<PathBuf>,
    /// The disk to boot when the artifact is an archive holding it (GCE's
    /// tar.gz): the same raw disk, kept in the work directory.
    pub disk: Option<PathBuf>,
}

/// One artifact (an output, across its arches).
pub trait Builder {
    /// One arch's tree.
    fn add(&mut self, t: &Target, tree: Tree, progress: &dyn Progress) -> Result<Vec<Produced>>;
    /// Every arch added: write what spans them.
    fn finish(self: Box<Self>, progress: &dyn Progress) -> Result<Vec<Produced>>;
}

/// The builder for an output. `work` is a directory inside the output
/// directory that outlives the builder (until the pipeline ends).
pub fn builder_for(
    o: &OutputPlan,
    work: &Path,
    output_dir: &Path,
    cache: &Path,
) -> Result<Box<dyn Builder>> {
    Ok(match &o.artifact {
        ArtifactPlan::Tar | ArtifactPlan::Directory => Box::new(tree_out::TreeOutput {
            output_dir: output_dir.to_path_buf(),
            work: work.to_path_buf(),
        }),
        ArtifactPlan::Disk { .. } => Box::new(disk::builder::DiskBuilder {
            output_dir: output_dir.to_path_buf(),
            work: work.to_path_buf(),
            cache: cache.to_path_buf(),
        }),
        ArtifactPlan::Oci(p) => Box::new(oci::builder::OciBuilder::new(o, p, work, output_dir)?),
        ArtifactPlan::Ostree(_) => Box::new(ostree::OstreeBuilder {
            output_dir: output_dir.to_path_buf(),
            work: work.to_path_buf(),
        }),
        ArtifactPlan::IsoLive(_) => Box::new(iso::IsoBuilder {
            output_dir: output_dir.to_path_buf(),
            work: work.to_path_buf(),
        }),
        ArtifactPlan::Pending { stage } => {
            bail!("the artifact stage for {stage} has not landed yet")
        }
    })
}
