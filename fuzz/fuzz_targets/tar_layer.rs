//! An image layer (uncompressed tar) applied onto a root, as a base image
//! is unpacked: whiteouts, links, devices, path escapes. Must never panic
//! and never write outside the root.
#![no_main]

use alma_image_builder::oci::extract;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let _ = extract::apply(&mut &data[..], &root, "fuzz layer");
    // Nothing but the root may appear beside it.
    let beside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(beside, vec![std::ffi::OsString::from("root")], "wrote outside the root");
});
