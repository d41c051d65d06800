//! OCI images built from small trees with made-up package ownership: the
//! same bytes from the same tree, at most two new layers per added or
//! removed package (with and without the previous plan, one package per
//! layer and binned), exact round trips through extraction (content,
//! modes, owners, mtimes, links, xattrs), the image config, skopeo reading
//! and copying what we write, derived images on an unpacked base, and
//! corrupt blobs refused by digest.

use alma_image_builder::artifact::oci::{
    self, BaseImage, Built, Compression, ImageRequest, PackageFiles,
};
use alma_image_builder::error::InputError;
use alma_image_builder::oci::{image, layout::Layout, walk};
use alma_image_builder::tools;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::io::Read;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

const EPOCH: i64 = 1_700_000_000;

fn put(root: &Path, rel: &str, data: &[u8], mode: u32, owner: (u32, u32)) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, data).unwrap();
    std::os::unix::fs::chown(&p, Some(owner.0), Some(owner.1)).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
}

fn mkdir(root: &Path, rel: &str, mode: u32, owner: (u32, u32)) {
    let p = root.join(rel);
    fs::create_dir_all(&p).unwrap();
    std::os::unix::fs::chown(&p, Some(owner.0), Some(owner.1)).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
}

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("p{i:02}")).collect()
}

/// A tree with files owned by `pkgs` and some no package owns, every kind
/// of entry and metadata a layer must carry.
fn make_tree(root: &Path, pkgs: &[String]) -> Vec<PackageFiles> {
    fs::create_dir_all(root).unwrap();
    fs::set_permissions(root, fs::Permissions::from_mode(0o755)).unwrap();
    mkdir(root, "etc/secret", 0o700, (0, 10));
    mkdir(root, "srv/empty", 0o750, (7, 7));
    mkdir(root, "tmp", 0o1777, (0, 0));
    put(root, "etc/hostname", b"box\n", 0o644, (0, 0));
    put(root, "etc/secret/key", b"k", 0o600, (0, 10));
    put(
        root,
        "var/lib/rpm/rpmdb.sqlite",
        pkgs.join("\n").as_bytes(),
        0o644,
        (0, 0),
    );
    symlink("usr/bin", root.join("bin")).unwrap();
    let mut out = Vec::new();
    for p in pkgs {
        // Everything about a package depends on its name only.
        let i: usize = p[1..].parse().unwrap_or(7);
        let lib = format!("usr/lib/{p}/lib.so");
        let bin = format!("usr/bin/{p}");
        let doc = format!("usr/share/doc/{p}/README");
        put(root, &lib, p.repeat(100 + i).as_bytes(), 0o755, (0, 0));
        put(
            root,
            &bin,
            format!("#!{p}").as_bytes(),
            if i == 1 { 0o4755 } else { 0o755 },
            (0, 0),
        );
        put(root, &doc, b"docs", 0o644, (i as u32 % 3, 0));
        xattr::set(root.join(&bin), "user.package", p.as_bytes()).unwrap();
        if i == 0 {
            let cap = [
                1u8, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ];
            xattr::set(root.join(&bin), "security.capability", &cap).unwrap();
        }
        symlink("lib.so", root.join(format!("usr/lib/{p}/link"))).unwrap();
        fs::hard_link(root.join(&lib), root.join(format!("usr/lib/{p}/hard"))).unwrap();
        let paths = [
            format!("/usr/lib/{p}"),
            format!("/{lib}"),
            format!("/usr/lib/{p}/link"),
            format!("/usr/lib/{p}/hard"),
            format!("/{bin}"),
            format!("/{doc}"),
            "/usr/bin".to_string(),
        ];
        out.push(PackageFiles {
            name: p.clone(),
            // Two "large" packages, so binning has singles to place.
            size: if i < 2 {
                (64 - i as u64) << 20
            } else {
                1000 + i as u64
            },
            paths: paths.iter().map(PathBuf::from).collect(),
        });
    }
    alma_image_builder::tarball::clamp_mtimes(root, EPOCH).unwrap();
    out
}

struct Opts<'a> {
    base: Option<&'a BaseImage>,
    previous: Option<&'a image::Manifest>,
    max_layers: usize,
    compression: Compression,
    arch: &'a str,
}

fn opts<'a>() -> Opts<'a> {
    Opts {
        base: None,
        previous: None,
        max_layers: 64,
        compression: Compression::Gzip,
        arch: "x86_64_v2",
    }
}

fn build(
    layout: &Layout,
    root: &Path,
    pkgs: &[PackageFiles],
    o: &Opts,
) -> (Built, image::Manifest) {
    let arch = alma_image_builder::distro::arch::lookup(o.arch).unwrap();
    let mut labels = BTreeMap::new();
    labels.insert("containers.bootc".to_string(), "1".to_string());
    let req = ImageRequest {
        root,
        packages: pkgs,
        base: o.base,
        previous: o.previous,
        max_layers: o.max_layers,
        compression: o.compression,
        source_date_epoch: EPOCH,
        platform: oci::platform(arch),
        labels,
        cmd: vec!["/sbin/init".into()],
        stop_signal: Some("SIGRTMIN+3".into()),
        env: vec!["PATH=/usr/bin".into()],
    };
    let built = oci::build_image(layout, &req).unwrap();
    let m: image::Manifest = layout.read_json(&built.manifest).unwrap();
    (built, m)
}

/// Layers of `b` whose digest `a` does not have.
fn new_layers(a: &image::Manifest, b: &image::Manifest) -> usize {
    let old: HashSet<&str> = a.layers.iter().map(|l| l.digest.as_str()).collect();
    b.layers
        .iter()
        .filter(|l| !old.contains(l.digest.as_str()))
        .count()
}

/// Everything extraction must reproduce, one line per path; hard links as
/// the first path of their inode.
fn describe(root: &Path) -> Vec<String> {
    let mut first: HashMap<(u64, u64), String> = HashMap::new();
    walk::walk(root, true)
        .unwrap()
        .into_iter()
        .map(|n| {
            let m = &n.meta;
            let content = if m.is_file() {
                alma_image_builder::fetch::sha256_file(&root.join(&n.rel)).unwrap()
            } else {
                String::new()
            };
            let link = if m.is_file() && m.nlink > 1 {
                first.entry((m.dev, m.ino)).or_insert(n.rel.clone()).clone()
            } else {
                String::new()
            };
            let size = if m.is_dir() { 0 } else { m.size };
            format!(
                "{:?} {:o} {:o} {}:{} {} {size} {:?} {:?} {content} {link}",
                n.rel, m.kind, m.mode, m.uid, m.gid, m.mtime, m.link, m.xattrs
            )
        })
        .collect()
}

fn skopeo(args: &[&str]) -> String {
    let o = tools::run("skopeo", args).unwrap();
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn same_tree_same_digests() {
    let t = tempfile::tempdir().unwrap();
    let mut digests = Vec::new();
    for i in 0..2 {
        // Different paths and inodes, same tree.
        let root = t.path().join(format!("root{i}"));
        let pkgs = make_tree(&root, &names(5));
        let l = Layout::create(&t.path().join(format!("oci{i}"))).unwrap();
        let (b, m) = build(&l, &root, &pkgs, &opts());
        assert_eq!(b.layers, 6);
        assert_eq!(b.diff_ids.len(), 6);
        digests.push((b.manifest.digest, m.layers));
    }
    assert_eq!(digests[0], digests[1]);
}

/// Builds an image of a fresh tree with `list` packages; the tree and
/// layout are removed after (only the manifest matters here).
fn image_of(t: &Path, n: &mut usize, list: &[String], o: &Opts) -> (Built, image::Manifest) {
    *n += 1;
    let root = t.join(format!("root{n}"));
    let pkgs = make_tree(&root, list);
    let l = Layout::create(&t.join(format!("oci{n}"))).unwrap();
    let r = build(&l, &root, &pkgs, o);
    fs::remove_dir_all(&root).unwrap();
    fs::remove_dir_all(l.dir()).unwrap();
    r
}

#[test]
fn one_package_changes_at_most_two_layers() {
    let t = tempfile::tempdir().unwrap();
    let t = t.path();
    let n = &mut 0;
    // One package per layer (5 + 1 ≤ 63), then binned (50 + 1 > 7).
    for (count, max) in [(5, 64), (50, 8)] {
        let o = Opts {
            max_layers: max,
            ..opts()
        };
        let (a, ma) = image_of(t, n, &names(count), &o);
        assert!(a.layers <= max);
        // 5 singles + unpackaged; 2 large singles + 4 bins + unpackaged.
        assert_eq!(a.layers, if count == 5 { 6 } else { 7 });
        let last = &ma.layers.last().unwrap().annotations;
        assert_eq!(last[image::ANNOTATION_LAYER], "unpackaged");
        // Unchanged, with the plan: the same image.
        let same = image_of(
            t,
            n,
            &names(count),
            &Opts {
                previous: Some(&ma),
                ..o
            },
        );
        assert_eq!(same.0.manifest.digest, a.manifest.digest);
        let mut more = names(count);
        more.push("zz-new".into());
        let mut fewer = names(count);
        fewer.remove(3);
        for previous in [None, Some(&ma)] {
            let o = Opts { previous, ..o };
            let what = format!("{count} packages, max {max}, plan {}", previous.is_some());
            let (b, mb) = image_of(t, n, &more, &o);
            assert!(b.layers <= max, "{what}");
            assert!(
                new_layers(&ma, &mb) <= 2,
                "{what}: add: {}",
                new_layers(&ma, &mb)
            );
            let holding: Vec<_> = mb
                .layers
                .iter()
                .filter_map(image::layer_packages)
                .filter(|p| p.contains(&"zz-new".to_string()))
                .collect();
            assert_eq!(holding.len(), 1, "{what}");
            if count == 5 {
                assert_eq!(holding[0], ["zz-new"], "{what}: a layer of its own");
            }
            let (c, mc) = image_of(t, n, &fewer, &o);
            assert!(c.layers <= max, "{what}");
            assert!(
                (1..=2).contains(&new_layers(&ma, &mc)),
                "{what}: remove: {}",
                new_layers(&ma, &mc)
            );
        }
    }
}

/// Extracts every layer of `m` in order into `into`.
fn extract_all(l: &Layout, m: &image::Manifest, into: &Path) {
    fs::create_dir_all(into).unwrap();
    for d in &m.layers {
        alma_image_builder::oci::extract::extract(l, d, into).unwrap();
    }
}

#[test]
fn layers_reproduce_the_tree() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("root");
    let pkgs = make_tree(&root, &names(12));
    for (c, max) in [
        (Compression::Gzip, 64),
        (Compression::Zstd, 4),
        (Compression::None, 1),
    ] {
        let l = Layout::create(&t.path().join(format!("oci-{max}"))).unwrap();
        let o = Opts {
            compression: c,
            max_layers: max,
            ..opts()
        };
        let (b, m) = build(&l, &root, &pkgs, &o);
        assert_eq!(b.layers, max.min(13));
        assert!(m.layers.iter().all(|d| d.media_type == c.media_type()));
        let out = t.path().join(format!("out-{max}"));
        extract_all(&l, &m, &out);
        assert_eq!(describe(&root), describe(&out), "{c:?}");
        // And through `unpack`, which checks every diff_id.
        let out2 = t.path().join(format!("unpacked-{max}"));
        oci::unpack(&l, &b.manifest, &out2).unwrap();
        assert_eq!(describe(&root), describe(&out2));
    }
    // Sanity: the comparison sees metadata.
    let before = describe(&root);
    fs::set_permissions(root.join("etc/hostname"), fs::Permissions::from_mode(0o600)).unwrap();
    assert_ne!(before, describe(&root));
}

#[test]
fn image_config() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("root");
    let pkgs = make_tree(&root, &names(3));
    let l = Layout::create(&t.path().join("oci")).unwrap();
    let (b, m) = build(&l, &root, &pkgs, &opts());
    let c: serde_json::Value = l.read_json(&m.config).unwrap();
    assert_eq!(m.config.media_type, image::MEDIA_CONFIG);
    assert_eq!(m.media_type.as_deref(), Some(image::MEDIA_MANIFEST));
    assert_eq!(c["created"], "2023-11-14T22:13:20Z");
    assert_eq!(
        (&c["architecture"], &c["os"], &c["variant"]),
        (&"amd64".into(), &"linux".into(), &"v2".into())
    );
    assert_eq!(c["config"]["Labels"]["containers.bootc"], "1");
    assert_eq!(c["config"]["Cmd"], serde_json::json!(["/sbin/init"]));
    assert_eq!(c["config"]["StopSignal"], "SIGRTMIN+3");
    assert_eq!(c["config"]["Env"], serde_json::json!(["PATH=/usr/bin"]));
    assert_eq!(c["rootfs"]["type"], "layers");
    assert_eq!(c["rootfs"]["diff_ids"], serde_json::json!(b.diff_ids));
    let h = c["history"].as_array().unwrap();
    assert_eq!(h.len(), m.layers.len());
    assert_eq!(h[0]["comment"], "packages: p00");
    assert!(h.iter().all(|e| e["created"] == c["created"]));
    let p = b.manifest.platform.as_ref().unwrap();
    assert_eq!(
        (p.architecture.as_str(), p.variant.as_deref()),
        ("amd64", Some("v2"))
    );
    let aarch64 = alma_image_builder::distro::arch::lookup("aarch64").unwrap();
    assert_eq!(oci::platform(aarch64).architecture, "arm64");
}

#[test]
fn skopeo_reads_and_copies() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("root");
    let pkgs = make_tree(&root, &names(4));
    let dir = t.path().join("oci");
    let l = Layout::create(&dir).unwrap();
    let mut manifests = Vec::new();
    for (c, tag) in [(Compression::Gzip, "gzip"), (Compression::Zstd, "zstd")] {
        let (b, m) = build(
            &l,
            &root,
            &pkgs,
            &Opts {
                compression: c,
                arch: "x86_64",
                ..opts()
            },
        );
        l.add_ref(tag, &b.manifest).unwrap();
        let src = format!("oci:{}:{tag}", dir.display());
        let v: serde_json::Value = serde_json::from_str(&skopeo(&["inspect", &src])).unwrap();
        assert_eq!(v["Architecture"], "amd64");
        assert_eq!(v["Labels"]["containers.bootc"], "1");
        assert_eq!(v["Layers"].as_array().unwrap().len(), m.layers.len());
        let dst = format!("oci:{}:{tag}", t.path().join("copy").display());
        skopeo(&["copy", "--quiet", &src, &dst]);
        let copy = Layout::open(&t.path().join("copy")).unwrap();
        let cm: image::Manifest = copy.read_json(&copy.resolve(tag).unwrap()).unwrap();
        assert_eq!(
            cm.layers.iter().map(|d| &d.digest).collect::<Vec<_>>(),
            m.layers.iter().map(|d| &d.digest).collect::<Vec<_>>()
        );
        if c == Compression::Gzip {
            manifests.push(b.manifest);
        }
    }
    // A second platform, and an index of both.
    let (arm, _) = build(
        &l,
        &root,
        &pkgs,
        &Opts {
            arch: "aarch64",
            ..opts()
        },
    );
    manifests.push(arm.manifest);
    let idx = oci::write_index(&l, &manifests, "multi").unwrap();
    assert_eq!(idx.media_type, image::MEDIA_INDEX);
    let raw = skopeo(&["inspect", "--raw", &format!("oci:{}:multi", dir.display())]);
    let v: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let archs: Vec<&str> = v["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(archs, ["amd64", "arm64"]);
    // Without --raw skopeo picks this host's platform from the index.
    let host = serde_json::json!(if cfg!(target_arch = "aarch64") {
        "arm64"
    } else {
        "amd64"
    });
    let v: serde_json::Value = serde_json::from_str(&skopeo(&[
        "inspect",
        &format!("oci:{}:multi", dir.display()),
    ]))
    .unwrap();
    assert_eq!(v["Architecture"], host);
    // And so does `select`.
    let arm64 = oci::platform(alma_image_builder::distro::arch::lookup("aarch64").unwrap());
    let amd64_v2 = oci::platform(alma_image_builder::distro::arch::lookup("x86_64_v2").unwrap());
    assert_eq!(oci::select(&l, &idx, &arm64).unwrap(), manifests[1]);
    // x86_64_v2 falls back to the plain amd64 entry.
    assert_eq!(oci::select(&l, &idx, &amd64_v2).unwrap(), manifests[0]);
    let s390x = oci::platform(alma_image_builder::distro::arch::lookup("s390x").unwrap());
    let e = oci::select(&l, &idx, &s390x).unwrap_err();
    assert!(e.downcast_ref::<InputError>().is_some(), "{e:#}");
    assert_eq!(
        oci::select(&l, &manifests[0], &s390x).unwrap(),
        manifests[0]
    );
    // The same layout as an oci-archive, twice the same bytes.
    let a1 = t.path().join("a1.tar");
    alma_image_builder::oci::layout::write_archive(&dir, &a1, EPOCH).unwrap();
    let a2 = t.path().join("a2.tar");
    alma_image_builder::oci::layout::write_archive(&dir, &a2, EPOCH).unwrap();
    assert_eq!(fs::read(&a1).unwrap(), fs::read(&a2).unwrap());
    let v: serde_json::Value = serde_json::from_str(&skopeo(&[
        "inspect",
        &format!("oci-archive:{}:gzip", a1.display()),
    ]))
    .unwrap();
    assert_eq!(v["Labels"]["containers.bootc"], "1");
    let back = alma_image_builder::oci::layout::read_archive(&a1, &t.path().join("back")).unwrap();
    assert_eq!(back.resolve("multi").unwrap(), idx);
}

/// Entry names of a layer blob.
fn entries(l: &Layout, d: &image::Descriptor) -> Vec<String> {
    let f = fs::File::open(l.blob_path(&d.digest).unwrap()).unwrap();
    let r: Box<dyn Read> = match d.media_type.as_str() {
        image::MEDIA_LAYER_GZIP => Box::new(flate2::read::GzDecoder::new(f)),
        _ => Box::new(f),
    };
    let mut ar = tar::Archive::new(r);
    ar.entries()
        .unwrap()
        .map(|e| String::from_utf8(e.unwrap().path_bytes().into_owned()).unwrap())
        .collect()
}

/// What the derive test does to the unpacked base.
fn change(root: &Path) -> Vec<PackageFiles> {
    put(root, "etc/added", b"new", 0o644, (0, 0));
    put(root, "etc/hostname", b"other\n", 0o644, (0, 0));
    fs::remove_file(root.join("usr/share/doc/p01/README")).unwrap();
    fs::set_permissions(root.join("usr/bin/p02"), fs::Permissions::from_mode(0o700)).unwrap();
    // Same size, same (clamped) mtime, other content.
    put(root, "usr/share/doc/p00/README", b"DOCS", 0o644, (0, 0));
    put(root, "usr/lib/newpkg/lib.so", b"newpkg", 0o755, (0, 0));
    put(
        root,
        "var/lib/rpm/rpmdb.sqlite",
        b"p00 p01 p02 newpkg",
        0o644,
        (0, 0),
    );
    alma_image_builder::tarball::clamp_mtimes(root, EPOCH).unwrap();
    let mut pkgs: Vec<PackageFiles> = names(3)
        .iter()
        .map(|p| PackageFiles {
            name: p.clone(),
            size: 1,
            paths: vec![
                PathBuf::from(format!("/usr/bin/{p}")),
                PathBuf::from(format!("/usr/share/doc/{p}/README")),
            ],
        })
        .collect();
    pkgs.push(PackageFiles {
        name: "newpkg".into(),
        size: 1,
        paths: vec!["/usr/lib/newpkg/lib.so".into()],
    });
    pkgs
}

#[test]
fn derive_from_a_base() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("root");
    let pkgs = make_tree(&root, &names(3));
    let l = Layout::create(&t.path().join("oci")).unwrap();
    let (base, bm) = build(&l, &root, &pkgs, &opts());
    l.add_ref("base", &base.manifest).unwrap();

    let mut digests = Vec::new();
    for i in 0..2 {
        let r = t.path().join(format!("derived{i}"));
        let desc = l.resolve("base").unwrap();
        let b = oci::unpack(&l, &desc, &r).unwrap();
        assert_eq!(describe(&r), describe(&root));
        // Nothing changed yet: no new layer, the base's layers as they are.
        let (same, sm) = build(
            &l,
            &r,
            &pkgs,
            &Opts {
                base: Some(&b),
                ..opts()
            },
        );
        assert_eq!((same.layers, sm.layers), (0, bm.layers.clone()));
        let pkgs = change(&r);
        let (d, m) = build(
            &l,
            &r,
            &pkgs,
            &Opts {
                base: Some(&b),
                ..opts()
            },
        );
        assert_eq!(&m.layers[..bm.layers.len()], &bm.layers[..]);
        let new = &m.layers[bm.layers.len()..];
        assert_eq!(d.layers, new.len());
        let by_pkg: BTreeMap<String, Vec<String>> = new
            .iter()
            .map(|d| {
                let key = d
                    .annotations
                    .get(image::ANNOTATION_PACKAGES)
                    .cloned()
                    .unwrap_or_else(|| "(unpackaged)".into());
                (key, entries(&l, d))
            })
            .collect();
        assert_eq!(
            by_pkg["newpkg"],
            [
                "usr/",
                "usr/lib/",
                "usr/lib/newpkg/",
                "usr/lib/newpkg/lib.so"
            ]
        );
        assert_eq!(by_pkg["p02"], ["usr/", "usr/bin/", "usr/bin/p02"]);
        let un = &by_pkg["(unpackaged)"];
        for want in [
            "etc/added",
            "etc/hostname",
            "usr/share/doc/p01/.wh.README",
            "var/lib/rpm/rpmdb.sqlite",
        ] {
            assert!(un.contains(&want.to_string()), "{want} in {un:?}");
        }
        assert!(
            !un.iter()
                .any(|e| e.contains("bin/p0") || e.contains("secret") || e.ends_with("lib.so")),
            "{un:?}"
        );
        assert_eq!(
            by_pkg["p00"],
            [
                "usr/",
                "usr/share/",
                "usr/share/doc/",
                "usr/share/doc/p00/",
                "usr/share/doc/p00/README"
            ]
        );
        assert_eq!(by_pkg.len(), 4, "{by_pkg:?}");
        // The config keeps the base's and adds ours.
        let c: serde_json::Value = l.read_json(&m.config).unwrap();
        assert_eq!(c["history"].as_array().unwrap().len(), m.layers.len());
        assert_eq!(
            c["rootfs"]["diff_ids"].as_array().unwrap().len(),
            m.layers.len()
        );
        assert_eq!(c["config"]["Labels"]["containers.bootc"], "1");
        // Unpacking the derived image gives the changed tree.
        let again = t.path().join(format!("again{i}"));
        oci::unpack(&l, &d.manifest, &again).unwrap();
        assert_eq!(describe(&again), describe(&r));
        digests.push(d.manifest.digest);
    }
    assert_eq!(digests[0], digests[1]);
}

#[test]
fn corrupt_blobs_are_named() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("root");
    let pkgs = make_tree(&root, &names(2));
    let l = Layout::create(&t.path().join("oci")).unwrap();
    let (b, m) = build(&l, &root, &pkgs, &opts());
    let victim = &m.layers[1];
    let path = l.blob_path(&victim.digest).unwrap();
    let mut bytes = fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    fs::write(&path, bytes).unwrap();
    let e = oci::unpack(&l, &b.manifest, &t.path().join("out")).unwrap_err();
    assert!(e.downcast_ref::<InputError>().is_some(), "{e:#}");
    assert!(format!("{e:#}").contains(&victim.digest), "{e:#}");
}

#[test]
fn big_files_stream() {
    // A 256 MiB file: memory stays far below its size.
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("root");
    let pkgs = make_tree(&root, &names(1));
    let f = fs::File::create(root.join("big")).unwrap();
    f.set_len(256 << 20).unwrap();
    drop(f);
    alma_image_builder::tarball::clamp_mtimes(&root, EPOCH).unwrap();
    let l = Layout::create(&t.path().join("oci")).unwrap();
    let (_, m) = build(
        &l,
        &root,
        &pkgs,
        &Opts {
            compression: Compression::Zstd,
            ..opts()
        },
    );
    let big = m.layers.last().unwrap();
    assert!(big.size < 1 << 20, "zeros compress: {}", big.size);
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let hwm: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap();
    assert!(hwm < 200 * 1024, "peak RSS {hwm} kB");
}

/// Packages from the fixture repository, unpacked with rpm2cpio and owned
/// as their RPM headers say.
fn rpm_tree(root: &Path, names: &[&str]) -> Vec<PackageFiles> {
    let repo = PathBuf::from(alma_image_builder::plan::fixture_root()).join("repos/main/x86_64");
    fs::create_dir_all(root).unwrap();
    let mut out = Vec::new();
    for n in names {
        let rpm = fs::read_dir(&repo)
            .unwrap_or_else(|e| panic!("{}: {e} (set IMAGE_BUILDER_FIXTURE_ROOT)", repo.display()))
            .map(|e| e.unwrap().path())
            .find(|p| {
                let f = p.file_name().unwrap().to_string_lossy();
                f.strip_prefix(&format!("{n}-"))
                    .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
            })
            .unwrap_or_else(|| panic!("no {n} in {}", repo.display()));
        let cmd = format!(
            "cd '{}' && rpm2cpio '{}' | cpio -idm --quiet",
            root.display(),
            rpm.display()
        );
        tools::run("sh", &["-c", &cmd]).unwrap();
        let h = alma_image_builder::tree::rpmhdr::read(&rpm).unwrap();
        out.push(PackageFiles {
            name: h.name().to_string(),
            size: h.ints(1009).first().copied().unwrap_or(0), // RPMTAG_SIZE
            paths: h
                .files()
                .unwrap()
                .into_iter()
                .map(|f| PathBuf::from(f.path))
                .collect(),
        });
    }
    let db: Vec<&str> = out.iter().map(|p| p.name.as_str()).collect();
    put(
        root,
        "var/lib/rpm/rpmdb.sqlite",
        db.join("\n").as_bytes(),
        0o644,
        (0, 0),
    );
    alma_image_builder::tarball::clamp_mtimes(root, EPOCH).unwrap();
    out
}

const RPMS: &[&str] = &[
    "libc6",
    "libssl3",
    "libsystemd-shared",
    "busybox",
    "libselinux1",
    "libpcre2-8-0",
    "dpkg",
    "adduser",
    "debconf",
    "libacl1",
    "libcap2",
    "liblzma5",
    "libgcrypt20",
    "libgpg-error0",
    "libmount1",
    "libblkid1",
];

#[test]
fn fixture_rpms_in_their_layers() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("root");
    let pkgs = rpm_tree(&root, RPMS);
    let l = Layout::create(&t.path().join("oci")).unwrap();
    let o = Opts {
        max_layers: 8,
        ..opts()
    };
    let (b, m) = build(&l, &root, &pkgs, &o);
    // Large packages alone (up to 3), 4 bins, the unpackaged layer.
    assert!((6..=8).contains(&b.layers), "{}", b.layers);
    // Every file a header lists is in the layer annotated with its package.
    let mut layer_of: HashMap<String, Vec<String>> = HashMap::new();
    for d in &m.layers {
        let owners = image::layer_packages(d).unwrap_or_default();
        for e in entries(&l, d) {
            if !e.ends_with('/') {
                layer_of
                    .entry(e)
                    .or_default()
                    .extend(owners.iter().cloned());
            }
        }
    }
    let mut checked = 0;
    for p in &pkgs {
        for path in &p.paths {
            let rel = path.to_str().unwrap().trim_start_matches('/');
            if fs::symlink_metadata(root.join(rel)).is_ok_and(|m| !m.is_dir()) {
                assert_eq!(
                    layer_of.get(rel).map(|o| o.contains(&p.name)),
                    Some(true),
                    "{rel} of {}",
                    p.name
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 500, "{checked} files checked");
    let out = t.path().join("out");
    oci::unpack(&l, &b.manifest, &out).unwrap();
    assert_eq!(describe(&root), describe(&out));
    // One more package, with the plan: at most two new layers.
    let root2 = t.path().join("root2");
    let mut more = RPMS.to_vec();
    more.push("libreadline8");
    let pkgs2 = rpm_tree(&root2, &more);
    let (b2, m2) = build(
        &l,
        &root2,
        &pkgs2,
        &Opts {
            previous: Some(&m),
            ..o
        },
    );
    assert!(b2.layers <= 8);
    assert!(new_layers(&m, &m2) <= 2, "{}", new_layers(&m, &m2));
}
