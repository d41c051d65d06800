//! The lines each template slot gets, from the manifest's values. Every
//! value goes through `q`, kickstart's quoting (pykickstart splits lines
//! with Python's shlex, POSIX mode: `#` starts a comment, double quotes
//! group, backslash escapes `"` and `\` inside them).

use super::{Payload, Request};
use crate::manifest::blueprint::{Customizations, Installer, Partition, PartitioningMode};
use crate::manifest::rules::{self, Refusal};
use crate::manifest::size::Size;

/// What every slot reads.
pub(super) struct Ctx<'a> {
    pub c: &'a Customizations,
    pub installer: &'a Installer,
    pub req: &'a Request<'a>,
    pub ntp_timesource: bool,
    pub fstype: &'a str,
}

impl Ctx<'_> {
    fn unattended(&self) -> bool {
        self.installer.unattended == Some(true)
    }
    fn own_kickstart(&self) -> Option<&str> {
        self.installer
            .kickstart
            .as_ref()
            .map(|k| k.contents.as_str())
    }
}

type Lines = Result<Vec<String>, Refusal>;

pub(super) fn slot(ctx: &Ctx, name: &str) -> Lines {
    match name {
        "header" => Ok(header(ctx)),
        "mode" => Ok(if ctx.unattended() {
            vec!["text --non-interactive".into()]
        } else {
            vec![]
        }),
        "locale" => Ok(locale(ctx)),
        "timezone" => Ok(timezone(ctx)),
        "network" => Ok(ctx
            .c
            .hostname
            .iter()
            .map(|h| format!("network --hostname={}", q(h)))
            .collect()),
        "users" => Ok(users(ctx)),
        "storage" => storage(ctx),
        "bootloader" => Ok(bootloader(ctx)),
        "system" => Ok(system(ctx)),
        "payload" => Ok(payload(ctx)),
        "finish" => Ok(if ctx.unattended() {
            vec!["reboot --eject".into()]
        } else {
            vec![]
        }),
        "post" => Ok(post(ctx)),
        _ => Ok(vec![]),
    }
}

/// Kickstart quoting: bare when every character is plainly safe, else
/// double-quoted with `\` and `"` escaped.
pub(super) fn q(s: &str) -> String {
    let safe = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_@%+=:,./-$".contains(&b));
    if safe {
        return s.to_string();
    }
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for ch in s.chars() {
        if ch == '"' || ch == '\\' {
            o.push('\\');
        }
        o.push(ch);
    }
    o.push('"');
    o
}

/// Single quotes for a shell word in `%post` (values were judged to have
/// no line breaks).
fn sh(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Kickstart sizes are MiB; round up, at least 1.
fn mib(s: Size) -> u64 {
    s.bytes().div_ceil(1 << 20).max(1)
}

fn header(ctx: &Ctx) -> Vec<String> {
    let mut v = vec![format!(
        "# Medium {}, payload {}.",
        ctx.req.label, ctx.req.payload
    )];
    if let Some(k) = ctx.own_kickstart() {
        v.push("# The kickstart of [customizations.installer.kickstart] contents:".into());
        v.extend(k.lines().map(str::to_string));
        v.push("# End of the kickstart from the manifest; the payload follows.".into());
    }
    v
}

fn locale(ctx: &Ctx) -> Vec<String> {
    let l = ctx.c.locale.as_ref();
    let langs: &[String] = l.map(|l| l.languages.as_slice()).unwrap_or(&[]);
    let mut v = vec![];
    match langs.split_first() {
        Some((first, rest)) => {
            let mut s = format!("lang {}", q(first));
            if !rest.is_empty() {
                s.push_str(&format!(" --addsupport={}", q(&rest.join(","))));
            }
            v.push(s);
        }
        None if ctx.unattended() => v.push("lang en_US.UTF-8".into()),
        None => {}
    }
    match l.and_then(|l| l.keyboard.as_deref()) {
        Some(k) => v.push(format!("keyboard --vckeymap={}", q(k))),
        None if ctx.unattended() => v.push("keyboard --vckeymap=us".into()),
        None => {}
    }
    v
}

fn timezone(ctx: &Ctx) -> Vec<String> {
    let t = ctx.c.timezone.as_ref();
    let zone = t.and_then(|t| t.timezone.as_deref());
    let ntp: &[String] = t.map(|t| t.ntpservers.as_slice()).unwrap_or(&[]);
    let mut v = vec![];
    // Without a zone of its own the EL8 syntax still needs one for NTP.
    let zone =
        zone.or((ctx.unattended() || (!ntp.is_empty() && !ctx.ntp_timesource)).then_some("UTC"));
    if let Some(z) = zone {
        let mut s = format!("timezone {} --utc", q(z));
        if !ntp.is_empty() && !ctx.ntp_timesource {
            s.push_str(&format!(" --ntpservers={}", q(&ntp.join(","))));
        }
        v.push(s);
    }
    if ctx.ntp_timesource {
        v.extend(
            ntp.iter()
                .map(|n| format!("timesource --ntp-server={}", q(n))),
        );
    }
    v
}

fn users(ctx: &Ctx) -> Vec<String> {
    let c = ctx.c;
    let mut v = vec![];
    for g in &c.group {
        let mut s = format!("group --name={}", q(&g.name));
        if let Some(id) = g.gid {
            s.push_str(&format!(" --gid={id}"));
        }
        v.push(s);
    }
    let root = c.user.iter().find(|u| u.name == "root");
    match root.and_then(|r| r.password.as_deref()) {
        Some(p) => {
            let (flag, value) = password(p);
            v.push(format!("rootpw {flag} {value}"));
        }
        // A kickstart of your own may set rootpw itself.
        None if ctx.own_kickstart().is_some() => {}
        None => v.push("rootpw --lock".into()),
    }
    let mut keys: Vec<(&str, &str)> = vec![];
    // Legacy [[customizations.sshkey]] entries come first, as osbuild
    // places them; a name not among `user` becomes a plain user.
    for k in &c.sshkey {
        if k.user != "root" && !c.user.iter().any(|u| u.name == k.user) {
            v.push(format!("user --name={}", q(&k.user)));
        }
        keys.push((&k.user, &k.key));
    }
    for u in &c.user {
        if let Some(k) = &u.key {
            keys.push((&u.name, k));
        }
        if u.name == "root" {
            continue;
        }
        let mut s = format!("user --name={}", q(&u.name));
        if let Some(d) = &u.description {
            s.push_str(&format!(" --gecos={}", q(d)));
        }
        if let Some(h) = &u.home {
            let h = h.trim_end_matches('/');
            s.push_str(&format!(
                " --homedir={}",
                q(if h.is_empty() { "/" } else { h })
            ));
        }
        if let Some(sh) = &u.shell {
            s.push_str(&format!(" --shell={}", q(sh)));
        }
        if let Some(id) = u.uid {
            s.push_str(&format!(" --uid={id}"));
        }
        if let Some(id) = u.gid {
            s.push_str(&format!(" --gid={id}"));
        }
        if !u.groups.is_empty() {
            s.push_str(&format!(" --groups={}", q(&u.groups.join(","))));
        }
        if let Some(p) = &u.password {
            let (flag, value) = password(p);
            s.push_str(&format!(" --password={value} {flag}"));
        }
        v.push(s);
    }
    // Anaconda takes one `sshkey` per user; further keys are appended
    // by `%post` (see `extra_keys`).
    let mut seen: Vec<&str> = vec![];
    for (user, key) in keys {
        if let Some(first) = key_lines(key).next() {
            if !seen.contains(&user) {
                seen.push(user);
                v.push(format!("sshkey --username={} {}", q(user), q_always(first)));
            }
        }
    }
    v
}

fn key_lines(key: &str) -> impl Iterator<Item = &str> {
    key.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// The home directory the installer gives `user`.
fn home(c: &Customizations, user: &str) -> String {
    let given = c
        .user
        .iter()
        .find(|u| u.name == user)
        .and_then(|u| u.home.as_deref())
        .map(|h| h.trim_end_matches('/'))
        .filter(|h| !h.is_empty());
    match (given, user) {
        (Some(h), _) => h.to_string(),
        (None, "root") => "/root".into(),
        (None, u) => format!("/home/{u}"),
    }
}

/// Every key after a user's first, as (user, key), in manifest order.
fn extra_keys(c: &Customizations) -> Vec<(&str, &str)> {
    let all = c
        .sshkey
        .iter()
        .map(|k| (k.user.as_str(), k.key.as_str()))
        .chain(
            c.user
                .iter()
                .filter_map(|u| u.key.as_deref().map(|k| (u.name.as_str(), k))),
        );
    let mut seen: Vec<&str> = vec![];
    let mut out = vec![];
    for (user, key) in all {
        for line in key_lines(key) {
            if seen.contains(&user) {
                out.push((user, line));
            } else {
                seen.push(user);
            }
        }
    }
    out
}

/// (`--iscrypted`, the hash) for a crypt(3) hash, (`--plaintext`, the
/// word) otherwise (Anaconda hashes it on the installed system).
fn password(p: &str) -> (&'static str, String) {
    let flag = if rules::looks_crypted(p) {
        "--iscrypted"
    } else {
        "--plaintext"
    };
    (flag, q(p))
}

/// Always double-quoted (an ssh key has blanks and may have `#`).
fn q_always(s: &str) -> String {
    let r = q(s);
    if r.starts_with('"') {
        r
    } else {
        format!("\"{r}\"")
    }
}

fn storage(ctx: &Ctx) -> Lines {
    let c = ctx.c;
    let mut v = vec![];
    let device = c
        .installation_device
        .as_deref()
        .filter(|d| !d.is_empty())
        .map(|d| d.trim_start_matches("/dev/"));
    if let Some(d) = device {
        v.push(format!("ignoredisk --only-use={}", q(d)));
    }
    if ctx.unattended() {
        v.push("zerombr".into());
        let label = match c.disk.as_ref().and_then(|d| d.table) {
            Some(crate::manifest::blueprint::PartitionTable::Dos) => "msdos",
            _ => "gpt",
        };
        let mut s = format!("clearpart --all --initlabel --disklabel={label}");
        if let Some(d) = device {
            s.push_str(&format!(" --drives={}", q(d)));
        }
        v.push(s);
    }
    if let Some(d) = &c.disk {
        v.extend(disk_layout(ctx, &d.partitions)?);
    } else if !c.filesystem.is_empty() {
        v.extend(filesystem_layout(ctx)?);
    } else if ctx.unattended() {
        v.push(format!(
            "autopart --type=plain --fstype={} --nohome",
            ctx.fstype
        ));
    }
    Ok(v)
}

/// `reqpart` adds what the platform needs to boot (biosboot, the ESP,
/// PReP) unless the layout names the ESP itself.
fn reqpart(add_boot: bool) -> String {
    if add_boot {
        "reqpart --add-boot".into()
    } else {
        "reqpart".into()
    }
}

fn fs_opt(mountpoint: &str, fs: &str) -> String {
    if mountpoint == "/boot/efi" {
        "--fstype=efi".into()
    } else {
        format!("--fstype={fs}")
    }
}

fn disk_layout(ctx: &Ctx, parts: &[Partition]) -> Lines {
    let mut v = vec![];
    let has_esp = parts
        .iter()
        .any(|p| matches!(p, Partition::Plain(p) if p.mountpoint.as_deref() == Some("/boot/efi")));
    if !has_esp {
        v.push(reqpart(false));
    }
    let mut pv = 0;
    for p in parts {
        rules::installer_partition_kind(p.kind())?;
        match p {
            Partition::Plain(p) => {
                let fs = p.fs_type.as_deref().unwrap_or(ctx.fstype);
                rules::installer_fs_type(fs)?;
                let mut s = match (fs, p.mountpoint.as_deref()) {
                    ("swap", _) => format!("part swap --size={}", mib(p.minsize)),
                    ("none", _) | (_, None) => {
                        v.push(format!(
                            "# a {} MiB partition without a filesystem is left to the installer",
                            mib(p.minsize)
                        ));
                        continue;
                    }
                    (fs, Some(mp)) => {
                        format!(
                            "part {} {} --size={}",
                            q(mp),
                            fs_opt(mp, fs),
                            mib(p.minsize)
                        )
                    }
                };
                if p.mountpoint.as_deref() == Some("/") {
                    s.push_str(" --grow");
                }
                if let Some(l) = &p.label {
                    s.push_str(&format!(" --label={}", q(l)));
                }
                v.push(s);
            }
            Partition::Lvm(l) => {
                pv += 1;
                let pvname = format!("pv.{pv:02}");
                let vg = l.name.clone().unwrap_or_else(|| format!("vg{pv:02}"));
                v.push(format!("part {pvname} --size={}", mib(l.minsize)));
                v.push(format!("volgroup {} {pvname}", q(&vg)));
                for (i, lv) in l.logical_volumes.iter().enumerate() {
                    let fs = lv.fs_type.as_deref().unwrap_or(ctx.fstype);
                    rules::installer_fs_type(fs)?;
                    let mp = if fs == "swap" {
                        "swap"
                    } else {
                        lv.mountpoint.as_deref().unwrap_or("none")
                    };
                    let name = lv.name.clone().unwrap_or_else(|| lv_name(mp, i));
                    let mut s = format!(
                        "logvol {} --vgname={} --name={} --fstype={fs} --size={}",
                        q(mp),
                        q(&vg),
                        q(&name),
                        mib(lv.minsize)
                    );
                    if let Some(lb) = &lv.label {
                        s.push_str(&format!(" --label={}", q(lb)));
                    }
                    v.push(s);
                }
            }
            Partition::Btrfs(_) => unreachable_btrfs()?,
        }
    }
    Ok(v)
}

/// The refusal for btrfs (already returned by the rule above; kept as a
/// function so the match stays total without a panic).
fn unreachable_btrfs() -> Result<(), Refusal> {
    rules::installer_partition_kind("btrfs")
}

/// An LV name from a mountpoint, as osbuild names them (`rootlv`,
/// `varlv`, `var_loglv`).
fn lv_name(mp: &str, i: usize) -> String {
    match mp {
        "/" => "rootlv".into(),
        "swap" | "none" => format!("{mp}lv{i}"),
        _ => format!("{}lv", mp.trim_start_matches('/').replace('/', "_")),
    }
}

fn filesystem_layout(ctx: &Ctx) -> Lines {
    let c = ctx.c;
    let fs = ctx.fstype;
    let mut list: Vec<(&str, Size)> = c
        .filesystem
        .iter()
        .map(|f| (f.mountpoint.as_str(), f.minsize))
        .collect();
    if !list.iter().any(|(m, _)| *m == "/") {
        list.insert(0, ("/", Size::gib(1)));
    }
    let boot = list.iter().find(|(m, _)| *m == "/boot").map(|(_, s)| *s);
    let others = list.iter().any(|(m, _)| *m != "/" && *m != "/boot");
    let lvm = match c.partitioning_mode {
        Some(PartitioningMode::Lvm) => true,
        Some(PartitioningMode::Raw) => false,
        // osbuild's auto-lvm: LVM once a mountpoint beyond the base
        // layout's is added.
        Some(PartitioningMode::AutoLvm) | None => others,
    };
    let mut v = vec![];
    if !lvm {
        v.push(reqpart(false));
        for (m, s) in &list {
            let grow = if *m == "/" { " --grow" } else { "" };
            v.push(format!(
                "part {} --fstype={fs} --size={}{grow}",
                q(m),
                mib(*s)
            ));
        }
        return Ok(v);
    }
    // /boot cannot live on LVM: a plain one, given or added by reqpart.
    match boot {
        Some(s) => {
            v.push(reqpart(false));
            v.push(format!("part /boot --fstype={fs} --size={}", mib(s)));
        }
        None => v.push(reqpart(true)),
    }
    v.push("part pv.01 --size=1 --grow".into());
    v.push("volgroup rootvg pv.01".into());
    for (i, (m, s)) in list.iter().filter(|(m, _)| *m != "/boot").enumerate() {
        v.push(format!(
            "logvol {} --vgname=rootvg --name={} --fstype={fs} --size={}",
            q(m),
            lv_name(m, i),
            mib(*s)
        ));
    }
    Ok(v)
}

fn bootloader(ctx: &Ctx) -> Vec<String> {
    let mut args: Vec<&str> = vec![];
    if let Some(a) = ctx.c.kernel.as_ref().and_then(|k| k.append.as_deref()) {
        args.extend(a.split_whitespace());
    }
    if ctx.c.fips == Some(true) {
        args.push("fips=1");
    }
    if args.is_empty() {
        return vec![];
    }
    vec![format!("bootloader --append={}", q_always(&args.join(" ")))]
}

fn system(ctx: &Ctx) -> Vec<String> {
    let c = ctx.c;
    let mut v = vec![];
    if let Some(s) = &c.services {
        let mut line = String::from("services");
        if !s.enabled.is_empty() {
            line.push_str(&format!(" --enabled={}", q(&s.enabled.join(","))));
        }
        if !s.disabled.is_empty() {
            line.push_str(&format!(" --disabled={}", q(&s.disabled.join(","))));
        }
        if line != "services" {
            v.push(line);
        }
    }
    if let Some(f) = &c.firewall {
        let mut line = String::from("firewall --enabled");
        if !f.ports.is_empty() {
            line.push_str(&format!(" --port={}", q(&f.ports.join(","))));
        }
        if let Some(s) = &f.services {
            if !s.enabled.is_empty() {
                line.push_str(&format!(" --service={}", q(&s.enabled.join(","))));
            }
            for d in &s.disabled {
                line.push_str(&format!(" --remove-service={}", q(d)));
            }
        }
        v.push(line);
    }
    v
}

fn payload(ctx: &Ctx) -> Vec<String> {
    let p = ctx.req.payload;
    match p {
        Payload::Ostreecontainer => vec![format!(
            "ostreecontainer --transport=oci --url=/run/install/repo/{} --no-signature-verification",
            p.medium_path()
        )],
        Payload::Liveimg => vec![format!(
            "liveimg --url=file:///run/install/repo/{}",
            p.medium_path()
        )],
        Payload::Repo => {
            let mut v = vec!["url --url=file:///run/install/repo".to_string()];
            v.push(String::new());
            v.push("%packages".into());
            if ctx.req.packages.is_empty() {
                v.push("@core".into());
            }
            v.extend(ctx.req.packages.iter().cloned());
            v.push("%end".into());
            v
        }
    }
}

/// `%post` sections for what kickstart has no command for.
fn post(ctx: &Ctx) -> Vec<String> {
    let c = ctx.c;
    let mut body: Vec<String> = vec![];
    let sudo = &ctx.installer.sudo_nopasswd;
    if !sudo.is_empty() {
        // printf, not a here-document: a body line starting with `%`
        // (`%wheel …`) would read as a kickstart section header.
        let rules: Vec<String> = sudo
            .iter()
            .map(|n| sh(&format!("{n} ALL=(ALL) NOPASSWD: ALL")))
            .collect();
        body.push("mkdir -p /etc/sudoers.d".into());
        body.push(format!(
            "printf '%s\\n' {} > /etc/sudoers.d/image-builder",
            rules.join(" ")
        ));
        body.push("chmod 0440 /etc/sudoers.d/image-builder".into());
    }
    for (user, key) in extra_keys(c) {
        body.push(format!(
            "printf '%s\\n' {} >> {}",
            sh(key),
            sh(&format!("{}/.ssh/authorized_keys", home(c, user)))
        ));
    }
    for u in &c.user {
        if let Some(e) = u.expiredate {
            body.push(format!("chage -E {e} {}", sh(&u.name)));
        }
        if u.force_password_reset == Some(true) {
            body.push(format!("chage -d 0 {}", sh(&u.name)));
        }
    }
    if let Some(s) = &c.services {
        for m in &s.masked {
            body.push(format!("systemctl mask {}", sh(m)));
        }
    }
    if let Some(f) = &c.firewall {
        for z in &f.zones {
            let zone = z.name.as_deref().unwrap_or("public");
            for src in &z.sources {
                body.push(format!(
                    "firewall-offline-cmd --zone={} --add-source={}",
                    sh(zone),
                    sh(src)
                ));
            }
        }
    }
    if body.is_empty() {
        return vec![];
    }
    let mut v = vec![String::new(), "%post --erroronfail".into()];
    v.extend(body);
    v.push("%end".into());
    v
}
