//! The Bearer token flow (what Docker Hub, quay.io and ghcr.io use),
//! against a real docker-registry configured for token auth and a small
//! token server in this test that signs ES256 JWTs with a throwaway key the
//! registry trusts (openssl makes the key and certificate).

mod common;

use alma_image_builder::oci::reference;
use alma_image_builder::oci::registry::{self, Options};
use alma_image_builder::tools;
use base64::Engine;
use common::registry::skopeo;
use p256::ecdsa::signature::Signer;
use p256::pkcs8::DecodePrivateKey;
use serde_json::{json, Value};
use sha2::Digest;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const USER: &str = "builder";
const PASSWORD: &str = "t0ken-pw";

/// What the token server was asked: (scope, came with valid credentials).
type Log = Arc<Mutex<Vec<(String, bool)>>>;

fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = vec![];
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

fn b64url(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// A JWT granting `scope` (`repository:NAME:ACTIONS`).
fn jwt(key: &p256::ecdsa::SigningKey, x5c: &str, scope: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let access: Vec<Value> = scope
        .split(' ')
        .filter_map(|s| {
            let mut p = s.splitn(3, ':');
            let (t, n, a) = (p.next()?, p.next()?, p.next()?);
            Some(json!({"type": t, "name": n, "actions": a.split(',').collect::<Vec<_>>()}))
        })
        .collect();
    let header = json!({"typ": "JWT", "alg": "ES256", "x5c": [x5c]});
    let claims = json!({
        "iss": "test-issuer", "sub": USER, "aud": "test-registry",
        "exp": now + 300, "nbf": now - 10, "iat": now - 10, "jti": format!("{now}-{scope}"),
        "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        b64url(&serde_json::to_vec(&header).unwrap()),
        b64url(&serde_json::to_vec(&claims).unwrap())
    );
    let sig: p256::ecdsa::Signature = key.sign(signing_input.as_bytes());
    format!("{signing_input}.{}", b64url(&sig.to_bytes()))
}

/// Serves `GET /token?service=…&scope=…`: a token for valid Basic
/// credentials, 401 otherwise. Returns its port.
fn token_server(dir: &Path, log: Log) -> u16 {
    let key_pem = std::fs::read_to_string(dir.join("key.pem")).unwrap();
    let key = p256::ecdsa::SigningKey::from_pkcs8_pem(&key_pem).unwrap();
    let cert = std::fs::read_to_string(dir.join("cert.pem")).unwrap();
    let x5c: String = cert.lines().filter(|l| !l.starts_with("-----")).collect();
    let good = format!(
        "basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    );
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut req = vec![];
            let mut buf = [0u8; 4096];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let req = String::from_utf8_lossy(&req).into_owned();
            let target = req.split(' ').nth(1).unwrap_or("").to_string();
            let query = target.split_once('?').map(|x| x.1).unwrap_or("");
            let scope: Vec<String> = query
                .split('&')
                .filter_map(|kv| kv.strip_prefix("scope="))
                .map(pct_decode)
                .collect();
            let scope = scope.join(" ");
            let authed = req.lines().any(|h| {
                h.to_ascii_lowercase()
                    .strip_prefix("authorization: ")
                    .map(str::trim)
                    == Some(good.to_ascii_lowercase().as_str())
            });
            log.lock().unwrap().push((scope.clone(), authed));
            let (status, body) = if authed {
                (
                    "200 OK",
                    json!({"token": jwt(&key, &x5c, &scope)}).to_string(),
                )
            } else {
                (
                    "401 Unauthorized",
                    json!({"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]})
                        .to_string(),
                )
            };
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

struct TokenRegistry {
    host: String,
    log: Log,
    _dir: tempfile::TempDir,
    _proc: tools::Running,
}

fn start() -> TokenRegistry {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    tools::run(
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=test-token-issuer",
            "-keyout",
            d.join("key.pem").to_str().unwrap(),
            "-out",
            d.join("cert.pem").to_str().unwrap(),
        ],
    )
    .unwrap();
    let log: Log = Arc::default();
    let tport = token_server(d, log.clone());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = d.join("config.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\nauth:\n  token:\n    realm: http://127.0.0.1:{tport}/token\n    service: test-registry\n    issuer: test-issuer\n    rootcertbundle: {}\n",
            d.join("storage").display(),
            d.join("cert.pem").display()
        ),
    )
    .unwrap();
    let proc = tools::spawn(
        "docker-registry",
        &[Path::new("serve"), &config],
        &d.join("registry.log"),
    )
    .unwrap();
    let host = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(&host).is_err() {
        assert!(Instant::now() < deadline, "docker-registry did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    TokenRegistry {
        host,
        log,
        _dir: dir,
        _proc: proc,
    }
}

/// A one-layer image tagged `v1` in `dir`; its manifest digest.
fn image(dir: &Path) -> String {
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let blob = |b: &[u8]| {
        let h = hex::encode(sha2::Sha256::digest(b));
        std::fs::write(dir.join("blobs/sha256").join(&h), b).unwrap();
        (format!("sha256:{h}"), b.len())
    };
    let (ld, ls) = blob(b"not really a tar, the registry does not look");
    let (cd, cs) =
        blob(br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#);
    let m = json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": ls}],
    });
    let (md, ms) = blob(&serde_json::to_vec(&m).unwrap());
    std::fs::write(
        dir.join("index.json"),
        json!({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms,
            "annotations": {"org.opencontainers.image.ref.name": "v1"}}]})
        .to_string(),
    )
    .unwrap();
    md
}

#[test]
fn bearer_tokens_from_a_token_server() {
    let reg = start();
    let t = tempfile::tempdir().unwrap();
    let digest = image(&t.path().join("lay"));
    let auth = t.path().join("auth.json");
    std::fs::write(
        &auth,
        json!({"auths": {&reg.host: {"auth": base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))}}}).to_string(),
    )
    .unwrap();
    let o = Options {
        tls_verify: false,
        authfile: Some(auth.clone()),
    };
    let dest = reference::parse(&format!("docker://{}/team/app:v1", reg.host)).unwrap();

    let r = registry::push(&t.path().join("lay"), "v1", &dest, &o).unwrap();
    assert_eq!((r.digest.as_str(), r.blobs_uploaded), (digest.as_str(), 2));
    {
        let log = reg.log.lock().unwrap();
        // One token for the whole push: cached and sent up front after.
        assert_eq!(
            *log,
            [("repository:team/app:pull,push".to_string(), true)],
            "{log:?}"
        );
    }
    let v: Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--creds",
        &format!("{USER}:{PASSWORD}"),
        &format!("docker://{}/team/app:v1", reg.host),
    ]))
    .unwrap();
    assert_eq!(v["Digest"], json!(digest));

    // A pull asks for a pull-only token.
    let got = registry::pull(&dest, &t.path().join("back"), "b", &o).unwrap();
    assert_eq!(got, digest);
    assert_eq!(
        reg.log.lock().unwrap().last().unwrap().0,
        "repository:team/app:pull"
    );

    // Without credentials the token server says no; the error says who.
    let home = tempfile::tempdir().unwrap();
    let e = registry::fetch_manifest(
        &dest,
        &Options {
            tls_verify: false,
            authfile: Some(home.path().join("none.json")),
        },
    )
    .unwrap_err();
    assert!(format!("{e:#}").contains("none.json"), "{e:#}");
    std::fs::write(home.path().join("empty.json"), r#"{"auths":{}}"#).unwrap();
    let e = registry::fetch_manifest(
        &dest,
        &Options {
            tls_verify: false,
            authfile: Some(home.path().join("empty.json")),
        },
    )
    .unwrap_err();
    let msg = format!("{e:#}");
    assert!(
        msg.contains("refused a token")
            && msg.contains("anonymously")
            && msg.contains("UNAUTHORIZED"),
        "{msg}"
    );
}
