//! `fips = true` and `[customizations.cacerts]`.
//!
//! Why the tree's own tools: the system-wide crypto policy and the CA trust
//! store are generated files (back-ends for OpenSSL, GnuTLS, NSS, Java...)
//! whose exact layout belongs to the `crypto-policies` and `ca-certificates`
//! versions installed in the image. We write the inputs (the policy name,
//! one PEM file a certificate in the anchors directory) ourselves and let
//! those tools, run chrooted into the tree, regenerate their outputs, so the
//! result is what the same command would give on the booted system.

use super::files;
use super::Env;
use crate::manifest::blueprint::*;
use crate::manifest::rules::pem::{B64, BEGIN, END};
use crate::tools;
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

const CRYPTO_POLICIES: &str = "/usr/bin/update-crypto-policies";
const UPDATE_CA_TRUST: &str = "/usr/bin/update-ca-trust";
const ANCHORS: &str = "/etc/pki/ca-trust/source/anchors";

/// FIPS mode in the tree: the FIPS crypto policy (applied with the tree's
/// `update-crypto-policies` when it has one) and, on EL8, `/etc/system-fips`.
/// `fips=1` on the kernel command line is `config::kernel_cmdline`'s.
pub fn fips(env: &Env, on: bool) -> Result<()> {
    if !on {
        return Ok(());
    }
    files::write_config(env, "/etc/crypto-policies/config", "FIPS\n", 0o644)
        .context("writing /etc/crypto-policies/config")?;
    if files::resolve(&env.root, CRYPTO_POLICIES)?.is_file() {
        tools::run_in_root(
            &env.root,
            CRYPTO_POLICIES,
            &["--no-reload", "--set", "FIPS"],
        )
        .with_context(|| format!("running {CRYPTO_POLICIES} in the tree"))?;
    }
    if env.releasever.split('.').next() == Some("8") {
        files::write_config(
            env,
            "/etc/system-fips",
            "# FIPS module installation complete\n",
            0o644,
        )
        .context("writing /etc/system-fips")?;
    }
    Ok(())
}

/// Splits each PEM bundle into certificates, writes each to the anchors
/// directory as `<first 16 hex of sha256(DER)>.pem` (stable names, so the
/// same certificate twice is one file) and regenerates the trust store
/// with the tree's `update-ca-trust extract`.
pub fn cacerts(env: &Env, c: &CaCerts) -> Result<()> {
    let mut certs = Vec::new();
    for (i, bundle) in c.pem_certs.iter().enumerate() {
        certs.extend(
            crate::manifest::rules::pem::certificates(bundle)
                .with_context(|| format!("pem_certs[{i}]"))?,
        );
    }
    if certs.is_empty() {
        return Ok(());
    }
    if !files::resolve(&env.root, UPDATE_CA_TRUST)?.is_file() {
        bail!("{UPDATE_CA_TRUST} is not in the tree: add the ca-certificates package");
    }
    for der in &certs {
        let name = &hex::encode(Sha256::digest(der))[..16];
        let path = format!("{ANCHORS}/{name}.pem");
        files::write_config(env, &path, &to_pem(der), 0o644)
            .with_context(|| format!("writing {path}"))?;
    }
    tools::run_in_root(&env.root, UPDATE_CA_TRUST, &["extract"])
        .with_context(|| format!("running {UPDATE_CA_TRUST} extract in the tree"))?;
    Ok(())
}

fn base64_encode(data: &[u8]) -> String {
    let mut s = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let w = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                s.push(B64[((w >> (18 - 6 * i)) & 0x3f) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

fn to_pem(der: &[u8]) -> String {
    let b = base64_encode(der);
    let mut s = format!("{BEGIN}\n");
    for chunk in b.as_bytes().chunks(64) {
        s.push_str(&String::from_utf8_lossy(chunk));
        s.push('\n');
    }
    s.push_str(END);
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::super::testtree::TestTree;
    use super::*;
    use crate::manifest::rules::pem::base64_decode;

    /// A fresh self-signed certificate from openssl, as PEM.
    fn openssl_cert(cn: &str) -> String {
        let subj = format!("/CN={cn}");
        let out = crate::tools::run(
            "openssl",
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "/dev/null",
                "-days",
                "1",
                "-subj",
                &subj,
            ],
        )
        .unwrap();
        String::from_utf8(out.stdout).unwrap()
    }

    /// openssl's own DER of a PEM certificate.
    fn openssl_der(pem: &str) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.pem");
        std::fs::write(&p, pem).unwrap();
        let p = p.display().to_string();
        crate::tools::run("openssl", &["x509", "-outform", "DER", "-in", &p])
            .unwrap()
            .stdout
    }

    #[test]
    fn base64_round_trips() {
        for n in 0..70u8 {
            let data: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37)).collect();
            let enc = base64_encode(&data);
            if n > 0 {
                assert_eq!(base64_decode(&enc).unwrap(), data);
            }
        }
        assert_eq!(base64_encode(b"hello"), "aGVsbG8=");
        assert!(base64_decode("aGVsbG8").is_err());
        assert!(base64_decode("a*VsbG8=").is_err());
    }

    #[test]
    fn cacerts_split_named_and_extracted_in_the_tree() {
        let t = TestTree::new();
        t.with_shell();
        t.fake_tool(UPDATE_CA_TRUST);
        let (a, b) = (openssl_cert("one"), openssl_cert("two"));
        let bundle = format!("# two certificates\n{a}subject=CN=two\n{b}");
        cacerts(
            &t.env,
            &CaCerts {
                pem_certs: vec![bundle, a.clone()],
            },
        )
        .unwrap();
        for pem in [&a, &b] {
            let der = openssl_der(pem);
            let name = &hex::encode(Sha256::digest(&der))[..16];
            let path = format!("{ANCHORS}/{name}.pem");
            assert_eq!(t.read(&path), *pem, "{path}");
            assert_eq!(t.mode(&path), 0o644);
        }
        let n = std::fs::read_dir(t.host(ANCHORS)).unwrap().count();
        assert_eq!(n, 2, "the same certificate twice is one file");
        assert_eq!(t.read("/tmp/update-ca-trust.args"), "extract\n");
    }

    #[test]
    fn cacerts_errors() {
        let t = TestTree::new();
        let c = |s: &str| CaCerts {
            pem_certs: vec![s.to_string()],
        };
        let cert = openssl_cert("x");
        let e = format!("{:#}", cacerts(&t.env, &c(&cert)).unwrap_err());
        assert!(
            e.contains(UPDATE_CA_TRUST) && e.contains("ca-certificates"),
            "{e}"
        );
        assert!(!t.host(ANCHORS).exists());
        for bad in [
            "just text",
            "-----BEGIN CERTIFICATE-----\nAAAA\n",
            "-----BEGIN CERTIFICATE-----\nA*AA\n-----END CERTIFICATE-----\n",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        ] {
            let e = format!("{:#}", cacerts(&t.env, &c(bad)).unwrap_err());
            assert!(e.contains("pem_certs[0]"), "{e}");
        }
        let truncated = cert.replacen("\n", "\nAAAA", 2);
        assert!(cacerts(&t.env, &c(&truncated)).is_err());
    }

    #[test]
    fn fips_sets_the_policy_with_the_trees_tool() {
        let t = TestTree::new();
        fips(&t.env, false).unwrap();
        assert!(!t.host("/etc/crypto-policies").exists());
        t.with_shell();
        t.fake_tool(CRYPTO_POLICIES);
        fips(&t.env, true).unwrap();
        assert_eq!(t.read("/etc/crypto-policies/config"), "FIPS\n");
        assert_eq!(
            t.read("/tmp/update-crypto-policies.args"),
            "--no-reload --set FIPS\n"
        );
        assert!(!t.host("/etc/system-fips").exists());
        // EL8 tree without the tool: config and /etc/system-fips only
        let mut t8 = TestTree::new();
        t8.env.releasever = "8.10".into();
        fips(&t8.env, true).unwrap();
        assert_eq!(t8.read("/etc/crypto-policies/config"), "FIPS\n");
        assert!(t8.read("/etc/system-fips").contains("FIPS"));
        // a failing tool fails the customization, naming it
        let t = TestTree::new();
        t.with_shell();
        t.write(
            CRYPTO_POLICIES,
            "#!/bin/sh\necho policy broken >&2\nexit 2\n",
        );
        std::fs::set_permissions(
            t.host(CRYPTO_POLICIES),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let e = format!("{:#}", fips(&t.env, true).unwrap_err());
        assert!(
            e.contains(CRYPTO_POLICIES) && e.contains("policy broken"),
            "{e}"
        );
    }
}
