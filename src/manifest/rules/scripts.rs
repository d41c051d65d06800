//! Rules for `[[build.script]]`: where a script comes from, what runs it,
//! what it is called. Pure: reading a `file` script is the plan's job
//! (it carries the bytes), these only judge what the manifest wrote.

use super::{refuse, Refusal, Rule};
use std::path::{Path, PathBuf};

/// Where a script's text comes from, judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptSource<'a> {
    Inline(&'a str),
    /// A host path (relative ones resolved against the manifest's
    /// directory).
    File(PathBuf),
}

/// Exactly one of `run` and `file`; a relative `file` is resolved against
/// `manifest_dir`.
pub fn script_source<'a>(
    manifest_dir: &Path,
    run: Option<&'a str>,
    file: Option<&Path>,
) -> Rule<ScriptSource<'a>> {
    match (run, file) {
        (Some(_), Some(_)) => Err(Refusal::new("give either `run` or `file`, not both")
            .hint("`run` holds the script itself, `file` names a file holding it")),
        (None, None) => Err(Refusal::new("a build script needs `run` or `file`")
            .hint("run = \"systemctl enable foo.service\", or file = \"scripts/setup.sh\"")),
        (Some(r), None) => Ok(ScriptSource::Inline(r)),
        (None, Some(f)) if f.as_os_str().is_empty() => refuse("`file` is empty"),
        (None, Some(f)) => Ok(ScriptSource::File(if f.is_absolute() {
            f.to_path_buf()
        } else {
            manifest_dir.join(f)
        })),
    }
}

/// An interpreter: an absolute, clean path (it must also exist in the
/// tree, which only the build can tell).
pub fn interpreter(path: &str) -> Rule {
    super::image_path(path).map_err(|e| {
        Refusal::new(format!("interpreter {}", e.message))
            .hint("the interpreter is a path inside the image, e.g. \"/bin/bash\"")
    })
}

/// A script's name: what messages and `plan` call it.
pub fn script_name(name: &str) -> Rule {
    if name.trim().is_empty() {
        return refuse("a build script's name is empty");
    }
    if name.chars().any(char::is_control) {
        return refuse(format!(
            "build script name {name:?} contains a control character"
        ));
    }
    if name.chars().count() > 100 {
        return refuse(format!(
            "build script name {name:?} is longer than 100 characters"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_one_source() {
        let dir = Path::new("/m");
        assert_eq!(
            script_source(dir, Some("echo"), None),
            Ok(ScriptSource::Inline("echo"))
        );
        assert_eq!(
            script_source(dir, None, Some(Path::new("s/a.sh"))),
            Ok(ScriptSource::File("/m/s/a.sh".into()))
        );
        assert_eq!(
            script_source(dir, None, Some(Path::new("/abs.sh"))),
            Ok(ScriptSource::File("/abs.sh".into()))
        );
        for (run, file, says) in [
            (Some("x"), Some(Path::new("a")), "not both"),
            (None, None, "needs `run` or `file`"),
            (None, Some(Path::new("")), "empty"),
        ] {
            let e = script_source(dir, run, file).unwrap_err();
            assert!(e.message.contains(says), "{e}");
        }
    }

    #[test]
    fn interpreters_and_names() {
        for ok in ["/bin/sh", "/usr/bin/python3"] {
            assert!(interpreter(ok).is_ok(), "{ok}");
        }
        for bad in ["sh", "bin/bash", "/usr/../bin/sh", "/", ""] {
            let e = interpreter(bad).unwrap_err();
            assert!(e.message.starts_with("interpreter "), "{bad}: {e}");
        }
        assert!(script_name("enable units").is_ok());
        for bad in ["", "  ", "a\nb", &"x".repeat(101)] {
            assert!(script_name(bad).is_err(), "{bad:?}");
        }
    }
}
