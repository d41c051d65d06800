//! `[[customizations.user]]`, `[[customizations.group]]` and the legacy
//! `[[customizations.sshkey]]`: names by the shadow-utils rule, ids in
//! range, no name or explicit id given twice, passwords that are either
//! plain text or whole hashes, keys that look like ssh public keys. What
//! only the tree knows (does supplementary group `wheel` exist there) is
//! the build's to judge.

use super::{judge, keys};
use crate::manifest::blueprint::Customizations;
use crate::manifest::rules;
use crate::manifest::{Diagnostic, Document};
use std::collections::BTreeMap;

pub(super) fn check(doc: &Document, c: &Customizations, out: &mut Vec<Diagnostic>) {
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    let mut uids: BTreeMap<u32, usize> = BTreeMap::new();
    for (i, u) in c.user.iter().enumerate() {
        let at = |k: &str| keys!["customizations", "user", i, k];
        if judge(doc, out, &at("name"), rules::account_name("user", &u.name)).is_some() {
            if let Some(first) = names.insert(&u.name, i) {
                names.insert(&u.name, first);
                out.push(
                    doc.diag(
                        &at("name"),
                        format!(
                            "user \"{}\" is given twice (also customizations.user[{first}])",
                            u.name
                        ),
                    )
                    .hint("merge the two [[customizations.user]] tables"),
                );
            }
        }
        for (k, v) in [
            ("description", &u.description),
            ("home", &u.home),
            ("shell", &u.shell),
        ] {
            if let Some(v) = v {
                judge(doc, out, &at(k), rules::passwd_field(k, v));
            }
        }
        if let Some(h) = &u.home {
            // osbuild strips trailing slashes from homes.
            let t = h.trim_end_matches('/');
            judge(doc, out, &at("home"), rules::image_path(t));
        }
        if let Some(s) = &u.shell {
            judge(doc, out, &at("shell"), rules::image_path(s));
        }
        if let Some(p) = u.password.as_deref().filter(|p| !p.is_empty()) {
            judge(doc, out, &at("password"), rules::password(p));
        }
        if let Some(k) = &u.key {
            judge(doc, out, &at("key"), rules::ssh_keys(k));
        }
        if let Some(uid) = u.uid {
            if let Some(id) = judge(doc, out, &at("uid"), rules::account_id("uid", uid)) {
                if let Some(first) = uids.insert(id, i) {
                    uids.insert(id, first);
                    out.push(doc.diag(
                        &at("uid"),
                        format!(
                            "uid {id} is given to two users (\"{}\" and \"{}\")",
                            c.user[first].name, u.name
                        ),
                    ));
                }
            }
        }
        if let Some(gid) = u.gid {
            judge(doc, out, &at("gid"), rules::account_id("gid", gid));
        }
        if let Some(e) = u.expiredate {
            judge(doc, out, &at("expiredate"), rules::expiredate(e));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (j, g) in u.groups.iter().enumerate() {
            let p = keys!["customizations", "user", i, "groups", j];
            if judge(doc, out, &p, rules::account_name("group", g)).is_some() && !seen.insert(g) {
                out.push(doc.diag(&p, format!("group \"{g}\" is listed twice")));
            }
        }
    }

    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    let mut gids: BTreeMap<u32, usize> = BTreeMap::new();
    for (i, g) in c.group.iter().enumerate() {
        let at = |k: &str| keys!["customizations", "group", i, k];
        if judge(doc, out, &at("name"), rules::account_name("group", &g.name)).is_some() {
            if let Some(first) = names.insert(&g.name, i) {
                names.insert(&g.name, first);
                out.push(doc.diag(
                    &at("name"),
                    format!(
                        "group \"{}\" is given twice (also customizations.group[{first}])",
                        g.name
                    ),
                ));
            }
        }
        if let Some(gid) = g.gid {
            if let Some(id) = judge(doc, out, &at("gid"), rules::account_id("gid", gid)) {
                if let Some(first) = gids.insert(id, i) {
                    gids.insert(id, first);
                    out.push(doc.diag(
                        &at("gid"),
                        format!(
                            "gid {id} is given to two groups (\"{}\" and \"{}\")",
                            c.group[first].name, g.name
                        ),
                    ));
                }
            }
        }
    }

    for (i, k) in c.sshkey.iter().enumerate() {
        let at = |key: &str| keys!["customizations", "sshkey", i, key];
        judge(doc, out, &at("user"), rules::account_name("user", &k.user));
        judge(doc, out, &at("key"), rules::ssh_keys(&k.key));
    }
}
