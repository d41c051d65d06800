//! Real-world osbuild blueprints parse unchanged through the manifest
//! parser, with the values osbuild would read.

use alma_image_builder::manifest::blueprint::IdOrName;
use alma_image_builder::manifest::{self, size::Size};
use std::path::Path;

fn load(name: &str) -> manifest::Manifest {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/blueprints")
        .join(name);
    manifest::load(&p)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .manifest
}

#[test]
fn every_corpus_blueprint_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/blueprints");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        manifest::load(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        n += 1;
    }
    assert!(n >= 7);
}

#[test]
fn everything_blueprint_values() {
    let m = load("everything.toml");
    assert_eq!(m.packages[1].version.as_deref(), Some("2:8.2.*"));
    assert_eq!(m.enabled_modules[0].stream, "18");
    assert_eq!(m.containers[0].tls_verify, Some(true));
    let c = m.customizations.unwrap();
    assert_eq!(
        c.kernel.unwrap().append.as_deref(),
        Some("nosmt=force audit=1")
    );
    assert_eq!(c.user[0].uid, Some(1200));
    assert_eq!(c.user[0].force_password_reset, Some(true));
    assert_eq!(c.filesystem[0].minsize, Size(2 << 30));
    assert_eq!(c.filesystem[1].minsize, Size(5 << 30));
    assert_eq!(c.firewall.unwrap().services.unwrap().disabled, ["telnet"]);
    assert_eq!(c.services.unwrap().masked, ["rpcbind"]);
    assert_eq!(c.files[0].user, Some(IdOrName::Id(0)));
    assert_eq!(c.directories[0].user, Some(IdOrName::Name("root".into())));
    assert_eq!(c.repositories[0].priority, Some(10));
    assert_eq!(c.installer.unwrap().sudo_nopasswd, ["admin", "%wheel"]);
    assert_eq!(
        c.containers_storage.unwrap().destination_path.as_deref(),
        Some("/usr/share/containers/storage")
    );
    assert_eq!(c.rpm.unwrap().import_keys.unwrap().files.len(), 1);
    assert!(c.rhsm.is_some());
    assert_eq!(
        c.openscap.unwrap().tailoring.unwrap().unselected,
        ["grub2_password"]
    );
}

#[test]
fn disk_blueprints_values() {
    let c = load("disk-lvm-btrfs.toml").customizations.unwrap();
    let d = c.disk.unwrap();
    assert_eq!(d.partitions[0].kind.as_deref(), Some("lvm"));
    assert_eq!(
        d.partitions[0].logical_volumes[0].fs_type.as_deref(),
        Some("ext4")
    );
    assert_eq!(d.partitions[1].subvolumes[0].mountpoint, "/home");
    let c = load("disk-plain.toml").customizations.unwrap();
    assert_eq!(c.disk.unwrap().minsize, Some(Size(20 << 30)));
}

#[test]
fn installer_kickstart_and_ignition() {
    let c = load("installer-kickstart.toml").customizations.unwrap();
    assert!(c
        .installer
        .unwrap()
        .kickstart
        .unwrap()
        .contents
        .contains("autopart"));
    let c = load("edge-containers.toml").customizations.unwrap();
    assert!(c.ignition.unwrap().embedded.is_some());
}
