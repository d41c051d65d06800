//! Disks made from a bootc image: where the image comes from, what the
//! deployment's `.origin` will name, and what such a disk refuses.
//!
//! `[base] image` with a disk output means "install this image the way
//! `bootc install to-filesystem` does": the image is committed into an
//! OSTree repository on the disk and deployed, and the machine upgrades
//! from the image reference the origin names. So the plan decides that
//! reference here, once, from the manifest: a registry image is
//! `ostree-unverified-registry:HOST/REPO:TAG` (what bootc writes), a local
//! layout or archive `ostree-unverified-image:TRANSPORT:PATH`, and the
//! bootc output of this manifest (`output:NAME`) the reference that output
//! is published under (`[output.oci] reference`, else `--push`), else its
//! archive in the output directory.
//!
//! The deployment's `/etc` is the image's plus the customizations; they
//! are applied to the deployment, never to the committed image, so that
//! the commit is the image as published and `bootc upgrade` carries them
//! over as local changes. What cannot be applied that way is refused.
//!
//! Derived additions (`[[packages]]`, `[[build.script]]`) need an image
//! that holds them. When the manifest also builds a bootc output from
//! `[base]`, that output is the derived image: the disks deploy it (built
//! in this run, like `output:NAME`) and upgrade from where it is
//! published. Without one, the additions are installed onto the unpacked
//! base and that tree is deployed; its origin still names the base, so
//! `bootc upgrade` would return to the base without them, and the plan
//! says so (`derived_warning`).

use super::target::{normalize_reference, Flags};
use crate::manifest::blueprint::Customizations;
use crate::manifest::ours::{OutputType, SecureBootMode};
use crate::manifest::validate::BASE_OUTPUT_PREFIX;
use crate::manifest::Document;
use serde::Serialize;

/// The OSTree stateroot bootc installs into.
pub const DEFAULT_STATEROOT: &str = "default";

/// How a disk output's root filesystem is made from a bootc image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeployPlan {
    /// The image as the deployment's `.origin` names it
    /// (`container-image-reference`), so `bootc upgrade` and `bootc
    /// switch` pull from there on the booted machine.
    pub origin: String,
    /// The OSTree stateroot (`/ostree/deploy/STATEROOT`).
    pub stateroot: String,
}

/// The origin reference bootc records for transport reference `r`
/// (`docker://`, `oci:`, `oci-archive:`, or a bare registry name).
pub fn origin_for(r: &str) -> String {
    let n = normalize_reference(r);
    match n.strip_prefix("docker://") {
        Some(rest) => format!("ostree-unverified-registry:{rest}"),
        None => format!("ostree-unverified-image:{n}"),
    }
}

/// `[base] image = "output:NAME"`: NAME.
pub fn own_output(doc: &Document) -> Option<&str> {
    doc.manifest
        .base
        .as_ref()
        .and_then(|b| b.image.strip_prefix(BASE_OUTPUT_PREFIX))
}

/// The bootc output of this manifest whose image the disks deploy:
/// `output:NAME`'s, else the one bootc output deriving from a registry,
/// layout or archive `[base]` (None when there is none, or several: the
/// validator refuses that with disks).
pub fn deployed_output(doc: &Document) -> Option<String> {
    if let Some(n) = own_output(doc) {
        return Some(n.to_string());
    }
    doc.manifest.base.as_ref()?;
    let mut bootc = doc
        .manifest
        .output
        .iter()
        .filter(|o| o.kind == OutputType::Oci)
        .map(|o| o.name());
    match (bootc.next(), bootc.next()) {
        (Some(n), None) => Some(n),
        _ => None,
    }
}

/// Whether a disk output installs the manifest's additions onto an
/// unpacked `[base]` before deploying it: the manifest adds packages,
/// groups, modules or build scripts, and no bootc output of this
/// manifest holds them.
pub fn derives_tree(doc: &Document) -> bool {
    let m = &doc.manifest;
    let adds = !m.packages.is_empty()
        || !m.groups.is_empty()
        || !m.modules.is_empty()
        || m.build.as_ref().is_some_and(|b| !b.scripts.is_empty());
    m.base.is_some() && adds && deployed_output(doc).is_none()
}

/// What a disk deployed from a derived tree cannot keep, and what to do
/// about it (a plan warning at the output).
pub fn derived_warning(base: &str, t: OutputType) -> (String, String) {
    (
        format!(
            "the {t} output installs this manifest's additions (packages, build scripts) onto [base] image {base:?} and deploys the result, but the deployment's origin names {base:?}: `bootc upgrade` on the booted machine goes back to that image, without the additions"
        ),
        "publish the derived image and deploy that: a bootc output with [output.oci] reference (or --push) in this manifest (the disks then deploy it), or [base] image = \"output:NAME\" naming it".to_string(),
    )
}

/// The deploy plan of a disk output `t` when the manifest has `[base]`
/// (None otherwise). `archive_of` gives the output directory path of
/// another output's artifact. Errors are refusals at the output.
pub fn plan(
    doc: &Document,
    t: OutputType,
    flags: &Flags,
    archive_of: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<DeployPlan>, String> {
    let m = &doc.manifest;
    let Some(base) = &m.base else {
        return Ok(None);
    };
    if !t.is_disk() {
        return Ok(None);
    }
    if let Some(b) = &m.boot {
        let custom = b.secureboot == Some(SecureBootMode::Custom);
        if b.uki == Some(true) || custom {
            return Err(format!(
                "a {t} output made from a bootc image boots the image's shim and GRUB (bootupd's files): a UKI and secureboot = \"custom\" are not built for deployments yet"
            ));
        }
    }
    if let Some(c) = &m.customizations {
        refuse_customizations(c, t)?;
    }
    // Build scripts run in the tree that is deployed: the bootc output's
    // (`deployed_output`), else the base unpacked with the additions.
    let origin = match deployed_output(doc) {
        None => origin_for(&base.image),
        Some(name) => {
            let o = m.output.iter().find(|o| o.name() == name);
            let published = o
                .and_then(|o| o.oci.as_ref())
                .and_then(|x| x.reference.clone())
                .or_else(|| flags.push.clone());
            match published {
                Some(r) => origin_for(&r),
                None => {
                    let path = archive_of(&name).ok_or_else(|| {
                        format!("the {t} output deploys the bootc output {name:?}, which this manifest does not have")
                    })?;
                    format!("ostree-unverified-image:oci-archive:{path}")
                }
            }
        }
    };
    Ok(Some(DeployPlan {
        origin,
        stateroot: DEFAULT_STATEROOT.into(),
    }))
}

/// Customizations a deployment cannot take: they would change the
/// committed image (`/usr`, the rpmdb) or need tools run in it.
fn refuse_customizations(c: &Customizations, t: OutputType) -> Result<(), String> {
    let mut bad = vec![];
    if c.openscap.is_some() {
        bad.push("openscap (remediation rewrites the image)");
    }
    if c.fips.is_some() {
        bad.push("fips (build it into the image)");
    }
    if c.rpm.is_some() {
        bad.push("rpm (keys live in the image's rpmdb)");
    }
    if c.kernel.as_ref().is_some_and(|k| k.name.is_some()) {
        bad.push("kernel.name (the image carries its kernel)");
    }
    if !bad.is_empty() {
        return Err(format!(
            "a {t} output deploys a bootc image as it is; these customizations change the image and belong in it: {}",
            bad.join(", ")
        ));
    }
    let outside: Vec<&str> = c
        .files
        .iter()
        .map(|f| f.path.as_str())
        .chain(c.directories.iter().map(|d| d.path.as_str()))
        .filter(|p| !(p.starts_with("/etc/") || *p == "/etc"))
        .collect();
    if !outside.is_empty() {
        return Err(format!(
            "a {t} output deploys a bootc image: only /etc is the machine's to change (/usr is the image's, read-only), and these paths are outside it: {}",
            outside.join(", ")
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_as_bootc_writes_them() {
        for (r, want) in [
            (
                "quay.io/almalinuxorg/almalinux-bootc:10",
                "ostree-unverified-registry:quay.io/almalinuxorg/almalinux-bootc:10",
            ),
            (
                "docker://127.0.0.1:5000/fixture/bootc:1",
                "ostree-unverified-registry:127.0.0.1:5000/fixture/bootc:1",
            ),
            ("oci:/srv/img:1", "ostree-unverified-image:oci:/srv/img:1"),
            (
                "oci-archive:/tmp/a.tar",
                "ostree-unverified-image:oci-archive:/tmp/a.tar",
            ),
        ] {
            assert_eq!(origin_for(r), want, "{r}");
        }
    }

    #[test]
    fn almalinux_bootc_reference_parses_offline() {
        use crate::oci::reference::{parse, Reference};
        let r = parse(&normalize_reference(
            "quay.io/almalinuxorg/almalinux-bootc:10",
        ))
        .unwrap();
        assert_eq!(
            r,
            Reference::Docker {
                registry: "quay.io".into(),
                repository: "almalinuxorg/almalinux-bootc".into(),
                tag: Some("10".into()),
                digest: None,
            }
        );
        assert_eq!(
            r.repository_name().as_deref(),
            Some("quay.io/almalinuxorg/almalinux-bootc")
        );
    }

    fn doc(text: &str) -> Document {
        crate::manifest::parse(text, std::path::Path::new("/m/t.toml")).unwrap()
    }

    #[test]
    fn own_output_origin_prefers_the_published_reference() {
        let d = doc(
            "distro = \"fixture\"\n[base]\nimage = \"output:img\"\n[[output]]\ntype = \"bootc\"\nname = \"img\"\n[output.oci]\nreference = \"quay.io/x/y:2\"\n[[output]]\ntype = \"qcow2\"\n",
        );
        let p = plan(&d, OutputType::Qcow2, &Flags::default(), &|_| None)
            .unwrap()
            .unwrap();
        assert_eq!(p.origin, "ostree-unverified-registry:quay.io/x/y:2");
        assert_eq!(p.stateroot, "default");
        let d = doc(
            "distro = \"fixture\"\n[base]\nimage = \"output:img\"\n[[output]]\ntype = \"bootc\"\nname = \"img\"\n[[output]]\ntype = \"qcow2\"\n",
        );
        let p = plan(&d, OutputType::Qcow2, &Flags::default(), &|n| {
            Some(format!("/out/{n}.oci.tar"))
        })
        .unwrap()
        .unwrap();
        assert_eq!(
            p.origin,
            "ostree-unverified-image:oci-archive:/out/img.oci.tar"
        );
        assert_eq!(
            plan(&d, OutputType::Oci, &Flags::default(), &|_| None).unwrap(),
            None
        );
    }

    #[test]
    fn derived_additions_and_the_image_disks_deploy() {
        let base = "distro = \"fixture\"\n[base]\nimage = \"quay.io/a/b:1\"\n";
        let qcow2 = "[[output]]\ntype = \"qcow2\"\n";
        let pkg = "[[packages]]\nname = \"x\"\n";
        let script = "[[build.script]]\nrun = \"true\"\n";
        let bootc = |n: &str| format!("[[output]]\ntype = \"bootc\"\nname = \"{n}\"\n");
        // [base] alone: deployed as it is.
        let d = doc(&format!("{base}{qcow2}"));
        assert!(!derives_tree(&d));
        assert_eq!(deployed_output(&d), None);
        // Packages or scripts: installed onto the base, origin the base.
        for add in [pkg, script] {
            let d = doc(&format!("{base}{add}{qcow2}"));
            assert!(derives_tree(&d), "{add}");
            let p = plan(&d, OutputType::Qcow2, &Flags::default(), &|_| None)
                .unwrap()
                .unwrap();
            assert_eq!(p.origin, "ostree-unverified-registry:quay.io/a/b:1");
        }
        // A bootc output from [base] in the manifest: the disks deploy it.
        let d = doc(&format!(
            "{base}{pkg}{}[output.oci]\nreference = \"quay.io/a/derived:2\"\n{qcow2}",
            bootc("img")
        ));
        assert!(!derives_tree(&d));
        assert_eq!(deployed_output(&d).as_deref(), Some("img"));
        let p = plan(&d, OutputType::Qcow2, &Flags::default(), &|_| None)
            .unwrap()
            .unwrap();
        assert_eq!(p.origin, "ostree-unverified-registry:quay.io/a/derived:2");
        // Two: not guessed (the validator refuses it).
        let d = doc(&format!("{base}{}{}{qcow2}", bootc("a"), bootc("b")));
        assert_eq!(deployed_output(&d), None);
        let (w, hint) = derived_warning("quay.io/a/b:1", OutputType::Raw);
        assert!(w.contains("bootc upgrade") && w.contains("raw"), "{w}");
        assert!(hint.contains("output:NAME"), "{hint}");
    }

    #[test]
    fn refusals_name_what_to_do() {
        let d = doc(
            "distro = \"fixture\"\n[base]\nimage = \"quay.io/a/b:1\"\n[[customizations.files]]\npath = \"/usr/local/bin/x\"\ndata = \"x\"\n[[output]]\ntype = \"qcow2\"\n",
        );
        let e = plan(&d, OutputType::Qcow2, &Flags::default(), &|_| None).unwrap_err();
        assert!(
            e.contains("/usr/local/bin/x") && e.contains("only /etc"),
            "{e}"
        );
        let d = doc(
            "distro = \"fixture\"\n[base]\nimage = \"quay.io/a/b:1\"\n[boot]\nuki = true\n[[output]]\ntype = \"raw\"\n",
        );
        let e = plan(&d, OutputType::Raw, &Flags::default(), &|_| None).unwrap_err();
        assert!(e.contains("UKI"), "{e}");
    }
}
