//! SBOMs checked by external validators, not by our own reading of the
//! specs: SPDX with `pyspdxtools` (spdx-tools), CycloneDX with the
//! official 1.6 JSON schema via `tests/sbom/validate_cdx.py`. Both come
//! from the Python venv `scripts/install-deps.sh` creates
//! (`IMAGE_BUILDER_PYVENV`, default /opt/image-builder-py). Inputs are
//! hand-made documents with awkward values and a document filled from the
//! fixture RPMs' real headers (`IMAGE_BUILDER_FIXTURE_ROOT`). A test
//! also proves the validators reject broken files, so a pass means
//! something.

use std::path::{Path, PathBuf};
use std::process::Command;

use alma_image_builder::artifact::sbom::{self, Document, Package};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn pyvenv() -> PathBuf {
    std::env::var_os("IMAGE_BUILDER_PYVENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/image-builder-py"))
}

fn fixture_root() -> PathBuf {
    std::env::var_os("IMAGE_BUILDER_FIXTURE_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/build"))
}

/// Runs a validator; returns (success, stdout+stderr).
fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (is the python venv installed?)"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn validate_spdx(path: &Path) -> (bool, String) {
    run(Command::new(pyvenv().join("bin/pyspdxtools"))
        .arg("-i")
        .arg(path))
}

fn validate_cdx(path: &Path) -> (bool, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sbom/validate_cdx.py");
    run(Command::new(pyvenv().join("bin/python"))
        .arg(script)
        .arg(path))
}

fn assert_valid(paths: &[PathBuf; 2]) {
    let (ok, out) = validate_spdx(&paths[0]);
    assert!(ok, "pyspdxtools rejected {}:\n{out}", paths[0].display());
    let (ok, out) = validate_cdx(&paths[1]);
    assert!(
        ok,
        "validate_cdx.py rejected {}:\n{out}",
        paths[1].display()
    );
}

fn read_json(path: &Path) -> Value {
    let bytes = std::fs::read(path).expect("read sbom");
    assert_eq!(bytes.last(), Some(&b'\n'), "trailing newline");
    serde_json::from_slice(&bytes).expect("sbom is json")
}

/// A package from `evr` written the rpm way: `[EPOCH:]VERSION-RELEASE`.
fn pkg(
    name: &str,
    evr: &str,
    arch: &str,
    license: &str,
    src: Option<&str>,
    summary: &str,
) -> Package {
    let (epoch, vr) = match evr.split_once(':') {
        Some((e, vr)) => (e.parse().unwrap(), vr),
        None => (0, evr),
    };
    let (version, release) = vr.rsplit_once('-').unwrap();
    Package {
        name: name.into(),
        epoch,
        version: version.into(),
        release: release.into(),
        arch: arch.into(),
        license: license.into(),
        source_rpm: src.map(Into::into),
        sha256: hex::encode(Sha256::digest(name.as_bytes())),
        repo: "baseos".into(),
        download_url: Some(format!(
            "https://repo.almalinux.org/almalinux/9/BaseOS/x86_64/os/Packages/{name}.rpm"
        )),
        summary: summary.into(),
        vendor: Some("AlmaLinux".into()),
        url: Some("https://example.org/project".into()),
    }
}

/// Real EL9 tags: legacy names, `with exceptions`, Public Domain, GFDL.
const GLIBC_LICENSE: &str = concat!(
    "LGPLv2+ and LGPLv2+ with exceptions and GPLv2+ and GPLv2+ with exceptions ",
    "and BSD and Inner-Net and ISC and Public Domain and GFDL"
);
const JAVA_LICENSE: &str = concat!(
    "ASL 1.1 and ASL 2.0 and BSD and BSD with advertising and GPL+ and GPLv2 and ",
    "GPLv2 with exceptions and IJG and LGPLv2+ and MIT and MPLv2.0 and Public Domain ",
    "and W3C and zlib and ISC and FTL and RSA"
);
const GCC_LICENSE: &str =
    "GPLv3+ and GPLv3+ with exceptions and GPLv2+ with exceptions and LGPLv2+ and BSD";
/// Non-ASCII, quotes and a control character must survive both writers.
const GLIBC_SUMMARY: &str = "GNU libc — «ünïcødé» ✓ 日本語 \"quoted\"\ttab";
/// An EL10 tag: SPDX already, with a Fedora LicenseRef.
const RUST_LICENSE: &str =
    "(MIT OR Apache-2.0) AND Unicode-DFS-2016 AND LicenseRef-Fedora-Public-Domain";

fn tricky_document() -> Document {
    let mut no_src = pkg(
        "gpg-pubkey",
        "ced7258b-6525146f",
        "(none)",
        "pubkey",
        None,
        "key",
    );
    no_src.vendor = None;
    no_src.url = None;
    no_src.download_url = None;
    Document {
        artifact: "alma 9 disk (test).qcow2".into(),
        distro_id: "almalinux".into(),
        distro_version: "9".into(),
        arch: "x86_64".into(),
        created_epoch: 1_700_000_000,
        packages: vec![
            // Deliberately unsorted, with a duplicate.
            pkg(
                "zlib",
                "1.2.11-40.el9",
                "x86_64",
                "zlib and Boost",
                Some("zlib-1.2.11-40.el9.src.rpm"),
                "Compression library",
            ),
            pkg(
                "openssl-libs",
                "1:3.0.7-27.el9",
                "x86_64",
                "ASL 2.0",
                Some("openssl-3.0.7-27.el9.src.rpm"),
                "TLS library",
            ),
            pkg(
                "libstdc++",
                "11.4.1+git~rc1-2.el9.alma",
                "x86_64",
                GCC_LICENSE,
                Some("gcc-11.4.1-2.el9.src.rpm"),
                "C++ library",
            ),
            pkg(
                "glibc",
                "2:2.34-100.el9_4.2",
                "x86_64",
                GLIBC_LICENSE,
                Some("glibc-2.34-100.el9_4.2.src.rpm"),
                GLIBC_SUMMARY,
            ),
            pkg(
                "bash",
                "5.2.26-4.el10",
                "x86_64",
                "GPL-3.0-or-later",
                Some("bash-5.2.26-4.el10.src.rpm"),
                "Shell",
            ),
            pkg(
                "rust-std",
                "1.79.0-1.el10",
                "x86_64",
                RUST_LICENSE,
                Some("rust-1.79.0-1.el10.src.rpm"),
                "Rust std",
            ),
            pkg(
                "java-21-openjdk",
                "1:21.0.4.0.7-1.el10",
                "x86_64",
                JAVA_LICENSE,
                None,
                "OpenJDK 21 runtime",
            ),
            pkg(
                "weird",
                "1.0-1",
                "noarch",
                "Debian (see /usr/share/doc)",
                None,
                "",
            ),
            pkg(
                "empty-license",
                "1.0-1",
                "noarch",
                "",
                None,
                "No license tag",
            ),
            pkg(
                "bash",
                "5.2.26-4.el10",
                "x86_64",
                "GPL-3.0-or-later",
                Some("bash-5.2.26-4.el10.src.rpm"),
                "Shell",
            ),
            no_src,
        ],
    }
}

fn find_package<'a>(spdx: &'a Value, name: &str) -> &'a Value {
    spdx["packages"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("no spdx package {name}"))
}

fn find_component<'a>(cdx: &'a Value, name: &str) -> &'a Value {
    cdx["components"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no cdx component {name}"))
}

#[test]
fn hand_made_document_validates_and_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let doc = tricky_document();
    let artifact = dir.path().join(&doc.artifact);
    let paths = sbom::write_beside(&artifact, &doc).unwrap();
    assert_eq!(
        paths[0],
        dir.path().join("alma 9 disk (test).qcow2.spdx.json")
    );
    assert_eq!(
        paths[1],
        dir.path().join("alma 9 disk (test).qcow2.cdx.json")
    );
    assert_valid(&paths);

    // Same input (even reordered) → same bytes.
    let first = [
        std::fs::read(&paths[0]).unwrap(),
        std::fs::read(&paths[1]).unwrap(),
    ];
    let mut again = doc.clone();
    again.packages.reverse();
    sbom::write_beside(&artifact, &again).unwrap();
    assert_eq!(first[0], std::fs::read(&paths[0]).unwrap());
    assert_eq!(first[1], std::fs::read(&paths[1]).unwrap());
    // No temp files left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);

    let spdx = read_json(&paths[0]);
    let cdx = read_json(&paths[1]);
    // 10 distinct packages + the artifact.
    assert_eq!(spdx["packages"].as_array().unwrap().len(), 11);
    assert_eq!(cdx["components"].as_array().unwrap().len(), 10);
    assert_eq!(spdx["creationInfo"]["created"], "2023-11-14T22:13:20Z");
    assert_eq!(cdx["metadata"]["timestamp"], "2023-11-14T22:13:20Z");
    assert_eq!(cdx["metadata"]["component"]["type"], "operating-system");

    let libstdcxx = find_package(&spdx, "libstdc++");
    let purl = concat!(
        "pkg:rpm/almalinux/libstdc%2B%2B@11.4.1%2Bgit~rc1-2.el9.alma",
        "?arch=x86_64&distro=almalinux-9"
    );
    assert_eq!(libstdcxx["externalRefs"][0]["referenceLocator"], purl);
    assert_eq!(find_component(&cdx, "libstdc++")["bom-ref"], purl);

    let glibc = find_package(&spdx, "glibc");
    assert_eq!(glibc["versionInfo"], "2:2.34-100.el9_4.2");
    assert_eq!(glibc["summary"], GLIBC_SUMMARY);
    assert_eq!(glibc["supplier"], "Organization: AlmaLinux");
    assert_eq!(
        glibc["externalRefs"][0]["referenceLocator"],
        "pkg:rpm/almalinux/glibc@2.34-100.el9_4.2?arch=x86_64&distro=almalinux-9&epoch=2"
    );

    let ssl = find_package(&spdx, "openssl-libs");
    assert_eq!(ssl["licenseDeclared"], "Apache-2.0");
    assert_eq!(ssl["checksums"][0]["algorithm"], "SHA256");
    assert_eq!(
        find_component(&cdx, "openssl-libs")["licenses"][0]["expression"],
        "Apache-2.0"
    );

    let bash = find_package(&spdx, "bash");
    assert_eq!(bash["licenseDeclared"], "GPL-3.0-or-later");
    assert!(bash.get("licenseComments").is_none());

    // Free text → one LicenseRef holding the original text; CycloneDX name.
    let weird = find_package(&spdx, "weird");
    let id = weird["licenseDeclared"].as_str().unwrap();
    assert!(
        id.starts_with("LicenseRef-Debian-see-usr-share-doc-"),
        "{id}"
    );
    let infos = spdx["hasExtractedLicensingInfos"].as_array().unwrap();
    let info = infos.iter().find(|i| i["licenseId"] == id).unwrap();
    assert_eq!(info["extractedText"], "Debian (see /usr/share/doc)");
    assert_eq!(
        find_component(&cdx, "weird")["licenses"][0]["license"]["name"],
        "Debian (see /usr/share/doc)"
    );

    let src = find_component(&cdx, "zlib")["properties"]
        .as_array()
        .unwrap()
        .clone();
    assert!(src
        .iter()
        .any(|p| p["value"] == "zlib-1.2.11-40.el9.src.rpm"));
    assert!(src.iter().any(|p| p["value"] == "baseos"));
    let key = find_package(&spdx, "gpg-pubkey");
    assert!(key.get("sourceInfo").is_none());
    assert_eq!(key["downloadLocation"], "NOASSERTION");
    assert_eq!(key["supplier"], "NOASSERTION");
    assert_eq!(
        find_package(&spdx, "empty-license")["licenseDeclared"],
        "NOASSERTION"
    );
    let ns = spdx["documentNamespace"].as_str().unwrap();
    assert!(
        ns.starts_with("https://almalinux.org/spdx/alma-image-builder/alma-9-disk-test-.qcow2-"),
        "{ns}"
    );
}

/// One Package per fixture RPM, from `rpm -qp --qf` over its header.
fn packages_from_rpms(dir: &Path) -> Vec<Package> {
    let mut rpms: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| {
            panic!(
                "no fixture repo at {} ({e}); set IMAGE_BUILDER_FIXTURE_ROOT",
                dir.display()
            )
        })
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rpm"))
        .collect();
    rpms.sort();
    assert!(!rpms.is_empty(), "no rpms in {}", dir.display());
    let fields = [
        "NAME",
        "EPOCHNUM",
        "VERSION",
        "RELEASE",
        "ARCH",
        "LICENSE",
        "SOURCERPM",
        "SUMMARY",
        "VENDOR",
        "URL",
    ];
    let qf: String = fields.iter().map(|f| format!("%{{{f}}}\\n")).collect();
    rpms.iter()
        .map(|rpm| {
            let out = Command::new("rpm")
                .args(["-qp", "--nosignature", "--nodigest", "--qf", &qf])
                .arg(rpm)
                .output()
                .expect("run rpm");
            assert!(
                out.status.success(),
                "rpm -qp {}: {}",
                rpm.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8(out.stdout).expect("utf-8 header");
            let v: Vec<&str> = text.split('\n').collect();
            assert!(
                v.len() > fields.len(),
                "short rpm output for {}",
                rpm.display()
            );
            let opt = |s: &str| (s != "(none)" && !s.is_empty()).then(|| s.to_string());
            let file = rpm.file_name().unwrap().to_string_lossy().into_owned();
            Package {
                name: v[0].into(),
                epoch: v[1].parse().expect("epoch"),
                version: v[2].into(),
                release: v[3].into(),
                arch: v[4].into(),
                license: v[5].into(),
                source_rpm: opt(v[6]),
                summary: v[7].into(),
                vendor: opt(v[8]),
                url: opt(v[9]),
                sha256: hex::encode(Sha256::digest(std::fs::read(rpm).unwrap())),
                repo: "main".into(),
                download_url: Some(format!(
                    "https://mirror.example.org/repos/main/x86_64/{file}"
                )),
            }
        })
        .collect()
}

#[test]
fn fixture_rpm_headers_validate() {
    let packages = packages_from_rpms(&fixture_root().join("repos/main/x86_64"));
    let count = packages.len();
    let doc = Document {
        artifact: "fixture.raw".into(),
        distro_id: "almalinux".into(),
        distro_version: "9".into(),
        arch: "x86_64".into(),
        created_epoch: 0,
        packages,
    };
    let dir = tempfile::tempdir().unwrap();
    let paths = sbom::write_beside(&dir.path().join("fixture.raw"), &doc).unwrap();
    assert_valid(&paths);
    let spdx = read_json(&paths[0]);
    let cdx = read_json(&paths[1]);
    assert_eq!(spdx["packages"].as_array().unwrap().len(), count + 1);
    assert_eq!(spdx["relationships"].as_array().unwrap().len(), count + 1);
    assert_eq!(cdx["components"].as_array().unwrap().len(), count);
    assert_eq!(
        cdx["dependencies"][0]["dependsOn"]
            .as_array()
            .unwrap()
            .len(),
        count
    );
}

/// Breaks one field of a valid SBOM and expects the validator to say so.
fn assert_rejected(
    path: &Path,
    mut value: Value,
    break_it: impl FnOnce(&mut Value),
    validate: fn(&Path) -> (bool, String),
) {
    break_it(&mut value);
    std::fs::write(path, serde_json::to_vec_pretty(&value).unwrap()).unwrap();
    let (ok, out) = validate(path);
    assert!(
        !ok,
        "validator accepted a broken file {}:\n{out}",
        path.display()
    );
}

#[test]
fn validators_reject_broken_documents() {
    let dir = tempfile::tempdir().unwrap();
    let paths = sbom::write_beside(&dir.path().join("x.img"), &tricky_document()).unwrap();
    assert_valid(&paths);
    let spdx = read_json(&paths[0]);
    let cdx = read_json(&paths[1]);
    let bad = dir.path().join("bad.cdx.json");
    assert_rejected(
        &bad,
        cdx.clone(),
        |v| v["components"][0]["type"] = "rpm".into(),
        validate_cdx,
    );
    assert_rejected(
        &bad,
        cdx.clone(),
        |v| v["components"][0]["hashes"][0]["alg"] = "SHA256".into(),
        validate_cdx,
    );
    assert_rejected(
        &bad,
        cdx.clone(),
        |v| v["unexpected"] = 1.into(),
        validate_cdx,
    );
    assert_rejected(
        &bad,
        cdx.clone(),
        |v| v["serialNumber"] = "not-a-uuid".into(),
        validate_cdx,
    );
    assert_rejected(
        &bad,
        cdx,
        |v| v["components"][0]["licenses"] = serde_json::json!([{ "license": { "id": "GPLv2+" } }]),
        validate_cdx,
    );
    let bad = dir.path().join("bad.spdx.json");
    assert_rejected(
        &bad,
        spdx.clone(),
        |v| v["packages"][1]["licenseDeclared"] = "GPLv2+ and Foo".into(),
        validate_spdx,
    );
    assert_rejected(
        &bad,
        spdx.clone(),
        |v| v["packages"][1]["SPDXID"] = "SPDXRef-has space".into(),
        validate_spdx,
    );
    assert_rejected(
        &bad,
        spdx,
        |v| v["spdxVersion"] = "SPDX-9.9".into(),
        validate_spdx,
    );
}
