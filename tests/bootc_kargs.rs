//! The manifest's kernel arguments reach a bootc image: a fixture image
//! composed with `[boot] cmdline` and `customizations.kernel.append`
//! carries them, in that order, as `/usr/lib/bootc/kargs.d/*.toml` in its
//! layers (read back from the OCI archive, no registry involved); an image
//! derived from it adds its own file beside the base's, which stays.

mod common;

use common::cli::{s, text, Env};
use std::path::Path;

const COMPOSE: &str = r#"name = "kargs-base"
distro = "fixture"
architectures = ["x86_64"]

[boot]
cmdline = "quiet"

[customizations.kernel]
append = "audit=0 mitigations=auto"

[[output]]
type = "bootc"
"#;

/// Unpacks the OCI archive `archive` into `dir` and returns every layer's
/// path → bytes, later layers winning (our images have no whiteouts over
/// kargs.d).
fn image_files(archive: &Path, dir: &Path, wanted: &str) -> Vec<(String, Vec<u8>)> {
    let f = std::fs::File::open(archive).unwrap();
    tar::Archive::new(f).unpack(dir).unwrap();
    common::oci::layer_files(dir, |p| p.starts_with(wanted))
}

fn kargs_of(text: &[u8]) -> Vec<String> {
    let v: toml::Value = toml::from_str(std::str::from_utf8(text).unwrap()).unwrap();
    v["kargs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn composed_and_derived_images_carry_the_manifests_kargs() {
    let env = Env::new();
    let out = env.path("out");
    let m = env.manifest("base.toml", COMPOSE);
    let o = env.run(&["build", "-o", s(&out), s(&m)]);
    assert!(o.status.success(), "{}", text(&o));
    let archive = out.join("kargs-base.oci.tar");
    let files = image_files(&archive, &env.path("x1"), "usr/lib/bootc/kargs.d/");
    let names: Vec<&str> = files.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(
        names,
        ["usr/lib/bootc/kargs.d/10-image-builder.toml"],
        "only the manifest's arguments, none of the distro's disk defaults"
    );
    assert_eq!(
        kargs_of(&files[0].1),
        ["quiet", "audit=0", "mitigations=auto"]
    );

    // Derived from that archive, with an argument of its own.
    let derived = format!(
        r#"name = "kargs-derived"
distro = "fixture"
architectures = ["x86_64"]

[base]
image = "oci-archive:{}"

[customizations.kernel]
append = "console=ttyS0"

[[output]]
type = "bootc"
"#,
        archive.display()
    );
    let dm = env.manifest("derived.toml", &derived);
    let dout = env.path("dout");
    let o = env.run(&["build", "-o", s(&dout), s(&dm)]);
    assert!(o.status.success(), "{}", text(&o));
    let files = image_files(
        &dout.join("kargs-derived.oci.tar"),
        &env.path("x2"),
        "usr/lib/bootc/kargs.d/",
    );
    let got: Vec<(&str, Vec<String>)> = files
        .iter()
        .map(|(p, b)| (p.as_str(), kargs_of(b)))
        .collect();
    assert_eq!(
        got,
        [
            (
                "usr/lib/bootc/kargs.d/10-image-builder.toml",
                vec!["quiet".into(), "audit=0".into(), "mitigations=auto".into()]
            ),
            (
                "usr/lib/bootc/kargs.d/20-image-builder-kargs-derived.toml",
                vec!["console=ttyS0".to_string()]
            ),
        ]
    );
}
