//! The build's own mount namespace. Mounts made while building (a
//! filesystem image being populated, a root being verified) must never
//! outlive the build, and a build killed with SIGKILL runs no destructor.
//! So the process moves into a private mount namespace before it starts
//! any thread: every mount it or its children make lives there, nothing
//! propagates back to the host, and the kernel tears them all down when
//! the last process in the namespace exits. Loop devices are the other
//! half (`sys::loopdev` sets them to autoclear).

/// Enters a private mount namespace (root only; elsewhere mounts are not
/// possible anyway). Must run before any thread is started: a namespace
/// is per thread. Returns whether it did.
pub fn private_mounts() -> bool {
    // SAFETY: plain syscalls with constant arguments; no memory is passed
    // but the static, NUL-terminated "/".
    unsafe {
        if libc::geteuid() != 0 || libc::unshare(libc::CLONE_NEWNS) != 0 {
            return false;
        }
        // Nothing mounted in here may reach the host.
        let root = c"/";
        libc::mount(
            std::ptr::null(),
            root.as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ) == 0
    }
}
