//! `MANIFEST.lock`: what a resolution decided, so a build can repeat it
//! byte for byte without metadata.
//!
//! One `[[target]]` per arch and output. Each records the request it was
//! solved from (one `[[target.request.transaction]]` per package set of
//! the chain, in solving order) (so `--locked` can say exactly what changed in the
//! manifest), the repos (ids, base URLs, key fingerprints) and every
//! package with its NEVRA, repo, URL, checksum, size and expected signing
//! key. Versioned: a lockfile from a newer format is refused, not guessed.
//! Version 2 records the request per transaction (version 1 had one
//! include and one exclude list); a version 1 lock is refused with the
//! hint to re-lock, since its single list cannot say which exclude
//! belonged to which set.

use crate::error::InputError;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const LOCK_VERSION: u32 = 2;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lockfile {
    pub version: u32,
    /// The manifest's file name (for people reading the lock).
    pub manifest: String,
    #[serde(default, rename = "target")]
    pub targets: Vec<Target>,
}

/// What was asked: compared field by field under `--locked`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LockedRequest {
    #[serde(default)]
    pub modules: Vec<String>,
    pub weak_deps: bool,
    /// `id` of each repo, in priority order.
    pub repos: Vec<String>,
    /// Derived images: the `[base] image` as the manifest names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// The package-set chain, in solving order.
    #[serde(default, rename = "transaction")]
    pub transactions: Vec<LockedTransaction>,
    /// `[[build.script]]`, in order. Absent (empty) in locks of manifests
    /// without scripts, so those read and write exactly as before.
    #[serde(default, rename = "script", skip_serializing_if = "Vec::is_empty")]
    pub scripts: Vec<LockedScript>,
}

/// A build script as locked: what it is and the digest of its bytes, so
/// a changed script makes the lock stale like a changed package list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LockedScript {
    pub name: String,
    pub interpreter: String,
    pub network: bool,
    /// `sha256:HEX` of the script's bytes.
    pub digest: String,
}

/// One package set of the chain, as solved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LockedTransaction {
    /// `base`, `customizations` or `manifest`.
    pub name: String,
    pub include: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
}

/// The base image a derived target was resolved against: its packages are
/// the installed set, and the build starts from exactly this manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedBase {
    /// Where it was read from (`docker://…`, `oci:…`, `oci-archive:…`).
    pub reference: String,
    /// This arch's image manifest digest.
    pub digest: String,
    /// Installed packages (NEVRA) in the base, for people and for `--locked`.
    #[serde(default)]
    pub packages: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedRepo {
    pub id: String,
    pub baseurls: Vec<String>,
    pub gpgcheck: bool,
    /// Fingerprints of the keys packages must be signed with.
    #[serde(default)]
    pub keys: Vec<String>,
    /// Key files as the manifest or distro names them (for fetch).
    #[serde(default)]
    pub key_urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedPackage {
    pub name: String,
    pub epoch: u64,
    pub version: String,
    pub release: String,
    pub arch: String,
    pub repo: String,
    /// Path relative to the repo's base URL.
    pub location: String,
    /// `sha256:hex` (the repo's checksum type).
    pub checksum: String,
    pub size: u64,
    /// Long id (16 hex) of the key expected to sign it; empty with gpgcheck off.
    #[serde(default)]
    pub key: String,
}

impl LockedPackage {
    pub fn nevra(&self) -> String {
        if self.epoch > 0 {
            format!(
                "{}-{}:{}-{}.{}",
                self.name, self.epoch, self.version, self.release, self.arch
            )
        } else {
            format!(
                "{}-{}-{}.{}",
                self.name, self.version, self.release, self.arch
            )
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub arch: String,
    pub output: String,
    pub request: LockedRequest,
    #[serde(default, rename = "repo")]
    pub repos: Vec<LockedRepo>,
    #[serde(default, rename = "package")]
    pub packages: Vec<LockedPackage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<LockedBase>,
}

/// `foo.toml` → `foo.lock`, beside it, as `Cargo.toml` has `Cargo.lock`.
pub fn path_for(manifest: &Path) -> PathBuf {
    manifest.with_extension("lock")
}

impl Lockfile {
    pub fn to_toml(&self) -> String {
        let body = toml::to_string(self).expect("lockfiles serialize");
        format!("# Written by `image-builder lock`; do not edit by hand.\n{body}")
    }

    pub fn load(path: &Path) -> Result<Lockfile> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            InputError(format!(
                "{}: {e}; run `image-builder lock` first",
                path.display()
            ))
        })?;
        Lockfile::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Lockfile> {
        #[derive(Deserialize)]
        struct V {
            version: Option<u32>,
        }
        let v: V =
            toml::from_str(text).map_err(|e| InputError(format!("{}: {e}", path.display())))?;
        match v.version {
            Some(LOCK_VERSION) => {}
            Some(n) => {
                return Err(InputError(format!(
                    "{}: lockfile version {n} is not supported (this image-builder writes version {LOCK_VERSION}); re-run `image-builder lock`",
                    path.display()
                ))
                .into())
            }
            None => return Err(InputError(format!("{}: not a lockfile (no version)", path.display())).into()),
        }
        toml::from_str(text).map_err(|e| InputError(format!("{}: {e}", path.display())).into())
    }

    /// Writes atomically (temp file, rename).
    pub fn write(&self, path: &Path) -> Result<()> {
        let tmp = path.with_extension(format!("lock.tmp.{}", std::process::id()));
        std::fs::write(&tmp, self.to_toml())
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
    }

    pub fn target(&self, arch: &str, output: &str) -> Option<&Target> {
        self.targets
            .iter()
            .find(|t| t.arch == arch && t.output == output)
    }
}

fn list_diff(what: &str, old: &[String], new: &[String]) -> Option<String> {
    let added: Vec<&String> = new.iter().filter(|x| !old.contains(x)).collect();
    let removed: Vec<&String> = old.iter().filter(|x| !new.contains(x)).collect();
    if added.is_empty() && removed.is_empty() {
        return None;
    }
    let mut parts = vec![];
    if !added.is_empty() {
        parts.push(format!("added {}", join(&added)));
    }
    if !removed.is_empty() {
        parts.push(format!("removed {}", join(&removed)));
    }
    Some(format!("{what}: {}", parts.join(", ")))
}

fn join(v: &[&String]) -> String {
    v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")
}

/// How `new` differs from what the lock was made from; empty when equal.
pub fn request_changes(old: &LockedRequest, new: &LockedRequest) -> Vec<String> {
    let mut out = vec![];
    let mut names: Vec<&str> = new.transactions.iter().map(|t| t.name.as_str()).collect();
    for t in &old.transactions {
        if !names.contains(&t.name.as_str()) {
            names.push(&t.name);
        }
    }
    let empty = LockedTransaction::default();
    for n in names {
        let find = |r: &'_ LockedRequest| -> LockedTransaction {
            r.transactions
                .iter()
                .find(|t| t.name == n)
                .cloned()
                .unwrap_or_else(|| empty.clone())
        };
        let (o, w) = (find(old), find(new));
        out.extend(list_diff(&format!("{n} packages"), &o.include, &w.include));
        out.extend(list_diff(&format!("{n} excludes"), &o.exclude, &w.exclude));
    }
    out.extend(list_diff("module streams", &old.modules, &new.modules));
    out.extend(list_diff("repositories", &old.repos, &new.repos));
    if old.base != new.base {
        out.push(format!(
            "base image: {} → {}",
            old.base.as_deref().unwrap_or("none"),
            new.base.as_deref().unwrap_or("none")
        ));
    }
    out.extend(script_changes(&old.scripts, &new.scripts));
    if old.weak_deps != new.weak_deps {
        out.push(format!(
            "weak dependencies: {} → {}",
            on(old.weak_deps),
            on(new.weak_deps)
        ));
    }
    out
}

/// `build scripts changed: …` naming each script added, removed, changed
/// or moved; None when they are the same, in the same order.
fn script_changes(old: &[LockedScript], new: &[LockedScript]) -> Option<String> {
    if old == new {
        return None;
    }
    let find = |v: &[LockedScript], n: &str| v.iter().position(|s| s.name == n);
    let mut parts = vec![];
    for (i, s) in new.iter().enumerate() {
        match find(old, &s.name) {
            None => parts.push(format!("added {:?}", s.name)),
            Some(j) if old[j] != *s => parts.push(format!("{:?} changed", s.name)),
            Some(j) if j != i => parts.push(format!("{:?} moved", s.name)),
            Some(_) => {}
        }
    }
    for s in old {
        if find(new, &s.name).is_none() {
            parts.push(format!("removed {:?}", s.name));
        }
    }
    if parts.is_empty() {
        parts.push("reordered".into());
    }
    Some(format!("build scripts changed: {}", parts.join(", ")))
}

fn on(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Lockfile {
        Lockfile {
            version: LOCK_VERSION,
            manifest: "m.toml".into(),
            targets: vec![Target {
                arch: "x86_64".into(),
                output: "tar".into(),
                request: LockedRequest {
                    modules: vec![],
                    weak_deps: true,
                    repos: vec!["main".into()],
                    base: None,
                    scripts: vec![],
                    transactions: vec![
                        LockedTransaction {
                            name: "base".into(),
                            include: vec!["@core".into()],
                            exclude: vec!["plymouth".into()],
                        },
                        LockedTransaction {
                            name: "manifest".into(),
                            include: vec!["foo".into()],
                            exclude: vec![],
                        },
                    ],
                },
                repos: vec![LockedRepo {
                    id: "main".into(),
                    baseurls: vec!["file:///r/".into()],
                    gpgcheck: true,
                    keys: vec!["ABCD".into()],
                    key_urls: vec!["file:///k".into()],
                    revision: None,
                }],
                packages: vec![LockedPackage {
                    name: "foo".into(),
                    epoch: 1,
                    version: "2".into(),
                    release: "3".into(),
                    arch: "noarch".into(),
                    repo: "main".into(),
                    location: "foo.rpm".into(),
                    checksum: "sha256:00".into(),
                    size: 5,
                    key: "ABCD".into(),
                }],
                base: None,
            }],
        }
    }

    #[test]
    fn round_trip() {
        let l = sample();
        let t = l.to_toml();
        assert!(t.starts_with("# Written by"));
        assert_eq!(Lockfile::parse(&t, Path::new("x.lock")).unwrap(), l);
        assert_eq!(l.targets[0].packages[0].nevra(), "foo-1:2-3.noarch");
    }

    #[test]
    fn version_1_locks_ask_for_a_relock() {
        let e =
            Lockfile::parse("version = 1\nmanifest = \"m\"\n", Path::new("x.lock")).unwrap_err();
        assert!(e.to_string().contains("re-run `image-builder lock`"), "{e}");
    }

    #[test]
    fn versions_and_garbage_are_input_errors() {
        let e =
            Lockfile::parse("version = 9\nmanifest = \"m\"\n", Path::new("x.lock")).unwrap_err();
        assert!(e.downcast_ref::<InputError>().is_some());
        assert!(e.to_string().contains("version 9 is not supported"), "{e}");
        let e = Lockfile::parse("manifest = 1", Path::new("x.lock")).unwrap_err();
        assert!(e.to_string().contains("x.lock"), "{e}");
    }

    #[test]
    fn changes_are_named() {
        let old = sample().targets[0].request.clone();
        let mut new = old.clone();
        assert!(request_changes(&old, &new).is_empty());
        new.transactions[1].include = vec!["bar".into()];
        new.transactions[0].exclude.clear();
        new.weak_deps = false;
        let c = request_changes(&old, &new);
        assert_eq!(
            c,
            [
                "base excludes: removed plymouth",
                "manifest packages: added bar, removed foo",
                "weak dependencies: on → off"
            ]
        );
        // A set that appears or goes away is named with all it holds.
        new.transactions.remove(0);
        let c = request_changes(&old, &new);
        assert!(
            c.contains(&"base packages: removed @core".to_string()),
            "{c:?}"
        );
    }

    #[test]
    fn script_changes_are_named_and_old_locks_still_read() {
        let sc = |name: &str, digest: &str| LockedScript {
            name: name.into(),
            interpreter: "/bin/sh".into(),
            network: false,
            digest: digest.into(),
        };
        let old = sample().targets[0].request.clone();
        // A lock without scripts writes no `script` key at all.
        assert!(!sample().to_toml().contains("script"));
        let mut new = old.clone();
        new.scripts = vec![sc("a", "sha256:1"), sc("b", "sha256:2")];
        assert_eq!(
            request_changes(&old, &new),
            ["build scripts changed: added \"a\", added \"b\""]
        );
        let mut l = sample();
        l.targets[0].request = new.clone();
        let t = l.to_toml();
        assert!(t.contains("[[target.request.script]]"), "{t}");
        assert_eq!(Lockfile::parse(&t, Path::new("x.lock")).unwrap(), l);
        let mut changed = new.clone();
        changed.scripts[1].digest = "sha256:3".into();
        assert_eq!(
            request_changes(&new, &changed),
            ["build scripts changed: \"b\" changed"]
        );
        changed.scripts[1].network = true;
        changed.scripts.swap(0, 1);
        changed.scripts.remove(1);
        assert_eq!(
            request_changes(&new, &changed),
            ["build scripts changed: \"b\" changed, removed \"a\""]
        );
        let mut swapped = new.clone();
        swapped.scripts.swap(0, 1);
        assert_eq!(
            request_changes(&new, &swapped),
            ["build scripts changed: \"b\" moved, \"a\" moved"]
        );
    }

    #[test]
    fn lock_path_sits_beside_the_manifest() {
        assert_eq!(path_for(Path::new("a/b.toml")), Path::new("a/b.lock"));
    }
}
