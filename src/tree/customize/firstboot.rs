//! `[customizations.firstboot]`: jobs that run once, in order, on the
//! image's first boot.
//!
//! Why systemd units and not a generic "firstboot" package: the image
//! already has systemd, units order and log well (`journalctl -u`), and a
//! oneshot unit per script keeps each job's failure visible on its own.
//! Each script becomes an executable under /usr/libexec/image-builder/
//! firstboot/ and a unit `image-builder-firstboot-NN-NAME.service` in
//! /usr/lib/systemd/system (NN keeps the manifest's order, and each unit
//! is ordered after the previous one). "Once" is a done-marker under
//! /var/lib/image-builder/firstboot/ written after the script succeeds
//! (or after it fails, with `ignore_failure`), and the unit only starts
//! while the marker is absent; a failed job without `ignore_failure` thus
//! runs again on the next boot. Units are enabled into
//! multi-user.target.wants, and a preset file keeps them enabled if the
//! tree's presets are applied later.
//!
//! `satellite` and `aap` are scripts written here: both install their CA
//! certificates as trust anchors (refreshed with `update-ca-trust` before
//! the job) and wait for the network; satellite runs the registration
//! command the server generated, aap posts the host config key to the
//! job template's provisioning callback with curl.

use super::{in_root, Env};
use crate::manifest::blueprint::*;
use crate::manifest::rules;
use anyhow::{bail, Context, Result};
use std::collections::HashSet;

const SCRIPT_DIR: &str = "/usr/libexec/image-builder/firstboot";
const UNIT_DIR: &str = "/usr/lib/systemd/system";
const STATE_DIR: &str = "/var/lib/image-builder/firstboot";
const ANCHORS: &str = "/etc/pki/ca-trust/source/anchors";
const PRESET: &str = "/usr/lib/systemd/system-preset/10-image-builder-firstboot.preset";

pub fn apply(env: &Env, f: &Firstboot) -> Result<()> {
    let mut names = HashSet::new();
    let mut previous: Option<String> = None;
    for (i, script) in f.scripts.iter().enumerate() {
        let (name, _, _, _) = script.common();
        let name = name.unwrap_or(script.kind());
        rules::firstboot_name(name)?;
        if !names.insert(name) {
            bail!(
                "firstboot script {name}: the name is used twice (give each script its own name)"
            );
        }
        let id = format!("{:02}-{name}", i + 1);
        write_job(env, script, &id, previous.as_deref())
            .with_context(|| format!("firstboot script {name}"))?;
        previous = Some(unit_of(&id));
    }
    if !f.scripts.is_empty() {
        write_file(
            env,
            PRESET,
            "enable image-builder-firstboot-*.service\n",
            0o644,
        )?;
    }
    Ok(())
}

fn unit_of(id: &str) -> String {
    format!("image-builder-firstboot-{id}.service")
}

/// Writes the script, its certificates and its unit, and enables it.
fn write_job(env: &Env, script: &FirstbootScript, id: &str, previous: Option<&str>) -> Result<()> {
    let (_, ignore_failure, after, before) = script.common();
    let unit = unit_of(id);
    let path = format!("{SCRIPT_DIR}/{id}");
    let (body, certs, network) = match script {
        FirstbootScript::Custom(c) => (c.contents.clone(), &[][..], false),
        FirstbootScript::Satellite(s) => (satellite_script(s), &s.cacerts[..], true),
        FirstbootScript::Aap(a) => (aap_script(a)?, &a.cacerts[..], true),
    };
    for (k, pem) in certs.iter().enumerate() {
        rules::pem_shape(&format!("cacerts[{k}]"), pem)?;
        let mut pem = pem.trim().to_string();
        pem.push('\n');
        write_file(
            env,
            &format!("{ANCHORS}/image-builder-firstboot-{id}-{k}.pem"),
            &pem,
            0o644,
        )?;
    }
    let body = if certs.is_empty() {
        body
    } else {
        // Before the job: trust the certificates written above.
        body.replacen("\nset -e\n", "\nset -e\nupdate-ca-trust extract\n", 1)
    };
    write_file(env, &path, &body, 0o755)?;
    // Without a shebang the kernel cannot exec it: run it with the shell.
    let exec = if body.starts_with("#!") {
        path.clone()
    } else {
        format!("/bin/sh {path}")
    };
    let mut after: Vec<&str> = after.iter().map(String::as_str).collect();
    let mut wants = Vec::new();
    if let Some(p) = previous {
        after.insert(0, p);
    }
    if network {
        after.push("network-online.target");
        wants.push("network-online.target");
    }
    for u in after
        .iter()
        .copied()
        .chain(before.iter().map(String::as_str))
    {
        rules::unit_ref(u)?;
    }
    let marker = format!("{STATE_DIR}/{id}.done");
    let mut text = format!(
        "# Written by image-builder from [customizations.firstboot].\n[Unit]\nDescription=image-builder firstboot job {id} ({})\nConditionPathExists=!{marker}\n",
        script.kind()
    );
    let mut line = |key: &str, v: &[&str]| {
        if !v.is_empty() {
            text.push_str(&format!("{key}={}\n", v.join(" ")));
        }
    };
    line("Wants", &wants);
    line("After", &after);
    line(
        "Before",
        &before.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    text.push_str(&format!(
        "\n[Service]\nType=oneshot\nRemainAfterExit=yes\nStateDirectory=image-builder/firstboot\nExecStart={}{exec}\nExecStartPost=/usr/bin/touch {marker}\n\n[Install]\nWantedBy=multi-user.target\n",
        if ignore_failure { "-" } else { "" }
    ));
    write_file(env, &format!("{UNIT_DIR}/{unit}"), &text, 0o644)?;
    super::services::enable_unit(&env.root, &unit)
}

/// Quotes `s` for the shell.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn satellite_script(s: &SatelliteFirstboot) -> String {
    format!(
        "#!/bin/sh\n# Register with Red Hat Satellite (image-builder firstboot).\nset -e\n{}\n",
        s.command.trim_end()
    )
}

fn aap_script(a: &AapFirstboot) -> Result<String> {
    let url = a.job_template_url.trim();
    rules::url("job_template_url", url, &rules::WEB_SCHEMES)?;
    if a.host_config_key.is_empty() {
        bail!("host_config_key is empty");
    }
    Ok(format!(
        "#!/bin/sh\n# Ansible Automation Platform provisioning callback (image-builder firstboot).\nset -e\n\
         exec curl --fail --silent --show-error --retry 10 --retry-delay 30 --retry-connrefused \\\n  \
         --data-urlencode {} \\\n  {}\n",
        sh_quote(&format!("host_config_key={}", a.host_config_key)),
        sh_quote(url)
    ))
}

/// Writes `text` at `path` (inside the tree) with `mode`, its mtime
/// clamped to SOURCE_DATE_EPOCH (shared with the other customizations
/// that write files).
pub(super) fn write_file(env: &Env, path: &str, text: &str, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    // Resolve directory links inside the tree, and replace a link at the
    // file itself, so that nothing is written outside the tree.
    env.host_path(path)?;
    let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
    let dir = in_root(&env.root, &super::services::chase(&env.root, dir)?)?;
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let host = dir.join(name);
    if std::fs::symlink_metadata(&host).is_ok_and(|m| m.file_type().is_symlink()) {
        std::fs::remove_file(&host).with_context(|| format!("replacing the link {path}"))?;
    }
    std::fs::write(&host, text).with_context(|| format!("writing {path}"))?;
    let file = std::fs::File::options()
        .write(true)
        .open(&host)
        .with_context(|| format!("opening {path}"))?;
    file.set_permissions(std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {path}"))?;
    let epoch = u64::try_from(env.source_date_epoch).unwrap_or(0);
    file.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(epoch))
        .with_context(|| format!("setting the mtime of {path}"))
}

/// Whether `root` holds firstboot unit `id` (for other modules' tests).
#[cfg(test)]
pub(crate) fn has_job(root: &std::path::Path, id: &str) -> bool {
    root.join(UNIT_DIR.trim_start_matches('/'))
        .join(unit_of(id))
        .is_file()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    const CERT: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";

    fn env(root: &Path) -> Env {
        Env {
            root: root.to_path_buf(),
            manifest_dir: root.to_path_buf(),
            source_date_epoch: 1_700_000_000,
            releasever: "9".into(),
        }
    }

    fn custom(name: Option<&str>, contents: &str) -> CustomFirstboot {
        CustomFirstboot {
            name: name.map(str::to_string),
            contents: contents.into(),
            ..Default::default()
        }
    }

    /// `Key=value` lines of a unit, in order.
    fn unit_lines(root: &Path, id: &str) -> Vec<(String, String)> {
        let text =
            fs::read_to_string(root.join("usr/lib/systemd/system").join(unit_of(id))).unwrap();
        text.lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn get<'a>(lines: &'a [(String, String)], key: &str) -> Vec<&'a str> {
        lines
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn all_three() -> Firstboot {
        let mut first = custom(Some("hello"), "#!/bin/bash\necho hi\n");
        first.ignore_failure = Some(true);
        first.after = vec!["cloud-init.service".into()];
        first.before = vec!["sshd.service".into()];
        Firstboot {
            scripts: vec![
                FirstbootScript::Custom(first),
                FirstbootScript::Custom(custom(None, "echo no shebang\n")),
                FirstbootScript::Satellite(SatelliteFirstboot {
                    command: "curl -sS https://sat.example/register | bash".into(),
                    cacerts: vec![CERT.into()],
                    ..Default::default()
                }),
                FirstbootScript::Aap(AapFirstboot {
                    name: Some("callback".into()),
                    job_template_url: "https://aap.example/api/v2/job_templates/9/callback/".into(),
                    host_config_key: "k'ey".into(),
                    ..Default::default()
                }),
            ],
        }
    }

    #[test]
    fn scripts_become_ordered_oneshot_units_that_run_once() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        apply(&env(r), &all_three()).unwrap();
        for id in ["01-hello", "02-custom", "03-satellite", "04-callback"] {
            assert!(has_job(r, id), "{id}");
            let l = unit_lines(r, id);
            assert_eq!(get(&l, "Type"), ["oneshot"]);
            assert_eq!(
                get(&l, "ConditionPathExists"),
                [format!("!/var/lib/image-builder/firstboot/{id}.done")]
            );
            assert_eq!(
                get(&l, "ExecStartPost"),
                [format!(
                    "/usr/bin/touch /var/lib/image-builder/firstboot/{id}.done"
                )]
            );
            assert_eq!(get(&l, "WantedBy"), ["multi-user.target"]);
            let script = r.join("usr/libexec/image-builder/firstboot").join(id);
            let meta = fs::metadata(&script).unwrap();
            assert_eq!(meta.permissions().mode() & 0o777, 0o755, "{id}");
            assert_eq!(
                meta.modified().unwrap(),
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000)
            );
            let link = r
                .join("etc/systemd/system/multi-user.target.wants")
                .join(unit_of(id));
            assert_eq!(
                fs::read_link(&link).unwrap().to_string_lossy(),
                format!("/usr/lib/systemd/system/{}", unit_of(id))
            );
        }
        let l = unit_lines(r, "01-hello");
        assert_eq!(
            get(&l, "ExecStart"),
            ["-/usr/libexec/image-builder/firstboot/01-hello"]
        );
        assert_eq!(get(&l, "After"), ["cloud-init.service"]);
        assert_eq!(get(&l, "Before"), ["sshd.service"]);
        let l = unit_lines(r, "02-custom");
        assert_eq!(
            get(&l, "ExecStart"),
            ["/bin/sh /usr/libexec/image-builder/firstboot/02-custom"]
        );
        assert_eq!(
            get(&l, "After"),
            ["image-builder-firstboot-01-hello.service"]
        );
        let l = unit_lines(r, "03-satellite");
        assert_eq!(get(&l, "Wants"), ["network-online.target"]);
        assert_eq!(
            get(&l, "After"),
            ["image-builder-firstboot-02-custom.service network-online.target"]
        );
        let sat =
            fs::read_to_string(r.join("usr/libexec/image-builder/firstboot/03-satellite")).unwrap();
        assert!(
            sat.contains("update-ca-trust extract\ncurl -sS https://sat.example/register | bash\n"),
            "{sat}"
        );
        let anchor = fs::read_to_string(
            r.join("etc/pki/ca-trust/source/anchors/image-builder-firstboot-03-satellite-0.pem"),
        )
        .unwrap();
        assert_eq!(anchor, format!("{CERT}\n"));
        let aap =
            fs::read_to_string(r.join("usr/libexec/image-builder/firstboot/04-callback")).unwrap();
        assert!(
            aap.contains("--data-urlencode 'host_config_key=k'\\''ey'"),
            "{aap}"
        );
        assert!(
            aap.contains("'https://aap.example/api/v2/job_templates/9/callback/'"),
            "{aap}"
        );
        assert!(!aap.contains("update-ca-trust"), "no certs, no refresh");
        let preset = fs::read_to_string(
            r.join("usr/lib/systemd/system-preset/10-image-builder-firstboot.preset"),
        )
        .unwrap();
        assert_eq!(preset, "enable image-builder-firstboot-*.service\n");
    }

    #[test]
    fn aap_script_quoting_survives_the_shell() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        apply(&env(r), &all_three()).unwrap();
        let script =
            fs::read_to_string(r.join("usr/libexec/image-builder/firstboot/04-callback")).unwrap();
        // Replace curl with a function that prints its arguments.
        let script = script.replace("exec curl", "curl");
        let out = crate::tools::run(
            "sh",
            &[
                "-c",
                &format!("curl() {{ for a; do printf '%s\\n' \"$a\"; done; }}\n{script}"),
            ],
        )
        .unwrap();
        let args = String::from_utf8(out.stdout).unwrap();
        assert!(args.lines().any(|l| l == "host_config_key=k'ey"), "{args}");
        assert_eq!(
            args.lines().last(),
            Some("https://aap.example/api/v2/job_templates/9/callback/")
        );
    }

    #[test]
    fn links_in_the_tree_never_lead_writes_outside_it() {
        let outside = tempfile::tempdir().unwrap();
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        fs::create_dir_all(r.join("usr")).unwrap();
        // Absolute links, meant for the booted image, resolve in the tree.
        std::os::unix::fs::symlink(outside.path(), r.join("usr/libexec")).unwrap();
        let unit_dir = r.join("usr/lib/systemd/system");
        fs::create_dir_all(&unit_dir).unwrap();
        let victim = outside.path().join("victim");
        fs::write(&victim, "keep").unwrap();
        std::os::unix::fs::symlink(&victim, unit_dir.join(unit_of("01-x"))).unwrap();
        let f = Firstboot {
            scripts: vec![FirstbootScript::Custom(custom(Some("x"), "true"))],
        };
        apply(&env(r), &f).unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "keep");
        assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 1);
        let inside = r
            .join(outside.path().strip_prefix("/").unwrap())
            .join("image-builder/firstboot/01-x");
        assert!(
            inside.is_file(),
            "the script lands under the link's target inside the tree"
        );
        assert!(!fs::symlink_metadata(unit_dir.join(unit_of("01-x")))
            .unwrap()
            .file_type()
            .is_symlink());
    }

    #[test]
    fn refusals() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        let err = |s: Vec<FirstbootScript>| {
            format!(
                "{:#}",
                apply(&env(r), &Firstboot { scripts: s }).unwrap_err()
            )
        };
        let c = |n: Option<&str>| FirstbootScript::Custom(custom(n, "true"));
        assert!(err(vec![c(Some("a")), c(Some("a"))]).contains("used twice"));
        assert!(err(vec![c(None), c(None)]).contains("custom: the name is used twice"));
        assert!(err(vec![c(Some("a b"))]).contains("letters, digits"));
        assert!(err(vec![c(Some("../x"))]).contains("letters, digits"));
        let mut bad = custom(Some("x"), "true");
        bad.after = vec!["a b".into()];
        assert!(err(vec![FirstbootScript::Custom(bad)]).contains("not a systemd unit name"));
        let sat = SatelliteFirstboot {
            command: "true".into(),
            cacerts: vec!["junk".into()],
            ..Default::default()
        };
        assert!(err(vec![FirstbootScript::Satellite(sat)]).contains("cacerts[0] is not a PEM"));
        let aap = AapFirstboot {
            job_template_url: "ftp://x".into(),
            host_config_key: "k".into(),
            ..Default::default()
        };
        assert!(err(vec![FirstbootScript::Aap(aap)]).contains("is not an http:// or https:// URL"));
        apply(&env(r), &Firstboot::default()).unwrap();
    }
}
