pub mod cli;
pub mod disk;
pub mod fixtures;
pub mod httpd;
pub mod oci;
pub mod registry;
pub mod sigstore;
pub mod skip;
