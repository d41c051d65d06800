//! Pushing and pulling OCI images against a real registry (Debian's
//! docker-registry, distribution 2.8, on 127.0.0.1), read back with skopeo.
//!
//! The layouts are made here, small and by hand from the image-layout
//! spec: a couple of gzip'd tar layers, a config, a manifest, and an index
//! of two manifests for the multi-arch cases.

mod common;

use alma_image_builder::error::InputError;
use alma_image_builder::oci::reference::{self, Reference};
use alma_image_builder::oci::registry::{self, Options};
use alma_image_builder::tools;
use common::registry::{skopeo, Registry};
use serde_json::{json, Value};
use sha2::Digest;
use std::io::Write;
use std::path::{Path, PathBuf};

fn plain() -> Options {
    Options {
        tls_verify: false,
        authfile: None,
    }
}

/// A gzip'd tar holding one file.
fn layer(name: &str, content: &str) -> Vec<u8> {
    let mut t = tar::Builder::new(vec![]);
    let mut h = tar::Header::new_ustar();
    h.set_size(content.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_cksum();
    t.append_data(&mut h, name, content.as_bytes()).unwrap();
    let tar = t.into_inner().unwrap();
    let mut gz = flate2::GzBuilder::new().write(vec![], flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap()
}

fn digest(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(b)))
}

/// An OCI layout being assembled in a directory.
struct Lay {
    dir: PathBuf,
}

impl Lay {
    fn new(dir: &Path) -> Lay {
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        Lay {
            dir: dir.to_path_buf(),
        }
    }

    fn blob(&self, mt: &str, b: &[u8]) -> Value {
        let d = digest(b);
        std::fs::write(self.blob_path(&d), b).unwrap();
        json!({"mediaType": mt, "digest": d, "size": b.len()})
    }

    fn blob_path(&self, d: &str) -> PathBuf {
        self.dir
            .join("blobs/sha256")
            .join(d.trim_start_matches("sha256:"))
    }

    /// A manifest with this config and these layers; its descriptor.
    fn image(&self, arch: &str, config: Option<Value>, layers: &[Vec<u8>]) -> Value {
        let config = config.unwrap_or_else(|| self.config(arch, layers));
        let layers: Vec<Value> = layers
            .iter()
            .map(|l| self.blob("application/vnd.oci.image.layer.v1.tar+gzip", l))
            .collect();
        let m = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config,
            "layers": layers,
        });
        let mut d = self.blob(
            "application/vnd.oci.image.manifest.v1+json",
            &serde_json::to_vec(&m).unwrap(),
        );
        d["platform"] = json!({"architecture": arch, "os": "linux"});
        d
    }

    fn config(&self, arch: &str, layers: &[Vec<u8>]) -> Value {
        let diff_ids: Vec<String> = layers
            .iter()
            .map(|l| {
                let mut raw = vec![];
                std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&l[..]), &mut raw)
                    .unwrap();
                digest(&raw)
            })
            .collect();
        let c = json!({
            "architecture": arch, "os": "linux",
            "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        });
        self.blob(
            "application/vnd.oci.image.config.v1+json",
            &serde_json::to_vec(&c).unwrap(),
        )
    }

    /// An index over manifest descriptors; its descriptor.
    fn index(&self, manifests: &[Value]) -> Value {
        let i = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests,
        });
        self.blob(
            "application/vnd.oci.image.index.v1+json",
            &serde_json::to_vec(&i).unwrap(),
        )
    }

    /// Writes index.json with `tagged` (tag, descriptor) entries.
    fn tag(&self, tagged: &[(&str, &Value)]) {
        let ms: Vec<Value> = tagged
            .iter()
            .map(|(t, d)| {
                let mut d = (*d).clone();
                d["annotations"] = json!({"org.opencontainers.image.ref.name": t});
                d
            })
            .collect();
        std::fs::write(
            self.dir.join("index.json"),
            serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": ms})).unwrap(),
        )
        .unwrap();
    }
}

fn dig(d: &Value) -> String {
    d["digest"].as_str().unwrap().to_string()
}

/// A one-arch image tagged `v1` in `dir`: (manifest descriptor, layers).
fn simple(dir: &Path) -> (Value, Vec<Vec<u8>>) {
    let l = Lay::new(dir);
    let layers = vec![
        layer("etc/os-release", "ID=test\n"),
        layer("usr/bin/app", "#!/bin/sh\n"),
    ];
    let m = l.image("amd64", None, &layers);
    l.tag(&[("v1", &m)]);
    (m, layers)
}

/// `image-builder ARGS` through src/tools: (exit code, stdout, stderr or
/// the error text holding it).
fn cli(args: &[&str], env: &[(&str, String)]) -> (i32, String, String) {
    match tools::run_with_env(env!("CARGO_BIN_EXE_image-builder"), args, env) {
        Ok(o) => (
            0,
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        ),
        Err(e) => {
            let m = format!("{e:#}");
            let code = m
                .split("exited with ")
                .nth(1)
                .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|c| c.parse().ok())
                .unwrap_or(-1);
            (code, String::new(), m)
        }
    }
}

fn inspect(reg: &Registry, r: &str) -> Value {
    serde_json::from_str(&skopeo(&[
        "inspect",
        "--tls-verify=false",
        &reg.docker_ref(r),
    ]))
    .unwrap()
}

#[test]
fn push_repush_and_one_new_layer() {
    let reg = Registry::start();
    let t = tempfile::tempdir().unwrap();
    let (m, layers) = simple(&t.path().join("a"));
    let dest = reference::parse(&reg.docker_ref("app:v1")).unwrap();

    let r = registry::push(&t.path().join("a"), "v1", &dest, &plain()).unwrap();
    assert_eq!(r.digest, dig(&m));
    assert_eq!(
        (r.blobs_uploaded, r.blobs_skipped, r.manifests_pushed),
        (3, 0, 1)
    );
    let v = inspect(&reg, "app:v1");
    assert_eq!(v["Digest"], json!(dig(&m)), "{v}");
    let want: Vec<String> = layers.iter().map(|l| digest(l)).collect();
    assert_eq!(v["Layers"], json!(want));
    assert_eq!(v["Architecture"], "amd64");

    // Unchanged: nothing uploaded, same digest.
    let r2 = registry::push(&t.path().join("a"), "v1", &dest, &plain()).unwrap();
    assert_eq!(
        (r2.blobs_uploaded, r2.blobs_skipped, r2.bytes_uploaded),
        (0, 3, 0)
    );
    assert_eq!(r2.digest, r.digest);

    // Same config and first layer, a new second layer: one blob goes up.
    let b = Lay::new(&t.path().join("b"));
    let cfg: Value = serde_json::from_slice(
        &std::fs::read(
            t.path()
                .join("a/blobs/sha256")
                .join(dig(&m).trim_start_matches("sha256:")),
        )
        .unwrap(),
    )
    .unwrap();
    let config = cfg["config"].clone();
    std::fs::copy(
        Lay {
            dir: t.path().join("a"),
        }
        .blob_path(&dig(&config)),
        b.blob_path(&dig(&config)),
    )
    .unwrap();
    let new = layer("usr/bin/app", "#!/bin/sh\necho v2\n");
    let m2 = b.image("amd64", Some(config), &[layers[0].clone(), new.clone()]);
    b.tag(&[("v2", &m2)]);
    let dest2 = reference::parse(&reg.docker_ref("app:v2")).unwrap();
    let r3 = registry::push(&b.dir, "v2", &dest2, &plain()).unwrap();
    assert_eq!((r3.blobs_uploaded, r3.blobs_skipped), (1, 2));
    assert_eq!(r3.bytes_uploaded, new.len() as u64);
    assert_eq!(inspect(&reg, "app:v2")["Layers"][1], json!(digest(&new)));
}

#[test]
fn multi_arch_index_through_the_cli_and_pull_back() {
    let reg = Registry::start();
    let t = tempfile::tempdir().unwrap();
    let l = Lay::new(&t.path().join("lay"));
    let amd = l.image(
        "amd64",
        None,
        &[layer("arch", "amd64\n"), layer("common", "x\n")],
    );
    let arm = l.image(
        "arm64",
        None,
        &[layer("arch", "arm64\n"), layer("common", "x\n")],
    );
    let idx = l.index(&[amd.clone(), arm.clone()]);
    l.tag(&[("latest", &idx)]);

    let dest = reg.docker_ref("multi:1");
    let lay = l.dir.to_str().unwrap();
    let (code, out, err) = cli(
        &["--json", "publish", lay, &dest, "--tls-verify=false"],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["digest"], json!(dig(&idx)));
    // 2 configs + 2 arch layers + 1 shared layer.
    assert_eq!(
        (j["blobs_uploaded"].as_u64(), j["blobs_skipped"].as_u64()),
        (Some(5), Some(0))
    );

    let raw = skopeo(&["inspect", "--raw", "--tls-verify=false", &dest]);
    assert_eq!(digest(raw.as_bytes()), dig(&idx), "index bytes preserved");
    let v: Value = serde_json::from_str(&raw).unwrap();
    let arches: Vec<&str> = v["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(arches, ["amd64", "arm64"]);
    for (arch, m) in [("amd64", &amd), ("arm64", &arm)] {
        let out = t.path().join(format!("copy-{arch}"));
        skopeo(&[
            "copy",
            "--src-tls-verify=false",
            "--override-arch",
            arch,
            &dest,
            &format!("oci:{}:x", out.display()),
        ]);
        let i: Value =
            serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
        assert_eq!(i["manifests"][0]["digest"], json!(dig(m)), "{arch}");
    }

    // Second publish: all present; text output names the counts.
    let (code, out, err) = cli(&["publish", lay, &dest, "--tls-verify=false"], &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), dig(&idx));
    assert!(
        err.contains("0 blobs uploaded") && err.contains("5 already present"),
        "{err}"
    );

    // Pull back into a fresh layout: same digests, same bytes.
    let back = t.path().join("back");
    let got = registry::pull(&reference::parse(&dest).unwrap(), &back, "b", &plain()).unwrap();
    assert_eq!(got, dig(&idx));
    let mut n = 0;
    for e in std::fs::read_dir(l.dir.join("blobs/sha256")).unwrap() {
        let e = e.unwrap();
        let there = back.join("blobs/sha256").join(e.file_name());
        assert_eq!(
            std::fs::read(e.path()).unwrap(),
            std::fs::read(&there).unwrap()
        );
        n += 1;
    }
    assert_eq!(n, 8, "2 manifests, 2 configs, 3 layers, 1 index");
    let v = skopeo(&["inspect", "--raw", &format!("oci:{}:b", back.display())]);
    assert_eq!(digest(v.as_bytes()), dig(&idx));
}

#[test]
fn oci_dir_and_archive_destinations() {
    let t = tempfile::tempdir().unwrap();
    let (m, _) = simple(&t.path().join("a"));
    let src = t.path().join("a");
    let o = Options::default();

    let dir = t.path().join("out-dir");
    let r = registry::push(
        &src,
        "v1",
        &reference::parse(&format!("oci:{}:one", dir.display())).unwrap(),
        &o,
    )
    .unwrap();
    assert_eq!(r.blobs_uploaded, 3);
    let again = registry::push(
        &src,
        "v1",
        &reference::parse(&format!("oci:{}:two", dir.display())).unwrap(),
        &o,
    )
    .unwrap();
    assert_eq!((again.blobs_uploaded, again.blobs_skipped), (0, 3));
    for tag in ["one", "two"] {
        let v: Value = serde_json::from_str(&skopeo(&[
            "inspect",
            &format!("oci:{}:{tag}", dir.display()),
        ]))
        .unwrap();
        assert_eq!(v["Digest"], json!(dig(&m)));
    }

    let a1 = t.path().join("a1.tar");
    let a2 = t.path().join("a2.tar");
    for a in [&a1, &a2] {
        registry::push(
            &src,
            "v1",
            &reference::parse(&format!("oci-archive:{}:img", a.display())).unwrap(),
            &o,
        )
        .unwrap();
    }
    assert_eq!(
        std::fs::read(&a1).unwrap(),
        std::fs::read(&a2).unwrap(),
        "archives are deterministic"
    );
    let v: Value = serde_json::from_str(&skopeo(&[
        "inspect",
        &format!("oci-archive:{}:img", a1.display()),
    ]))
    .unwrap();
    assert_eq!(v["Digest"], json!(dig(&m)));
    let leftovers: Vec<_> = std::fs::read_dir(t.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "work dirs left behind: {leftovers:?}");

    // fetch_manifest reads the previous image from all three kinds.
    let (d, mt, _) = registry::fetch_manifest(
        &reference::parse(&format!("oci-archive:{}:img", a1.display())).unwrap(),
        &o,
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        (d.as_str(), mt.as_str()),
        (
            dig(&m).as_str(),
            "application/vnd.oci.image.manifest.v1+json"
        )
    );
    assert!(registry::fetch_manifest(
        &reference::parse(&format!("oci:{}:nope", dir.display())).unwrap(),
        &o
    )
    .unwrap()
    .is_none());

    // Pull from an archive into a layout; publish an archive via the CLI.
    let pulled = t.path().join("pulled");
    let got = registry::pull(
        &reference::parse(&format!("oci-archive:{}", a1.display())).unwrap(),
        &pulled,
        "p",
        &o,
    )
    .unwrap();
    assert_eq!(got, dig(&m));
    let out_dir = t.path().join("from-cli");
    let (code, out, err) = cli(
        &[
            "publish",
            a1.to_str().unwrap(),
            &format!("oci:{}:c", out_dir.display()),
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), dig(&m));
}

#[test]
fn registry_with_auth() {
    let reg = Registry::start_with_auth("builder", "s3cret-pw");
    let t = tempfile::tempdir().unwrap();
    let (m, _) = simple(&t.path().join("a"));
    let dest = reference::parse(&reg.docker_ref("private/app:v1")).unwrap();
    let authfile = reg.auth_file("builder", "s3cret-pw");
    let o = Options {
        tls_verify: false,
        authfile: Some(authfile.clone()),
    };
    let r = registry::push(&t.path().join("a"), "v1", &dest, &o).unwrap();
    assert_eq!(r.blobs_uploaded, 3);
    let v: Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--creds",
        "builder:s3cret-pw",
        &reg.docker_ref("private/app:v1"),
    ]))
    .unwrap();
    assert_eq!(v["Digest"], json!(dig(&m)));
    let fetched = registry::fetch_manifest(&dest, &o).unwrap().unwrap();
    assert_eq!(fetched.0, dig(&m));
    assert!(registry::fetch_manifest(&dest.with_tag("missing"), &o)
        .unwrap()
        .is_none());

    // No credentials anywhere: exit 1, naming the registry.
    let home = tempfile::tempdir().unwrap();
    let env = [
        ("HOME", home.path().display().to_string()),
        ("XDG_RUNTIME_DIR", home.path().display().to_string()),
    ];
    let lay = t.path().join("a");
    let (code, _, err) = cli(
        &[
            "publish",
            lay.to_str().unwrap(),
            &reg.docker_ref("private/app:v2"),
            "--tls-verify=false",
        ],
        &env,
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!("registry {} requires authentication", reg.host)),
        "{err}"
    );

    // Wrong password: says whose credentials from which file, not the secret.
    let wrong = reg.auth_file("builder", "wrong-pw");
    let (code, _, err) = cli(
        &[
            "publish",
            lay.to_str().unwrap(),
            &reg.docker_ref("private/app:v2"),
            "--tls-verify=false",
            "--authfile",
            wrong.to_str().unwrap(),
        ],
        &env,
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("rejected the credentials for user `builder`"),
        "{err}"
    );
    assert!(
        err.contains(&wrong.display().to_string()) && err.contains("UNAUTHORIZED"),
        "{err}"
    );
    assert!(!err.contains("wrong-pw"), "{err}");
}

#[test]
fn tls_verify_default_refuses_plain_http() {
    let reg = Registry::start();
    let t = tempfile::tempdir().unwrap();
    simple(&t.path().join("a"));
    let (code, _, err) = cli(
        &[
            "publish",
            t.path().join("a").to_str().unwrap(),
            &reg.docker_ref("app:v1"),
        ],
        &[],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&format!("https://{}/v2/", reg.host)), "{err}");
    assert!(err.contains("--tls-verify=false"), "{err}");
}

#[test]
fn bad_input_is_exit_2() {
    let t = tempfile::tempdir().unwrap();
    simple(&t.path().join("a"));
    let lay = t.path().join("a");
    let lay = lay.to_str().unwrap();
    for (r, why) in [
        ("docker://", "needs HOST/REPOSITORY"),
        ("foo:bar", "unknown transport `foo`"),
        ("oci:", "needs a path"),
    ] {
        let (code, _, err) = cli(&["publish", lay, r], &[]);
        assert_eq!(code, 2, "{r}: {err}");
        assert!(
            err.contains(why) && err.contains(&format!("`{r}`")),
            "{r}: {err}"
        );
    }
    // Not a layout; a layout with two tags.
    let (code, _, err) = cli(&["publish", t.path().to_str().unwrap(), "oci:/tmp/x"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is not an OCI layout"), "{err}");
    let l = Lay {
        dir: t.path().join("a"),
    };
    let idx: Value =
        serde_json::from_slice(&std::fs::read(l.dir.join("index.json")).unwrap()).unwrap();
    let m = idx["manifests"][0].clone();
    l.tag(&[("v1", &m), ("v2", &m)]);
    let (code, _, err) = cli(&["publish", lay, "oci:/tmp/x"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("several tagged images (v1, v2)"), "{err}");
    let e = registry::push(
        &l.dir,
        "v9",
        &reference::parse("oci:/tmp/x").unwrap(),
        &Options::default(),
    )
    .unwrap_err();
    assert!(
        e.downcast_ref::<InputError>().is_some()
            && format!("{e}").contains("no image tagged `v9` (tags: v1, v2)"),
        "{e:#}"
    );
}

#[test]
fn corrupt_blob_is_refused_before_upload() {
    let reg = Registry::start();
    let t = tempfile::tempdir().unwrap();
    let (_, layers) = simple(&t.path().join("a"));
    let l = Lay {
        dir: t.path().join("a"),
    };
    // Same size, different bytes.
    let p = l.blob_path(&digest(&layers[1]));
    let mut b = std::fs::read(&p).unwrap();
    let last = b.len() - 1;
    b[last] ^= 0xff;
    std::fs::write(&p, b).unwrap();
    let e = registry::push(
        &l.dir,
        "v1",
        &reference::parse(&reg.docker_ref("app:v1")).unwrap(),
        &plain(),
    )
    .unwrap_err();
    assert!(e.downcast_ref::<InputError>().is_some(), "{e:#}");
    assert!(
        format!("{e}").contains(&format!(
            "blob {} does not match its digest",
            digest(&layers[1])
        )),
        "{e:#}"
    );
    let repos = reg
        .dir
        .path()
        .join("storage/docker/registry/v2/repositories");
    assert!(!repos.exists(), "something reached the registry");
}

#[test]
fn referrers_fallback_tag_on_distribution_2_8() {
    let reg = Registry::start();
    let t = tempfile::tempdir().unwrap();
    let (m, _) = simple(&t.path().join("a"));
    let l = Lay {
        dir: t.path().join("a"),
    };
    let dest = reference::parse(&reg.docker_ref("app:v1")).unwrap();
    registry::push(&l.dir, "v1", &dest, &plain()).unwrap();

    let subject = json!({"mediaType": m["mediaType"], "digest": m["digest"], "size": m["size"]});
    let artifact = |kind: &str, body: &str| -> String {
        let empty = l.blob("application/vnd.oci.empty.v1+json", b"{}");
        let layer = l.blob(kind, body.as_bytes());
        let a = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": kind,
            "config": empty,
            "layers": [layer],
            "subject": subject,
            "annotations": {"org.opencontainers.image.created": "1970-01-01T00:00:00Z"},
        });
        dig(&l.blob(
            "application/vnd.oci.image.manifest.v1+json",
            &serde_json::to_vec(&a).unwrap(),
        ))
    };
    let sbom = artifact("application/spdx+json", r#"{"spdxVersion":"SPDX-2.3"}"#);
    registry::push_referrer(&l.dir, &sbom, &dest, &plain()).unwrap();
    let tag = format!("app:{}", dig(&m).replace(':', "-"));
    let raw = |reg: &Registry| -> Value {
        serde_json::from_str(&skopeo(&[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &reg.docker_ref(&tag),
        ]))
        .unwrap()
    };
    let v = raw(&reg);
    assert_eq!(v["manifests"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["manifests"][0]["digest"], json!(sbom));
    assert_eq!(v["manifests"][0]["artifactType"], "application/spdx+json");

    let sig = artifact("application/vnd.example.signature", "sig");
    registry::push_referrer(&l.dir, &sig, &dest, &plain()).unwrap();
    registry::push_referrer(&l.dir, &sbom, &dest, &plain()).unwrap();
    let v = raw(&reg);
    let listed: Vec<&str> = v["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [sbom.as_str(), sig.as_str()], "appended once each");
    // The artifact itself is in the registry by digest.
    let a: Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &reg.docker_ref(&format!("app@{sbom}")),
    ]))
    .unwrap();
    assert_eq!(a["subject"]["digest"], json!(dig(&m)));
}

#[test]
fn references_display_canonically() {
    let r = reference::parse("docker://127.0.0.1:5000/a/b").unwrap();
    assert_eq!(r.to_string(), "docker://127.0.0.1:5000/a/b:latest");
    assert!(matches!(r, Reference::Docker { ref tag, .. } if tag.as_deref() == Some("latest")));
}

/// Peak RSS (VmHWM) of this test process, in bytes.
fn peak_rss() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = s
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

#[test]
fn large_layer_is_streamed_both_ways() {
    const SIZE: u64 = 256 << 20;
    let reg = Registry::start();
    let t = tempfile::tempdir().unwrap();
    let l = Lay::new(&t.path().join("big"));
    // A sparse file of zeros: costs no disk here, 256 MiB on the wire.
    let mut h = sha2::Sha256::new();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..(SIZE >> 20) {
        h.update(&zeros);
    }
    let ld = format!("sha256:{}", hex::encode(h.finalize()));
    std::fs::File::create(l.blob_path(&ld))
        .unwrap()
        .set_len(SIZE)
        .unwrap();
    let layer =
        json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": SIZE});
    let config = l.blob(
        "application/vnd.oci.image.config.v1+json",
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#,
    );
    let m = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": config, "layers": [layer]});
    let md = l.blob(
        "application/vnd.oci.image.manifest.v1+json",
        &serde_json::to_vec(&m).unwrap(),
    );
    l.tag(&[("big", &md)]);

    let before = peak_rss();
    let dest = reference::parse(&reg.docker_ref("big:1")).unwrap();
    let r = registry::push(&l.dir, "big", &dest, &plain()).unwrap();
    assert_eq!(r.bytes_uploaded, SIZE + config["size"].as_u64().unwrap());
    let back = t.path().join("back");
    registry::pull(&dest, &back, "b", &plain()).unwrap();
    assert_eq!(
        std::fs::metadata(
            l.blob_path(&ld)
                .strip_prefix(&l.dir)
                .map(|p| back.join(p))
                .unwrap()
        )
        .unwrap()
        .len(),
        SIZE
    );
    let grew = peak_rss().saturating_sub(before);
    eprintln!(
        "peak RSS before {} MiB, grew {} MiB",
        before >> 20,
        grew >> 20
    );
    assert!(
        grew < 96 << 20,
        "peak RSS grew by {} MiB for a 256 MiB layer",
        grew >> 20
    );
}
