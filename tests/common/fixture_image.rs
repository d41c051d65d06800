//! The fixture bootc image (x86_64) as an OCI archive, built once per
//! test run and shared by the test binaries that only need it as a base
//! (derived disks, the respin template): keyed by the built binary and
//! the fixture repos, so a new binary or fixture builds it again.
#![allow(dead_code)]

use super::cli::{s, text};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn key() -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let bin = std::fs::metadata(env!("CARGO_BIN_EXE_image-builder")).unwrap();
    (bin.len(), bin.modified().unwrap()).hash(&mut h);
    std::fs::read(super::fixtures::fixture_root().join("versions.json"))
        .unwrap_or_default()
        .hash(&mut h);
    format!("{:016x}", h.finish())
}

/// `…/fixture-bootc.oci.tar`.
pub fn archive() -> PathBuf {
    static A: OnceLock<PathBuf> = OnceLock::new();
    A.get_or_init(|| {
        let top = Path::new(env!("CARGO_TARGET_TMPDIR")).join("shared-fixture-bootc");
        std::fs::create_dir_all(&top).unwrap();
        let lock = std::fs::File::create(top.join(".lock")).unwrap();
        // SAFETY: flock on an open descriptor; released when `lock` drops.
        assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) }, 0);
        let k = key();
        let dir = top.join(&k);
        let out = dir.join("out/fixture-bootc.oci.tar");
        if out.is_file() {
            return out;
        }
        // Older binaries' images go.
        for e in std::fs::read_dir(&top).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
        std::fs::create_dir_all(&dir).unwrap();
        let m = dir.join("fixture-bootc.toml");
        std::fs::write(
            &m,
            "name = \"fixture-bootc\"\ndistro = \"fixture\"\narchitectures = [\"x86_64\"]\n\n[[output]]\ntype = \"bootc\"\n",
        )
        .unwrap();
        let o = super::cli::image_builder(&dir, &["build", "-o", s(&dir.join("out")), s(&m)]);
        assert!(o.status.success(), "{}", text(&o));
        let _ = std::fs::remove_dir_all(dir.join("cache"));
        assert!(out.is_file());
        out
    })
    .clone()
}
