//! Sigstore material that is not publishing: cosign-compatible keys
//! (`cosign_key`) and the containers-policy.json/registries.d files an
//! image carries so it verifies its own updates (`policy`). Kept below
//! `artifact` because the OCI builder writes the policy into the image
//! before it exists as an artifact; `publish` signs with the same keys.

pub mod cosign_key;
pub mod policy;
