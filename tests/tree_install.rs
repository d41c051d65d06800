//! The install stage against hand-made hostile packages: a `..` path, a
//! relative path, a device node, a symlink that climbs out of the tree
//! (all refused before anything is written), and the cases only rpm's
//! chroot can catch (a payload name that disagrees with its header, an
//! absolute symlink another package writes through). Nothing may ever
//! appear outside the tree. The packages are built here with rpmbuild
//! (uncompressed payloads, so the test can patch bytes) and installed
//! through the library, as the build does after fetch verified them.

use alma_image_builder::tree::install::{self, Options};
use std::path::{Path, PathBuf};
use std::process::Command;

const SPEC: &str = r#"
Name: hostile
Version: 1
Release: 1
Summary: hostile test packages
License: MIT
BuildArch: noarch
%description
x
%package devnode
Summary: ships a device node
%description devnode
x
%package escape
Summary: symlink climbing out of the tree
%description escape
x
%package abslink
Summary: absolute symlink to a host directory
%description abslink
x
%package through
Summary: a file under abslink's symlink
Requires: hostile-abslink
%description through
x
%install
mkdir -p %{buildroot}/opt/AAAAAAAAAA %{buildroot}/etc %{buildroot}/opt/through
echo evil > %{buildroot}/opt/AAAAAAAAAA/evil
ln -s ../../../../../../../../../tmp/hostile-escape %{buildroot}/etc/escape
ln -s /tmp/@SCRATCH@ %{buildroot}/opt/linkxxx
echo through > %{buildroot}/opt/through/marker
%files
/opt/AAAAAAAAAA/evil
%files devnode
%dev(c, 1, 3) /opt/devnull
%files escape
/etc/escape
%files abslink
/opt/linkxxx
%files through
/opt/through/marker
"#;

struct Pkgs {
    dir: tempfile::TempDir,
    scratch: String,
}

impl Pkgs {
    fn build() -> Pkgs {
        let dir = tempfile::tempdir().unwrap();
        let scratch = format!(
            "hostile-{}",
            dir.path().file_name().unwrap().to_string_lossy()
        );
        let spec = dir.path().join("h.spec");
        std::fs::write(&spec, SPEC.replace("@SCRATCH@", &scratch)).unwrap();
        let o = Command::new("rpmbuild")
            .arg("--define")
            .arg(format!("_topdir {}", dir.path().join("top").display()))
            .args(["--define", "_binary_payload w0.ufdio"])
            .args(["--define", "_build_id_links none"])
            .arg("-bb")
            .arg(&spec)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        Pkgs { dir, scratch }
    }

    fn rpm(&self, name: &str) -> PathBuf {
        self.dir
            .path()
            .join(format!("top/RPMS/noarch/{name}-1-1.noarch.rpm"))
    }

    /// A copy of `name` with, in turn, the `nth` occurrence of each `from`
    /// replaced by its `to` (same length).
    fn patched(&self, name: &str, edits: &[(&str, &str, usize)]) -> PathBuf {
        let mut b = std::fs::read(self.rpm(name)).unwrap();
        for (from, to, nth) in edits {
            assert_eq!(from.len(), to.len());
            let at = b
                .windows(from.len())
                .enumerate()
                .filter(|(_, w)| *w == from.as_bytes())
                .map(|(i, _)| i)
                .nth(*nth)
                .unwrap_or_else(|| panic!("{from:?} #{nth} not in {name}"));
            b[at..at + to.len()].copy_from_slice(to.as_bytes());
        }
        let out = self.dir.path().join(format!(
            "{name}-{}.rpm",
            edits.len() + edits[0].2 * 10 + to_tag(edits)
        ));
        std::fs::write(&out, b).unwrap();
        out
    }
}

fn to_tag(edits: &[(&str, &str, usize)]) -> usize {
    edits
        .iter()
        .map(|e| e.1.len() * 31 + e.1.bytes().map(|b| b as usize).sum::<usize>())
        .sum()
}

fn opts() -> Options {
    Options {
        dbpath: "/var/lib/rpm".into(),
        backend: "sqlite".into(),
        source_date_epoch: 1_700_000_000,
        onto_existing: false,
    }
}

fn refused(rpm: &Path, want: &str) {
    let e = install::preflight(&[rpm.to_path_buf()]).unwrap_err();
    let msg = format!("{e:#}");
    assert!(msg.contains(want), "{msg}");
    assert!(msg.contains("hostile"), "names the package: {msg}");
    assert!(
        e.downcast_ref::<alma_image_builder::error::InputError>()
            .is_some(),
        "bad input (exit 2): {msg}"
    );
}

#[test]
fn hostile_headers_are_refused_before_anything_is_written() {
    let p = Pkgs::build();
    // `..` in the header's directory list.
    let dotdot = p.patched("hostile", &[("/opt/AAAAAAAAAA/", "/opt/../../../x/", 0)]);
    refused(&dotdot, "`..` component would leave the tree");
    // A relative directory.
    let relative = p.patched("hostile", &[("/opt/AAAAAAAAAA/", "opt/AAAAAAAAAAA/", 0)]);
    refused(&relative, "not an absolute path");
    refused(&p.rpm("hostile-devnode"), "a device node");
    refused(&p.rpm("hostile-escape"), "points outside the tree");

    // install() never runs for them; the tree stays untouched.
    let tree = tempfile::tempdir().unwrap();
    assert_eq!(std::fs::read_dir(tree.path()).unwrap().count(), 0);
    assert!(!Path::new("/tmp/hostile-escape").exists());
}

#[test]
fn payload_name_disagreeing_with_header_never_writes_outside() {
    let p = Pkgs::build();
    // The header is clean, the (uncompressed) cpio payload names an
    // absolute path in the host's /tmp instead.
    let from = "./opt/AAAAAAAAAA/evil";
    let host_target = format!("/tmp/{}", "h".repeat(from.len() - 5));
    assert!(!Path::new(&host_target).exists());
    let abs = p.patched("hostile", &[(from, &host_target, 0)]);
    let pkgs = install::preflight(&[abs]).expect("the header alone looks clean");
    let tree = tempfile::tempdir().unwrap();
    let root = tree.path().join("root");
    let r = install::install(&root, &pkgs, &opts());
    assert!(!Path::new(&host_target).exists(), "wrote outside the tree");
    // rpm refuses the mismatch; whatever it did, it did inside the root.
    let e = r.expect_err("rpm must refuse a payload that disagrees with its header");
    assert!(format!("{e:#}").contains("rpm"), "{e:#}");
}

#[test]
fn writes_through_an_absolute_symlink_stay_in_the_tree() {
    let p = Pkgs::build();
    let host = PathBuf::from("/tmp").join(&p.scratch);
    assert!(!host.exists());
    // /opt/linkxxx -> /tmp/<scratch> is legitimate (absolute links resolve
    // inside the tree); /opt/through/marker is an ordinary file. Swap the
    // second package's directory for the link so rpm writes through it.
    let through = p.patched(
        "hostile-through",
        &[
            ("/opt/through/", "/opt/linkxxx/", 0),
            ("./opt/through/marker", "./opt/linkxxx/marker", 0),
        ],
    );
    let pkgs = install::preflight(&[p.rpm("hostile-abslink"), through]).unwrap();
    let tree = tempfile::tempdir().unwrap();
    let root = tree.path().join("root");
    let r = install::install(&root, &pkgs, &opts());
    assert!(!host.exists(), "{} was created on the host", host.display());
    // rpm 4.18 refuses to create files through a symlink it cannot
    // trust ("failed to open dir"); had it followed it, the chroot would
    // have kept the file inside the tree.
    match r {
        Err(e) => assert!(format!("{e:#}").contains("linkxxx"), "{e:#}"),
        Ok(()) => assert!(root.join("tmp").join(&p.scratch).join("marker").is_file()),
    }
}

#[test]
fn scriptlets_caps_and_rpmdb() {
    let root_dir = std::env::var("IMAGE_BUILDER_FIXTURE_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/build"));
    let st = Command::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/build-fixtures.sh"
    ))
    .status()
    .unwrap();
    assert!(st.success());
    let repo = root_dir.join("repos/main/x86_64");
    let pick = |prefix: &str| -> PathBuf {
        std::fs::read_dir(&repo)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                let n = p.file_name().unwrap().to_string_lossy().into_owned();
                n.starts_with(prefix) && n[prefix.len()..].starts_with(|c: char| c.is_ascii_digit())
            })
            .unwrap_or_else(|| panic!("{prefix} in {}", repo.display()))
    };
    let rpms: Vec<PathBuf> = [
        "busybox-",
        "fixture-markers-dir-",
        "fixture-scriptlets-",
        "fixture-caps-",
        "fixture-release-",
    ]
    .iter()
    .map(|p| pick(p))
    .collect();
    let pkgs = install::preflight(&rpms).unwrap();
    let tree = tempfile::tempdir().unwrap();
    let root = tree.path().join("root");
    install::install(&root, &pkgs, &opts()).unwrap();
    for m in ["pre", "post", "posttrans"] {
        let f = root.join("var/lib/fixture-markers").join(m);
        assert_eq!(std::fs::read_to_string(&f).unwrap().trim(), m);
    }
    let cap = Command::new("getcap")
        .arg(root.join("usr/bin/fixture-ping"))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&cap.stdout).contains("cap_net_raw=ep"),
        "{cap:?}"
    );
    // Scratch device nodes are gone again; the rpmdb has no lock/shm files.
    assert_eq!(std::fs::read_dir(root.join("dev")).unwrap().count(), 0);
    let db: Vec<String> = std::fs::read_dir(root.join("var/lib/rpm"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(db, vec!["rpmdb.sqlite"]);
    let q = Command::new("rpm")
        .args(["--root"])
        .arg(&root)
        .args([
            "--dbpath",
            "/var/lib/rpm",
            "-qa",
            "--qf",
            "%{NAME} %{INSTALLTIME}\\n",
        ])
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&q.stdout);
    assert_eq!(list.lines().count(), 5, "{list}");
    // rpm stamps install times from SOURCE_DATE_EPOCH, one second apart.
    assert!(list.lines().all(|l| l.contains(" 17000000")), "{list}");
    // Nothing differs from what the packages say.
    let v = Command::new("rpm")
        .args(["--root"])
        .arg(&root)
        .args(["--dbpath", "/var/lib/rpm", "-Va"])
        .output()
        .unwrap();
    assert!(v.status.success() && v.stdout.is_empty(), "{v:?}");
}
