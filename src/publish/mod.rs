//! Publishing: cosign-compatible signatures (`sign`), SBOMs attached as
//! OCI referrers (`attach`) and delivery to destinations (`deliver`).
//! Keys and the image's own verification policy live in the lower
//! `crate::sigstore`; references and the registry client in `crate::oci`.

pub mod attach;
pub mod deliver;
pub mod sign;

pub use crate::sigstore::{cosign_key, policy};
