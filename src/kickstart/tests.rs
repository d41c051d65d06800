use super::lines::q;
use super::*;
use crate::manifest::blueprint::{Filesystem, Installer, PartitioningMode, Timezone};
use crate::manifest::size::Size;

fn req<'a>(c: &'a Customizations, p: Payload, r: Release) -> Request<'a> {
    Request {
        customizations: Some(c),
        packages: &[],
        payload: p,
        release: r,
        label: "L",
    }
}

fn unattended() -> Customizations {
    Customizations {
        installer: Some(Installer {
            unattended: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[test]
fn quoting_follows_shlex() {
    assert_eq!(q("wheel,adm"), "wheel,adm");
    assert_eq!(q("$6$salt$hash"), "$6$salt$hash");
    assert_eq!(q("a b"), "\"a b\"");
    assert_eq!(q("#x"), "\"#x\"");
    assert_eq!(q("say \"hi\" \\o/"), "\"say \\\"hi\\\" \\\\o/\"");
    assert_eq!(q(""), "\"\"");
}

#[test]
fn every_template_parses_and_names_its_validator() {
    for r in Release::ALL {
        let t = Template::parse(r.template()).unwrap();
        assert!(t.validator.is_some(), "{r:?}");
        assert!(t.payloads.contains(&"liveimg"), "{r:?}");
        for s in SLOTS {
            assert!(
                t.lines
                    .iter()
                    .any(|l| matches!(l, Line::Slot(x) if *x == s)),
                "{r:?} lacks slot {s}"
            );
        }
    }
    assert!(Template::parse("#@nope@\n").is_err());
    assert!(Template::parse("#@ntp sometimes@\n").is_err());
}

#[test]
fn releases_from_distros() {
    assert_eq!(
        Release::from_distro("almalinux-9", 9),
        Some(Release::AlmaLinux9)
    );
    assert_eq!(
        Release::from_distro("almalinux-kitten-10", 10),
        Some(Release::Kitten10)
    );
    assert_eq!(Release::from_distro("fixture", 1), Some(Release::Fixture));
    assert_eq!(Release::from_distro("other", 7), None);
    assert_eq!(Release::AlmaLinux8.validator_version(), "RHEL8");
}

#[test]
fn ntp_syntax_is_the_releases() {
    let mut c = unattended();
    c.timezone = Some(Timezone {
        timezone: None,
        ntpservers: vec!["a.example".into(), "b.example".into()],
    });
    let el8 = generate(&req(&c, Payload::Liveimg, Release::AlmaLinux8))
        .unwrap()
        .text;
    assert!(
        el8.contains("timezone UTC --utc --ntpservers=a.example,b.example\n"),
        "{el8}"
    );
    assert!(!el8.contains("timesource"));
    let el10 = generate(&req(&c, Payload::Liveimg, Release::AlmaLinux10))
        .unwrap()
        .text;
    assert!(el10.contains("timesource --ntp-server=a.example\ntimesource --ntp-server=b.example\n"));
    assert!(!el10.contains("--ntpservers"));
}

#[test]
fn filesystems_on_lvm_keep_boot_plain() {
    let mut c = unattended();
    c.filesystem = vec![
        Filesystem {
            mountpoint: "/var/log".into(),
            minsize: Size::mib(1500),
        },
        Filesystem {
            mountpoint: "/".into(),
            minsize: Size(3 << 30),
        },
    ];
    let t = generate(&req(&c, Payload::Liveimg, Release::AlmaLinux10))
        .unwrap()
        .text;
    for l in [
        "reqpart --add-boot\n",
        "part pv.01 --size=1 --grow\n",
        "volgroup rootvg pv.01\n",
        "logvol /var/log --vgname=rootvg --name=var_loglv --fstype=xfs --size=1500\n",
        "logvol / --vgname=rootvg --name=rootlv --fstype=xfs --size=3072\n",
    ] {
        assert!(t.contains(l), "{l:?} in\n{t}");
    }
    c.partitioning_mode = Some(PartitioningMode::Raw);
    let t = generate(&req(&c, Payload::Liveimg, Release::Fixture))
        .unwrap()
        .text;
    assert!(t.contains("reqpart\npart /var/log --fstype=ext4 --size=1500\npart / --fstype=ext4 --size=3072 --grow\n"), "{t}");
}

#[test]
fn without_unattended_only_what_the_manifest_says() {
    let c = Customizations::default();
    let t = generate(&req(&c, Payload::Liveimg, Release::AlmaLinux10))
        .unwrap()
        .text;
    let commands: Vec<&str> = t
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect();
    assert_eq!(
        commands,
        [
            "network --bootproto=dhcp --device=link --activate --onboot=on",
            "rootpw --lock",
            "liveimg --url=file:///run/install/repo/liveimg.tar.gz"
        ]
    );
    // No template directive survives.
    assert!(!t.lines().any(|l| l.starts_with("#@")), "{t}");
}

#[test]
fn refusals_are_errors_not_panics() {
    let mut c = unattended();
    c.installer.as_mut().unwrap().kickstart = Some(crate::manifest::blueprint::Kickstart {
        contents: "text\n".into(),
    });
    let e = generate(&req(&c, Payload::Liveimg, Release::AlmaLinux10)).unwrap_err();
    assert!(e.to_string().contains("cannot be combined"), "{e}");
    let e = generate(&req(
        &Customizations::default(),
        Payload::Ostreecontainer,
        Release::AlmaLinux8,
    ))
    .unwrap_err();
    assert!(e.to_string().contains("AlmaLinux 9 on") || e.to_string().contains("ostreecontainer"));
    assert_eq!(inst_ks_arg("A B"), "inst.ks=hd:LABEL=A\\x20B:/osbuild.ks");
}
