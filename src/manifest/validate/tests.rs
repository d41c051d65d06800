//! The other side of tests/malformed: valid values of every family pass,
//! so the rules refuse nothing osbuild and the build accept.

use super::*;
use crate::manifest::parse;
use std::path::Path;

const EVERYTHING: &str = r##"
name = "every-family"
[[containers]]
source = "quay.io/fedora/fedora:latest"
[[output]]
type = "iso-installer"
[output.iso]
volume_id = "ALMA-10_x86_64"
[boot]
cmdline = ["console=ttyS0", "quiet"]
[[repositories]]
id = "extra:1"
baseurl = ["https://example.org/a", "file:///srv/repo"]
[customizations]
hostname = "web-01.example.com"
installation_device = "/dev/vda"
fips = true
[customizations.kernel]
name = "kernel-debug"
append = "nosmt a=\"b\""
[[customizations.sshkey]]
user = "root"
key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG5o root@host"
[[customizations.user]]
name = "alice"
description = "Alice A."
password = "$6$saltsalt$aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
key = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ alice@laptop"
home = "/srv/alice/"
shell = "/bin/zsh"
groups = ["wheel", "devs"]
uid = 1200
gid = 1200
expiredate = -1
[[customizations.user]]
name = "bob"
password = "plain text secret"
uid = 1201
[[customizations.group]]
name = "devs"
gid = 1300
[customizations.timezone]
timezone = "Europe/Prague"
ntpservers = ["0.pool.ntp.org", "10.0.0.1", "fe80::1"]
[customizations.locale]
languages = ["en_US.UTF-8", "C.UTF-8", "de_DE@euro"]
keyboard = "de-nodeadkeys"
[customizations.firewall]
ports = ["22:tcp", "30000-32767:udp", "imap:tcp", "http-alt:tcp"]
[customizations.firewall.services]
enabled = ["ftp"]
disabled = ["telnet"]
[[customizations.firewall.zones]]
name = "trusted"
sources = ["10.0.0.0/8", "ipset:office", "00:11:22:33:44:55"]
[customizations.services]
enabled = ["sshd", "getty@tty1", "fstrim.timer"]
disabled = ["kdump"]
masked = ["rpcbind.socket"]
[[customizations.directories]]
path = "/srv/app"
user = "alice"
group = 1300
mode = "0750"
ensure_parents = true
[[customizations.files]]
path = "/srv/app/config.toml"
data = "x = 1\n"
user = 1200
mode = "0640"
[[customizations.repositories]]
id = "epel"
baseurls = ["https://example.org/epel/$releasever"]
gpgkeys = ["https://example.org/RPM-GPG-KEY"]
filename = "epel"
[customizations.rpm.import_keys]
files = ["/etc/pki/rpm-gpg/RPM-GPG-KEY-extra"]
[customizations.sshd]
client_alive_interval = 300
permit_root_login = "prohibit-password"
[customizations.openscap]
profile_id = "xccdf_org.ssgproject.content_profile_cis"
[customizations.openscap.tailoring]
selected = ["xccdf_org.ssgproject.content_rule_a"]
unselected = ["b"]
[[customizations.firstboot.scripts]]
type = "custom"
name = "setup"
after = ["network-online.target"]
contents = "#!/bin/sh\ntrue\n"
[[customizations.firstboot.scripts]]
type = "aap"
job_template_url = "https://aap.example.org/api/v2/job_templates/9/callback/"
host_config_key = "k"
[customizations.containers-storage]
destination-path = "/usr/share/containers/storage"
[customizations.installer]
sudo-nopasswd = ["alice", "%wheel"]
[customizations.installer.modules]
enable = ["org.fedoraproject.Anaconda.Modules.Localization"]
[customizations.iso]
volume_id = "ALMA_10"
[customizations.fdo]
manufacturing_server_url = "https://fdo.example.org"
diun_pub_key_insecure = "true"
[customizations.ignition.firstboot]
url = "https://example.org/config.ign"
"##;

#[test]
fn valid_values_of_every_family_pass() {
    let doc = parse(EVERYTHING, Path::new("everything.toml")).unwrap();
    let sel = Selection {
        arches: vec!["x86_64".into()],
        ..Default::default()
    };
    if let Err(d) = check(&doc, &sel) {
        let all: Vec<String> = d.iter().map(|d| d.to_string()).collect();
        panic!("{}", all.join("\n\n"));
    }
}

#[test]
fn refusals_carry_the_rules_hint() {
    let doc = parse(
        "[customizations]\nhostname = \"a b\"\n",
        Path::new("m.toml"),
    )
    .unwrap();
    let d = check(&doc, &Selection::default()).unwrap_err();
    assert_eq!((d[0].line, d[0].column), (2, 12));
    assert!(
        d[0].hints[0].contains("RFC") || d[0].hints[0].contains("labels"),
        "{:?}",
        d[0]
    );
}

#[test]
fn build_scripts_are_judged_at_their_keys() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("setup.sh"), "echo hi\n").unwrap();
    std::fs::create_dir(dir.path().join("adir")).unwrap();
    let judge = |body: &str| {
        let doc = parse(
            &format!("[[output]]\ntype = \"tar\"\n{body}"),
            &dir.path().join("m.toml"),
        )
        .unwrap();
        match check(&doc, &Selection::default()) {
            Ok(_) => vec![],
            Err(d) => d
                .iter()
                .map(|d| format!("{}:{} {}", d.line, d.column, d.message))
                .collect::<Vec<_>>(),
        }
    };
    // Valid: a file beside the manifest, inline, an interpreter, names.
    let ok = judge(
        "[[build.script]]\nfile = \"setup.sh\"\n\
         [[build.script]]\nname = \"two\"\nrun = \"true\"\ninterpreter = \"/usr/bin/bash\"\nnetwork = true\n\
         [[build.script]]\nrun = \"true\"\n",
    );
    assert!(ok.is_empty(), "{ok:?}");
    for (body, want) in [
        (
            "[[build.script]]\nrun = \"x\"\nfile = \"setup.sh\"\n",
            "5:8 give either `run` or `file`, not both",
        ),
        (
            "[[build.script]]\nname = \"n\"\n",
            "3:1 a build script needs `run` or `file`",
        ),
        ("[[build.script]]\nfile = \"missing.sh\"\n", "4:8 build script "),
        ("[[build.script]]\nfile = \"adir\"\n", "is not a regular file"),
        (
            "[[build.script]]\nrun = \"x\"\ninterpreter = \"bash\"\n",
            "5:15 interpreter \"bash\" is not an absolute path",
        ),
        (
            "[[build.script]]\nname = \"a\"\nrun = \"x\"\n[[build.script]]\nname = \"a\"\nrun = \"y\"\n",
            "7:8 build.script[0] is also named \"a\"",
        ),
        (
            // A name that takes another script's default.
            "[[build.script]]\nrun = \"x\"\n[[build.script]]\nname = \"script 1\"\nrun = \"y\"\n",
            "6:8 build.script[0] is also named \"script 1\"",
        ),
        (
            "[[build.script]]\nname = \"\"\nrun = \"x\"\n",
            "4:8 a build script's name is empty",
        ),
    ] {
        let got = judge(body);
        assert!(
            got.iter().any(|g| g.contains(want)),
            "{body}: want {want:?}, got {got:?}"
        );
    }
}
