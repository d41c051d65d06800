//! The repositories a target resolves against: the distro's (expanded for
//! the arch) unless `[build] distro_repos = false`, then the manifest's.

use super::{expand, PlanRepo};
use crate::distro::{arch, Arch, DistroDef};
use crate::manifest::Document;

pub(super) fn repos_for(doc: &Document, distro: &DistroDef, ar: &Arch) -> Vec<PlanRepo> {
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
            out.push(PlanRepo {
                id: r.id.clone(),
                name: expand(&r.name, distro, ar),
                origin: "distro",
                baseurls: r.baseurl.iter().map(|u| expand(u, distro, ar)).collect(),
                mirrorlist: r.mirrorlist.as_ref().map(|u| expand(u, distro, ar)),
                metalink: r.metalink.as_ref().map(|u| expand(u, distro, ar)),
                gpgkeys: r.gpgkeys.iter().map(|k| expand(k, distro, ar)).collect(),
                gpgcheck: r.gpgcheck,
                repo_gpgcheck: r.repo_gpgcheck,
                priority: 99,
                module_hotfixes: false,
                inline_keys: vec![],
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
                        "(inline key)".to_string()
                    } else {
                        expand(k, distro, ar)
                    }
                })
                .collect(),
            gpgcheck: r.gpgcheck.unwrap_or(true),
            repo_gpgcheck: r.repo_gpgcheck.unwrap_or(false),
            priority: r.priority.unwrap_or(99),
            module_hotfixes: r.module_hotfixes.unwrap_or(false),
            inline_keys: r
                .gpgkey
                .to_vec()
                .into_iter()
                .filter(|k| k.contains("BEGIN PGP"))
                .collect(),
        });
    }
    out
}
