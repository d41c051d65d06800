//! The bootc layout and lints on a real fixture tree: a systemd tree with
//! the fixture kernel and dracut, built by `image-builder build --type
//! directory`, prepared by `bootc::prepare` (the fixture's dracut runs
//! chrooted to make the initramfs), lints clean through `image-builder
//! lint`; a second kernel or a file in /boot then fails it (exit 1) with
//! the rule's name.

mod common;

use alma_image_builder::bootc::{self, Options, Severity};
use common::cli::{image_builder, text};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

const MANIFEST: &str = r#"name = "bootc-fx"
distro = "fixture"
architecture = "x86_64"
packages = [
  { name = "systemd" }, { name = "kernel-core" }, { name = "busybox" },
  { name = "setup" }, { name = "fixture-release" }, { name = "dracut" },
]

[[output]]
type = "directory"
"#;

const SDE: i64 = 1_700_000_000;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Kernel versions with a vmlinuz under /usr/lib/modules.
fn usr_kernels(root: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root.join("usr/lib/modules"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().join("vmlinuz").is_file())
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn prepared_fixture_tree_lints_clean_and_breakage_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("bootc-fx.toml");
    std::fs::write(&m, MANIFEST).unwrap();
    let out = dir.path().join("out");
    let o = image_builder(dir.path(), &["build", "-o", s(&out), s(&m)]);
    assert!(o.status.success(), "{}", text(&o));
    let tree = out.join("bootc-fx-x86_64");

    // As installed, the tree is no bootc image: the kernel is in /boot
    // and /lib/modules, and the lint says so.
    let before = bootc::lint(&tree).unwrap();
    let rules: Vec<&str> = before
        .iter()
        .filter(|f| f.severity == Severity::Fatal)
        .map(|f| f.rule)
        .collect();
    assert!(
        rules.contains(&"kernel") && rules.contains(&"nonempty-boot"),
        "{before:?}"
    );

    let kargs = vec!["console=ttyS0".to_string(), "fixture=\"a b\"".to_string()];
    let prepared = bootc::prepare(
        &tree,
        &Options {
            kargs: &kargs,
            arch: alma_image_builder::distro::arch::lookup("x86_64").unwrap(),
            distro: alma_image_builder::distro::lookup("fixture")
                .unwrap()
                .unwrap(),
            source_date_epoch: SDE,
        },
    )
    .unwrap();

    // Exactly one kernel, under /usr, with the initramfs dracut made
    // (the fixture's dracut writes a gzip-compressed cpio).
    let kver = prepared.kernel.clone();
    assert_eq!(usr_kernels(&tree), std::slice::from_ref(&kver));
    let moddir = tree.join("usr/lib/modules").join(&kver);
    let initrd = std::fs::read(moddir.join("initramfs.img")).unwrap();
    assert_eq!(&initrd[..2], &[0x1f, 0x8b], "initramfs.img is not gzip");
    assert!(
        initrd.len() > 100_000,
        "initramfs.img is {} bytes",
        initrd.len()
    );
    // What prepare made carries SOURCE_DATE_EPOCH.
    for made in [
        "usr/lib/ostree/prepare-root.conf",
        "sysroot",
        "ostree",
        "boot",
        ".",
    ] {
        let m = std::fs::symlink_metadata(tree.join(made)).unwrap();
        assert_eq!(m.mtime(), SDE, "{made}");
    }
    assert_eq!(
        std::fs::metadata(moddir.join("initramfs.img"))
            .unwrap()
            .mtime(),
        SDE
    );
    // The boot, ostree and composefs layout.
    assert!(tree.join("boot").is_dir());
    assert_eq!(std::fs::read_dir(tree.join("boot")).unwrap().count(), 0);
    assert!(tree.join("sysroot").is_dir());
    assert_eq!(
        std::fs::read_link(tree.join("ostree")).unwrap(),
        Path::new("sysroot/ostree")
    );
    assert_eq!(
        std::fs::read_link(tree.join("var/run")).unwrap(),
        Path::new("../run")
    );
    let conf = std::fs::read_to_string(tree.join("usr/lib/ostree/prepare-root.conf")).unwrap();
    // The fixture's libostree (Debian's 2022.7) has no composefs.
    assert!(conf.contains("[composefs]\nenabled = false\n"), "{conf}");
    let k: toml::Table = toml::from_str(
        &std::fs::read_to_string(tree.join("usr/lib/bootc/kargs.d/10-image-builder.toml")).unwrap(),
    )
    .unwrap();
    let back: Vec<&str> = k["kargs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(back, kargs);
    assert_eq!(k.len(), 1, "{k:?}");

    // Clean through the CLI: exit 0, no fatal line, JSON agrees.
    let o = image_builder(dir.path(), &["lint", s(&tree)]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains("fatal"),
        "{}",
        text(&o)
    );
    let o = image_builder(dir.path(), &["--json", "lint", s(&tree)]);
    assert!(o.status.success(), "{}", text(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["fatal"], 0, "{j}");
    assert!(bootc::check(&tree).is_ok());

    // A second kernel: exit 1, `kernel` named with both paths.
    let second = tree.join("usr/lib/modules/6.99.0-second");
    std::fs::create_dir(&second).unwrap();
    std::fs::copy(moddir.join("vmlinuz"), second.join("vmlinuz")).unwrap();
    let o = image_builder(dir.path(), &["lint", s(&tree)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("fatal kernel: "))
        .unwrap_or_else(|| panic!("no kernel finding: {}", text(&o)));
    assert!(
        line.contains("/usr/lib/modules/6.99.0-second/vmlinuz"),
        "{line}"
    );
    assert!(
        line.contains(&format!("/usr/lib/modules/{kver}/vmlinuz")),
        "{line}"
    );
    let o = image_builder(dir.path(), &["--json", "lint", s(&tree)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["fatal"], 1, "{j}");
    assert_eq!(j["findings"][0]["rule"], "kernel", "{j}");
    let e = bootc::check(&tree).unwrap_err().to_string();
    assert!(e.contains("kernel: 2 kernels"), "{e}");
    std::fs::remove_dir_all(&second).unwrap();

    // A file in /boot: exit 1, `nonempty-boot` named with the file.
    std::fs::write(tree.join("boot/vmlinuz-stray"), "x").unwrap();
    let o = image_builder(dir.path(), &["lint", s(&tree)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("fatal nonempty-boot: ") && l.contains("/boot/vmlinuz-stray")),
        "{}",
        text(&o)
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("1 fatal bootc lint finding"),
        "{}",
        text(&o)
    );
}

#[test]
fn lint_refuses_broken_oci_images_and_missing_paths() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("img.oci.tar");
    std::fs::write(&archive, "").unwrap();
    let o = image_builder(dir.path(), &["lint", s(&archive)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("img.oci.tar"), "{}", text(&o));
    let layout = dir.path().join("layout");
    std::fs::create_dir(&layout).unwrap();
    std::fs::write(layout.join("oci-layout"), "{}").unwrap();
    let o = image_builder(dir.path(), &["lint", s(&layout)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = image_builder(dir.path(), &["lint", s(&dir.path().join("absent"))]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("absent"), "{}", text(&o));
}
