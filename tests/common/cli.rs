//! Running the built `image-builder` against the fixture distribution,
//! with a cache of the test's own and no SOURCE_DATE_EPOCH from the caller.
#![allow(dead_code)]

use super::fixtures::fixture_root;
use std::path::Path;
use std::process::{Command, Output};

/// `image-builder ARGS` with its cache under `dir/cache`.
pub fn image_builder(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_image-builder"))
        .env("IMAGE_BUILDER_FIXTURE_ROOT", fixture_root())
        .env("IMAGE_BUILDER_CACHE_DIR", dir.join("cache"))
        .env_remove("SOURCE_DATE_EPOCH")
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .unwrap()
}

/// stdout and stderr, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A test's own directory: manifests written into it, `image-builder`
/// run with its cache there.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        fixture_root();
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    pub fn path(&self, p: &str) -> std::path::PathBuf {
        self.dir.path().join(p)
    }
    pub fn manifest(&self, name: &str, body: &str) -> std::path::PathBuf {
        let p = self.path(name);
        std::fs::write(&p, body).unwrap();
        p
    }
    pub fn run(&self, args: &[&str]) -> Output {
        image_builder(self.dir.path(), args)
    }
}

/// A path as the `&str` a command line wants.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}
