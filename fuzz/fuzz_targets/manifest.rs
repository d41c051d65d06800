//! Any bytes → manifest parser → validation → plan → text. Must never
//! panic: every failure is a diagnostic with a location we can render.
#![no_main]

use alma_image_builder::manifest::{self, validate::Selection};
use alma_image_builder::plan;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match manifest::parse(text, Path::new("fuzz.toml")) {
        Ok(doc) => match plan::make(&doc, &Selection::default()) {
            Ok(p) => {
                let _ = plan::render::text(&p);
                let _ = serde_json::to_string(&p);
            }
            Err(e) => {
                let _ = e.to_string();
            }
        },
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
