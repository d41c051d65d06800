//! The signature policy that goes into a signed bootc image, so that the
//! installed system verifies its own updates.
//!
//! Why: `bootc upgrade` and `bootc switch` pull through containers/image,
//! which only checks signatures that `/etc/containers/policy.json` asks
//! for. An image signed at push time but shipping the stock
//! "insecureAcceptAnything" policy (or no key) upgrades from anything the
//! registry serves, and one shipping a policy whose key or lookaside
//! configuration is missing cannot upgrade at all (AlmaLinux
//! atomic-desktop issue 173). So the image carries three files that agree
//! with how we sign:
//!
//! - `/etc/containers/policy.json`: default `insecureAcceptAnything` (so
//!   unrelated pulls, e.g. podman's, keep working), and for the image's
//!   repository `sigstoreSigned` with our public key and
//!   `matchRepository` (a signature for any tag of this repository, bound
//!   to the manifest digest);
//! - `/etc/containers/registries.d/NAME.yaml`: `use-sigstore-attachments`
//!   for that repository, so signatures are looked up at the cosign tag;
//! - `/etc/pki/containers/NAME.pub`: the key.
//!
//! A base image may already ship a policy (with its own scopes); `install`
//! merges our scope into it instead of replacing it.

use crate::error::InputError;
use crate::tree::customize::files;
use anyhow::{Context, Result};
use serde_json::json;
use std::path::{Path, PathBuf};

pub const POLICY_PATH: &str = "/etc/containers/policy.json";
pub const REGISTRIES_D: &str = "/etc/containers/registries.d";
pub const KEY_DIR: &str = "/etc/pki/containers";

/// A file name for `scope`: every character outside `[A-Za-z0-9._-]`
/// becomes `-` (`quay.io/org/img` → `quay.io-org-img`).
pub fn key_name(scope: &str) -> String {
    scope
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// In-image path of the public key for `scope`.
pub fn key_path(scope: &str) -> String {
    format!("{KEY_DIR}/{}.pub", key_name(scope))
}

/// The policy requirement for `scope`: sigstore signatures by the key at
/// `key_path` (a path on the system that verifies), any tag of the
/// repository.
pub fn requirement(key_path: &str) -> serde_json::Value {
    json!([{
        "type": "sigstoreSigned",
        "keyPath": key_path,
        "signedIdentity": {"type": "matchRepository"}
    }])
}

/// A whole policy.json accepting anything except `scope`, which needs
/// signatures by the key at `key_path`.
pub fn policy_json(scope: &str, key_path: &str) -> Vec<u8> {
    let v = json!({
        "default": [{"type": "insecureAcceptAnything"}],
        "transports": {
            "docker": { scope: requirement(key_path) }
        }
    });
    pretty(&v)
}

/// Merges the requirement for `scope` into an existing policy.json:
/// other scopes, transports and the default are kept (a policy without a
/// default, which containers/image refuses, gets `insecureAcceptAnything`);
/// a previous requirement for the same scope is replaced.
pub fn merge_policy(existing: &[u8], scope: &str, key_path: &str) -> Result<Vec<u8>> {
    let mut v: serde_json::Value =
        serde_json::from_slice(existing).context("the existing policy.json is not JSON")?;
    let obj = v
        .as_object_mut()
        .context("the existing policy.json is not a JSON object")?;
    obj.entry("default")
        .or_insert_with(|| json!([{"type": "insecureAcceptAnything"}]));
    let transports = obj.entry("transports").or_insert_with(|| json!({}));
    let docker = transports
        .as_object_mut()
        .context("`transports` in the existing policy.json is not an object")?
        .entry("docker")
        .or_insert_with(|| json!({}));
    docker
        .as_object_mut()
        .context("`transports.docker` in the existing policy.json is not an object")?
        .insert(scope.to_string(), requirement(key_path));
    Ok(pretty(&v))
}

/// registries.d configuration turning on sigstore attachments for `scope`.
pub fn registries_d_yaml(scope: &str) -> Vec<u8> {
    // A JSON string is a valid YAML double-quoted scalar: no quoting
    // questions for ports (`:`) or wildcards (`*`).
    let key = serde_json::Value::String(scope.to_string()).to_string();
    format!("# Written by image-builder: signatures for {scope} are cosign attachments.\ndocker:\n  {key}:\n    use-sigstore-attachments: true\n")
        .into_bytes()
}

/// The three files for an image signed with `public_pem` and pulled from
/// `scope` (a repository such as `quay.io/org/image` or
/// `127.0.0.1:5000/x`): in-tree path, bytes, mode. Same inputs → same
/// bytes. `policy.json` here is a fresh one; use `install` to merge into a
/// tree that may already have one.
pub fn image_files(public_pem: &str, scope: &str) -> Vec<(PathBuf, Vec<u8>, u32)> {
    let name = key_name(scope);
    vec![
        (
            PathBuf::from(POLICY_PATH),
            policy_json(scope, &key_path(scope)),
            0o644,
        ),
        (
            PathBuf::from(format!("{REGISTRIES_D}/{name}.yaml")),
            registries_d_yaml(scope),
            0o644,
        ),
        (
            PathBuf::from(key_path(scope)),
            public_pem.as_bytes().to_vec(),
            0o644,
        ),
    ]
}

/// Writes the files into the tree at `root` (symlinks resolved inside
/// the tree, mtimes `mtime`), merging into an existing policy.json.
pub fn install(root: &Path, public_pem: &str, scope: &str, mtime: i64) -> Result<()> {
    check_scope(scope)?;
    for (path, bytes, mode) in image_files(public_pem, scope) {
        let path = path.to_str().expect("our paths are UTF-8").to_string();
        let bytes = if path == POLICY_PATH {
            match files::read_opt(root, POLICY_PATH)? {
                Some(old) => merge_policy(old.as_bytes(), scope, &key_path(scope))
                    .with_context(|| format!("merging into the tree's {POLICY_PATH}"))?,
                None => bytes,
            }
        } else {
            bytes
        };
        let meta = files::Meta {
            mode,
            uid: 0,
            gid: 0,
        };
        files::write_file(root, &path, &bytes, meta, mtime)
            .with_context(|| format!("writing {path} into the tree"))?;
    }
    Ok(())
}

/// A docker policy scope for one repository: a host, optionally a port
/// and path, no tag, digest or whitespace.
pub fn check_scope(scope: &str) -> Result<()> {
    let ok = !scope.is_empty()
        && !scope.contains('@')
        && !scope.contains(char::is_whitespace)
        && !scope.starts_with('/')
        && !scope.ends_with('/')
        && !scope
            .split_once('/')
            .is_some_and(|(_, path)| path.contains(':'));
    if ok {
        Ok(())
    } else {
        Err(InputError(format!(
            "`{scope}` is not a repository scope for a signature policy (expected e.g. quay.io/org/image)"
        ))
        .into())
    }
}

fn pretty(v: &serde_json::Value) -> Vec<u8> {
    let mut s = serde_json::to_string_pretty(v).expect("JSON values serialize");
    s.push('\n');
    s.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM: &str = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";

    #[test]
    fn files_are_deterministic_and_consistent() {
        let a = image_files(PEM, "127.0.0.1:5000/test/img");
        assert_eq!(a, image_files(PEM, "127.0.0.1:5000/test/img"));
        let paths: Vec<_> = a.iter().map(|f| f.0.display().to_string()).collect();
        assert_eq!(
            paths,
            [
                "/etc/containers/policy.json",
                "/etc/containers/registries.d/127.0.0.1-5000-test-img.yaml",
                "/etc/pki/containers/127.0.0.1-5000-test-img.pub"
            ]
        );
        let policy: serde_json::Value = serde_json::from_slice(&a[0].1).unwrap();
        assert_eq!(policy["default"][0]["type"], "insecureAcceptAnything");
        let req = &policy["transports"]["docker"]["127.0.0.1:5000/test/img"][0];
        assert_eq!(req["type"], "sigstoreSigned");
        assert_eq!(req["keyPath"], paths[2]);
        assert_eq!(req["signedIdentity"]["type"], "matchRepository");
        let yaml = String::from_utf8(a[1].1.clone()).unwrap();
        assert!(
            yaml.contains(
                "docker:\n  \"127.0.0.1:5000/test/img\":\n    use-sigstore-attachments: true\n"
            ),
            "{yaml}"
        );
        assert_eq!(a[2].1, PEM.as_bytes());
    }

    #[test]
    fn merge_keeps_what_the_base_had() {
        let base = br#"{"default":[{"type":"reject"}],"transports":{"docker":{"registry.access.redhat.com":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/etc/pki/rpm-gpg/RPM-GPG-KEY-redhat-release"}],"quay.io/org/img":[{"type":"insecureAcceptAnything"}]},"docker-daemon":{"":[{"type":"insecureAcceptAnything"}]}}}"#;
        let out = merge_policy(base, "quay.io/org/img", "/etc/pki/containers/k.pub").unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["default"][0]["type"], "reject");
        assert_eq!(
            v["transports"]["docker"]["registry.access.redhat.com"][0]["type"],
            "signedBy"
        );
        assert_eq!(
            v["transports"]["docker-daemon"][""][0]["type"],
            "insecureAcceptAnything"
        );
        assert_eq!(
            v["transports"]["docker"]["quay.io/org/img"],
            requirement("/etc/pki/containers/k.pub")
        );
        let v: serde_json::Value =
            serde_json::from_slice(&merge_policy(b"{}", "x.io/a", "/k").unwrap()).unwrap();
        assert_eq!(v["default"][0]["type"], "insecureAcceptAnything");
        assert!(merge_policy(b"[]", "x.io/a", "/k").is_err());
        assert!(merge_policy(b"not json", "x.io/a", "/k").is_err());
    }

    #[test]
    fn install_merges_into_a_tree_and_stays_inside_it() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        std::fs::create_dir_all(root.join("etc/containers")).unwrap();
        std::fs::write(
            root.join("etc/containers/policy.json"),
            br#"{"default":[{"type":"insecureAcceptAnything"}],"transports":{"docker":{"other.io/x":[{"type":"reject"}]}}}"#,
        )
        .unwrap();
        // /etc/pki -> /host-pki: must land under the root, never the host.
        std::fs::create_dir_all(root.join("host-pki")).unwrap();
        std::os::unix::fs::symlink("/host-pki", root.join("etc/pki")).unwrap();
        install(&root, PEM, "quay.io/org/img", 1_700_000_000).unwrap();
        let v: serde_json::Value = serde_json::from_slice(
            &std::fs::read(root.join("etc/containers/policy.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(v["transports"]["docker"]["other.io/x"][0]["type"], "reject");
        assert_eq!(
            v["transports"]["docker"]["quay.io/org/img"][0]["type"],
            "sigstoreSigned"
        );
        assert_eq!(
            std::fs::read_to_string(root.join("host-pki/containers/quay.io-org-img.pub")).unwrap(),
            PEM
        );
        assert!(root
            .join("etc/containers/registries.d/quay.io-org-img.yaml")
            .is_file());
        assert!(install(&root, PEM, "quay.io/org/img:tag", 0).is_err());
    }
}
