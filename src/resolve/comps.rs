//! comps: package groups and environment groups, as dnf reads them.
//!
//! dnf treats groups outside the solver: `@group` expands to the group's
//! mandatory and default packages (optional ones only on request), an
//! environment to its groups, and a conditional package joins when the
//! package it names is part of the transaction. We do the same so that
//! `@core` resolves to what `dnf group install core` would install.

use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub mandatory: Vec<String>,
    pub default: Vec<String>,
    pub optional: Vec<String>,
    /// (package, the package whose presence pulls it in)
    pub conditional: Vec<(String, String)>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Environment {
    pub id: String,
    pub name: String,
    pub groups: Vec<String>,
    pub options: Vec<String>,
}

/// Every group and environment of all repos (a later repo's definition of
/// the same id extends the earlier one, as dnf merges comps).
#[derive(Debug, Clone, Default)]
pub struct Comps {
    pub groups: BTreeMap<String, Group>,
    pub environments: BTreeMap<String, Environment>,
}

/// What `@spec` expands to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expansion {
    /// Packages to install if they exist (dnf skips missing group members).
    pub packages: Vec<String>,
    pub conditional: Vec<(String, String)>,
}

fn child_text<'a>(n: roxmltree::Node<'a, 'a>, tag: &str) -> Option<&'a str> {
    n.children()
        .find(|c| {
            c.has_tag_name(tag)
                && c.attribute(("http://www.w3.org/XML/1998/namespace", "lang"))
                    .is_none()
        })
        .and_then(|c| c.text())
        .map(str::trim)
}

impl Comps {
    /// Adds one comps.xml document (`origin` names it in errors).
    pub fn add_xml(&mut self, xml: &str, origin: &str) -> Result<()> {
        let doc = roxmltree::Document::parse_with_options(
            xml,
            roxmltree::ParsingOptions {
                allow_dtd: true,
                ..Default::default()
            },
        )
        .with_context(|| format!("parsing comps {origin}"))?;
        for n in doc.root_element().children().filter(|n| n.is_element()) {
            match n.tag_name().name() {
                "group" => {
                    let Some(id) = child_text(n, "id") else {
                        continue;
                    };
                    let g = self.groups.entry(id.to_string()).or_insert_with(|| Group {
                        id: id.to_string(),
                        ..Group::default()
                    });
                    if let Some(name) = child_text(n, "name") {
                        g.name = name.to_string();
                    }
                    for pl in n.children().filter(|c| c.has_tag_name("packagelist")) {
                        for r in pl.children().filter(|c| c.has_tag_name("packagereq")) {
                            let Some(pkg) = r.text().map(str::trim).filter(|t| !t.is_empty())
                            else {
                                continue;
                            };
                            let pkg = pkg.to_string();
                            match r.attribute("type").unwrap_or("mandatory") {
                                "mandatory" => g.mandatory.push(pkg),
                                "default" => g.default.push(pkg),
                                "optional" => g.optional.push(pkg),
                                "conditional" => {
                                    if let Some(req) = r.attribute("requires") {
                                        g.conditional.push((pkg, req.to_string()));
                                    }
                                }
                                other => bail!(
                                    "comps {origin}: group {id}: unknown packagereq type {other:?}"
                                ),
                            }
                        }
                    }
                }
                "environment" => {
                    let Some(id) = child_text(n, "id") else {
                        continue;
                    };
                    let e =
                        self.environments
                            .entry(id.to_string())
                            .or_insert_with(|| Environment {
                                id: id.to_string(),
                                ..Environment::default()
                            });
                    if let Some(name) = child_text(n, "name") {
                        e.name = name.to_string();
                    }
                    for (list, out) in
                        [("grouplist", &mut e.groups), ("optionlist", &mut e.options)]
                    {
                        for l in n.children().filter(|c| c.has_tag_name(list)) {
                            for g in l.children().filter(|c| c.has_tag_name("groupid")) {
                                if let Some(t) = g.text() {
                                    out.push(t.trim().to_string());
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn find_group(&self, spec: &str) -> Option<&Group> {
        self.groups.get(spec).or_else(|| {
            self.groups
                .values()
                .find(|g| g.name.eq_ignore_ascii_case(spec) || g.id.eq_ignore_ascii_case(spec))
        })
    }

    fn find_env(&self, spec: &str) -> Option<&Environment> {
        self.environments.get(spec).or_else(|| {
            self.environments
                .values()
                .find(|e| e.name.eq_ignore_ascii_case(spec) || e.id.eq_ignore_ascii_case(spec))
        })
    }

    /// Expands `core`, `^server-environment` or a group/environment name.
    /// `None`: no such group or environment.
    pub fn expand(&self, spec: &str, with_optional: bool) -> Option<Expansion> {
        let mut out = Expansion::default();
        let env_only = spec.starts_with('^');
        let spec = spec.trim_start_matches('^');
        let groups: Vec<&Group> = match (env_only, self.find_group(spec)) {
            (false, Some(g)) => vec![g],
            _ => {
                let e = self.find_env(spec)?;
                let mut ids = e.groups.clone();
                if with_optional {
                    ids.extend(e.options.iter().cloned());
                }
                ids.iter().filter_map(|id| self.groups.get(id)).collect()
            }
        };
        for g in groups {
            out.packages.extend(g.mandatory.iter().cloned());
            out.packages.extend(g.default.iter().cloned());
            if with_optional {
                out.packages.extend(g.optional.iter().cloned());
            }
            out.conditional.extend(g.conditional.iter().cloned());
        }
        let mut seen = std::collections::HashSet::new();
        out.packages.retain(|p| seen.insert(p.clone()));
        Some(out)
    }

    /// Ids of every group and environment, for "did you mean" hints.
    pub fn ids(&self) -> Vec<String> {
        self.groups
            .keys()
            .chain(self.environments.keys())
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const XML: &str = r#"<?xml version="1.0"?>
<comps>
  <group><id>core</id><name>Core</name><name xml:lang="de">Kern</name>
    <packagelist>
      <packagereq type="mandatory">a</packagereq>
      <packagereq>b</packagereq>
      <packagereq type="default">c</packagereq>
      <packagereq type="optional">d</packagereq>
      <packagereq type="conditional" requires="x">e</packagereq>
    </packagelist></group>
  <group><id>extra</id><name>Extra Stuff</name>
    <packagelist><packagereq type="mandatory">f</packagereq><packagereq type="mandatory">a</packagereq></packagelist></group>
  <environment><id>server</id><name>Server</name>
    <grouplist><groupid>core</groupid></grouplist>
    <optionlist><groupid>extra</groupid></optionlist></environment>
</comps>"#;

    fn comps() -> Comps {
        let mut c = Comps::default();
        c.add_xml(XML, "test").unwrap();
        c
    }

    #[test]
    fn group_members_by_type() {
        let c = comps();
        let g = &c.groups["core"];
        assert_eq!(g.name, "Core");
        assert_eq!(g.mandatory, ["a", "b"]);
        assert_eq!(g.default, ["c"]);
        assert_eq!(g.optional, ["d"]);
        assert_eq!(g.conditional, [("e".to_string(), "x".to_string())]);
    }

    #[test]
    fn expansion_table() {
        let c = comps();
        let p = |s: &str, o: bool| c.expand(s, o).map(|e| e.packages);
        assert_eq!(p("core", false).unwrap(), ["a", "b", "c"]);
        assert_eq!(p("core", true).unwrap(), ["a", "b", "c", "d"]);
        assert_eq!(p("Extra Stuff", false).unwrap(), ["f", "a"]);
        assert_eq!(p("server", false).unwrap(), ["a", "b", "c"]);
        assert_eq!(p("^server", true).unwrap(), ["a", "b", "c", "d", "f"]);
        assert_eq!(p("^core", false), None);
        assert_eq!(p("nope", false), None);
    }

    #[test]
    fn bad_xml_names_origin() {
        let e = Comps::default()
            .add_xml("<comps><group>", "repo x")
            .unwrap_err();
        assert!(format!("{e:#}").contains("repo x"), "{e:#}");
    }
}
