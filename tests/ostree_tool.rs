//! Which `ostree` writes a deployed sysroot (`artifact::ostree::sysroot`):
//! an image that carries `/usr/bin/ostree` gets its own, chrooted in a
//! private mount namespace; an image without one gets the host's. The
//! fixture bootc image carries no `ostree` CLI (its closure is not
//! converted into the fixture repos), so the image here is a small
//! usr-merged root holding the host's `ostree` and the libraries `ldd`
//! names, a kernel and an initramfs: real binaries, a real deployment.
//! Both paths also write bootc's image ref with the manifest, config and
//! digest metadata, checked with `ostree refs` and `ostree show`.
//! Needs root (mount namespaces); skipped otherwise.

mod common;

use alma_image_builder::artifact::ostree::sysroot;
use std::path::{Path, PathBuf};

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn run(program: &str, args: &[&str]) -> String {
    let o = alma_image_builder::tools::run(program, args).unwrap_or_else(|e| panic!("{e:#}"));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Copies host file `src` to `root` + the usr-merged form of its path.
fn copy_in(root: &Path, src: &Path) {
    let s = src.to_str().unwrap();
    let rel = ["/usr/", "/lib64/", "/lib/", "/bin/"]
        .iter()
        .find_map(|p| s.strip_prefix(p).map(|r| (p, r)))
        .map(|(p, r)| match *p {
            "/usr/" => format!("usr/{r}"),
            "/lib64/" => format!("usr/lib64/{r}"),
            "/lib/" => format!("usr/lib/{r}"),
            _ => format!("usr/bin/{r}"),
        })
        .unwrap_or_else(|| panic!("unexpected library path {s}"));
    let dst = root.join(rel);
    std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
    // The file itself, not a link to it.
    std::fs::copy(std::fs::canonicalize(src).unwrap(), &dst).unwrap();
}

/// A usr-merged image root: a kernel and initramfs, and with `ostree`
/// the host's binary and its library closure.
fn image(dir: &Path, ostree: bool) -> PathBuf {
    let root = dir.join("image");
    let k = root.join("usr/lib/modules/6.1.0-test");
    std::fs::create_dir_all(&k).unwrap();
    std::fs::write(k.join("vmlinuz"), b"kernel").unwrap();
    std::fs::write(k.join("initramfs.img"), b"initramfs").unwrap();
    for d in [
        "usr/bin",
        "usr/lib",
        "usr/lib64",
        "etc",
        "var/lib",
        "boot",
        "sysroot",
    ] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(root.join("etc/os-release"), "ID=test\n").unwrap();
    for (l, t) in [
        ("bin", "usr/bin"),
        ("lib", "usr/lib"),
        ("lib64", "usr/lib64"),
    ] {
        std::os::unix::fs::symlink(t, root.join(l)).unwrap();
    }
    std::os::unix::fs::symlink("sysroot/ostree", root.join("ostree")).unwrap();
    if ostree {
        copy_in(&root, Path::new("/usr/bin/ostree"));
        for l in run("ldd", &["/usr/bin/ostree"]).lines() {
            // "libx.so => /lib/x86_64-linux-gnu/libx.so (0x…)" or
            // "/lib64/ld-linux-x86-64.so.2 (0x…)".
            let path = l
                .split("=>")
                .last()
                .and_then(|r| r.split_whitespace().next())
                .filter(|p| p.starts_with('/'));
            if let Some(p) = path {
                copy_in(&root, Path::new(p));
            }
        }
    }
    root
}

struct Built {
    deployed: sysroot::Deployed,
    sysroot: PathBuf,
    _dir: tempfile::TempDir,
}

fn deploy(ostree: bool) -> Built {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let root = image(dir.path(), ostree);
    let sysroot = dir.path().join("disk/sysroot");
    let work = dir.path().join("disk");
    std::fs::create_dir_all(&work).unwrap();
    let manifest = r#"{"schemaVersion":2,"config":{"digest":"sha256:c"},"layers":[]}"#;
    let config = r#"{"architecture":"amd64","os":"linux","config":{"Labels":{"version":"1"}}}"#;
    let kargs = ["rw".to_string()];
    let deployed = sysroot::deploy(&sysroot::Request {
        sysroot: &sysroot,
        image_root: &root,
        stateroot: "default",
        origin: "ostree-unverified-registry:127.0.0.1:5000/t/img:latest",
        digest: "sha256:0123",
        kargs: &kargs,
        source_date_epoch: 1_700_000_000,
        work: &work,
        manifest_json: manifest,
        config_json: config,
    })
    .unwrap_or_else(|e| panic!("{e:#}"));
    Built {
        deployed,
        sysroot,
        _dir: dir,
    }
}

fn check_repo(b: &Built) {
    let repo = format!("--repo={}", b.sysroot.join("ostree/repo").display());
    let image_ref = "ostree/container/image/registry_3A_127_2E_0_2E_0_2E_1_3A_5000/t/img_3A_latest";
    assert_eq!(b.deployed.image_ref, image_ref);
    let refs = run("ostree", &["refs", &repo]);
    // The image ref, and the deployment's own ref that ostree keeps.
    assert!(refs.lines().any(|l| l == image_ref), "{refs}");
    assert_eq!(
        run("ostree", &["rev-parse", &repo, image_ref]).trim(),
        b.deployed.commit
    );
    let show = |key: &str| {
        run(
            "ostree",
            &["show", &repo, "--print-metadata-key", key, image_ref],
        )
    };
    assert_eq!(show("ostree.manifest-digest").trim(), "'sha256:0123'");
    assert!(show("ostree.manifest").contains("schemaVersion"));
    assert!(show("ostree.container.image-config").contains("amd64"));
    let origin = std::fs::read_to_string(format!("{}.origin", b.deployed.dir.display())).unwrap();
    assert!(origin.contains("container-image-reference=ostree-unverified-registry:"));
}

#[test]
fn the_images_own_ostree_writes_the_sysroot() {
    if !is_root() {
        common::skip::skip("ostree_tool: the image's ostree needs root for mount namespaces");
        return;
    }
    let b = deploy(true);
    assert!(
        b.deployed.tool.starts_with("the image's ostree 20")
            && b.deployed.tool.ends_with("(chrooted)"),
        "{}",
        b.deployed.tool
    );
    check_repo(&b);
    assert!(b.deployed.dir.join("usr/bin/ostree").is_file());
    // Nothing stays mounted on the host.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(b.sysroot.parent().unwrap().to_str().unwrap()),
        "{mounts}"
    );
    let entries = b.sysroot.join("boot/loader/entries");
    assert_eq!(std::fs::read_dir(entries).unwrap().count(), 1);
}

#[test]
fn an_image_without_ostree_gets_the_hosts() {
    if !is_root() {
        common::skip::skip("ostree_tool: deployments need root");
        return;
    }
    let b = deploy(false);
    assert!(
        b.deployed.tool.starts_with("the host's ostree 20"),
        "{}",
        b.deployed.tool
    );
    check_repo(&b);
}
