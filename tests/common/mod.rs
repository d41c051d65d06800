pub mod cli;
pub mod fixtures;
pub mod httpd;
pub mod oci;
pub mod registry;
pub mod sigstore;
pub mod skip;
