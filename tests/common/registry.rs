//! A real OCI registry on 127.0.0.1 for tests: Debian's `docker-registry`
//! (distribution 2.8) on a free port, storage in a temporary directory,
//! optionally behind htpasswd basic auth. Killed when dropped.
#![allow(dead_code)]

use alma_image_builder::tools;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub struct Registry {
    /// `127.0.0.1:PORT`
    pub host: String,
    pub dir: tempfile::TempDir,
    _proc: tools::Running,
}

impl Registry {
    /// An open registry (no auth), plain HTTP.
    pub fn start() -> Registry {
        Registry::start_with(None)
    }

    /// A registry requiring `user`/`password` (htpasswd, bcrypt).
    pub fn start_with_auth(user: &str, password: &str) -> Registry {
        Registry::start_with(Some((user, password)))
    }

    fn start_with(auth: Option<(&str, &str)>) -> Registry {
        let dir = tempfile::tempdir().expect("registry temp dir");
        let port = free_port();
        let storage = dir.path().join("storage");
        std::fs::create_dir_all(&storage).unwrap();
        let auth_yaml = match auth {
            Some((user, password)) => {
                let htpasswd = dir.path().join("htpasswd");
                let out = tools::run("htpasswd", &["-nbB", user, password]).expect("htpasswd");
                std::fs::write(&htpasswd, &out.stdout).unwrap();
                format!(
                    "auth:\n  htpasswd:\n    realm: test-registry\n    path: {}\n",
                    htpasswd.display()
                )
            }
            None => String::new(),
        };
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{auth_yaml}",
                storage.display()
            ),
        )
        .unwrap();
        let log = dir.path().join("registry.log");
        let proc = tools::spawn("docker-registry", &[Path::new("serve"), &config], &log)
            .expect("starting docker-registry");
        let host = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&host).is_err() {
            if Instant::now() > deadline {
                panic!(
                    "docker-registry did not listen on {host}: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Registry {
            host,
            dir,
            _proc: proc,
        }
    }

    /// `docker://127.0.0.1:PORT/REPO`
    pub fn docker_ref(&self, repo_and_tag: &str) -> String {
        format!("docker://{}/{repo_and_tag}", self.host)
    }

    /// The registry's log (for assertion messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Writes a containers auth.json for this registry and returns its path.
    pub fn auth_file(&self, user: &str, password: &str) -> PathBuf {
        use base64::Engine;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let p = self.dir.path().join("auth.json");
        std::fs::write(
            &p,
            format!(
                "{{\"auths\":{{\"{}\":{{\"auth\":\"{token}\"}}}}}}",
                self.host
            ),
        )
        .unwrap();
        p
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a free port");
    l.local_addr().unwrap().port()
}

/// `skopeo ARGS` (through src/tools), panicking with stderr on failure.
pub fn skopeo(args: &[&str]) -> String {
    let out = tools::run("skopeo", args).unwrap_or_else(|e| panic!("{e:#}"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}
