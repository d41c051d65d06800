use super::*;
use crate::manifest::size::Size;

fn c(s: &str) -> Customizations {
    toml::from_str(s).unwrap_or_else(|e| panic!("{s}\n{e}"))
}

fn err(s: &str) -> String {
    match toml::from_str::<Customizations>(s) {
        Ok(v) => panic!("accepted:\n{s}\n{v:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn unknown_keys_are_rejected_at_every_level() {
    assert!(err("hostnam = \"x\"").contains("hostnam"));
    assert!(err("[[user]]\nname = \"a\"\npasword = \"x\"").contains("pasword"));
    assert!(err("[sshd]\nPasswordAuthentication = true").contains("PasswordAuthentication"));
    assert!(err("[dnf.config]\nset_release_ver = true").contains("set_release_ver"));
    assert!(err("[installer.bootloader.grub2]\nmenu_timeout = 5").contains("menu_timeout"));
    assert!(err("[rhsm.config.dnf_plugins.product_id]\nenable = true").contains("enable"));
    // wsl is not a blueprint customization.
    assert!(err("[wsl]\n").contains("wsl"));
}

#[test]
fn wrong_types_are_rejected() {
    assert!(err("fips = \"yes\"").contains("invalid type"));
    err("hostname = 3");
    err("[[user]]\nname = \"a\"\nuid = \"1000\"");
    err("[services]\nenabled = \"sshd\"");
    err("[[filesystem]]\nmountpoint = \"/var\"\nminsize = true");
    err("[[files]]\npath = \"/a\"\nuser = true");
    err("partitioning_mode = \"btrfs\"");
    err("[disk]\ntype = \"mbr\"");
}

#[test]
fn id_or_name_takes_both_forms() {
    let x = c("[[files]]\npath = \"/a\"\nuser = 0\ngroup = \"wheel\"\ndata = \"x\"");
    assert_eq!(x.files[0].user, Some(IdOrName::Id(0)));
    assert_eq!(x.files[0].group, Some(IdOrName::Name("wheel".into())));
    assert!(err("[[directories]]\npath = \"/a\"\nuser = -1").contains("negative"));
    assert!(err("[[directories]]\npath = \"/a\"\ngroup = 1.5").contains("numeric id"));
    // Serializes back to the same form.
    assert_eq!(serde_json::to_string(&IdOrName::Id(7)).unwrap(), "7");
    assert_eq!(
        serde_json::to_string(&IdOrName::Name("root".into())).unwrap(),
        "\"root\""
    );
    assert_eq!(IdOrName::Id(7).to_string(), "7");
}

#[test]
fn file_mode_is_octal() {
    let x = c("[[files]]\npath = \"/a\"\nmode = \"644\"");
    assert_eq!(x.files[0].mode.as_deref(), Some("644"));
    c("[[directories]]\npath = \"/a\"\nmode = \"0755\"");
    for bad in ["\"0855\"", "\"75\"", "\"00755\"", "\"rwx\"", "493"] {
        err(&format!("[[files]]\npath = \"/a\"\nmode = {bad}"));
    }
}

#[test]
fn filesystem_minsize_forms() {
    let x = c(concat!(
        "[[filesystem]]\nmountpoint = \"/var\"\nminsize = 1073741824\n",
        "[[filesystem]]\nmountpoint = \"/home\"\nminsize = \"2 GiB\"\n",
        "[[filesystem]]\nmountpoint = \"/opt\"\nsize = \"512 MiB\"\n",
    ));
    let sizes: Vec<u64> = x.filesystem.iter().map(|f| f.minsize.bytes()).collect();
    assert_eq!(sizes, [1 << 30, 2 << 30, 512 << 20]);
    err("[[filesystem]]\nmountpoint = \"/var\"\nsize = 1\nminsize = 1");
    assert!(err("[[filesystem]]\nmountpoint = \"/var\"\nminsize = 0").contains("greater than 0"));
    err("[[filesystem]]\nmountpoint = \"/var\"");
}

#[test]
fn partitions_are_a_tagged_union_defaulting_to_plain() {
    let x = c(r#"
        [disk]
        type = "gpt"
        start_offset = "8 MiB"
        sector_size = 4096
        [[disk.partitions]]
        mountpoint = "/data"
        fs_type = "ext4"
        minsize = "1 GiB"
        part_label = "data"
        [[disk.partitions]]
        type = "lvm"
        name = "vg0"
        minsize = 10737418240
        [[disk.partitions.logical_volumes]]
        name = "root"
        mountpoint = "/"
        fs_type = "xfs"
        minsize = "5 GiB"
        [[disk.partitions]]
        type = "btrfs"
        minsize = "3 GiB"
        [[disk.partitions.subvolumes]]
        name = "home"
        mountpoint = "/home"
    "#);
    let d = x.disk.unwrap();
    assert_eq!(d.table, Some(PartitionTable::Gpt));
    assert_eq!(d.start_offset, Some(Size(8 << 20)));
    assert_eq!(d.sector_size, Some(4096));
    let kinds: Vec<_> = d.partitions.iter().map(Partition::kind).collect();
    assert_eq!(kinds, ["plain", "lvm", "btrfs"]);
    let Partition::Plain(p) = &d.partitions[0] else {
        panic!()
    };
    assert_eq!(p.mountpoint.as_deref(), Some("/data"));
    assert_eq!(d.partitions[0].gpt_fields().1, Some("data"));
    let Partition::Lvm(v) = &d.partitions[1] else {
        panic!()
    };
    assert_eq!(v.name.as_deref(), Some("vg0"));
    assert_eq!(v.minsize, Size(10 << 30));
    assert_eq!(v.logical_volumes[0].minsize, Size(5 << 30));
    let Partition::Btrfs(b) = &d.partitions[2] else {
        panic!()
    };
    assert_eq!(b.subvolumes[0].name, "home");
    assert_eq!(d.partitions[2].minsize(), Size(3 << 30));
}

#[test]
fn partition_keys_of_another_kind_are_rejected() {
    // plain (implicit) with an lvm key
    let e = err("[[disk.partitions]]\nminsize = 1\nlogical_volumes = []");
    assert!(e.contains("logical_volumes"), "{e}");
    // lvm with a plain key
    let e = err("[[disk.partitions]]\ntype = \"lvm\"\nminsize = 1\nmountpoint = \"/\"");
    assert!(e.contains("mountpoint"), "{e}");
    // btrfs with an lvm key
    let e = err("[[disk.partitions]]\ntype = \"btrfs\"\nminsize = 1\nname = \"x\"");
    assert!(e.contains("name"), "{e}");
    let e = err("[[disk.partitions]]\ntype = \"zfs\"\nminsize = 1");
    assert!(e.contains("zfs"), "{e}");
    let e = err("[[disk.partitions]]\ntype = 1\nminsize = 1");
    assert!(e.contains("must be a string"), "{e}");
    // minsize is required for partitions and logical volumes
    assert!(err("[[disk.partitions]]\nmountpoint = \"/\"").contains("minsize"));
    err("[[disk.partitions]]\ntype = \"lvm\"\nminsize = 1\n[[disk.partitions.logical_volumes]]\nmountpoint = \"/\"");
    // a typo inside a logical volume
    let e = err("[[disk.partitions]]\ntype = \"lvm\"\nminsize = 1\n[[disk.partitions.logical_volumes]]\nminsize = 1\nfstype = \"xfs\"");
    assert!(e.contains("fstype"), "{e}");
}

#[test]
fn partitions_round_trip_with_their_tag() {
    let x = c("[[disk.partitions]]\nminsize = 1024\nmountpoint = \"/\"\nfs_type = \"xfs\"");
    let s = toml::to_string(&x).unwrap();
    assert!(s.contains("type = \"plain\""), "{s}");
    assert_eq!(c(&s), x);
}

#[test]
fn firstboot_scripts_by_type() {
    let x = c(r#"
        [[firstboot.scripts]]
        type = "custom"
        name = "hello"
        contents = "echo hi"
        after = ["network-online.target"]
        [[firstboot.scripts]]
        type = "Satellite"
        command = "curl https://satellite/register | bash"
        cacerts = ["-----BEGIN CERTIFICATE-----"]
        [[firstboot.scripts]]
        type = "aap"
        job_template_url = "https://aap.example.com/api/v2/job_templates/9/callback/"
        host_config_key = "key"
        ignore_failure = true
    "#);
    let s = &x.firstboot.as_ref().unwrap().scripts;
    assert_eq!(
        s.iter().map(FirstbootScript::kind).collect::<Vec<_>>(),
        ["custom", "satellite", "aap"]
    );
    assert_eq!(s[0].common().2, ["network-online.target"]);
    assert!(s[2].common().1);
    assert!(err("[[firstboot.scripts]]\ncontents = \"x\"").contains("type"));
    assert!(
        err("[[firstboot.scripts]]\ntype = \"custom\"\ncommand = \"x\"\ncontents = \"y\"")
            .contains("command")
    );
    err("[[firstboot.scripts]]\ntype = \"aap\"\njob_template_url = \"u\"");
    let back = toml::to_string(&x).unwrap();
    assert_eq!(c(&back), x);
}

#[test]
fn present_lists_set_sections_in_osbuild_order() {
    let x = c(concat!(
        "hostname = \"h\"\nfips = false\ninstallation_device = \"\"\n",
        "[sshd]\n[containers-storage]\n",
        "[[filesystem]]\nmountpoint = \"/var\"\nminsize = 1024\n",
    ));
    assert_eq!(
        x.present(),
        [
            "hostname",
            "filesystem",
            "fips",
            "containers-storage",
            "sshd"
        ]
    );
    assert!(Customizations::default().present().is_empty());
}

#[test]
fn keys_match_what_deserialize_accepts() {
    for k in Customizations::KEYS {
        // Each key is known: the error, if any, is about its value.
        if let Err(e) = toml::from_str::<Customizations>(&format!("\"{k}\" = 1")) {
            assert!(!e.to_string().contains("unknown field"), "{k}: {e}");
        }
    }
}

#[test]
fn top_level_items() {
    #[derive(Deserialize)]
    struct Bp {
        packages: Vec<Package>,
        containers: Vec<Container>,
        enabled_modules: Vec<EnabledModule>,
    }
    let b: Bp = toml::from_str(concat!(
        "[[packages]]\nname = \"vim\"\nversion = \"9.*\"\n",
        "[[containers]]\nsource = \"quay.io/a/b\"\ntls-verify = false\nlocal-storage = true\n",
        "[[enabled_modules]]\nname = \"nodejs\"\nstream = \"20\"\n",
    ))
    .unwrap();
    assert_eq!(b.packages[0].version.as_deref(), Some("9.*"));
    assert_eq!(b.containers[0].tls_verify, Some(false));
    assert_eq!(b.containers[0].local_storage, Some(true));
    assert_eq!(b.enabled_modules[0].stream, "20");
    assert!(toml::from_str::<Container>("source = \"x\"\ntls_verify = true").is_err());
    assert!(toml::from_str::<Package>("name = \"x\"\nver = \"1\"").is_err());
}
