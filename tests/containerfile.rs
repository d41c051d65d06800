//! The builder's own container image installs every host program the code
//! runs (src/tools/inventory.rs, which debug builds enforce at every
//! spawn), nothing is spawned by name without being declared, and
//! hadolint accepts the Containerfile.

mod common;

use alma_image_builder::tools::inventory::{lookup, HOST_TOOLS};
use std::collections::BTreeSet;
use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Packages the last stage's `dnf install` lines name.
fn runtime_packages(containerfile: &str) -> BTreeSet<String> {
    let last = containerfile
        .rsplit_once("\nFROM ")
        .map(|(_, s)| s)
        .unwrap_or(containerfile);
    let joined = last.replace("\\\n", " ");
    let mut pkgs = BTreeSet::new();
    for line in joined
        .lines()
        .filter(|l| l.trim_start().starts_with("RUN "))
    {
        for cmd in line.split("&&") {
            let words: Vec<&str> = cmd.split_whitespace().collect();
            if let Some(i) = words.iter().position(|w| *w == "install") {
                if words[..i].contains(&"dnf") {
                    pkgs.extend(
                        words[i + 1..]
                            .iter()
                            .filter(|w| !w.starts_with('-'))
                            .map(|w| w.to_string()),
                    );
                }
            }
        }
    }
    pkgs
}

#[test]
fn containerfile_installs_every_declared_tool_and_nothing_else() {
    let text = std::fs::read_to_string(root().join("Containerfile")).unwrap();
    let got = runtime_packages(&text);
    let want: BTreeSet<String> = HOST_TOOLS
        .iter()
        .filter_map(|t| t.almalinux.map(str::to_string))
        // Not a tool: the resolver's shared library.
        .chain(["libsolv".to_string()])
        .collect();
    assert_eq!(
        got, want,
        "Containerfile runtime packages vs src/tools/inventory.rs"
    );
    // Programs AlmaLinux ships under another name are linked.
    for (from, to) in [
        ("/usr/bin/grub2-mkimage", "grub-mkimage"),
        ("/usr/libexec/qemu-kvm", "qemu-system-x86_64"),
    ] {
        assert!(
            text.contains(&format!("ln -s {from} /usr/local/bin/{to}")),
            "the Containerfile links {to}"
        );
    }
}

/// Every program named by a literal at a spawn site is declared (the debug
/// build's runtime check covers names made at run time).
#[test]
fn every_spawned_literal_is_declared() {
    let spawners = [
        "run(",
        "run_with_env(",
        "run_any_status(",
        "run_with_stdin(",
        "spawn(",
    ];
    let mut undeclared = vec![];
    let mut stack = vec![root().join("src")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if p.extension().is_none_or(|x| x != "rs") {
                continue;
            }
            let s = std::fs::read_to_string(&p).unwrap();
            for f in spawners {
                let pat = format!("tools::{f}");
                for (i, _) in s.match_indices(&pat) {
                    let rest = s[i + pat.len()..].trim_start();
                    if let Some(lit) = rest.strip_prefix('"') {
                        let name = &lit[..lit.find('"').unwrap()];
                        if lookup(name).is_none() {
                            undeclared.push(format!("{}: {name}", p.display()));
                        }
                    }
                }
            }
        }
    }
    assert!(
        undeclared.is_empty(),
        "undeclared host programs: {undeclared:?}"
    );
}

#[test]
fn hadolint_accepts_the_containerfile() {
    let venv =
        std::env::var("IMAGE_BUILDER_PYVENV").unwrap_or_else(|_| "/opt/image-builder-py".into());
    let hadolint = Path::new(&venv).join("bin/hadolint");
    if !hadolint.is_file() {
        common::skip::skip("hadolint: not installed (scripts/install-deps.sh installs it)");
        return;
    }
    let o = std::process::Command::new(&hadolint)
        .arg(root().join("Containerfile"))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}
