//! `hostname`, `[customizations.timezone]` and `[customizations.locale]`.
//!
//! Why files instead of `hostnamectl`/`timedatectl`/`localectl`: those talk
//! to systemd daemons over D-Bus, which do not run inside a tree being
//! built. What they would persist is a handful of small files, so we write
//! exactly those, in the form the tools themselves write them, so that the
//! booted system's tools read them back unchanged.

use super::files;
use super::Env;
use crate::manifest::blueprint::*;
use crate::manifest::rules;
use anyhow::{bail, Context, Result};

/// `/etc/hostname`: the static hostname, one line.
pub fn hostname(env: &Env, h: &str) -> Result<()> {
    rules::hostname(h)?;
    files::write_config(env, "/etc/hostname", &format!("{h}\n"), 0o644)
        .context("writing /etc/hostname")
}

/// `/etc/localtime` as a relative link into the tree's zoneinfo (as
/// `timedatectl` makes it), and chrony's servers.
pub fn timezone(env: &Env, t: &Timezone) -> Result<()> {
    if let Some(zone) = &t.timezone {
        set_zone(env, zone).with_context(|| format!("timezone {zone}"))?;
    }
    if !t.ntpservers.is_empty() {
        ntp(env, &t.ntpservers).context("ntpservers in /etc/chrony.conf")?;
    }
    Ok(())
}

fn set_zone(env: &Env, zone: &str) -> Result<()> {
    rules::timezone(zone)?;
    let zonefile = format!("/usr/share/zoneinfo/{zone}");
    if !files::resolve(&env.root, &zonefile)?.is_file() {
        bail!("{zonefile} is not in the tree (unknown zone, or tzdata is not installed)");
    }
    let etc = files::ensure_dir(&env.root, "/etc", env.source_date_epoch)?;
    let link = etc.join("localtime");
    if std::fs::symlink_metadata(&link).is_ok_and(|m| m.is_dir()) {
        bail!("/etc/localtime is a directory in the tree");
    }
    let tmp = etc.join(".localtime.image-builder");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(format!("../usr/share/zoneinfo/{zone}"), &tmp)
        .context("creating /etc/localtime")?;
    std::fs::rename(&tmp, &link).context("replacing /etc/localtime")?;
    files::set_mtime(&etc, env.source_date_epoch)
}

/// Comments out the `server` and `pool` lines chrony came with and adds one
/// `server NAME iburst` line for each server.
fn ntp(env: &Env, servers: &[String]) -> Result<()> {
    for s in servers {
        rules::host("NTP server", s)?;
    }
    let old = files::read_opt(&env.root, "/etc/chrony.conf")?.unwrap_or_default();
    let mut out = String::new();
    for line in old.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if first == "server" || first == "pool" {
            out.push('#');
        }
        out.push_str(line);
        out.push('\n');
    }
    for s in servers {
        out.push_str(&format!("server {s} iburst\n"));
    }
    files::write_config(env, "/etc/chrony.conf", &out, 0o644)
}

/// `LANG` in `/etc/locale.conf` and the console and X11 keymaps, as
/// `localectl set-locale` and `set-keymap` write them.
pub fn locale(env: &Env, l: &Locale) -> Result<()> {
    for lang in &l.languages {
        rules::language(lang)?;
    }
    if let Some(lang) = l.languages.first() {
        set_var(env, "/etc/locale.conf", "LANG", lang).context("writing /etc/locale.conf")?;
    }
    if let Some(k) = &l.keyboard {
        rules::keymap(k)?;
        set_var(env, "/etc/vconsole.conf", "KEYMAP", k).context("writing /etc/vconsole.conf")?;
        let x11 = x11_keyboard(env, k)?;
        files::write_config(env, XORG_KEYBOARD, &x11, 0o644)
            .with_context(|| format!("writing {XORG_KEYBOARD}"))?;
    }
    Ok(())
}

const XORG_KEYBOARD: &str = "/etc/X11/xorg.conf.d/00-keyboard.conf";

/// Sets `KEY=value` in an env-style file in place, keeping its other lines.
fn set_var(env: &Env, path: &str, key: &str, value: &str) -> Result<()> {
    let old = files::read_opt(&env.root, path)?.unwrap_or_default();
    let prefix = format!("{key}=");
    let line = format!("{key}={value}\n");
    let mut out = String::new();
    let mut done = false;
    for l in old.lines() {
        if l.trim_start().starts_with(&prefix) {
            if !done {
                out.push_str(&line);
                done = true;
            }
        } else {
            out.push_str(l);
            out.push('\n');
        }
    }
    if !done {
        out.push_str(&line);
    }
    files::write_config(env, path, &out, 0o644)
}

/// The X11 keyboard for console keymap `k`: from the tree's
/// `kbd-model-map` (what `localectl` uses) when it lists it, else the
/// keymap's `layout-variant` split.
fn x11_keyboard(env: &Env, k: &str) -> Result<String> {
    let map = files::read_opt(&env.root, "/usr/share/systemd/kbd-model-map")?.unwrap_or_default();
    let row: Option<Vec<&str>> = map
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|w| w.first() == Some(&k) && w.len() >= 2);
    let dash = |s: Option<&&str>| s.filter(|v| **v != "-").map(|v| v.to_string());
    let (layout, model, variant, options) = match row {
        Some(w) => (
            w[1].to_string(),
            dash(w.get(2)),
            dash(w.get(3)),
            dash(w.get(4)),
        ),
        None => match k.split_once('-') {
            Some((l, v)) => (l.to_string(), None, Some(v.to_string()), None),
            None => (k.to_string(), None, None, None),
        },
    };
    let mut s = String::from(
        "# Written by systemd-localed(8), read by systemd-localed and Xorg. It's\n\
         # probably wise not to edit this file manually. Use localectl(1) to\n\
         # update this file.\n\
         Section \"InputClass\"\n        \
         Identifier \"system-keyboard\"\n        \
         MatchIsKeyboard \"on\"\n",
    );
    s.push_str(&format!("        Option \"XkbLayout\" \"{layout}\"\n"));
    for (name, v) in [
        ("XkbModel", model),
        ("XkbVariant", variant),
        ("XkbOptions", options),
    ] {
        if let Some(v) = v {
            s.push_str(&format!("        Option \"{name}\" \"{v}\"\n"));
        }
    }
    s.push_str("EndSection\n");
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::super::testtree::TestTree;
    use super::*;

    #[test]
    fn hostname_written_and_checked() {
        let t = TestTree::new();
        hostname(&t.env, "web-01.example.com").unwrap();
        assert_eq!(t.read("/etc/hostname"), "web-01.example.com\n");
        assert_eq!(t.mode("/etc/hostname"), 0o644);
        let e = format!("{:#}", hostname(&t.env, "bad host\n").unwrap_err());
        assert!(e.contains("bad host"), "{e}");
    }

    #[test]
    fn timezone_links_into_the_trees_zoneinfo() {
        let t = TestTree::new();
        t.write("/usr/share/zoneinfo/Europe/Prague", "TZif");
        t.write("/etc/localtime", "old copy");
        let tz = |z: &str| Timezone {
            timezone: Some(z.into()),
            ntpservers: vec![],
        };
        timezone(&t.env, &tz("Europe/Prague")).unwrap();
        let link = std::fs::read_link(t.host("/etc/localtime")).unwrap();
        assert_eq!(link.to_str(), Some("../usr/share/zoneinfo/Europe/Prague"));
        assert_eq!(t.read("/etc/localtime"), "TZif");
        let e = format!("{:#}", timezone(&t.env, &tz("Mars/Olympus")).unwrap_err());
        assert!(
            e.contains("timezone Mars/Olympus") && e.contains("/usr/share/zoneinfo/Mars/Olympus"),
            "{e}"
        );
        assert!(timezone(&t.env, &tz("../../etc/passwd")).is_err());
        assert!(std::fs::read_link(t.host("/etc/localtime")).is_ok());
    }

    #[test]
    fn ntpservers_replace_chronys_sources() {
        let t = TestTree::new();
        let tz = Timezone {
            timezone: None,
            ntpservers: vec!["ntp1.example.com".into(), "10.0.0.1".into()],
        };
        timezone(&t.env, &tz).unwrap();
        assert_eq!(
            t.read("/etc/chrony.conf"),
            "server ntp1.example.com iburst\nserver 10.0.0.1 iburst\n"
        );
        t.write(
            "/etc/chrony.conf",
            "# Use public servers\npool 2.almalinux.pool.ntp.org iburst\n  server old\ndriftfile /var/lib/chrony/drift\n",
        );
        timezone(&t.env, &tz).unwrap();
        assert_eq!(
            t.read("/etc/chrony.conf"),
            "# Use public servers\n#pool 2.almalinux.pool.ntp.org iburst\n#  server old\n\
             driftfile /var/lib/chrony/drift\nserver ntp1.example.com iburst\nserver 10.0.0.1 iburst\n"
        );
        let bad = Timezone {
            timezone: None,
            ntpservers: vec!["a b".into()],
        };
        let e = format!("{:#}", timezone(&t.env, &bad).unwrap_err());
        assert!(e.contains("chrony.conf") && e.contains("a b"), "{e}");
    }

    #[test]
    fn locale_and_keyboard() {
        let t = TestTree::new();
        t.write("/etc/locale.conf", "LANG=C.UTF-8\nLC_MESSAGES=C\n");
        t.write("/etc/vconsole.conf", "FONT=eurlatgr\nKEYMAP=us\n");
        t.write(
            "/usr/share/systemd/kbd-model-map",
            "# console x11 model variant options\nde-nodeadkeys\tde\tpc105\tnodeadkeys\tterminate:ctrl_alt_bksp\nus us pc105 - terminate:ctrl_alt_bksp\n",
        );
        let l = Locale {
            languages: vec!["de_DE.UTF-8".into(), "en_US.UTF-8".into()],
            keyboard: Some("de-nodeadkeys".into()),
        };
        locale(&t.env, &l).unwrap();
        assert_eq!(
            t.read("/etc/locale.conf"),
            "LANG=de_DE.UTF-8\nLC_MESSAGES=C\n"
        );
        assert_eq!(
            t.read("/etc/vconsole.conf"),
            "FONT=eurlatgr\nKEYMAP=de-nodeadkeys\n"
        );
        let x = t.read(XORG_KEYBOARD);
        assert!(x.contains("        Option \"XkbLayout\" \"de\"\n"), "{x}");
        assert!(x.contains("Option \"XkbModel\" \"pc105\""), "{x}");
        assert!(x.contains("Option \"XkbVariant\" \"nodeadkeys\""), "{x}");
        assert!(
            x.contains("Option \"XkbOptions\" \"terminate:ctrl_alt_bksp\""),
            "{x}"
        );
        assert!(x.starts_with("# Written by systemd-localed(8)") && x.ends_with("EndSection\n"));
        // not in the map: layout-variant split
        let l = Locale {
            languages: vec![],
            keyboard: Some("fr-latin9".into()),
        };
        locale(&t.env, &l).unwrap();
        let x = t.read(XORG_KEYBOARD);
        assert!(
            x.contains("\"XkbLayout\" \"fr\"") && x.contains("\"XkbVariant\" \"latin9\""),
            "{x}"
        );
        assert!(!x.contains("XkbModel"), "{x}");
        let bad = Locale {
            languages: vec!["en US".into()],
            keyboard: None,
        };
        assert!(format!("{:#}", locale(&t.env, &bad).unwrap_err()).contains("en US"));
    }
}
