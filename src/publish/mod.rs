//! Publishing: image references, the OCI distribution client (push and
//! pull), cosign-compatible signatures, SBOMs attached as referrers.
//! (Being written; see issue 6.)

pub mod attach;
pub mod cosign_key;
pub mod policy;
pub mod sign;
