//! EL8/EL9 module streams (`modules.yaml`): which packages the solver may
//! see.
//!
//! dnf's modular filtering, which we reproduce: a package that is an
//! artifact of some module stream is visible only if that stream is
//! active (enabled in the manifest's `enabled_modules`, or the module's
//! default stream when the manifest enables no stream of it); and while a
//! stream is active, non-modular packages carrying the same names as its
//! artifacts are hidden, so the module's builds win. Packages from repos
//! with `module_hotfixes = true` are never hidden.

use anyhow::{Context, Result};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

/// Modules known from every repo's modules.yaml.
#[derive(Debug, Clone, Default)]
pub struct Modules {
    /// (module, stream) → artifact NEVRAs (`name-epoch:version-release.arch`).
    pub streams: BTreeMap<(String, String), BTreeSet<String>>,
    /// module → default stream.
    pub defaults: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Doc {
    document: String,
    #[serde(default)]
    data: serde_yaml::Value,
}

fn ystr(v: &serde_yaml::Value) -> Option<String> {
    match v {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl Modules {
    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    /// Adds one modules.yaml (a stream of YAML documents).
    pub fn add_yaml(&mut self, text: &str, origin: &str) -> Result<()> {
        for (i, d) in serde_yaml::Deserializer::from_str(text).enumerate() {
            let doc = Doc::deserialize(d)
                .with_context(|| format!("parsing {origin}: document {}", i + 1))?;
            let data = &doc.data;
            match doc.document.as_str() {
                "modulemd" => {
                    let (Some(name), Some(stream)) = (ystr(&data["name"]), ystr(&data["stream"]))
                    else {
                        continue;
                    };
                    let set = self.streams.entry((name, stream)).or_default();
                    if let Some(rpms) = data["artifacts"]["rpms"].as_sequence() {
                        set.extend(rpms.iter().filter_map(ystr));
                    }
                }
                "modulemd-defaults" => {
                    if let (Some(m), Some(s)) = (ystr(&data["module"]), ystr(&data["stream"])) {
                        self.defaults.insert(m, s);
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The active streams: `enabled` (`name:stream`) plus defaults of
    /// modules not named there. Unknown enabled streams are errors.
    pub fn active(&self, enabled: &[String]) -> Result<BTreeSet<(String, String)>, String> {
        let mut out = BTreeSet::new();
        let mut named = BTreeSet::new();
        for e in enabled {
            let (m, s) = e.split_once(':').unwrap_or((e.as_str(), ""));
            let s = if s.is_empty() {
                self.defaults.get(m).cloned().ok_or_else(|| {
                    format!("module {m} has no default stream; name one ({m}:STREAM)")
                })?
            } else {
                s.to_string()
            };
            if !self.streams.contains_key(&(m.to_string(), s.clone())) {
                let known: Vec<String> = self
                    .streams
                    .keys()
                    .filter(|(n, _)| n == m)
                    .map(|(n, s)| format!("{n}:{s}"))
                    .collect();
                return Err(if known.is_empty() {
                    format!("no module named {m} in the repositories")
                } else {
                    format!(
                        "module stream {m}:{s} not found; available: {}",
                        known.join(", ")
                    )
                });
            }
            named.insert(m.to_string());
            out.insert((m.to_string(), s));
        }
        for (m, s) in &self.defaults {
            if !named.contains(m) && self.streams.contains_key(&(m.clone(), s.clone())) {
                out.insert((m.clone(), s.clone()));
            }
        }
        Ok(out)
    }

    /// Precomputed sets for `Filter::hides`.
    pub fn filter(&self, active: &BTreeSet<(String, String)>) -> Filter {
        let mut f = Filter::default();
        for (k, arts) in &self.streams {
            let on = active.contains(k);
            for a in arts {
                f.modular.insert(a.clone());
                if on {
                    f.active_artifacts.insert(a.clone());
                    if let Some(n) = artifact_name(a) {
                        f.active_names.insert(n.to_string());
                    }
                }
            }
        }
        f
    }
}

#[derive(Debug, Default)]
pub struct Filter {
    modular: BTreeSet<String>,
    active_artifacts: BTreeSet<String>,
    active_names: BTreeSet<String>,
}

impl Filter {
    /// Should a package be hidden? `nevra` as `name-epoch:version-release.arch`
    /// (epoch always present), `hotfix` when its repo has module_hotfixes.
    pub fn hides(&self, name: &str, nevra: &str, hotfix: bool) -> bool {
        if hotfix {
            return false;
        }
        if self.modular.contains(nevra) {
            return !self.active_artifacts.contains(nevra);
        }
        self.active_names.contains(name)
    }
}

/// `name` of `name-epoch:version-release.arch`.
fn artifact_name(a: &str) -> Option<&str> {
    let (rest, _arch) = a.rsplit_once('.')?;
    let (rest, _rel) = rest.rsplit_once('-')?;
    let (name, _ev) = rest.rsplit_once('-')?;
    Some(name)
}

/// `name-E:V-R.A` with epoch 0 made explicit, as modulemd writes NEVRAs.
pub fn nevra_with_epoch(name: &str, evr: &str, arch: &str) -> String {
    if evr.contains(':') {
        format!("{name}-{evr}.{arch}")
    } else {
        format!("{name}-0:{evr}.{arch}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const Y: &str = r#"---
document: modulemd
version: 2
data:
  name: nodejs
  stream: "18"
  artifacts:
    rpms:
    - nodejs-1:18.6.0-1.module_el8.x86_64
    - npm-1:8.13.2-1.18.6.0.1.module_el8.x86_64
...
---
document: modulemd
version: 2
data:
  name: nodejs
  stream: 20
  artifacts:
    rpms:
    - nodejs-1:20.1.0-1.module_el8.x86_64
...
---
document: modulemd-defaults
version: 1
data:
  module: nodejs
  stream: "18"
...
"#;

    #[test]
    fn defaults_and_enabled_streams() {
        let mut m = Modules::default();
        m.add_yaml(Y, "t").unwrap();
        assert_eq!(m.streams.len(), 2);
        let d = m.active(&[]).unwrap();
        assert!(d.contains(&("nodejs".into(), "18".into())));
        let e = m.active(&["nodejs:20".into()]).unwrap();
        assert_eq!(e.len(), 1);
        assert!(e.contains(&("nodejs".into(), "20".into())));
        let err = m.active(&["nodejs:99".into()]).unwrap_err();
        assert!(err.contains("available: nodejs:18, nodejs:20"), "{err}");
        assert!(m
            .active(&["php:8".into()])
            .unwrap_err()
            .contains("no module named php"));
    }

    #[test]
    fn hiding_table() {
        let mut m = Modules::default();
        m.add_yaml(Y, "t").unwrap();
        let act = m.active(&["nodejs:20".into()]).unwrap();
        let f = m.filter(&act);
        let h = |name: &str, nevra: &str, hot| f.hides(name, nevra, hot);
        assert!(!h("nodejs", "nodejs-1:20.1.0-1.module_el8.x86_64", false));
        assert!(h("nodejs", "nodejs-1:18.6.0-1.module_el8.x86_64", false));
        // non-modular nodejs is shadowed by the active stream
        assert!(h("nodejs", "nodejs-0:16.0-1.el8.x86_64", false));
        assert!(!h("nodejs", "nodejs-0:16.0-1.el8.x86_64", true));
        // npm belongs only to the inactive stream: the modular build is hidden,
        // a non-modular npm is not shadowed
        assert!(h("npm", "npm-1:8.13.2-1.18.6.0.1.module_el8.x86_64", false));
        assert!(!h("npm", "npm-0:8.0-1.el8.x86_64", false));
        assert!(!h("bash", "bash-0:5.1-1.el8.x86_64", false));
    }

    #[test]
    fn artifact_names() {
        assert_eq!(
            artifact_name("npm-1:8.13.2-1.18.6.0.1.module_el8.x86_64"),
            Some("npm")
        );
        assert_eq!(
            artifact_name("python3-pip-0:21-1.el8.noarch"),
            Some("python3-pip")
        );
        assert_eq!(nevra_with_epoch("a", "1.0-1", "noarch"), "a-0:1.0-1.noarch");
    }
}
