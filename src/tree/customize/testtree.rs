//! Test trees for the customization tests: a temporary directory holding a
//! root tree (`root/`), a manifest directory beside it and an `outside/`
//! directory that no customization may ever write to. `with_shell` unpacks
//! the fixture repository's static busybox so tools can really run
//! chrooted into the tree.

use super::Env;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The build fixtures (`$IMAGE_BUILDER_FIXTURE_ROOT`, else the source
/// tree's `tests/fixtures/build`), as the plan resolves them.
pub fn fixture_root() -> PathBuf {
    PathBuf::from(crate::plan::fixture_root())
}

pub struct TestTree {
    _dir: tempfile::TempDir,
    outside: PathBuf,
    pub env: Env,
}

impl Default for TestTree {
    fn default() -> Self {
        Self::new()
    }
}

impl TestTree {
    pub fn new() -> TestTree {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("root");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        let env = Env {
            root,
            manifest_dir: dir.path().join("manifest"),
            source_date_epoch: 1_700_000_000,
            releasever: "9".into(),
        };
        TestTree {
            _dir: dir,
            outside,
            env,
        }
    }

    pub fn root(&self) -> &Path {
        &self.env.root
    }

    /// A host directory outside the tree that must stay empty.
    pub fn outside(&self) -> &Path {
        &self.outside
    }

    /// `path` (inside the tree) as a plain host path (no link resolution).
    pub fn host(&self, path: &str) -> PathBuf {
        self.env.root.join(path.trim_start_matches('/'))
    }

    pub fn write(&self, path: &str, data: &str) {
        let h = self.host(path);
        std::fs::create_dir_all(h.parent().unwrap()).unwrap();
        std::fs::write(h, data).unwrap();
    }

    pub fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.host(path))
            .unwrap_or_else(|e| panic!("reading {path} in the tree: {e}"))
    }

    pub fn mode(&self, path: &str) -> u32 {
        std::fs::metadata(self.host(path))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    }

    /// Unpacks the fixture repo's static busybox (`/bin/sh`, `/bin/busybox`)
    /// into the tree, with `/tmp` and `/usr/bin`.
    pub fn with_shell(&self) -> &Self {
        let repo = fixture_root().join("repos/main/x86_64");
        let rpm = std::fs::read_dir(&repo)
            .unwrap_or_else(|e| {
                panic!(
                    "{}: {e} (set IMAGE_BUILDER_FIXTURE_ROOT to the fixtures' build directory)",
                    repo.display()
                )
            })
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("busybox-"))
            })
            .unwrap_or_else(|| panic!("no busybox rpm in {}", repo.display()));
        crate::tools::run(
            "sh",
            &[
                "-c",
                "cd \"$1\" && rpm2cpio \"$2\" | cpio -idm --quiet",
                "sh",
                &self.root().display().to_string(),
                &rpm.display().to_string(),
            ],
        )
        .unwrap_or_else(|e| panic!("unpacking {}: {e:#}", rpm.display()));
        assert!(self.host("/bin/sh").exists(), "busybox rpm has no /bin/sh");
        for d in ["/tmp", "/usr/bin", "/usr/sbin"] {
            std::fs::create_dir_all(self.host(d)).unwrap();
        }
        self
    }

    /// A fake tool at `path` in the tree: a shell script that records its
    /// arguments in `/tmp/<name>.args` (one run a line).
    pub fn fake_tool(&self, path: &str) {
        let name = path.rsplit('/').next().unwrap();
        self.write(
            path,
            &format!("#!/bin/sh\necho \"$@\" >> /tmp/{name}.args\n"),
        );
        std::fs::set_permissions(self.host(path), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}
