//! `[[customizations.group]]`, `[[customizations.user]]` and the legacy
//! `[[customizations.sshkey]]`.
//!
//! Why natively instead of `useradd` chrooted: the tree may have no shadow
//! utilities (minimal and container images), running them needs a working
//! PAM/NSS setup inside the tree, and they stamp today's date into
//! `/etc/shadow`, which breaks byte-reproducible builds. The four account
//! databases are plain colon-separated text, so we edit the *tree's* copies
//! (never the host's) with the same rules useradd follows: ids from the
//! tree's `login.defs`, user-private groups, `/etc/skel` copied into new
//! homes, `SOURCE_DATE_EPOCH` as the password-change day. Every file is
//! written atomically and keeps its mode, so a failed build never leaves
//! half a passwd file behind.

use super::files::{self, Meta};
use super::Env;
use crate::manifest::blueprint::*;
use crate::manifest::rules;
use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

mod crypt;
use crypt::password_hash;

/// Applies groups, then users, then legacy ssh keys (which need the users).
pub fn apply(
    env: &Env,
    users: &[User],
    groups: &[GroupCustomization],
    keys: &[SshKey],
) -> Result<()> {
    let mut db = Accounts::load(env)?;
    for g in groups {
        db.add_group(&g.name, g.gid)
            .with_context(|| format!("group {}", g.name))?;
    }
    let mut homes = Vec::new();
    for u in users {
        homes.push(db.user(u).with_context(|| format!("user {}", u.name))?);
    }
    for k in keys {
        let (uid, gid, home) = db.passwd_entry(&k.user).with_context(|| {
            format!(
                "sshkey for {}: no such user in the tree or in [[customizations.user]]",
                k.user
            )
        })?;
        homes.push(Home {
            uid,
            gid,
            dir: home,
            create: false,
            key: Some((k.key.clone(), false)),
        });
    }
    db.save(env)?;
    for h in homes {
        h.apply(env)
            .with_context(|| format!("home directory {}", h.dir))?;
    }
    Ok(())
}

/// What to do in a user's home once the databases are written.
struct Home {
    uid: u32,
    gid: u32,
    dir: String,
    /// Create it (0700, from `/etc/skel`) when missing.
    create: bool,
    /// An `authorized_keys` text and whether it replaces the file (`user.key`)
    /// or is added to it (legacy `sshkey`).
    key: Option<(String, bool)>,
}

impl Home {
    fn apply(&self, env: &Env) -> Result<()> {
        let host = files::resolve(&env.root, &self.dir)?;
        if self.create && std::fs::symlink_metadata(&host).is_err() {
            let parent = match self.dir.rfind('/') {
                Some(0) | None => "/",
                Some(i) => &self.dir[..i],
            };
            files::ensure_dir(&env.root, parent, env.source_date_epoch)?;
            std::fs::create_dir(&host).with_context(|| format!("creating {}", self.dir))?;
            let skel = files::resolve(&env.root, "/etc/skel")?;
            if skel.is_dir() {
                copy_skel(&skel, &host, self.uid, self.gid, env.source_date_epoch)?;
            }
            own(&host, self.uid, self.gid, 0o700, env.source_date_epoch)?;
        }
        let Some((key, replace)) = &self.key else {
            return Ok(());
        };
        if !host.is_dir() {
            bail!(
                "{} does not exist in the tree; cannot add an ssh key",
                self.dir
            );
        }
        let ssh = format!("{}/.ssh", self.dir.trim_end_matches('/'));
        let ssh_host = files::resolve(&env.root, &ssh)?;
        match std::fs::symlink_metadata(&ssh_host) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => bail!("{ssh} exists and is not a directory"),
            Err(_) => {
                std::fs::create_dir(&ssh_host).with_context(|| format!("creating {ssh}"))?;
                own(&ssh_host, self.uid, self.gid, 0o700, env.source_date_epoch)?;
            }
        }
        let path = format!("{ssh}/authorized_keys");
        let mut text = if *replace {
            String::new()
        } else {
            files::read_opt(&env.root, &path)?.unwrap_or_default()
        };
        for line in key.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if !text.lines().any(|l| l.trim() == line) {
                if !text.is_empty() && !text.ends_with('\n') {
                    text.push('\n');
                }
                text.push_str(line);
                text.push('\n');
            }
        }
        rules::ssh_keys(key)?;
        let meta = Meta {
            mode: 0o600,
            uid: self.uid,
            gid: self.gid,
        };
        files::write_file(
            &env.root,
            &path,
            text.as_bytes(),
            meta,
            env.source_date_epoch,
        )?;
        own(&ssh_host, self.uid, self.gid, 0o700, env.source_date_epoch)
    }
}

/// chown + chmod + mtime of a host path that is not a symlink.
fn own(host: &Path, uid: u32, gid: u32, mode: u32, mtime: i64) -> Result<()> {
    std::os::unix::fs::chown(host, Some(uid), Some(gid))
        .with_context(|| format!("chown {}", host.display()))?;
    std::fs::set_permissions(host, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {}", host.display()))?;
    files::set_mtime(host, mtime)
}

/// Copies `/etc/skel` into a new home, owned by the user; symlinks are
/// copied as links, never followed.
fn copy_skel(src: &Path, dst: &Path, uid: u32, gid: u32, mtime: i64) -> Result<()> {
    let entries = std::fs::read_dir(src).with_context(|| format!("reading {}", src.display()))?;
    for e in entries {
        let e = e.with_context(|| format!("reading {}", src.display()))?;
        let (from, to) = (e.path(), dst.join(e.file_name()));
        let m = std::fs::symlink_metadata(&from)
            .with_context(|| format!("inspecting {}", from.display()))?;
        let mode = m.mode() & 0o7777;
        if m.file_type().is_symlink() {
            let target = std::fs::read_link(&from)?;
            std::os::unix::fs::symlink(&target, &to)
                .with_context(|| format!("creating link {}", to.display()))?;
            std::os::unix::fs::lchown(&to, Some(uid), Some(gid))
                .with_context(|| format!("chown {}", to.display()))?;
        } else if m.is_dir() {
            std::fs::create_dir(&to).with_context(|| format!("creating {}", to.display()))?;
            copy_skel(&from, &to, uid, gid, mtime)?;
            own(&to, uid, gid, mode, mtime)?;
        } else if m.is_file() {
            std::fs::copy(&from, &to).with_context(|| format!("copying {}", from.display()))?;
            own(&to, uid, gid, mode, mtime)?;
        }
    }
    Ok(())
}

/// One account database: lines split on `:`, comments kept verbatim.
struct Db {
    path: &'static str,
    lines: Vec<Vec<String>>,
    /// Mode when the tree has no such file.
    mode: u32,
    changed: bool,
}

impl Db {
    fn load(env: &Env, path: &'static str, root_line: &str, mode: u32) -> Result<Db> {
        let (text, changed) = match files::read_opt(&env.root, path)? {
            Some(t) => (t, false),
            None => (format!("{root_line}\n"), true),
        };
        let lines = text
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| l.split(':').map(String::from).collect())
            .collect();
        Ok(Db {
            path,
            lines,
            mode,
            changed,
        })
    }

    /// Like `load`, but `None` when the tree has no such file.
    fn load_existing(env: &Env, path: &'static str) -> Result<Option<Db>> {
        if !files::exists(&env.root, path)? {
            return Ok(None);
        }
        Db::load(env, path, "", 0o644).map(Some)
    }

    fn names(&self) -> impl Iterator<Item = &str> {
        self.lines
            .iter()
            .filter_map(|f| f.first())
            .map(String::as_str)
    }

    fn find(&self, name: &str) -> Option<usize> {
        self.lines
            .iter()
            .position(|f| f.first().is_some_and(|n| n == name))
    }

    /// Field `i` of the line for `name`, if both exist.
    fn field(&self, name: &str, i: usize) -> Option<&str> {
        self.find(name)
            .and_then(|l| self.lines[l].get(i))
            .map(String::as_str)
    }

    /// Sets field `i` of line `l`, growing the line to `len` fields.
    fn set(&mut self, l: usize, i: usize, value: &str, len: usize) {
        let line = &mut self.lines[l];
        while line.len() < len.max(i + 1) {
            line.push(String::new());
        }
        line[i] = value.to_string();
        self.changed = true;
    }

    fn push(&mut self, fields: &[&str]) {
        self.lines
            .push(fields.iter().map(|s| s.to_string()).collect());
        self.changed = true;
    }

    /// Whether some line other than `name`'s has `id` in field 2.
    fn id_used(&self, id: u32, except: &str) -> Option<&str> {
        let id = id.to_string();
        self.lines
            .iter()
            .find(|f| f.get(2) == Some(&id) && f.first().is_some_and(|n| n != except))
            .and_then(|f| f.first())
            .map(String::as_str)
    }

    /// Adds `member` to the comma-separated list in field `i` of `name`'s line.
    fn add_member(&mut self, name: &str, i: usize, member: &str) -> bool {
        let Some(l) = self.find(name) else {
            return false;
        };
        let cur = self.lines[l].get(i).cloned().unwrap_or_default();
        let mut list: Vec<&str> = cur.split(',').filter(|m| !m.is_empty()).collect();
        if !list.contains(&member) {
            list.push(member);
            let joined = list.join(",");
            self.set(l, i, &joined, 4);
        }
        true
    }

    fn save(&self, env: &Env) -> Result<()> {
        if !self.changed {
            return Ok(());
        }
        let mut text = String::new();
        for l in &self.lines {
            text.push_str(&l.join(":"));
            text.push('\n');
        }
        files::write_config(env, self.path, &text, self.mode)
            .with_context(|| format!("writing {}", self.path))
    }
}

/// The four databases plus the tree's `login.defs` numbers.
struct Accounts {
    passwd: Db,
    shadow: Db,
    group: Db,
    gshadow: Db,
    /// `/etc/subuid` and `/etc/subgid`, when the tree has them.
    subuid: Option<Db>,
    subgid: Option<Db>,
    defs: HashMap<String, String>,
    /// Days since the epoch of `SOURCE_DATE_EPOCH`: the password-change day.
    today: i64,
}

impl Accounts {
    fn load(env: &Env) -> Result<Accounts> {
        let defs = files::read_opt(&env.root, "/etc/login.defs")?
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                Some((w.next()?.to_string(), w.next()?.to_string()))
            })
            .collect();
        let passwd = Db::load(env, "/etc/passwd", "root:x:0:0:root:/root:/bin/bash", 0o644)?;
        let group = Db::load(env, "/etc/group", "root:x:0:", 0o644)?;
        // AlmaLinux ships shadow and gshadow with mode 0000.
        let mut shadow = Db::load(env, "/etc/shadow", "root:!::0:99999:7:::", 0o000)?;
        let mut gshadow = Db::load(env, "/etc/gshadow", "root:!::", 0o000)?;
        // A new shadow file gets a locked entry for every existing account,
        // as pwconv/grpconv would make it.
        if shadow.changed {
            shadow.lines = passwd
                .names()
                .map(|n| {
                    [n, "!", "", "0", "99999", "7", "", "", ""]
                        .map(String::from)
                        .to_vec()
                })
                .collect();
        }
        if gshadow.changed {
            gshadow.lines = group
                .lines
                .iter()
                .filter_map(|f| {
                    let members = f.get(3).cloned().unwrap_or_default();
                    Some(vec![f.first()?.clone(), "!".into(), String::new(), members])
                })
                .collect();
        }
        Ok(Accounts {
            passwd,
            shadow,
            group,
            gshadow,
            subuid: Db::load_existing(env, "/etc/subuid")?,
            subgid: Db::load_existing(env, "/etc/subgid")?,
            defs,
            today: env.source_date_epoch.div_euclid(86_400).max(0),
        })
    }

    /// Subordinate id ranges for a new user (rootless containers), as
    /// useradd adds them when the tree has `/etc/subuid` and `/etc/subgid`.
    fn add_subids(&mut self, name: &str) {
        let uid = (
            self.def("SUB_UID_MIN", 100_000),
            self.def("SUB_UID_COUNT", 65_536),
        );
        let gid = (
            self.def("SUB_GID_MIN", 100_000),
            self.def("SUB_GID_COUNT", 65_536),
        );
        for (db, (min, count)) in [(&mut self.subuid, uid), (&mut self.subgid, gid)] {
            let Some(db) = db else { continue };
            if count == 0 || db.find(name).is_some() {
                continue;
            }
            let next = db
                .lines
                .iter()
                .filter_map(|f| {
                    let start: u64 = f.get(1)?.parse().ok()?;
                    let n: u64 = f.get(2)?.parse().ok()?;
                    Some(start + n)
                })
                .max()
                .unwrap_or(0)
                .max(u64::from(min));
            db.push(&[name, &next.to_string(), &count.to_string()]);
        }
    }

    fn def(&self, key: &str, default: u32) -> u32 {
        self.defs
            .get(key)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }

    fn save(&self, env: &Env) -> Result<()> {
        self.group.save(env)?;
        self.gshadow.save(env)?;
        self.passwd.save(env)?;
        self.shadow.save(env)?;
        for db in [&self.subuid, &self.subgid].into_iter().flatten() {
            db.save(env)?;
        }
        Ok(())
    }

    /// uid, gid and home of `name` in passwd.
    fn passwd_entry(&self, name: &str) -> Option<(u32, u32, String)> {
        let uid = self.passwd.field(name, 2)?.parse().ok()?;
        let gid = self.passwd.field(name, 3)?.parse().ok()?;
        Some((uid, gid, self.passwd.field(name, 5)?.to_string()))
    }

    fn free_id(db: &Db, min: u32, max: u32, what: &str) -> Result<u32> {
        (min..=max)
            .find(|id| db.id_used(*id, "").is_none())
            .with_context(|| format!("no free {what} between {min} and {max}"))
    }

    /// Creates group `name` (gid given or the first free one ≥ GID_MIN);
    /// an existing group with the same gid is left alone. Returns its gid.
    fn add_group(&mut self, name: &str, gid: Option<i64>) -> Result<u32> {
        check_name(name)?;
        let want = gid.map(to_id).transpose()?;
        if let Some(cur) = self.group.field(name, 2) {
            let cur: u32 = cur
                .parse()
                .with_context(|| format!("/etc/group: bad gid {cur:?} for {name}"))?;
            if want.is_some_and(|w| w != cur) {
                bail!(
                    "group {name} already exists with gid {cur}, not {}",
                    want.unwrap_or(cur)
                );
            }
            return Ok(cur);
        }
        let gid = match want {
            Some(g) => {
                if let Some(other) = self.group.id_used(g, name) {
                    bail!("gid {g} is already used by group {other}");
                }
                g
            }
            None => Self::free_id(
                &self.group,
                self.def("GID_MIN", 1000),
                self.def("GID_MAX", 60000),
                "gid",
            )?,
        };
        self.group.push(&[name, "x", &gid.to_string(), ""]);
        if self.gshadow.find(name).is_none() {
            self.gshadow.push(&[name, "!", "", ""]);
        }
        Ok(gid)
    }

    /// Creates or updates one user; returns what to do in its home.
    fn user(&mut self, u: &User) -> Result<Home> {
        check_name(&u.name)?;
        let name = u.name.as_str();
        for (what, v) in [
            ("description", &u.description),
            ("home", &u.home),
            ("shell", &u.shell),
        ] {
            if let Some(v) = v {
                check_field(what, v)?;
            }
        }
        let home = u.home.as_deref().map(|h| {
            let t = h.trim_end_matches('/');
            if t.is_empty() { "/" } else { t }.to_string()
        });
        if let Some(h) = &home {
            files::check_manifest_path(h).with_context(|| format!("home {h}"))?;
        }
        let uid_want = u.uid.map(to_id).transpose()?;
        let gid_want = u.gid.map(to_id).transpose()?;
        let existing = self.passwd.find(name).is_some();
        let (uid, gid) = if existing {
            let (cur_uid, cur_gid, _) = self
                .passwd_entry(name)
                .with_context(|| format!("/etc/passwd: malformed entry for {name}"))?;
            (uid_want.unwrap_or(cur_uid), gid_want.unwrap_or(cur_gid))
        } else {
            let uid = match uid_want {
                Some(id) => id,
                None => Self::free_id(
                    &self.passwd,
                    self.def("UID_MIN", 1000),
                    self.def("UID_MAX", 60000),
                    "uid",
                )?,
            };
            self.add_subids(name);
            (uid, self.primary_group(name, uid, gid_want)?)
        };
        if let Some(other) = self
            .passwd
            .id_used(uid, name)
            .filter(|_| uid_want.is_some())
        {
            bail!("uid {uid} is already used by user {other}");
        }
        if existing && gid_want.is_some() && self.group.id_used(gid, "").is_none() {
            bail!("gid {gid} is not a group in the tree");
        }
        let home = home.unwrap_or_else(|| match self.passwd.field(name, 5) {
            Some(h) if existing => h.to_string(),
            _ => format!("/home/{name}"),
        });
        let line = match self.passwd.find(name) {
            Some(l) => l,
            None => {
                self.passwd.push(&[name, "x", "", "", "", "", ""]);
                self.passwd.lines.len() - 1
            }
        };
        self.passwd.set(line, 2, &uid.to_string(), 7);
        self.passwd.set(line, 3, &gid.to_string(), 7);
        if let Some(d) = &u.description {
            self.passwd.set(line, 4, d, 7);
        }
        self.passwd.set(line, 5, &home, 7);
        match &u.shell {
            Some(s) => self.passwd.set(line, 6, s, 7),
            None if !existing => self.passwd.set(line, 6, "/bin/bash", 7),
            None => {}
        }
        self.shadow_entry(u, existing)?;
        for g in &u.groups {
            if !self.group.add_member(g, 3, name) {
                bail!("supplementary group {g:?} does not exist (add a [[customizations.group]] for it)");
            }
            self.gshadow.add_member(g, 3, name);
        }
        Ok(Home {
            uid,
            gid,
            dir: home,
            create: true,
            key: u.key.clone().map(|k| (k, true)),
        })
    }

    /// The new user's primary group: `gid` when given (created as a group
    /// named after the user when no group has it), else the user-private
    /// group `name`, numbered like the uid when that gid is free.
    fn primary_group(&mut self, name: &str, uid: u32, gid: Option<u32>) -> Result<u32> {
        if let Some(g) = gid {
            if self.group.id_used(g, "").is_some() {
                return Ok(g);
            }
            return self.add_group(name, Some(i64::from(g)));
        }
        if let Some(cur) = self.group.field(name, 2) {
            return cur
                .parse()
                .with_context(|| format!("/etc/group: bad gid {cur:?} for {name}"));
        }
        let same = self.group.id_used(uid, "").is_none();
        self.add_group(name, same.then_some(i64::from(uid)))
    }

    /// The shadow line: password, last change, expiry.
    fn shadow_entry(&mut self, u: &User, existing: bool) -> Result<()> {
        let name = u.name.as_str();
        let line = match self.shadow.find(name) {
            Some(l) => l,
            None => {
                let (min, max, warn) = (
                    self.def("PASS_MIN_DAYS", 0).to_string(),
                    self.def("PASS_MAX_DAYS", 99999).to_string(),
                    self.def("PASS_WARN_AGE", 7).to_string(),
                );
                let today = self.today.to_string();
                self.shadow
                    .push(&[name, "!!", &today, &min, &max, &warn, "", "", ""]);
                self.shadow.lines.len() - 1
            }
        };
        if let Some(p) = u.password.as_deref().filter(|p| !p.is_empty()) {
            rules::password(p)?;
            let hash = password_hash(name, p)?;
            self.shadow.set(line, 1, &hash, 9);
            self.shadow.set(line, 2, &self.today.to_string(), 9);
        } else if !existing {
            self.shadow.set(line, 2, &self.today.to_string(), 9);
        }
        if let Some(e) = u.expiredate {
            rules::expiredate(e)?;
            let v = match e {
                -1 => String::new(),
                e => e.to_string(),
            };
            self.shadow.set(line, 7, &v, 9);
        }
        if u.force_password_reset == Some(true) {
            self.shadow.set(line, 2, "0", 9);
        }
        Ok(())
    }
}

fn to_id(v: i64) -> Result<u32> {
    Ok(rules::account_id("id", v)?)
}

/// User and group names: `rules::account_name`, which validation applies
/// with the key's line and column.
fn check_name(name: &str) -> Result<()> {
    Ok(rules::account_name("account", name)?)
}

fn check_field(what: &str, v: &str) -> Result<()> {
    Ok(rules::passwd_field(what, v)?)
}

#[cfg(test)]
mod tests;
