//! RAII guards for host resources that must never outlive an operation:
//! loop devices and mounts. A guard releases its resource when dropped, on
//! success, on error and during a panic, so a failed run leaves no loop
//! device attached and nothing mounted. Release failures are logged, not
//! raised (a destructor cannot return them); `release()` is the explicit,
//! checked form.

pub mod attr;
pub mod loopdev;
pub mod mount;
pub mod ns;
pub mod workdir;
