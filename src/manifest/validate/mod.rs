//! Checks that need the distro and arch models, and every value rule:
//! does the distro exist, does it build for the requested arches, can
//! every chosen output honor every customization, do the boot settings
//! make sense on each arch, and is every customization value one the
//! build will accept.
//!
//! Every problem found is reported, not just the first, each pointing at
//! the key it is about. Values are judged by `manifest::rules`, the same
//! functions the build's customization steps call, so that `validate`
//! cannot say "ok" to a value the build refuses after downloading.
//!
//! Layout: this file drives and holds the distro, arch, output-selection
//! and repository checks; `users`, `system`, `content` and `installer`
//! judge `[customizations]`; `outputs` the output tables, `[boot]` and
//! `[base]`; `disk` the partition layout; `scripts` `[[build.script]]`.

mod content;
mod disk;
mod installer;
mod outputs;
pub(crate) mod scripts;
pub use outputs::BASE_OUTPUT_PREFIX;
mod system;
mod users;

use super::ours::OutputType;
use super::rules::{self, Rule};
use super::{diag, Diagnostic, Document, Seg};
use crate::distro::{self, arch, DistroDef};

/// A key path: `keys!["customizations", "user", i, "name"]`.
macro_rules! keys {
    ($($seg:expr),* $(,)?) => {
        [$($crate::manifest::Seg::from($seg)),*]
    };
}
pub(crate) use keys;

/// Applies a rule's verdict: a refusal becomes a diagnostic at `at` (with
/// the rule's hint); a value passes through.
pub(crate) fn judge<T>(
    doc: &Document,
    out: &mut Vec<Diagnostic>,
    at: &[Seg],
    verdict: Rule<T>,
) -> Option<T> {
    match verdict {
        Ok(v) => Some(v),
        Err(e) => {
            let mut d = doc.diag(at, e.message);
            if let Some(h) = e.hint {
                d = d.hint(h);
            }
            out.push(d);
            None
        }
    }
}

/// What the command line adds to a manifest.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// `--arch`: build only these (must be among the manifest's, if it names any).
    pub arches: Vec<String>,
    /// `--type`: output types to build instead of the manifest's `[[output]]`.
    pub types: Vec<String>,
    /// `--only`: names of the manifest's outputs to build.
    pub only: Vec<String>,
    /// `--mirror`: mirror root for the distro repos (wins over `[build] mirror`).
    pub mirror: Option<String>,
}

/// Which outputs can honor a customization, and why not otherwise.
/// Names are the TOML keys under `[customizations]`.
pub fn customization_support(name: &str, t: OutputType) -> Result<(), &'static str> {
    use OutputType::*;
    match name {
        "filesystem" | "disk" | "partitioning_mode" => {
            if t.is_disk() || t == IsoInstaller {
                Ok(())
            } else {
                Err("it lays out partitions, and this output has no disk")
            }
        }
        "installer" | "installation_device" | "fdo" => {
            if t == IsoInstaller {
                Ok(())
            } else {
                Err("it configures the installer, and only iso-installer has one")
            }
        }
        "ignition" => {
            if t.is_disk() || t == IsoInstaller {
                Ok(())
            } else {
                Err("Ignition runs on first boot of a disk image")
            }
        }
        "kernel" | "fips" => {
            if matches!(t, Tar | Directory) {
                Err("a tar archive or directory has no boot loader to pass kernel arguments to")
            } else {
                Ok(())
            }
        }
        "rhsm" | "subscription" => Err("Red Hat Subscription Manager does not exist on AlmaLinux"),
        "wsl" => Err("this tool does not build WSL images"),
        _ => Ok(()),
    }
}

/// Effective distro id of a manifest.
pub fn distro_name(doc: &Document) -> &str {
    doc.manifest
        .distro
        .as_deref()
        .filter(|s| !s.is_empty())
        .unwrap_or(distro::DEFAULT_DISTRO)
}

/// Checks the manifest against the models. On success returns the distro.
pub fn check(doc: &Document, sel: &Selection) -> Result<&'static DistroDef, Vec<Diagnostic>> {
    let m = &doc.manifest;
    let mut out: Vec<Diagnostic> = vec![];
    let file = doc.file();

    let name = distro_name(doc);
    let distro = match distro::lookup(name) {
        Err(e) => {
            return Err(vec![Diagnostic::at(
                &file,
                &doc.text,
                None,
                format!("internal distro data: {e}"),
            )])
        }
        Ok(Some(d)) => d,
        Ok(None) => {
            let ids = distro::ids();
            let mut d = doc.diag(&["distro".into()], format!("unknown distro \"{name}\""));
            if let Some(n) = diag::nearest(name, ids.iter().copied()) {
                d = d.hint(format!("did you mean \"{n}\"?"));
            }
            return Err(vec![d.hint(format!("known distros: {}", ids.join(", ")))]);
        }
    };

    // Arches: manifest spellings first, then the command line.
    let mut listed: Vec<(Vec<Seg>, &str)> = vec![];
    if let Some(a) = m.architecture.as_deref() {
        listed.push((vec!["architecture".into()], a));
    }
    for (i, a) in m.architectures.iter().enumerate() {
        listed.push((vec!["architectures".into(), i.into()], a));
    }
    for (path, a) in &listed {
        check_arch(doc, distro, path, a, &mut out);
    }
    for a in &sel.arches {
        match arch::lookup(a) {
            None => out.push(arch_diag(&file, a, "--arch")),
            Some(ar)
                if !listed.is_empty()
                    && !listed
                        .iter()
                        .any(|(_, l)| arch::lookup(l).map(|x| x.name) == Some(ar.name)) =>
            {
                out.push(
                    Diagnostic::at(
                        &file,
                        &doc.text,
                        None,
                        format!("--arch {a} is not among the manifest's architectures"),
                    )
                    .hint(format!(
                        "the manifest builds for: {}",
                        listed
                            .iter()
                            .map(|(_, l)| *l)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                )
            }
            Some(ar) if !distro.supports_arch(ar.name) => out.push(Diagnostic::at(
                &file,
                &doc.text,
                None,
                format!("{} is not built for {a} (--arch)", distro.name),
            )),
            Some(_) => {}
        }
    }
    if !m.architecture.as_deref().unwrap_or_default().is_empty() && !m.architectures.is_empty() {
        out.push(
            doc.diag(
                &["architecture".into()],
                "both `architecture` and `architectures` are set",
            )
            .hint("use `architectures = [...]` alone to build several"),
        );
    }

    // Outputs.
    let mut names = std::collections::BTreeSet::new();
    for (i, o) in m.output.iter().enumerate() {
        if !names.insert(o.name()) {
            out.push(
                doc.diag(
                    &["output".into(), i.into()],
                    format!("two outputs are named \"{}\"", o.name()),
                )
                .hint("give one of them a distinct `name`"),
            );
        }
        outputs::check_output_options(doc, i, o, &mut out);
    }
    for t in &sel.types {
        if OutputType::parse(t).is_none() {
            let all: Vec<&str> = OutputType::ALL.iter().map(|t| t.as_str()).collect();
            let mut d = Diagnostic::at(
                &file,
                &doc.text,
                None,
                format!("unknown output type \"{t}\" (--type)"),
            );
            if let Some(n) = diag::nearest(t, all.iter().copied()) {
                d = d.hint(format!("did you mean \"{n}\"?"));
            }
            out.push(d.hint(format!("output types: {}", all.join(", "))));
        }
    }
    for o in &sel.only {
        if !m.output.iter().any(|x| x.name() == *o) {
            let have: Vec<String> = m.output.iter().map(|x| x.name()).collect();
            let mut d = Diagnostic::at(
                &file,
                &doc.text,
                None,
                format!("--only {o}: the manifest has no output of that name"),
            );
            if let Some(n) = diag::nearest(o, have.iter().map(String::as_str)) {
                d = d.hint(format!("did you mean \"{n}\"?"));
            }
            out.push(d);
        }
    }

    // Customizations each chosen output must honor.
    let types = selected_types(doc, sel);
    if let Some(c) = &m.customizations {
        for name in c.present() {
            for (_, t) in &types {
                if let Err(why) = customization_support(name, *t) {
                    out.push(
                        doc.diag(
                            &["customizations".into(), name.into()],
                            format!(
                                "customization `{name}` cannot be honored by the {t} output: {why}"
                            ),
                        )
                        .hint(format!(
                            "remove [customizations.{name}] or build a different output type"
                        )),
                    );
                }
            }
        }
    }

    // Modularity.
    if !distro.modularity {
        if !m.enabled_modules.is_empty() {
            out.push(doc.diag(
                &["enabled_modules".into()],
                format!("{} has no module streams", distro.name),
            ));
        }
        if !m.modules.is_empty() {
            out.push(doc.diag(
                &["modules".into()],
                format!("{} has no module streams", distro.name),
            ));
        }
    }

    if let Some(c) = &m.customizations {
        for (i, f) in c.filesystem.iter().enumerate() {
            if let Err(why) = super::mountpoint::check(&f.mountpoint) {
                out.push(doc.diag(
                    &[
                        "customizations".into(),
                        "filesystem".into(),
                        i.into(),
                        "mountpoint".into(),
                    ],
                    why,
                ));
            }
        }
    }
    if let Some(c) = &m.customizations {
        users::check(doc, c, &mut out);
        system::check(doc, c, &mut out);
        content::check(doc, c, &mut out);
        installer::check(doc, c, &mut out);
    } else {
        // `[[containers]]` sit at the top level.
        content::check(doc, &Default::default(), &mut out);
    }
    installer::check_kickstart(doc, distro, &types, &mut out);
    disk::check_disk_partitions(doc, &mut out);
    outputs::check_boot(doc, distro, &mut out);
    outputs::check_base(doc, &types, &mut out);
    check_repositories(doc, &mut out);
    scripts::check(doc, &mut out);

    if out.is_empty() {
        Ok(distro)
    } else {
        Err(out)
    }
}

/// Output types that will be built, each with the manifest path to blame.
pub fn selected_types(doc: &Document, sel: &Selection) -> Vec<(Vec<Seg>, OutputType)> {
    if !sel.types.is_empty() {
        return sel
            .types
            .iter()
            .filter_map(|t| OutputType::parse(t))
            .map(|t| (vec![], t))
            .collect();
    }
    doc.manifest
        .output
        .iter()
        .enumerate()
        .filter(|(_, o)| sel.only.is_empty() || sel.only.contains(&o.name()))
        .map(|(i, o)| {
            (
                vec![Seg::from("output"), Seg::from(i), Seg::from("type")],
                o.kind,
            )
        })
        .collect()
}

fn arch_diag(file: &str, a: &str, what: &str) -> Diagnostic {
    let mut d = Diagnostic::at(
        file,
        "",
        None,
        format!("unknown architecture \"{a}\" ({what})"),
    );
    if let Some(n) = diag::nearest(a, arch::names()) {
        d = d.hint(format!("did you mean \"{n}\"?"));
    }
    d.hint(format!("architectures: {}", arch::names().join(", ")))
}

fn check_arch(
    doc: &Document,
    distro: &DistroDef,
    path: &[Seg],
    a: &str,
    out: &mut Vec<Diagnostic>,
) {
    match arch::lookup(a) {
        None => {
            let mut d = doc.diag(path, format!("unknown architecture \"{a}\""));
            if let Some(n) = diag::nearest(a, arch::names()) {
                d = d.hint(format!("did you mean \"{n}\"?"));
            }
            out.push(d.hint(format!("architectures: {}", arch::names().join(", "))));
        }
        Some(ar) if !distro.supports_arch(ar.name) => out.push(
            doc.diag(
                path,
                format!("{} is not built for {}", distro.name, ar.name),
            )
            .hint(format!(
                "{} builds for: {}",
                distro.name,
                distro.arches.join(", ")
            )),
        ),
        Some(_) => {}
    }
}

fn check_repositories(doc: &Document, out: &mut Vec<Diagnostic>) {
    let m = &doc.manifest;
    let mut ids = std::collections::BTreeSet::new();
    for (i, r) in m.repositories.iter().enumerate() {
        let p = |k: &str| vec![Seg::from("repositories"), Seg::from(i), Seg::from(k)];
        if judge(doc, out, &p("id"), rules::repo_id(&r.id)).is_none() {
        } else if !ids.insert(r.id.clone()) {
            out.push(doc.diag(&p("id"), format!("two repositories have id \"{}\"", r.id)));
        }
        let urls = r.baseurl.to_vec();
        if urls.is_empty() && r.mirrorlist.is_none() && r.metalink.is_none() {
            out.push(doc.diag(
                &[Seg::from("repositories"), Seg::from(i)],
                format!(
                    "repository \"{}\" needs baseurl, mirrorlist or metalink",
                    r.id
                ),
            ));
        }
        for (j, u) in urls.iter().enumerate() {
            let at = match &r.baseurl {
                super::ours::OneOrMany::Many(_) => keys!["repositories", i, "baseurl", j].to_vec(),
                _ => p("baseurl"),
            };
            judge(
                doc,
                out,
                &at,
                rules::url("baseurl", u, &rules::REPO_SCHEMES),
            );
        }
        for (k, u) in [("mirrorlist", &r.mirrorlist), ("metalink", &r.metalink)] {
            if let Some(u) = u {
                judge(doc, out, &p(k), rules::url(k, u, &rules::REPO_SCHEMES));
            }
        }
        for a in &r.arches {
            if arch::lookup(a).is_none() {
                out.push(doc.diag(&p("arches"), format!("unknown architecture \"{a}\"")));
            }
        }
    }
    let distro_repos = m
        .build
        .as_ref()
        .and_then(|b| b.distro_repos)
        .unwrap_or(true);
    if !distro_repos && m.repositories.is_empty() {
        out.push(
            doc.diag(
                &["build".into(), "distro_repos".into()],
                "distro_repos = false and no [[repositories]]: nothing to install from",
            )
            .hint("add a [[repositories]] table or drop distro_repos = false"),
        );
    }
}

#[cfg(test)]
mod tests;
