//! Tests of the users and groups customization over real account files.

use super::super::testtree::TestTree;
use super::crypt::{derived_salt, openssl_sha512};
use super::*;

fn user(name: &str) -> User {
    User {
        name: name.into(),
        ..Default::default()
    }
}

fn shadow_fields(t: &TestTree, name: &str) -> Vec<String> {
    let s = t.read("/etc/shadow");
    let line = s
        .lines()
        .find(|l| l.starts_with(&format!("{name}:")))
        .unwrap();
    line.split(':').map(String::from).collect()
}

#[test]
fn new_user_in_an_empty_tree() {
    let t = TestTree::new();
    t.write("/etc/skel/.bashrc", "# bashrc\n");
    std::os::unix::fs::symlink(".bashrc", t.host("/etc/skel/.kshrc")).unwrap();
    let mut u = user("alice");
    u.description = Some("Alice A.".into());
    u.password = Some("secret".into());
    u.key = Some("ssh-ed25519 AAAA alice@host".into());
    apply(&t.env, &[u], &[], &[]).unwrap();
    assert_eq!(
        t.read("/etc/passwd"),
        "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000:Alice A.:/home/alice:/bin/bash\n"
    );
    assert_eq!(t.read("/etc/group"), "root:x:0:\nalice:x:1000:\n");
    assert_eq!(t.read("/etc/gshadow"), "root:!::\nalice:!::\n");
    let sh = shadow_fields(&t, "alice");
    let expected = openssl_sha512(&derived_salt("alice", "secret"), "secret");
    assert_eq!(sh[1], expected);
    assert_eq!(sh[2], (1_700_000_000 / 86_400).to_string());
    assert_eq!(sh.len(), 9);
    assert_eq!(t.mode("/etc/shadow"), 0);
    assert_eq!(t.mode("/etc/gshadow"), 0);
    assert_eq!(t.mode("/etc/passwd"), 0o644);
    let home = std::fs::metadata(t.host("/home/alice")).unwrap();
    assert_eq!(
        (home.mode() & 0o7777, home.uid(), home.gid()),
        (0o700, 1000, 1000)
    );
    assert_eq!(t.read("/home/alice/.bashrc"), "# bashrc\n");
    assert_eq!(
        std::fs::metadata(t.host("/home/alice/.bashrc"))
            .unwrap()
            .uid(),
        1000
    );
    let link = std::fs::symlink_metadata(t.host("/home/alice/.kshrc")).unwrap();
    assert!(link.file_type().is_symlink() && link.uid() == 1000);
    assert_eq!(
        t.read("/home/alice/.ssh/authorized_keys"),
        "ssh-ed25519 AAAA alice@host\n"
    );
    let k = std::fs::metadata(t.host("/home/alice/.ssh/authorized_keys")).unwrap();
    assert_eq!((k.mode() & 0o7777, k.uid(), k.gid()), (0o600, 1000, 1000));
    let d = std::fs::metadata(t.host("/home/alice/.ssh")).unwrap();
    assert_eq!((d.mode() & 0o7777, d.uid()), (0o700, 1000));
}

#[test]
fn ids_follow_login_defs_and_groups_come_first() {
    let t = TestTree::new();
    t.write(
        "/etc/login.defs",
        "# c\nUID_MIN  2000\nGID_MIN\t2000\nPASS_MAX_DAYS 90\n",
    );
    t.write(
        "/etc/passwd",
        "root:x:0:0:root:/root:/bin/bash\nold:x:2000:2000::/home/old:/bin/sh\n",
    );
    t.write(
        "/etc/group",
        "root:x:0:\nwheel:x:10:\nold:x:2000:\ntaken:x:2001:\n",
    );
    t.write("/etc/shadow", "root:!::0:99999:7:::\n");
    std::fs::set_permissions(
        t.host("/etc/shadow"),
        std::fs::Permissions::from_mode(0o400),
    )
    .unwrap();
    let groups = [
        GroupCustomization {
            name: "devs".into(),
            gid: None,
        },
        GroupCustomization {
            name: "ops".into(),
            gid: Some(3000),
        },
    ];
    let mut bob = user("bob");
    bob.groups = vec!["wheel".into(), "devs".into()];
    bob.home = Some("/srv/bob/".into());
    bob.shell = Some("/bin/zsh".into());
    let mut carol = user("carol");
    carol.uid = Some(5000);
    carol.gid = Some(3000);
    apply(&t.env, &[bob, carol], &groups, &[]).unwrap();
    let passwd = t.read("/etc/passwd");
    // 2001 is the first free uid; gid 2001 is taken, so bob's group gets the next free gid
    assert!(
        passwd.contains("\nbob:x:2001:2003::/srv/bob:/bin/zsh\n"),
        "{passwd}"
    );
    assert!(
        passwd.contains("\ncarol:x:5000:3000::/home/carol:/bin/bash\n"),
        "{passwd}"
    );
    let group = t.read("/etc/group");
    assert!(group.contains("\nwheel:x:10:bob\n"), "{group}");
    assert!(group.contains("\ndevs:x:2002:bob\n"), "{group}");
    assert!(group.contains("\nops:x:3000:\n"), "{group}");
    assert!(group.contains("\nbob:x:2003:\n"), "{group}");
    assert!(!group.contains("carol"), "{group}");
    assert_eq!(
        shadow_fields(&t, "bob")[1..6],
        ["!!", "19675", "0", "90", "7"]
    );
    assert_eq!(t.mode("/etc/shadow"), 0o400);
    assert!(t.host("/srv/bob").is_dir());
}

#[test]
fn errors_name_the_group_or_user() {
    let t = TestTree::new();
    let mut u = user("dave");
    u.groups = vec!["nosuchgroup".into()];
    let e = format!("{:#}", apply(&t.env, &[u], &[], &[]).unwrap_err());
    assert!(e.contains("user dave") && e.contains("nosuchgroup"), "{e}");
    assert!(
        !t.host("/etc/passwd").exists(),
        "nothing written on failure"
    );
    let k = SshKey {
        user: "ghost".into(),
        key: "ssh-rsa AAA".into(),
    };
    let e = format!("{:#}", apply(&t.env, &[], &[], &[k]).unwrap_err());
    assert!(e.contains("ghost"), "{e}");
    let g = GroupCustomization {
        name: "root".into(),
        gid: Some(5),
    };
    let e = format!("{:#}", apply(&t.env, &[], &[g], &[]).unwrap_err());
    assert!(e.contains("group root") && e.contains("gid 0"), "{e}");
    let e = format!(
        "{:#}",
        apply(&t.env, &[user("bad:name")], &[], &[]).unwrap_err()
    );
    assert!(e.contains("bad:name"), "{e}");
    let mut u = user("eve");
    u.description = Some("a:b".into());
    assert!(apply(&t.env, &[u], &[], &[]).is_err());
}

/// A well-formed SHA-512 crypt hash (kept as is).
const HASH: &str =
    "$6$abc$hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh";

#[test]
fn existing_user_updated_and_legacy_keys_appended() {
    let t = TestTree::new();
    t.write("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n");
    t.write("/etc/shadow", "root:*:18000:0:99999:7:::\n");
    std::fs::create_dir_all(t.host("/root/.ssh")).unwrap();
    t.write("/root/.ssh/authorized_keys", "ssh-rsa OLD old\n");
    let mut root = user("root");
    root.password = Some(HASH.into());
    root.force_password_reset = Some(true);
    root.expiredate = Some(20000);
    apply(&t.env, &[root], &[], &[]).unwrap();
    assert_eq!(
        t.read("/etc/shadow"),
        format!("root:{HASH}:0:0:99999:7::20000:\n")
    );
    assert_eq!(t.read("/etc/passwd"), "root:x:0:0:root:/root:/bin/bash\n");
    assert_eq!(t.read("/root/.ssh/authorized_keys"), "ssh-rsa OLD old\n");
    let k = SshKey {
        user: "root".into(),
        key: "ssh-ed25519 NEW new".into(),
    };
    apply(&t.env, &[], &[], &[k.clone(), k]).unwrap();
    assert_eq!(
        t.read("/root/.ssh/authorized_keys"),
        "ssh-rsa OLD old\nssh-ed25519 NEW new\n"
    );
}

#[test]
fn subids_and_seeded_shadow() {
    let t = TestTree::new();
    t.write(
        "/etc/passwd",
        "root:x:0:0:root:/root:/bin/bash\nbin:x:1:1:bin:/bin:/sbin/nologin\n",
    );
    t.write("/etc/group", "root:x:0:\nbin:x:1:root\n");
    t.write("/etc/subuid", "");
    t.write("/etc/subgid", "old:100000:65536\n");
    apply(&t.env, &[user("u1"), user("u2")], &[], &[]).unwrap();
    assert_eq!(t.read("/etc/subuid"), "u1:100000:65536\nu2:165536:65536\n");
    assert_eq!(
        t.read("/etc/subgid"),
        "old:100000:65536\nu1:165536:65536\nu2:231072:65536\n"
    );
    let shadow = t.read("/etc/shadow");
    assert!(
        shadow.starts_with("root:!::0:99999:7:::\nbin:!::0:99999:7:::\nu1:!!:19675:"),
        "{shadow}"
    );
    assert!(t
        .read("/etc/gshadow")
        .starts_with("root:!::\nbin:!::root\nu1:!::\n"));
}

#[test]
fn builds_are_reproducible() {
    let run = || {
        let t = TestTree::new();
        let mut u = user("alice");
        u.password = Some("pw".into());
        apply(&t.env, &[u], &[], &[]).unwrap();
        (t.read("/etc/shadow"), t.read("/etc/passwd"))
    };
    assert_eq!(run(), run());
}
