//! CycloneDX 1.6 JSON.
//!
//! `metadata.component` is the artifact (type operating-system); every
//! installed RPM is a `library` component whose `bom-ref` is its purl, so
//! references stay meaningful across BOMs. Licenses go in as an SPDX
//! `expression` when the RPM tag converts fully, else as a named license
//! carrying the tag verbatim (CycloneDX has no place for extracted license
//! texts). The serial number is a UUID built from a SHA-256 of the rest of
//! the BOM: unique per content, reproducible per build.

use serde_json::{json, Map, Value};

use super::license;
use super::{content_hash, evr, purl, rfc3339, sorted_packages, Document, Package};
use super::{TOOL_NAME, TOOL_VERSION};

/// Namespace for our custom properties (CycloneDX property taxonomy).
const PROP: &str = "alma-image-builder:rpm";

/// The CycloneDX 1.6 JSON BOM for `doc`.
pub fn cyclonedx(doc: &Document) -> Value {
    let artifact_ref = format!("artifact:{}", doc.artifact);
    let pkgs = sorted_packages(doc);
    let components: Vec<Value> = pkgs.iter().map(|p| component(doc, p)).collect();
    let depends_on: Vec<Value> = pkgs.iter().map(|p| purl(doc, p).into()).collect();

    let mut bom = json!({
        "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "version": 1,
        "metadata": {
            "timestamp": rfc3339(doc.created_epoch),
            "tools": {
                "components": [{
                    "type": "application",
                    "name": TOOL_NAME,
                    "version": TOOL_VERSION,
                }],
            },
            "component": {
                "type": "operating-system",
                "bom-ref": artifact_ref,
                "name": doc.artifact,
                "version": doc.distro_version,
                "description": format!(
                    "{} {} {} image built by {TOOL_NAME}",
                    doc.distro_id, doc.distro_version, doc.arch
                ),
                "properties": [
                    { "name": "alma-image-builder:distro", "value": doc.distro_id },
                    { "name": "alma-image-builder:distro_version", "value": doc.distro_version },
                    { "name": "alma-image-builder:arch", "value": doc.arch },
                ],
            },
        },
        "components": components,
        "dependencies": [{ "ref": artifact_ref, "dependsOn": depends_on }],
    });
    let serial = serial_number(&content_hash(&bom));
    if let Some(obj) = bom.as_object_mut() {
        obj.insert("serialNumber".into(), Value::String(serial));
    }
    bom
}

/// `urn:uuid:…` from the first 16 bytes of a hex SHA-256, with the version
/// (5, name-based) and RFC 4122 variant bits set as the schema requires.
fn serial_number(hash_hex: &str) -> String {
    let mut h: Vec<char> = hash_hex.chars().take(32).collect();
    h.resize(32, '0');
    h[12] = '5';
    let variant = h[16].to_digit(16).unwrap_or(0);
    h[16] = std::char::from_digit(8 | (variant & 3), 16).unwrap_or('8');
    let s: String = h.into_iter().collect();
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &s[0..8],
        &s[8..12],
        &s[12..16],
        &s[16..20],
        &s[20..32]
    )
}

fn component(doc: &Document, p: &Package) -> Value {
    let purl = purl(doc, p);
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_string(), v);
    };
    put("type", "library".into());
    put("bom-ref", purl.clone().into());
    put("name", p.name.clone().into());
    put("version", evr(p).into());
    put("purl", purl.into());
    if !p.summary.is_empty() {
        put("description", p.summary.clone().into());
    }
    if let Some(v) = p.vendor.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
        put("supplier", json!({ "name": v }));
    }
    if !p.sha256.is_empty() {
        put(
            "hashes",
            json!([{ "alg": "SHA-256", "content": p.sha256.to_ascii_lowercase() }]),
        );
    }
    if let Some(c) = license::convert(&p.license) {
        let choice = if c.unknown {
            json!([{ "license": { "name": p.license.trim() } }])
        } else {
            json!([{ "expression": c.expression }])
        };
        put("licenses", choice);
    }
    let mut refs = Vec::new();
    if let Some(u) = p.download_url.as_deref().filter(|u| !u.is_empty()) {
        refs.push(json!({ "type": "distribution", "url": u }));
    }
    if let Some(u) = p.url.as_deref().filter(|u| !u.is_empty()) {
        refs.push(json!({ "type": "website", "url": u }));
    }
    if !refs.is_empty() {
        put("externalReferences", refs.into());
    }
    let mut props = vec![
        json!({ "name": format!("{PROP}:repo"), "value": if p.repo.is_empty() { "(base image)" } else { p.repo.as_str() } }),
        json!({ "name": format!("{PROP}:arch"), "value": p.arch }),
        json!({ "name": format!("{PROP}:epoch"), "value": p.epoch.to_string() }),
    ];
    if let Some(src) = p.source_rpm.as_deref().filter(|s| !s.is_empty()) {
        props.push(json!({ "name": format!("{PROP}:source_rpm"), "value": src }));
    }
    put("properties", props.into());
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::serial_number;

    #[test]
    fn serial_number_is_a_v5_uuid() {
        let s = serial_number(&"f".repeat(64));
        assert_eq!(s, "urn:uuid:ffffffff-ffff-5fff-bfff-ffffffffffff");
        let s = serial_number(&"0".repeat(64));
        assert_eq!(s, "urn:uuid:00000000-0000-5000-8000-000000000000");
    }
}
