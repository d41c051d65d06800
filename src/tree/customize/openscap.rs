//! `[customizations.openscap]`: remediate the tree against an XCCDF
//! profile at build time, as osbuild does, so the image boots compliant.
//!
//! Why chrooted: the remediation scripts in the datastream are written
//! for the target system (its package manager, its paths) and must act on
//! the tree as `/`, so the tree's own `oscap` (openscap-scanner) runs
//! chrooted with the tree's scap-security-guide content. The datastream
//! defaults to the guide's file for the tree's os-release
//! (`ssg-almalinux9-ds.xml`). Selected/unselected rules become an XCCDF
//! 1.2 tailoring file written here (a tailored profile extending the one
//! named); a JSON tailoring is converted by the tree's `autotailor`
//! (openscap-utils). `oscap` exits 2 when some rules still fail after
//! remediation; that is a report, not a build failure, so the run goes
//! through a tiny `sh` wrapper in the tree that maps 2 to success and
//! says so (crate::tools treats every non-zero exit as failure).

use super::{in_root, Env};
use crate::manifest::blueprint::*;
use anyhow::{bail, Context, Result};
use std::path::Path;

const OSCAP: &str = "/usr/bin/oscap";
const AUTOTAILOR: &str = "/usr/bin/autotailor";
const SSG_DIR: &str = "/usr/share/xml/scap/ssg/content";
/// Where generated tailoring files go inside the image (kept: they say
/// what the image was remediated against).
const DATA_DIR: &str = "/usr/share/xml/image-builder/openscap";
/// Printed by the wrapper when oscap exits 2.
const SOME_FAILED: &str = "image-builder: oscap exit 2";
const RULE_PREFIX: &str = "xccdf_org.ssgproject.content_rule_";

pub fn apply(env: &Env, o: &OpenScap) -> Result<()> {
    let root = &env.root;
    if !in_root(root, OSCAP)?.is_file() {
        bail!("openscap needs {OSCAP} in the tree: add openscap-scanner and scap-security-guide to the package set");
    }
    if o.policy_id.is_some() {
        bail!("openscap policy_id needs the Red Hat Insights compliance service; give profile_id (and tailoring) instead");
    }
    check_id("profile_id", &o.profile_id)?;
    let datastream = match &o.datastream {
        Some(d) => {
            if !d.starts_with('/') || !env.host_path(d)?.is_file() {
                bail!("openscap datastream {d} is not a file in the image");
            }
            d.clone()
        }
        None => default_datastream(root)?,
    };
    let (profile, tailoring) = match (&o.tailoring, &o.json_tailoring) {
        (Some(_), Some(_)) => bail!("openscap: tailoring and json_tailoring are exclusive"),
        (Some(t), None) => {
            let file = format!("{DATA_DIR}/tailoring.xml");
            let (xml, id) = tailoring_xml(&o.profile_id, &datastream, t, env.source_date_epoch)?;
            super::firstboot::write_file(env, &file, &xml, 0o644)?;
            (id, Some(file))
        }
        (None, Some(j)) => {
            check_id("json_tailoring.profile_id", &j.profile_id)?;
            if !j.filepath.starts_with('/') || !env.host_path(&j.filepath)?.is_file() {
                bail!(
                    "openscap json_tailoring file {} is not in the image",
                    j.filepath
                );
            }
            if !in_root(root, AUTOTAILOR)?.is_file() {
                bail!("openscap json_tailoring needs {AUTOTAILOR} in the tree: add openscap-utils to the package set");
            }
            let file = format!("{DATA_DIR}/tailoring.xml");
            std::fs::create_dir_all(in_root(root, DATA_DIR)?)
                .with_context(|| format!("creating {DATA_DIR}"))?;
            let args = [
                "--output",
                &file,
                "--json-tailoring",
                &j.filepath,
                &datastream,
            ];
            crate::tools::run_in_root(root, AUTOTAILOR, &args)
                .with_context(|| format!("converting json tailoring {}", j.filepath))?;
            (j.profile_id.clone(), Some(file))
        }
        (None, None) => (o.profile_id.clone(), None),
    };
    let mut args: Vec<&str> = vec![
        "-c",
        r#"oscap "$@"; rc=$?; if [ "$rc" -eq 2 ]; then echo "$0"; exit 0; fi; exit "$rc""#,
        SOME_FAILED,
        "xccdf",
        "eval",
        "--remediate",
        "--profile",
        &profile,
    ];
    if let Some(t) = &tailoring {
        args.extend(["--tailoring-file", t]);
    }
    args.push(&datastream);
    let out = crate::tools::run_in_root(root, "/bin/sh", &args)
        .with_context(|| format!("remediating with profile {profile}"))?;
    if String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l == SOME_FAILED)
    {
        crate::report::info(format!(
            "openscap: some rules of {profile} still fail after remediation (oscap exit 2)"
        ));
    }
    Ok(())
}

/// XCCDF ids are NCNames: no spaces, quotes or markup.
fn check_id(what: &str, id: &str) -> Result<()> {
    Ok(crate::manifest::rules::xccdf_id(what, id)?)
}

/// The scap-security-guide datastream for the tree's os-release.
fn default_datastream(root: &Path) -> Result<String> {
    let text = ["etc/os-release", "usr/lib/os-release"]
        .iter()
        .find_map(|p| std::fs::read_to_string(root.join(p)).ok())
        .context(
            "openscap: the tree has no /etc/os-release to pick a datastream by; set datastream",
        )?;
    let field = |key: &str| {
        text.lines()
            .filter_map(|l| l.trim().strip_prefix(key)?.strip_prefix('='))
            .map(|v| v.trim().trim_matches('"').trim_matches('\'').to_string())
            .next_back()
            .unwrap_or_default()
    };
    let id = field("ID");
    let major = field("VERSION_ID")
        .split('.')
        .next()
        .unwrap_or_default()
        .to_string();
    let product = match id.as_str() {
        "centos" => format!("cs{major}"),
        "fedora" => "fedora".into(),
        _ => format!("{id}{major}"),
    };
    if id.is_empty()
        || !product
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        bail!("openscap: cannot name a datastream for os-release ID={id:?} VERSION_ID={major:?}; set datastream");
    }
    let path = format!("{SSG_DIR}/ssg-{product}-ds.xml");
    if !in_root(root, &path)?.is_file() {
        bail!("openscap datastream {path} is not in the tree: add scap-security-guide to the package set (or set datastream)");
    }
    Ok(path)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An XCCDF 1.2 tailoring whose profile extends `profile` with the rule
/// selections; returns it and the tailored profile's id.
fn tailoring_xml(
    profile: &str,
    datastream: &str,
    t: &OpenScapTailoring,
    epoch: i64,
) -> Result<(String, String)> {
    let id = format!("{profile}_image_builder_tailoring");
    let mut selects = String::new();
    for (rules, on) in [(&t.selected, true), (&t.unselected, false)] {
        for r in rules {
            check_id("rule", r)?;
            let full = if r.starts_with("xccdf_") {
                r.clone()
            } else {
                format!("{RULE_PREFIX}{r}")
            };
            selects.push_str(&format!(
                "    <xccdf-1.2:select idref=\"{full}\" selected=\"{on}\"/>\n"
            ));
        }
    }
    let xml = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<xccdf-1.2:Tailoring xmlns:xccdf-1.2="http://checklists.nist.gov/xccdf/1.2" id="xccdf_image-builder_tailoring_default">
  <xccdf-1.2:benchmark href="file://{ds}"/>
  <xccdf-1.2:version time="{time}">1</xccdf-1.2:version>
  <xccdf-1.2:Profile id="{id}" extends="{profile}">
    <xccdf-1.2:title override="true">{profile} tailored by image-builder</xccdf-1.2:title>
{selects}  </xccdf-1.2:Profile>
</xccdf-1.2:Tailoring>
"#,
        ds = escape(datastream),
        time = rfc3339(epoch),
    );
    Ok((xml, id))
}

/// `epoch` as `YYYY-MM-DDTHH:MM:SS` (UTC, no zone suffix).
fn rfc3339(epoch: i64) -> String {
    crate::civil::rfc3339(epoch)
        .trim_end_matches('Z')
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::super::testtree::TestTree;
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    /// A fake oscap that records its arguments and exits with /oscap-rc.
    const FAKE_OSCAP: &str =
        "#!/bin/sh\nfor a; do echo \"$a\"; done > /oscap-args\nread rc < /oscap-rc\nexit $rc\n";
    const FAKE_AUTOTAILOR: &str =
        "#!/bin/sh\nfor a; do echo \"$a\"; done > /autotailor-args\necho '<Tailoring/>' > \"$2\"\n";
    const DS: &str = "/usr/share/xml/scap/ssg/content/ssg-almalinux9-ds.xml";

    fn env(root: &Path) -> Env {
        Env {
            root: root.to_path_buf(),
            manifest_dir: root.to_path_buf(),
            source_date_epoch: 1_700_000_000,
            releasever: "9".into(),
        }
    }

    fn put(root: &Path, path: &str, text: &str, mode: u32) {
        let p = root.join(path.trim_start_matches('/'));
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, text).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
    }

    fn tree(rc: i32) -> TestTree {
        let t = TestTree::new();
        t.with_shell();
        let r = t.root();
        put(r, OSCAP, FAKE_OSCAP, 0o755);
        put(r, "/oscap-rc", &format!("{rc}\n"), 0o644);
        put(
            r,
            "/etc/os-release",
            "NAME=\"AlmaLinux\"\nID=\"almalinux\"\nVERSION_ID=\"9.4\"\n",
            0o644,
        );
        put(r, DS, "<ds/>", 0o644);
        t
    }

    fn oscap(profile: &str) -> OpenScap {
        OpenScap {
            datastream: None,
            profile_id: profile.into(),
            tailoring: None,
            json_tailoring: None,
            policy_id: None,
        }
    }

    fn recorded(root: &Path, file: &str) -> Vec<String> {
        fs::read_to_string(root.join(file))
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn runs_oscap_chrooted_with_the_default_datastream() {
        let t = tree(2); // some rules fail: still fine
        let r = t.root();
        apply(&env(r), &oscap("xccdf_org.ssgproject.content_profile_cis")).unwrap();
        assert_eq!(
            recorded(r, "oscap-args"),
            [
                "xccdf",
                "eval",
                "--remediate",
                "--profile",
                "xccdf_org.ssgproject.content_profile_cis",
                DS
            ]
        );
        fs::write(r.join("oscap-rc"), "0\n").unwrap();
        apply(&env(r), &oscap("p")).unwrap();
        fs::write(r.join("oscap-rc"), "1\n").unwrap();
        let e = apply(&env(r), &oscap("p")).unwrap_err();
        assert!(format!("{e:#}").contains("exited with 1"), "{e:#}");
    }

    #[test]
    fn tailoring_is_written_and_passed() {
        let t = tree(0);
        let r = t.root();
        put(r, "/usr/share/custom-ds.xml", "<ds/>", 0o644);
        let mut o = oscap("xccdf_org.ssgproject.content_profile_cis");
        o.datastream = Some("/usr/share/custom-ds.xml".into());
        o.tailoring = Some(OpenScapTailoring {
            selected: vec!["rule_a".into()],
            unselected: vec!["xccdf_org.ssgproject.content_rule_b".into()],
        });
        apply(&env(r), &o).unwrap();
        let tailored = "xccdf_org.ssgproject.content_profile_cis_image_builder_tailoring";
        let file = "/usr/share/xml/image-builder/openscap/tailoring.xml";
        assert_eq!(
            recorded(r, "oscap-args"),
            [
                "xccdf",
                "eval",
                "--remediate",
                "--profile",
                tailored,
                "--tailoring-file",
                file,
                "/usr/share/custom-ds.xml"
            ]
        );
        let xml = fs::read_to_string(in_root(r, file).unwrap()).unwrap();
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let p = doc
            .descendants()
            .find(|n| n.has_tag_name("Profile"))
            .unwrap();
        assert_eq!(p.attribute("id"), Some(tailored));
        assert_eq!(
            p.attribute("extends"),
            Some("xccdf_org.ssgproject.content_profile_cis")
        );
        let sel: Vec<_> = p
            .children()
            .filter(|n| n.has_tag_name("select"))
            .map(|n| {
                (
                    n.attribute("idref").unwrap(),
                    n.attribute("selected").unwrap(),
                )
            })
            .collect();
        assert_eq!(
            sel,
            [
                ("xccdf_org.ssgproject.content_rule_rule_a", "true"),
                ("xccdf_org.ssgproject.content_rule_b", "false")
            ]
        );
        let v = doc
            .descendants()
            .find(|n| n.has_tag_name("version"))
            .unwrap();
        assert_eq!(v.attribute("time"), Some("2023-11-14T22:13:20"));
    }

    #[test]
    fn json_tailoring_goes_through_autotailor() {
        let t = tree(0);
        let r = t.root();
        put(r, "/etc/tailor.json", "{}", 0o644);
        let mut o = oscap("base");
        o.json_tailoring = Some(OpenScapJsonTailoring {
            profile_id: "custom_profile".into(),
            filepath: "/etc/tailor.json".into(),
        });
        let e = apply(&env(r), &o).unwrap_err();
        assert!(format!("{e:#}").contains("add openscap-utils"), "{e:#}");
        put(r, AUTOTAILOR, FAKE_AUTOTAILOR, 0o755);
        apply(&env(r), &o).unwrap();
        let file = "/usr/share/xml/image-builder/openscap/tailoring.xml";
        assert_eq!(
            recorded(r, "autotailor-args"),
            ["--output", file, "--json-tailoring", "/etc/tailor.json", DS]
        );
        assert!(in_root(r, file).unwrap().is_file());
        assert_eq!(
            recorded(r, "oscap-args"),
            [
                "xccdf",
                "eval",
                "--remediate",
                "--profile",
                "custom_profile",
                "--tailoring-file",
                file,
                DS
            ]
        );
    }

    #[test]
    fn refusals_name_what_to_add() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        let e = format!("{:#}", apply(&env(r), &oscap("p")).unwrap_err());
        assert!(
            e.contains("openscap-scanner and scap-security-guide"),
            "{e}"
        );
        put(r, OSCAP, "", 0o755);
        put(
            r,
            "/etc/os-release",
            "ID=almalinux\nVERSION_ID=10.0\n",
            0o644,
        );
        let e = format!("{:#}", apply(&env(r), &oscap("p")).unwrap_err());
        assert!(
            e.contains("ssg-almalinux10-ds.xml") && e.contains("scap-security-guide"),
            "{e}"
        );
        let e = format!("{:#}", apply(&env(r), &oscap("p q")).unwrap_err());
        assert!(e.contains("not an XCCDF id"), "{e}");
        let mut o = oscap("p");
        o.datastream = Some("/nope.xml".into());
        assert!(format!("{:#}", apply(&env(r), &o).unwrap_err()).contains("/nope.xml"));
        let mut o = oscap("p");
        o.policy_id = Some("x".into());
        assert!(format!("{:#}", apply(&env(r), &o).unwrap_err()).contains("policy_id"));
    }

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20");
    }
}
