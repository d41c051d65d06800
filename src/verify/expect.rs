//! Expectations of a boot test (`qemu-tests/*.toml`) and their comparison
//! with the guest's report.
//!
//! A boot test names the manifest it boots and what its report must say.
//! Lists are subsets (an image may enable more services than a test cares
//! about); `system_state` is one of a list because "degraded" can be fine
//! on a cloud image without its cloud. Mismatches come back as sentences a
//! person can act on, never as a bare "false".
//!
//! ```toml
//! manifest = "manifests/minimal.toml"
//! [expect]
//! hostname = "alma"
//! users = ["admin"]
//! enabled_services = ["sshd"]
//! root_fs = "xfs"
//! secureboot = 1            # or true / false / 0
//! system_state = ["running", "degraded"]
//! cmdline_contains = ["console=ttyS0"]
//! checks = { selinux_enforcing = true }
//! # refused = true          # negative test: the boot must be refused
//! ```

use anyhow::{Context, Result};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::serial::Outcome;
use crate::error::InputError;

/// One boot-test file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    /// The manifest this test boots (relative to the test file).
    pub manifest: Option<PathBuf>,
    #[serde(default)]
    pub expect: Expect,
}

/// `true`/`false` or `1`/`0`, as people write it.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Flag {
    Bool(bool),
    Int(i64),
}

impl Flag {
    fn on(self) -> bool {
        match self {
            Flag::Bool(b) => b,
            Flag::Int(i) => i != 0,
        }
    }
}

/// A string or a list of strings.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn list(&self) -> Vec<&str> {
        match self {
            Self::One(s) => vec![s.as_str()],
            Self::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

/// What the report must say.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub hostname: Option<String>,
    pub users: Option<Vec<String>>,
    pub enabled_services: Option<Vec<String>>,
    pub root_fs: Option<String>,
    pub secureboot: Option<Flag>,
    pub system_state: Option<OneOrMany>,
    pub cmdline_contains: Option<Vec<String>>,
    pub checks: Option<BTreeMap<String, bool>>,
    /// Negative test: firmware/shim/GRUB must refuse the image.
    #[serde(default)]
    pub refused: bool,
}

/// Parses a boot-test file; errors are bad input.
pub fn parse(text: &str) -> Result<TestFile, InputError> {
    toml::from_str(text).map_err(|e| InputError(format!("{e}")))
}

/// Loads a boot-test file.
pub fn load(path: &Path) -> Result<TestFile> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| InputError(format!("{}: {e}", path.display())))
        .with_context(|| "reading expectations".to_string())?;
    parse(&text).map_err(|e| InputError(format!("{}: {}", path.display(), e.0)).into())
}

/// A report value as text (strings without quotes).
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Names in a report list field: strings, or objects with a `name`.
fn names(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| match x {
                Value::String(s) => Some(s.clone()),
                Value::Object(o) => o.get("name").and_then(Value::as_str).map(str::to_string),
                _ => None,
            })
            .collect(),
        Some(Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
        _ => vec![],
    }
}

/// The report's secureboot field as on/off; None when unknown.
fn secureboot(v: Option<&Value>) -> Option<bool> {
    match v? {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().map(|i| i != 0),
        Value::String(s) => match s.as_str() {
            "1" | "true" | "enabled" => Some(true),
            "0" | "false" | "disabled" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// Compares a boot's outcome with expectations; empty means all hold.
/// `expect_refusal` (the CLI flag) acts like `refused = true`.
pub fn compare(e: &Expect, outcome: &Outcome, expect_refusal: bool) -> Vec<String> {
    let refused = e.refused || expect_refusal;
    let report = match (outcome, refused) {
        (Outcome::Refused { .. }, true) => return vec![],
        (Outcome::Refused { line, .. }, false) => {
            return vec![format!("the boot was refused: {line}")]
        }
        (Outcome::Report(_), true) => {
            return vec!["the image booted to its report, but a refusal was expected".into()]
        }
        (Outcome::Report(r), false) => r,
        (Outcome::Failed { line, .. }, _) => return vec![format!("the boot failed: {line}")],
        (Outcome::Timeout, _) => return vec!["no report and no refusal before the timeout".into()],
        (Outcome::Exited { code }, _) => {
            let code = code
                .map(|c| c.to_string())
                .unwrap_or_else(|| "a signal".into());
            return vec![format!(
                "QEMU exited ({code}) without a report or a refusal"
            )];
        }
    };
    let mut out = vec![];
    let field = |k: &str| report.get(k).filter(|v| !v.is_null());
    let mut same = |name: &str, want: &Option<String>| {
        if let Some(want) = want {
            match field(name) {
                Some(v) if text(v) == *want => {}
                Some(v) => out.push(format!("{name} is `{}`, expected `{want}`", text(v))),
                None => out.push(format!("the report has no {name}, expected `{want}`")),
            }
        }
    };
    same("hostname", &e.hostname);
    same("root_fs", &e.root_fs);
    for (name, want) in [
        ("users", &e.users),
        ("enabled_services", &e.enabled_services),
    ] {
        if let Some(want) = want {
            let have = names(field(name));
            let missing: Vec<&str> = want
                .iter()
                .filter(|w| !have.contains(w))
                .map(String::as_str)
                .collect();
            if !missing.is_empty() {
                out.push(format!(
                    "{name} lacks {} (report has: {})",
                    missing.join(", "),
                    if have.is_empty() {
                        "none".into()
                    } else {
                        have.join(", ")
                    }
                ));
            }
        }
    }
    if let Some(want) = e.secureboot {
        let want = want.on();
        match secureboot(field("secureboot")) {
            Some(have) if have == want => {}
            Some(have) => out.push(format!(
                "Secure Boot is {}, expected {}",
                onoff(have),
                onoff(want)
            )),
            None => out.push(format!(
                "the report does not know the Secure Boot state, expected {}",
                onoff(want)
            )),
        }
    }
    if let Some(want) = &e.system_state {
        let allowed = want.list();
        match field("system_state").map(text) {
            Some(s) if allowed.contains(&s.as_str()) => {}
            Some(s) => {
                let failed = names(field("failed_units"));
                let why = if failed.is_empty() {
                    String::new()
                } else {
                    format!(" (failed units: {})", failed.join(", "))
                };
                out.push(format!(
                    "system state is `{s}`, expected one of {}{why}",
                    allowed.join(", ")
                ))
            }
            None => out.push("the report has no system_state".into()),
        }
    }
    if let Some(want) = &e.cmdline_contains {
        let cmdline = field("cmdline").map(text).unwrap_or_default();
        let args: Vec<&str> = cmdline.split_whitespace().collect();
        for w in want {
            // Whole arguments, or a prefix like `console=`.
            if !args
                .iter()
                .any(|a| a == w || (w.ends_with('=') && a.starts_with(w.as_str())))
            {
                out.push(format!(
                    "kernel command line lacks `{w}` (it is `{cmdline}`)"
                ));
            }
        }
    }
    if let Some(want) = &e.checks {
        let have = field("checks");
        for (name, w) in want {
            match have.and_then(|c| c.get(name)).and_then(Value::as_bool) {
                Some(h) if h == *w => {}
                Some(h) => out.push(format!("check {name} is {h}, expected {w}")),
                None => out.push(format!("the report has no check {name}")),
            }
        }
    }
    out
}

fn onoff(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn report() -> Outcome {
        Outcome::Report(json!({
            "secureboot": 1,
            "cmdline": "BOOT_IMAGE=/vmlinuz root=UUID=x console=ttyS0,115200 ro",
            "hostname": "alma",
            "users": ["root", "admin"],
            "enabled_services": ["sshd", "chronyd"],
            "root_fs": "xfs",
            "system_state": "degraded",
            "failed_units": ["kdump.service"],
            "kernel": "5.14",
            "arch": "x86_64",
            "checks": {"selinux_enforcing": true, "fips": false}
        }))
    }

    fn exp(toml_text: &str) -> Expect {
        parse(toml_text).unwrap().expect
    }

    #[test]
    fn matching_expectations_hold() {
        let e = exp(r#"
            manifest = "m.toml"
            [expect]
            hostname = "alma"
            users = ["admin"]
            enabled_services = ["sshd"]
            root_fs = "xfs"
            secureboot = true
            system_state = ["running", "degraded"]
            cmdline_contains = ["ro", "console="]
            checks = { selinux_enforcing = true, fips = false }
        "#);
        assert_eq!(compare(&e, &report(), false), Vec::<String>::new());
        assert!(compare(&exp("[expect]\nsecureboot = 1"), &report(), false).is_empty());
    }

    #[test]
    fn mismatches_are_sentences() {
        let cases: &[(&str, &str)] = &[
            ("hostname = \"web\"", "hostname is `alma`, expected `web`"),
            (
                "users = [\"bob\", \"admin\"]",
                "users lacks bob (report has: root, admin)",
            ),
            (
                "enabled_services = [\"httpd\"]",
                "enabled_services lacks httpd",
            ),
            ("root_fs = \"ext4\"", "root_fs is `xfs`, expected `ext4`"),
            ("secureboot = 0", "Secure Boot is on, expected off"),
            (
                "system_state = \"running\"",
                "system state is `degraded`, expected one of running (failed units: kdump.service)",
            ),
            (
                "cmdline_contains = [\"quiet\"]",
                "kernel command line lacks `quiet`",
            ),
            (
                "checks = { fips = true }",
                "check fips is false, expected true",
            ),
            (
                "checks = { selinux_relabeled = true }",
                "the report has no check selinux_relabeled",
            ),
        ];
        for (t, want) in cases {
            let got = compare(&exp(&format!("[expect]\n{t}")), &report(), false);
            assert_eq!(got.len(), 1, "{t}: {got:?}");
            assert!(got[0].starts_with(want), "{t}: {got:?}");
        }
    }

    #[test]
    fn outcomes_against_refusal() {
        let refused = Outcome::Refused {
            pattern: "Security Violation".into(),
            line: "Verification failed: (0x1A) Security Violation".into(),
        };
        let neg = exp("[expect]\nrefused = true");
        let none = Expect::default();
        assert!(compare(&neg, &refused, false).is_empty());
        assert!(compare(&none, &refused, true).is_empty());
        assert!(compare(&none, &refused, false)[0].starts_with("the boot was refused"));
        assert!(compare(&neg, &report(), false)[0].contains("a refusal was expected"));
        assert!(!compare(&none, &Outcome::Timeout, true).is_empty());
        assert!(!compare(&none, &Outcome::Exited { code: Some(1) }, false).is_empty());
        // No expectations and a report: fine.
        assert!(compare(&none, &report(), false).is_empty());
        // Unknown Secure Boot state is a mismatch, not a pass.
        let r = Outcome::Report(json!({"secureboot": null}));
        assert!(compare(&exp("[expect]\nsecureboot = 1"), &r, false)[0].contains("does not know"));
    }

    #[test]
    fn bad_files_are_input_errors() {
        assert!(parse("[expect]\nhostnme = \"x\"").is_err());
        assert!(parse("[expect]\nsecureboot = \"yes\"").is_err());
        assert!(parse("manifest = 3").is_err());
        let t = parse("manifest = \"a.toml\"").unwrap();
        assert_eq!(t.manifest.as_deref(), Some(Path::new("a.toml")));
    }
}
