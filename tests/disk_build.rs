//! The disk builder on a tree made from the fixture's boot packages (shim,
//! GRUB for EFI and BIOS, the kernel) with a stand-in initramfs: the
//! partition table, every filesystem passing its read-only fsck, the ESP
//! holding the boot chain and the UUID-finding grub.cfg, BLS entries, the
//! BIOS core image, qemu-img check of every format, the same bytes from
//! two builds, swap plus separate /var and /home filesystems holding
//! their part of the tree, and the GCE archive (GNU tar, one sparse
//! `disk.raw` of whole GiB) read back by GNU tar.

mod common;

use alma_image_builder::artifact::disk;
use alma_image_builder::manifest;
use alma_image_builder::manifest::validate::Selection;
use alma_image_builder::plan;
use common::fixtures::fixture_root;
use std::path::{Path, PathBuf};

/// A shell command through the crate's one process runner; failure
/// panics with the tail of its stderr.
fn sh(cmd: &str) -> String {
    let o = alma_image_builder::tools::run("sh", &["-c", cmd]).unwrap_or_else(|e| panic!("{e:#}"));
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

fn planned(name: &str, cut_disk: bool) -> plan::BuildPlan {
    planned_as(name, cut_disk, None)
}

/// The fixture manifest `name`, its one output replaced by `output` (the
/// `[[output]]` table's body) when given.
fn planned_as(name: &str, cut_disk: bool, output: Option<&str>) -> plan::BuildPlan {
    let m = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("manifests/fixture")
        .join(name);
    let mut text = std::fs::read_to_string(&m).unwrap();
    if let Some(o) = output {
        let at = text.find("[[output]]").unwrap();
        let end = text[at..].find("\n\n").map_or(text.len(), |e| at + e);
        text.replace_range(at..end, &format!("[[output]]\n{o}"));
    }
    let text = if cut_disk {
        &text[..text
            .find("[[customizations.disk.partitions]]")
            .unwrap_or(text.len())]
    } else {
        &text[..]
    };
    std::env::set_var("IMAGE_BUILDER_FIXTURE_ROOT", fixture_root());
    let doc = manifest::parse(text, &m).unwrap();
    plan::make(&doc, &Selection::default()).unwrap()
}

fn build(dir: &Path) -> (PathBuf, disk::Report) {
    build_with(dir, false)
}

fn build_with(dir: &Path, xfs: bool) -> (PathBuf, disk::Report) {
    // The fixture qcow2 without its XFS root: ext4 (the fixture default)
    // is the filesystem whose images are byte-reproducible.
    let t = tree(dir);
    build_plan(dir, &t, &planned("qcow2.toml", !xfs))
}

fn build_plan(dir: &Path, t: &Path, p: &plan::BuildPlan) -> (PathBuf, disk::Report) {
    let a = &p.arches[0];
    let o = &a.outputs[0];
    let t = t.to_path_buf();
    let work = dir.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let distro = alma_image_builder::distro::lookup("fixture")
        .unwrap()
        .unwrap();
    let arch = alma_image_builder::distro::arch::lookup("x86_64").unwrap();
    alma_image_builder::tarball::clamp_mtimes(&t, 1_700_000_000).unwrap();
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
            deploy: None,
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
        "dd if={} of={} bs=1M iflag=skip_bytes,count_bytes skip={} count={} conv=sparse status=none",
        raw.display(),
        out.display(),
        start * 512,
        size * 512
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
        disk::convert(&copy, fmt, &out, 1_700_000_000).unwrap();
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

/// Swap plus /var (ext4) and /home (xfs) partitions from
/// manifests/fixture/partitions.toml: each has its Discoverable Partitions
/// type, passes its read-only check and holds what the tree had under its
/// mountpoint, root keeps only empty mountpoints, and fstab names each by
/// UUID.
#[test]
fn swap_var_and_home_partitions() {
    let d = tempfile::tempdir().unwrap();
    let t = tree(d.path());
    std::fs::create_dir_all(t.join("var/lib/fixture")).unwrap();
    std::fs::write(t.join("var/lib/fixture/state"), "state\n").unwrap();
    std::fs::create_dir_all(t.join("home/tester")).unwrap();
    std::fs::write(t.join("home/tester/.profile"), "export A=1\n").unwrap();
    let (raw, report) = build_plan(d.path(), &t, &planned("partitions.toml", false));

    let json = sh(&format!("sfdisk --json {}", raw.display()));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let parts = v["partitiontable"]["partitions"].as_array().unwrap();
    let types: Vec<(String, String)> = parts
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or("").to_string(),
                p["type"].as_str().unwrap().to_lowercase(),
            )
        })
        .collect();
    let want = [
        ("home", "933ac7e1-2eb4-4f13-b844-0e14e2aef915"),
        ("var", "4d21b016-b534-45c2-a9fb-5c16e091fd2d"),
        ("swap", "0657fd6d-a4ab-43c4-84e5-0933c84b4f4f"),
        ("root", "4f68bce3-e8cd-4db1-96e7-fbcaf984b709"),
    ];
    for (i, (name, ty)) in want.iter().enumerate() {
        assert_eq!(types[3 + i], (name.to_string(), ty.to_string()), "{json}");
    }
    let uuid = |mp: Option<&str>| {
        report
            .extra
            .iter()
            .find(|x| x.mountpoint.as_deref() == mp)
            .unwrap()
            .uuid
            .clone()
    };

    let home = d.path().join("home.img");
    part(&raw, 4, &home);
    sh(&format!("xfs_repair -n -f {}", home.display()));
    let var = d.path().join("var.img");
    part(&raw, 5, &var);
    sh(&format!("e2fsck -fn {}", var.display()));
    let swap = d.path().join("swap.img");
    part(&raw, 6, &swap);
    let root = d.path().join("root.img");
    part(&raw, 7, &root);
    sh(&format!("e2fsck -fn {}", root.display()));
    for (img, ty, id) in [
        (&home, "xfs", uuid(Some("/home"))),
        (&var, "ext4", uuid(Some("/var"))),
        (&swap, "swap", uuid(None)),
    ] {
        let got = sh(&format!(
            "blkid -p -o value -s TYPE -s UUID {}",
            img.display()
        ));
        assert_eq!(
            got.split_whitespace().collect::<Vec<_>>(),
            [&id[..], ty],
            "{}",
            img.display()
        );
    }
    // The swap header: "SWAPSPACE2" at the end of the first 4 KiB page.
    let magic = sh(&format!(
        "dd if={} bs=1 skip=4086 count=10 status=none",
        swap.display()
    ));
    assert_eq!(magic, "SWAPSPACE2");

    // Content moved, not copied: root's /var and /home are empty.
    for dir in ["/var", "/home"] {
        let ls = sh(&format!(
            "debugfs -R 'ls {dir}' {} 2>/dev/null",
            root.display()
        ));
        let names: Vec<&str> = ls
            .split_whitespace()
            .filter(|w| !w.starts_with('(') && w.parse::<u64>().is_err())
            .collect();
        assert_eq!(names, [".", ".."], "root's {dir}: {ls}");
    }
    let state = sh(&format!(
        "debugfs -R 'cat /lib/fixture/state' {} 2>/dev/null",
        var.display()
    ));
    assert_eq!(state, "state\n");
    let ls = sh(&format!("xfs_db -r -c 'ls /tester' {}", home.display()));
    assert!(ls.contains(".profile"), "{ls}");

    let fstab = sh(&format!(
        "debugfs -R 'cat /etc/fstab' {} 2>/dev/null",
        root.display()
    ));
    for line in [
        format!("UUID={} /home xfs defaults 0 2", uuid(Some("/home"))),
        format!("UUID={} /var ext4 defaults 0 2", uuid(Some("/var"))),
        format!("UUID={} none swap defaults 0 0", uuid(None)),
    ] {
        assert!(fstab.lines().any(|l| l == line), "{line} missing:\n{fstab}");
    }
}

/// The data extents of a sparse file (SEEK_DATA/SEEK_HOLE).
fn extents(f: &std::fs::File, len: u64) -> Vec<(u64, u64)> {
    use std::os::unix::io::AsRawFd;
    let (fd, mut pos, mut out) = (f.as_raw_fd(), 0i64, vec![]);
    while (pos as u64) < len {
        // SAFETY: lseek on a descriptor the caller's File owns.
        let data = unsafe { libc::lseek(fd, pos, libc::SEEK_DATA) };
        if data < 0 {
            break;
        }
        // SAFETY: as above.
        let hole = unsafe { libc::lseek(fd, data, libc::SEEK_HOLE) };
        out.push((data as u64, hole as u64));
        pos = hole;
    }
    out
}

/// `a` and `b` have the same length and bytes. Only where either has
/// data is read: elsewhere both are holes, zeros (a byte-wise `cmp` of two
/// 9 GiB files takes half a minute).
fn assert_same_sparse(a: &Path, b: &Path) {
    use std::io::{Read, Seek, SeekFrom};
    let (mut fa, mut fb) = (
        std::fs::File::open(a).unwrap(),
        std::fs::File::open(b).unwrap(),
    );
    let len = fa.metadata().unwrap().len();
    assert_eq!(len, fb.metadata().unwrap().len(), "sizes differ");
    let mut ranges = extents(&fa, len);
    ranges.extend(extents(&fb, len));
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    for (start, end) in ranges {
        let mut at = start;
        fa.seek(SeekFrom::Start(at)).unwrap();
        fb.seek(SeekFrom::Start(at)).unwrap();
        while at < end {
            let n = ((end - at) as usize).min(ba.len());
            fa.read_exact(&mut ba[..n]).unwrap();
            fb.read_exact(&mut bb[..n]).unwrap();
            assert!(
                ba[..n] == bb[..n],
                "{} and {} differ in [{at}, {})",
                a.display(),
                b.display(),
                at + n as u64
            );
            at += n as u64;
        }
    }
}

/// The partitions of a disk as `sfdisk --json` lists them: (start, size,
/// type, name), in sectors.
fn partitions(raw: &Path) -> (u64, Vec<(u64, u64, String, String)>) {
    let v: serde_json::Value =
        serde_json::from_str(&sh(&format!("sfdisk --json {}", raw.display()))).unwrap();
    let t = &v["partitiontable"];
    assert_eq!(t["label"], "gpt", "{v}");
    let parts = t["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["start"].as_u64().unwrap(),
                p["size"].as_u64().unwrap(),
                p["type"].as_str().unwrap().to_string(),
                p["name"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    (t["lastlba"].as_u64().unwrap(), parts)
}

/// `--type gce`: the raw disk rounded up to whole GiB (8200 MiB asked, 9
/// GiB made: past 8 GiB the tar numbers are base-256), in a gzip'd GNU
/// tar whose only entry is a sparse `disk.raw`. GNU tar lists and
/// extracts it; the extracted disk is byte for byte the raw disk, whose
/// GPT holds the partitions of the same layout as a disk image (root
/// grown by the rounding). Two archives of one disk are the same bytes.
#[test]
fn gce_archive_is_gnu_tar_of_a_whole_gib_disk_raw() {
    let d = tempfile::tempdir().unwrap();
    let gce_plan = planned_as(
        "qcow2.toml",
        true,
        Some("type = \"gce\"\nsize = \"8200 MiB\""),
    );
    let o = &gce_plan.arches[0].outputs[0];
    assert!(o.filename.ends_with(".tar.gz"), "{}", o.filename);
    let gib = 1u64 << 30;
    assert_eq!(o.disk.as_ref().unwrap().size, 9 * gib);
    let gd = d.path().join("gce");
    std::fs::create_dir_all(&gd).unwrap();
    let gt = tree(&gd);
    let (raw, _) = build_plan(&gd, &gt, &gce_plan);
    assert_eq!(std::fs::metadata(&raw).unwrap().len(), 9 * gib);

    // The same layout as a plain disk of the size asked for.
    let rd = d.path().join("raw");
    std::fs::create_dir_all(&rd).unwrap();
    let rt = tree(&rd);
    let raw_plan = planned_as(
        "qcow2.toml",
        true,
        Some("type = \"raw\"\nsize = \"8200 MiB\""),
    );
    let (plain, _) = build_plan(&rd, &rt, &raw_plan);
    let (_, want) = partitions(&plain);
    let (last_lba, got) = partitions(&raw);
    assert_eq!(last_lba, 9 * gib / 512 - 34);
    assert_eq!(got.len(), want.len());
    let n = got.len();
    assert_eq!(got[..n - 1], want[..n - 1], "all but root unchanged");
    let (g, w) = (&got[n - 1], &want[n - 1]);
    assert_eq!(
        (g.0, &g.2, &g.3),
        (w.0, &w.2, &w.3),
        "root starts where it did"
    );
    assert_eq!(
        g.1 - w.1,
        (9 * gib - 8200 * (1 << 20)) / 512,
        "root takes the rounding"
    );

    let out = d.path().join("disk.tar.gz");
    disk::convert(&raw, "gce", &out, 1_700_000_000).unwrap();
    assert!(raw.exists(), "the raw disk stays for --verify");
    assert!(!d.path().join("disk.tar.partial").exists());
    // GNU (oldgnu) header: magic "ustar  \0", type S (sparse), name disk.raw.
    let mut head = [0u8; 512];
    std::io::Read::read_exact(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(&out).unwrap()),
        &mut head,
    )
    .unwrap();
    assert_eq!(&head[257..265], b"ustar  \0");
    assert_eq!(head[156], b'S');
    assert_eq!(&head[..9], b"disk.raw\0");
    // GNU tar: exactly one entry, disk.raw, 9 GiB, root-owned, SOURCE_DATE_EPOCH.
    let list = sh(&format!(
        "tar --numeric-owner --full-time -tvzf {}",
        out.display()
    ));
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 1, "{list}");
    let f: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(f[1], "0/0", "{list}");
    assert_eq!(f[2], (9 * gib).to_string(), "{list}");
    assert_eq!(f[3..5].join(" "), "2023-11-14 22:13:20", "{list}");
    assert_eq!(f[5], "disk.raw", "{list}");
    let x = d.path().join("x");
    std::fs::create_dir_all(&x).unwrap();
    sh(&format!(
        "TZ=UTC tar -xzf {} -C {}",
        out.display(),
        x.display()
    ));
    assert_same_sparse(&raw, &x.join("disk.raw"));
    assert_eq!(partitions(&x.join("disk.raw")).1, got);
    // Stored sparse: far smaller than the disk.
    assert!(std::fs::metadata(&out).unwrap().len() < gib / 4);
    let again = d.path().join("again.tar.gz");
    disk::convert(&raw, "gce", &again, 1_700_000_000).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&again).unwrap());
}
