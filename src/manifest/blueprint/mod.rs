//! The osbuild blueprint format, key for key, so existing blueprints parse
//! unchanged. Key names follow the TOML tags of osbuild's Go code
//! (`pkg/blueprint` in osbuild/blueprint); every struct denies unknown keys
//! so a typo is an error, as `image-builder` (osbuild's CLI) does. Applying
//! customizations is the build's work; this module only says what was asked.
//!
//! Layout: top-level items here, `[customizations]` in `customizations`,
//! `[customizations.disk]` in `disk`, `[customizations.installer]` in
//! `installer`, `[customizations.firstboot]` in `firstboot`. Everything is
//! re-exported, so users write `blueprint::Disk`.

mod customizations;
mod disk;
mod firstboot;
mod installer;

pub use customizations::*;
pub use disk::*;
pub use firstboot::*;
pub use installer::*;

use serde::de::{self, DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize};
use std::fmt;

/// `[[packages]]` and `[[modules]]`: a name (or `@group`) and an optional
/// version glob (`"*"`, `"1.2.*"`); osbuild asks dnf for `name-version`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Package {
    pub name: String,
    pub version: Option<String>,
}

/// `[[enabled_modules]]`: a module stream to enable (EL8/EL9 modularity).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EnabledModule {
    pub name: String,
    pub stream: String,
}

/// `[[groups]]`: a comps group installed with its default packages.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    pub name: String,
}

/// `[[containers]]`: a container image pulled at build time and stored in
/// the image's container storage.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Container {
    /// Image reference (`quay.io/x/y:tag`, `...@sha256:...`).
    pub source: String,
    /// Name to store it under (default: `source`).
    pub name: Option<String>,
    /// Verify the registry's TLS certificate (default true).
    #[serde(rename = "tls-verify")]
    pub tls_verify: Option<bool>,
    /// Take the image from the build host's container storage instead of
    /// pulling it.
    #[serde(rename = "local-storage")]
    pub local_storage: Option<bool>,
}

/// A user or group given by number or by name, as osbuild accepts in
/// `[[customizations.files]]` and `[[customizations.directories]]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
pub enum IdOrName {
    Id(i64),
    Name(String),
}

impl<'de> Deserialize<'de> for IdOrName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<IdOrName, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = IdOrName;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a user or group name (string) or a numeric id (integer)")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<IdOrName, E> {
                if v < 0 {
                    return Err(E::custom(format!("id {v} is negative")));
                }
                Ok(IdOrName::Id(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<IdOrName, E> {
                i64::try_from(v)
                    .map(IdOrName::Id)
                    .map_err(|_| E::custom(format!("id {v} is too large")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<IdOrName, E> {
                if v.is_empty() {
                    return Err(E::custom("empty user or group name"));
                }
                Ok(IdOrName::Name(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

impl fmt::Display for IdOrName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdOrName::Id(n) => write!(f, "{n}"),
            IdOrName::Name(s) => f.write_str(s),
        }
    }
}

/// Deserializes a table that is a union told apart by its `type` key:
/// buffers it, fills in `default` when `type` is absent (lower-casing the
/// tag when asked, as osbuild does for firstboot scripts), then hands it to
/// `T`, an internally tagged enum whose variants deny unknown keys.
pub(crate) fn deserialize_tagged<'de, D, T>(
    d: D,
    default: Option<&str>,
    lowercase: bool,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let mut t = toml::Table::deserialize(d)?;
    match t.get_mut("type") {
        None => {
            if let Some(v) = default {
                t.insert("type".into(), toml::Value::String(v.into()));
            }
        }
        Some(toml::Value::String(s)) => {
            if lowercase {
                *s = s.to_lowercase();
            }
        }
        Some(other) => {
            return Err(de::Error::custom(format!(
                "`type` must be a string, not {}",
                other.type_str()
            )))
        }
    }
    T::deserialize(toml::Value::Table(t)).map_err(|e| de::Error::custom(e.message()))
}

/// `mode` of files and directories: an octal string, `"0644"` or `"644"`
/// (osbuild: `^0?[0-7]{3}$`).
pub(crate) fn octal_mode<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    let digits = s.strip_prefix('0').filter(|r| r.len() == 3).unwrap_or(&s);
    if digits.len() == 3 && digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        Ok(Some(s))
    } else {
        Err(de::Error::custom(format!(
            "invalid mode \"{s}\": write an octal string such as \"0644\""
        )))
    }
}

#[cfg(test)]
mod tests;
