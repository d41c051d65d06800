//! image-builder: one declarative TOML manifest → AlmaLinux bootable
//! artifacts.
//!
//! The pipeline runs one way: a manifest is parsed (`manifest`), checked
//! against the distro and arch models (`distro`) and turned into a
//! `plan::BuildPlan` that decides everything — repos, package sets, disk
//! layout, boot chain — per arch and output. Later stages (resolve, fetch,
//! install, customize, artifact builders, verify, publish) each take the
//! previous stage's value. `commands` wires them to the CLI (`cli`);
//! `tools` is the only place that spawns processes.

pub mod artifact;
pub mod bootc;
pub mod civil;
pub mod cli;
pub mod commands;
pub mod distro;
pub mod error;
pub mod fetch;
pub mod kickstart;
pub mod manifest;
pub mod oci;
pub mod pipeline;
pub mod plan;
pub mod progress;
pub mod publish;
pub mod report;
pub mod resolve;
pub mod secureboot;
pub mod sigstore;
pub mod stages;
pub mod sys;
pub mod tarball;
pub mod tools;
pub mod tree;
pub mod verify;
