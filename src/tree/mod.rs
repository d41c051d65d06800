//! Root trees: a locked, fetched transaction becomes a directory that is
//! an installed system.
//!
//! `install` unpacks the packages in transaction order and registers them
//! in the tree's own rpmdb; `customize` applies the blueprint
//! customizations as small functions over the tree; `scripts` runs the
//! manifest's `[[build.script]]`s chrooted in namespaces; `selinux` labels it
//! with the tree's own policy. Nothing here touches the host's root: every
//! path is resolved under the tree and every program the tree provides
//! runs chrooted into it (through `crate::tools`).

pub mod boot;
pub mod customize;
pub mod install;
pub mod make;
pub mod rpmdb;
pub mod rpmhdr;
pub mod scripts;
pub mod selinux;
