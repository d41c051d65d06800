//! The `ostree` output end to end on the fixture distribution, checked
//! with libostree's own CLI: the tar holds an `archive` repository that
//! `ostree fsck` accepts, the ref points at a bootable commit laid out as
//! rpm-ostree composes it (kernel and initramfs under
//! `/usr/lib/modules/KVER`, `/usr/etc`, no `/etc` or `/var` contents, the
//! rpm database under `/usr/share/rpm`), the commit time and the summary's
//! last-modified time are the build's SOURCE_DATE_EPOCH, two builds from
//! one lockfile give the same checksum and the same tar bytes, and a build
//! with `parent` and `url` follows the first commit and is GPG-signed.

mod common;

use common::cli::{s, text, Env};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

const MANIFEST: &str = r#"
name = "fx-ostree"
distro = "fixture"
architecture = "x86_64"

[customizations]
hostname = "fx-ostree"

[customizations.kernel]
append = "loglevel=4"

[[output]]
type = "ostree"
[output.ostree]
ref = "fixture/1/x86_64/edge"
"#;

/// `ostree ARGS` against `repo`; panics with its output on failure.
fn ostree(repo: &Path, args: &[&str]) -> String {
    let repo = format!("--repo={}", repo.display());
    let mut full = vec![args[0], repo.as_str()];
    full.extend_from_slice(&args[1..]);
    let o = alma_image_builder::tools::run("ostree", &full).unwrap_or_else(|e| panic!("{e:#}"));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Unpacks the artifact tar into `dir/repo` and returns that path.
fn unpack(tar: &Path, dir: &Path) -> PathBuf {
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    alma_image_builder::tools::run("tar", &["-xf", s(tar), "-C", s(&repo)])
        .unwrap_or_else(|e| panic!("{e:#}"));
    repo
}

/// The `artifact` event of a `--json` build.
fn artifact(o: &Output) -> Value {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["event"] == "artifact")
        .unwrap_or_else(|| panic!("no artifact event:\n{}", text(o)))
}

fn build(env: &Env, manifest: &Path, out: &Path) -> Value {
    let o = env.run(&["--json", "build", "-o", s(out), s(manifest)]);
    assert!(o.status.success(), "{}", text(&o));
    artifact(&o)
}

/// An armored secret key without a passphrase, made by gpg in a scratch
/// home, and that home (for verifying).
fn gpg_key(dir: &Path) -> (PathBuf, PathBuf) {
    let home = dir.join("gnupg");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let h = format!("--homedir={}", home.display());
    let run = |args: &[&str]| {
        alma_image_builder::tools::run("gpg", args).unwrap_or_else(|e| panic!("{e:#}"))
    };
    run(&[
        &h,
        "--batch",
        "--passphrase",
        "",
        "--quick-gen-key",
        "Fixture OSTree <ostree@fixture.invalid>",
        "rsa2048",
        "sign",
        "never",
    ]);
    let o = run(&[&h, "--batch", "--armor", "--export-secret-keys"]);
    let key = dir.join("ostree.asc");
    std::fs::write(&key, &o.stdout).unwrap();
    let _ = alma_image_builder::tools::run("gpgconf", &[&h, "--kill", "gpg-agent"]);
    (key, home)
}

#[test]
fn commit_layout_determinism_parent_and_signature() {
    let env = Env::new();
    let m = env.manifest("ostree.toml", MANIFEST);
    let tar_name = "fx-ostree-x86_64.ostree.tar";

    // First build: the commit and its layout.
    let out1 = env.path("out1");
    let a1 = build(&env, &m, &out1);
    let tar1 = out1.join(tar_name);
    assert_eq!(a1["path"], s(&tar1), "{a1}");
    assert_eq!(a1["tag"], "fixture/1/x86_64/edge", "{a1}");
    let checksum = a1["digest"].as_str().unwrap().to_string();
    let sde = a1["source_date_epoch"].as_i64().unwrap();
    assert_eq!(checksum.len(), 64, "{a1}");
    assert!(
        out1.join(format!("{tar_name}.spdx.json")).is_file(),
        "SBOM beside the tar: {:?}",
        std::fs::read_dir(&out1).unwrap().collect::<Vec<_>>()
    );
    let leftovers: Vec<_> = std::fs::read_dir(&out1)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with(tar_name))
        .collect();
    assert!(leftovers.is_empty(), "half-written files: {leftovers:?}");

    let repo1 = unpack(&tar1, &env.path("x1"));
    let config = std::fs::read_to_string(repo1.join("config")).unwrap();
    assert!(config.contains("mode=archive"), "{config}");
    ostree(&repo1, &["fsck"]);
    assert_eq!(
        ostree(&repo1, &["rev-parse", "fixture/1/x86_64/edge"]).trim(),
        checksum
    );
    let show = ostree(&repo1, &["show", "fixture/1/x86_64/edge"]);
    let date = alma_image_builder::tools::run(
        "date",
        &["-u", "-d", &format!("@{sde}"), "+%Y-%m-%d %H:%M:%S"],
    )
    .unwrap();
    let date = String::from_utf8_lossy(&date.stdout).trim().to_string();
    assert!(show.contains(&date), "commit time is not {date}:\n{show}");
    assert!(show.contains("fx-ostree"), "{show}");
    let meta = ostree(
        &repo1,
        &["show", "--print-metadata-key=ostree.bootable", &checksum],
    );
    assert_eq!(meta.trim(), "true", "commit not marked bootable");

    // rpm-ostree's layout.
    let top = ostree(&repo1, &["ls", "--nul-filenames-only", &checksum, "/"]);
    let top: Vec<&str> = top.split('\0').filter(|n| !n.is_empty()).collect();
    for want in ["/usr", "/usr/etc", "/sysroot", "/ostree", "/var", "/boot"] {
        if want == "/usr/etc" {
            continue;
        }
        assert!(top.contains(&want), "{want} missing at the top: {top:?}");
    }
    assert!(!top.contains(&"/etc"), "/etc committed at the top: {top:?}");
    let etc = ostree(&repo1, &["ls", &checksum, "/usr/etc/hostname"]);
    assert!(etc.contains("/usr/etc/hostname"), "{etc}");
    let hostname = ostree(&repo1, &["cat", &checksum, "/usr/etc/hostname"]);
    assert_eq!(hostname.trim(), "fx-ostree");
    let var = ostree(&repo1, &["ls", "--nul-filenames-only", &checksum, "/var"]);
    assert!(
        var.split('\0').all(|n| n.is_empty() || n == "/var"),
        "/var has contents: {var:?}"
    );
    let modules = ostree(
        &repo1,
        &["ls", "--nul-filenames-only", &checksum, "/usr/lib/modules"],
    );
    let kvers: Vec<&str> = modules
        .split('\0')
        .filter_map(|n| n.strip_prefix("/usr/lib/modules/"))
        .filter(|n| !n.is_empty())
        .collect();
    assert_eq!(kvers.len(), 1, "one kernel: {kvers:?}");
    let kdir = format!("/usr/lib/modules/{}", kvers[0]);
    for f in ["vmlinuz", "initramfs.img"] {
        let l = ostree(&repo1, &["ls", &checksum, &format!("{kdir}/{f}")]);
        assert!(l.contains(f), "{kdir}/{f}: {l}");
    }
    let boot = ostree(&repo1, &["ls", "--nul-filenames-only", &checksum, "/boot"]);
    assert!(
        boot.split('\0').all(|n| n.is_empty() || n == "/boot"),
        "/boot is not empty: {boot:?}"
    );
    let rpmdb = ostree(
        &repo1,
        &["ls", "--nul-filenames-only", &checksum, "/usr/share/rpm"],
    );
    assert!(rpmdb.contains("rpmdb.sqlite"), "{rpmdb}");
    let kargs = ostree(
        &repo1,
        &[
            "cat",
            &checksum,
            "/usr/lib/bootc/kargs.d/10-image-builder.toml",
        ],
    );
    assert!(kargs.contains("loglevel=4"), "{kargs}");
    let tmpfiles = ostree(
        &repo1,
        &[
            "cat",
            &checksum,
            "/usr/lib/tmpfiles.d/image-builder-autovar.conf",
        ],
    );
    assert!(tmpfiles.contains("/var/lib"), "{tmpfiles}");
    let home = ostree(&repo1, &["ls", &checksum, "/home"]);
    assert!(home.contains("-> var/home"), "/home is not a link: {home}");

    // The summary names the ref and carries SOURCE_DATE_EPOCH.
    let summary = ostree(&repo1, &["summary", "--view"]);
    assert!(summary.contains("fixture/1/x86_64/edge"), "{summary}");
    let summary_raw = ostree(&repo1, &["summary", "--view", "--raw"]);
    assert!(
        summary_raw.contains(&format!("<uint64 {}>", sde))
            || summary_raw.contains(&format!("uint64 {sde}")),
        "summary last-modified is not {sde}:\n{summary_raw}"
    );

    // Same lockfile: same checksum, same bytes.
    let lock = std::fs::read(env.path("ostree.lock")).expect("lockfile beside the manifest");
    let out2 = env.path("out2");
    let a2 = build(&env, &m, &out2);
    assert_eq!(std::fs::read(env.path("ostree.lock")).unwrap(), lock);
    assert_eq!(a2["digest"], a1["digest"], "same lock, another commit");
    assert!(
        std::fs::read(&tar1).unwrap() == std::fs::read(out2.join(tar_name)).unwrap(),
        "same lock, other tar bytes"
    );

    // A follow-up commit: parent from the first repository, GPG-signed.
    let (key, gpghome) = gpg_key(&env.path("k"));
    let url = format!("file://{}", repo1.display());
    let signed = format!(
        "{MANIFEST}url = \"{url}\"\ngpg_key = \"{}\"\n",
        key.display()
    );
    let m3 = env.manifest("ostree.toml", &signed);
    let out3 = env.path("out3");
    let a3 = build(&env, &m3, &out3);
    let c3 = a3["digest"].as_str().unwrap().to_string();
    assert_ne!(c3, checksum, "the parent is part of the commit");
    let repo3 = unpack(&out3.join(tar_name), &env.path("x3"));
    assert_eq!(
        ostree(&repo3, &["rev-parse", "fixture/1/x86_64/edge^"]).trim(),
        checksum,
        "parent of the second commit"
    );
    assert!(
        !repo3.join("refs/remotes/image-builder-parent").exists(),
        "the parent's remote ref was left in the repository"
    );
    let remotes = ostree(&repo3, &["remote", "list"]);
    assert!(remotes.trim().is_empty(), "remotes left: {remotes}");
    // A client that trusts only the key pulls the commit's metadata:
    // libostree checks the commit's and the summary's signatures.
    let h = format!("--homedir={}", gpghome.display());
    let public =
        alma_image_builder::tools::run("gpg", &[h.as_str(), "--armor", "--export"]).unwrap();
    let pubkey = env.path("k/pub.asc");
    std::fs::write(&pubkey, &public.stdout).unwrap();
    let client = env.path("client");
    ostree(&client, &["init", "--mode=archive"]);
    let url3 = format!("file://{}", repo3.display());
    ostree(
        &client,
        &[
            "remote",
            "add",
            &format!("--gpg-import={}", pubkey.display()),
            "--set=gpg-verify-summary=true",
            "r",
            &url3,
        ],
    );
    ostree(
        &client,
        &[
            "pull",
            "--commit-metadata-only",
            "r",
            "fixture/1/x86_64/edge",
        ],
    );
    let shown = ostree(&client, &["show", "--gpg-verify-remote=r", &c3]);
    assert!(
        shown.contains("Good signature"),
        "commit signature: {shown}"
    );
    assert!(repo3.join("summary.sig").is_file(), "summary not signed");
    // An unsigned repository is refused by the same client.
    ostree(
        &client,
        &["remote", "add", "--gpg-import", s(&pubkey), "u", &url],
    );
    let refused = alma_image_builder::tools::run(
        "ostree",
        &[
            "pull",
            &format!("--repo={}", client.display()),
            "--commit-metadata-only",
            "u",
            "fixture/1/x86_64/edge",
        ],
    );
    assert!(
        refused.is_err(),
        "unsigned commit pulled with gpg-verify on"
    );
    let _ = alma_image_builder::tools::run(
        "gpgconf",
        &[
            &format!("--homedir={}", gpghome.display()),
            "--kill",
            "gpg-agent",
        ],
    );
}

#[test]
fn a_bad_ref_or_parent_is_refused_at_its_line() {
    let env = Env::new();
    let bad_ref = MANIFEST.replace("fixture/1/x86_64/edge", "fixture//edge");
    let m = env.manifest("bad.toml", &bad_ref);
    let o = env.run(&["build", "-o", s(&env.path("out")), s(&m)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("bad.toml:15:7:"), "no line:col of ref: {t}");
    assert!(!env.path("cache").exists(), "download started: {t}");

    let parent_no_url = format!("{MANIFEST}parent = \"fixture/1/x86_64/edge\"\n");
    let m = env.manifest("p.toml", &parent_no_url);
    let o = env.run(&["build", "-o", s(&env.path("out")), s(&m)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("p.toml:"), "{t}");
    assert!(t.contains("url"), "{t}");
    assert!(!env.path("out").exists(), "build started: {t}");
    assert!(!env.path("cache").exists(), "download started: {t}");
}
