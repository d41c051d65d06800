//! The manifest's OCI inputs judged against the OCI model: image
//! references (`[output.oci] reference`, `[base] image`, `[[containers]]
//! source`) and `[output.oci] compression`. These live in the plan, not in
//! `manifest::validate`, because the reference grammar and the compressions
//! we write belong to `oci`, a lower layer the plan may read and the
//! manifest may not (`tests/layering.rs`).

use crate::manifest::{Diagnostic, Document, Seg};

fn reference(doc: &Document, path: Vec<Seg>, what: &str, r: &str, out: &mut Vec<Diagnostic>) {
    let n = super::target::normalize_reference(r);
    if let Err(e) = crate::oci::reference::parse(&n) {
        out.push(doc.diag(
            &path,
            format!("{what} {r:?} is not an image reference: {e:#}"),
        ));
    }
}

/// Every OCI input of the manifest; each refusal at its key.
pub(super) fn check(doc: &Document, out: &mut Vec<Diagnostic>) {
    let m = &doc.manifest;
    for (i, o) in m.output.iter().enumerate() {
        let Some(oci) = &o.oci else { continue };
        if let Some(c) = &oci.compression {
            if let Err(e) = c.parse::<crate::oci::compression::Compression>() {
                out.push(
                    doc.diag(
                        &[
                            Seg::from("output"),
                            i.into(),
                            "oci".into(),
                            "compression".into(),
                        ],
                        format!("compression {e:#}"),
                    )
                    .hint("compression: \"gzip\", \"zstd\" or \"none\""),
                );
            }
        }
        if let Some(r) = &oci.reference {
            let path = vec!["output".into(), i.into(), "oci".into(), "reference".into()];
            reference(doc, path, "reference", r, out);
        }
    }
    // `output:NAME` names an output of this manifest (judged by
    // `manifest::validate`), not an image reference.
    let own_output = |b: &crate::manifest::ours::Base| {
        b.image
            .starts_with(crate::manifest::validate::BASE_OUTPUT_PREFIX)
    };
    if let Some(b) = m.base.as_ref().filter(|b| !own_output(b)) {
        reference(
            doc,
            vec!["base".into(), "image".into()],
            "base image",
            &b.image,
            out,
        );
    }
    for (i, k) in m.containers.iter().enumerate() {
        let path = vec!["containers".into(), i.into(), "source".into()];
        reference(doc, path, "container source", &k.source, out);
    }
}
