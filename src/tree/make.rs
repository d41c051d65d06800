//! One tree, start to finish: install the fetched packages, apply the
//! distro's systemd presets, the blueprint customizations, the manifest's
//! build scripts, then SELinux labels (last, so files customizations and
//! scripts wrote are labelled too).
//!
//! The installed tree (packages and presets) is a stage of the stage
//! store (`crate::stages`): keyed by the package files' checksums, the
//! database options, SOURCE_DATE_EPOCH and the rpm that installs them, it
//! is copied from an earlier build when one made the same, so a
//! customization-only change does not install anything again.

use super::customize::{self, Env};
use super::install::{self, Installed};
use crate::error::InputError;
use crate::manifest::blueprint::Customizations;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// What a tree is built from.
#[derive(Clone)]
pub struct Request<'a> {
    pub root: &'a Path,
    /// Verified package files, in lockfile order.
    pub rpms: &'a [PathBuf],
    pub customizations: Option<&'a Customizations>,
    pub manifest_dir: &'a Path,
    pub releasever: &'a str,
    pub major: u32,
    /// `sqlite` or `bdb`.
    pub rpmdb: &'a str,
    /// Kernel arguments to write into the tree (empty for tar/directory).
    pub kernel_cmdline: &'a [String],
    /// The tree already holds a base image created at this time (derived
    /// bootc images): packages are added to its database, presets are
    /// left as the base has them, and SOURCE_DATE_EPOCH is never older
    /// than the base (so clamping leaves the base's files untouched).
    pub base_created: Option<i64>,
    /// `[[build.script]]`, run after the customizations.
    pub scripts: &'a [crate::plan::ScriptPlan],
    /// The target's arch and output, for the scripts' environment.
    pub arch: &'a str,
    pub output: &'a str,
    /// `(script name, line)` for each line a build script prints.
    pub on_script_line: &'a dyn Fn(&str, &str),
    /// Where finished stages are kept and found (None: no reuse).
    pub stages: Option<&'a crate::stages::Store>,
}

/// What was done, for the build report and the SBOM.
#[derive(Debug, Clone)]
pub struct Report {
    pub packages: Vec<Installed>,
    pub customizations: Vec<&'static str>,
    /// Build scripts run, by name.
    pub scripts: Vec<String>,
    pub selinux_labelled: bool,
    pub source_date_epoch: i64,
}

/// SOURCE_DATE_EPOCH from the environment, else the newest package build
/// time (so a lockfile alone fixes every timestamp).
pub fn source_date_epoch(pkgs: &[Installed]) -> Result<i64> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.trim().is_empty() => v.trim().parse::<i64>().map_err(|_| {
            InputError(format!(
                "SOURCE_DATE_EPOCH={v:?} is not a number of seconds since 1970"
            ))
            .into()
        }),
        _ => Ok(install::newest_build_time(pkgs)),
    }
}

/// Everything the installed tree depends on.
fn installed_key(req: &Request, opts: &install::Options) -> Result<crate::stages::Key> {
    let rpm = crate::tools::run("rpm", &["--version"])?;
    let packages: Vec<String> = req
        .rpms
        .iter()
        .map(|p| {
            // Cache entries are named by their content's sha256.
            p.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .collect();
    Ok(crate::stages::Key::new(
        "installed",
        serde_json::json!({
            "builder": env!("CARGO_PKG_VERSION"),
            "rpm": String::from_utf8_lossy(&rpm.stdout).trim(),
            "packages": packages,
            "dbpath": opts.dbpath,
            "backend": opts.backend,
            "source_date_epoch": opts.source_date_epoch,
            "arch": req.arch,
        }),
    ))
}

pub fn make(req: &Request) -> Result<Report> {
    let packages = install::preflight(req.rpms)?;
    let mut sde = source_date_epoch(&packages)?;
    if let Some(b) = req.base_created {
        sde = sde.max(b);
    }
    // AlmaLinux 10 moved the database under /usr (image-mode friendly).
    let dbpath = if req.base_created.is_some() {
        super::rpmdb::dbpath(req.root)
    } else if req.major >= 10 {
        "/usr/lib/sysimage/rpm"
    } else {
        "/var/lib/rpm"
    };
    let opts = install::Options {
        dbpath: dbpath.into(),
        backend: req.rpmdb.into(),
        source_date_epoch: sde,
        onto_existing: req.base_created.is_some(),
    };
    // A derived tree starts from its base's files: not a stage of ours.
    let key = match (req.stages, req.base_created) {
        (Some(s), None) if s.enabled() => Some(installed_key(req, &opts)?),
        _ => None,
    };
    let hit = key
        .as_ref()
        .and_then(|k| req.stages.and_then(|s| s.lookup(k)));
    if let (Some(data), Some(k)) = (&hit, &key) {
        crate::report::info(format!(
            "reused the installed tree ({} packages, stage {})",
            packages.len(),
            &k.hex[..12]
        ));
        // `cp -a` makes the root: it must not exist yet.
        let _ = std::fs::remove_dir(req.root);
        crate::tools::copy_tree(data, req.root)?;
    } else {
        crate::report::info(format!(
            "installing {} packages into {}",
            packages.len(),
            req.root.display()
        ));
        install::install(req.root, &packages, &opts)?;
        if req.base_created.is_none()
            && ["etc", "usr/lib", "lib"]
                .iter()
                .any(|d| req.root.join(d).join("systemd/system-preset").is_dir())
        {
            customize::services::preset_all(req.root).context("applying systemd presets")?;
        }
        if let (Some(s), Some(k)) = (req.stages, &key) {
            s.insert(k, |d| crate::tools::copy_tree(req.root, d))
                .context("keeping the installed tree in the stage store")?;
        }
    }
    let env = Env {
        root: req.root.to_path_buf(),
        manifest_dir: req.manifest_dir.to_path_buf(),
        source_date_epoch: sde,
        releasever: req.releasever.to_string(),
    };
    let customizations = match req.customizations {
        Some(c) => customize::apply(&env, c, req.kernel_cmdline)?,
        None => vec![],
    };
    let scripts = super::scripts::run(
        &super::scripts::Env {
            root: req.root,
            source_date_epoch: sde,
            arch: req.arch,
            output: req.output,
            on_line: req.on_script_line,
        },
        req.scripts,
    )?;
    // Customizations and scripts may have opened the rpmdb again.
    install::tidy_db(&customize::in_root(req.root, dbpath)?)?;
    let selinux_labelled = super::selinux::label(req.root).context("labelling for SELinux")?;
    Ok(Report {
        packages,
        customizations,
        scripts,
        selinux_labelled,
        source_date_epoch: sde,
    })
}
