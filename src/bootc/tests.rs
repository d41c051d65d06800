//! Every rule over small trees in temporary directories, and `prepare`
//! over a tree whose initramfs already exists (the dracut run itself is
//! covered by tests/bootc_lint.rs on a fixture tree).

use super::*;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::PathBuf;

const KVER: &str = "6.1.0-1-amd64";

struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    /// A tree every rule passes.
    fn bootc() -> Tree {
        let t = Tree {
            dir: tempfile::tempdir().unwrap(),
        };
        for d in [
            "dev", "proc", "sys", "run", "tmp", "var", "boot", "sysroot", "etc",
        ] {
            t.mkdir(d);
        }
        t.file(&format!("usr/lib/modules/{KVER}/vmlinuz"), "kernel");
        t.file(&format!("usr/lib/modules/{KVER}/initramfs.img"), "initrd");
        t.link("ostree", "sysroot/ostree");
        t.link("var/run", "../run");
        t.file(
            "usr/lib/ostree/prepare-root.conf",
            "[composefs]\nenabled = true\n",
        );
        t.file(
            "usr/lib/bootc/kargs.d/10-console.toml",
            "kargs = [\"console=ttyS0\"]\nmatch-architectures = [\"x86_64\"]\n",
        );
        t
    }
    fn root(&self) -> &Path {
        self.dir.path()
    }
    fn p(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }
    fn mkdir(&self, rel: &str) {
        std::fs::create_dir_all(self.p(rel)).unwrap();
    }
    fn file(&self, rel: &str, text: &str) {
        let p = self.p(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    fn link(&self, rel: &str, target: &str) {
        let p = self.p(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        symlink(target, p).unwrap();
    }
    fn rm(&self, rel: &str) {
        let p = self.p(rel);
        if std::fs::symlink_metadata(&p).unwrap().is_dir() {
            std::fs::remove_dir_all(p).unwrap();
        } else {
            std::fs::remove_file(p).unwrap();
        }
    }
    fn lint(&self) -> Vec<Finding> {
        lint(self.root()).unwrap()
    }
    /// The findings of one rule.
    fn of(&self, rule: &str) -> Vec<Finding> {
        self.lint().into_iter().filter(|f| f.rule == rule).collect()
    }
}

fn fatal(fs: &[Finding]) -> Vec<&Finding> {
    fs.iter()
        .filter(|f| f.severity == Severity::Fatal)
        .collect()
}

#[test]
fn a_bootc_tree_passes_every_rule() {
    let t = Tree::bootc();
    assert_eq!(t.lint(), vec![]);
    assert_eq!(check(t.root()).unwrap(), vec![]);
}

#[test]
fn rule_names_are_bootcs() {
    let names: Vec<_> = rules().into_iter().map(|(n, _)| n).collect();
    for n in [
        "kernel",
        "nonempty-boot",
        "var-run",
        "etc-usretc",
        "bootc-kargs",
        "utf8",
        "api-base-directories",
        "baseimage-root",
        "baseimage-composefs",
        "var-log",
        "var-tmpfiles",
        "sysusers",
    ] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
}

#[test]
fn two_kernels_are_fatal_and_named() {
    let t = Tree::bootc();
    t.file("usr/lib/modules/6.2.0-9/vmlinuz", "k2");
    let f = t.of("kernel");
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, Severity::Fatal);
    assert!(f[0]
        .message
        .contains(&format!("/usr/lib/modules/{KVER}/vmlinuz")));
    assert!(f[0].message.contains("/usr/lib/modules/6.2.0-9/vmlinuz"));
    let e = check(t.root()).unwrap_err().to_string();
    assert!(e.contains("kernel: 2 kernels"), "{e}");
}

#[test]
fn no_kernel_and_no_initramfs_are_fatal() {
    let t = Tree::bootc();
    t.rm(&format!("usr/lib/modules/{KVER}/initramfs.img"));
    assert!(t.of("kernel")[0].message.contains("no initramfs.img"));
    t.rm("usr/lib/modules");
    t.file("boot/vmlinuz-6.1", "k");
    let f = t.of("kernel");
    assert!(f[0].message.starts_with("no kernel"), "{f:?}");
    assert!(f[0].message.contains("/boot/vmlinuz-6.1"), "{f:?}");
    // A module directory without a vmlinuz is not a kernel.
    t.mkdir("usr/lib/modules/extra");
    assert!(t.of("kernel")[0].message.starts_with("no kernel"));
}

#[test]
fn boot_must_be_empty() {
    let t = Tree::bootc();
    t.file("boot/vmlinuz-6.1", "k");
    t.mkdir("boot/loader/entries");
    let f = t.of("nonempty-boot");
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, Severity::Fatal);
    assert!(f[0].message.contains("/boot/vmlinuz-6.1"), "{f:?}");
    assert!(f[0].message.contains("/boot/loader"), "{f:?}");
    assert!(check(t.root())
        .unwrap_err()
        .to_string()
        .contains("nonempty-boot: "));
    t.rm("boot");
    assert_eq!(t.of("nonempty-boot")[0].message, "missing /boot directory");
}

#[test]
fn var_run_must_be_a_link_to_run() {
    let t = Tree::bootc();
    t.rm("var/run");
    assert_eq!(t.of("var-run"), vec![], "absent is fine");
    t.mkdir("var/run");
    let f = t.of("var-run");
    assert_eq!(f[0].severity, Severity::Fatal);
    assert!(f[0].message.contains("a directory"));
    t.rm("var/run");
    t.link("var/run", "/elsewhere");
    assert!(t.of("var-run")[0].message.contains("/elsewhere"));
}

#[test]
fn usr_etc_beside_etc_is_fatal() {
    let t = Tree::bootc();
    t.mkdir("usr/etc");
    let f = t.of("etc-usretc");
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, Severity::Fatal);
}

#[test]
fn kargs_files_are_checked_like_bootc() {
    let t = Tree::bootc();
    let d = "usr/lib/bootc/kargs.d";
    t.file(&format!("{d}/20-bad.toml"), "kargs = [\"a\"\n");
    t.file(
        &format!("{d}/30-types.toml"),
        "kargs = \"quiet\"\nmatch-architectures = [1]\n",
    );
    t.file(
        &format!("{d}/40-key.toml"),
        "kargs = []\narch = \"x86_64\"\n",
    );
    t.file(
        &format!("{d}/50-none.toml"),
        "match-architectures = [\"x86_64\"]\n",
    );
    t.file(&format!("{d}/README"), "not toml, not read");
    let f = t.of("bootc-kargs");
    let msgs: Vec<&str> = f.iter().map(|f| f.message.as_str()).collect();
    assert_eq!(msgs.len(), 4, "{msgs:?}");
    assert!(f.iter().all(|f| f.severity == Severity::Fatal));
    assert!(
        msgs[0].starts_with("/usr/lib/bootc/kargs.d/20-bad.toml: not valid TOML"),
        "{msgs:?}"
    );
    assert!(
        msgs[1].contains("`kargs` must be an array of strings, not string"),
        "{msgs:?}"
    );
    assert!(
        msgs[1].contains("`match-architectures` item 1 is integer"),
        "{msgs:?}"
    );
    assert!(msgs[2].contains("unknown key `arch`"), "{msgs:?}");
    assert!(msgs[3].contains("has no `kargs`"), "{msgs:?}");
}

#[test]
fn rendered_kargs_parse_back_and_pass() {
    let kargs = vec![
        "console=ttyS0,115200".to_string(),
        "quote=\"x\"".to_string(),
        "back\\slash".to_string(),
    ];
    let text = kargs::render(&kargs).unwrap();
    assert_eq!(kargs::validate(&text), Vec::<String>::new());
    let v: toml::Table = toml::from_str(&text).unwrap();
    let back: Vec<&str> = v["kargs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(back, kargs);
}

#[test]
fn a_derived_image_adds_its_kargs_beside_the_bases() {
    let t = Tree::bootc();
    let kargs = vec!["quiet".to_string(), "audit=0".to_string()];
    let f = add_kargs(t.root(), &kargs, "my derived/img", 1_700_000_000).unwrap();
    assert_eq!(
        f,
        "/usr/lib/bootc/kargs.d/20-image-builder-my_derived_img.toml"
    );
    let text = std::fs::read_to_string(t.p(&f[1..])).unwrap();
    assert_eq!(kargs::validate(&text), Vec::<String>::new());
    assert!(text.contains("kargs = [\"quiet\", \"audit=0\"]"), "{text}");
    // The base's file stays, and sorts first.
    assert!(t.p("usr/lib/bootc/kargs.d/10-console.toml").is_file());
    let m = std::fs::symlink_metadata(t.p(&f[1..])).unwrap();
    assert_eq!(m.mtime(), 1_700_000_000);
    assert_eq!(m.mode() & 0o777, 0o644);
    assert!(lint(t.root()).unwrap().is_empty());
}

#[test]
fn non_utf8_names_and_targets_are_fatal() {
    let t = Tree::bootc();
    t.mkdir("usr/share/x");
    let bad = std::ffi::OsStr::from_bytes(b"caf\xe9");
    std::fs::write(t.p("usr/share/x").join(bad), "").unwrap();
    symlink(bad, t.p("usr/share/link")).unwrap();
    let f = t.of("utf8");
    assert_eq!(f.len(), 2, "{f:?}");
    assert!(f.iter().all(|f| f.severity == Severity::Fatal));
    let all = format!("{f:?}");
    assert!(all.contains(r"/usr/share/x/caf\\xE9"), "{all}");
    assert!(all.contains("/usr/share/link"), "{all}");
}

#[test]
fn api_directories_must_be_directories() {
    let t = Tree::bootc();
    t.rm("proc");
    t.rm("tmp");
    t.file("tmp", "");
    let f = t.of("api-base-directories");
    let msgs: Vec<&str> = f.iter().map(|f| f.message.as_str()).collect();
    assert_eq!(
        msgs,
        [
            "API filesystem base directory /tmp is not a directory",
            "missing API filesystem base directory /proc",
        ]
    );
    assert!(f.iter().all(|f| f.severity == Severity::Fatal));
}

#[test]
fn sysroot_and_ostree_link() {
    let t = Tree::bootc();
    t.rm("ostree");
    t.rm("sysroot");
    let msgs: Vec<String> = t
        .of("baseimage-root")
        .into_iter()
        .map(|f| f.message)
        .collect();
    assert_eq!(
        msgs,
        ["missing /ostree -> sysroot/ostree", "missing /sysroot"]
    );
    t.mkdir("sysroot");
    t.link("ostree", "/sysroot/ostree");
    assert!(t.of("baseimage-root")[0]
        .message
        .contains("/ostree -> /sysroot/ostree"));
}

#[test]
fn var_log_content_is_only_a_warning() {
    let t = Tree::bootc();
    t.file("var/log/dnf.log", "installed things at 12:00");
    t.file("var/log/empty.log", "");
    t.file(
        "usr/lib/tmpfiles.d/var.conf",
        "d /var/log 0755 - - -\nf /var/log/dnf.log\nf /var/log/empty.log\n",
    );
    let all = t.lint();
    assert_eq!(fatal(&all), Vec::<&Finding>::new());
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].rule, "var-log");
    assert_eq!(all[0].severity, Severity::Warning);
    assert!(all[0].message.contains("/var/log/dnf.log"));
    assert!(!all[0].message.contains("empty.log"));
    // Warnings do not fail the check; they come back.
    assert_eq!(check(t.root()).unwrap(), all);
}

#[test]
fn var_content_without_tmpfiles_entries() {
    let t = Tree::bootc();
    t.file("var/lib/app/state", "x");
    t.mkdir("var/cache/app");
    t.mkdir("var/log/journal/0123abcd");
    t.file(
        "usr/lib/tmpfiles.d/app.conf",
        "# app\nd /var/cache 0755\nd /var/cache/app 0755 - -\nd /var/log\nd /var/log/journal\nd /var/log/journal/%m\n",
    );
    let f = t.of("var-tmpfiles");
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].severity, Severity::Warning);
    // /var/lib is reported once, not /var/lib/app/state beneath it.
    assert!(f[0].message.starts_with("1 path in /var"), "{f:?}");
    assert!(f[0].message.ends_with(": /var/lib"), "{f:?}");
    // An /etc file of the same name overrides, a /dev/null link masks.
    t.file(
        "etc/tmpfiles.d/app.conf",
        "d /var/lib\nd /var/lib/app\nf /var/lib/app/state\n",
    );
    let f = t.of("var-tmpfiles");
    assert!(f[0].message.contains("/var/cache"), "{f:?}");
    assert!(!f[0].message.contains("/var/lib"), "{f:?}");
    t.rm("etc/tmpfiles.d/app.conf");
    t.link("etc/tmpfiles.d/app.conf", "/dev/null");
    assert!(t.of("var-tmpfiles")[0].message.contains("/var/cache"));
}

#[test]
fn users_without_sysusers_entries() {
    let t = Tree::bootc();
    t.file(
        "etc/passwd",
        "root:x:0:0::/root:/bin/sh\nbin:x:1:1::/bin:/sbin/nologin\n",
    );
    t.file("etc/group", "root:x:0:\nbin:x:1:\nwheel:x:10:\n");
    t.file(
        "usr/lib/sysusers.d/basic.conf",
        "u root 0 \"Super User\" /root\ng wheel 10\n",
    );
    let f = t.of("sysusers");
    let msgs: Vec<&str> = f.iter().map(|f| f.message.as_str()).collect();
    assert_eq!(
        msgs,
        [
            "1 group in /etc/group without a sysusers.d entry: bin",
            "1 user in /etc/passwd without a sysusers.d entry: bin",
        ]
    );
    assert!(f.iter().all(|f| f.severity == Severity::Warning));
}

#[test]
fn composefs_must_be_enabled() {
    let t = Tree::bootc();
    t.file(
        "usr/lib/ostree/prepare-root.conf",
        "[composefs]\nenabled = no\n",
    );
    let f = t.of("baseimage-composefs");
    assert_eq!(f[0].severity, Severity::Warning);
    assert!(f[0].message.contains("enabled = no"));
    t.file(
        "usr/lib/ostree/prepare-root.conf",
        "[composefs]\nenabled=signed\n",
    );
    assert_eq!(t.of("baseimage-composefs"), vec![]);
    t.rm("usr/lib/ostree/prepare-root.conf");
    assert!(t.of("baseimage-composefs")[0]
        .message
        .contains("not present"));
}

#[test]
fn composefs_can_be_turned_off() {
    assert_eq!(
        composefs::set_enabled(None, "false"),
        "[composefs]\nenabled = false\n"
    );
    assert_eq!(
        composefs::set_enabled(
            Some("[composefs]\nenabled = yes\n[other]\nk = v\n"),
            "false"
        ),
        "[composefs]\nenabled = false\n[other]\nk = v\n"
    );
}

#[test]
fn prepare_root_merge_keeps_the_rest() {
    assert_eq!(composefs::merge(None), "[composefs]\nenabled = true\n");
    let shipped = "[sysroot]\nreadonly = true\n\n[composefs]\nenabled = no\nkeypath = /k\n[etc]\ntransient = true\n";
    let m = composefs::merge(Some(shipped));
    assert_eq!(
        m,
        "[sysroot]\nreadonly = true\n\n[composefs]\nenabled = true\nkeypath = /k\n[etc]\ntransient = true\n"
    );
    assert_eq!(composefs::enabled(&m), Some("true"));
    let no_group = composefs::merge(Some("[sysroot]\nreadonly = true\n"));
    assert_eq!(
        no_group,
        "[sysroot]\nreadonly = true\n\n[composefs]\nenabled = true\n"
    );
    let no_key = composefs::merge(Some("[composefs]\nkeypath = /k\n[etc]\n"));
    assert_eq!(no_key, "[composefs]\nkeypath = /k\nenabled = true\n[etc]\n");
    // A stronger setting stays.
    let signed = "[composefs]\nenabled = signed\n";
    assert_eq!(composefs::merge(Some(signed)), signed);
}

#[test]
fn run_and_tmp_content_warns() {
    let t = Tree::bootc();
    t.file("tmp/leftover", "x");
    let f = t.of("nonempty-run-tmp");
    assert_eq!(f[0].severity, Severity::Warning);
    assert!(f[0].message.contains("/tmp/leftover"));
}

#[test]
fn findings_are_sorted_fatal_first() {
    let t = Tree::bootc();
    t.file("var/log/x.log", "x");
    t.file("boot/x", "x");
    t.rm("proc");
    let f = t.lint();
    let keys: Vec<(Severity, &str)> = f.iter().map(|f| (f.severity, f.rule)).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    assert_eq!(keys.first().unwrap().0, Severity::Fatal);
    assert_eq!(keys.last().unwrap().0, Severity::Warning);
    assert_eq!(lint(t.root()).unwrap(), f, "deterministic");
    let e = check(t.root()).unwrap_err().to_string();
    assert!(
        e.contains("api-base-directories: missing API filesystem base directory /proc"),
        "{e}"
    );
    assert!(e.contains("nonempty-boot: /boot must be empty"), "{e}");
    assert!(!e.contains("var-log"), "warnings are not in the error: {e}");
}

#[test]
fn lint_refuses_what_is_not_a_directory() {
    let t = Tree::bootc();
    assert!(lint(&t.p("nope")).is_err());
    assert!(lint(&t.p("usr/lib/modules").join(KVER).join("vmlinuz")).is_err());
}

fn options(kargs: &[String]) -> Options<'_> {
    Options {
        kargs,
        arch: crate::distro::arch::lookup("x86_64").unwrap(),
        distro: crate::distro::lookup("fixture").unwrap().unwrap(),
        source_date_epoch: 1_700_000_000,
    }
}

/// A package-installed tree without merged /usr: the kernel in
/// /lib/modules (its initramfs made already), scriptlet copies in /boot,
/// /var/run a directory, no /proc /sys /tmp /sysroot.
fn installed_tree() -> Tree {
    let t = Tree {
        dir: tempfile::tempdir().unwrap(),
    };
    for d in ["dev", "run", "etc", "usr/lib", "var/lib"] {
        t.mkdir(d);
    }
    t.file(&format!("lib/modules/{KVER}/vmlinuz"), "kernel");
    t.file(&format!("lib/modules/{KVER}/modules.dep"), "");
    t.file(&format!("lib/modules/{KVER}/initramfs.img"), "initrd");
    t.file(&format!("boot/vmlinuz-{KVER}"), "kernel");
    t.file(&format!("boot/loader/entries/x-{KVER}.conf"), "title x");
    t.file("boot/efi/EFI/almalinux/shimx64.efi", "shim");
    t.mkdir("var/run");
    t.file("etc/machine-id", "0123456789abcdef0123456789abcdef\n");
    t
}

#[test]
fn prepare_makes_the_layout() {
    let t = installed_tree();
    let kargs = vec!["console=ttyS0".to_string(), "a=\"b c\"".to_string()];
    let p = prepare(t.root(), &options(&kargs)).unwrap();
    assert_eq!(p.kernel, KVER);
    let f = t.lint();
    assert_eq!(fatal(&f), Vec::<&Finding>::new(), "{f:?}");
    assert!(t.p(&format!("usr/lib/modules/{KVER}/vmlinuz")).is_file());
    assert_eq!(
        std::fs::read_link(t.p("lib/modules")).unwrap(),
        Path::new("../usr/lib/modules")
    );
    assert_eq!(std::fs::read_dir(t.p("boot")).unwrap().count(), 0);
    // The vendor's EFI binaries are where bootupd takes them from.
    assert_eq!(
        std::fs::read(t.p("usr/lib/bootupd/updates/EFI/almalinux/shimx64.efi")).unwrap(),
        b"shim"
    );
    assert_eq!(
        std::fs::read_link(t.p("var/run")).unwrap(),
        Path::new("../run")
    );
    assert_eq!(
        std::fs::read_link(t.p("ostree")).unwrap(),
        Path::new("sysroot/ostree")
    );
    assert_eq!(std::fs::read(t.p("etc/machine-id")).unwrap(), b"");
    let mode = |d: &str| std::fs::metadata(t.p(d)).unwrap().permissions().mode() & 0o7777;
    assert_eq!(
        (mode("tmp"), mode("proc"), mode("sysroot")),
        (0o1777, 0o555, 0o755)
    );
    let conf = std::fs::read_to_string(t.p(composefs::CONF)).unwrap();
    // The fixture's libostree (Debian's 2022.7) has no composefs.
    assert_eq!(composefs::enabled(&conf), Some("false"));
    let text = std::fs::read_to_string(t.p("usr/lib/bootc/kargs.d/10-image-builder.toml")).unwrap();
    let v: toml::Table = toml::from_str(&text).unwrap();
    assert_eq!(v["kargs"], toml::Value::try_from(&kargs).unwrap());
    // What prepare made carries SOURCE_DATE_EPOCH.
    for rel in [
        "sysroot",
        "ostree",
        "var/run",
        "boot",
        "tmp",
        "usr/lib/bootc/kargs.d/10-image-builder.toml",
        "usr/lib/bootc/kargs.d",
        "usr/lib/ostree/prepare-root.conf",
        "etc/machine-id",
        "lib/modules",
        "usr/lib/modules",
    ] {
        let m = std::fs::symlink_metadata(t.p(rel)).unwrap();
        assert_eq!(m.mtime(), 1_700_000_000, "{rel}");
    }
    // Prepared again: nothing changes.
    let before = t.lint();
    assert_eq!(prepare(t.root(), &options(&kargs)).unwrap(), p);
    assert_eq!(t.lint(), before);
}

#[test]
fn prepare_without_kargs_writes_no_kargs_file() {
    let t = installed_tree();
    prepare(t.root(), &options(&[])).unwrap();
    assert!(!t.p("usr/lib/bootc/kargs.d").exists());
}

#[test]
fn prepare_refuses_two_kernels_or_none() {
    let t = installed_tree();
    t.file("usr/lib/modules/6.9.0/vmlinuz", "k2");
    let err = prepare(t.root(), &options(&[])).unwrap_err();
    assert_eq!(crate::error::exit_code(&err), 2, "the manifest's fault");
    let e = err.to_string();
    assert!(e.contains("2 kernels"), "{e}");
    assert!(e.contains(&format!("/lib/modules/{KVER}/vmlinuz")), "{e}");
    assert!(e.contains("/usr/lib/modules/6.9.0/vmlinuz"), "{e}");
    let t = installed_tree();
    t.rm("lib/modules");
    let e = prepare(t.root(), &options(&[])).unwrap_err().to_string();
    assert!(e.contains("no kernel") && e.contains("kernel-core"), "{e}");
}
