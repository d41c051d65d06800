//! OCI images (bootc containers): a finished tree as an image in an OCI
//! layout, its layers chunked by package.
//!
//! Layers: one per package chunk (see `chunk` for the plan), then one
//! final "unpackaged" layer. A package layer holds the non-directory paths
//! its packages own, plus their parent directories with canonical
//! metadata (0755, root, SOURCE_DATE_EPOCH, no xattrs) so that it depends
//! on nothing but its packages' files and stays byte-identical when other
//! packages change. The final layer holds everything no package owns
//! (rpmdb, customizations, generated files), whiteouts for deletions, and
//! every directory with its true metadata: later layers win on extraction,
//! so the image's directories come out exactly as in the tree. Hard-linked
//! files stay together in the layer of their first path.
//!
//! Derive mode: the base image is unpacked into the root and snapshotted;
//! after the build changes the root, only paths that differ from the
//! snapshot (content or metadata) are written, on top of the base's layers,
//! which are reused as they are.
//!
//! Annotations on our layers: `org.almalinux.image-builder.packages` (the
//! chunk's packages, sorted, comma-separated) on package layers — the plan
//! the next build reads back from the previous manifest — and
//! `org.almalinux.image-builder.layer` = `packages` | `unpackaged`.

pub mod builder;
pub mod chunk;
pub mod layer;

pub use crate::oci::compression::Compression;
pub use crate::oci::unpack::{platform, read_only, select, unpack, BaseImage};
use crate::oci::walk;

use crate::oci::image::*;
use crate::oci::layout::Layout;
use anyhow::{bail, Result};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

/// The files one installed package owns.
#[derive(Debug, Clone)]
pub struct PackageFiles {
    pub name: String,
    /// Installed size in bytes (weighs the chunk plan).
    pub size: u64,
    /// In-tree absolute paths (`/usr/bin/foo`) from the RPM header.
    pub paths: Vec<PathBuf>,
}

/// Everything `build_image` needs.
pub struct ImageRequest<'a> {
    /// The finished tree (mtimes already clamped to SOURCE_DATE_EPOCH).
    pub root: &'a Path,
    pub packages: &'a [PackageFiles],
    /// Derive mode: the unpacked base (see `unpack`).
    pub base: Option<&'a BaseImage>,
    /// The previous build's manifest: its layer annotations are the plan.
    pub previous: Option<&'a Manifest>,
    /// At most this many layers written by this build (base layers not
    /// counted); the last one is the unpackaged layer.
    pub max_layers: usize,
    pub compression: Compression,
    pub source_date_epoch: i64,
    pub platform: Platform,
    pub labels: BTreeMap<String, String>,
    pub cmd: Vec<String>,
    pub stop_signal: Option<String>,
    pub env: Vec<String>,
}

/// What `build_image` wrote.
#[derive(Debug, Clone)]
pub struct Built {
    /// The image manifest, with `platform` set (ready for `write_index`).
    pub manifest: Descriptor,
    /// Layers written by this build (base layers not counted).
    pub layers: usize,
    /// diff_ids of every layer of the image, base layers first.
    pub diff_ids: Vec<String>,
}

/// Writes an image index of `manifests` (each with its platform) and tags
/// it `tag`.
pub fn write_index(layout: &Layout, manifests: &[Descriptor], tag: &str) -> Result<Descriptor> {
    if let Some(m) = manifests.iter().find(|m| m.platform.is_none()) {
        bail!("manifest {} has no platform for the index", m.digest);
    }
    let d = layout.write_json(MEDIA_INDEX, &Index::new(manifests.to_vec()))?;
    layout.add_ref(tag, &d)?;
    Ok(d)
}

/// Where a written path goes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    Chunk(usize),
    Unpackaged,
}

/// Builds the image of `req.root` into `layout` (not tagged; see
/// `Layout::add_ref` and `write_index`).
pub fn build_image(layout: &Layout, req: &ImageRequest) -> Result<Built> {
    let epoch = req.source_date_epoch;
    let base = req.base;
    let nodes = walk::walk(req.root, base.is_some())?;
    // Which nodes this build writes, and what it deletes from the base.
    let (write, whiteouts) = match base {
        None => (vec![true; nodes.len()], Vec::new()),
        Some(b) => {
            let mut w = Vec::with_capacity(nodes.len());
            for n in &nodes {
                w.push(b.snapshot.changed(req.root, n, epoch)?);
            }
            let present: HashMap<&str, &walk::Meta> =
                nodes.iter().map(|n| (n.rel.as_str(), &n.meta)).collect();
            (w, b.snapshot.deleted(&present))
        }
    };

    // Owner of each path: the first package by name that lists it.
    let mut pkgs: Vec<&PackageFiles> = req.packages.iter().collect();
    pkgs.sort_by(|a, b| a.name.cmp(&b.name));
    let mut owner: HashMap<&str, &str> = HashMap::new();
    for p in &pkgs {
        for path in &p.paths {
            if let Some(rel) = path.to_str().map(|s| s.trim_matches('/')) {
                if !rel.is_empty() {
                    owner.entry(rel).or_insert(p.name.as_str());
                }
            }
        }
    }
    // Package of each written non-directory; a hard-link group follows its
    // first path.
    let mut pkg_of: Vec<Option<&str>> = vec![None; nodes.len()];
    let mut groups: HashMap<(u64, u64), Option<&str>> = HashMap::new();
    for (i, n) in nodes.iter().enumerate() {
        if !write[i] || n.meta.is_dir() {
            continue;
        }
        let own = owner.get(n.rel.as_str()).copied();
        pkg_of[i] = if n.meta.is_file() && n.meta.nlink > 1 {
            *groups.entry((n.meta.dev, n.meta.ino)).or_insert(own)
        } else {
            own
        };
    }

    // The plan, over packages that have something to write.
    let used: HashSet<&str> = pkg_of.iter().flatten().copied().collect();
    let sizes: Vec<(&str, u64)> = pkgs
        .iter()
        .filter(|p| used.contains(p.name.as_str()))
        .map(|p| (p.name.as_str(), p.size))
        .collect();
    let base_digests: HashSet<&str> = base
        .map(|b| {
            b.manifest
                .layers
                .iter()
                .map(|l| l.digest.as_str())
                .collect()
        })
        .unwrap_or_default();
    let previous: Option<Vec<Vec<String>>> = req.previous.map(|m| {
        m.layers
            .iter()
            .filter(|l| !base_digests.contains(l.digest.as_str()))
            .filter_map(layer_packages)
            .collect()
    });
    let chunks = chunk::plan(
        &sizes,
        previous.as_deref(),
        req.max_layers.saturating_sub(1),
    );
    let chunk_of: HashMap<&str, usize> = chunks
        .iter()
        .enumerate()
        .flat_map(|(i, c)| c.iter().map(move |p| (p.as_str(), i)))
        .collect();

    // Entries per layer, in walk order.
    let canonical = layer::Item::Dir {
        mode: 0o755,
        uid: 0,
        gid: 0,
    };
    let mut layers: Vec<Vec<layer::Entry>> = vec![Vec::new(); chunks.len()];
    let mut emitted: Vec<HashSet<&str>> = vec![HashSet::new(); chunks.len()];
    let mut final_dirs: HashSet<&str> = HashSet::new();
    let mut final_other: Vec<&str> = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        if !write[i] {
            continue;
        }
        let slot = if n.meta.is_dir() {
            Slot::Unpackaged
        } else {
            match pkg_of[i].and_then(|p| chunk_of.get(p)) {
                Some(&c) => Slot::Chunk(c),
                None => Slot::Unpackaged,
            }
        };
        match slot {
            Slot::Chunk(c) => {
                for a in ancestors(&n.rel) {
                    final_dirs.insert(a);
                    if emitted[c].insert(a) {
                        layers[c].push(layer::Entry {
                            rel: a.to_string(),
                            item: canonical.clone(),
                        });
                    }
                }
                layers[c].push(layer::Entry {
                    rel: n.rel.clone(),
                    item: layer::Item::Disk,
                });
            }
            Slot::Unpackaged if n.meta.is_dir() => {
                final_dirs.insert(&n.rel);
            }
            Slot::Unpackaged => final_other.push(&n.rel),
        }
    }
    // The final layer: true metadata of every directory touched above (in
    // compose mode, of every directory), its files, whiteouts.
    let mut fin: Vec<(Vec<&str>, layer::Entry)> = Vec::new();
    for rel in final_other
        .iter()
        .copied()
        .chain(whiteouts.iter().map(String::as_str))
    {
        final_dirs.extend(ancestors(rel));
    }
    let outer: Vec<&str> = final_dirs.iter().flat_map(|d| ancestors(d)).collect();
    final_dirs.extend(outer);
    if base.is_none() {
        final_dirs.insert("");
    }
    for d in &final_dirs {
        fin.push((key(d), disk(d)));
    }
    for f in &final_other {
        fin.push((key(f), disk(f)));
    }
    for w in &whiteouts {
        let entry = layer::Entry {
            rel: w.clone(),
            item: layer::Item::Whiteout,
        };
        fin.push((key(w), entry));
    }
    fin.sort_by(|a, b| a.0.cmp(&b.0));

    // Write the blobs.
    let mut descs: Vec<Descriptor> = base.map(|b| b.manifest.layers.clone()).unwrap_or_default();
    for d in &mut descs {
        if d.media_type == MEDIA_DOCKER_LAYER_GZIP {
            d.media_type = MEDIA_LAYER_GZIP.to_string();
        }
    }
    let mut diff_ids: Vec<String> = base
        .map(|b| {
            b.config["rootfs"]["diff_ids"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        })
        .unwrap_or_default();
    let mut history: Vec<Value> = Vec::new();
    let mut written = 0;
    let created = rfc3339(epoch);
    // Compressing is the expensive part: layers are written side by side,
    // one per core, and taken back in plan order.
    let jobs: Vec<usize> = (0..layers.len())
        .filter(|&c| !layers[c].is_empty())
        .collect();
    let mut results = in_parallel(&jobs, |&c| {
        layer::write(layout, req.root, &layers[c], req.compression, epoch)
    })
    .into_iter();
    for &c in &jobs {
        let w = results.next().expect("one result per job")?;
        let mut d = w.descriptor;
        d.annotations
            .insert(ANNOTATION_PACKAGES.to_string(), chunks[c].join(","));
        d.annotations
            .insert(ANNOTATION_LAYER.to_string(), "packages".to_string());
        descs.push(d);
        diff_ids.push(w.diff_id);
        history.push(json!({
            "created": created,
            "created_by": "image-builder",
            "comment": format!("packages: {}", chunks[c].join(" ")),
        }));
        written += 1;
    }
    if !fin.is_empty() {
        let entries: Vec<layer::Entry> = fin.into_iter().map(|(_, e)| e).collect();
        let w = layer::write(layout, req.root, &entries, req.compression, epoch)?;
        let mut d = w.descriptor;
        d.annotations
            .insert(ANNOTATION_LAYER.to_string(), "unpackaged".to_string());
        descs.push(d);
        diff_ids.push(w.diff_id);
        history.push(json!({
            "created": created,
            "created_by": "image-builder",
            "comment": "files no package owns, directory metadata, deletions",
        }));
        written += 1;
    }

    let config = config(req, &diff_ids, history);
    let config_desc = layout.write_json(MEDIA_CONFIG, &config)?;
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(MEDIA_MANIFEST.to_string()),
        artifact_type: None,
        config: config_desc,
        layers: descs,
        subject: None,
        annotations: BTreeMap::new(),
    };
    let mut d = layout.write_json(MEDIA_MANIFEST, &manifest)?;
    d.platform = Some(req.platform.clone());
    Ok(Built {
        manifest: d,
        layers: written,
        diff_ids,
    })
}

/// Proper ancestors of a tree-relative path, outermost first, root
/// excluded (`a/b/c` → `a`, `a/b`).
fn ancestors(rel: &str) -> impl Iterator<Item = &str> {
    rel.match_indices('/').map(move |(i, _)| &rel[..i])
}

/// Sort key matching the walk order (component by component).
fn key(rel: &str) -> Vec<&str> {
    if rel.is_empty() {
        Vec::new()
    } else {
        rel.split('/').collect()
    }
}

fn disk(rel: &str) -> layer::Entry {
    layer::Entry {
        rel: rel.to_string(),
        item: layer::Item::Disk,
    }
}

/// The image config: the base's (unknown fields kept) or a new one, with
/// our creation time, platform, labels, command, stop signal, environment,
/// diff_ids and history appended.
fn config(req: &ImageRequest, diff_ids: &[String], history: Vec<Value>) -> Value {
    let mut c = req
        .base
        .map(|b| b.config.clone())
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    c["created"] = json!(rfc3339(req.source_date_epoch));
    c["architecture"] = json!(req.platform.architecture);
    c["os"] = json!(req.platform.os);
    let obj = c.as_object_mut().expect("an object");
    match &req.platform.variant {
        Some(v) => obj.insert("variant".into(), json!(v)),
        None => obj.remove("variant"),
    };
    if !obj.get("config").is_some_and(Value::is_object) {
        obj.insert("config".into(), json!({}));
    }
    let cfg = obj["config"].as_object_mut().expect("an object");
    if !req.labels.is_empty() {
        let mut labels: BTreeMap<String, Value> = cfg
            .get("Labels")
            .and_then(Value::as_object)
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        for (k, v) in &req.labels {
            labels.insert(k.clone(), json!(v));
        }
        cfg.insert("Labels".into(), json!(labels));
    }
    if !req.cmd.is_empty() {
        cfg.insert("Cmd".into(), json!(req.cmd));
    }
    if let Some(s) = &req.stop_signal {
        cfg.insert("StopSignal".into(), json!(s));
    }
    if !req.env.is_empty() {
        // Base variables first, ours replacing any of the same name.
        let name = |e: &str| e.split('=').next().unwrap_or("").to_string();
        let ours: HashSet<String> = req.env.iter().map(|e| name(e)).collect();
        let mut env: Vec<Value> = cfg
            .get("Env")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter(|v| !v.as_str().is_some_and(|s| ours.contains(&name(s))))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        env.extend(req.env.iter().map(|e| json!(e)));
        cfg.insert("Env".into(), json!(env));
    }
    obj.insert(
        "rootfs".into(),
        json!({"type": "layers", "diff_ids": diff_ids}),
    );
    let mut h: Vec<Value> = obj
        .get("history")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    h.extend(history);
    obj.insert("history".into(), json!(h));
    c
}

/// `f` over `items` on up to one thread per core (at most 8), results in
/// the items' order. Each job streams its own layer, so memory stays flat.
fn in_parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8)
        .min(items.len().max(1));
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let r = f(item);
                out.lock().expect("no job panics while holding the lock")[i] = Some(r);
            });
        }
    });
    out.into_inner()
        .expect("threads are done")
        .into_iter()
        .map(|r| r.expect("every job ran"))
        .collect()
}
