pub mod fixtures;
pub mod httpd;
