//! The arches a manifest builds for: its own list (or the host's arch
//! when it names none), narrowed by `--arch`. Here rather than in the plan
//! because validation judges per-arch settings (firmware, Secure Boot)
//! against the same list the plan builds.

use super::Document;
use crate::distro::{arch, DistroDef};

/// Arches a manifest builds for, after `--arch`: the manifest's list, or
/// the host's arch when it names none.
pub fn of(doc: &Document, distro: &DistroDef, wanted: &[String]) -> Vec<String> {
    let m = &doc.manifest;
    let mut listed: Vec<String> = m
        .architecture
        .iter()
        .chain(m.architectures.iter())
        .filter_map(|a| arch::lookup(a))
        .map(|a| a.name.to_string())
        .collect();
    if listed.is_empty() {
        let host = arch::host();
        listed.push(if distro.supports_arch(host) {
            host.to_string()
        } else {
            distro.arches[0].clone()
        });
    }
    if !wanted.is_empty() {
        let wanted: Vec<&str> = wanted
            .iter()
            .filter_map(|a| arch::lookup(a))
            .map(|a| a.name)
            .collect();
        let from_manifest = m.architecture.is_some() || !m.architectures.is_empty();
        if from_manifest {
            listed.retain(|a| wanted.contains(&a.as_str()));
        } else {
            listed = wanted.iter().map(|s| s.to_string()).collect();
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    listed.retain(|a| seen.insert(a.clone()));
    listed
}
