//! Reading files back out of an OCI layout the tests built: the first
//! image of `index.json` (through a nested index, as a multi-arch archive
//! has), its gzip layers in order, later layers winning (our images have no
//! whiteouts over the files tests read).

#![allow(dead_code)]

use serde_json::Value;
use std::path::Path;

/// Every regular file whose path (without `./`) `wanted` accepts, with its
/// bytes from the last layer that has it; sorted by path.
pub fn layer_files(layout: &Path, wanted: impl Fn(&str) -> bool) -> Vec<(String, Vec<u8>)> {
    let blob = |d: &str| layout.join("blobs/sha256").join(&d["sha256:".len()..]);
    let json = |p: &Path| -> Value { serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap() };
    let index = json(&layout.join("index.json"));
    let mut top = json(&blob(index["manifests"][0]["digest"].as_str().unwrap()));
    if top["mediaType"] == "application/vnd.oci.image.index.v1+json" {
        top = json(&blob(top["manifests"][0]["digest"].as_str().unwrap()));
    }
    let mut found: Vec<(String, Vec<u8>)> = vec![];
    for l in top["layers"].as_array().unwrap() {
        let f = std::fs::File::open(blob(l["digest"].as_str().unwrap())).unwrap();
        let mut a = tar::Archive::new(flate2::read::GzDecoder::new(f));
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            let p = e
                .path()
                .unwrap()
                .to_string_lossy()
                .trim_start_matches("./")
                .to_string();
            if wanted(&p) && e.header().entry_type().is_file() {
                let mut v = vec![];
                std::io::Read::read_to_end(&mut e, &mut v).unwrap();
                found.retain(|(q, _)| *q != p);
                found.push((p, v));
            }
        }
    }
    found.sort();
    found
}
