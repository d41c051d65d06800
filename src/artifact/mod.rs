//! Artifact builders: one module per format, each a function from a tree
//! (or another artifact) to files beside which an SBOM is written.

pub mod disk;
pub mod oci;
pub mod sbom;
pub mod tar;
