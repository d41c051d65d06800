//! The lockfile (committed next to manifests, edited by hand and by
//! merges) and the QEMU test files `verify` reads. The first byte picks.
#![no_main]

use alma_image_builder::resolve::lockfile::Lockfile;
use alma_image_builder::verify::expect;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    if which % 2 == 0 {
        let _ = Lockfile::parse(text, Path::new("fuzz.lock"));
    } else {
        let _ = expect::parse(text);
    }
});
