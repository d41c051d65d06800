//! A disk whose root filesystem is an OSTree sysroot with one deployment
//! of a bootc image: `bootc install to-filesystem`'s layout, made without
//! a running system.
//!
//! The disk is assembled by the same `build_raw` as a package disk
//! (partitions, filesystems, `customizations.disk`, BIOS GRUB); only the
//! tree differs. `prepare` replaces `bootloader::prepare_tree`: it deploys
//! the image (`artifact::ostree::sysroot`) with `root=UUID=… rw`, the
//! image's kargs.d and the plan's kernel arguments; applies the
//! manifest's customizations to the deployment (its `/etc` is the
//! machine's; the commit stays the image as published, so `bootc
//! upgrade` carries them as local changes); writes the deployment's
//! fstab; fills the ESP from the image's `/usr/lib/bootupd/updates/EFI`
//! (shim → GRUB, what bootupd installs) with the small grub.cfg that
//! finds /boot by UUID; writes `/boot/grub2/grub.cfg` (`blscfg` for
//! AlmaLinux's GRUB; explicit menu entries made from the BLS files for
//! GRUBs without it, like the fixture's Debian GRUB); and records what
//! was installed in `/.bootc-aleph.json`, as bootc does. The SBOMs beside
//! the disk list what the image's own rpm database holds (base and added
//! packages alike), read from a copy of the deployment's database (its
//! files are the repository's objects, and the build cache's).
//!
//! The sysroot as deployed (before the customizations) comes from the
//! build cache when it has this image deployed with the same arguments
//! (`artifact::ostree::cache`), and then the image's layers are never
//! read: the tree stage hands over only the image's manifest and config,
//! and the layers are applied here on a miss. A derived tree (packages or
//! scripts on the base) is unpacked by the tree stage and never cached.

use super::bootloader::{Prepared, Uuids};
use super::{Ids, Input};
use crate::artifact::ostree::cache;
use crate::artifact::ostree::sysroot::{self, Deployed};
use crate::artifact::{BaseTree, Bootable, Produced, Target, Tree};
use crate::plan::deploy::DeployPlan;
use crate::plan::ArtifactPlan;
use crate::progress::{Event, Progress};
use anyhow::{bail, Context, Result};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// What `build_raw` needs to deploy instead of preparing a package tree.
pub struct DeployInput<'a> {
    pub plan: &'a DeployPlan,
    /// The unpacked image (converted and committed by `prepare`).
    pub image_root: &'a Path,
    /// The image's manifest digest.
    pub digest: &'a str,
    pub customizations: Option<&'a crate::manifest::blueprint::Customizations>,
    pub manifest_dir: &'a Path,
    pub releasever: &'a str,
    /// The plan's kernel arguments (distro, console, manifest).
    pub kernel_args: &'a [String],
    /// The image's manifest and config JSON (the image ref's metadata).
    pub manifest_json: &'a str,
    pub config_json: &'a str,
    /// Where notes go (which ostree wrote the sysroot).
    pub progress: &'a dyn Progress,
    /// The image as read by the tree stage; its layers are applied to
    /// `image_root` here when it was not unpacked and the build cache has
    /// no sysroot for it.
    pub base: &'a BaseTree,
    /// The build cache's root.
    pub cache_root: &'a Path,
}

/// The disk artifact of a target deployed from a bootc image (called by
/// `DiskBuilder::add` when the plan has a deploy plan).
pub fn add(
    output_dir: &Path,
    work_root: &Path,
    cache_root: &Path,
    t: &Target,
    tree: Tree,
    plan: &DeployPlan,
    progress: &dyn Progress,
) -> Result<Vec<Produced>> {
    let (a, o) = (t.arch, t.output);
    let (Some(layout), Some(boot), ArtifactPlan::Disk { format, .. }) =
        (&o.disk, &o.boot, &o.artifact)
    else {
        bail!(
            "{}/{}: a disk output without a layout or boot plan",
            a.arch,
            o.name
        );
    };
    let base = tree
        .base
        .as_ref()
        .context("a deployed disk needs the image it deploys")?;
    let arch = crate::distro::arch::lookup(&a.arch).context("planned arch vanished")?;
    let work = tempfile::Builder::new()
        .prefix("disk.")
        .tempdir_in(work_root)
        .context("making the disk's work directory")?;
    let out = output_dir.join(&o.filename);
    let sde = tree.report.source_date_epoch;
    // Same image (and additions), same name → same UUIDs.
    let mut seed = format!("{}:{}:{}", o.filename, a.arch, base.digest);
    for p in &t.lock.packages {
        seed.push_str(&format!(",{}", p.checksum));
    }
    for s in &tree.report.scripts {
        seed.push_str(&format!(",{s}"));
    }
    let tp = &o.tree;
    let sysroot = work.path().join("sysroot");
    let raw = work.path().join("disk.raw");
    let manifest_json = blob_text(&base.layout, &base.digest)?;
    let config_json = blob_text(&base.layout, &base.image.manifest.config.digest)?;
    let disk = super::build_raw(
        &Input {
            tree: &sysroot,
            layout,
            boot,
            arch,
            distro: t.distro,
            seed: &seed,
            source_date_epoch: sde,
            work: work.path(),
            signer: None,
            deploy: Some(&DeployInput {
                plan,
                image_root: &tree.root,
                digest: &base.digest,
                customizations: tp.customizations.as_ref(),
                manifest_dir: &tp.manifest_dir,
                releasever: &tp.releasever,
                kernel_args: &tp.kernel_args,
                manifest_json: &manifest_json,
                config_json: &config_json,
                progress,
                base,
                cache_root,
            }),
        },
        &raw,
    )?;
    progress.event(&Event::Note {
        message: format!(
            "disk: deployed {} ({}), kernel {}, root UUID {}",
            plan.origin, base.digest, disk.kernel, disk.root_uuid
        ),
    });
    // The SBOM lists what the image's rpmdb holds, read from the deployment
    // (the unpacked tree is consumed by the commit, or never made when the
    // sysroot came from the build cache).
    let dep = deployment_dir(&sysroot, &plan.stateroot)?;
    let db = if dep.join("usr/lib/sysimage/rpm").is_dir() {
        "/usr/lib/sysimage/rpm"
    } else {
        // `rootfs::convert` moved /var/lib/rpm here.
        "/usr/share/rpm"
    };
    // rpm may write beside a database it reads (-shm, -wal): a copy.
    let copy = work.path().join("sbom-root");
    let db_copy = copy.join(db.trim_start_matches('/'));
    std::fs::create_dir_all(db_copy.parent().expect("has a parent"))
        .with_context(|| format!("creating {}", copy.display()))?;
    crate::tools::copy_tree(&dep.join(db.trim_start_matches('/')), &db_copy)?;
    let installed = crate::tools::rpm::query_all(&copy, db, &tp.rpmdb)
        .context("reading the image's rpm database for the SBOM")?;
    let sbom = crate::artifact::sbom::from_installed(
        &installed,
        t.lock,
        &o.filename,
        &t.plan.distro,
        &a.arch,
        sde,
    );
    let disk_to_boot = super::finish(&raw, format, &out, sde, work_root)?;
    crate::artifact::sbom::write_beside(&out, &sbom)?;
    let customizations = tp
        .customizations
        .as_ref()
        .map(|c| c.present())
        .unwrap_or_default();
    progress.event(&Event::Artifact {
        arch: Some(a.arch.clone()),
        output: o.name.clone(),
        kind: o.kind.as_str().to_string(),
        path: out.clone(),
        packages: Some(installed.len()),
        customizations: Some(customizations),
        selinux_labelled: Some(tree.report.selinux_labelled),
        source_date_epoch: Some(sde),
        digest: Some(base.digest.clone()),
        tag: None,
        arches: None,
    });
    Ok(vec![Produced {
        output: o.name.clone(),
        arch: Some(a.arch.clone()),
        path: out,
        bootable: Some(Bootable {
            arch,
            boot: boot.clone(),
            keys_dir: None,
            disk: disk_to_boot,
        }),
        image: None,
    }])
}

/// The one deployment `ostree/deploy/STATEROOT/deploy/CSUM.0` of `sysroot`.
fn deployment_dir(sysroot: &Path, stateroot: &str) -> Result<PathBuf> {
    let d = sysroot.join(format!("ostree/deploy/{stateroot}/deploy"));
    let mut found: Vec<PathBuf> = std::fs::read_dir(&d)
        .with_context(|| format!("reading {}", d.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && p.extension().is_some_and(|x| x == "0"))
        .collect();
    found.sort();
    match found.len() {
        1 => Ok(found.remove(0)),
        n => bail!("{} holds {n} deployments, not one", d.display()),
    }
}

/// A JSON blob of the image's layout as text, verified against its digest.
fn blob_text(layout: &crate::oci::layout::Layout, digest: &str) -> Result<String> {
    let p = layout.blob_path(digest)?;
    let size = std::fs::metadata(&p)
        .with_context(|| format!("reading {}", p.display()))?
        .len();
    let bytes = layout.read_verified(digest, size, 4 << 20)?;
    String::from_utf8(bytes).with_context(|| format!("blob {digest} is not UTF-8 JSON"))
}

/// Deploys into `input.tree` (the sysroot) and lays out /boot and the ESP;
/// returns what `build_raw` reports and the tree holding GRUB's i386-pc
/// modules (the deployment).
pub fn prepare(
    input: &Input,
    d: &DeployInput,
    u: &Uuids,
    _ids: &Ids,
) -> Result<(Prepared, PathBuf)> {
    let sysroot = input.tree;
    let before = vec![format!("root=UUID={}", u.root), "rw".to_string()];
    let (deployed, kargs) = if d.base.unpacked {
        // A derived tree: made in this build, not the image as cached.
        deploy_image(input, d, &before)?
    } else {
        deploy_cached(input, d, &before)?
    };
    customize(input, d, &deployed, &kargs)?;
    write_fstab(&deployed.dir, u)?;
    let boot_separate = u.boot.is_some();
    let entries = bls_entries(sysroot, boot_separate)?;
    if entries.is_empty() {
        bail!("ostree admin deploy wrote no BLS entry under /boot/loader/entries");
    }
    grub_cfg(input, u, &entries, &deployed.dir)?;
    esp(input, u, &deployed.dir)?;
    aleph(sysroot, d, &deployed, input.source_date_epoch)?;
    let cmdline = entries[0].options.clone();
    Ok((
        Prepared {
            kver: deployed.kver.clone(),
            cmdline,
        },
        deployed.dir,
    ))
}

/// Deploys the unpacked image root into the sysroot; returns the
/// deployment and its kernel arguments.
fn deploy_image(
    input: &Input,
    d: &DeployInput,
    before: &[String],
) -> Result<(Deployed, Vec<String>)> {
    let mut kargs = before.to_vec();
    kargs.extend(image_kargs(d.image_root, input.arch.name)?);
    kargs.extend(d.kernel_args.iter().cloned());
    let mut seen = std::collections::BTreeSet::new();
    kargs.retain(|k| seen.insert(k.clone()));
    let deployed = sysroot::deploy(&sysroot::Request {
        sysroot: input.tree,
        image_root: d.image_root,
        stateroot: &d.plan.stateroot,
        origin: &d.plan.origin,
        digest: d.digest,
        kargs: &kargs,
        source_date_epoch: input.source_date_epoch,
        work: input.work,
        manifest_json: d.manifest_json,
        config_json: d.config_json,
    })?;
    d.progress.event(&Event::Note {
        message: format!(
            "ostree: sysroot written by {}; commit {} on {}",
            deployed.tool, deployed.commit, deployed.image_ref
        ),
    });
    Ok((deployed, kargs))
}

/// The sysroot from the build cache (`artifact::ostree::cache`) when it
/// has this image deployed with these arguments; else the image's layers
/// are applied, deployed, and the sysroot kept there.
fn deploy_cached(
    input: &Input,
    d: &DeployInput,
    before: &[String],
) -> Result<(Deployed, Vec<String>)> {
    // Part of the key: the host's ostree writes the sysroot when the image
    // carries none (and a host without one can still use the image's).
    let host_ostree = crate::tools::ostree::Tool::Host
        .version()
        .unwrap_or_else(|_| "absent".to_string());
    let id = cache::Key {
        digest: d.digest,
        origin: &d.plan.origin,
        stateroot: &d.plan.stateroot,
        kargs_before: before,
        kargs_after: d.kernel_args,
        source_date_epoch: input.source_date_epoch,
        host_ostree: &host_ostree,
    }
    .id();
    let c = cache::Cache::new(d.cache_root);
    let sysroot = input.tree;
    let (deployed, kargs) = match c.restore(&id, sysroot)? {
        Some(e) => {
            let rel = format!("ostree/deploy/{}/deploy/{}.0", d.plan.stateroot, e.commit);
            d.progress.event(&Event::Note {
                message: format!(
                    "ostree: sysroot from the build cache (written by {}); commit {} on {}",
                    e.tool, e.commit, e.image_ref
                ),
            });
            let deployed = Deployed {
                dir: sysroot.join(&rel),
                var: sysroot.join(format!("ostree/deploy/{}/var", d.plan.stateroot)),
                commit: e.commit,
                rel,
                kver: e.kver,
                tool: e.tool,
                image_ref: e.image_ref,
            };
            (deployed, e.kargs)
        }
        None => {
            let b = d.base;
            crate::oci::unpack::apply_layers(
                &b.layout,
                &b.image.manifest,
                &b.image.config,
                d.image_root,
            )
            .context("unpacking the image")?;
            let (deployed, kargs) = deploy_image(input, d, before)?;
            let entry = cache::Entry {
                commit: deployed.commit.clone(),
                kver: deployed.kver.clone(),
                kargs: kargs.clone(),
                tool: deployed.tool.clone(),
                image_ref: deployed.image_ref.clone(),
                tree: String::new(),
            };
            if !c.store(&id, sysroot, &entry)? {
                crate::report::verbose("ostree: the sysroot was not kept in the build cache (another filesystem, or kept already)");
            }
            (deployed, kargs)
        }
    };
    cache::make_private(sysroot, &deployed.rel)?;
    Ok((deployed, kargs))
}

/// kargs.d of the image (`/usr/lib/bootc/kargs.d/*.toml`, sorted), those
/// matching `arch` (bootc's `match-architectures` uses Rust's arch names,
/// which are ours).
pub fn image_kargs(root: &Path, arch: &str) -> Result<Vec<String>> {
    let dir = root.join("usr/lib/bootc/kargs.d");
    if !dir.is_dir() {
        return Ok(vec![]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let mut out = vec![];
    for f in files {
        let text =
            std::fs::read_to_string(&f).with_context(|| format!("reading {}", f.display()))?;
        out.extend(parse_kargs(&text, arch).with_context(|| format!("{}", f.display()))?);
    }
    Ok(out)
}

fn parse_kargs(text: &str, arch: &str) -> Result<Vec<String>> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "kebab-case")]
    struct File {
        kargs: Vec<String>,
        match_architectures: Option<Vec<String>>,
    }
    let f: File = toml::from_str(text)?;
    if let Some(m) = &f.match_architectures {
        if !m.iter().any(|a| a == arch) {
            return Ok(vec![]);
        }
    }
    Ok(f.kargs)
}

/// The customizations, applied to the deployment root. Files are edited
/// in the deployment's own `/etc` (copies, not the repository's hard
/// links); what lands in its `/var` moves to the stateroot's.
fn customize(input: &Input, d: &DeployInput, dep: &Deployed, kargs: &[String]) -> Result<()> {
    let Some(c) = d.customizations else {
        return Ok(());
    };
    break_etc_links(&dep.dir.join("etc"))?;
    let env = crate::tree::customize::Env {
        root: dep.dir.clone(),
        manifest_dir: d.manifest_dir.to_path_buf(),
        source_date_epoch: input.source_date_epoch,
        releasever: d.releasever.to_string(),
    };
    crate::tree::customize::apply(&env, c, kargs).context("customizing the deployment")?;
    sysroot::move_var(dep)
}

/// Every multiply-linked file under `etc` becomes its own copy, so an
/// edit never reaches an object of the repository.
fn break_etc_links(etc: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    for e in walkdir(etc)? {
        let m = std::fs::symlink_metadata(&e)?;
        if m.is_file() && m.nlink() > 1 {
            let tmp = e.with_extension("image-builder-copy");
            std::fs::copy(&e, &tmp).with_context(|| format!("copying {}", e.display()))?;
            std::fs::rename(&tmp, &e)?;
        }
    }
    Ok(())
}

fn walkdir(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = vec![];
    if !dir.is_dir() {
        return Ok(out);
    }
    for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let e = e?;
        let p = e.path();
        if e.file_type()?.is_dir() {
            out.extend(walkdir(&p)?);
        }
        out.push(p);
    }
    out.sort();
    Ok(out)
}

/// The deployment's fstab: /boot, the ESP and data filesystems (root is
/// mounted by the initramfs from `root=` and `ostree=`).
fn write_fstab(dep: &Path, u: &Uuids) -> Result<()> {
    let mut t = String::from("# Written by image-builder.\n");
    if let Some(b) = &u.boot {
        let fs = u.boot_fs.as_deref().unwrap_or("ext4");
        let _ = writeln!(t, "UUID={b} /boot {fs} defaults 0 2");
    }
    if let Some(e) = &u.esp {
        let _ = writeln!(
            t,
            "UUID={}-{} /boot/efi vfat umask=0077,shortname=winnt 0 2",
            &e[..4],
            &e[4..]
        );
    }
    for x in &u.extra {
        match &x.mountpoint {
            Some(mp) => {
                let _ = writeln!(t, "UUID={} {mp} {} defaults 0 2", x.uuid, x.fs);
            }
            None => {
                let _ = writeln!(t, "UUID={} none swap defaults 0 0", x.uuid);
            }
        }
    }
    let p = dep.join("etc/fstab");
    std::fs::write(&p, t).with_context(|| format!("writing {}", p.display()))
}

/// One BLS entry as ostree wrote it, paths as GRUB sees them.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub title: String,
    pub linux: String,
    pub initrd: String,
    pub options: String,
}

/// Parses a BLS entry (`key value` lines).
pub fn parse_bls(text: &str) -> Entry {
    let get = |k: &str| {
        text.lines()
            .find_map(|l| {
                let (key, v) = l.split_once(char::is_whitespace)?;
                (key == k).then(|| v.trim().to_string())
            })
            .unwrap_or_default()
    };
    Entry {
        title: get("title"),
        linux: get("linux"),
        initrd: get("initrd"),
        options: get("options"),
    }
}

/// The entries under /boot/loader/entries, sorted. Without a /boot
/// partition the kernel paths get `/boot` in front (ostree writes them
/// relative to /boot), in the files too, so blscfg finds them.
fn bls_entries(sysroot: &Path, boot_separate: bool) -> Result<Vec<Entry>> {
    let dir = sysroot.join("boot/loader/entries");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
        .collect();
    files.sort();
    let mut out = vec![];
    for f in files {
        let mut text =
            std::fs::read_to_string(&f).with_context(|| format!("reading {}", f.display()))?;
        if !boot_separate {
            text = text
                .replace("\nlinux /ostree/", "\nlinux /boot/ostree/")
                .replace("\ninitrd /ostree/", "\ninitrd /boot/ostree/");
            std::fs::write(&f, &text)?;
        }
        out.push(parse_bls(&text));
    }
    Ok(out)
}

/// GRUB menu entries for a GRUB without `blscfg`, one per BLS entry.
pub fn menu(entries: &[Entry]) -> String {
    let mut m = String::new();
    for e in entries {
        let _ = writeln!(
            m,
            "menuentry '{}' --class kernel {{\n  linux {} {}\n  initrd {}\n}}",
            e.title.replace('\'', ""),
            e.linux,
            e.options,
            e.initrd
        );
    }
    m
}

/// `/boot/grub2/grub.cfg` and, for BIOS, GRUB's i386-pc modules beside
/// it (from the deployment, the image's GRUB).
fn grub_cfg(input: &Input, u: &Uuids, entries: &[Entry], dep: &Path) -> Result<()> {
    let boot_uuid = u.boot.as_deref().unwrap_or(&u.root);
    let mut cfg = format!(
        "# Written by image-builder.\nset timeout=1\nset default=0\nsearch --no-floppy --fs-uuid --set=root {boot_uuid}\n"
    );
    if input
        .boot
        .cmdline
        .iter()
        .any(|a| a.starts_with("console=ttyS"))
    {
        cfg.push_str(
            "serial --unit=0 --speed=115200\nterminal_input serial console\nterminal_output serial console\n",
        );
    }
    if input.distro.grub_blscfg {
        cfg.push_str("insmod blscfg\nblscfg\n");
    } else {
        cfg.push_str(&menu(entries));
    }
    let sysroot = input.tree;
    let grub = sysroot.join("boot/grub2");
    std::fs::create_dir_all(&grub)?;
    std::fs::write(grub.join("grub.cfg"), cfg).context("writing /boot/grub2/grub.cfg")?;
    super::bootloader::copy_bios_modules(input.layout, dep, &grub)?;
    Ok(())
}

/// The ESP from the image's bootupd payload, plus the grub.cfg the
/// vendor's GRUB reads first.
fn esp(input: &Input, u: &Uuids, dep: &Path) -> Result<()> {
    if u.esp.is_none() {
        return Ok(());
    }
    let src = dep.join("usr/lib/bootupd/updates/EFI");
    if !src.is_dir() {
        bail!("the image has no /usr/lib/bootupd/updates/EFI (shim and GRUB for the ESP): it cannot boot from UEFI");
    }
    let dst = input.tree.join("boot/efi/EFI");
    std::fs::create_dir_all(dst.parent().expect("has a parent"))?;
    crate::tools::copy_tree(&src, &dst)?;
    let boot_uuid = u.boot.as_deref().unwrap_or(&u.root);
    let prefix = if u.boot.is_some() {
        "/grub2"
    } else {
        "/boot/grub2"
    };
    let early = format!(
        "search --no-floppy --fs-uuid --set=dev {boot_uuid}\nset prefix=($dev){prefix}\nexport $prefix\nconfigfile $prefix/grub.cfg\n"
    );
    let cfg = dst.join(input.distro.grub_efi_dir()).join("grub.cfg");
    std::fs::create_dir_all(cfg.parent().expect("has a parent"))?;
    std::fs::write(&cfg, early).with_context(|| format!("writing {}", cfg.display()))
}

/// `/.bootc-aleph.json`: what was installed, as bootc records it.
fn aleph(sysroot: &Path, d: &DeployInput, dep: &Deployed, sde: i64) -> Result<()> {
    let v = serde_json::json!({
        "image": d.plan.origin,
        "digest": d.digest,
        "ostree-commit": dep.commit,
        "kernel": dep.kver,
        "selinux": "disabled",
        "stateroot": d.plan.stateroot,
        "timestamp": crate::civil::rfc3339(sde),
        "version": format!("image-builder {}", env!("CARGO_PKG_VERSION")),
    });
    let p = sysroot.join(".bootc-aleph.json");
    std::fs::write(&p, serde_json::to_string_pretty(&v)? + "\n")
        .with_context(|| format!("writing {}", p.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kargs_d_by_arch() {
        assert_eq!(
            parse_kargs("kargs = [\"a=1\", \"b\"]\n", "x86_64").unwrap(),
            ["a=1", "b"]
        );
        let t = "kargs = [\"c\"]\nmatch-architectures = [\"aarch64\"]\n";
        assert!(parse_kargs(t, "x86_64").unwrap().is_empty());
        assert_eq!(parse_kargs(t, "aarch64").unwrap(), ["c"]);
        assert!(parse_kargs("nonsense", "x86_64").is_err());
    }

    #[test]
    fn bls_entries_become_menu_entries() {
        let e = parse_bls(
            "title Fixture Linux 1 (ostree:0)\nversion 1\noptions root=UUID=u rw ostree=/ostree/boot.1/default/abc/0\nlinux /ostree/default-abc/vmlinuz-6.1\ninitrd /ostree/default-abc/initramfs-6.1.img\n",
        );
        assert_eq!(e.linux, "/ostree/default-abc/vmlinuz-6.1");
        assert_eq!(
            e.options,
            "root=UUID=u rw ostree=/ostree/boot.1/default/abc/0"
        );
        let m = menu(&[e]);
        assert!(
            m.contains("linux /ostree/default-abc/vmlinuz-6.1 root=UUID=u rw ostree=/ostree/boot.1/default/abc/0\n"),
            "{m}"
        );
        assert!(m.contains("initrd /ostree/default-abc/initramfs-6.1.img"));
    }
}
