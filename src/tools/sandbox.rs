//! Running a build script chrooted in a tree, inside namespaces of its
//! own, so nothing it does outlives it on the host.
//!
//! Why namespaces and not a bare `chroot` (what the tree's own tools get
//! in `run_in_root`): a script is arbitrary code that expects a running
//! system's `/proc`, `/sys` and `/dev` (systemctl, package tools, language
//! runtimes), may start daemons, and must not reach the network unless
//! the manifest says so. util-linux's `unshare` gives it
//!
//! - a private mount namespace: `/proc` (fresh, of the new PID namespace),
//!   `/sys` (read-only), a small `/dev` (tmpfs with null, zero, full,
//!   random, urandom and tty bound from the host, `shm`, the fd links) and
//!   a tmpfs `/run` are mounted inside it. They exist only there: when the
//!   namespace's last process ends (normally, by error, or because
//!   image-builder was SIGKILLed) the kernel drops them. Nothing is ever
//!   mounted on the host, nothing is left to unmount. `/dev` is not the
//!   host's `/dev` bound in, so a script cannot remove or write the
//!   host's device nodes;
//! - a PID namespace (`--fork --kill-child`): the script is its init, so
//!   anything it started in the background dies with it, and `unshare`
//!   dies with image-builder (parent-death signal);
//! - with `network = false` (the default), a network namespace holding
//!   only a loopback device that is down: no route anywhere, the host's
//!   own `127.0.0.1` included. With `network = true` the host's network,
//!   and the host's `/etc/resolv.conf` bound over the tree's when the
//!   tree has one as a regular file (so names resolve; the tree's file is
//!   untouched).
//!
//! The script's bytes go to the setup shell on stdin, which writes them
//! into the namespace's `/run` (a tmpfs: never in the tree) and runs
//! `chroot ROOT INTERPRETER /run/image-builder-script` with stdin closed.
//! Its stdout and stderr share one pipe, read line by line as they come.

use anyhow::{Context, Result};
use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::{BufRead, Write};
use std::path::Path;
use std::process::{Command, Stdio};

/// Where the script sits inside the namespace (on its `/run` tmpfs).
pub const SCRIPT_PATH: &str = "/run/image-builder-script";

/// Exit status of the setup shell when a mount failed (as `chroot` uses
/// 125 for its own failures); the line before it says which.
const SETUP_FAILED: i32 = 125;
/// What the setup shell prints before failing.
const SETUP_MARK: &str = "image-builder sandbox: ";

/// Directories the sandbox mounts over; they must be plain directories in
/// the tree (never symlinks, which a mount would follow on the host).
pub const MOUNT_POINTS: [&str; 4] = ["proc", "sys", "dev", "run"];

/// The API filesystems every chrooted tool gets (`$r` the root, `fail`
/// defined by the including shell): /proc, read-only /sys, a /dev tmpfs
/// with the basic nodes bound from the host, /dev/fd, a /run tmpfs. One
/// text for the build-script sandbox and the image's ostree.
macro_rules! api_mounts {
    () => {
        r#"mount -t proc -o nosuid,nodev,noexec proc "$r/proc" || fail "mounting /proc"
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$r/sys" || fail "mounting /sys"
mount -t tmpfs -o nosuid,mode=0755,size=16m dev "$r/dev" || fail "mounting /dev"
for n in null zero full random urandom tty; do
  [ -e "/dev/$n" ] || continue
  : > "$r/dev/$n" && mount --bind "/dev/$n" "$r/dev/$n" || fail "binding /dev/$n"
done
ln -s /proc/self/fd "$r/dev/fd" || fail "populating /dev"
mount -t tmpfs -o nosuid,nodev,mode=0755 run "$r/run" || fail "mounting /run"
"#
    };
}
pub(super) use api_mounts;

/// The setup shell (host `sh`, inside the new namespaces). Arguments:
/// ROOT NETWORK(on|off) PROGRAM ARGS…; only positional parameters are
/// expanded, so no value from a manifest is ever parsed as shell.
const SETUP: &str = concat!(
    r#"r=$1; net=$2; shift 2
fail() { echo "image-builder sandbox: $*" >&2; exit 125; }
"#,
    api_mounts!(),
    r#"mkdir "$r/dev/pts" "$r/dev/shm" || fail "populating /dev"
mount -t tmpfs -o nosuid,nodev,mode=1777 shm "$r/dev/shm" || fail "mounting /dev/shm"
ln -s /proc/self/fd/0 "$r/dev/stdin" && ln -s /proc/self/fd/1 "$r/dev/stdout" &&
  ln -s /proc/self/fd/2 "$r/dev/stderr" || fail "populating /dev"
if [ "$net" = on ] && [ -f /etc/resolv.conf ] && [ ! -L "$r/etc/resolv.conf" ] &&
  [ -f "$r/etc/resolv.conf" ]; then
  mount --bind /etc/resolv.conf "$r/etc/resolv.conf" || fail "binding /etc/resolv.conf"
fi
cat > "$r/run/image-builder-script" || fail "writing the script"
exec chroot "$r" "$@" < /dev/null
"#
);

/// `unshare`'s flags for a chrooted tool: private mounts (nothing reaches
/// the host), its own PID namespace, killed with its parent.
pub(super) const UNSHARE_FLAGS: [&str; 6] = [
    "--mount",
    "--propagation",
    "private",
    "--pid",
    "--fork",
    "--kill-child",
];

/// argv of `unshare` for running `interpreter SCRIPT_PATH` chrooted in
/// `root` (pure: what runs is decided here and table-tested).
pub fn argv(root: &Path, network: bool, interpreter: &str) -> Vec<OsString> {
    let mut v: Vec<OsString> = UNSHARE_FLAGS.iter().map(OsString::from).collect();
    if !network {
        v.push("--net".into());
    }
    v.extend(
        ["--", "sh", "-c", SETUP, "image-builder-sandbox"]
            .iter()
            .map(OsString::from),
    );
    v.push(root.as_os_str().to_os_string());
    v.push(if network { "on" } else { "off" }.into());
    v.push(interpreter.into());
    v.push(SCRIPT_PATH.into());
    v
}

/// How a script ended.
#[derive(Debug)]
pub struct Finished {
    /// The exit code, or None when a signal ended it.
    pub code: Option<i32>,
    /// The signal that ended it.
    pub signal: Option<i32>,
    /// The last lines of its output (stdout and stderr, interleaved).
    pub tail: String,
    /// The sandbox itself could not be set up (a mount failed): the
    /// script never ran, and `tail` says why.
    pub setup_failed: bool,
}

impl Finished {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// "exit status 3" or "signal 9".
    pub fn status(&self) -> String {
        match (self.code, self.signal) {
            (Some(c), _) => format!("exit status {c}"),
            (None, Some(s)) => format!("signal {s}"),
            (None, None) => "an unknown status".into(),
        }
    }
}

/// A pipe (read end, write end), both close-on-exec (the child gets
/// the write end through `Stdio`, which dups it).
fn pipe() -> Result<(std::fs::File, std::os::fd::OwnedFd)> {
    use std::os::fd::FromRawFd;
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error()).context("making a pipe");
    }
    // SAFETY: pipe2 succeeded, so both are open descriptors that nothing
    // else owns.
    let (r, w) = unsafe {
        (
            std::os::fd::OwnedFd::from_raw_fd(fds[0]),
            std::os::fd::OwnedFd::from_raw_fd(fds[1]),
        )
    };
    Ok((std::fs::File::from(r), w))
}

/// How many lines of output a failure keeps.
const TAIL_LINES: usize = 30;

/// Runs `script` with `interpreter` chrooted in `root` (see the module
/// docs), with exactly `env` in its environment besides PATH, HOME and
/// LANG. Each output line goes to `on_line` as it comes. Only failing to
/// start is an error; the exit status is the caller's to judge.
pub fn run(
    root: &Path,
    network: bool,
    interpreter: &str,
    script: &[u8],
    env: &[(&str, String)],
    on_line: &mut dyn FnMut(&str),
) -> Result<Finished> {
    use std::os::unix::process::ExitStatusExt;
    let args = argv(root, network, interpreter);
    // The setup shell is long and fixed: log the rest.
    let shown: Vec<&std::ffi::OsStr> = args
        .iter()
        .filter(|a| a.as_os_str() != SETUP)
        .map(OsString::as_os_str)
        .collect();
    let line = super::display("unshare", &shown);
    crate::report::debug(format!("run: {line}"));
    let (reader, writer) = pipe()?;
    let writer2 = writer.try_clone().context("making a pipe")?;
    super::inventory::check("unshare")?;
    let mut cmd = Command::new("unshare");
    cmd.args(&args);
    super::tree_env(&mut cmd, env);
    cmd.stdin(Stdio::piped()).stdout(writer).stderr(writer2);
    super::die_with_parent(&mut cmd);
    let mut child = cmd.spawn().with_context(|| format!("starting `{line}`"))?;
    // The Command holds the pipe's write ends: drop them, or the read
    // below never sees the end.
    drop(cmd);
    let mut stdin = child.stdin.take().expect("piped stdin");
    let data = script.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let mut tail: VecDeque<String> = VecDeque::new();
    let mut setup_failed = false;
    let mut r = std::io::BufReader::new(reader);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = r
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("reading the output of `{line}`"))?;
        if n == 0 {
            break;
        }
        let text = String::from_utf8_lossy(&buf);
        let text = text.trim_end_matches(['\n', '\r']);
        if text.starts_with(SETUP_MARK) {
            setup_failed = true;
        }
        on_line(text);
        if tail.len() == TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(text.to_string());
    }
    let _ = feeder.join();
    let st = child
        .wait()
        .with_context(|| format!("waiting for `{line}`"))?;
    let tail: Vec<String> = tail.into();
    Ok(Finished {
        code: st.code(),
        signal: st.signal(),
        setup_failed: setup_failed && st.code() == Some(SETUP_FAILED),
        tail: super::tail(tail.join("\n").as_bytes(), 4000),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_table() {
        let flags = |network: bool| -> Vec<String> {
            argv(Path::new("/t/root"), network, "/bin/sh")
                .into_iter()
                .map(|a| a.to_string_lossy().into_owned())
                .filter(|a| a != SETUP)
                .collect()
        };
        assert_eq!(
            flags(false),
            [
                "--mount",
                "--propagation",
                "private",
                "--pid",
                "--fork",
                "--kill-child",
                "--net",
                "--",
                "sh",
                "-c",
                "image-builder-sandbox",
                "/t/root",
                "off",
                "/bin/sh",
                SCRIPT_PATH,
            ]
        );
        let on = flags(true);
        assert!(!on.contains(&"--net".to_string()), "{on:?}");
        assert_eq!(&on[on.len() - 3..], ["on", "/bin/sh", SCRIPT_PATH]);
        // The setup shell is exactly one argument, right after `-c`.
        let all = argv(Path::new("/r"), false, "/bin/sh");
        let c = all.iter().position(|a| a == "-c").unwrap();
        assert_eq!(all[c + 1], SETUP);
    }

    #[test]
    fn setup_mounts_every_mount_point_and_names_failures() {
        for m in MOUNT_POINTS {
            assert!(SETUP.contains(&format!("\"$r/{m}\"")), "{m}");
        }
        assert!(SETUP.contains(SETUP_MARK.trim_end()));
        assert!(SETUP.contains(&format!("exit {SETUP_FAILED}")));
        assert!(SETUP.contains(SCRIPT_PATH));
    }

    #[test]
    fn statuses_read_as_words() {
        let f = |code, signal| Finished {
            code,
            signal,
            tail: String::new(),
            setup_failed: false,
        };
        assert_eq!(f(Some(3), None).status(), "exit status 3");
        assert_eq!(f(None, Some(9)).status(), "signal 9");
        assert!(f(Some(0), None).success());
        assert!(!f(Some(1), None).success());
    }
}
