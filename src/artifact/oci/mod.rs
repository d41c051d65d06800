//! OCI images (bootc containers): image layouts and archives, layer tars
//! chunked by package, image config/manifest/index. (Being written; see
//! issue 6.)
