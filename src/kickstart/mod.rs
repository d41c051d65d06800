//! Installer kickstarts: the manifest's customizations written as the
//! kickstart an `iso-installer` medium carries (`/osbuild.ks`, referenced
//! with `inst.ks=hd:LABEL=…:/osbuild.ks`), as osbuild and
//! bootc-image-builder write theirs.
//!
//! One pure function, [`generate`]: (customizations, payload kind, distro
//! release, medium label) → kickstart text, the same bytes for the same
//! input. It does no I/O; the ISO builder writes the text to the medium.
//! Values were judged by `manifest::rules` at `validate` time; the few
//! kickstart-specific rules are called again here, so a refusal is an
//! error, never a panic or a silently different kickstart.
//!
//! Why templates (`kickstarts/*.ks.in`, embedded at compile time) and not
//! only code: what differs between AlmaLinux 8, 9, 10 and Kitten is data a
//! distro maintainer should read and change without reading Rust — the
//! fixed lines every install of that release gets (the network line, the
//! header naming the release and its `ksvalidator` version), which NTP
//! syntax the release's Anaconda knows (`timezone --ntpservers` on 8,
//! `timesource` on 9 and later) and which payload commands it has
//! (`ostreecontainer` only from 9). Each template is itself a valid
//! kickstart: its slots are comment lines (`#@users@`), so `ksvalidator`
//! checks the files as they are. What depends on manifest values —
//! quoting, sizes in MiB, the order of users before their keys — is code
//! (`lines`), because a template language that escaped kickstart's shlex
//! quoting correctly would be code anyway.
//!
//! Template syntax: a line `#@NAME@` is a slot, replaced by the lines the
//! generator makes for it (possibly none); a line `#@NAME ARGS@` is a
//! directive, read and dropped. Directives: `#@ntp timesource@` or
//! `#@ntp timezone@`; `#@payloads KIND…@` (the payload kinds the release's
//! Anaconda can install); `#@fstype FS@` (the filesystem of `autopart` and
//! of partitions that name none: the release's default); `#@validator
//! VERSION@` (pykickstart's handler version, for tests and `ksvalidator
//! -v`).

mod lines;
#[cfg(test)]
mod tests;

use crate::manifest::blueprint::Customizations;
use crate::manifest::rules::{self, Refusal};
use std::fmt;

/// What the installer installs, and where it finds it on the medium.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Payload {
    /// A bootc image stored on the medium as an OCI layout, installed by
    /// `ostreecontainer --transport=oci`.
    Ostreecontainer,
    /// The built tree as a tarball on the medium (`liveimg`).
    Liveimg,
    /// A package repository on the medium (`url` + `%packages`).
    Repo,
}

impl Payload {
    pub const ALL: [Payload; 3] = [Payload::Ostreecontainer, Payload::Liveimg, Payload::Repo];

    /// The name templates (`#@payloads …@`) and messages use.
    pub fn as_str(self) -> &'static str {
        match self {
            Payload::Ostreecontainer => "ostreecontainer",
            Payload::Liveimg => "liveimg",
            Payload::Repo => "repo",
        }
    }

    /// Path of the payload below the medium's root: the ISO builder puts
    /// it there, the kickstart names it under `/run/install/repo`, where
    /// Anaconda mounts the medium.
    pub fn medium_path(self) -> &'static str {
        match self {
            Payload::Ostreecontainer => "container",
            Payload::Liveimg => "liveimg.tar.gz",
            Payload::Repo => "",
        }
    }
}

impl fmt::Display for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A release with a kickstart template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Release {
    AlmaLinux8,
    AlmaLinux9,
    AlmaLinux10,
    Kitten10,
    /// The test distribution (`distros/fixture.toml`): AlmaLinux 10's
    /// kickstart with the fixture's default filesystem (ext4), for its
    /// stand-in installer.
    Fixture,
}

impl Release {
    pub const ALL: [Release; 5] = [
        Release::AlmaLinux8,
        Release::AlmaLinux9,
        Release::AlmaLinux10,
        Release::Kitten10,
        Release::Fixture,
    ];

    /// The release of a distro id and major version.
    pub fn from_distro(id: &str, major: u32) -> Option<Release> {
        match (id, major) {
            ("almalinux-kitten-10", _) => Some(Release::Kitten10),
            ("fixture", _) => Some(Release::Fixture),
            (_, 8) => Some(Release::AlmaLinux8),
            (_, 9) => Some(Release::AlmaLinux9),
            (_, 10) => Some(Release::AlmaLinux10),
            _ => None,
        }
    }

    /// The template file's name under `kickstarts/`.
    pub fn template_name(self) -> &'static str {
        match self {
            Release::AlmaLinux8 => "almalinux-8.ks.in",
            Release::AlmaLinux9 => "almalinux-9.ks.in",
            Release::AlmaLinux10 => "almalinux-10.ks.in",
            Release::Kitten10 => "almalinux-kitten-10.ks.in",
            Release::Fixture => "fixture.ks.in",
        }
    }

    /// The template text, embedded at compile time.
    pub fn template(self) -> &'static str {
        match self {
            Release::AlmaLinux8 => include_str!("../../kickstarts/almalinux-8.ks.in"),
            Release::AlmaLinux9 => include_str!("../../kickstarts/almalinux-9.ks.in"),
            Release::AlmaLinux10 => include_str!("../../kickstarts/almalinux-10.ks.in"),
            Release::Kitten10 => include_str!("../../kickstarts/almalinux-kitten-10.ks.in"),
            Release::Fixture => include_str!("../../kickstarts/fixture.ks.in"),
        }
    }

    /// The pykickstart handler version the template declares
    /// (`#@validator RHEL10@`), for `ksvalidator -v`.
    pub fn validator_version(self) -> &'static str {
        Template::parse(self.template())
            .ok()
            .and_then(|t| t.validator)
            .unwrap_or("DEVEL")
    }
}

/// What to generate a kickstart for.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `[customizations]` (None: defaults only).
    pub customizations: Option<&'a Customizations>,
    /// Packages for a `repo` payload's `%packages` (`@group` for comps
    /// groups); ignored by the other payloads.
    pub packages: &'a [String],
    pub payload: Payload,
    pub release: Release,
    /// The medium's volume label (`inst.ks=hd:LABEL=…`): named in the
    /// header so a kickstart found on a disk says which medium it is for.
    pub label: &'a str,
}

/// Anaconda D-Bus modules to enable or disable, for the ISO builder to
/// write into the installer's configuration (`/etc/anaconda/conf.d`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Modules {
    pub enable: Vec<String>,
    pub disable: Vec<String>,
}

/// A generated kickstart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kickstart {
    pub text: String,
    /// The file name on the medium (`osbuild.ks`, as osbuild names it).
    pub file_name: &'static str,
    pub modules: Modules,
    /// pykickstart's version name for `ksvalidator -v`.
    pub validator: &'static str,
}

/// The file name of the kickstart on the medium.
pub const FILE_NAME: &str = "osbuild.ks";

/// The kernel argument that makes Anaconda (or the fixture's stand-in)
/// read the kickstart from the medium labelled `label`.
pub fn inst_ks_arg(label: &str) -> String {
    format!(
        "inst.ks=hd:LABEL={}:/{FILE_NAME}",
        label.replace(' ', "\\x20")
    )
}

/// A parsed template: its lines and directives.
#[derive(Debug)]
struct Template<'t> {
    lines: Vec<Line<'t>>,
    ntp_timesource: bool,
    payloads: Vec<&'t str>,
    validator: Option<&'t str>,
    fstype: &'t str,
}

#[derive(Debug)]
enum Line<'t> {
    Text(&'t str),
    Slot(&'t str),
}

/// The slots a template may have; any other is a template bug.
const SLOTS: [&str; 12] = [
    "header",
    "mode",
    "locale",
    "timezone",
    "network",
    "users",
    "storage",
    "bootloader",
    "system",
    "payload",
    "finish",
    "post",
];

impl<'t> Template<'t> {
    fn parse(text: &'t str) -> Result<Template<'t>, String> {
        let mut t = Template {
            lines: vec![],
            ntp_timesource: false,
            payloads: vec![],
            validator: None,
            fstype: "xfs",
        };
        for (n, l) in text.lines().enumerate() {
            let Some(inner) = l.strip_prefix("#@").and_then(|r| r.strip_suffix('@')) else {
                t.lines.push(Line::Text(l));
                continue;
            };
            let mut words = inner.split_whitespace();
            let name = words.next().unwrap_or("");
            let args: Vec<&str> = words.collect();
            match (name, args.as_slice()) {
                ("ntp", ["timesource"]) => t.ntp_timesource = true,
                ("ntp", ["timezone"]) => t.ntp_timesource = false,
                ("payloads", p) if !p.is_empty() => t.payloads = p.to_vec(),
                ("validator", [v]) => t.validator = Some(v),
                ("fstype", [f]) => t.fstype = f,
                (s, []) if SLOTS.contains(&s) => t.lines.push(Line::Slot(s)),
                _ => return Err(format!("line {}: unknown slot or directive {l:?}", n + 1)),
            }
        }
        Ok(t)
    }
}

/// Why a kickstart cannot be generated: the template is broken (a bug
/// of this tool), or the request asks what the release's installer
/// cannot do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kickstarts/{file}: {message}")]
    Template { file: &'static str, message: String },
    #[error("{0}")]
    Refused(#[from] Refusal),
}

/// The kickstart for `req`. Deterministic: same request, same text.
pub fn generate(req: &Request) -> Result<Kickstart, Error> {
    let file = req.release.template_name();
    let tpl = Template::parse(req.release.template())
        .map_err(|message| Error::Template { file, message })?;
    if !tpl.payloads.contains(&req.payload.as_str()) {
        return Err(Refusal::new(format!(
            "the {} installer cannot install the {} payload",
            release_name(req.release),
            req.payload
        ))
        .hint(match req.payload {
            Payload::Ostreecontainer => {
                "kickstart's ostreecontainer command exists from AlmaLinux 9 on"
            }
            _ => "choose another payload",
        })
        .into());
    }
    let default = Customizations::default();
    let c = req.customizations.unwrap_or(&default);
    let installer = c.installer.clone().unwrap_or_default();
    if let Some(k) = &installer.kickstart {
        rules::kickstart_contents(&k.contents)?;
        if installer.unattended == Some(true) || !installer.sudo_nopasswd.is_empty() {
            return Err(Refusal::new(
                "unattended and sudo-nopasswd cannot be combined with a kickstart of your own",
            )
            .into());
        }
    }
    let ctx = lines::Ctx {
        c,
        installer: &installer,
        req,
        ntp_timesource: tpl.ntp_timesource,
        fstype: tpl.fstype,
    };
    let mut out = String::new();
    for l in &tpl.lines {
        match l {
            Line::Text(t) => {
                out.push_str(t);
                out.push('\n');
            }
            Line::Slot(s) => {
                for l in lines::slot(&ctx, s)? {
                    out.push_str(&l);
                    out.push('\n');
                }
            }
        }
    }
    let modules = installer
        .modules
        .as_ref()
        .map(|m| Modules {
            enable: m.enable.clone(),
            disable: m.disable.clone(),
        })
        .unwrap_or_default();
    Ok(Kickstart {
        text: out,
        file_name: FILE_NAME,
        modules,
        validator: tpl.validator.unwrap_or("DEVEL"),
    })
}

fn release_name(r: Release) -> &'static str {
    match r {
        Release::AlmaLinux8 => "AlmaLinux 8",
        Release::AlmaLinux9 => "AlmaLinux 9",
        Release::AlmaLinux10 => "AlmaLinux 10",
        Release::Kitten10 => "AlmaLinux Kitten 10",
        Release::Fixture => "fixture",
    }
}
