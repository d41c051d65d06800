//! Names: hosts, accounts, ids, systemd units, firewalld objects,
//! repository ids, XCCDF ids.

use super::{refuse, Refusal, Rule};

/// The kernel's HOST_NAME_MAX: the longest static hostname.
const HOSTNAME_MAX: usize = 64;

/// A DNS name as RFC 1123 has it: dot-separated labels of 1-63 letters,
/// digits and `-`, no label starting or ending with `-`; at most `max`
/// bytes in all.
fn dns_name(what: &str, h: &str, max: usize) -> Rule {
    if h.is_empty() {
        return refuse(format!("{what} is empty"));
    }
    if h.len() > max {
        return refuse(format!(
            "{what} {h:?} is {} characters long; at most {max} are allowed",
            h.len()
        ));
    }
    for label in h.split('.') {
        let ok = (1..=63).contains(&label.len())
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !ok {
            return Err(Refusal::new(format!(
                "invalid {what} {h:?}: {label:?} is not an RFC 1123 label"
            ))
            .hint("labels are 1-63 letters, digits and `-`, separated by `.`, not starting or ending with `-`"));
        }
    }
    Ok(())
}

/// `customizations.hostname`: an RFC 1123 name of at most 64 bytes.
pub fn hostname(h: &str) -> Rule {
    dns_name("hostname", h, HOSTNAME_MAX)
}

/// A host to connect to (NTP server, …): an IP address or a DNS name.
pub fn host(what: &str, h: &str) -> Rule {
    if h.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    dns_name(what, h, 253)
}

/// User and group names as shadow-utils accepts them on EL (its relaxed
/// rule, upper case included): at most 32 of letters, digits, `.`, `_`,
/// `-` (a trailing `$` for machine accounts), not starting with `-`, not
/// all digits (that would read as an id), not `.` or `..`.
pub fn account_name(what: &str, name: &str) -> Rule {
    let ok = !name.is_empty()
        && name.len() <= 32
        && !name.starts_with('-')
        && name != "."
        && name != ".."
        && !name.bytes().all(|b| b.is_ascii_digit())
        && name
            .strip_suffix('$')
            .unwrap_or(name)
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Refusal::new(format!("invalid {what} name {name:?}"))
            .hint("use at most 32 letters, digits, `.`, `_` and `-`, not starting with `-`, not only digits"))
    }
}

/// A uid or gid: 0 to 4294967294 (4294967295 is `(uid_t)-1`, "no id").
pub fn account_id(what: &str, v: i64) -> Rule<u32> {
    u32::try_from(v)
        .ok()
        .filter(|v| *v != u32::MAX)
        .ok_or_else(|| Refusal::new(format!("{what} {v} is out of range (0 to 4294967294)")))
}

/// A field of `/etc/passwd` or `/etc/shadow`: no `:` or line break.
pub fn passwd_field(what: &str, v: &str) -> Rule {
    if v.contains([':', '\n', '\r', '\0']) {
        return refuse(format!("{what} {v:?} cannot contain `:` or a line break"));
    }
    Ok(())
}

/// Unit type suffixes systemd knows.
pub const UNIT_SUFFIXES: [&str; 11] = [
    "service",
    "socket",
    "target",
    "device",
    "mount",
    "automount",
    "swap",
    "timer",
    "path",
    "slice",
    "scope",
];

/// A unit named in a manifest (`sshd`, `sshd.service`, `getty@tty1`):
/// systemd's characters (letters, digits, `:-_.\@`), at most 255. Returns
/// it made whole: without a known suffix, `.service` is added (as
/// systemctl does).
pub fn unit_name(name: &str) -> Rule<String> {
    unit_chars(name)?;
    let whole = match name.rsplit_once('.') {
        Some((stem, suffix)) if UNIT_SUFFIXES.contains(&suffix) => {
            if stem.is_empty() {
                return refuse(format!("{name:?} is not a systemd unit name"));
            }
            name.to_string()
        }
        _ => format!("{name}.service"),
    };
    if whole.len() > 255 {
        return refuse(format!("unit name {name:?} is longer than 255 characters"));
    }
    Ok(whole)
}

/// A unit referenced from another (`After=`, `Before=`): the characters of
/// a unit name, taken as written.
pub fn unit_ref(name: &str) -> Rule {
    unit_chars(name)
}

fn unit_chars(name: &str) -> Rule {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b":-_.\\@".contains(&b))
    {
        return Err(Refusal::new(format!("{name:?} is not a systemd unit name"))
            .hint("unit names are letters, digits and `:-_.\\@`, e.g. \"sshd.service\""));
    }
    Ok(())
}

/// A firewalld zone, service or ipset name (a file name under
/// `/usr/lib/firewalld`).
pub fn firewalld_name(kind: &str, name: &str) -> Rule {
    if name.is_empty()
        || name.starts_with('.')
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_+.".contains(c))
    {
        return refuse(format!("{kind} {name:?}: not a valid firewalld name"));
    }
    Ok(())
}

/// A dnf repository id: letters, digits, `-`, `_`, `.`, `:`.
pub fn repo_id(id: &str) -> Rule {
    if id.is_empty()
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
    {
        return Err(Refusal::new(format!("invalid repository id {id:?}"))
            .hint("use letters, digits, `-`, `_`, `.` and `:`"));
    }
    Ok(())
}

/// A `.repo` file name under `/etc/yum.repos.d`; as osbuild, `.repo` is
/// added when missing. Returns the whole name.
pub fn repo_filename(file: &str) -> Rule<String> {
    let file = if file.ends_with(".repo") {
        file.to_string()
    } else {
        format!("{file}.repo")
    };
    let ok = file.len() > 5
        && file.ends_with(".repo")
        && !file.starts_with('.')
        && file
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if !ok {
        return refuse(format!("invalid filename {file:?}: a plain file name"));
    }
    Ok(file)
}

/// An XCCDF id (an NCName: no spaces, quotes or markup).
pub fn xccdf_id(what: &str, id: &str) -> Rule {
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        return refuse(format!("openscap {what} {id:?} is not an XCCDF id"));
    }
    Ok(())
}

/// A firstboot script's name (part of its unit's name).
pub fn firstboot_name(name: &str) -> Rule {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return refuse(format!(
            "firstboot script {name:?}: names are letters, digits, - and _"
        ));
    }
    Ok(())
}

/// An OCI label or annotation key: non-empty, no whitespace, `=` or
/// control characters (the image spec recommends reverse-DNS keys).
pub fn oci_label_key(k: &str) -> Rule {
    if k.is_empty()
        || k.chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '=')
    {
        return Err(Refusal::new(format!("label key {k:?} is not a valid key"))
            .hint("use a reverse-DNS key such as \"org.example.team\""));
    }
    Ok(())
}

/// An ISO 9660 volume id: at most 32 letters, digits, `-` and `_`.
pub fn volume_id(v: &str) -> Rule {
    if v.is_empty() || v.len() > 32 {
        return refuse(format!(
            "volume id {v:?} must be 1 to 32 characters (ISO 9660)"
        ));
    }
    if !v
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
    {
        return refuse(format!(
            "volume id {v:?} may only hold letters, digits, `-` and `_`"
        ));
    }
    Ok(())
}
