//! Reading an image back into a tree: the platform an arch maps to, the
//! manifest for a platform behind an index, and unpacking every layer of
//! an image (verified) into a root, snapshotted so a derived build can
//! tell what it changed. Resolve reads a base image's rpmdb this way, the
//! tree stage unpacks a base the same way.

use super::image::*;
use super::layout::Layout;
use super::walk::Snapshot;
use crate::error::InputError;
use anyhow::{bail, Result};
use serde_json::Value;
use std::path::Path;

/// A base image unpacked into a root, with what is needed to diff it.
#[derive(Debug, Clone)]
pub struct BaseImage {
    pub manifest: Manifest,
    pub config: Value,
    pub snapshot: Snapshot,
}

/// The OCI platform of an arch (from the arch model's `oci` field).
pub fn platform(arch: &crate::distro::Arch) -> Platform {
    Platform {
        architecture: arch.oci.architecture.to_string(),
        os: arch.oci.os.to_string(),
        variant: arch.oci.variant.map(str::to_string),
    }
}

/// Extracts every layer of the image `manifest` in order into `root`
/// (each blob verified, each diff_id checked against the config), then
/// snapshots the result.
pub fn unpack(layout: &Layout, manifest: &Descriptor, root: &Path) -> Result<BaseImage> {
    let (m, config) = read(layout, manifest)?;
    apply_layers(layout, &m, &config, root)?;
    Ok(BaseImage {
        manifest: m,
        config,
        snapshot: Snapshot::take(root)?,
    })
}

/// The image `manifest` and its config, without its layers (unpacked
/// later with `apply_layers`, or never when a cache has what they make);
/// the snapshot is of `root` as it is.
pub fn read_only(layout: &Layout, manifest: &Descriptor, root: &Path) -> Result<BaseImage> {
    let (m, config) = read(layout, manifest)?;
    std::fs::create_dir_all(root)?;
    Ok(BaseImage {
        manifest: m,
        config,
        snapshot: Snapshot::take(root)?,
    })
}

fn read(layout: &Layout, manifest: &Descriptor) -> Result<(Manifest, Value)> {
    if ![MEDIA_MANIFEST, MEDIA_DOCKER_MANIFEST].contains(&manifest.media_type.as_str()) {
        bail!(InputError(format!(
            "{}: {} is not an image manifest (an index must be resolved to one platform first)",
            manifest.digest, manifest.media_type
        )));
    }
    let m: Manifest = layout.read_json(manifest)?;
    let config: Value = layout.read_json(&m.config)?;
    Ok((m, config))
}

/// Applies the layers of `m` in order onto `root`, each checked against
/// the diff_ids of `config`.
pub fn apply_layers(layout: &Layout, m: &Manifest, config: &Value, root: &Path) -> Result<()> {
    let ids: Vec<&str> = config["rootfs"]["diff_ids"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if ids.len() != m.layers.len() {
        bail!(InputError(format!(
            "image config {}: {} layers but {} diff_ids",
            m.config.digest,
            m.layers.len(),
            ids.len()
        )));
    }
    std::fs::create_dir_all(root)?;
    for (l, id) in m.layers.iter().zip(ids) {
        let got = super::extract::extract(layout, l, root)?;
        if got != id {
            bail!(InputError(format!(
                "layer {}: uncompressed digest {got}, the config says {id}",
                l.digest
            )));
        }
    }
    Ok(())
}

/// The image manifest for `platform` behind `desc`: `desc` itself when it
/// is a manifest, else the index entry whose os and architecture match
/// (and variant, when both sides name one), preferring an exact variant
/// match. For reading a base or the previous build from a layout tag.
pub fn select(layout: &Layout, desc: &Descriptor, platform: &Platform) -> Result<Descriptor> {
    let mut d = desc.clone();
    for _ in 0..4 {
        if ![MEDIA_INDEX, MEDIA_DOCKER_LIST].contains(&d.media_type.as_str()) {
            return Ok(d);
        }
        let index: Index = layout.read_json(&d)?;
        let fits = |m: &&Descriptor, exact: bool| {
            m.platform.as_ref().is_some_and(|p| {
                p.os == platform.os
                    && p.architecture == platform.architecture
                    && (p.variant == platform.variant
                        || (!exact && (p.variant.is_none() || platform.variant.is_none())))
            })
        };
        let found = index
            .manifests
            .iter()
            .find(|m| fits(m, true))
            .or_else(|| index.manifests.iter().find(|m| fits(m, false)));
        match found {
            Some(m) => d = m.clone(),
            None => bail!(InputError(format!(
                "index {}: no image for {}/{}{}",
                d.digest,
                platform.os,
                platform.architecture,
                platform
                    .variant
                    .as_ref()
                    .map(|v| format!("/{v}"))
                    .unwrap_or_default()
            ))),
        }
    }
    bail!(InputError(format!(
        "{}: indexes nested too deep",
        desc.digest
    )))
}
