//! ISO media: hybrid BIOS/UEFI images for CD-ROMs and USB sticks.
//!
//! A live ISO (`iso-live`) is the tree, customizations applied, packed as
//! `LiveOS/squashfs.img` (zstd squashfs: every dracut AlmaLinux ships
//! mounts it, where EROFS needs dracut 059+ and a kernel built with it),
//! with the tree's kernel and an initramfs made by the tree's own dracut
//! with `dmsquash-live` under `images/pxeboot/`. The kernel finds its root
//! by the medium's label (`root=live:CDLABEL=VOLID rd.live.image`), so the
//! same bytes boot from a CD-ROM drive and from a USB stick.
//!
//! The layout is lorax's for EL10 (`media`): ISO 9660 + Joliet + Rock
//! Ridge, El Torito BIOS (GRUB i386-pc) and EFI (`images/efiboot.img`:
//! shim → GRUB, MokManager), MBR + GPT with the EFI image appended as
//! partition 2, through xorriso (`tools::iso`). Secure Boot is the distro
//! chain the disks use: Microsoft → shim → GRUB → kernel, all vendor
//! signed, taken from the tree.
//!
//! Same lock, same bytes: the tree's mtimes are clamped to
//! SOURCE_DATE_EPOCH, squashfs and ISO dates are set from it, the FAT
//! image's volume id is seeded, and xorriso's GPT GUID comes from the
//! volume date. Work happens in a directory beside the output, renamed
//! into place at the end.

pub mod media;

use crate::artifact::{Bootable, Builder, Produced, Target, Tree};
use crate::manifest::ours::Firmware;
use crate::plan::ArtifactPlan;
use crate::progress::{Event, Progress};
use crate::tools::iso::{BiosBoot, IsoSpec};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

pub struct IsoBuilder {
    pub output_dir: PathBuf,
    pub work: PathBuf,
}

/// The live tree's kernel and initramfs, made ready to boot from a medium.
pub struct LiveBoot {
    pub kver: String,
    pub vmlinuz: PathBuf,
    pub initrd: PathBuf,
}

/// Boot preparation of a live tree: the newest kernel, its initramfs made
/// by the tree's dracut with `dmsquash-live` (the module that mounts
/// `root=live:`), and an fstab without a root entry (the initramfs mounts
/// the overlay root; systemd must not remount it).
pub fn prepare_live(tree: &Path, epoch: i64) -> Result<LiveBoot> {
    use crate::tree::boot;
    let ks = boot::kernels(tree)?;
    let Some((kver, vmlinuz)) = ks.last().cloned() else {
        bail!("the tree has no kernel (/usr/lib/modules/*/vmlinuz): add the kernel package");
    };
    // Mount points, machine-id, modules.dep, /boot/vmlinuz-KVER and the
    // initramfs, with the live module.
    let initrd = tree.join(format!("boot/initramfs-{kver}.img"));
    if initrd.exists() {
        std::fs::remove_file(&initrd).with_context(|| format!("removing {}", initrd.display()))?;
    }
    boot::prepare_kernels_with(
        tree,
        &[(kver.clone(), vmlinuz.clone())],
        epoch,
        &["--add", "dmsquash-live"],
    )?;
    let fstab = tree.join("etc/fstab");
    std::fs::write(
        &fstab,
        "# Written by image-builder: the live root is an overlay the initramfs mounts\n# (root=live:); nothing to mount or remount here.\n",
    )
    .with_context(|| format!("writing {}", fstab.display()))?;
    crate::tarball::clamp_mtimes(tree, epoch)?;
    Ok(LiveBoot {
        kver,
        vmlinuz,
        initrd,
    })
}

impl Builder for IsoBuilder {
    fn add(&mut self, t: &Target, tree: Tree, progress: &dyn Progress) -> Result<Vec<Produced>> {
        let (a, o) = (t.arch, t.output);
        let (Some(boot), ArtifactPlan::IsoLive(p)) = (&o.boot, &o.artifact) else {
            bail!("{}/{}: an ISO output without a boot plan", a.arch, o.name);
        };
        let arch = crate::distro::arch::lookup(&a.arch).context("planned arch vanished")?;
        let work = tempfile::Builder::new()
            .prefix("iso.")
            .tempdir_in(&self.work)
            .context("making the ISO's work directory")?;
        let out = self.output_dir.join(&o.filename);
        let sbom = t.sbom(&tree)?;
        let sde = tree.report.source_date_epoch;
        let seed = t.identity_seed();
        // Boot preparation, then every mtime clamped (what it wrote too).
        let live = prepare_live(&tree.root, sde)?;

        let staging = work.path().join("iso");
        let pxe = staging.join(media::VMLINUZ.trim_start_matches('/'));
        let pxe_dir = pxe.parent().expect("images/pxeboot");
        std::fs::create_dir_all(pxe_dir)
            .with_context(|| format!("creating {}", pxe_dir.display()))?;
        std::fs::copy(&live.vmlinuz, &pxe).context("copying the kernel to the medium")?;
        std::fs::copy(
            &live.initrd,
            staging.join(media::INITRD.trim_start_matches('/')),
        )
        .context("copying the initramfs to the medium")?;
        let serial_tty = if arch.name.starts_with("x86_64") {
            "ttyS0"
        } else {
            "ttyAMA0"
        };
        media::write_configs(
            &staging,
            &media::Menu {
                title: &t.distro.name,
                volume_id: &p.volume_id,
                cmdline: &p.cmdline,
                serial_tty,
            },
            &format!("{} {} live {}", t.plan.name, t.distro.name, a.arch),
        )?;
        let bios = if matches!(boot.firmware, Firmware::Bios | Firmware::Hybrid) && arch.bios {
            Some(BiosBoot {
                eltorito: media::ELTORITO.into(),
                hybrid_mbr: media::bios(&tree.root, &staging, &p.volume_id, work.path())?,
            })
        } else {
            None
        };
        let efi = if matches!(boot.firmware, Firmware::Uefi | Firmware::Hybrid) && arch.has_uefi() {
            let img = media::efiboot(
                &tree.root,
                t.distro,
                arch,
                &p.volume_id,
                &seed,
                sde,
                work.path(),
            )?;
            std::fs::copy(&img, staging.join(media::EFIBOOT))
                .context("copying efiboot.img to the medium")?;
            Some(img)
        } else {
            None
        };
        if bios.is_none() && efi.is_none() {
            bail!("{}/{}: the ISO would have no boot image", a.arch, o.name);
        }
        let squash = staging.join("LiveOS/squashfs.img");
        let live_dir = squash.parent().expect("LiveOS");
        std::fs::create_dir_all(live_dir)
            .with_context(|| format!("creating {}", live_dir.display()))?;
        crate::tools::iso::mksquashfs(&tree.root, &squash, sde, p.compression_level)?;

        let tmp = work.path().join("out.iso");
        crate::tools::iso::xorriso(&IsoSpec {
            staging: staging.clone(),
            out: tmp.clone(),
            volume_id: p.volume_id.clone(),
            epoch: sde,
            bios,
            efi,
        })?;
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .context("flushing the ISO")?;
        std::fs::rename(&tmp, &out)
            .with_context(|| format!("moving the ISO to {}", out.display()))?;
        crate::artifact::sbom::write_beside(&out, &sbom)?;
        progress.event(&Event::Note {
            message: format!(
                "iso: volume id {}, kernel {}, live root LiveOS/squashfs.img",
                p.volume_id, live.kver
            ),
        });
        progress.event(&t.artifact_event(&tree, &out, None, None));
        Ok(vec![Produced {
            output: o.name.clone(),
            arch: Some(a.arch.clone()),
            path: out,
            bootable: Some(Bootable {
                arch,
                boot: boot.clone(),
                keys_dir: None,
                disk: None,
            }),
            image: None,
        }])
    }

    fn finish(self: Box<Self>, _: &dyn Progress) -> Result<Vec<Produced>> {
        Ok(vec![])
    }
}
