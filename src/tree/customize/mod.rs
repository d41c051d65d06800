//! Blueprint customizations over a finished tree, each a small function in
//! its own module. The plan already refused customizations an output cannot
//! honor; everything that reaches here is applied or fails the build.
//!
//! Order matters and follows osbuild's: groups and users first (files and
//! directories may be owned by them), then system settings, services last
//! (so that units written by other customizations are enabled too).

pub mod config;
pub mod files;
pub mod firewall;
pub mod firstboot;
pub mod openscap;
pub mod rpmkeys;
pub mod security;
pub mod services;
pub mod system;
#[cfg(test)]
pub mod testtree;
pub mod users;

use crate::manifest::blueprint::Customizations;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// What every customization gets besides its own section.
#[derive(Debug, Clone)]
pub struct Env {
    /// The tree's root directory.
    pub root: PathBuf,
    /// The manifest's directory: relative paths in the manifest resolve here.
    pub manifest_dir: PathBuf,
    /// Clamp for every timestamp written (SOURCE_DATE_EPOCH).
    pub source_date_epoch: i64,
    /// The distro's releasever (for `.repo` files and dnf vars).
    pub releasever: String,
}

impl Env {
    /// `path` (absolute inside the image) as a host path under the root.
    /// Refuses `..` components, so a manifest cannot name a host path.
    pub fn host_path(&self, path: &str) -> Result<PathBuf> {
        in_root(&self.root, path)
    }
}

/// `path` (absolute inside the tree) under `root`; `..` is refused.
pub fn in_root(root: &Path, path: &str) -> Result<PathBuf> {
    let rel = path.trim_start_matches('/');
    let mut out = root.to_path_buf();
    for c in Path::new(rel).components() {
        match c {
            std::path::Component::Normal(n) => out.push(n),
            std::path::Component::CurDir => {}
            _ => anyhow::bail!("{path}: only plain absolute paths are allowed (no `..`)"),
        }
    }
    Ok(out)
}

/// Applies every customization that is set, in order; returns the names
/// applied (as the TOML keys) for the build report.
pub fn apply(
    env: &Env,
    c: &Customizations,
    kernel_cmdline: &[String],
) -> Result<Vec<&'static str>> {
    let mut done = Vec::new();
    let mut step = |name: &'static str, r: Result<()>| -> Result<()> {
        r.with_context(|| format!("customization {name}"))?;
        done.push(name);
        Ok(())
    };
    if !c.group.is_empty() || !c.user.is_empty() || !c.sshkey.is_empty() {
        step("user", users::apply(env, &c.user, &c.group, &c.sshkey))?;
    }
    if let Some(h) = &c.hostname {
        step("hostname", system::hostname(env, h))?;
    }
    if let Some(t) = &c.timezone {
        step("timezone", system::timezone(env, t))?;
    }
    if let Some(l) = &c.locale {
        step("locale", system::locale(env, l))?;
    }
    if !c.directories.is_empty() {
        step("directories", files::directories(env, &c.directories))?;
    }
    if !c.files.is_empty() {
        step("files", files::files(env, &c.files))?;
    }
    if !c.repositories.is_empty() {
        step("repositories", config::repositories(env, &c.repositories))?;
    }
    if let Some(s) = &c.sshd {
        step("sshd", config::sshd(env, s))?;
    }
    if c.kernel.is_some() || c.fips == Some(true) || !kernel_cmdline.is_empty() {
        step("kernel", config::kernel_cmdline(env, kernel_cmdline))?;
    }
    if let Some(f) = c.fips {
        step("fips", security::fips(env, f))?;
    }
    if let Some(ca) = &c.cacerts {
        step("cacerts", security::cacerts(env, ca))?;
    }
    if let Some(r) = &c.rpm {
        step("rpm", rpmkeys::import_keys(env, r))?;
    }
    if let Some(f) = &c.firewall {
        step("firewall", firewall::apply(env, f))?;
    }
    if let Some(f) = &c.firstboot {
        step("firstboot", firstboot::apply(env, f))?;
    }
    if let Some(o) = &c.openscap {
        step("openscap", openscap::apply(env, o))?;
    }
    if let Some(s) = &c.services {
        step("services", services::apply(env, s))?;
    }
    Ok(done)
}
