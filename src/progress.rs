//! How the library reports long work and what it made. The CLI picks a
//! reporter: JSON lines with `--json`, else text (with a bar on a
//! terminal); the library only calls this trait, so it never decides how
//! progress looks. Events carry a schema version (`v`) so machines reading
//! `build --json` can tell when a field changes meaning.

use serde::Serialize;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Mutex;

/// Version of the JSON-lines event schema (`"v"` in every event).
pub const EVENT_SCHEMA: u32 = 1;

/// Something the pipeline did that a user or a machine wants to know.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// The plan's targets, before any work: `[arch, output]` pairs.
    Planned { outputs: Vec<(String, String)> },
    /// A pipeline stage begins, in this order: `resolve` (only when the
    /// lock is made, not with `--locked`), `fetch`, `build` (trees and the
    /// artifacts made from them, in dependency order: a tree is made when
    /// the first output that needs it is built), `verify` (only with
    /// `--verify`), `deliver`.
    Stage { stage: &'static str },
    /// A tree is ready.
    Tree {
        arch: String,
        output: String,
        packages: usize,
        /// Another output's tree, copied rather than built again.
        shared: bool,
    },
    /// One arch's bootc/OCI image is in its layout.
    Image {
        arch: String,
        output: String,
        digest: String,
        layers_written: usize,
        layers: usize,
        packages: usize,
        derived: bool,
        reused_plan: bool,
    },
    /// A finished artifact at its path.
    Artifact {
        #[serde(skip_serializing_if = "Option::is_none")]
        arch: Option<String>,
        output: String,
        #[serde(rename = "type")]
        kind: String,
        path: PathBuf,
        #[serde(skip_serializing_if = "Option::is_none")]
        packages: Option<usize>,
        #[serde(skip_serializing_if = "Option::is_none")]
        customizations: Option<Vec<&'static str>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        selinux_labelled: Option<bool>,
        #[serde(skip_serializing_if = "Option::is_none")]
        source_date_epoch: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        digest: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        tag: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        arches: Option<Vec<String>>,
    },
    /// Something was pushed to a registry.
    Pushed {
        what: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        subject: Option<String>,
        digest: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        blobs_uploaded: Option<usize>,
        #[serde(skip_serializing_if = "Option::is_none")]
        blobs_skipped: Option<usize>,
        #[serde(skip_serializing_if = "Option::is_none")]
        bytes_uploaded: Option<u64>,
    },
    /// An artifact booted to its report.
    Verified {
        path: PathBuf,
        seconds: f64,
        report: serde_json::Value,
    },
    /// A line a build script (`[[build.script]]`) printed, stdout and
    /// stderr alike, as it came.
    ScriptOutput {
        arch: String,
        output: String,
        script: String,
        line: String,
    },
    /// A line for people (warnings, what was decided).
    Note { message: String },
}

impl Event {
    /// The event as one JSON object with the schema version.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).expect("events serialize");
        if let Some(o) = v.as_object_mut() {
            o.insert("v".into(), EVENT_SCHEMA.into());
        }
        v
    }

    /// The event for people: `Some((to_stdout, line))`, or None when text
    /// output leaves it out.
    pub fn to_text(&self) -> Option<(bool, String)> {
        Some(match self {
            Event::Planned { .. } | Event::Stage { .. } | Event::Tree { .. } => return None,
            Event::Image {
                arch,
                digest,
                layers,
                layers_written,
                ..
            } => (
                false,
                format!("{arch}: image {digest} ({layers} layers, {layers_written} written by this build)"),
            ),
            Event::Artifact { path, .. } => (true, path.display().to_string()),
            Event::Pushed {
                what,
                reference,
                subject,
                digest,
                blobs_uploaded,
                blobs_skipped,
                ..
            } => (
                false,
                match (reference, blobs_uploaded) {
                    (Some(r), Some(up)) => format!(
                        "pushed {what} {r}@{digest}: {up} blobs uploaded, {} already present",
                        blobs_skipped.unwrap_or(0)
                    ),
                    _ => format!(
                        "pushed {what} {digest}{}",
                        subject
                            .as_deref()
                            .map(|s| format!(" for {s}"))
                            .unwrap_or_default()
                    ),
                },
            ),
            Event::Verified { seconds, .. } => {
                (false, format!("verified: report after {seconds:.1} s"))
            }
            Event::ScriptOutput { script, line, .. } => (false, format!("[{script}] {line}")),
            Event::Note { message } => (false, message.clone()),
        })
    }
}

pub trait Progress: Send + Sync {
    /// A task begins: `items` things, `bytes` in total if known.
    fn start(&self, task: &str, items: u64, bytes: Option<u64>);
    /// `n` more bytes arrived.
    fn bytes(&self, n: u64);
    /// One item finished (`cached` when it needed no download).
    fn item_done(&self, name: &str, cached: bool);
    fn finish(&self);
    /// Something happened (see `Event`). Reporters that show nothing
    /// ignore it.
    fn event(&self, _e: &Event) {}
}

/// Reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _: &str, _: u64, _: Option<u64>) {}
    fn bytes(&self, _: u64) {}
    fn item_done(&self, _: &str, _: bool) {}
    fn finish(&self) {}
}

/// An indicatif bar on stderr: bytes, items, rate, ETA.
pub struct TtyProgress {
    bar: Mutex<Option<indicatif::ProgressBar>>,
    items: Mutex<(u64, u64)>,
}

impl Progress for TtyProgress {
    fn start(&self, task: &str, items: u64, bytes: Option<u64>) {
        let bar = indicatif::ProgressBar::new(bytes.unwrap_or(0));
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{prefix} [{bar:30}] {bytes}/{total_bytes} {msg} {bytes_per_sec} eta {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_prefix(task.to_string());
        bar.set_message(format!("0/{items}"));
        *self.items.lock().expect("not poisoned") = (0, items);
        *self.bar.lock().expect("not poisoned") = Some(bar);
    }
    fn bytes(&self, n: u64) {
        if let Some(b) = &*self.bar.lock().expect("not poisoned") {
            b.inc(n);
        }
    }
    fn item_done(&self, _name: &str, _cached: bool) {
        let mut it = self.items.lock().expect("not poisoned");
        it.0 += 1;
        if let Some(b) = &*self.bar.lock().expect("not poisoned") {
            b.set_message(format!("{}/{}", it.0, it.1));
        }
    }
    fn finish(&self) {
        if let Some(b) = self.bar.lock().expect("not poisoned").take() {
            b.finish_and_clear();
        }
    }
    fn event(&self, e: &Event) {
        print_text(e);
    }
}

fn print_text(e: &Event) {
    match e.to_text() {
        Some((true, line)) => println!("{line}"),
        Some((false, line)) => crate::report::info(line),
        None => {}
    }
}

/// Text without a bar (stderr is not a terminal, or `-q`): events as
/// lines, data (artifact paths) on stdout.
pub struct TextProgress;

impl Progress for TextProgress {
    fn start(&self, _: &str, _: u64, _: Option<u64>) {}
    fn bytes(&self, _: u64) {}
    fn item_done(&self, _: &str, _: bool) {}
    fn finish(&self) {}
    fn event(&self, e: &Event) {
        print_text(e);
    }
}

/// One JSON object per event on stdout.
pub struct JsonProgress;

impl Progress for JsonProgress {
    fn start(&self, task: &str, items: u64, bytes: Option<u64>) {
        println!(
            "{}",
            serde_json::json!({"v": EVENT_SCHEMA, "event": "start", "task": task, "items": items, "bytes": bytes})
        );
    }
    fn bytes(&self, _: u64) {}
    fn item_done(&self, name: &str, cached: bool) {
        println!(
            "{}",
            serde_json::json!({"v": EVENT_SCHEMA, "event": "done", "item": name, "cached": cached})
        );
    }
    fn finish(&self) {
        println!(
            "{}",
            serde_json::json!({"v": EVENT_SCHEMA, "event": "finish"})
        );
    }
    fn event(&self, e: &Event) {
        println!("{}", e.to_json());
    }
}

/// The reporter the CLI wants: JSON lines, a bar on a TTY, or nothing.
pub fn for_cli(json: bool) -> Box<dyn Progress> {
    if json {
        Box::new(JsonProgress)
    } else if std::io::stderr().is_terminal() && crate::report::level() >= 1 {
        Box::new(TtyProgress {
            bar: Mutex::new(None),
            items: Mutex::new((0, 0)),
        })
    } else {
        Box::new(TextProgress)
    }
}
