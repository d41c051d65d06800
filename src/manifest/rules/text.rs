//! Free-form values with a shape: paths in the image, modes, ssh keys,
//! password hashes, kernel arguments, time zones, locales, sshd options.

use super::{refuse, Refusal, Rule};

/// A path inside the image as osbuild wants it: absolute and canonical
/// (what `filepath.Clean` leaves alone: no `//`, no `.` or `..`, no
/// trailing `/`), not `/` itself, no control characters or trailing
/// blanks.
pub fn image_path(path: &str) -> Rule {
    if !path.starts_with('/') {
        return Err(Refusal::new(format!("{path:?} is not an absolute path"))
            .hint("paths in the image start with `/`, e.g. \"/etc/motd\""));
    }
    if path == "/" {
        return refuse("the root directory cannot be customized");
    }
    if path.chars().any(char::is_control) {
        return refuse(format!("{path:?} contains a control character"));
    }
    if path.ends_with(char::is_whitespace) {
        return refuse(format!("{path:?} ends with whitespace"));
    }
    if path.ends_with('/')
        || path.contains("//")
        || path.split('/').skip(1).any(|c| c == "." || c == "..")
    {
        return Err(Refusal::new(format!("{path:?} is not a clean path"))
            .hint("no `.` or `..` components, no `//`, no trailing `/`"));
    }
    Ok(())
}

/// A file mode: octal, at most `7777`.
pub fn mode(s: &str) -> Rule<u32> {
    u32::from_str_radix(s, 8)
        .ok()
        .filter(|m| *m <= 0o7777 && !s.is_empty() && s.len() <= 5)
        .ok_or_else(|| {
            Refusal::new(format!("invalid mode {s:?}"))
                .hint("write an octal string such as \"0644\"")
        })
}

/// Key types an `authorized_keys` line may carry (sshd(8)).
const SSH_KEY_TYPES: [&str; 10] = [
    "ssh-ed25519",
    "ssh-rsa",
    "ssh-dss",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "ssh-ed25519-cert-v01@openssh.com",
    "ssh-rsa-cert-v01@openssh.com",
];

/// `authorized_keys` text: at least one key, and every line that is not
/// blank or a comment is `[options] TYPE BASE64 [comment]`.
pub fn ssh_keys(text: &str) -> Rule {
    let mut keys = 0;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let at = words.iter().position(|w| SSH_KEY_TYPES.contains(w));
        let blob_ok = at.and_then(|i| words.get(i + 1)).is_some_and(|b| {
            !b.is_empty()
                && b.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"+/=".contains(&c))
        });
        if !blob_ok {
            let shown: String = line.chars().take(40).collect();
            return Err(Refusal::new(format!("{shown:?} is not an ssh public key"))
                .hint("paste a line of a .pub file: \"ssh-ed25519 AAAA... user@host\""));
        }
        keys += 1;
    }
    if keys == 0 {
        return refuse("the ssh key is empty");
    }
    Ok(())
}

/// Whether `p` has the shape of a crypt(3) hash (`$id$…`).
pub fn looks_crypted(p: &str) -> bool {
    let Some(rest) = p.strip_prefix('$') else {
        return false;
    };
    rest.find('$')
        .is_some_and(|i| i > 0 && rest[..i].bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// A password: plain text (hashed by the build) or a crypt(3) hash kept
/// as is. A hash must be whole (an MD5/SHA-256/SHA-512 hash's length is
/// fixed), because a mangled hash can't be told from a plain password
/// and would lock the account out.
pub fn password(p: &str) -> Rule {
    if p.contains(['\n', '\r', '\0']) {
        return refuse("the password cannot contain a line break");
    }
    if !p.starts_with('$') {
        return Ok(());
    }
    let bad = || {
        Err(Refusal::new("the password looks like a crypt hash but is malformed").hint(
            "a hash looks like $6$SALT$HASH (86 characters of HASH); a plain-text password is hashed for you",
        ))
    };
    if !looks_crypted(p) || p.contains(':') {
        return bad();
    }
    let parts: Vec<&str> = p.split('$').collect();
    let hash_len = match parts[1] {
        "1" => Some(22),
        "5" => Some(43),
        "6" => Some(86),
        _ => None,
    };
    let crypt_b64 = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"./".contains(&b))
    };
    if let Some(n) = hash_len {
        // $6$[rounds=N$]salt$hash
        let rest = &parts[2..];
        let rest = match rest.first() {
            Some(r) if r.starts_with("rounds=") => &rest[1..],
            _ => rest,
        };
        let ok = rest.len() == 2 && rest[0].len() <= 16 && rest[1].len() == n && crypt_b64(rest[1]);
        if !ok {
            return bad();
        }
    } else if parts.len() < 4 || parts[parts.len() - 1].is_empty() {
        return bad();
    }
    Ok(())
}

/// `customizations.kernel.append` and `[boot] cmdline` as written: no
/// control characters, and quotes that close. The build splits it at
/// whitespace, so a quoted value cannot hold a blank.
pub fn kernel_cmdline(s: &str) -> Rule {
    if s.chars().any(|c| c.is_control() && c != '\t' && c != ' ') {
        return refuse(format!(
            "kernel arguments {s:?} contain a line break or control character"
        ));
    }
    for a in s.split_whitespace() {
        kernel_arg(a)?;
    }
    Ok(())
}

/// One kernel argument: not empty, no control characters, balanced `"`.
pub fn kernel_arg(a: &str) -> Rule {
    if a.is_empty() || a.chars().any(char::is_control) {
        return refuse(format!("invalid kernel argument {a:?}"));
    }
    if a.matches('"').count() % 2 != 0 {
        return Err(
            Refusal::new(format!("kernel argument {a:?} has an unclosed quote"))
                .hint("arguments are split at blanks: a quoted value cannot contain spaces"),
        );
    }
    Ok(())
}

/// A tz database name (`Europe/Prague`, `UTC`, `Etc/GMT+1`); whether the
/// tree's tzdata has it is the build's to see.
pub fn timezone(zone: &str) -> Rule {
    let clean = !zone.is_empty()
        && !zone.starts_with('/')
        && zone
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
        && zone
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_+-".contains(&b));
    if !clean {
        return Err(Refusal::new(format!("invalid time zone name {zone:?}"))
            .hint("use a tz database name such as \"Europe/Prague\" or \"UTC\""));
    }
    Ok(())
}

/// A locale (`en_US.UTF-8`, `C.UTF-8`, `de_DE@euro`): language, then
/// optional `_TERRITORY`, `.CODESET`, `@MODIFIER`.
pub fn language(v: &str) -> Rule {
    let (v0, modifier) = v.split_once('@').unwrap_or((v, "x"));
    let (v1, codeset) = v0.split_once('.').unwrap_or((v0, "x"));
    let (lang, territory) = v1.split_once('_').unwrap_or((v1, "XX"));
    let word = |s: &str, extra: &[u8]| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || extra.contains(&b))
    };
    let ok = (matches!(lang, "C" | "POSIX")
        || ((2..=3).contains(&lang.len()) && lang.bytes().all(|b| b.is_ascii_lowercase())))
        && word(territory, b"")
        && word(codeset, b"-_")
        && word(modifier, b"_-");
    if !ok {
        return Err(Refusal::new(format!("invalid language {v:?}"))
            .hint("use a locale name such as \"en_US.UTF-8\""));
    }
    Ok(())
}

/// A console keymap (`us`, `de-nodeadkeys`, `fr-latin9`).
pub fn keymap(v: &str) -> Rule {
    if v.is_empty()
        || !v
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.@-".contains(&b))
    {
        return Err(Refusal::new(format!("invalid keyboard {v:?}"))
            .hint("use a console keymap name such as \"us\" or \"de-nodeadkeys\""));
    }
    Ok(())
}

/// `PermitRootLogin` values sshd accepts.
pub const PERMIT_ROOT_LOGIN: [&str; 5] = [
    "yes",
    "no",
    "prohibit-password",
    "without-password",
    "forced-commands-only",
];

pub fn permit_root_login(p: &str) -> Rule {
    if !PERMIT_ROOT_LOGIN.contains(&p) {
        return refuse(format!(
            "permit_root_login {p:?}: use one of {}",
            PERMIT_ROOT_LOGIN.join(", ")
        ));
    }
    Ok(())
}

pub fn client_alive_interval(n: i64) -> Rule {
    if n < 0 {
        return refuse(format!("client_alive_interval {n} is negative"));
    }
    Ok(())
}

/// `expiredate`: days since 1970-01-01, or -1 for "never".
pub fn expiredate(e: i64) -> Rule {
    if e < -1 {
        return Err(Refusal::new(format!("expiredate {e} is negative"))
            .hint("days since 1970-01-01, or -1 for never"));
    }
    Ok(())
}

/// A PEM text that at least has a certificate's BEGIN and END lines
/// (what firstboot jobs hand to the tree's trust store as is).
pub fn pem_shape(what: &str, pem: &str) -> Rule {
    if !pem.contains("-----BEGIN CERTIFICATE-----") || !pem.contains("-----END CERTIFICATE-----") {
        return refuse(format!("{what} is not a PEM certificate"));
    }
    Ok(())
}

/// The host file a `[[customizations.files]]` `uri` names: `file:///abs`
/// or a path relative to the manifest's directory.
pub fn file_source(manifest_dir: &std::path::Path, uri: &str) -> Rule<std::path::PathBuf> {
    if let Some(p) = uri.strip_prefix("file://") {
        if !p.starts_with('/') {
            return refuse(format!(
                "uri {uri:?}: a file:// uri must be absolute (file:///path)"
            ));
        }
        return Ok(std::path::PathBuf::from(p));
    }
    if uri.contains("://") {
        return refuse(format!(
            "uri {uri:?}: only file:// uris and paths are supported"
        ));
    }
    if uri.is_empty() {
        return refuse("uri is empty");
    }
    Ok(manifest_dir.join(uri))
}
