//! Chained transactions and on-demand filelists against AlmaLinux 10.0's
//! real dependency graph (tests/data/almalinux-10-metadata): the qcow2
//! base set's excludes must not stop a manifest's own packages.

use alma_image_builder::resolve::solve::{self, RepoFiles, Request, Transaction, Universe};
use std::path::PathBuf;
use std::time::Instant;

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/almalinux-10-metadata/x86_64_v2/repodata")
}

fn universe(filelists: bool) -> Universe {
    let d = data();
    Universe::load(
        "x86_64_v2:x86_64",
        vec![RepoFiles {
            id: "alma10".into(),
            primary: d.join("primary.xml.gz"),
            filelists: filelists.then(|| d.join("filelists.xml.gz")),
            priority: 99,
            ..Default::default()
        }],
    )
    .unwrap()
}

/// AlmaLinux 10's qcow2 base set (distros/almalinux-10.toml) without
/// `@core` (the metadata has no comps), and its excludes.
fn base() -> Transaction {
    Transaction {
        name: "base".into(),
        include: [
            "almalinux-release",
            "cloud-init",
            "cloud-utils-growpart",
            "dnf",
            "dracut-config-generic",
            "glibc-langpack-en",
            "kernel",
            "NetworkManager",
            "openssh-server",
            "qemu-guest-agent",
            "rpm",
            "rsync",
            "selinux-policy-targeted",
            "sudo",
            "tar",
            "tuned",
            "xfsprogs",
            "grub2-pc",
            "grub2-efi-x64",
            "shim-x64",
            "efibootmgr",
        ]
        .map(String::from)
        .to_vec(),
        exclude: [
            "aic94xx-firmware",
            "alsa-firmware",
            "alsa-lib",
            "alsa-tools-firmware",
            "biosdevname",
            "iprutils",
            "ivtv-firmware",
            "langpacks-*",
            "plymouth",
            "rng-tools",
            "udisks2",
            "dracut-config-rescue",
        ]
        .map(String::from)
        .to_vec(),
    }
}

fn manifest(extra: &str) -> Transaction {
    Transaction {
        name: "manifest".into(),
        include: vec![extra.into()],
        exclude: vec![],
    }
}

fn req(chain: Vec<Transaction>) -> Request {
    Request {
        chain,
        modules: vec![],
        weak_deps: true,
    }
}

#[test]
fn qcow2_excludes_do_not_block_the_manifests_packages() {
    let mut u = universe(true);
    let (base_only, _) = u.solve(&req(vec![base()])).unwrap();
    assert!(base_only.iter().all(|p| p.name != "alsa-lib"));
    for extra in [
        "java-21-openjdk-devel",
        "libvirt-daemon-kvm",
        "ipa-server",
        "gnome-shell",
    ] {
        // One merged transaction: the base's exclude hides what it needs.
        let mut merged = base();
        merged.include.push(extra.into());
        let e = u.solve(&req(vec![merged])).unwrap_err();
        assert!(e.to_string().contains("alsa-lib"), "{extra}: {e}");
        // The chain: the exclude trims the base set only.
        let (all, _) = u
            .solve(&req(vec![base(), manifest(extra)]))
            .unwrap_or_else(|e| panic!("{extra}: {e}"));
        let names: Vec<&str> = all.iter().map(|p| p.name.as_str()).collect();
        assert!(
            names.contains(&extra) && names.contains(&"alsa-lib"),
            "{extra}"
        );
        // Everything the base chose is in the union, unchanged.
        for p in &base_only {
            assert!(all.contains(p), "{extra}: {} replaced", p.nevra());
        }
    }
    // The pool is left as it was: the base alone solves the same again.
    assert_eq!(u.solve(&req(vec![base()])).unwrap().0, base_only);
}

#[test]
fn a_failing_transaction_is_named() {
    let mut u = universe(false);
    let e = u
        .solve(&req(vec![base(), manifest("no-such-package")]))
        .unwrap_err();
    assert_eq!(e.transaction, "manifest");
    assert_eq!(
        e.to_string(),
        "manifest packages: no package matches 'no-such-package'"
    );
}

/// Filelists stay unparsed when primary answers every file dependency;
/// prints both load times (the numbers behind the on-demand choice).
#[test]
fn filelists_load_on_demand() {
    let t = Instant::now();
    let mut u = universe(true);
    let primary = t.elapsed();
    assert!(!u.has_filelists(), "primary answers every file dep here");
    let t = Instant::now();
    u.load_filelists().unwrap();
    eprintln!(
        "real AlmaLinux 10 metadata ({} packages): primary {primary:?}, filelists {:?}",
        u.package_count(),
        t.elapsed()
    );
    assert!(u.has_filelists());
    // A path nobody has is still no match, filelists or not.
    let e = u
        .solve(&req(vec![manifest("/usr/bin/no-such-file")]))
        .unwrap_err();
    assert!(matches!(e.error, solve::SolveError::NoMatch(_)), "{e}");
}
