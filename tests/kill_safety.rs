//! A build can be killed at any moment and rerun: SIGKILL (no destructor
//! runs) at chosen stages of the fixture qcow2 (XFS root, so a loop device
//! and a mount are live while the root is written) leaves no loop device,
//! no mount and no file at the output path, and the next build succeeds
//! and reclaims the dead build's work directory. The short version of the
//! kill campaign; `bench/kill-campaign.sh` runs the long one.

mod common;

use common::cli::{s, text, Env};
use common::fixtures::fixture_root;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const MANIFEST: &str = "manifests/fixture/qcow2.toml";

/// Where to kill: a predicate over (the build's pid, a progress line).
enum Moment {
    /// On the first progress event of this stage.
    Stage(&'static str),
    /// While the build's own mount namespace has a mount under the output
    /// directory (the XFS root being filled).
    Mounted,
}

fn mounted_under(pid: u32, dir: &Path) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/mounts"))
        .unwrap_or_default()
        .contains(dir.to_str().unwrap())
}

/// Runs the build and SIGKILLs it at `m`; returns whether it was killed
/// (false: it finished first).
fn build_and_kill(env: &Env, manifest: &Path, out: &Path, m: &Moment) -> bool {
    let mut child = Command::new(env!("CARGO_BIN_EXE_image-builder"))
        .env("IMAGE_BUILDER_FIXTURE_ROOT", fixture_root())
        .env("IMAGE_BUILDER_CACHE_DIR", env.path("cache"))
        .env_remove("SOURCE_DATE_EPOCH")
        .args(["--json", "build", "--locked", "-o", s(out), s(manifest)])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let lines = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for l in lines.lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut killed = false;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        let hit = match m {
            Moment::Stage(st) => rx
                .try_iter()
                .any(|l| l.contains(&format!("\"stage\":\"{st}\""))),
            Moment::Mounted => mounted_under(pid, out),
        };
        if hit {
            // SAFETY: plain kill(2) of our own child.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            killed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.wait();
    killed
}

/// Waits until no process has `dir` open or as cwd (children of the
/// killed build finish on their own) and its namespace is gone.
fn settle(dir: &Path) {
    let d = dir.to_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        let busy = std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
            let p = e.path();
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
                && std::fs::read(p.join("cmdline"))
                    .map(|c| String::from_utf8_lossy(&c).contains(&d))
                    .unwrap_or(false)
        });
        if !busy {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("processes working in {d} did not finish");
}

fn loop_devices_of(dir: &Path) -> Vec<String> {
    let o = Command::new("losetup").arg("-a").output().unwrap();
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| l.contains(dir.to_str().unwrap()))
        .map(str::to_string)
        .collect()
}

fn host_mounts_of(dir: &Path) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(dir.to_str().unwrap()))
        .map(str::to_string)
        .collect()
}

#[test]
fn killed_builds_leave_nothing_behind_and_the_next_one_succeeds() {
    if unsafe { libc::geteuid() } != 0 {
        common::skip::skip("kill_safety: loop devices and mounts need root");
        return;
    }
    let env = Env::new();
    let manifest = env.path("k.toml");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join(MANIFEST),
        &manifest,
    )
    .unwrap();
    let o = env.run(&["lock", s(&manifest)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = env.path("out");
    let artifact = out.join("fixture-qcow2-x86_64.qcow2");

    for m in [Moment::Stage("build"), Moment::Mounted] {
        let what = match &m {
            Moment::Stage(s) => format!("stage {s}"),
            Moment::Mounted => "XFS root mounted".into(),
        };
        assert!(
            build_and_kill(&env, &manifest, &out, &m),
            "the build finished before the kill at {what}"
        );
        settle(&out);
        // Autoclear runs when the last reference goes: give it a moment.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !loop_devices_of(&out).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(loop_devices_of(&out), Vec::<String>::new(), "after {what}");
        assert_eq!(host_mounts_of(&out), Vec::<String>::new(), "after {what}");
        assert!(
            !artifact.exists(),
            "nothing at the output path after {what}"
        );
    }

    let leftovers = |d: &Path| {
        std::fs::read_dir(d)
            .unwrap()
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(".image-builder.")
            })
            .count()
    };
    assert!(
        leftovers(&out) >= 1,
        "the dead builds left work directories"
    );
    let o = env.run(&["build", "--locked", "-o", s(&out), s(&manifest)]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(t.contains("reclaimed"), "the rerun reclaims: {t}");
    assert!(artifact.is_file());
    assert_eq!(leftovers(&out), 0, "{t}");
    let o = Command::new("qemu-img")
        .args(["check", s(&artifact)])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
}
