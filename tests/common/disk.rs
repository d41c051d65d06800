//! Reading a disk image the tests built without mounting anything: its
//! partitions cut out with dd (sfdisk's table), ext4 read with debugfs.
//! No device-mapper or loop device needed.

#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};

/// `sh -c CMD`'s stdout; a failure panics with the command's stderr.
pub fn sh(cmd: &str) -> String {
    let o = alma_image_builder::tools::run("sh", &["-c", cmd]).unwrap_or_else(|e| panic!("{e:#}"));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Each partition of `raw` as its own file in `dir`: (type GUID, path).
pub fn partitions(raw: &Path, dir: &Path) -> Vec<(String, PathBuf)> {
    std::fs::create_dir_all(dir).unwrap();
    let t: Value = serde_json::from_str(&sh(&format!("sfdisk --json {}", raw.display()))).unwrap();
    let mut out = vec![];
    for (i, p) in t["partitiontable"]["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let f = dir.join(format!("part{}", i + 1));
        sh(&format!(
            "dd if={} of={} bs=512 skip={} count={} status=none",
            raw.display(),
            f.display(),
            p["start"],
            p["size"]
        ));
        out.push((p["type"].as_str().unwrap().to_lowercase(), f));
    }
    out
}

/// The partition of type GUID `ty` (lowercase) among `parts`.
pub fn find(parts: &[(String, PathBuf)], ty: &str) -> PathBuf {
    parts
        .iter()
        .find(|(t, _)| t == ty)
        .map(|(_, p)| p.clone())
        .unwrap_or_else(|| panic!("no partition of type {ty}: {parts:?}"))
}

/// The root partition type of x86_64 (discoverable partitions).
pub const ROOT_X86_64: &str = "4f68bce3-e8cd-4db1-96e7-fbcaf984b709";

/// debugfs's answer to `cmd` on the ext4 image `img`.
pub fn debugfs(img: &Path, cmd: &str) -> String {
    sh(&format!("debugfs -R '{cmd}' {} 2>/dev/null", img.display()))
}

/// The deployment directory (`/ostree/deploy/default/deploy/COMMIT.0`)
/// of the single deployment on the ext4 root `root`.
pub fn deployment(root: &Path) -> String {
    let listing = debugfs(root, "ls /ostree/deploy/default/deploy");
    let names: Vec<&str> = listing
        .split_whitespace()
        .filter(|n| n.ends_with(".0"))
        .collect();
    assert_eq!(names.len(), 1, "{listing}");
    format!("/ostree/deploy/default/deploy/{}", names[0])
}
