//! primary.xml and filelists.xml through libsolv, as the resolver loads
//! them (the first byte picks which). libsolv is C and not instrumented
//! here; a crash or hang in it still shows.
#![no_main]

use alma_image_builder::resolve::solv::Pool;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("md.xml");
    std::fs::write(&p, rest).unwrap();
    let mut pool = Pool::new("x86_64");
    {
        let mut r = pool.add_repo("fuzz", 0, 0);
        if which % 2 == 1 {
            let _ = r.load_rpmmd(&p, false);
        }
        let _ = r.load_rpmmd(&p, which % 2 == 1);
        r.internalize();
    }
    pool.prepare();
    let _ = pool.prepare_unresolved_files();
});
