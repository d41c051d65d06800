//! How the library reports long work. The CLI picks a reporter: a bar on a
//! terminal, JSON lines with `--json`, nothing otherwise; the library only
//! calls this trait, so it never decides how progress looks.

use std::io::IsTerminal;
use std::sync::Mutex;

pub trait Progress: Send + Sync {
    /// A task begins: `items` things, `bytes` in total if known.
    fn start(&self, task: &str, items: u64, bytes: Option<u64>);
    /// `n` more bytes arrived.
    fn bytes(&self, n: u64);
    /// One item finished (`cached` when it needed no download).
    fn item_done(&self, name: &str, cached: bool);
    fn finish(&self);
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
}

/// One JSON object per event on stdout.
pub struct JsonProgress;

impl Progress for JsonProgress {
    fn start(&self, task: &str, items: u64, bytes: Option<u64>) {
        println!(
            "{}",
            serde_json::json!({"event": "start", "task": task, "items": items, "bytes": bytes})
        );
    }
    fn bytes(&self, _: u64) {}
    fn item_done(&self, name: &str, cached: bool) {
        println!(
            "{}",
            serde_json::json!({"event": "done", "item": name, "cached": cached})
        );
    }
    fn finish(&self) {
        println!("{}", serde_json::json!({"event": "finish"}));
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
        Box::new(NoProgress)
    }
}
