//! Secure Boot inputs read from packages and firmware stores: PE headers
//! of shim/GRUB/kernels, EFI signature lists and authenticated variables.
#![no_main]

use alma_image_builder::secureboot::{efivar, pe};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    match which % 3 {
        0 => {
            let _ = pe::PeInfo::parse(rest);
        }
        1 => {
            let _ = efivar::parse_esl(rest);
        }
        _ => {
            let _ = efivar::parse_auth(rest);
        }
    }
});
