//! How layer blobs are compressed, by name (`[output.oci] compression`)
//! and by media type. Part of the OCI model, so the plan can judge the
//! name without reaching into the image builder.

use super::image::{MEDIA_LAYER, MEDIA_LAYER_GZIP, MEDIA_LAYER_ZSTD};
use crate::error::InputError;
use anyhow::Result;

/// How layer blobs are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
    None,
}

impl std::str::FromStr for Compression {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "gzip" => Ok(Compression::Gzip),
            "zstd" => Ok(Compression::Zstd),
            "none" => Ok(Compression::None),
            _ => Err(InputError(format!(
                "{s:?}: unknown layer compression (expected gzip, zstd or none)"
            ))
            .into()),
        }
    }
}

impl Compression {
    pub fn media_type(self) -> &'static str {
        match self {
            Compression::Gzip => MEDIA_LAYER_GZIP,
            Compression::Zstd => MEDIA_LAYER_ZSTD,
            Compression::None => MEDIA_LAYER,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_names() {
        assert_eq!("zstd".parse::<Compression>().unwrap(), Compression::Zstd);
        assert_eq!(
            "gzip".parse::<Compression>().unwrap().media_type(),
            MEDIA_LAYER_GZIP
        );
        let e = "lz4".parse::<Compression>().unwrap_err();
        assert!(e.downcast_ref::<InputError>().is_some());
    }
}
