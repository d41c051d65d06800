//! `[[customizations.repositories]]`, `[customizations.sshd]` and the
//! kernel command line.
//!
//! Why here and as plain file edits: each of these ends up as a small
//! configuration file in the image that its daemon or tool reads at boot
//! (dnf, sshd, the boot loader), and nothing needs to run in the tree to
//! produce it. Writing them directly keeps the build reproducible and
//! independent of which tools the image happens to contain. Where the
//! distro offers a drop-in directory (sshd) we use it, so package updates
//! never have to merge our change into their file.

use super::files;
use super::Env;
use crate::manifest::blueprint::*;
use crate::manifest::rules;
use anyhow::{bail, Context, Result};

/// Writes each repository as a section of `/etc/yum.repos.d/<filename>`
/// (repositories sharing a file name share the file), and inline armored
/// keys to `/etc/pki/rpm-gpg/RPM-GPG-KEY-<id>-<n>`.
pub fn repositories(env: &Env, repos: &[RepositoryCustomization]) -> Result<()> {
    let mut out: Vec<(String, String)> = Vec::new();
    for r in repos {
        let (file, section) = repo(env, r).with_context(|| format!("repository {}", r.id))?;
        match out.iter_mut().find(|(f, _)| *f == file) {
            Some((_, text)) => {
                text.push('\n');
                text.push_str(&section);
            }
            None => out.push((file, section)),
        }
    }
    for (file, text) in out {
        let path = format!("/etc/yum.repos.d/{file}");
        files::write_config(env, &path, &text, 0o644).with_context(|| format!("writing {path}"))?;
    }
    Ok(())
}

fn no_newline(what: &str, v: &str) -> Result<()> {
    if v.contains(['\n', '\r']) {
        bail!("{what} {v:?} cannot contain a line break");
    }
    Ok(())
}

/// The `.repo` file name and section text of one repository.
fn repo(env: &Env, r: &RepositoryCustomization) -> Result<(String, String)> {
    let id = &r.id;
    rules::repo_id(id)?;
    let file = rules::repo_filename(r.filename.as_deref().unwrap_or(id))?;
    if r.baseurls.is_empty() && r.metalink.is_none() && r.mirrorlist.is_none() {
        bail!("give at least one of baseurls, metalink or mirrorlist");
    }
    for u in r.baseurls.iter().chain(&r.metalink).chain(&r.mirrorlist) {
        rules::url("url", u, &rules::REPO_SCHEMES)?;
    }
    let mut s = format!("[{id}]\n");
    let mut kv = |k: &str, v: &str| -> Result<()> {
        no_newline(k, v)?;
        s.push_str(&format!("{k}={v}\n"));
        Ok(())
    };
    kv("name", r.name.as_deref().unwrap_or(id))?;
    if !r.baseurls.is_empty() {
        kv("baseurl", &r.baseurls.join(" "))?;
    }
    if let Some(m) = &r.metalink {
        kv("metalink", m)?;
    }
    if let Some(m) = &r.mirrorlist {
        kv("mirrorlist", m)?;
    }
    let flag = |b: bool| if b { "1" } else { "0" };
    for (k, v) in [
        ("enabled", r.enabled),
        ("gpgcheck", r.gpgcheck),
        ("repo_gpgcheck", r.repo_gpgcheck),
        ("sslverify", r.sslverify),
        ("module_hotfixes", r.module_hotfixes),
    ] {
        if let Some(v) = v {
            kv(k, flag(v))?;
        }
    }
    if let Some(p) = r.priority {
        kv("priority", &p.to_string())?;
    }
    let mut keys = Vec::new();
    for (n, key) in r.gpgkeys.iter().enumerate() {
        let k = key.trim();
        if k.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----") {
            if !k.ends_with("-----END PGP PUBLIC KEY BLOCK-----") {
                bail!("gpgkeys[{n}]: armored key without its END line");
            }
            let path = format!("/etc/pki/rpm-gpg/RPM-GPG-KEY-{id}-{n}");
            files::write_config(env, &path, &format!("{k}\n"), 0o644)
                .with_context(|| format!("writing {path}"))?;
            keys.push(format!("file://{path}"));
        } else {
            no_newline("gpgkey", k)?;
            keys.push(k.to_string());
        }
    }
    if !keys.is_empty() {
        kv("gpgkey", &keys.join(" "))?;
    }
    Ok((file, s))
}

const SSHD_CONFIG: &str = "/etc/ssh/sshd_config";
const SSHD_DROPIN: &str = "/etc/ssh/sshd_config.d/40-image-builder.conf";

/// sshd options: a drop-in when `sshd_config` includes
/// `sshd_config.d/*.conf` (sshd keeps the first value it reads, and `40-`
/// sorts before the distro's `50-redhat.conf`), else `sshd_config` edited
/// in place, before any `Match` block.
pub fn sshd(env: &Env, s: &Sshd) -> Result<()> {
    let yn = |b: bool| if b { "yes" } else { "no" }.to_string();
    let mut opts: Vec<(&str, String)> = Vec::new();
    if let Some(b) = s.password_authentication {
        opts.push(("PasswordAuthentication", yn(b)));
    }
    if let Some(n) = s.client_alive_interval {
        rules::client_alive_interval(n)?;
        opts.push(("ClientAliveInterval", n.to_string()));
    }
    if let Some(p) = &s.permit_root_login {
        rules::permit_root_login(p)?;
        opts.push(("PermitRootLogin", p.clone()));
    }
    if let Some(b) = s.kbd_interactive_authentication {
        opts.push(("KbdInteractiveAuthentication", yn(b)));
    }
    if opts.is_empty() {
        return Ok(());
    }
    let Some(config) = files::read_opt(&env.root, SSHD_CONFIG)? else {
        bail!("{SSHD_CONFIG} is not in the tree (is openssh-server installed?)");
    };
    let includes_dropins = config.lines().any(|l| {
        let mut w = l.split_whitespace();
        w.next().is_some_and(|k| k.eq_ignore_ascii_case("include"))
            && w.any(|p| p == "/etc/ssh/sshd_config.d/*.conf")
    });
    if includes_dropins {
        let mut text = String::from("# Written by image-builder from [customizations.sshd].\n");
        for (k, v) in &opts {
            text.push_str(&format!("{k} {v}\n"));
        }
        return files::write_config(env, SSHD_DROPIN, &text, 0o600)
            .with_context(|| format!("writing {SSHD_DROPIN}"));
    }
    let mut out = String::new();
    let mut placed = vec![false; opts.len()];
    let mut in_match = false;
    let place_rest = |out: &mut String, placed: &mut Vec<bool>| {
        for (i, (k, v)) in opts.iter().enumerate() {
            if !placed[i] {
                out.push_str(&format!("{k} {v}\n"));
                placed[i] = true;
            }
        }
    };
    for line in config.lines() {
        let key = line.split_whitespace().next().unwrap_or("");
        if key.eq_ignore_ascii_case("match") && !in_match {
            place_rest(&mut out, &mut placed);
            in_match = true;
        }
        let hit = opts.iter().position(|(k, _)| k.eq_ignore_ascii_case(key));
        match hit {
            Some(i) if !in_match => {
                if !placed[i] {
                    out.push_str(&format!("{} {}\n", opts[i].0, opts[i].1));
                    placed[i] = true;
                } else {
                    out.push_str(&format!("#{line}\n"));
                }
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    place_rest(&mut out, &mut placed);
    files::write_config(env, SSHD_CONFIG, &out, 0o600)
        .with_context(|| format!("writing {SSHD_CONFIG}"))
}

/// The full kernel command line (distro + boot + `[customizations.kernel] append` + fips=1),
/// as the plan computed it, without root=.
///
/// Written where each boot path reads it: `/etc/kernel/cmdline`
/// (kernel-install, UKIs), `GRUB_CMDLINE_LINUX` in `/etc/default/grub`
/// (grub2-mkconfig) and the `options` line of the BLS entries already in
/// `/boot/loader/entries` (their `root=`/`rootflags=` are kept).
pub fn kernel_cmdline(env: &Env, args: &[String]) -> Result<()> {
    for a in args {
        rules::kernel_arg(a)?;
    }
    let line = args.join(" ");
    files::write_config(env, "/etc/kernel/cmdline", &format!("{line}\n"), 0o644)
        .context("writing /etc/kernel/cmdline")?;
    grub_default(env, &line).context("writing /etc/default/grub")?;
    let dir = files::resolve(&env.root, "/boot/loader/entries")?;
    if !dir.is_dir() {
        return Ok(());
    }
    let mut entries: Vec<String> = std::fs::read_dir(&dir)
        .context("reading /boot/loader/entries")?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".conf"))
        .collect();
    entries.sort();
    for name in entries {
        let path = format!("/boot/loader/entries/{name}");
        bls_options(env, &path, args).with_context(|| format!("rewriting {path}"))?;
    }
    Ok(())
}

fn grub_default(env: &Env, line: &str) -> Result<()> {
    let mut quoted = String::new();
    for c in line.chars() {
        if "\\\"$`".contains(c) {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    let new = format!("GRUB_CMDLINE_LINUX=\"{quoted}\"");
    let old = files::read_opt(&env.root, "/etc/default/grub")?.unwrap_or_default();
    let mut out = String::new();
    let mut done = false;
    for l in old.lines() {
        if l.trim_start().starts_with("GRUB_CMDLINE_LINUX=") {
            if !done {
                out.push_str(&new);
                out.push('\n');
                done = true;
            }
        } else {
            out.push_str(l);
            out.push('\n');
        }
    }
    if !done {
        out.push_str(&new);
        out.push('\n');
    }
    files::write_config(env, "/etc/default/grub", &out, 0o644)
}

fn bls_options(env: &Env, path: &str, args: &[String]) -> Result<()> {
    let Some(old) = files::read_opt(&env.root, path)? else {
        return Ok(());
    };
    let mut out = String::new();
    let mut done = false;
    let build = |kept: Vec<&str>| {
        let mut all: Vec<&str> = kept;
        all.extend(args.iter().map(String::as_str));
        format!("options {}\n", all.join(" "))
    };
    for l in old.lines() {
        let mut w = l.split_whitespace();
        if w.next() == Some("options") {
            if !done {
                let kept = w
                    .filter(|t| t.starts_with("root=") || t.starts_with("rootflags="))
                    .collect();
                out.push_str(&build(kept));
                done = true;
            }
        } else {
            out.push_str(l);
            out.push('\n');
        }
    }
    if !done {
        out.push_str(&build(Vec::new()));
    }
    files::write_config(env, path, &out, 0o644)
}

#[cfg(test)]
mod tests {
    use super::super::testtree::TestTree;
    use super::*;

    const KEY: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQINBGA=\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----\n";

    #[test]
    fn repositories_in_dnf_spelling() {
        let t = TestTree::new();
        let a = RepositoryCustomization {
            id: "extra".into(),
            name: Some("Extra packages".into()),
            baseurls: vec![
                "https://a.example/$releasever/".into(),
                "https://b.example/".into(),
            ],
            gpgkeys: vec!["https://a.example/key.asc".into(), KEY.into()],
            enabled: Some(true),
            gpgcheck: Some(true),
            repo_gpgcheck: Some(false),
            sslverify: Some(true),
            module_hotfixes: Some(false),
            priority: Some(10),
            filename: Some("custom.repo".into()),
            ..Default::default()
        };
        let b = RepositoryCustomization {
            id: "other".into(),
            metalink: Some("https://m.example/metalink?repo=x".into()),
            filename: Some("custom.repo".into()),
            ..Default::default()
        };
        let c = RepositoryCustomization {
            id: "mirror".into(),
            mirrorlist: Some("https://m.example/list".into()),
            ..Default::default()
        };
        repositories(&t.env, &[a, b, c]).unwrap();
        assert_eq!(
            t.read("/etc/yum.repos.d/custom.repo"),
            "[extra]\nname=Extra packages\nbaseurl=https://a.example/$releasever/ https://b.example/\n\
             enabled=1\ngpgcheck=1\nrepo_gpgcheck=0\nsslverify=1\nmodule_hotfixes=0\npriority=10\n\
             gpgkey=https://a.example/key.asc file:///etc/pki/rpm-gpg/RPM-GPG-KEY-extra-1\n\
             \n[other]\nname=other\nmetalink=https://m.example/metalink?repo=x\n"
        );
        assert_eq!(
            t.read("/etc/yum.repos.d/mirror.repo"),
            "[mirror]\nname=mirror\nmirrorlist=https://m.example/list\n"
        );
        assert_eq!(t.read("/etc/pki/rpm-gpg/RPM-GPG-KEY-extra-1"), KEY);
        assert_eq!(t.mode("/etc/yum.repos.d/custom.repo"), 0o644);
        let bad = RepositoryCustomization {
            id: "x".into(),
            ..Default::default()
        };
        let e = format!("{:#}", repositories(&t.env, &[bad]).unwrap_err());
        assert!(e.contains("repository x") && e.contains("baseurls"), "{e}");
        let bad = RepositoryCustomization {
            id: "y".into(),
            baseurls: vec!["https://x/".into()],
            filename: Some("../../etc/passwd".into()),
            ..Default::default()
        };
        assert!(repositories(&t.env, &[bad]).is_err());
        assert!(!t.host("/etc/passwd").exists());
    }

    fn sshd_opts() -> Sshd {
        Sshd {
            password_authentication: Some(false),
            client_alive_interval: Some(300),
            permit_root_login: Some("prohibit-password".into()),
            kbd_interactive_authentication: Some(false),
        }
    }

    #[test]
    fn sshd_dropin_when_included() {
        let t = TestTree::new();
        let main = "Include /etc/ssh/sshd_config.d/*.conf\nPasswordAuthentication yes\n";
        t.write(SSHD_CONFIG, main);
        sshd(&t.env, &sshd_opts()).unwrap();
        assert_eq!(t.read(SSHD_CONFIG), main);
        assert_eq!(
            t.read(SSHD_DROPIN),
            "# Written by image-builder from [customizations.sshd].\nPasswordAuthentication no\n\
             ClientAliveInterval 300\nPermitRootLogin prohibit-password\nKbdInteractiveAuthentication no\n"
        );
        assert_eq!(t.mode(SSHD_DROPIN), 0o600);
    }

    #[test]
    fn sshd_config_edited_in_place() {
        let t = TestTree::new();
        t.write(
            SSHD_CONFIG,
            "#PermitRootLogin yes\npasswordauthentication yes\nPasswordAuthentication yes\nSubsystem sftp x\nMatch User anoncvs\n  PasswordAuthentication yes\n",
        );
        sshd(&t.env, &sshd_opts()).unwrap();
        assert_eq!(
            t.read(SSHD_CONFIG),
            "#PermitRootLogin yes\nPasswordAuthentication no\n#PasswordAuthentication yes\nSubsystem sftp x\n\
             ClientAliveInterval 300\nPermitRootLogin prohibit-password\nKbdInteractiveAuthentication no\n\
             Match User anoncvs\n  PasswordAuthentication yes\n"
        );
        let bad = Sshd {
            permit_root_login: Some("maybe".into()),
            ..Default::default()
        };
        assert!(format!("{:#}", sshd(&t.env, &bad).unwrap_err()).contains("maybe"));
        let t = TestTree::new();
        let e = format!("{:#}", sshd(&t.env, &sshd_opts()).unwrap_err());
        assert!(
            e.contains(SSHD_CONFIG) && e.contains("openssh-server"),
            "{e}"
        );
    }

    #[test]
    fn kernel_cmdline_everywhere() {
        let t = TestTree::new();
        let args: Vec<String> = ["console=ttyS0", "fips=1", "quiet"]
            .map(String::from)
            .to_vec();
        kernel_cmdline(&t.env, &args).unwrap();
        assert_eq!(
            t.read("/etc/kernel/cmdline"),
            "console=ttyS0 fips=1 quiet\n"
        );
        assert_eq!(
            t.read("/etc/default/grub"),
            "GRUB_CMDLINE_LINUX=\"console=ttyS0 fips=1 quiet\"\n"
        );
        t.write(
            "/etc/default/grub",
            "GRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX=\"rhgb\"\nGRUB_CMDLINE_LINUX_DEFAULT=\"x\"\n",
        );
        t.write(
            "/boot/loader/entries/abc-5.14.conf",
            "title AlmaLinux\nversion 5.14\noptions root=UUID=1234 ro rhgb rootflags=subvol=root\ngrub_users $grub_users\n",
        );
        t.write(
            "/boot/loader/entries/def-5.15.conf",
            "title Other\nlinux /vmlinuz\n",
        );
        t.write("/boot/loader/entries/README", "not an entry\n");
        let args: Vec<String> = vec!["console=tty0".into(), "x=\"$y\"".into()];
        kernel_cmdline(&t.env, &args).unwrap();
        assert_eq!(
            t.read("/etc/default/grub"),
            "GRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX=\"console=tty0 x=\\\"\\$y\\\"\"\nGRUB_CMDLINE_LINUX_DEFAULT=\"x\"\n"
        );
        assert_eq!(
            t.read("/boot/loader/entries/abc-5.14.conf"),
            "title AlmaLinux\nversion 5.14\noptions root=UUID=1234 rootflags=subvol=root console=tty0 x=\"$y\"\ngrub_users $grub_users\n"
        );
        assert_eq!(
            t.read("/boot/loader/entries/def-5.15.conf"),
            "title Other\nlinux /vmlinuz\noptions console=tty0 x=\"$y\"\n"
        );
        assert_eq!(t.read("/boot/loader/entries/README"), "not an entry\n");
        let bad = vec!["a\nb".to_string()];
        assert!(format!("{:#}", kernel_cmdline(&t.env, &bad).unwrap_err()).contains("a\\nb"));
    }
}
