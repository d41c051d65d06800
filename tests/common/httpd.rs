//! A small HTTP/1.1 file server for tests, on 127.0.0.1, that can
//! misbehave on purpose: drop the connection, truncate a body, serve wrong
//! bytes, answer an error status, or trickle slowly. Faults are set per
//! path and consumed one per request, so "fails once, then works" is easy
//! to say. Every request is logged (path, Range header).

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Close the connection without answering.
    Drop,
    /// Promise the full length, send half, close.
    Truncate,
    /// Right length, wrong bytes.
    Garbage,
    Status(u16),
    /// Send in small chunks with pauses.
    Slow(Duration),
}

#[derive(Default)]
struct State {
    faults: HashMap<String, VecDeque<Fault>>,
    /// Applied to every request of a path (after queued ones run out).
    always: HashMap<String, Fault>,
    log: Vec<(String, Option<String>)>,
}

pub struct Server {
    pub base: String,
    state: Arc<Mutex<State>>,
}

impl Server {
    /// Serves files under `root`.
    pub fn start(root: PathBuf) -> Server {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}/", l.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        std::thread::spawn(move || {
            for c in l.incoming().flatten() {
                let st = st.clone();
                let root = root.clone();
                std::thread::spawn(move || {
                    let _ = serve(c, &root, &st);
                });
            }
        });
        Server { base, state }
    }

    /// Queues faults for the next requests of `path`.
    pub fn fail(&self, path: &str, faults: &[Fault]) {
        self.state
            .lock()
            .unwrap()
            .faults
            .entry(path.to_string())
            .or_default()
            .extend(faults.iter().cloned());
    }

    pub fn always(&self, path: &str, f: Fault) {
        self.state
            .lock()
            .unwrap()
            .always
            .insert(path.to_string(), f);
    }

    pub fn log(&self) -> Vec<(String, Option<String>)> {
        self.state.lock().unwrap().log.clone()
    }
}

fn serve(c: TcpStream, root: &std::path::Path, st: &Mutex<State>) -> std::io::Result<()> {
    let mut r = BufReader::new(c.try_clone()?);
    let mut w = c;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let path = line
            .split_whitespace()
            .nth(1)
            .unwrap_or("/")
            .trim_start_matches('/')
            .to_string();
        let mut range = None;
        loop {
            let mut h = String::new();
            r.read_line(&mut h)?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("range") {
                    range = Some(v.trim().to_string());
                }
            }
        }
        let fault = {
            let mut s = st.lock().unwrap();
            s.log.push((path.clone(), range.clone()));
            let q = s.faults.get_mut(&path).and_then(|q| q.pop_front());
            q.or_else(|| s.always.get(&path).cloned())
        };
        let Ok(mut body) = std::fs::read(root.join(&path)) else {
            write!(w, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")?;
            continue;
        };
        match fault {
            Some(Fault::Drop) => return Ok(()),
            Some(Fault::Status(code)) => {
                write!(w, "HTTP/1.1 {code} Fault\r\nContent-Length: 0\r\n\r\n")?;
                continue;
            }
            Some(Fault::Garbage) => body.iter_mut().for_each(|b| *b = b.wrapping_add(1)),
            _ => {}
        }
        let full = body.len();
        let (status, start) = match range
            .as_deref()
            .and_then(|r| r.strip_prefix("bytes="))
            .and_then(|r| r.strip_suffix('-'))
        {
            Some(n) => (206, n.parse::<usize>().unwrap_or(0).min(full)),
            None => (200, 0),
        };
        let part = &body[start..];
        let reason = if status == 206 {
            "Partial Content"
        } else {
            "OK"
        };
        write!(
            w,
            "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\n",
            part.len()
        )?;
        if status == 206 {
            write!(w, "Content-Range: bytes {start}-{}/{full}\r\n", full - 1)?;
        }
        write!(w, "\r\n")?;
        match fault {
            Some(Fault::Truncate) => {
                w.write_all(&part[..part.len() / 2])?;
                w.flush()?;
                return Ok(());
            }
            Some(Fault::Slow(d)) => {
                for chunk in part.chunks(16 * 1024) {
                    w.write_all(chunk)?;
                    w.flush()?;
                    std::thread::sleep(d);
                }
            }
            _ => w.write_all(part)?,
        }
        w.flush()?;
    }
}
