//! The rules every manifest value is judged by, one pure function each.
//!
//! Why one place: a value is judged twice, by `validate` (before any
//! download, with the file:line:col of its key) and defensively by the
//! build step that uses it (`tree::customize::*`). If each side had its
//! own copy of a rule they would drift, and `validate` would say "ok" to a
//! manifest the build then refuses an hour later. So both call these
//! functions, and a rule changes in exactly one place.
//!
//! Each rule returns a `Refusal`: a lowercase message naming the value,
//! and a hint where the fix is not obvious. `Refusal` is a
//! `std::error::Error`, so build code uses `?` on it directly.

mod kickstart;
mod names;
mod net;
pub mod pem;
mod scripts;
mod text;

pub use kickstart::*;
pub use names::*;
pub use net::*;
pub use scripts::*;
pub use text::*;

use std::fmt;

/// Why a value is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub message: String,
    pub hint: Option<String>,
}

impl Refusal {
    pub fn new(message: impl Into<String>) -> Refusal {
        Refusal {
            message: message.into(),
            hint: None,
        }
    }

    pub fn hint(mut self, h: impl Into<String>) -> Refusal {
        self.hint = Some(h.into());
        self
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refusal {}

/// What every rule returns.
pub type Rule<T = ()> = Result<T, Refusal>;

/// `Err(Refusal::new(...))` in one word.
pub(crate) fn refuse<T>(message: impl Into<String>) -> Rule<T> {
    Err(Refusal::new(message))
}

#[cfg(test)]
mod tests;
