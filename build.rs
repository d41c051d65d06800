//! Compiles csrc/solv_shim.c (our narrow C face over libsolv) and links
//! libsolv and libsolvext (Debian: libsolv-dev, libsolvext-dev; AlmaLinux:
//! libsolv-devel).

fn main() {
    println!("cargo:rerun-if-changed=csrc/solv_shim.c");
    cc::Build::new()
        .file("csrc/solv_shim.c")
        .warnings(true)
        .flag_if_supported("-Wno-unused-parameter")
        .compile("ib_solv_shim");
    println!("cargo:rustc-link-lib=solvext");
    println!("cargo:rustc-link-lib=solv");
}
