//! Disks from a bootc image, planned offline: `[base] image` with a disk
//! output plans an OSTree deployment of the image (no packages of its
//! own, the base digest pinned by the lock, the origin bootc writes), and
//! `output:NAME` makes the disk depend on the bootc output of the same
//! manifest; `[base]` with packages plans them onto the base, or deploys
//! the bootc output deriving from it. The refusals live in
//! `tests/malformed/base-*.toml`.

use serde_json::Value;
use std::process::Command;

fn plan_json(manifest: &str) -> Value {
    let o = Command::new(env!("CARGO_BIN_EXE_image-builder"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["--json", "plan", manifest])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn almalinux_bootc_image_to_qcow2_plans_offline() {
    let p = plan_json("manifests/almalinux-10/bootc-qcow2.toml");
    assert_eq!(p["base_image"], "quay.io/almalinuxorg/almalinux-bootc:10");
    let o = &p["arches"][0]["outputs"][0];
    assert_eq!(o["type"], "qcow2");
    assert_eq!(o["tree"]["source"]["from"], "base-image", "{o}");
    assert_eq!(
        o["tree"]["source"]["reference"],
        "quay.io/almalinuxorg/almalinux-bootc:10"
    );
    assert_eq!(o["packages"]["chain"], serde_json::json!([]), "{o}");
    assert_eq!(
        o["deploy"]["origin"],
        "ostree-unverified-registry:quay.io/almalinuxorg/almalinux-bootc:10"
    );
    assert_eq!(o["deploy"]["stateroot"], "default");
    // customizations.disk and the distro's layout still apply.
    assert_eq!(o["disk"]["partitions"].as_array().unwrap().len(), 4, "{o}");
    let kargs: Vec<&str> = o["boot"]["cmdline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(kargs.contains(&"console=ttyS0"), "{kargs:?}");
}

#[test]
fn own_bootc_output_becomes_a_dependency() {
    let p = plan_json("manifests/fixture/bootc-qcow2.toml");
    let outs = p["arches"][0]["outputs"].as_array().unwrap();
    let image = outs.iter().find(|o| o["name"] == "image").unwrap();
    let disk = outs.iter().find(|o| o["type"] == "qcow2").unwrap();
    assert_eq!(image["tree"]["source"]["from"], "packages");
    assert_eq!(disk["tree"]["source"]["from"], "output");
    assert_eq!(disk["tree"]["source"]["name"], "image");
    assert_eq!(disk["depends_on"], serde_json::json!(["image"]));
    assert_eq!(
        disk["deploy"]["origin"],
        "ostree-unverified-registry:127.0.0.1:5000/fixture/bootc-disk:latest"
    );
}

/// `[base]` + `[[packages]]` → a disk: the packages are resolved against
/// the base (the chain has the manifest's set, none of the distro's), the
/// tree comes from the base image, and the plan warns that the origin
/// names the base. With a bootc output from the same base, the disk
/// deploys that output instead: no packages of its own, no warning.
#[test]
fn derived_disk_plans_additions_or_deploys_the_derived_image() {
    let dir = tempfile::tempdir().unwrap();
    let body = "distro = \"almalinux-10\"\narchitecture = \"x86_64\"\n[base]\nimage = \"quay.io/almalinuxorg/almalinux-bootc:10\"\n[[packages]]\nname = \"nginx\"\n[[output]]\ntype = \"qcow2\"\n";
    let m = dir.path().join("d.toml");
    std::fs::write(&m, body).unwrap();
    let p = plan_json(m.to_str().unwrap());
    let o = &p["arches"][0]["outputs"][0];
    assert_eq!(o["tree"]["source"]["from"], "base-image", "{o}");
    let chain = o["packages"]["chain"].as_array().unwrap();
    let names: Vec<&str> = chain.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert!(!names.contains(&"base"), "{names:?}");
    let manifest = chain.iter().find(|s| s["name"] == "manifest").unwrap();
    assert_eq!(manifest["include"], serde_json::json!(["nginx"]));
    let w = p["warnings"][0]["message"].as_str().unwrap();
    assert!(w.contains("`bootc upgrade`"), "{w}");
    assert_eq!(p["warnings"][0]["line"], 8);

    let with_image = format!(
        "{body}[[output]]\ntype = \"bootc\"\nname = \"image\"\n[output.oci]\nreference = \"quay.io/me/web:1\"\n"
    );
    std::fs::write(&m, with_image).unwrap();
    let p = plan_json(m.to_str().unwrap());
    let outs = p["arches"][0]["outputs"].as_array().unwrap();
    let disk = outs.iter().find(|o| o["type"] == "qcow2").unwrap();
    let image = outs.iter().find(|o| o["name"] == "image").unwrap();
    assert_eq!(image["tree"]["source"]["from"], "base-image", "{image}");
    assert_eq!(disk["tree"]["source"]["from"], "output", "{disk}");
    assert_eq!(disk["depends_on"], serde_json::json!(["image"]));
    assert_eq!(disk["packages"]["chain"], serde_json::json!([]));
    assert_eq!(
        disk["deploy"]["origin"],
        "ostree-unverified-registry:quay.io/me/web:1"
    );
    assert!(p.get("warnings").is_none(), "{p}");
}
