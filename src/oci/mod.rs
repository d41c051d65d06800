//! The OCI layer: the image model (`image`), on-disk layouts and
//! oci-archives (`layout`, `archive`), image references (`reference`) and
//! the distribution client for pull and push with its credentials
//! (`registry`).
//!
//! Why a layer of its own: resolve pulls a derived build's base image,
//! artifact builders write layouts, publish pushes them. Kept under
//! `artifact` or `publish`, an earlier stage would have to import a later
//! one; here every stage imports downwards and none reaches forward.

pub mod archive;
pub mod compression;
pub mod extract;
pub mod image;
pub mod layout;
pub mod reference;
pub mod registry;
pub mod unpack;
pub mod walk;
