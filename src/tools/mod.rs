//! The only place that spawns processes.
//!
//! Every external tool runs through `run`: stdin closed, the command line
//! logged at debug level, and on failure an error that carries the command
//! and the tail of its stderr, so a failed build says which tool failed
//! and why without re-running anything.

pub mod inventory;
pub mod sandbox;

use anyhow::{bail, Context, Result};
use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Stdio};

pub mod iso;
pub mod ostree;
pub mod rpm;

/// How many bytes of stderr a failure message keeps.
const STDERR_TAIL: usize = 2000;

/// The captured result of a successful run.
#[derive(Debug)]
pub struct Output {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Renders a command line for logs and errors, quoting where needed.
pub fn display<S: AsRef<OsStr>>(program: &str, args: &[S]) -> String {
    let mut s = program.to_string();
    for a in args {
        let a = a.as_ref().to_string_lossy();
        s.push(' ');
        if a.is_empty() || a.contains(|c: char| c.is_whitespace() || "'\"$`\\".contains(c)) {
            s.push('\'');
            s.push_str(&a.replace('\'', "'\\''"));
            s.push('\'');
        } else {
            s.push_str(&a);
        }
    }
    s
}

/// The last `max` bytes of `bytes` as text, starting at a line break when
/// one is near.
pub fn tail(bytes: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim_end();
    if text.len() <= max {
        return text.to_string();
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    let cut = &text[start..];
    match cut.find('\n') {
        Some(i) if i < max / 2 => format!("…{}", &cut[i..]),
        _ => format!("…{cut}"),
    }
}

/// Runs `program args`, capturing output; non-zero exit is an error.
pub fn run<S: AsRef<OsStr>>(program: &str, args: &[S]) -> Result<Output> {
    let (line, out) = capture(program, args, &[])?;
    finish(&line, out)
}

/// Runs `program args` with extra environment variables (e.g.
/// SOURCE_DATE_EPOCH for rpm, whose install times honor it).
pub fn run_with_env<S: AsRef<OsStr>>(
    program: &str,
    args: &[S],
    env: &[(&str, String)],
) -> Result<Output> {
    let (line, out) = capture(program, args, env)?;
    finish(&line, out)
}

/// Runs `program args` and returns its output whatever the exit status
/// (for tools whose report matters more than their status, like
/// `rpmkeys -K`); only failing to start is an error.
pub fn run_any_status<S: AsRef<OsStr>>(program: &str, args: &[S]) -> Result<Output> {
    let (_, out) = capture(program, args, &[])?;
    Ok(Output {
        stdout: out.stdout,
        stderr: out.stderr,
    })
}

/// argv for copying a tree with everything rpm and SELinux put on it
/// (owners, modes, hard links, xattrs), sharing blocks where the
/// filesystem can.
fn copy_tree_args(src: &Path, dst: &Path) -> Vec<std::ffi::OsString> {
    vec![
        "-a".into(),
        "--reflink=auto".into(),
        "--".into(),
        src.as_os_str().into(),
        dst.as_os_str().into(),
    ]
}

/// Copies the tree at `src` to `dst` (which must not exist).
pub fn copy_tree(src: &Path, dst: &Path) -> Result<()> {
    run("cp", &copy_tree_args(src, dst))
        .with_context(|| format!("copying the tree {} to {}", src.display(), dst.display()))?;
    Ok(())
}

/// argv for a copy of a tree made of hard links to its files
/// (directories made anew with their metadata).
fn link_tree_args(src: &Path, dst: &Path) -> Vec<std::ffi::OsString> {
    vec![
        "-a".into(),
        "--link".into(),
        "--".into(),
        src.as_os_str().into(),
        dst.as_os_str().into(),
    ]
}

/// Links the tree at `src` to `dst` (which must not exist; same
/// filesystem).
pub fn link_tree(src: &Path, dst: &Path) -> Result<()> {
    run("cp", &link_tree_args(src, dst))
        .with_context(|| format!("linking the tree {} to {}", src.display(), dst.display()))?;
    Ok(())
}

/// Runs `program args` chrooted into `root` (a tree being built), with a
/// clean environment, so the tree's own tools act on the tree and never on
/// the host. `program` is a path inside the tree (or a name on its PATH).
pub fn run_in_root<S: AsRef<OsStr>>(root: &Path, program: &str, args: &[S]) -> Result<Output> {
    run_in_root_env(root, program, args, &[])
}

/// `run_in_root` with extra environment variables.
pub fn run_in_root_env<S: AsRef<OsStr>>(
    root: &Path,
    program: &str,
    args: &[S],
    env: &[(&str, String)],
) -> Result<Output> {
    let mut full: Vec<std::ffi::OsString> = vec![root.as_os_str().into(), program.into()];
    full.extend(args.iter().map(|a| a.as_ref().to_os_string()));
    let line = display("chroot", &full);
    inventory::check("chroot")?;
    crate::report::debug(format!("run: {line}"));
    let mut cmd = Command::new("chroot");
    cmd.args(&full);
    tree_env(&mut cmd, env);
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("starting `{line}`"))?;
    finish(&line, out)
}

/// Runs `program args` with `input` on stdin (for tools that read a
/// script there, like sfdisk).
pub fn run_with_stdin<S: AsRef<OsStr>>(program: &str, args: &[S], input: &[u8]) -> Result<Output> {
    use std::io::Write;
    let line = display(program, args);
    inventory::check(program)?;
    crate::report::debug(format!("run: {line}"));
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting `{line}`"))?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let data = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = child
        .wait_with_output()
        .with_context(|| format!("waiting for `{line}`"))?;
    let _ = writer.join();
    finish(&line, out)
}

/// Logs and runs `program args` (stdin closed), capturing its output.
fn capture<S: AsRef<OsStr>>(
    program: &str,
    args: &[S],
    env: &[(&str, String)],
) -> Result<(String, std::process::Output)> {
    let line = display(program, args);
    inventory::check(program)?;
    crate::report::debug(format!("run: {line}"));
    let out = Command::new(program)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("starting `{line}`"))?;
    Ok((line, out))
}

/// A running background process (QEMU) owned by a guard: dropping it
/// kills the process by its PID and reaps it, so no stray child survives an
/// error, an early return or a panic. The child also gets SIGKILL from the
/// kernel if the thread that spawned it dies first.
#[derive(Debug)]
pub struct Running {
    child: Option<std::process::Child>,
    line: String,
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// The command line it was started with.
    pub fn line(&self) -> &str {
        &self.line
    }

    /// The exit status if the process has ended (it is then reaped).
    pub fn try_wait(&mut self) -> Result<Option<std::process::ExitStatus>> {
        match self.child.as_mut() {
            Some(c) => c
                .try_wait()
                .with_context(|| format!("waiting for `{}`", self.line)),
            None => Ok(None),
        }
    }

    /// Kills (SIGKILL) and reaps the process; returns its exit status.
    /// Idempotent: a second call, or a process that already ended, is fine.
    pub fn kill(&mut self) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        if let Ok(Some(st)) = c.try_wait() {
            return Some(st);
        }
        crate::report::debug(format!("kill {} ({})", c.id(), self.line));
        let _ = c.kill();
        c.wait().ok()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts `program args` in the background with stdin closed, stdout
/// discarded and stderr appended to `stderr_to`; the returned guard kills
/// it when dropped.
pub fn spawn<S: AsRef<OsStr>>(program: &str, args: &[S], stderr_to: &Path) -> Result<Running> {
    let line = display(program, args);
    inventory::check(program)?;
    crate::report::debug(format!("spawn: {line}"));
    let err = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(stderr_to)
        .with_context(|| format!("opening {}", stderr_to.display()))?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err);
    die_with_parent(&mut cmd);
    let child = cmd.spawn().with_context(|| format!("starting `{line}`"))?;
    Ok(Running {
        child: Some(child),
        line,
    })
}

fn finish(line: &str, out: std::process::Output) -> Result<Output> {
    if !out.status.success() {
        let code = out
            .status
            .code()
            .map(|c| c.to_string())
            .unwrap_or_else(|| "a signal".into());
        let err = tail(&out.stderr, STDERR_TAIL);
        if err.is_empty() {
            bail!("`{line}` exited with {code}");
        }
        bail!("`{line}` exited with {code}:\n{err}");
    }
    Ok(Output {
        stdout: out.stdout,
        stderr: out.stderr,
    })
}

/// The environment a program chrooted into a tree gets: nothing of the
/// host's but a fixed PATH, HOME and LANG, systemd tools told they run
/// offline, then the caller's `env`.
pub(crate) fn tree_env(cmd: &mut Command, env: &[(&str, String)]) {
    cmd.env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("HOME", "/root")
        .env("LANG", "C.UTF-8")
        .env("SYSTEMD_OFFLINE", "1")
        .envs(env.iter().map(|(k, v)| (k, v)));
}

/// The child gets SIGKILL when this process dies, however it dies, so a
/// killed build leaves no long-running tool (QEMU, a script) behind.
pub(crate) fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs between fork and exec; prctl is
    // async-signal-safe and touches no memory of ours.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_copies_and_links() {
        let (a, b) = (Path::new("/a"), Path::new("/b"));
        assert_eq!(
            copy_tree_args(a, b),
            ["-a", "--reflink=auto", "--", "/a", "/b"]
        );
        assert_eq!(link_tree_args(a, b), ["-a", "--link", "--", "/a", "/b"]);
    }

    #[test]
    fn display_quotes_table() {
        assert_eq!(
            display("echo", &["a", "b c", "", "it's"]),
            "echo a 'b c' '' 'it'\\''s'"
        );
    }

    #[test]
    fn tail_keeps_the_end() {
        let s = "line1\nline2\nline3\n".repeat(200);
        let t = tail(s.as_bytes(), 50);
        assert!(t.len() <= 60, "{t}");
        assert!(t.ends_with("line3"));
    }

    #[test]
    fn failures_carry_command_and_stderr() {
        let e = run("sh", &["-c", "echo out; echo boom >&2; exit 3"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("exited with 3"), "{e}");
        assert!(e.contains("boom"), "{e}");
        assert!(e.contains("sh -c"), "{e}");
        // Undeclared (debug builds refuse it) or missing: named either way.
        let e = run("/nonexistent/tool", &["x"]).unwrap_err();
        assert!(format!("{e:#}").contains("/nonexistent/tool"), "{e:#}");
    }

    #[test]
    fn spawned_processes_die_with_their_guard() {
        let dir = tempfile::tempdir().unwrap();
        let err = dir.path().join("err");
        let mut r = spawn("sh", &["-c", "echo started >&2; exec sleep 60"], &err).unwrap();
        let pid = r.pid();
        assert!(Path::new(&format!("/proc/{pid}")).exists());
        assert!(r.try_wait().unwrap().is_none());
        // Its stderr reaches the file (the shell may not have run yet).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !std::fs::read_to_string(&err)
            .unwrap_or_default()
            .contains("started")
        {
            assert!(
                std::time::Instant::now() < deadline,
                "no stderr in the file"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        drop(r);
        // Killed and reaped: no zombie left under our PID.
        assert!(!Path::new(&format!("/proc/{pid}")).exists());
        let err2 = dir.path().join("err2");
        let mut r = spawn("sh", &["-c", "exit 3"], &err2).unwrap();
        let st = loop {
            if let Some(st) = r.try_wait().unwrap() {
                break st;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        assert_eq!(st.code(), Some(3));
        assert_eq!(r.kill().and_then(|s| s.code()), Some(3));
        assert!(r.kill().is_none());
        assert!(spawn("/nonexistent/qemu", &["x"], &err).is_err());
    }

    #[test]
    fn success_captures_stdout() {
        let o = run("sh", &["-c", "printf hi"]).unwrap();
        assert_eq!(o.stdout, b"hi");
    }
}
