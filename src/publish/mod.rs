//! Publishing: image references (`reference`), the OCI distribution
//! client for push and pull (`registry`, credentials in `auth`),
//! cosign-compatible signatures (`cosign_key`, `sign`), the verification
//! policy an image carries for its own updates (`policy`), and SBOMs
//! attached as OCI referrers (`attach`).

pub mod attach;
pub mod auth;
pub mod cosign_key;
pub mod policy;
pub mod reference;
pub mod registry;
pub mod sign;
