//! Builds the fixture repositories once per test process (the script
//! caches across processes and locks against parallel runs).

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

pub fn fixture_root() -> PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let out = Command::new(dir.join("build-fixtures.sh"))
            .output()
            .expect("runs build-fixtures.sh");
        assert!(
            out.status.success(),
            "build-fixtures.sh failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir.join("build")
    })
    .clone()
}
