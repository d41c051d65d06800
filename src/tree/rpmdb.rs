//! Where a tree keeps its rpm database and how the host's `rpm` is pointed
//! at it. AlmaLinux 8 keeps a Berkeley DB in /var/lib/rpm, 9 an SQLite one
//! there, 10 and Kitten an SQLite one in /usr/lib/sysimage/rpm (with
//! /var/lib/rpm a symlink to it). Debian's rpm defaults to `~/.rpmdb`, so
//! every call names the path and the backend explicitly.

use std::path::Path;

/// The rpmdb directory inside a tree, as an absolute in-tree path.
pub fn dbpath(root: &Path) -> &'static str {
    crate::distro::rpmdb_dir(root)
}

/// Arguments that point the host's `rpm`/`rpmkeys` at the tree's database.
pub fn rpm_args(root: &Path) -> Vec<String> {
    args(root, dbpath(root), "sqlite")
}

/// The same for a database whose place and backend are known already.
pub fn args(root: &Path, dbpath: &str, backend: &str) -> Vec<String> {
    crate::tools::rpm::db_args(root, dbpath, backend)
}
