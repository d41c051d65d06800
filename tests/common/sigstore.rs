//! Reading cosign signatures the way bootc's pulls do: containers/image
//! (through skopeo) fetches them from the registry with
//! `use-sigstore-attachments`, openssl checks them. Debian's skopeo has
//! sigstore *policy* verification compiled out, so these two independent
//! parts stand in for its verdict.
#![allow(dead_code)]

use super::registry::skopeo;
use alma_image_builder::tools;
use std::path::Path;

/// The sigstore signatures containers/image fetched for `reference` with
/// the registries.d configuration in `regd`: copied to a `dir:` layout,
/// each is stored as `signature-N`, `\0sigstore-json\n` and JSON
/// {mimeType, payload (base64), annotations}. Returns (mime type,
/// payload, annotations).
pub fn fetched_signatures(
    reference: &str,
    work: &Path,
    regd: &Path,
) -> Vec<(String, Vec<u8>, serde_json::Value)> {
    use base64::Engine;
    let out = tempfile::tempdir_in(work).unwrap();
    skopeo(&[
        "--registries.d",
        regd.to_str().unwrap(),
        "copy",
        "--src-tls-verify=false",
        "--all",
        reference,
        &format!("dir:{}", out.path().display()),
    ]);
    let mut sigs = Vec::new();
    for n in 1.. {
        let Ok(bytes) = std::fs::read(out.path().join(format!("signature-{n}"))) else {
            break;
        };
        let body = bytes.strip_prefix(b"\0sigstore-json\n").unwrap_or_else(|| {
            panic!(
                "not a sigstore signature: {:?}",
                String::from_utf8_lossy(&bytes)
            )
        });
        let v: serde_json::Value = serde_json::from_slice(body).unwrap();
        let payload = base64::engine::general_purpose::STANDARD
            .decode(v["payload"].as_str().unwrap())
            .unwrap();
        sigs.push((
            v["mimeType"].as_str().unwrap().to_string(),
            payload,
            v["annotations"].clone(),
        ));
    }
    sigs
}

/// `openssl dgst -verify`: does `sig_b64` verify over `payload` with `pub_path`?
pub fn openssl_verifies(work: &Path, pub_path: &Path, payload: &[u8], sig_b64: &str) -> bool {
    use base64::Engine;
    let d = tempfile::tempdir_in(work).unwrap();
    let (p, s) = (d.path().join("payload"), d.path().join("sig"));
    std::fs::write(&p, payload).unwrap();
    std::fs::write(
        &s,
        base64::engine::general_purpose::STANDARD
            .decode(sig_b64)
            .unwrap(),
    )
    .unwrap();
    let args = [
        "dgst",
        "-sha256",
        "-verify",
        pub_path.to_str().unwrap(),
        "-signature",
        s.to_str().unwrap(),
        p.to_str().unwrap(),
    ];
    tools::run("openssl", &args).is_ok()
}
