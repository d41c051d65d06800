//! The parts of a target's plan that later stages read instead of the
//! manifest: where its tree comes from (`TreeSource`), how the tree is made
//! (`TreePlan`), what artifact is made of it (`ArtifactPlan`), where the
//! result goes (`Destination`), and the flags of the run that change any of
//! that (`Flags`). Everything here is decided, and every input behind it
//! judged, before a single download: a stage that needs a value the plan
//! does not carry is a bug in the plan, not a reason to reopen the manifest.

use super::boot::BootPlan;
use crate::manifest::blueprint::Customizations;
use crate::manifest::ours::{OutputType, SecureBootMode};
use crate::manifest::Document;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Flags of one run that the plan must know to judge combinations and to
/// name destinations. `plan` and `validate` use the defaults.
#[derive(Debug, Clone)]
pub struct Flags {
    pub output_dir: PathBuf,
    /// `--push REF`.
    pub push: Option<String>,
    /// `--tls-verify` for `--push` (default true).
    pub tls_verify: bool,
    /// `--sign-key KEY` (with `--push`).
    pub sign_key: Option<PathBuf>,
    /// `--verify`: boot every bootable artifact.
    pub verify: bool,
}

impl Default for Flags {
    fn default() -> Self {
        Flags {
            output_dir: PathBuf::from("."),
            push: None,
            tls_verify: true,
            sign_key: None,
            verify: false,
        }
    }
}

/// Where a target's tree comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "from", rename_all = "kebab-case")]
pub enum TreeSource {
    /// The locked packages, installed into an empty root.
    Packages,
    /// A base image's root (unpacked from the locked manifest digest), with
    /// the locked packages added to it.
    BaseImage { reference: String, tls_verify: bool },
    /// The tree another output of this manifest builds.
    Output { name: String },
}

/// How a target's tree is made once its packages are fetched.
#[derive(Debug, Clone, Serialize)]
pub struct TreePlan {
    pub source: TreeSource,
    pub releasever: String,
    /// The distro's major version (rpmdb location, defaults).
    pub major: u32,
    /// rpmdb backend: `sqlite` or `bdb`.
    pub rpmdb: String,
    /// Where the rpmdb goes in the tree (a derived tree keeps its base's).
    pub dbpath: String,
    /// Kernel arguments every kernel-bearing output carries: the distro's,
    /// the arch's console, `[boot] cmdline`, `customizations.kernel.append`.
    /// Empty for outputs without a kernel (tar, directory).
    pub kernel_args: Vec<String>,
    /// Laid out the bootc way (`/usr/lib/modules/KVER/vmlinuz`, kargs.d).
    pub bootc: bool,
    /// The judged customizations, as the manifest states them.
    #[serde(skip)]
    pub customizations: Option<Customizations>,
    /// `[[build.script]]`, in order: run chrooted after the
    /// customizations (their bytes are here; `plan` shows the digests).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scripts: Vec<super::ScriptPlan>,
    /// Relative paths in customizations resolve against this.
    #[serde(skip)]
    pub manifest_dir: PathBuf,
}

impl TreePlan {
    /// A key that is equal for two targets exactly when they would build
    /// the same tree from the same packages (so one tree serves both).
    pub fn key(&self, arch: &str) -> String {
        let custom = serde_json::to_string(&self.customizations).unwrap_or_default();
        let me = serde_json::to_string(self).unwrap_or_default();
        format!("{arch}\n{me}\n{custom}\n{}", self.manifest_dir.display())
    }
}

/// The db signing key and certificate of `secureboot = "custom"` or a
/// signed UKI, checked to exist at plan time.
#[derive(Debug, Clone, Serialize)]
pub struct SignerPlan {
    /// `[boot.keys]` as the manifest writes it (what `plan` shows).
    pub keys: String,
    #[serde(skip)]
    pub key: PathBuf,
    #[serde(skip)]
    pub cert: PathBuf,
    /// A `secureboot genkey` directory whose public enrollment files are
    /// published beside the artifact.
    #[serde(skip)]
    pub enroll_dir: Option<PathBuf>,
}

/// A bootc/OCI image's settings, judged.
#[derive(Debug, Clone, Serialize)]
pub struct OciPlan {
    /// The tag the image is written under: `--push`'s, else
    /// `[output.oci] reference`'s, else `latest`.
    pub tag: String,
    /// `[output.oci] reference`, normalized to a transport reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    pub compression: String,
    pub max_layers: usize,
    pub labels: BTreeMap<String, String>,
    /// The repository an image's verification policy names (with
    /// `--sign-key`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_scope: Option<String>,
}

/// An OSTree commit's settings, judged.
#[derive(Debug, Clone, Serialize)]
pub struct OstreePlan {
    /// The branch the commit is made on.
    #[serde(rename = "ref")]
    pub reference: String,
    /// Where the parent commit comes from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<OstreeParent>,
    /// The commit's `version` metadata.
    pub version: String,
    /// Armored OpenPGP secret key signing the commit and summary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpg_key: Option<PathBuf>,
}

/// An ISO's settings, judged.
#[derive(Debug, Clone, Serialize)]
pub struct IsoPlan {
    /// The ISO 9660 volume id: the medium's label, which the boot loader
    /// searches for and the initramfs finds the medium by.
    pub volume_id: String,
    /// The kernel command line of the medium's default entry:
    /// `root=live:CDLABEL=VOLID rd.live.image` and the boot plan's.
    pub cmdline: Vec<String>,
    /// zstd level of the live root's squashfs.
    pub compression_level: u32,
}

/// The volume id an ISO gets without `[output.iso] volume_id`:
/// `NAME-VERSION-ARCH`, with what ISO 9660 labels cannot hold as `-`, at
/// most 32 characters (what `rules::volume_id` accepts).
pub fn default_volume_id(name: &str, version: &str, arch: &str) -> String {
    let raw = format!("{name}-{version}-{arch}");
    let mut v: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    v.truncate(32);
    let v = v.trim_matches('-').to_string();
    if v.is_empty() {
        "LIVE".into()
    } else {
        v
    }
}

/// The ISO plan of an iso-live output: its volume id (`[output.iso]
/// volume_id`, judged by the manifest rules, or the default) and the
/// command line that finds the live root by it.
pub fn iso_plan(
    o: Option<&crate::manifest::ours::Output>,
    default_id: String,
    boot: &BootPlan,
) -> Result<IsoPlan, String> {
    if boot.secureboot == SecureBootMode::Custom || boot.uki {
        return Err("an ISO boots the distro's chain (shim → GRUB → kernel) or none: secureboot = \"custom\" and uki = true are not built for ISOs yet".into());
    }
    let opts = o.and_then(|x| x.iso.clone()).unwrap_or_default();
    let volume_id = opts.volume_id.clone().unwrap_or(default_id);
    let mut cmdline = vec![
        format!("root=live:CDLABEL={volume_id}"),
        "rd.live.image".to_string(),
        // dmsquash-live: the squashfs holds the root directly, made
        // writable by an overlay on tmpfs.
        "rd.live.overlay.overlayfs=1".to_string(),
    ];
    cmdline.extend(boot.cmdline.iter().cloned());
    Ok(IsoPlan {
        volume_id,
        cmdline,
        compression_level: opts.compression_level.unwrap_or(15),
    })
}

/// The parent of an OSTree commit.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "from", rename_all = "kebab-case")]
pub enum OstreeParent {
    /// A checksum recorded as is (its object is not in the repo).
    Checksum { checksum: String },
    /// A checksum or ref at a repository, whose commit metadata is pulled
    /// into the output repo.
    Remote { url: String, rev: String },
}

/// What artifact a target makes, typed per kind.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ArtifactPlan {
    Tar,
    Directory,
    /// raw, qcow2, vmdk, vhd, ami, gce: a raw disk made from the tree,
    /// then converted. Layout and boot chain are the output's `disk` and
    /// `boot`.
    Disk {
        format: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        signer: Option<SignerPlan>,
    },
    Oci(OciPlan),
    Ostree(OstreePlan),
    /// A live ISO: the tree in `LiveOS/squashfs.img`, booted by the
    /// initramfs's dmsquash-live; boot chain from the output's `boot`.
    IsoLive(IsoPlan),
    /// An output type whose artifact stage has not landed: refused before
    /// any work starts.
    Pending {
        stage: String,
    },
}

/// Where a finished artifact goes.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "to", rename_all = "kebab-case")]
pub enum Destination {
    File {
        path: PathBuf,
    },
    Registry {
        reference: String,
        tls_verify: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        sign_key: Option<PathBuf>,
    },
}

/// A manifest path resolved against its directory.
pub fn absolute(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// The manifest's directory, absolute (relative paths in it resolve here).
pub fn manifest_dir(doc: &Document) -> PathBuf {
    let dir = doc.path.parent().map(Path::to_path_buf).unwrap_or_default();
    let dir = if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir
    };
    std::path::absolute(&dir).unwrap_or(dir)
}

/// Parses a user-written image reference (`quay.io/org/img:tag` or a
/// transport reference).
pub fn normalize_reference(r: &str) -> String {
    if r.contains("://") || r.starts_with("oci:") || r.starts_with("oci-archive:") {
        r.to_string()
    } else {
        format!("docker://{r}")
    }
}

/// The OCI plan of an output: compression, layers, labels, tag, signing
/// scope. Errors name the `[output.oci]` key.
pub fn oci_plan(
    o: Option<&crate::manifest::ours::Output>,
    flags: &Flags,
    version: &str,
) -> Result<OciPlan, (&'static str, String)> {
    use crate::oci::reference::{self, Reference};
    let opts = o.and_then(|x| x.oci.clone()).unwrap_or_default();
    let compression = opts.compression.clone().unwrap_or_else(|| "gzip".into());
    compression
        .parse::<crate::oci::compression::Compression>()
        .map_err(|e| ("oci.compression", format!("[output.oci] compression: {e}")))?;
    let manifest_ref = opts
        .reference
        .as_deref()
        .map(|r| {
            reference::parse(&normalize_reference(r))
                .map_err(|e| ("oci.reference", format!("[output.oci] reference: {e:#}")))
        })
        .transpose()?;
    let push = flags.push.as_deref().and_then(|p| reference::parse(p).ok());
    let tag = push
        .as_ref()
        .and_then(Reference::tag)
        .map(str::to_string)
        .or_else(|| {
            manifest_ref
                .as_ref()
                .and_then(|r| r.tag().map(str::to_string))
        })
        .unwrap_or_else(|| "latest".into());
    let signing_scope = push
        .as_ref()
        .and_then(Reference::repository_name)
        .or_else(|| manifest_ref.as_ref().and_then(Reference::repository_name));
    if flags.sign_key.is_some() && flags.push.is_some() && signing_scope.is_none() {
        return Err((
            "oci.reference",
            "--sign-key: the image's verification policy needs its repository: push to docker://HOST/REPO:TAG or set [output.oci] reference".into(),
        ));
    }
    let mut labels = BTreeMap::new();
    labels.insert("containers.bootc".to_string(), "1".to_string());
    labels.insert("ostree.bootable".to_string(), "1".to_string());
    labels.insert(
        "org.opencontainers.image.version".to_string(),
        version.to_string(),
    );
    labels.extend(opts.labels.clone());
    Ok(OciPlan {
        tag,
        reference: opts.reference.as_deref().map(normalize_reference),
        compression,
        max_layers: opts.max_layers.unwrap_or(64).max(2) as usize,
        labels,
        signing_scope,
    })
}

/// The db signer a disk needs (custom Secure Boot or a UKI), from
/// `[boot.keys]`. The files are checked by `check_files` when a build is
/// planned (`validate` of an example whose keys a later step generates
/// must still pass).
pub fn signer_plan(
    doc: &Document,
    boot: &BootPlan,
    dir: &Path,
) -> Result<Option<SignerPlan>, String> {
    let custom = boot.secureboot == SecureBootMode::Custom;
    if !custom && !boot.uki {
        return Ok(None);
    }
    let Some(k) = doc.manifest.boot.as_ref().and_then(|b| b.keys.as_ref()) else {
        return Err(
            "secureboot = \"custom\" and uki = true sign with a db key: add [boot.keys] (dir = a directory from `image-builder secureboot genkey`)".into(),
        );
    };
    let enroll_dir = k.dir.as_deref().map(|d| absolute(dir, d));
    let key = k
        .db_key
        .as_deref()
        .map(|p| absolute(dir, p))
        .or_else(|| enroll_dir.as_ref().map(|d| d.join("db.key")));
    let cert = k
        .db_cert
        .as_deref()
        .map(|p| absolute(dir, p))
        .or_else(|| enroll_dir.as_ref().map(|d| d.join("db.crt")));
    let (Some(key), Some(cert)) = (key, cert) else {
        return Err("[boot.keys] names no db key and certificate".into());
    };
    let shown = match (&k.dir, &k.db_cert) {
        (_, Some(c)) => c.display().to_string(),
        (Some(d), None) => d.join("db.crt").display().to_string(),
        (None, None) => String::new(),
    };
    Ok(Some(SignerPlan {
        keys: shown,
        key,
        cert,
        enroll_dir,
    }))
}

/// Files a build will read that must exist before it starts: the db key
/// and certificate of every signed disk. Returns what is missing.
pub fn check_files(signers: &[&SignerPlan]) -> Vec<String> {
    let mut out = vec![];
    for s in signers {
        for p in [&s.key, &s.cert] {
            if !p.is_file() {
                let m = format!(
                    "[boot.keys]: {} does not exist (make keys with `image-builder secureboot genkey DIR`)",
                    p.display()
                );
                if !out.contains(&m) {
                    out.push(m);
                }
            }
        }
    }
    out
}

/// One output of the run, for judging flags: the manifest path to blame
/// (its `type`; empty for `--type`) and its type.
pub type Selected = (Vec<crate::manifest::Seg>, OutputType);

/// Judges the flags against the outputs the run builds: a combination
/// that cannot work is refused before any download. Each refusal names
/// its flag, and blames the output it is about where there is one.
pub fn check_flags(
    flags: &Flags,
    outputs: &[Selected],
) -> Vec<(Vec<crate::manifest::Seg>, String)> {
    let mut out = vec![];
    let first = |pred: &dyn Fn(OutputType) -> bool| {
        outputs
            .iter()
            .find(|(_, t)| pred(*t))
            .map(|(p, t)| (p.clone(), *t))
    };
    let kinds: Vec<OutputType> = outputs.iter().map(|(_, t)| *t).collect();
    if flags.output_dir.exists() && !flags.output_dir.is_dir() {
        out.push((
            vec![],
            format!(
                "--output-dir {} is not a directory",
                flags.output_dir.display()
            ),
        ));
    }
    if let Some(p) = &flags.push {
        if let Err(e) = crate::oci::reference::parse(p) {
            out.push((vec![], format!("--push {p}: {e:#}")));
        }
        if !kinds.contains(&OutputType::Oci) {
            let (at, what) = match first(&|_| true) {
                Some((at, t)) => (at, format!("the {t} output is not an image")),
                None => (vec![], "this build has none".to_string()),
            };
            out.push((
                at,
                format!("--push {p}: only bootc/OCI outputs are pushed, and {what}"),
            ));
        }
    }
    if let Some(k) = &flags.sign_key {
        if flags.push.is_none() {
            let at = first(&|t| t == OutputType::Oci)
                .map(|x| x.0)
                .unwrap_or_default();
            out.push((
                at,
                "--sign-key signs what --push pushes, and there is no --push: pass --push docker://HOST/REPO:TAG".into(),
            ));
        }
        if !k.is_file() {
            out.push((vec![], format!("--sign-key {}: no such file", k.display())));
        }
    }
    if flags.verify && !kinds.iter().any(|k| k.is_bootable()) {
        let (at, what) = match first(&|_| true) {
            Some((at, t)) => (at, format!("the {t} output cannot be booted")),
            None => (vec![], "this build makes none".to_string()),
        };
        out.push((
            at,
            format!("--verify boots disk images and ISOs, and {what}"),
        ));
    }
    out
}

/// Whether `r` is a valid OSTree ref: `/`-separated parts of letters,
/// digits, `-`, `_`, `.`, each starting with a letter or digit (libostree's
/// rule).
pub fn valid_ostree_ref(r: &str) -> bool {
    !r.is_empty()
        && r.split('/').all(|part| {
            part.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        })
}

/// The OSTree plan of an output: ref, parent, signing key. Errors name
/// the `[output.ostree]` key. `default_ref` is `VENDOR/MAJOR/ARCH/NAME`;
/// `$basearch` (or `${basearch}`) in a ref is this arch's base arch, so
/// one multi-arch manifest names one branch per arch.
pub fn ostree_plan(
    o: Option<&crate::manifest::ours::Output>,
    default_ref: String,
    basearch: &str,
    version: &str,
    dir: &Path,
) -> Result<OstreePlan, (&'static str, String)> {
    let opts = o.and_then(|x| x.ostree.clone()).unwrap_or_default();
    let reference = opts
        .reference
        .clone()
        .map(|r| {
            r.replace("${basearch}", basearch)
                .replace("$basearch", basearch)
        })
        .unwrap_or(default_ref);
    if !valid_ostree_ref(&reference) {
        return Err((
            "ostree.ref",
            format!("[output.ostree] ref {reference:?} is not a valid OSTree ref: /-separated parts of letters, digits, '-', '_' and '.', each starting with a letter, digit or '_'"),
        ));
    }
    let is_checksum = |s: &str| {
        s.len() == 64
            && s.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    };
    if let Some(u) = &opts.url {
        let scheme_ok = ["http://", "https://", "file:///"]
            .iter()
            .any(|p| u.starts_with(p) && u.len() > p.len());
        if !scheme_ok || u.contains(char::is_whitespace) {
            return Err((
                "ostree.url",
                format!("[output.ostree] url {u:?}: the parent's repository must be an http://, https:// or file:/// URL"),
            ));
        }
    }
    let parent = match (&opts.parent, &opts.url) {
        (None, None) => None,
        (Some(p), None) if is_checksum(p) => Some(OstreeParent::Checksum {
            checksum: p.clone(),
        }),
        (Some(p), None) => {
            return Err((
                "ostree.parent",
                format!("[output.ostree] parent {p:?} is not a commit checksum (64 lowercase hex digits); a ref needs `url`, the repository it is read from"),
            ))
        }
        (Some(p), Some(u)) => {
            if !is_checksum(p) && !valid_ostree_ref(p) {
                return Err((
                    "ostree.parent",
                    format!("[output.ostree] parent {p:?} is neither a commit checksum nor a valid ref"),
                ));
            }
            Some(OstreeParent::Remote {
                url: u.clone(),
                rev: p.clone(),
            })
        }
        (None, Some(u)) => Some(OstreeParent::Remote {
            url: u.clone(),
            rev: reference.clone(),
        }),
    };
    Ok(OstreePlan {
        reference,
        parent,
        version: version.to_string(),
        gpg_key: opts.gpg_key.as_deref().map(|k| absolute(dir, k)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_combinations() {
        let sel = |t: OutputType| vec![(vec![], t)];
        let says = |f: &Flags, t: OutputType, what: &str| {
            let e = check_flags(f, &sel(t));
            assert!(e.iter().any(|(_, m)| m.contains(what)), "{what}: {e:?}");
        };
        let mut f = Flags {
            sign_key: Some("/nonexistent".into()),
            ..Flags::default()
        };
        says(&f, OutputType::Oci, "there is no --push");
        f.sign_key = None;
        f.push = Some("docker://127.0.0.1:5000/x:1".into());
        says(&f, OutputType::Qcow2, "only bootc/OCI");
        assert!(check_flags(&f, &sel(OutputType::Oci)).is_empty());
        f.push = Some("nonsense::".into());
        assert!(!check_flags(&f, &sel(OutputType::Oci)).is_empty());
        let f = Flags {
            verify: true,
            ..Flags::default()
        };
        says(&f, OutputType::Tar, "cannot be booted");
        assert!(check_flags(&f, &sel(OutputType::Qcow2)).is_empty());
    }

    #[test]
    fn default_volume_ids() {
        assert_eq!(
            default_volume_id("fixture-live", "1", "x86_64"),
            "fixture-live-1-x86_64"
        );
        assert_eq!(
            default_volume_id("my live.iso", "10.1", "aarch64"),
            "my-live-iso-10-1-aarch64"
        );
        let long = default_volume_id(&"x".repeat(40), "1", "x86_64");
        assert_eq!(long.len(), 32);
        assert_eq!(default_volume_id("..", "", ""), "LIVE");
        for v in [
            default_volume_id("a b", "1.0", "x86_64"),
            default_volume_id(&"é".repeat(20), "1", "x"),
        ] {
            assert!(crate::manifest::rules::volume_id(&v).is_ok(), "{v}");
        }
    }

    #[test]
    fn references_normalize() {
        assert_eq!(
            normalize_reference("quay.io/a/b:1"),
            "docker://quay.io/a/b:1"
        );
        assert_eq!(normalize_reference("oci:/x:t"), "oci:/x:t");
    }

    #[test]
    fn ostree_refs_and_parents() {
        use crate::manifest::ours::{OstreeOptions, Output};
        let out = |o: OstreeOptions| {
            let mut x: Output = toml::from_str("type = \"ostree\"").unwrap();
            x.ostree = Some(o);
            x
        };
        let plan = |o: OstreeOptions| {
            ostree_plan(
                Some(&out(o)),
                "d/1/x/n".into(),
                "aarch64",
                "1",
                Path::new("/m"),
            )
        };
        let p = plan(OstreeOptions {
            reference: Some("almalinux/10/$basearch/edge".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(p.reference, "almalinux/10/aarch64/edge");
        assert_eq!(plan(OstreeOptions::default()).unwrap().reference, "d/1/x/n");
        for bad in ["a//b", "/a", "a/", "-a", "a b", ""] {
            let e = plan(OstreeOptions {
                reference: Some(bad.into()),
                ..Default::default()
            })
            .unwrap_err();
            assert_eq!(e.0, "ostree.ref", "{bad}");
        }
        let e = plan(OstreeOptions {
            parent: Some("some/ref".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(e.0, "ostree.parent");
        let c = "ab".repeat(32);
        let p = plan(OstreeOptions {
            parent: Some(c.clone()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(p.parent, Some(OstreeParent::Checksum { checksum: c }));
        let e = plan(OstreeOptions {
            url: Some("ftp://x/".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(e.0, "ostree.url");
        let p = plan(OstreeOptions {
            url: Some("https://example.org/repo".into()),
            ..Default::default()
        })
        .unwrap();
        assert!(
            matches!(&p.parent, Some(OstreeParent::Remote { rev, .. }) if rev == "d/1/x/n"),
            "{:?}",
            p.parent
        );
    }
}
