//! The real AlmaLinux path: every example manifest of almalinux-10 (and
//! four real user requests) locked through the real distro definition,
//! with its embedded keys, against real AlmaLinux 10.0 metadata served as
//! an AlmaLinux mirror on 127.0.0.1 and reached with `--mirror`.
//!
//! The mirror tree (`tests/data/almalinux-10-metadata/`, x86_64_v2 +
//! noarch, see its README) is laid out as AlmaLinux publishes it:
//! `almalinux/10/{BaseOS,AppStream,CRB,extras}/x86_64_v2/os/`, the merged
//! metadata split back into repos by each package's recorded origin. The
//! `devel` packages are dropped (devel is not a distro repo); `extras` is
//! an empty, valid repo (this data has none of its packages); CRB is laid
//! out although the distro leaves it disabled. The data has no comps, so
//! BaseOS gets a `core` group written here (`CORE`).
//!
//! Locking needs no rpm files: repomd.xml is regenerated (the data's
//! per-package checksums are placeholders, which lock records but never
//! checks), gpgcheck stays on with the distro's embedded key (lock only
//! fingerprints it), and repo_gpgcheck is off in the definition.
//!
//! A lock saying "ok" is not the proof: every locked set is checked to be
//! closed against the metadata itself (`closure.rs`).

mod common;

#[path = "almalinux_metadata/closure.rs"]
mod closure;

use alma_image_builder::resolve::lockfile::Lockfile;
use common::httpd::Server;
use sha2::Digest;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// AlmaLinux 10's comps `core` group, as `dnf group info core` lists it
/// (RHEL 10's comps; names this data lacks are dropped when the group is
/// written). It is what `@core` in the distro's common package set means,
/// so every image type's lock goes through it. Mandatory members must be
/// installed; default ones are installed unless excluded or missing, as
/// dnf does.
const CORE_MANDATORY: &[&str] = &[
    "audit",
    "basesystem",
    "bash",
    "coreutils",
    "cronie",
    "crypto-policies",
    "crypto-policies-scripts",
    "curl",
    "dnf",
    "e2fsprogs",
    "filesystem",
    "firewalld",
    "glibc",
    "grubby",
    "hostname",
    "iproute",
    "iproute-tc",
    "iputils",
    "irqbalance",
    "kbd",
    "kexec-tools",
    "less",
    "logrotate",
    "man-db",
    "ncurses",
    "openssh-clients",
    "openssh-server",
    "p11-kit",
    "parted",
    "passwd",
    "policycoreutils",
    "procps-ng",
    "rootfiles",
    "rpm",
    "rpm-plugin-audit",
    "selinux-policy-targeted",
    "setup",
    "shadow-utils",
    "sssd-common",
    "sssd-kcm",
    "sudo",
    "systemd",
    "util-linux",
    "vim-minimal",
    "xfsprogs",
];
const CORE_DEFAULT: &[&str] = &[
    "NetworkManager",
    "dnf-plugins-core",
    "dracut-config-rescue",
    "kernel-tools",
    "linux-firmware",
    "lshw",
    "lsscsi",
    "microcode_ctl",
    "prefixdevname",
    "sg3_utils",
    "sg3_utils-libs",
];

/// Repos of the mirror tree: directory name, the origins (in the data)
/// of its packages. AppStream also serves the CRB and devel packages: for
/// the 1,202 packages of Epoch-carrying sources the data records as
/// Requires the *names libdnf chose* with all four repos enabled, so an
/// `(a or b)` became e.g. container-selinux → selinux-policy-minimum
/// (devel) and maven → maven-unbound (CRB). Without them those packages
/// would be uninstallable here, which they are not on a real mirror.
const REPOS: &[(&str, &[&str])] = &[
    ("BaseOS", &["BaseOS"]),
    ("AppStream", &["AppStream", "CRB", "devel"]),
    ("CRB", &["CRB"]),
    ("extras", &[]),
];

fn data_dir() -> PathBuf {
    Path::new(ROOT).join("tests/data/almalinux-10-metadata/x86_64_v2/repodata")
}

fn gunzip(p: &Path) -> String {
    let mut s = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(p).unwrap())
        .read_to_string(&mut s)
        .unwrap();
    s
}

fn gzip(text: &str) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(vec![], flate2::Compression::fast());
    e.write_all(text.as_bytes()).unwrap();
    e.finish().unwrap()
}

/// `(text before the first block, blocks)`: each block runs from `start`
/// to the end of the next `</package>`.
fn blocks<'a>(text: &'a str, start: &str) -> Vec<&'a str> {
    let mut out = vec![];
    let mut rest = text;
    while let Some(i) = rest.find(start) {
        let tail = &rest[i..];
        let end = tail.find("</package>").expect("package block ends") + "</package>".len();
        out.push(&tail[..end]);
        rest = &tail[end..];
    }
    out
}

fn between<'a>(s: &'a str, a: &str, b: &str) -> Option<&'a str> {
    let i = s.find(a)? + a.len();
    let j = s[i..].find(b)? + i;
    Some(&s[i..j])
}

fn comps(names: &BTreeSet<&str>) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<comps>\n  <group>\n    <id>core</id>\n    <name>Core</name>\n    <default>true</default>\n    <uservisible>false</uservisible>\n    <packagelist>\n",
    );
    for (kind, list) in [("mandatory", CORE_MANDATORY), ("default", CORE_DEFAULT)] {
        for p in list.iter().filter(|p| names.contains(*p)) {
            s.push_str(&format!(
                "      <packagereq type=\"{kind}\">{p}</packagereq>\n"
            ));
        }
    }
    s.push_str("    </packagelist>\n  </group>\n</comps>\n");
    s
}

/// Writes one repo: primary, filelists, optional comps, and a repomd.xml
/// listing them with their real checksums.
fn write_repo(dir: &Path, primary: &[&str], filelists: &[&str], comps: Option<&str>) {
    let rd = dir.join("repodata");
    std::fs::create_dir_all(&rd).unwrap();
    let mut files: Vec<(&str, String, Vec<u8>)> = vec![
        (
            "primary",
            "primary.xml.gz".into(),
            gzip(&format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata xmlns=\"http://linux.duke.edu/metadata/common\" xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\" packages=\"{}\">\n{}\n</metadata>\n",
                primary.len(),
                primary.join("\n")
            )),
        ),
        (
            "filelists",
            "filelists.xml.gz".into(),
            gzip(&format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<filelists xmlns=\"http://linux.duke.edu/metadata/filelists\" packages=\"{}\">\n{}\n</filelists>\n",
                filelists.len(),
                filelists.join("\n")
            )),
        ),
    ];
    if let Some(c) = comps {
        files.push(("group", "comps.xml".into(), c.as_bytes().to_vec()));
    }
    let mut md = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<repomd xmlns=\"http://linux.duke.edu/metadata/repo\" xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\">\n  <revision>1795338125</revision>\n",
    );
    for (kind, name, bytes) in &files {
        std::fs::write(rd.join(name), bytes).unwrap();
        md.push_str(&format!(
            "  <data type=\"{kind}\">\n    <checksum type=\"sha256\">{}</checksum>\n    <location href=\"repodata/{name}\"/>\n    <size>{}</size>\n  </data>\n",
            hex::encode(sha2::Sha256::digest(bytes)),
            bytes.len()
        ));
    }
    md.push_str("</repomd>\n");
    std::fs::write(rd.join("repomd.xml"), md).unwrap();
}

/// The blocks of `origins`, in that order.
fn pick<'a>(m: &BTreeMap<&str, Vec<&'a str>>, origins: &[&str]) -> Vec<&'a str> {
    origins
        .iter()
        .flat_map(|o| m.get(o).cloned().unwrap_or_default())
        .collect()
}

struct Mirror {
    /// `--mirror` value: the directory holding `10/`.
    url: String,
    _server: Server,
    _dir: tempfile::TempDir,
    /// Every package of the data, for the closure check.
    index: HashMap<String, closure::Pkg>,
}

fn mirror() -> &'static Mirror {
    static M: OnceLock<Mirror> = OnceLock::new();
    M.get_or_init(|| {
        let primary = gunzip(&data_dir().join("primary.xml.gz"));
        let filelists = gunzip(&data_dir().join("filelists.xml.gz"));
        let mut by_origin: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        let mut origin_of: HashMap<&str, &str> = HashMap::new();
        let mut names: BTreeSet<&str> = BTreeSet::new();
        for b in blocks(&primary, "<package type=\"rpm\">") {
            let origin = between(b, "<description>AlmaLinux 10.0 ", ";").expect("origin");
            let pkgid = between(b, "pkgid=\"YES\">", "</checksum>").expect("pkgid");
            if matches!(origin, "BaseOS" | "AppStream") {
                names.insert(between(b, "<name>", "</name>").unwrap());
            }
            by_origin.entry(origin).or_default().push(b);
            origin_of.insert(pkgid, origin);
        }
        let mut files_by_origin: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for b in blocks(&filelists, "<package pkgid=") {
            let id = between(b, "pkgid=\"", "\"").unwrap();
            files_by_origin.entry(origin_of[id]).or_default().push(b);
        }
        let dir = tempfile::tempdir().unwrap();
        let core = comps(&names);
        for (repo, origins) in REPOS {
            let at = dir.path().join(format!("almalinux/10/{repo}/x86_64_v2/os"));
            write_repo(
                &at,
                &pick(&by_origin, origins),
                &pick(&files_by_origin, origins),
                (*repo == "BaseOS").then_some(core.as_str()),
            );
        }
        let server = Server::start(dir.path().to_path_buf());
        Mirror {
            url: format!("{}almalinux", server.base),
            _server: server,
            _dir: dir,
            index: closure::index(&primary, &filelists),
        }
    })
}

/// A copy of `manifest` in `dir` that builds for x86_64_v2 only (the
/// data's arch; the examples name x86_64 and others).
fn v2_copy(manifest: &Path, dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(manifest).unwrap();
    let mut t: toml::Table = toml::from_str(&text).unwrap();
    t.remove("architecture");
    t.insert(
        "architectures".into(),
        toml::Value::Array(vec!["x86_64_v2".into()]),
    );
    let p = dir.join(manifest.file_name().unwrap());
    std::fs::write(&p, toml::to_string(&t).unwrap()).unwrap();
    p
}

/// Locks `manifest` (only `only`, if given) against the mirror, checks the
/// lock names the mirror and the embedded key, and that every locked set
/// is closed. Returns the lock.
fn lock_and_check(manifest: &Path, only: Option<&str>) -> Lockfile {
    let m = mirror();
    let dir = tempfile::tempdir().unwrap();
    let copy = v2_copy(manifest, dir.path());
    let mut args = vec![
        "lock".to_string(),
        copy.display().to_string(),
        "--arch".into(),
        "x86_64_v2".into(),
        "--mirror".into(),
        m.url.clone(),
    ];
    if let Some(o) = only {
        args.extend(["--only".to_string(), o.to_string()]);
    }
    let o = Command::new(env!("CARGO_BIN_EXE_image-builder"))
        .env("IMAGE_BUILDER_CACHE_DIR", dir.path().join("cache"))
        .env("NO_COLOR", "1")
        .args(&args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "lock {} {only:?} failed:\n{}",
        manifest.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    let lock = Lockfile::load(&copy.with_extension("lock")).unwrap();
    assert!(!lock.targets.is_empty(), "{}", manifest.display());
    for t in &lock.targets {
        let what = format!("{} {}/{}", manifest.display(), t.arch, t.output);
        for r in &t.repos {
            assert!(
                r.baseurls.iter().all(|u| u.starts_with(&m.url)),
                "{what}: repo {} not on the mirror: {:?}",
                r.id,
                r.baseurls
            );
            assert_eq!(
                r.keys,
                ["EE6DB7B98F5BF5EDD9DA0DE5DEE5C11CC2A1E572"],
                "{what}: repo {} keys",
                r.id
            );
        }
        let set: Vec<&closure::Pkg> = t
            .packages
            .iter()
            .map(|p| {
                let k = format!(
                    "{}-{}:{}-{}.{}",
                    p.name, p.epoch, p.version, p.release, p.arch
                );
                m.index
                    .get(&k)
                    .unwrap_or_else(|| panic!("{what}: {k} is not in the metadata"))
            })
            .collect();
        assert!(set.len() > 50, "{what}: only {} packages", set.len());
        let missing = closure::unsatisfied(&set);
        assert!(
            missing.is_empty(),
            "{what}: the locked set is not closed ({} of {} packages locked):\n  {}",
            missing.len(),
            set.len(),
            missing.join("\n  ")
        );
    }
    lock
}

fn example(name: &str) -> PathBuf {
    Path::new(ROOT).join("manifests/almalinux-10").join(name)
}

fn request(name: &str) -> PathBuf {
    Path::new(ROOT).join("tests/requests").join(name)
}

/// Every example but `bootc-derived.toml` and `bootc-qcow2.toml` (they
/// derive from or deploy a published base image, which this data cannot
/// stand in for; `tests/bootc_disk_plan.rs` plans the latter offline) has
/// a test below.
#[test]
fn every_example_is_covered() {
    let mut seen: Vec<String> = std::fs::read_dir(Path::new(ROOT).join("manifests/almalinux-10"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml") && n != "bootc-derived.toml" && n != "bootc-qcow2.toml")
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            "bootc.toml",
            "cloud.toml",
            "installer.toml",
            "live.toml",
            "ostree.toml",
            "tar.toml",
            "x86_64_v2.toml"
        ]
    );
}

macro_rules! examples {
    ($($test:ident => $file:literal),* $(,)?) => {$(
        #[test]
        fn $test() {
            lock_and_check(&example($file), None);
        }
    )*};
}

examples! {
    example_bootc => "bootc.toml",
    example_cloud => "cloud.toml",
    example_installer => "installer.toml",
    example_live => "live.toml",
    example_ostree => "ostree.toml",
    example_tar => "tar.toml",
    example_x86_64_v2 => "x86_64_v2.toml",
}

macro_rules! requests {
    ($($(#[$attr:meta])* $test:ident => ($file:literal, $only:literal)),* $(,)?) => {$(
        $(#[$attr])*
        #[test]
        fn $test() {
            lock_and_check(&request($file), Some($only));
        }
    )*};
}

// The qcow2 cases prove the package-set chain: qcow2's base-set excludes
// (alsa-lib, udisks2) apply to the base transaction only, so the user's
// own packages may pull them in: GNOME (gdm, firefox,
// gnome-control-center → alsa-lib; gnome-disk-utility → udisks2), the
// JDK (java-21-openjdk-headless → alsa-lib) and KVM (qemu-kvm,
// libvirt-daemon-kvm → alsa-lib). One merged transaction cannot lock them.
requests! {
    lamp_qcow2 => ("lamp.toml", "qcow2"),
    lamp_bootc => ("lamp.toml", "bootc"),
    gnome_desktop_qcow2 => ("gnome-desktop.toml", "qcow2"),
    gnome_desktop_bootc => ("gnome-desktop.toml", "bootc"),
    virt_host_qcow2 => ("virt-host.toml", "qcow2"),
    virt_host_bootc => ("virt-host.toml", "bootc"),
    java_dev_qcow2 => ("java-dev.toml", "qcow2"),
    java_dev_bootc => ("java-dev.toml", "bootc"),
}
