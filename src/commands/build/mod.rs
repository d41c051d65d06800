//! `build`: plan, resolve (or take MANIFEST.lock with `--locked`), fetch,
//! then per arch and output: the tree (install, presets, customizations,
//! SELinux labels) in a work directory inside the output directory, the
//! artifact renamed into place, its SBOMs beside it. Output types whose
//! stage has not landed stop the build after fetch with a build error that
//! says so (exit 1), having written nothing at the output path.

mod oci;

use super::{load, print_json_line, Ctx};
use crate::artifact;
use crate::cli::BuildArgs;
use crate::error::InputError;
use crate::fetch::Cache;
use crate::manifest::ours::OutputType;
use crate::manifest::Document;
use crate::plan;
use crate::resolve::{self, lockfile, lockfile::Lockfile};
use crate::tree;
use anyhow::{bail, Context, Result};
use serde_json::json;
use std::path::{Path, PathBuf};

pub fn run(ctx: Ctx, args: &BuildArgs) -> Result<()> {
    let (doc, selection) = load(&args.select)?;
    let p = plan::make(&doc, &selection)?;
    let outputs: Vec<(String, String)> = p
        .arches
        .iter()
        .flat_map(|a| {
            a.outputs
                .iter()
                .map(move |o| (a.arch.clone(), o.name.clone()))
        })
        .collect();
    if outputs.is_empty() {
        return Err(InputError(format!(
            "{}: nothing to build: the manifest has no [[output]]; pass --type (e.g. --type qcow2)",
            doc.file()
        ))
        .into());
    }
    if args.output_dir.exists() && !args.output_dir.is_dir() {
        return Err(InputError(format!(
            "--output-dir {} is not a directory",
            args.output_dir.display()
        ))
        .into());
    }
    if ctx.json {
        print_json_line(&json!({"event": "planned", "outputs": outputs}));
    }
    let lock = locked_or_resolved(ctx, args, &doc, &p)?;
    let cache = Cache::open(ctx.cache_dir)?;
    let keydir = tempfile::Builder::new()
        .prefix("keys.")
        .tempdir_in(&cache.root)?;
    let mut fetched: Vec<(String, String, Vec<PathBuf>)> = Vec::new();
    for a in &p.arches {
        for o in &a.outputs {
            let t = lock
                .target(&a.arch, &o.name)
                .expect("stale() checked every target");
            let items = resolve::fetch_items(t, keydir.path())?;
            fetched.push((
                a.arch.clone(),
                o.name.clone(),
                fetch_packages(ctx, &items, &cache)?,
            ));
        }
    }
    let pending: Vec<String> = p
        .arches
        .iter()
        .flat_map(|a| a.outputs.iter().map(move |o| (a, o)))
        .filter(|(_, o)| {
            !(matches!(
                o.kind,
                OutputType::Tar | OutputType::Directory | OutputType::Oci
            ) || o.kind.is_disk())
        })
        .map(|(a, o)| format!("{}/{} ({})", a.arch, o.name, o.kind))
        .collect();
    if !pending.is_empty() {
        let n: usize = fetched.iter().map(|f| f.2.len()).sum();
        bail!(
            "{n} packages are resolved, fetched and verified in {}; the artifact stage for {} \
             (ostree commits and ISOs) has not landed yet",
            cache.root.display(),
            pending.join(", ")
        );
    }
    std::fs::create_dir_all(&args.output_dir)
        .with_context(|| format!("creating {}", args.output_dir.display()))?;
    let distro = crate::distro::lookup(&p.distro.id)
        .map_err(anyhow::Error::msg)?
        .context("planned distro vanished")?;
    let manifest_dir = args
        .select
        .manifest
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    if p.base_image.is_some() {
        if let Some(o) = p
            .arches
            .iter()
            .flat_map(|a| &a.outputs)
            .find(|o| o.kind != OutputType::Oci)
        {
            return Err(InputError(format!(
                "{}: [base] derives bootc images; output {} ({}) cannot be built from a base image yet",
                doc.file(),
                o.name,
                o.kind
            ))
            .into());
        }
    }
    if args.sign_key.is_some() && args.push.is_none() {
        return Err(InputError(
            "--sign-key signs what --push pushes: pass --push docker://HOST/REPO:TAG".into(),
        )
        .into());
    }
    let mut sessions = oci::Sessions::new();
    for a in &p.arches {
        for o in &a.outputs {
            let rpms = &fetched
                .iter()
                .find(|f| f.0 == a.arch && f.1 == o.name)
                .expect("fetched every target")
                .2;
            if o.kind == OutputType::Oci {
                let target = lock
                    .target(&a.arch, &o.name)
                    .expect("stale() checked every target");
                oci::build_arch(
                    ctx,
                    args,
                    &mut sessions,
                    &oci::ArchInput {
                        doc: &doc,
                        plan: &p,
                        arch: a,
                        output: o,
                        rpms,
                        target,
                        manifest_dir: &manifest_dir,
                        distro,
                    },
                )?;
                continue;
            }
            let work = tempfile::Builder::new()
                .prefix(".image-builder.")
                .tempdir_in(&args.output_dir)?;
            let root = work.path().join("tree");
            let cmdline: Vec<String> = o
                .boot
                .as_ref()
                .map(|b| b.cmdline.clone())
                .unwrap_or_default();
            let report = tree::make::make(&tree::make::Request {
                root: &root,
                rpms,
                customizations: doc.manifest.customizations.as_ref(),
                manifest_dir: &manifest_dir,
                releasever: &p.distro.releasever,
                major: distro.major,
                rpmdb: &p.distro.rpmdb,
                kernel_cmdline: &cmdline,
                base_created: None,
            })
            .with_context(|| format!("building the {} tree for {}", a.arch, o.name))?;
            let out = args.output_dir.join(&o.filename);
            let target = lock
                .target(&a.arch, &o.name)
                .expect("stale() checked every target");
            let sbom_doc = sbom_document(&report, target, &o.filename, &p.distro, &a.arch)?;
            match o.kind {
                OutputType::Tar => artifact::tar::write(&root, &out, report.source_date_epoch)?,
                OutputType::Directory => replace_dir(&root, &out, work.path())?,
                kind => {
                    let (Some(layout), Some(boot)) = (&o.disk, &o.boot) else {
                        bail!(
                            "{}/{}: a disk output without a layout or boot plan",
                            a.arch,
                            o.name
                        );
                    };
                    let custom = boot.secureboot == crate::manifest::ours::SecureBootMode::Custom;
                    if custom && !boot.uki {
                        return Err(InputError(
                            "secureboot = \"custom\" boots a signed UKI: set uki = true (signing GRUB and the kernel for a custom db is not supported)".into(),
                        )
                        .into());
                    }
                    let keys = if custom || boot.uki {
                        Some(artifact::disk::uki::signer(
                            doc.manifest.boot.as_ref().and_then(|b| b.keys.as_ref()),
                            &manifest_dir,
                        )?)
                    } else {
                        None
                    };
                    let arch =
                        crate::distro::arch::lookup(&a.arch).context("planned arch vanished")?;
                    let seed = format!(
                        "{}:{}:{}",
                        o.filename,
                        a.arch,
                        target
                            .packages
                            .iter()
                            .map(|p| p.checksum.as_str())
                            .collect::<Vec<_>>()
                            .join(",")
                    );
                    artifact::tar::clamp_mtimes(&root, report.source_date_epoch)?;
                    let raw = work.path().join("disk.raw");
                    let disk = artifact::disk::build_raw(
                        &artifact::disk::Input {
                            tree: &root,
                            layout,
                            boot,
                            arch,
                            distro,
                            seed: &seed,
                            source_date_epoch: report.source_date_epoch,
                            work: work.path(),
                            signer: keys.as_ref().map(|k| &k.0),
                        },
                        &raw,
                    )?;
                    if let Some((_, Some(dir))) = &keys {
                        let enroll = args.output_dir.join(format!("{}.enroll", o.filename));
                        artifact::disk::uki::write_enrollment(dir, &enroll)?;
                    }
                    crate::report::info(format!(
                        "disk: kernel {}, root UUID {}",
                        disk.kernel, disk.root_uuid
                    ));
                    artifact::disk::convert(&raw, kind.as_str(), &out)?;
                    if args.verify {
                        let keys_dir = keys.as_ref().and_then(|k| k.1.clone());
                        boot_check(ctx, &out, arch, boot, keys_dir)?;
                    }
                }
            }
            artifact::sbom::write_beside(&out, &sbom_doc)?;
            if ctx.json {
                print_json_line(&json!({
                    "event": "artifact",
                    "arch": a.arch,
                    "output": o.name,
                    "type": o.kind.as_str(),
                    "path": out,
                    "packages": report.packages.len(),
                    "customizations": report.customizations,
                    "selinux_labelled": report.selinux_labelled,
                    "source_date_epoch": report.source_date_epoch,
                }));
            } else {
                println!("{}", out.display());
            }
        }
    }
    oci::finish(ctx, args, sessions)
}

/// The SBOM's view of a finished tree: every installed package's header
/// facts joined with where the lockfile says it came from.
fn sbom_document(
    report: &tree::make::Report,
    target: &lockfile::Target,
    artifact: &str,
    distro: &plan::DistroSummary,
    arch: &str,
) -> Result<artifact::sbom::Document> {
    use crate::tree::rpmhdr::tag;
    if report.packages.len() != target.packages.len() {
        bail!(
            "installed {} packages but the lock lists {}",
            report.packages.len(),
            target.packages.len()
        );
    }
    let packages = report
        .packages
        .iter()
        .zip(&target.packages)
        .map(|(i, l)| {
            let h = &i.header;
            let s = |t| h.string(t).map(str::to_string);
            let sha256 = match i.path.file_stem().and_then(|s| s.to_str()) {
                Some(stem) if stem.len() == 64 && stem.bytes().all(|b| b.is_ascii_hexdigit()) => {
                    stem.to_string()
                }
                _ => crate::fetch::sha256_file(&i.path)?,
            };
            let download_url = target
                .repos
                .iter()
                .find(|r| r.id == l.repo)
                .and_then(|r| r.baseurls.first())
                .map(|b| format!("{}/{}", b.trim_end_matches('/'), l.location));
            Ok(artifact::sbom::Package {
                name: h.name().to_string(),
                epoch: h.ints(tag::EPOCH).first().copied().unwrap_or(0) as u32,
                version: s(tag::VERSION).unwrap_or_default(),
                release: s(tag::RELEASE).unwrap_or_default(),
                arch: s(tag::ARCH).unwrap_or_default(),
                license: s(tag::LICENSE).unwrap_or_default(),
                source_rpm: s(tag::SOURCERPM),
                sha256,
                repo: l.repo.clone(),
                download_url,
                summary: s(tag::SUMMARY).unwrap_or_default(),
                vendor: s(tag::VENDOR),
                url: s(tag::URL),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let distro_id = if distro.id.starts_with("almalinux") {
        "almalinux".to_string()
    } else {
        distro.id.clone()
    };
    Ok(artifact::sbom::Document {
        artifact: artifact.to_string(),
        distro_id,
        distro_version: distro.releasever.clone(),
        arch: arch.to_string(),
        created_epoch: report.source_date_epoch,
        packages,
    })
}

/// `build --verify`: boots the artifact the way its boot plan says (UEFI
/// with the plan's Secure Boot mode when it has UEFI, else BIOS) and fails
/// the build unless the guest reports.
fn boot_check(
    ctx: Ctx,
    out: &Path,
    arch: &'static crate::distro::Arch,
    boot: &plan::boot::BootPlan,
    keys: Option<PathBuf>,
) -> Result<()> {
    use crate::manifest::ours::{Firmware, SecureBootMode};
    use crate::verify::qemu::{FirmwareKind, SecureBoot};
    let mut o = crate::verify::Options::new(arch);
    o.firmware = if boot.firmware == Firmware::Bios {
        FirmwareKind::Bios
    } else {
        FirmwareKind::Uefi
    };
    o.secureboot = match boot.secureboot {
        SecureBootMode::Distro => SecureBoot::Ms,
        SecureBootMode::Custom => SecureBoot::Custom,
        SecureBootMode::Off => SecureBoot::Off,
    };
    o.keys = keys;
    o.timeout = std::time::Duration::from_secs(300);
    crate::report::info(format!("verifying {} in QEMU", out.display()));
    let v = crate::verify::verify(out, &o)?;
    let secs = v.elapsed.as_secs_f64();
    match &v.outcome {
        crate::verify::Outcome::Report(r) => {
            if ctx.json {
                print_json_line(
                    &json!({"event": "verified", "path": out, "seconds": secs, "report": r}),
                );
            } else {
                crate::report::info(format!("verified: report after {secs:.1} s"));
            }
            Ok(())
        }
        other => {
            let tail: Vec<&str> = v.log.lines().rev().take(20).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            bail!(
                "{} did not boot to a report ({}) after {secs:.1} s; console:\n{}",
                out.display(),
                other.kind(),
                tail.join("\n")
            )
        }
    }
}

/// Moves the finished tree to `out`, replacing an earlier one only once
/// the new one is complete.
fn replace_dir(tree: &Path, out: &Path, work: &Path) -> Result<()> {
    if out.exists() {
        std::fs::rename(out, work.join("previous"))
            .with_context(|| format!("moving the previous {} aside", out.display()))?;
    }
    std::fs::rename(tree, out).with_context(|| format!("moving the tree to {}", out.display()))
}

/// With `--locked`: MANIFEST.lock as it is, refused when stale. Without:
/// resolve now and (re)write the lock.
fn locked_or_resolved(
    ctx: Ctx,
    args: &BuildArgs,
    doc: &Document,
    p: &plan::BuildPlan,
) -> Result<Lockfile> {
    let path = lockfile::path_for(&args.select.manifest);
    if args.locked {
        let l = Lockfile::load(&path)?;
        let stale = resolve::stale(p, &l);
        if !stale.is_empty() {
            return Err(InputError(format!(
                "--locked: {} no longer matches {}:\n  {}\nrun `image-builder lock {}` to update it",
                path.display(),
                doc.file(),
                stale.join("\n  "),
                doc.file()
            ))
            .into());
        }
        return Ok(l);
    }
    let cache = Cache::open(ctx.cache_dir)?;
    let name = args
        .select
        .manifest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (mut l, warnings) = resolve::lock(p, &cache, &name)?;
    for w in warnings {
        crate::report::info(format!("warning: {w}"));
    }
    if let Ok(old) = Lockfile::load(&path) {
        for t in old.targets {
            if l.target(&t.arch, &t.output).is_none() {
                l.targets.push(t);
            }
        }
    }
    l.targets
        .sort_by(|x, y| (&x.arch, &x.output).cmp(&(&y.arch, &y.output)));
    l.write(&path)?;
    Ok(l)
}

fn fetch_packages(ctx: Ctx, items: &[crate::fetch::Item], cache: &Cache) -> Result<Vec<PathBuf>> {
    let progress = crate::progress::for_cli(ctx.json);
    crate::fetch::fetch_all(
        items,
        cache,
        &crate::fetch::FetchOptions::default(),
        progress.as_ref(),
    )
}
