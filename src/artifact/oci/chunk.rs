//! The layer plan: which packages share a layer.
//!
//! Goal: when one package is added, removed or updated, only the layer
//! holding it (plus the final "unpackaged" layer, which holds the rpmdb)
//! gets a new digest, so a registry already has every other layer. Two
//! cases:
//!
//! * **With a previous plan** (the `org.almalinux.image-builder.packages`
//!   annotations of the previous build's layers) the plan is kept as it
//!   is: packages stay in their chunks, removed packages leave theirs (an
//!   emptied chunk disappears and frees a slot), and each new package gets
//!   a chunk of its own while the budget allows, largest first, else joins
//!   an existing multi-package chunk chosen by a stable hash of its name.
//!
//! * **Without one** the split must still be stable under small changes,
//!   so it never depends on ranks or totals that one package can shift.
//!   When every package fits, each gets its own chunk. Otherwise half the
//!   budget is reserved for packages of at least `LARGE` bytes (the kernel,
//!   firmware, big libraries: the ones worth not re-pushing when a small
//!   neighbour changes), largest first, and every other package goes to
//!   one of the remaining bins by SHA-256 of its name modulo the bin
//!   count — a function of the name alone, so adding a package touches
//!   exactly one bin. Edges that do move more than one chunk (documented,
//!   not hidden): crossing from "every package fits" to binning, and a new
//!   large package when the reserved singles are all taken and it outranks
//!   one of them. The previous-plan path has neither, and it is the normal
//!   one after the first build.
//!
//! The output order is the layer order: previous chunks first in their old
//! order, new chunks after; without a plan singles (largest first) then
//! bins in index order.

use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};

/// A package at least this big gets a layer of its own when binning.
pub const LARGE: u64 = 8 << 20;

/// A stable 64-bit hash of a package name (same on every host and build).
fn stable_hash(name: &str) -> u64 {
    let d = Sha256::digest(name.as_bytes());
    u64::from_be_bytes(d[..8].try_into().expect("8 bytes"))
}

/// Splits `packages` (name, installed size) into at most `budget` chunks,
/// each a sorted list of names. See the module docs.
pub fn plan(
    packages: &[(&str, u64)],
    previous: Option<&[Vec<String>]>,
    budget: usize,
) -> Vec<Vec<String>> {
    if budget == 0 || packages.is_empty() {
        return Vec::new();
    }
    // A previous image without our annotations is no plan at all.
    let previous = previous.filter(|p| !p.is_empty());
    let size: HashMap<&str, u64> = packages.iter().copied().collect();
    // Largest first, then by name: the order new chunks are handed out.
    let mut by_size: Vec<&str> = size.keys().copied().collect();
    by_size.sort_by(|a, b| size[b].cmp(&size[a]).then(a.cmp(b)));

    let mut chunks: Vec<Vec<String>> = match previous {
        Some(prev) => keep_previous(prev, &size),
        None => Vec::new(),
    };
    if previous.is_none() && by_size.len() > budget {
        chunks = bins(&by_size, &size, budget);
    } else {
        let placed: HashSet<String> = chunks.iter().flatten().cloned().collect();
        for p in by_size.iter().filter(|p| !placed.contains(**p)) {
            if chunks.len() < budget {
                chunks.push(vec![p.to_string()]);
            } else {
                let i = pick_bin(&chunks, p);
                chunks[i].push(p.to_string());
            }
        }
    }
    // A smaller budget than the previous plan had: fold the last chunks in.
    while chunks.len() > budget {
        let last = chunks.pop().expect("more chunks than a non-zero budget");
        for p in last {
            let i = pick_bin(&chunks, &p);
            chunks[i].push(p);
        }
    }
    for c in &mut chunks {
        c.sort();
    }
    chunks
}

/// The previous plan minus packages no longer present (first chunk wins
/// for a package listed twice); emptied chunks are dropped.
fn keep_previous(prev: &[Vec<String>], present: &HashMap<&str, u64>) -> Vec<Vec<String>> {
    let mut seen = HashSet::new();
    prev.iter()
        .map(|c| {
            c.iter()
                .filter(|p| present.contains_key(p.as_str()) && seen.insert(p.as_str()))
                .cloned()
                .collect::<Vec<_>>()
        })
        .filter(|c| !c.is_empty())
        .collect()
}

/// Where a package goes when every slot is taken: a multi-package chunk
/// (or any chunk if there is none) by stable hash of the name.
fn pick_bin(chunks: &[Vec<String>], name: &str) -> usize {
    let multi: Vec<usize> = (0..chunks.len()).filter(|&i| chunks[i].len() > 1).collect();
    let pool: Vec<usize> = if multi.is_empty() {
        (0..chunks.len()).collect()
    } else {
        multi
    };
    pool[(stable_hash(name) % pool.len() as u64) as usize]
}

/// The plan without history, for more packages than the budget.
fn bins(by_size: &[&str], size: &HashMap<&str, u64>, budget: usize) -> Vec<Vec<String>> {
    let singles_max = budget / 2;
    let nbins = (budget - singles_max) as u64;
    let singles: Vec<&str> = by_size
        .iter()
        .copied()
        .filter(|p| size[p] >= LARGE)
        .take(singles_max)
        .collect();
    let single_set: HashSet<&str> = singles.iter().copied().collect();
    let mut binned: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for p in by_size.iter().filter(|p| !single_set.contains(**p)) {
        binned
            .entry(stable_hash(p) % nbins)
            .or_default()
            .push(p.to_string());
    }
    singles
        .into_iter()
        .map(|p| vec![p.to_string()])
        .chain(binned.into_values())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkgs(n: usize) -> Vec<(String, u64)> {
        (0..n)
            .map(|i| (format!("pkg{i:03}"), 1000 + (i as u64 * 7919) % 5000))
            .collect()
    }

    fn refs(p: &[(String, u64)]) -> Vec<(&str, u64)> {
        p.iter().map(|(n, s)| (n.as_str(), *s)).collect()
    }

    /// Chunks of `b` that are not chunks of `a`.
    fn changed(a: &[Vec<String>], b: &[Vec<String>]) -> usize {
        b.iter().filter(|c| !a.contains(c)).count()
    }

    #[test]
    fn one_package_per_chunk_when_it_fits() {
        let p = pkgs(5);
        let c = plan(&refs(&p), None, 7);
        assert_eq!(c.len(), 5);
        assert!(c.iter().all(|c| c.len() == 1));
        assert!(plan(&refs(&p), None, 0).is_empty());
    }

    #[test]
    fn binning_is_stable_without_a_plan() {
        let mut p = pkgs(50);
        p.push(("kernel-core".into(), 60 << 20));
        p.push(("linux-firmware".into(), 300 << 20));
        let a = plan(&refs(&p), None, 7);
        assert!(a.len() <= 7);
        assert_eq!(a[0], ["linux-firmware"]);
        assert_eq!(a[1], ["kernel-core"]);
        assert_eq!(a.iter().map(Vec::len).sum::<usize>(), 52);
        p.push(("zsh".into(), 3000));
        let b = plan(&refs(&p), None, 7);
        assert_eq!(changed(&a, &b), 1, "{a:?}\n{b:?}");
        p.retain(|(n, _)| n != "pkg010");
        let c = plan(&refs(&p), None, 7);
        assert_eq!(changed(&b, &c), 1);
    }

    #[test]
    fn previous_plan_is_kept() {
        let p = pkgs(50);
        let prev = plan(&refs(&p), None, 7);
        // A new package, with the plan: one chunk changes, order is kept.
        let mut q = p.clone();
        q.push(("newpkg".into(), 10 << 20));
        // No large packages: 4 bins, 3 free slots; the newcomer takes one.
        assert_eq!(prev.len(), 4);
        let b = plan(&refs(&q), Some(&prev), 7);
        assert_eq!(&b[..4], &prev[..]);
        assert_eq!(b[4], ["newpkg"]);
        // No slot left: it joins one bin, the others stay.
        let b = plan(&refs(&q), Some(&prev), 4);
        assert_eq!(b.len(), 4);
        assert_eq!(changed(&prev, &b), 1);
        // Room left: the new package gets its own chunk, at the end.
        let short: Vec<Vec<String>> = prev[..3].to_vec();
        let names: HashSet<&String> = short.iter().flatten().collect();
        let mut r: Vec<(String, u64)> = p
            .iter()
            .filter(|(n, _)| names.contains(n))
            .cloned()
            .collect();
        r.push(("newpkg".into(), 1));
        let c = plan(&refs(&r), Some(&short), 7);
        assert_eq!(&c[..3], &short[..]);
        assert_eq!(c[3], ["newpkg"]);
        // Removal: the emptied chunk goes, nothing else moves.
        let d = plan(&refs(&r[1..]), Some(&c), 7);
        assert!(changed(&c, &d) <= 1);
        // A shrunk budget folds chunks in, staying within it.
        assert!(plan(&refs(&p), Some(&prev), 3).len() <= 3);
    }
}
