//! `[[build.script]]` end to end on the fixture distribution: a script
//! from a file edits a file a package shipped and enables a systemd unit,
//! an inline one records its environment; both effects are in the
//! directory and in the tar (each output runs the scripts on its own
//! tree). A changed script makes the lock stale; a failing script fails
//! the build naming it, its status and its last output; the network is
//! off unless the script asks for it; nothing stays mounted.

mod common;

use common::cli::{s, text, Env};
use std::io::{Read, Write};
use std::process::Command;

const UNIT: &str = "systemd-boot-check-no-failures.service";

fn manifest(scripts: &str) -> String {
    format!(
        "name = \"bs\"\ndistro = \"fixture\"\narchitecture = \"x86_64\"\n\
         packages = [{{ name = \"systemd\" }}, {{ name = \"busybox\" }}, {{ name = \"fixture-release\" }}]\n\
         [[output]]\ntype = \"directory\"\n\
         {scripts}"
    )
}

const SETUP_SH: &str = "set -e\n\
    sed -i 's/^NAME=.*/NAME=\"Scripted Fixture\"/' /etc/os-release\n\
    systemctl enable systemd-boot-check-no-failures.service\n\
    test -e /proc/self/status && test -d /sys/kernel && test -c /dev/null\n\
    echo setup-done\n";

fn mounts_under(p: &std::path::Path) -> Vec<String> {
    let m = std::fs::read_to_string("/proc/self/mounts").unwrap();
    let p = p.display().to_string();
    m.lines()
        .filter(|l| l.contains(&p))
        .map(str::to_string)
        .collect()
}

#[test]
fn scripts_change_the_tree_and_the_lock() {
    let env = Env::new();
    std::fs::create_dir(env.path("scripts")).unwrap();
    std::fs::write(env.path("scripts/setup.sh"), SETUP_SH).unwrap();
    let m = env.manifest(
        "bs.toml",
        &format!(
            "{}[[output]]\ntype = \"tar\"\n",
            manifest(
                "[[build.script]]\nname = \"setup\"\nfile = \"scripts/setup.sh\"\n\
                 [[build.script]]\nrun = '''\n\
                 echo \"$IMAGE_BUILDER_ARCH $IMAGE_BUILDER_OUTPUT $SOURCE_DATE_EPOCH\" > /etc/scripted-for\n\
                 echo to-stderr >&2\n'''\n",
            )
        ),
    );
    // `plan` shows both, with the file's digest.
    let o = env.run(&["plan", s(&m)]);
    assert!(o.status.success(), "{}", text(&o));
    let plan = text(&o);
    let sha = Command::new("sha256sum")
        .arg(env.path("scripts/setup.sh"))
        .output()
        .unwrap();
    let sha = String::from_utf8_lossy(&sha.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert!(
        plan.contains(&format!(
            "script \"setup\": scripts/setup.sh via /bin/sh, network off, sha256:{sha}"
        )),
        "{plan}"
    );
    assert!(
        plan.contains("script \"script 2\": inline via /bin/sh, network off"),
        "{plan}"
    );

    let out = env.path("out");
    let o = env.run(&["build", "-o", s(&out), s(&m)]);
    assert!(o.status.success(), "{}", text(&o));
    // Their output is in the build log, stderr too, named.
    let log = text(&o);
    assert!(log.contains("[setup] setup-done"), "{log}");
    assert!(log.contains("[script 2] to-stderr"), "{log}");

    let d = out.join("bs-x86_64");
    let os = std::fs::read_to_string(d.join("etc/os-release")).unwrap();
    assert!(os.contains("NAME=\"Scripted Fixture\""), "{os}");
    let link = d
        .join("etc/systemd/system/boot-complete.target.requires")
        .join(UNIT);
    assert!(link.is_symlink(), "{} is not enabled", UNIT);
    let env_line = std::fs::read_to_string(d.join("etc/scripted-for")).unwrap();
    let f: Vec<&str> = env_line.split_whitespace().collect();
    assert_eq!(f[..2], ["x86_64", "directory"], "{env_line}");
    assert!(f[2].parse::<i64>().unwrap() > 0, "{env_line}");
    // The sandbox's mount points were not left in the tree (the fixture
    // has no `filesystem` package), and nothing is mounted.
    assert!(!d.join("proc").exists() && !d.join("run").exists());
    assert!(mounts_under(env.dir.path()).is_empty());
    // The tar's tree ran the scripts for the tar.
    let tar = out.join("bs-x86_64.tar");
    let x = |p: &str| {
        let o = Command::new("tar")
            .arg("-xOf")
            .arg(&tar)
            .arg(p)
            .output()
            .unwrap();
        assert!(o.status.success(), "{p}: {}", text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    assert!(x("etc/os-release").contains("Scripted Fixture"));
    assert!(x("etc/scripted-for").starts_with("x86_64 tar "));

    // The lock records the scripts; --check passes, then a changed script
    // file makes it stale for --check and --locked alike.
    let lock = std::fs::read_to_string(env.path("bs.lock")).unwrap();
    assert!(lock.contains("[[target.request.script]]"), "{lock}");
    assert!(lock.contains(&format!("sha256:{sha}")), "{lock}");
    let o = env.run(&["lock", "--check", s(&m)]);
    assert!(o.status.success(), "{}", text(&o));
    std::fs::write(
        env.path("scripts/setup.sh"),
        format!("{SETUP_SH}echo more\n"),
    )
    .unwrap();
    for args in [vec!["lock", "--check"], vec!["build", "--locked", "-o"]] {
        let mut a = args.clone();
        let out2 = env.path("out2");
        if a.last() == Some(&"-o") {
            a.push(s(&out2));
        }
        a.push(s(&m));
        let o = env.run(&a);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(
            text(&o).contains("x86_64/directory: build scripts changed: \"setup\" changed"),
            "{}",
            text(&o)
        );
    }
}

#[test]
fn a_failing_script_fails_the_build_naming_it() {
    let env = Env::new();
    let m = env.manifest(
        "f.toml",
        &manifest(
            "[[build.script]]\nname = \"fine\"\nrun = \"true\"\n\
             [[build.script]]\nname = \"boom\"\nrun = \"echo first-line\\necho last-words >&2\\nexit 7\\n\"\n\
             [[build.script]]\nname = \"never\"\nrun = \"echo never-runs\"\n",
        ),
    );
    let out = env.path("out");
    let o = env.run(&["build", "-o", s(&out), s(&m)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("build script \"boom\" failed with exit status 7"),
        "{t}"
    );
    assert!(t.contains("first-line\nlast-words"), "{t}");
    assert!(!t.contains("never-runs"), "{t}");
    assert!(!out.join("f-x86_64").exists());
    assert!(mounts_under(env.dir.path()).is_empty());

    // An interpreter the tree does not have: a clear error, nothing run.
    let m = env.manifest(
        "i.toml",
        &manifest("[[build.script]]\nrun = \"print(1)\"\ninterpreter = \"/usr/bin/python3\"\n"),
    );
    let o = env.run(&["build", "-o", s(&out), s(&m)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains(
            "build script \"script 1\": its interpreter /usr/bin/python3 is not an executable file in the tree"
        ),
        "{}",
        text(&o)
    );
}

#[test]
fn the_network_is_off_unless_asked_for() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for c in listener.incoming() {
            let Ok(mut c) = c else { continue };
            let mut b = [0u8; 16];
            let _ = c.read(&mut b);
            let _ = c.write_all(b"pong\n");
        }
    });
    let script = |network: bool| {
        manifest(&format!(
            "[[build.script]]\nname = \"reach\"\nnetwork = {network}\n\
             run = \"set -e\\necho ping | nc 127.0.0.1 {port} > /etc/net-result\\n\"\n"
        ))
    };
    let env = Env::new();
    let out = env.path("out");
    let m = env.manifest("off.toml", &script(false));
    let o = env.run(&["build", "-o", s(&out), s(&m)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("build script \"reach\" failed"),
        "{}",
        text(&o)
    );
    let m = env.manifest("on.toml", &script(true));
    let o = env.run(&["build", "-o", s(&out), s(&m)]);
    assert!(o.status.success(), "{}", text(&o));
    let got = std::fs::read_to_string(out.join("bs-x86_64/etc/net-result")).unwrap();
    assert_eq!(got, "pong\n");
}
