//! The repositories a target resolves against: the distro's (expanded for
//! the arch, moved to the mirror when one is set) unless `[build]
//! distro_repos = false`, then the manifest's.
//!
//! Keys travel as bytes: a distro key name becomes the embedded key (with
//! its fingerprint, for the printed plan), an armored manifest key stays
//! inline, and only real URLs are left for the resolver to fetch.

use super::{expand, PlanRepo, RepoKey};
use crate::distro::{arch, keys, Arch, DistroDef};
use crate::manifest::Document;

/// `mirror`: a checked mirror root (see `mirror::parse`), or None.
pub(super) fn repos_for(
    doc: &Document,
    distro: &DistroDef,
    ar: &Arch,
    mirror: Option<&str>,
) -> Vec<PlanRepo> {
    let m = &doc.manifest;
    let mut out = vec![];
    let distro_repos = m
        .build
        .as_ref()
        .and_then(|b| b.distro_repos)
        .unwrap_or(true);
    if distro_repos {
        for r in distro
            .repos
            .iter()
            .filter(|r| r.enabled && (r.arches.is_empty() || r.arches.iter().any(|a| a == ar.name)))
        {
            // A repo under a mirror root moves with the mirror, and its
            // mirrorlist/metalink (which lead to the public mirrors) go.
            let moved = match (mirror, r.mirror_root.as_deref()) {
                (Some(to), Some(root)) => Some((to, root)),
                _ => None,
            };
            let baseurls = r
                .baseurl
                .iter()
                .map(|u| {
                    let u = moved
                        .and_then(|(to, root)| super::mirror::rewrite(u, root, to))
                        .unwrap_or_else(|| u.clone());
                    expand(&u, distro, ar)
                })
                .collect();
            let (mirrorlist, metalink) = match moved {
                Some(_) => (None, None),
                None => (
                    r.mirrorlist.as_ref().map(|u| expand(u, distro, ar)),
                    r.metalink.as_ref().map(|u| expand(u, distro, ar)),
                ),
            };
            out.push(PlanRepo {
                id: r.id.clone(),
                name: expand(&r.name, distro, ar),
                origin: "distro",
                baseurls,
                mirrorlist,
                metalink,
                gpgkeys: r
                    .gpgkeys
                    .iter()
                    .map(|k| distro_key(k, distro, ar))
                    .collect(),
                gpgcheck: r.gpgcheck,
                repo_gpgcheck: r.repo_gpgcheck,
                priority: 99,
                module_hotfixes: false,
            });
        }
    }
    for r in m.repositories.iter().filter(|r| {
        r.arches.is_empty()
            || r.arches
                .iter()
                .any(|a| arch::lookup(a).map(|x| x.name) == Some(ar.name))
    }) {
        out.push(PlanRepo {
            id: r.id.clone(),
            name: r.name.clone().unwrap_or_else(|| r.id.clone()),
            origin: "manifest",
            baseurls: r
                .baseurl
                .to_vec()
                .iter()
                .map(|u| expand(u, distro, ar))
                .collect(),
            mirrorlist: r.mirrorlist.as_ref().map(|u| expand(u, distro, ar)),
            metalink: r.metalink.as_ref().map(|u| expand(u, distro, ar)),
            gpgkeys: r
                .gpgkey
                .to_vec()
                .iter()
                .map(|k| {
                    if k.contains("BEGIN PGP") {
                        RepoKey::Inline {
                            fingerprint: keys::fingerprint(k).ok(),
                            armored: k.clone(),
                        }
                    } else {
                        RepoKey::Url {
                            url: expand(k, distro, ar),
                        }
                    }
                })
                .collect(),
            gpgcheck: r.gpgcheck.unwrap_or(true),
            repo_gpgcheck: r.repo_gpgcheck.unwrap_or(false),
            priority: r.priority.unwrap_or(99),
            module_hotfixes: r.module_hotfixes.unwrap_or(false),
        });
    }
    out
}

/// A distro repo's key entry: a URL stays a URL; a name is the embedded
/// key (checked when the distro loaded, so it is there).
fn distro_key(entry: &str, distro: &DistroDef, ar: &Arch) -> RepoKey {
    match distro.gpg_keys.get(entry) {
        Some(k) if !keys::is_url(entry) => RepoKey::Embedded {
            name: k.name.clone(),
            fingerprint: k.fingerprint.clone(),
            armored: k.armored.clone(),
        },
        _ => RepoKey::Url {
            url: expand(entry, distro, ar),
        },
    }
}
