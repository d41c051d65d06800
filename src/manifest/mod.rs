//! The manifest: an osbuild blueprint, unchanged, plus our own tables.
//!
//! Parsing is pure (`parse` takes text, `load` reads a file and calls it)
//! and strict: every struct denies unknown keys, so a typo is an error with
//! a line, a column and a suggestion rather than a silently ignored
//! setting. Checks that need the distro and arch models live in
//! `validate`.

pub mod arches;
pub mod blueprint;
pub mod diag;
pub mod mountpoint;
pub mod ours;
pub mod rules;
pub mod size;
pub mod validate;

use blueprint::{Container, Customizations, EnabledModule, Group, Package};
pub use diag::{Diagnostic, Seg};
use ours::{Base, Boot, Build, Output, Repository};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A parsed manifest. Field order follows the blueprint format, then ours.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    /// Distro id (`almalinux-9`); default almalinux-10.
    #[serde(default)]
    pub distro: Option<String>,
    /// Blueprint's single architecture.
    #[serde(default)]
    pub architecture: Option<String>,
    /// Ours: several architectures from one manifest.
    #[serde(default)]
    pub architectures: Vec<String>,
    /// osbuild's "minimal" flag (no weak deps, smaller default set).
    #[serde(default)]
    pub minimal: Option<bool>,
    #[serde(default)]
    pub packages: Vec<Package>,
    #[serde(default)]
    pub modules: Vec<Package>,
    #[serde(default)]
    pub enabled_modules: Vec<EnabledModule>,
    #[serde(default)]
    pub groups: Vec<Group>,
    #[serde(default)]
    pub containers: Vec<Container>,
    #[serde(default)]
    pub customizations: Option<Customizations>,

    #[serde(default)]
    pub repositories: Vec<Repository>,
    #[serde(default)]
    pub output: Vec<Output>,
    #[serde(default)]
    pub boot: Option<Boot>,
    #[serde(default)]
    pub base: Option<Base>,
    #[serde(default)]
    pub build: Option<Build>,
}

/// A manifest with the text it came from, so later checks can point at
/// lines.
#[derive(Debug, Clone)]
pub struct Document {
    /// As given on the command line (for messages).
    pub path: PathBuf,
    pub text: String,
    pub manifest: Manifest,
}

impl Document {
    pub fn file(&self) -> String {
        self.path.display().to_string()
    }

    /// A diagnostic pointing at `path` in this document (or at the closest
    /// existing ancestor of it).
    pub fn diag(&self, path: &[Seg], message: impl Into<String>) -> Diagnostic {
        let span = diag::locate(&self.text, path);
        Diagnostic::at(&self.file(), &self.text, span, message.into())
    }
}

/// Why a manifest could not be used. Every variant is bad input (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The io error is in the message, not the error chain, so a
    /// chain-printing caller does not say it twice.
    #[error("reading {path}: {err}")]
    Read { path: PathBuf, err: std::io::Error },
    #[error("{}", render(.0))]
    Invalid(Vec<Diagnostic>),
}

impl ManifestError {
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            ManifestError::Invalid(d) => d,
            ManifestError::Read { .. } => &[],
        }
    }
}

fn render(diags: &[Diagnostic]) -> String {
    diags
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Parses manifest text; `file` is only used in messages.
pub fn parse(text: &str, file: &Path) -> Result<Document, ManifestError> {
    let name = file.display().to_string();
    match toml::from_str::<Manifest>(text) {
        Ok(manifest) => Ok(Document {
            path: file.to_path_buf(),
            text: text.to_string(),
            manifest,
        }),
        Err(e) => Err(ManifestError::Invalid(vec![diag::from_toml_error(
            &name, text, &e,
        )])),
    }
}

/// Reads and parses a manifest file.
pub fn load(path: &Path) -> Result<Document, ManifestError> {
    let bytes = std::fs::read(path).map_err(|err| ManifestError::Read {
        path: path.to_path_buf(),
        err,
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        ManifestError::Invalid(vec![Diagnostic {
            file: path.display().to_string(),
            line: 0,
            column: 0,
            message: format!(
                "not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
            hints: vec![],
            excerpt: None,
        }])
    })?;
    parse(&text, path)
}
