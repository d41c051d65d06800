//! The blueprint corpus (`tests/blueprints/*.toml`, osbuild blueprints as
//! osbuild's parser accepts them) through our blueprint types directly:
//! every file parses, round-trips, and yields the values osbuild would read.

use alma_image_builder::manifest::blueprint::{
    Container, Customizations, EnabledModule, FirstbootScript, Group, IdOrName, Package, Partition,
    PartitionTable, PartitioningMode,
};
use alma_image_builder::manifest::size::Size;
use serde::Deserialize;
use std::path::{Path, PathBuf};

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

/// osbuild's top-level blueprint keys, strictly, so a corpus file can't
/// carry a key osbuild would not know.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Blueprint {
    name: String,
    description: Option<String>,
    version: Option<String>,
    #[serde(default)]
    packages: Vec<Package>,
    #[serde(default)]
    modules: Vec<Package>,
    #[serde(default)]
    enabled_modules: Vec<EnabledModule>,
    #[serde(default)]
    groups: Vec<Group>,
    #[serde(default)]
    containers: Vec<Container>,
    customizations: Option<toml::Value>,
    distro: Option<String>,
    architecture: Option<String>,
}

fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/blueprints");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    v.sort();
    v
}

fn read(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/blueprints")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn blueprint(name: &str) -> Blueprint {
    toml::from_str(&read(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The `[customizations]` table of a corpus file, through our type.
fn customizations(name: &str) -> Customizations {
    let t: toml::Table = toml::from_str(&read(name)).unwrap();
    let v = t
        .get("customizations")
        .cloned()
        .unwrap_or_else(|| panic!("{name} has no [customizations]"));
    Customizations::deserialize(v).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn every_corpus_blueprint_parses_and_round_trips() {
    let files = corpus();
    assert!(files.len() >= 8, "{files:?}");
    for p in files {
        let name = p.file_name().unwrap().to_str().unwrap();
        let b = blueprint(name);
        assert!(!b.name.is_empty(), "{name}");
        // Straight from the text too, so errors carry positions.
        let t: toml::Table = toml::from_str(&read(name)).unwrap();
        let Some(c) = t.get("customizations") else {
            continue;
        };
        let text = toml::to_string(c).unwrap();
        let c: Customizations =
            toml::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}\n{text}"));
        assert!(!c.present().is_empty(), "{name}");
        let again = toml::to_string(&c).unwrap();
        let back: Customizations =
            toml::from_str(&again).unwrap_or_else(|e| panic!("{name}: {e}\n{again}"));
        assert_eq!(back, c, "{name} does not round-trip");
    }
}

#[test]
fn minimal() {
    let b = blueprint("minimal.toml");
    assert_eq!(b.name, "minimal");
    assert_eq!(b.version.as_deref(), Some("0.0.1"));
    assert!(b.customizations.is_none() && b.packages.is_empty());
}

#[test]
fn everything_uses_every_section() {
    let b = blueprint("everything.toml");
    assert_eq!(b.packages[1].version.as_deref(), Some("2:8.2.*"));
    assert_eq!(b.packages[2].name, "@core");
    assert_eq!(b.modules[0].name, "nodejs");
    assert_eq!(b.enabled_modules[0].stream, "18");
    assert_eq!(b.groups[0].name, "development");
    assert_eq!(b.containers[0].tls_verify, Some(true));
    assert_eq!(b.architecture.as_deref(), Some("x86_64"));

    let c = customizations("everything.toml");
    assert_eq!(c.present(), Customizations::KEYS, "a section is missing");
    assert_eq!(c.hostname.as_deref(), Some("everything.example.org"));
    assert_eq!(
        c.kernel.as_ref().unwrap().name.as_deref(),
        Some("kernel-debug")
    );
    assert_eq!(c.sshkey[0].user, "root");
    let u = &c.user[0];
    assert_eq!(
        (u.uid, u.gid, u.expiredate),
        (Some(1200), Some(1200), Some(20000))
    );
    assert_eq!(u.groups, ["widget", "users", "wheel"]);
    assert_eq!(u.force_password_reset, Some(true));
    assert_eq!(c.group[0].gid, Some(1130));
    assert_eq!(c.timezone.as_ref().unwrap().ntpservers.len(), 2);
    assert_eq!(c.locale.as_ref().unwrap().keyboard.as_deref(), Some("us"));
    let fw = c.firewall.as_ref().unwrap();
    assert_eq!(fw.ports[5], "30000-32767:tcp");
    assert_eq!(fw.services.as_ref().unwrap().disabled, ["telnet"]);
    assert_eq!(fw.zones[0].sources, ["192.0.2.0/24"]);
    assert_eq!(c.services.as_ref().unwrap().masked, ["rpcbind"]);
    assert_eq!(c.filesystem[0].minsize, Size(2 * GIB));
    assert_eq!(c.filesystem[1].minsize, Size(5 * GIB));
    assert_eq!(c.disk.as_ref().unwrap().minsize, Some(Size(40 * GIB)));
    assert_eq!(c.installation_device.as_deref(), Some("/dev/vda"));
    assert_eq!(c.partitioning_mode, Some(PartitioningMode::AutoLvm));
    assert_eq!(
        c.fdo.as_ref().unwrap().diun_pub_key_insecure.as_deref(),
        Some("true")
    );
    let scap = c.openscap.as_ref().unwrap();
    assert_eq!(scap.profile_id, "xccdf_org.ssgproject.content_profile_cis");
    assert_eq!(
        scap.tailoring.as_ref().unwrap().unselected,
        ["grub2_password"]
    );
    assert!(c.ignition.as_ref().unwrap().embedded.is_some());
    let d = &c.directories[0];
    assert_eq!(d.user, Some(IdOrName::Name("root".into())));
    assert_eq!(d.ensure_parents, Some(true));
    let f = &c.files[0];
    assert_eq!(
        (&f.user, &f.group),
        (&Some(IdOrName::Id(0)), &Some(IdOrName::Id(0)))
    );
    assert_eq!(f.mode.as_deref(), Some("0644"));
    assert_eq!(c.repositories[0].priority, Some(10));
    assert_eq!(c.fips, Some(false));
    let inst = c.installer.as_ref().unwrap();
    assert_eq!(inst.unattended, Some(true));
    assert_eq!(inst.sudo_nopasswd, ["admin", "%wheel"]);
    assert_eq!(
        c.rpm.as_ref().unwrap().import_keys.as_ref().unwrap().files,
        ["/etc/pki/rpm-gpg/RPM-GPG-KEY-AlmaLinux-9"]
    );
    let rhsm = c.rhsm.as_ref().unwrap().config.as_ref().unwrap();
    let sm = rhsm.subscription_manager.as_ref().unwrap();
    assert_eq!(sm.rhsm.as_ref().unwrap().manage_repos, Some(false));
    assert_eq!(sm.rhsmcertd.as_ref().unwrap().auto_registration, Some(true));
    let plugins = rhsm.dnf_plugins.as_ref().unwrap();
    assert_eq!(
        plugins.subscription_manager.as_ref().unwrap().enabled,
        Some(false)
    );
    assert!(c.cacerts.as_ref().unwrap().pem_certs[0].starts_with("-----BEGIN CERTIFICATE-----"));
    assert_eq!(
        c.containers_storage
            .as_ref()
            .unwrap()
            .destination_path
            .as_deref(),
        Some("/usr/share/containers/storage")
    );
    assert_eq!(c.firstboot.as_ref().unwrap().scripts[0].kind(), "custom");
    assert_eq!(
        c.dnf
            .as_ref()
            .unwrap()
            .config
            .as_ref()
            .unwrap()
            .set_releasever,
        Some(true)
    );
    assert_eq!(
        c.iso.as_ref().unwrap().volume_id.as_deref(),
        Some("EVERYTHING-9")
    );
    let sshd = c.sshd.as_ref().unwrap();
    assert_eq!(sshd.client_alive_interval, Some(300));
    assert_eq!(sshd.permit_root_login.as_deref(), Some("prohibit-password"));
}

#[test]
fn disk_plain_on_dos() {
    let d = customizations("disk-plain.toml").disk.unwrap();
    assert_eq!(d.table, Some(PartitionTable::Dos));
    assert_eq!(d.minsize, Some(Size(20 * GIB)));
    let [Partition::Plain(data), Partition::Plain(root)] = &d.partitions[..] else {
        panic!("{:?}", d.partitions)
    };
    assert_eq!(data.part_type.as_deref(), Some("83"));
    assert_eq!(data.label.as_deref(), Some("data"));
    // `type` omitted means plain
    assert_eq!(root.mountpoint.as_deref(), Some("/"));
    assert_eq!(root.minsize, Size(10 * GIB));
}

#[test]
fn disk_lvm() {
    let d = customizations("disk-lvm.toml").disk.unwrap();
    assert_eq!(d.table, Some(PartitionTable::Gpt));
    let kinds: Vec<_> = d.partitions.iter().map(Partition::kind).collect();
    assert_eq!(kinds, ["plain", "plain", "lvm"]);
    let Partition::Plain(swap) = &d.partitions[1] else {
        panic!()
    };
    assert_eq!(
        (swap.fs_type.as_deref(), &swap.mountpoint),
        (Some("swap"), &None)
    );
    let Partition::Lvm(vg) = &d.partitions[2] else {
        panic!()
    };
    assert_eq!(vg.name.as_deref(), Some("mainvg"));
    assert_eq!(vg.minsize, Size(20 * GIB));
    assert_eq!(vg.part_label.as_deref(), Some("lvm-root"));
    let lvs: Vec<_> = vg
        .logical_volumes
        .iter()
        .map(|l| {
            (
                l.name.as_deref().unwrap(),
                l.mountpoint.as_deref(),
                l.minsize,
            )
        })
        .collect();
    assert_eq!(
        lvs,
        [
            ("rootlv", Some("/"), Size(10 * GIB)),
            ("homelv", Some("/home"), Size(2 * GIB)),
            ("swaplv", None, Size(GIB)),
        ]
    );
}

#[test]
fn disk_btrfs() {
    let d = customizations("disk-btrfs.toml").disk.unwrap();
    assert_eq!(d.table, None);
    assert_eq!(d.start_offset, Some(Size(8 * MIB)));
    assert_eq!(d.sector_size, Some(4096));
    assert_eq!(
        d.partitions[0].gpt_fields().0,
        Some("bc13c2ff-59e6-4262-a352-b275fd6f7172")
    );
    let Partition::Btrfs(b) = &d.partitions[1] else {
        panic!()
    };
    assert_eq!(b.minsize, Size(10 * GIB));
    assert_eq!(
        b.part_uuid.as_deref(),
        Some("6264d520-3fb9-423f-8ab8-7a0a8e3d3562")
    );
    let subs: Vec<_> = b
        .subvolumes
        .iter()
        .map(|s| (s.name.as_str(), s.mountpoint.as_str()))
        .collect();
    assert_eq!(
        subs,
        [("root", "/"), ("home", "/home"), ("varlog", "/var/log")]
    );
}

#[test]
fn filesystem_sizes_as_int_string_and_legacy_size() {
    let c = customizations("filesystem.toml");
    assert_eq!(c.partitioning_mode, Some(PartitioningMode::Lvm));
    let fs: Vec<_> = c
        .filesystem
        .iter()
        .map(|f| (f.mountpoint.as_str(), f.minsize.bytes()))
        .collect();
    assert_eq!(
        fs,
        [
            ("/", 10 * GIB),
            ("/var", 4 * GIB),
            ("/var/log", 1536 * MIB),
            ("/opt/data", 5 * GIB),
        ]
    );
    assert_eq!(c.present(), ["filesystem", "partitioning_mode"]);
}

#[test]
fn installer_with_kickstart() {
    let c = customizations("installer-kickstart.toml");
    let i = c.installer.unwrap();
    assert!(i.kickstart.unwrap().contents.contains("autopart --noswap"));
    assert_eq!(i.unattended, None);
    let m = i.modules.unwrap();
    assert_eq!(m.disable, ["org.fedoraproject.Anaconda.Modules.Users"]);
    assert_eq!(m.enable.len(), 1);
    assert_eq!(i.bootloader.unwrap().grub2.unwrap().menu_timeout, Some(5));
    assert_eq!(
        c.iso.unwrap().volume_id.as_deref(),
        Some("AlmaLinux-9-custom")
    );
}

#[test]
fn fips_and_openscap() {
    let c = customizations("fips-openscap.toml");
    assert_eq!(
        c.present(),
        ["kernel", "openscap", "directories", "files", "fips"]
    );
    assert_eq!(c.fips, Some(true));
    let s = c.openscap.unwrap();
    assert!(s.tailoring.is_none());
    let jt = s.json_tailoring.unwrap();
    assert_eq!(jt.filepath, "/some/path/tailoring-file.json");
    assert_eq!(
        s.datastream.as_deref(),
        Some("/usr/share/xml/scap/ssg/content/ssg-almalinux9-ds.xml")
    );
    assert_eq!(c.files[0].path, jt.filepath);
    assert_eq!(c.files[0].user, None);
}

#[test]
fn edge_containers() {
    let b = blueprint("edge-containers.toml");
    assert_eq!(b.containers.len(), 2);
    assert_eq!(b.containers[0].name, None);
    assert_eq!(b.containers[1].name.as_deref(), Some("fedora-minimal"));
    assert_eq!(b.containers[1].local_storage, Some(false));
    let c = customizations("edge-containers.toml");
    let ign = c.ignition.unwrap();
    assert!(ign.embedded.unwrap().config.starts_with("eyJ"));
    assert!(ign.firstboot.is_none());
    assert_eq!(
        c.containers_storage.unwrap().destination_path.as_deref(),
        Some("/usr/share/containers/storage")
    );
}

#[test]
fn repositories() {
    let c = customizations("repositories.toml");
    let r = &c.repositories;
    assert_eq!(r.len(), 3);
    assert_eq!(r[0].baseurls.len(), 2);
    assert!(r[0].gpgkeys[0].starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----"));
    assert_eq!(
        (r[0].gpgcheck, r[0].repo_gpgcheck, r[0].install_from),
        (Some(true), Some(false), Some(true))
    );
    assert_eq!(r[0].module_hotfixes, Some(true));
    assert!(r[1].metalink.as_deref().unwrap().contains("epel-9"));
    assert_eq!(r[1].filename.as_deref(), Some("epel"));
    assert_eq!(r[1].enabled, Some(false));
    assert!(r[2].mirrorlist.is_some() && r[2].baseurls.is_empty());
    assert_eq!(r[2].install_from, None);
    assert_eq!(c.present(), ["repositories", "rpm", "dnf"]);
}

#[test]
fn firstboot_and_sshd() {
    let c = customizations("firstboot-sshd.toml");
    let s = &c.firstboot.as_ref().unwrap().scripts;
    let FirstbootScript::Custom(custom) = &s[0] else {
        panic!()
    };
    assert!(custom.contents.starts_with("#!/usr/bin/bash"));
    assert_eq!(
        s[0].common(),
        (
            Some("register-inventory"),
            true,
            &["network-online.target".to_string()][..],
            &[][..]
        )
    );
    let FirstbootScript::Satellite(sat) = &s[1] else {
        panic!()
    };
    assert!(sat.command.contains("activation_keys"));
    assert_eq!(sat.cacerts.len(), 1);
    let FirstbootScript::Aap(aap) = &s[2] else {
        panic!()
    };
    assert!(aap.job_template_url.ends_with("/callback/"));
    assert_eq!(aap.before, ["getty@tty1.service"]);
    let sshd = c.sshd.unwrap();
    assert_eq!(sshd.password_authentication, Some(false));
    assert_eq!(sshd.permit_root_login.as_deref(), Some("no"));
    assert_eq!(
        c.user[0]
            .key
            .as_deref()
            .map(|k| k.starts_with("ssh-ed25519")),
        Some(true)
    );
}
