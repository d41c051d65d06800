//! RPM lead and headers (read from every package before install and for
//! the SBOM). Must never panic or allocate without bound.
#![no_main]

use alma_image_builder::tree::rpmhdr;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = rpmhdr::read_from(&mut &data[..]) {
        let _ = h.nevra();
        let _ = h.files();
    }
});
