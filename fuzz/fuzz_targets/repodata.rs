//! Repository metadata from a mirror: repomd.xml, metalink, mirrorlist,
//! comps and modules.yaml. The first byte picks the parser. Must never
//! panic: a bad mirror is an error naming the repo.
#![no_main]

use alma_image_builder::resolve::{comps::Comps, modules::Modules, repodata};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    match which % 5 {
        0 => {
            let _ = repodata::parse_repomd(&text, "fuzz repomd.xml");
        }
        1 => {
            let _ = repodata::parse_metalink(&text, "fuzz metalink");
        }
        2 => {
            let _ = repodata::parse_mirrorlist(&text);
        }
        3 => {
            let mut c = Comps::default();
            let _ = c.add_xml(&text, "of fuzz");
        }
        _ => {
            let mut m = Modules::default();
            let _ = m.add_yaml(&text, "fuzz modules.yaml");
        }
    }
});
