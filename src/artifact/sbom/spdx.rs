//! SPDX 2.3 JSON.
//!
//! The document DESCRIBES one package for the artifact (purpose
//! OPERATING-SYSTEM) which CONTAINS one package per installed RPM. RPMs
//! are described from their headers only (`filesAnalyzed: false`), with the
//! .rpm's SHA-256, a purl, the declared license as an SPDX expression (see
//! `license`), and `NOASSERTION` wherever the header says nothing. The
//! namespace is a SHA-256 of the rest of the document so that it is unique
//! per content yet reproducible.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use super::license::{self, sanitize_id};
use super::{content_hash, evr, purl, rfc3339, sorted_packages, Document, Package};
use super::{TOOL_NAME, TOOL_VERSION};

const NOASSERTION: &str = "NOASSERTION";
const ARTIFACT_ID: &str = "SPDXRef-Artifact";

/// The SPDX 2.3 JSON document for `doc`.
pub fn spdx(doc: &Document) -> Value {
    let mut ids = BTreeSet::new();
    let mut extracted: BTreeMap<String, String> = BTreeMap::new();
    let mut packages = vec![artifact_package(doc)];
    let mut relationships = vec![relationship("SPDXRef-DOCUMENT", "DESCRIBES", ARTIFACT_ID)];
    for p in sorted_packages(doc) {
        let id = unique_id(&mut ids, p);
        packages.push(package(doc, p, &id, &mut extracted));
        relationships.push(relationship(ARTIFACT_ID, "CONTAINS", &id));
    }
    let extracted: Vec<Value> = extracted
        .into_iter()
        .map(|(id, text)| {
            json!({
                "licenseId": id,
                "extractedText": text,
                "name": text,
                "comment": "Text of an RPM License tag with no SPDX License List identifier",
            })
        })
        .collect();

    let mut out = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": doc.artifact,
        "creationInfo": {
            "created": rfc3339(doc.created_epoch),
            "creators": [format!("Tool: {TOOL_NAME}-{TOOL_VERSION}")],
        },
        "packages": packages,
        "relationships": relationships,
    });
    if let Some(obj) = out.as_object_mut() {
        if !extracted.is_empty() {
            obj.insert("hasExtractedLicensingInfos".into(), Value::Array(extracted));
        }
        let namespace = format!(
            "https://{}.org/spdx/{}/{}-{}",
            sanitize_id(&doc.distro_id.to_lowercase()),
            TOOL_NAME,
            sanitize_id(&doc.artifact),
            content_hash(&Value::Object(obj.clone())),
        );
        obj.insert("documentNamespace".into(), Value::String(namespace));
    }
    out
}

fn relationship(from: &str, kind: &str, to: &str) -> Value {
    json!({
        "spdxElementId": from,
        "relationshipType": kind,
        "relatedSpdxElement": to,
    })
}

/// `SPDXRef-Package-NAME-EVR.ARCH`, sanitized to `[A-Za-z0-9.-]`; a counter
/// is appended if sanitizing made two packages look alike.
fn unique_id(ids: &mut BTreeSet<String>, p: &Package) -> String {
    let base = format!(
        "SPDXRef-Package-{}",
        sanitize_id(&format!("{}-{}.{}", p.name, evr(p), p.arch))
    );
    let mut id = base.clone();
    let mut n = 2;
    while !ids.insert(id.clone()) {
        id = format!("{base}-{n}");
        n += 1;
    }
    id
}

fn artifact_package(doc: &Document) -> Value {
    json!({
        "SPDXID": ARTIFACT_ID,
        "name": doc.artifact,
        "versionInfo": doc.distro_version,
        "primaryPackagePurpose": "OPERATING-SYSTEM",
        "description": format!(
            "{} {} {} image built by {TOOL_NAME}",
            doc.distro_id, doc.distro_version, doc.arch
        ),
        "downloadLocation": NOASSERTION,
        "filesAnalyzed": false,
        "licenseConcluded": NOASSERTION,
        "licenseDeclared": NOASSERTION,
        "copyrightText": NOASSERTION,
    })
}

fn package(
    doc: &Document,
    p: &Package,
    id: &str,
    extracted: &mut BTreeMap<String, String>,
) -> Value {
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_string(), v);
    };
    put("SPDXID", id.into());
    put("name", p.name.clone().into());
    put("versionInfo", evr(p).into());
    put(
        "packageFileName",
        format!("{}-{}-{}.{}.rpm", p.name, p.version, p.release, p.arch).into(),
    );
    put("primaryPackagePurpose", "LIBRARY".into());
    put(
        "supplier",
        match p.vendor.as_deref().map(str::trim) {
            Some(v) if !v.is_empty() => format!("Organization: {v}").into(),
            _ => NOASSERTION.into(),
        },
    );
    put(
        "downloadLocation",
        p.download_url
            .as_deref()
            .filter(|u| is_url(u))
            .unwrap_or(NOASSERTION)
            .into(),
    );
    if let Some(url) = p.url.as_deref().filter(|u| is_url(u)) {
        put("homepage", url.into());
    }
    put("filesAnalyzed", false.into());
    if !p.sha256.is_empty() {
        put(
            "checksums",
            json!([{ "algorithm": "SHA256", "checksumValue": p.sha256.to_ascii_lowercase() }]),
        );
    }
    if !p.summary.is_empty() {
        put("summary", p.summary.clone().into());
    }
    if let Some(src) = p.source_rpm.as_deref().filter(|s| !s.is_empty()) {
        put("sourceInfo", format!("built from source RPM {src}").into());
    }
    put(
        "comment",
        if p.repo.is_empty() {
            "part of the base image".into()
        } else {
            format!("installed from repository {}", p.repo).into()
        },
    );
    put("licenseConcluded", NOASSERTION.into());
    match license::convert(&p.license) {
        Some(c) => {
            for r in c.refs {
                extracted.entry(r.id).or_insert(r.text);
            }
            if c.expression != p.license.trim() {
                put(
                    "licenseComments",
                    format!("RPM License tag: {}", p.license.trim()).into(),
                );
            }
            put("licenseDeclared", c.expression.into());
        }
        None => put("licenseDeclared", NOASSERTION.into()),
    }
    put("copyrightText", NOASSERTION.into());
    put(
        "externalRefs",
        json!([{
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": purl(doc, p),
        }]),
    );
    Value::Object(m)
}

/// Only plain http(s)/ftp URLs without whitespace are passed on; SPDX
/// download locations and homepages must be URIs.
fn is_url(s: &str) -> bool {
    ["https://", "http://", "ftp://"]
        .iter()
        .any(|scheme| s.len() > scheme.len() && s.starts_with(scheme))
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}
