//! The disk builder on a tree made from the fixture's boot packages (shim,
//! GRUB for EFI and BIOS, the kernel) with a stand-in initramfs: the
//! partition table, every filesystem passing its read-only fsck, the ESP
//! holding the boot chain and the UUID-finding grub.cfg, BLS entries, the
//! BIOS core image, qemu-img check of every format, and the same bytes
//! from two builds.

mod common;

use alma_image_builder::artifact::disk;
use alma_image_builder::manifest;
use alma_image_builder::manifest::validate::Selection;
use alma_image_builder::plan;
use common::fixtures::fixture_root;
use std::path::{Path, PathBuf};
use std::process::Command;

fn sh(cmd: &str) -> String {
    let o = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    assert!(
        o.status.success(),
        "{cmd}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn tree(dir: &Path) -> PathBuf {
    let repo = fixture_root().join("repos/main/x86_64");
    let t = dir.join("tree");
    std::fs::create_dir_all(&t).unwrap();
    for p in [
        "shim-x64-",
        "grub2-efi-x64-",
        "grub2-pc-",
        "kernel-core-",
        "busybox-",
    ] {
        sh(&format!(
            "cd {} && rpm2cpio {}/{p}[0-9]*.rpm | cpio -idm --quiet",
            t.display(),
            repo.display()
        ));
    }
    let kver = std::fs::read_dir(t.join("lib/modules"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name()
        .to_string_lossy()
        .into_owned();
    std::fs::create_dir_all(t.join("boot")).unwrap();
    std::fs::write(
        t.join(format!("boot/initramfs-{kver}.img")),
        b"stand-in initramfs",
    )
    .unwrap();
    std::fs::create_dir_all(t.join("etc")).unwrap();
    t
}

fn planned_with(xfs: bool) -> plan::BuildPlan {
    // The fixture qcow2 without its XFS root: ext4 (the fixture default)
    // is the filesystem whose images are byte-reproducible.
    let m = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("manifests/fixture/qcow2.toml");
    let text = std::fs::read_to_string(&m).unwrap();
    let text = if xfs {
        &text[..]
    } else {
        &text[..text
            .find("[[customizations.disk.partitions]]")
            .unwrap_or(text.len())]
    };
    std::env::set_var("IMAGE_BUILDER_FIXTURE_ROOT", fixture_root());
    let doc = manifest::parse(text, &m).unwrap();
    plan::make(&doc, &Selection::default()).unwrap()
}

fn build(dir: &Path) -> (PathBuf, disk::Report) {
    build_with(dir, false)
}

fn build_with(dir: &Path, xfs: bool) -> (PathBuf, disk::Report) {
    let p = planned_with(xfs);
    let a = &p.arches[0];
    let o = &a.outputs[0];
    let t = tree(dir);
    let work = dir.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let distro = alma_image_builder::distro::lookup("fixture")
        .unwrap()
        .unwrap();
    let arch = alma_image_builder::distro::arch::lookup("x86_64").unwrap();
    alma_image_builder::artifact::tar::clamp_mtimes(&t, 1_700_000_000).unwrap();
    let raw = dir.join("disk.raw");
    let r = disk::build_raw(
        &disk::Input {
            tree: &t,
            layout: o.disk.as_ref().unwrap(),
            boot: o.boot.as_ref().unwrap(),
            arch,
            distro,
            seed: "test-seed",
            source_date_epoch: 1_700_000_000,
            work: &work,
            signer: None,
        },
        &raw,
    )
    .unwrap();
    (raw, r)
}

/// Copies partition `n` (1-based) of `raw` out to a file.
fn part(raw: &Path, n: usize, out: &Path) {
    let dump = sh(&format!("sfdisk --json {}", raw.display()));
    let v: serde_json::Value = serde_json::from_str(&dump).unwrap();
    let p = &v["partitiontable"]["partitions"][n - 1];
    let (start, size) = (p["start"].as_u64().unwrap(), p["size"].as_u64().unwrap());
    sh(&format!(
        "dd if={} of={} bs=512 skip={start} count={size} conv=sparse status=none",
        raw.display(),
        out.display()
    ));
}

#[test]
fn fixture_disk_layout_filesystems_and_boot_chain() {
    let d = tempfile::tempdir().unwrap();
    let (raw, report) = build(d.path());
    let dump = sh(&format!("sfdisk --dump {}", raw.display()));
    assert!(dump.contains("label: gpt"), "{dump}");
    assert!(
        dump.contains("21686148-6449-6E6F-744E-656564454649"),
        "BIOS boot: {dump}"
    );
    assert!(
        dump.contains("C12A7328-F81F-11D2-BA4B-00A0C93EC93B"),
        "ESP: {dump}"
    );
    assert!(
        dump.contains("4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"),
        "x86-64 root: {dump}"
    );

    let esp = d.path().join("esp.img");
    part(&raw, 2, &esp);
    sh(&format!("fsck.vfat -n {}", esp.display()));
    let listing = sh(&format!("mdir -i {} -/ ::/EFI", esp.display()))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for f in [
        "BOOTX64",
        "shimx64",
        "grubx64",
        "mmx64",
        "BOOTX64 CSV",
        "fbx64",
    ] {
        assert!(listing.contains(f), "{f} missing from the ESP: {listing}");
    }
    let early = sh(&format!(
        "mtype -i {} ::/EFI/debian/grub.cfg",
        esp.display()
    ));
    let boot_uuid = report.boot_uuid.clone().unwrap();
    assert!(
        early.contains(&format!("--fs-uuid --set=dev {boot_uuid}")),
        "{early}"
    );

    let boot = d.path().join("boot.img");
    part(&raw, 3, &boot);
    sh(&format!("e2fsck -fn {}", boot.display()));
    let root = d.path().join("root.img");
    part(&raw, 4, &root);
    sh(&format!("e2fsck -fn {}", root.display()));
    assert!(sh(&format!("blkid -o value -s UUID {}", root.display())).trim() == report.root_uuid);
    let entries = sh(&format!(
        "debugfs -R 'ls -l /loader/entries' {} 2>/dev/null",
        boot.display()
    ));
    assert!(
        entries.contains(&format!("{}.conf", report.kernel)),
        "{entries}"
    );
    let cfg = sh(&format!(
        "debugfs -R 'cat /grub2/grub.cfg' {} 2>/dev/null",
        boot.display()
    ));
    assert!(
        cfg.contains(&format!("root=UUID={}", report.root_uuid)),
        "{cfg}"
    );
    assert!(
        cfg.contains("console=ttyS0") && cfg.contains("loglevel=4"),
        "{cfg}"
    );
    let fstab = sh(&format!(
        "debugfs -R 'cat /etc/fstab' {} 2>/dev/null",
        root.display()
    ));
    assert!(
        fstab.contains(&format!("UUID={} / ext4", report.root_uuid)),
        "{fstab}"
    );
    assert!(fstab.contains(" /boot/efi vfat "), "{fstab}");

    // BIOS: GRUB's boot code in the MBR, pointing at core.img in partition 1.
    let mbr = sh(&format!(
        "dd if={} bs=512 count=1 status=none | od -An -tx1 -j 92 -N 8",
        raw.display()
    ));
    assert_eq!(
        mbr.split_whitespace().collect::<Vec<_>>()[..2],
        ["00", "08"],
        "core.img at LBA 2048: {mbr}"
    );
    let core = sh(&format!(
        "dd if={} bs=512 skip=2048 count=1 status=none | od -An -c | head -3",
        raw.display()
    ));
    assert!(!core.trim().is_empty());

    for (fmt, ext) in [("qcow2", "qcow2"), ("vmdk", "vmdk"), ("vhd", "vhd")] {
        let copy = d.path().join(format!("copy.raw.{ext}"));
        sh(&format!(
            "cp --sparse=always {} {}",
            raw.display(),
            copy.display()
        ));
        let out = d.path().join(format!("disk.{ext}"));
        disk::convert(&copy, fmt, &out).unwrap();
        // A fixed VHD is raw data plus a footer; qemu-img probes it as raw.
        let want = if fmt == "vhd" { "vpc" } else { fmt };
        let info = sh(&format!(
            "qemu-img info -f {want} --output=json {}",
            out.display()
        ));
        let v: serde_json::Value = serde_json::from_str(&info).unwrap();
        assert_eq!(v["format"], want, "{info}");
        if fmt != "vhd" {
            sh(&format!("qemu-img check -q {}", out.display()));
        } else {
            // Azure: fixed VHD, virtual size a whole number of MiB.
            assert_eq!(v["virtual-size"].as_u64().unwrap() % (1 << 20), 0, "{info}");
            let len = std::fs::metadata(&out).unwrap().len();
            assert_eq!(
                len,
                v["virtual-size"].as_u64().unwrap() + 512,
                "fixed VHD = data + footer"
            );
            let footer = sh(&format!("tail -c 512 {} | head -c 8", out.display()));
            assert_eq!(footer, "conectix");
        }
    }
}

#[test]
fn same_inputs_same_disk_bytes() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let (ra, _) = build(a.path());
    let (rb, _) = build(b.path());
    let ha = sh(&format!("sha256sum < {}", ra.display()));
    let hb = sh(&format!("sha256sum < {}", rb.display()));
    assert_eq!(ha, hb, "two builds of the same tree differ");
}

/// The XFS root (AlmaLinux's default), populated through a loop mount,
/// passes xfs_repair in no-modify mode and carries the tree.
#[test]
fn xfs_root_passes_xfs_repair() {
    let d = tempfile::tempdir().unwrap();
    let (raw, report) = build_with(d.path(), true);
    let root = d.path().join("root.img");
    part(&raw, 4, &root);
    sh(&format!("xfs_repair -n -f {}", root.display()));
    assert_eq!(
        sh(&format!("blkid -o value -s TYPE {}", root.display())).trim(),
        "xfs"
    );
    assert_eq!(
        sh(&format!("blkid -o value -s UUID {}", root.display())).trim(),
        report.root_uuid
    );
    let ls = sh(&format!(
        "xfs_db -r -c 'ls /bin' {} | grep -c busybox || true",
        root.display()
    ));
    assert!(ls.trim() != "0", "busybox missing from the xfs root");
}
