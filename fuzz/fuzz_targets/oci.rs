//! What a registry or an OCI layout hands us: manifests, indexes,
//! configs, references, auth challenges and auth files. The first byte
//! picks the parser.
#![no_main]

use alma_image_builder::oci::{image, layout, reference, registry::auth};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    match which % 6 {
        0 => {
            let _ = serde_json::from_slice::<image::Manifest>(rest);
        }
        1 => {
            let _ = serde_json::from_slice::<image::Index>(rest);
        }
        2 => {
            if let Ok(d) = serde_json::from_slice::<image::Descriptor>(rest) {
                let _ = image::layer_packages(&d);
                let _ = layout::parse_digest(&d.digest);
            }
        }
        3 => {
            if let Ok(r) = reference::parse(&text) {
                let _ = r.to_string();
            }
        }
        4 => {
            let _ = auth::parse_challenge(&text);
        }
        _ => {
            let _ = auth::from_text(&text, Path::new("auth.json"), "quay.io", "org/repo");
        }
    }
});
