//! What the manifest puts into the image: files and directories,
//! `.repo` files, rpm keys, CA certificates, OpenSCAP remediation,
//! firstboot jobs, embedded containers. Paths must be absolute and
//! canonical, owners and modes in range, and a file a `uri` names must
//! exist on the build host now, not an hour into the build.

use super::{judge, keys};
use crate::manifest::blueprint::{Customizations, FirstbootScript, IdOrName};
use crate::manifest::rules::{self, Rule};
use crate::manifest::{Diagnostic, Document, Seg};
use std::collections::BTreeMap;

fn owner(what: &str, o: &IdOrName) -> Rule {
    match o {
        IdOrName::Id(n) => rules::account_id(what, *n).map(|_| ()),
        IdOrName::Name(n) => rules::account_name(what, n),
    }
}

pub(super) fn check(doc: &Document, c: &Customizations, out: &mut Vec<Diagnostic>) {
    files(doc, c, out);
    repositories(doc, c, out);
    if let Some(k) = c.rpm.as_ref().and_then(|r| r.import_keys.as_ref()) {
        for (i, f) in k.files.iter().enumerate() {
            judge(
                doc,
                out,
                &keys!["customizations", "rpm", "import_keys", "files", i],
                rules::image_path(f),
            );
        }
    }
    if let Some(ca) = &c.cacerts {
        for (i, pem) in ca.pem_certs.iter().enumerate() {
            if let Err(e) = crate::manifest::rules::pem::certificates(pem) {
                out.push(
                    doc.diag(
                        &keys!["customizations", "cacerts", "pem_certs", i],
                        format!("pem_certs[{i}] is not a PEM certificate bundle: {e:#}"),
                    )
                    .hint("paste whole -----BEGIN CERTIFICATE----- ... -----END CERTIFICATE----- blocks"),
                );
            }
        }
    }
    openscap(doc, c, out);
    firstboot(doc, c, out);
    if let Some(d) = c
        .containers_storage
        .as_ref()
        .and_then(|s| s.destination_path.as_ref())
    {
        judge(
            doc,
            out,
            &keys!["customizations", "containers-storage", "destination-path"],
            rules::image_path(d),
        );
    }
}

fn files(doc: &Document, c: &Customizations, out: &mut Vec<Diagnostic>) {
    let dir = doc
        .path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let mut paths: BTreeMap<String, String> = BTreeMap::new();
    let mut seen = |p: &str, what: String, at: &[Seg], out: &mut Vec<Diagnostic>| {
        if let Some(first) = paths.get(p) {
            out.push(doc.diag(at, format!("{p} is also given by {first}")));
        } else {
            paths.insert(p.to_string(), what);
        }
    };
    for (i, d) in c.directories.iter().enumerate() {
        let at = |k: &str| keys!["customizations", "directories", i, k];
        if judge(doc, out, &at("path"), rules::image_path(&d.path)).is_some() {
            seen(
                &d.path,
                format!("customizations.directories[{i}]"),
                &at("path"),
                out,
            );
        }
        if let Some(m) = &d.mode {
            judge(doc, out, &at("mode"), rules::mode(m));
        }
        if let Some(u) = &d.user {
            judge(doc, out, &at("user"), owner("user", u));
        }
        if let Some(g) = &d.group {
            judge(doc, out, &at("group"), owner("group", g));
        }
    }
    for (i, f) in c.files.iter().enumerate() {
        let at = |k: &str| keys!["customizations", "files", i, k];
        if judge(doc, out, &at("path"), rules::image_path(&f.path)).is_some() {
            seen(
                &f.path,
                format!("customizations.files[{i}]"),
                &at("path"),
                out,
            );
        }
        if let Some(m) = &f.mode {
            judge(doc, out, &at("mode"), rules::mode(m));
        }
        if let Some(u) = &f.user {
            judge(doc, out, &at("user"), owner("user", u));
        }
        if let Some(g) = &f.group {
            judge(doc, out, &at("group"), owner("group", g));
        }
        match (&f.data, &f.uri) {
            (Some(_), Some(_)) => {
                out.push(doc.diag(&at("uri"), "give either `data` or `uri`, not both"))
            }
            (None, Some(u)) => {
                if let Some(src) = judge(doc, out, &at("uri"), rules::file_source(dir, u)) {
                    if !src.is_file() {
                        out.push(
                            doc.diag(
                                &at("uri"),
                                format!("uri {u:?}: {} is not a file on this host", src.display()),
                            )
                            .hint("a relative uri is read from the manifest's directory"),
                        );
                    }
                }
            }
            _ => {}
        }
    }
}

fn repositories(doc: &Document, c: &Customizations, out: &mut Vec<Diagnostic>) {
    let mut ids = std::collections::BTreeSet::new();
    for (i, r) in c.repositories.iter().enumerate() {
        let at = |k: &str| keys!["customizations", "repositories", i, k];
        if judge(doc, out, &at("id"), rules::repo_id(&r.id)).is_some() && !ids.insert(&r.id) {
            out.push(doc.diag(&at("id"), format!("two repositories have id \"{}\"", r.id)));
        }
        if let Some(f) = &r.filename {
            judge(doc, out, &at("filename"), rules::repo_filename(f));
        }
        if r.baseurls.is_empty() && r.metalink.is_none() && r.mirrorlist.is_none() {
            out.push(doc.diag(
                &keys!["customizations", "repositories", i],
                format!(
                    "repository \"{}\" needs baseurls, metalink or mirrorlist",
                    r.id
                ),
            ));
        }
        for (j, u) in r.baseurls.iter().enumerate() {
            judge(
                doc,
                out,
                &keys!["customizations", "repositories", i, "baseurls", j],
                rules::url("baseurl", u, &rules::REPO_SCHEMES),
            );
        }
        for (k, u) in [("metalink", &r.metalink), ("mirrorlist", &r.mirrorlist)] {
            if let Some(u) = u {
                judge(doc, out, &at(k), rules::url(k, u, &rules::REPO_SCHEMES));
            }
        }
        if let Some(n) = &r.name {
            if n.contains(['\n', '\r']) {
                out.push(doc.diag(&at("name"), "a repository name cannot contain a line break"));
            }
        }
        for (j, key) in r.gpgkeys.iter().enumerate() {
            let k = key.trim();
            let p = keys!["customizations", "repositories", i, "gpgkeys", j];
            if k.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----") {
                if !k.ends_with("-----END PGP PUBLIC KEY BLOCK-----") {
                    out.push(doc.diag(&p, "armored key without its END line"));
                }
            } else {
                judge(doc, out, &p, rules::url("gpgkey", k, &rules::REPO_SCHEMES));
            }
        }
    }
}

fn openscap(doc: &Document, c: &Customizations, out: &mut Vec<Diagnostic>) {
    let Some(o) = &c.openscap else { return };
    let at = |k: &str| keys!["customizations", "openscap", k];
    judge(
        doc,
        out,
        &at("profile_id"),
        rules::xccdf_id("profile_id", &o.profile_id),
    );
    if o.policy_id.is_some() {
        out.push(
            doc.diag(
                &at("policy_id"),
                "openscap policy_id needs the Red Hat Insights compliance service",
            )
            .hint("give profile_id (and tailoring) instead"),
        );
    }
    if let Some(d) = &o.datastream {
        judge(doc, out, &at("datastream"), rules::image_path(d));
    }
    if let Some(t) = &o.tailoring {
        if o.json_tailoring.is_some() {
            out.push(doc.diag(
                &at("json_tailoring"),
                "tailoring and json_tailoring are exclusive",
            ));
        }
        for (list, ids) in [("selected", &t.selected), ("unselected", &t.unselected)] {
            for (i, r) in ids.iter().enumerate() {
                judge(
                    doc,
                    out,
                    &keys!["customizations", "openscap", "tailoring", list, i],
                    rules::xccdf_id("rule", r),
                );
            }
        }
    }
    if let Some(j) = &o.json_tailoring {
        let p = |k: &str| keys!["customizations", "openscap", "json_tailoring", k];
        judge(
            doc,
            out,
            &p("profile_id"),
            rules::xccdf_id("json_tailoring.profile_id", &j.profile_id),
        );
        judge(doc, out, &p("filepath"), rules::image_path(&j.filepath));
    }
}

fn firstboot(doc: &Document, c: &Customizations, out: &mut Vec<Diagnostic>) {
    let Some(f) = &c.firstboot else { return };
    let mut names = std::collections::BTreeSet::new();
    for (i, s) in f.scripts.iter().enumerate() {
        let at = |k: &str| keys!["customizations", "firstboot", "scripts", i, k];
        let (name, _, after, before) = s.common();
        let name = name.unwrap_or(s.kind());
        let name_at = if s.common().0.is_some() {
            at("name")
        } else {
            at("type")
        };
        if judge(doc, out, &name_at, rules::firstboot_name(name)).is_some() && !names.insert(name) {
            out.push(
                doc.diag(
                    &name_at,
                    format!("firstboot script {name}: the name is used twice"),
                )
                .hint("give each script its own `name`"),
            );
        }
        for (list, units) in [("after", after), ("before", before)] {
            for (j, u) in units.iter().enumerate() {
                judge(
                    doc,
                    out,
                    &keys!["customizations", "firstboot", "scripts", i, list, j],
                    rules::unit_ref(u),
                );
            }
        }
        let certs = match s {
            FirstbootScript::Custom(_) => &[][..],
            FirstbootScript::Satellite(s) => &s.cacerts[..],
            FirstbootScript::Aap(a) => {
                judge(
                    doc,
                    out,
                    &at("job_template_url"),
                    rules::url(
                        "job_template_url",
                        a.job_template_url.trim(),
                        &rules::WEB_SCHEMES,
                    ),
                );
                if a.host_config_key.is_empty() {
                    out.push(doc.diag(&at("host_config_key"), "host_config_key is empty"));
                }
                &a.cacerts[..]
            }
        };
        for (k, pem) in certs.iter().enumerate() {
            judge(
                doc,
                out,
                &keys!["customizations", "firstboot", "scripts", i, "cacerts", k],
                rules::pem_shape(&format!("cacerts[{k}]"), pem),
            );
        }
    }
}
