//! Byte sizes as manifests write them: an integer number of bytes, or a
//! string with a unit ("10 GiB", "512MiB", "2G", "1.5 TiB").
//!
//! osbuild blueprints accept both forms (`minsize = 2147483648` and
//! `minsize = "2 GiB"`), so we do too. Decimal units (kB, MB, GB, TB) are
//! powers of 1000 and binary units (KiB, MiB, GiB, TiB) powers of 1024, as in
//! osbuild; a bare "G"/"M"/"K" is read as binary, as parted and lvm do.

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A size in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Size(pub u64);

const UNITS: &[(&str, u64)] = &[
    ("b", 1),
    ("k", 1 << 10),
    ("kb", 1_000),
    ("kib", 1 << 10),
    ("m", 1 << 20),
    ("mb", 1_000_000),
    ("mib", 1 << 20),
    ("g", 1 << 30),
    ("gb", 1_000_000_000),
    ("gib", 1 << 30),
    ("t", 1 << 40),
    ("tb", 1_000_000_000_000),
    ("tib", 1 << 40),
];

impl Size {
    pub const KIB: u64 = 1 << 10;
    pub const MIB: u64 = 1 << 20;
    pub const GIB: u64 = 1 << 30;

    pub fn bytes(self) -> u64 {
        self.0
    }

    pub fn mib(n: u64) -> Size {
        Size(n * Self::MIB)
    }

    pub fn gib(n: u64) -> Size {
        Size(n * Self::GIB)
    }

    /// Parses "10 GiB", "512MiB", "1.5 G", "4096". Errors are short
    /// sentences meant to follow "invalid size: ".
    pub fn parse(s: &str) -> Result<Size, String> {
        let t = s.trim();
        if t.is_empty() {
            return Err("empty size".into());
        }
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let num = num.replace('_', "");
        let unit = unit.trim().to_ascii_lowercase();
        if num.is_empty() {
            return Err(format!("\"{s}\" does not start with a number"));
        }
        let mult = UNITS
            .iter()
            .find(|(u, _)| *u == unit || (unit.is_empty() && *u == "b"))
            .map(|(_, m)| *m)
            .ok_or_else(|| {
                format!(
                    "unknown unit \"{}\" in \"{s}\" (use B, KiB, MiB, GiB, TiB, kB, MB, GB or TB)",
                    unit.trim()
                )
            })?;
        if let Some((int, frac)) = num.split_once('.') {
            if frac.contains('.') || (int.is_empty() && frac.is_empty()) {
                return Err(format!("\"{s}\" is not a number"));
            }
            let int: u64 = if int.is_empty() {
                0
            } else {
                int.parse().map_err(|_| format!("\"{s}\" is too large"))?
            };
            let frac_digits = frac.len().min(9) as u32;
            let frac_val: u64 = if frac.is_empty() {
                0
            } else {
                frac[..frac_digits as usize]
                    .parse()
                    .map_err(|_| format!("\"{s}\" is not a number"))?
            };
            let whole = int
                .checked_mul(mult)
                .ok_or_else(|| format!("\"{s}\" is too large"))?;
            let part = (frac_val as u128 * mult as u128) / 10u128.pow(frac_digits);
            let total = whole as u128 + part;
            if total > u64::MAX as u128 {
                return Err(format!("\"{s}\" is too large"));
            }
            if mult == 1 && !frac.trim_end_matches('0').is_empty() {
                return Err(format!("\"{s}\" is a fraction of a byte"));
            }
            Ok(Size(total as u64))
        } else {
            let n: u64 = num.parse().map_err(|_| format!("\"{s}\" is too large"))?;
            n.checked_mul(mult)
                .map(Size)
                .ok_or_else(|| format!("\"{s}\" is too large"))
        }
    }
}

impl fmt::Display for Size {
    /// The largest binary unit that divides the size exactly ("10 GiB",
    /// "1536 MiB"), else bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        for (unit, m) in [
            ("TiB", 1u64 << 40),
            ("GiB", 1 << 30),
            ("MiB", 1 << 20),
            ("KiB", 1 << 10),
        ] {
            if n >= m && n % m == 0 {
                return write!(f, "{} {unit}", n / m);
            }
        }
        write!(f, "{n} B")
    }
}

impl Serialize for Size {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Size, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Size;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size: a number of bytes or a string such as \"10 GiB\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Size, E> {
                Ok(Size(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Size, E> {
                u64::try_from(v)
                    .map(Size)
                    .map_err(|_| E::custom(format!("invalid size: {v} is negative")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Size, E> {
                Err(E::custom(format!(
                    "invalid size: {v} is not a whole number of bytes (write a string such as \"1.5 GiB\")"
                )))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Size, E> {
                Size::parse(v).map_err(|e| E::custom(format!("invalid size: {e}")))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_table() {
        let cases: &[(&str, u64)] = &[
            ("4096", 4096),
            ("10 GiB", 10 << 30),
            ("10GiB", 10 << 30),
            ("10 gib", 10 << 30),
            ("512 MiB", 512 << 20),
            ("2G", 2 << 30),
            ("1 GB", 1_000_000_000),
            ("1.5 GiB", 3 << 29),
            ("20 kB", 20_000),
            ("1_000 B", 1000),
            ("1 TiB", 1 << 40),
        ];
        for (s, want) in cases {
            assert_eq!(Size::parse(s), Ok(Size(*want)), "{s}");
        }
    }

    #[test]
    fn rejects_table() {
        for s in [
            "",
            "GiB",
            "10 parsecs",
            "1.2.3 GiB",
            "99999999999999999999",
            "20000000 TiB",
            "0.5 B",
            "-1 GiB",
        ] {
            assert!(Size::parse(s).is_err(), "{s} should fail");
        }
    }

    #[test]
    fn displays_largest_exact_unit() {
        assert_eq!(Size(10 << 30).to_string(), "10 GiB");
        assert_eq!(Size(1536 << 20).to_string(), "1536 MiB");
        assert_eq!(Size(1000).to_string(), "1000 B");
    }
}
