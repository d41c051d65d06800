//! Secure Boot with our own keys: key sets, enrollment files, Authenticode
//! signing and Unified Kernel Images.
//!
//! `secureboot = "custom"` images boot without Microsoft's keys: the
//! firmware trusts a db certificate we generate (`keys::genkey`), the boot
//! path is signed with it (`sign::sign_efi`, `uki::build_uki`), and the
//! firmware is told about the keys with the `.esl`/`.auth` files
//! (`efivar`) or, in QEMU, with virt-fw-vars. Only openssl, sbsign and
//! objcopy run as tools; the UEFI and PE formats are read and written
//! here so tests can check them byte by byte.

pub mod efivar;
pub mod keys;
pub mod pe;
pub mod sign;
pub mod uki;

pub use keys::{genkey, KeySet, Signer};
pub use sign::{sign_efi, verify_efi};
pub use uki::build_uki;
