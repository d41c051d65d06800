//! The libsolv wrapper is sound for every input: a deterministic
//! randomized drive (seeded, no extra dependency) with arbitrary ids,
//! strings, flags and files. Every call must return (Ok or a sensible
//! error); a crash fails the whole test binary.

use alma_image_builder::resolve::solv::{Action, Job, Pool, SolvError, SEL_GLOB, SEL_NAME};
use std::path::Path;

const PRIMARY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="3">
<package type="rpm"><name>a</name><arch>noarch</arch><version epoch="0" ver="1" rel="1"/>
 <checksum type="sha256" pkgid="YES">aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa</checksum><location href="a.rpm"/>
 <format><rpm:provides><rpm:entry name="a" flags="EQ" epoch="0" ver="1" rel="1"/></rpm:provides>
 <rpm:requires><rpm:entry name="b"/><rpm:entry name="/usr/bin/c-tool"/></rpm:requires></format></package>
<package type="rpm"><name>b</name><arch>x86_64</arch><version epoch="1" ver="2" rel="3"/>
 <checksum type="sha256" pkgid="YES">bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb</checksum><location href="b.rpm"/>
 <format><rpm:provides><rpm:entry name="b"/></rpm:provides><rpm:obsoletes><rpm:entry name="old-b"/></rpm:obsoletes></format></package>
<package type="rpm"><name>c</name><arch>x86_64</arch><version epoch="0" ver="1" rel="1"/>
 <checksum type="sha256" pkgid="YES">cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc</checksum><location href="c.rpm"/>
 <format><file>/usr/bin/c-tool</file></format></package>
</metadata>"#;

/// xorshift64*: deterministic, seeded.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn id(&mut self) -> i32 {
        match self.next() % 6 {
            0 => i32::MIN + (self.next() % 4) as i32,
            1 => i32::MAX - (self.next() % 4) as i32,
            2 => -((self.next() % 100) as i32),
            3 => (self.next() % 8) as i32,
            _ => self.next() as i32,
        }
    }
    fn string(&mut self) -> String {
        let pool = [
            "a", "b", "*", "?", "/", "usr", "bin", "\0", ">=", " ", "é", ".", "-", ":", "[", "(",
            "if", "%", "\\", "1",
        ];
        let n = self.next() % 12;
        (0..n)
            .map(|_| pool[(self.next() % pool.len() as u64) as usize])
            .collect()
    }
}

fn pool(dir: &Path) -> Pool {
    let f = dir.join("primary.xml");
    std::fs::write(&f, PRIMARY).unwrap();
    let mut p = Pool::new("x86_64");
    let mut r = p.add_repo("t", 0, 0);
    r.load_rpmmd(&f, false).unwrap();
    r.internalize();
    p
}

#[test]
fn arbitrary_ids_strings_and_flags_never_crash() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = pool(dir.path());
    let n = p.len() as i32;
    assert_eq!(n, 5, "two reserved + three packages");
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    for _ in 0..20_000 {
        let id = rng.id();
        let valid = (2..n).contains(&id);
        match p.solvable(id) {
            Ok(s) => {
                assert!(valid, "{id} accepted");
                assert!(!s.name().is_empty() && !s.display().is_empty());
                let _ = (
                    s.evr(),
                    s.arch(),
                    s.location(),
                    s.checksum(),
                    s.repo(),
                    s.download_size(),
                );
            }
            Err(e) => {
                assert!(!valid, "{id} refused");
                assert_eq!(e, SolvError::NoSolvable(id));
            }
        }
        assert_eq!(p.obsoleters(id).is_ok(), valid);
        let mut job = Job::new();
        assert_eq!(
            p.job_one_of(&mut job, Action::InstallBest, &[id]).is_ok(),
            valid
        );
        p.hide(&[id, rng.id()]);
        let s = rng.string();
        let flags = (rng.next() & 0xffff) as i32;
        match p.select(&s, flags) {
            Ok(sel) => {
                for q in p.selection_ids(&sel).unwrap() {
                    assert!(p.solvable(q).is_ok(), "{q} from a selection");
                }
            }
            Err(e) => assert_eq!(e, SolvError::Flags(flags)),
        }
        let _ = p.knows(&s);
        p.show_all();
    }
}

#[test]
fn chains_jobs_and_selections_check_their_pool() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = pool(dir.path());
    let mut other = pool(dir.path());
    // A selection or job of another pool is refused.
    let sel = other.select("a", SEL_NAME).unwrap();
    assert!(matches!(p.selection_ids(&sel), Err(SolvError::Stale(_))));
    let mut job = Job::new();
    other.job_one_of(&mut job, Action::Install, &[2]).unwrap();
    assert!(matches!(p.solve(&job, true), Err(SolvError::Stale(_))));
    // Installing a chain with a bad id changes nothing.
    assert_eq!(p.install_chain(&[2, 99]), Err(SolvError::NoSolvable(99)));
    // A real chain: copies exist, then go; old selections turn stale.
    let sel = p.select("*", SEL_NAME | SEL_GLOB).unwrap();
    assert_eq!(p.selection_ids(&sel).unwrap().len(), 3);
    let copies = p.install_chain(&[3]).unwrap();
    assert_eq!(copies.len(), 1);
    assert!(p.in_chain(copies.start));
    assert_eq!(p.solvable(copies.start).unwrap().name(), "b");
    assert!(matches!(p.selection_ids(&sel), Err(SolvError::Stale(_))));
    // Solving over the chain: a's deps (b installed, c by file) resolve.
    let mut job = Job::new();
    p.job_one_of(&mut job, Action::InstallBest, &[2]).unwrap();
    let solved = p.solve(&job, true).unwrap();
    assert_eq!(solved.problem_count(), 0, "{:?}", solved.problems());
    let names: Vec<String> = solved
        .installs()
        .iter()
        .map(|&i| solved.pool.solvable(i).unwrap().name())
        .collect();
    assert_eq!(names, ["c", "a"], "b is installed already");
    drop(solved);
    p.uninstall_chain();
    assert!(p.solvable(copies.start).is_err(), "copies freed");
    assert!(matches!(p.solve(&job, true), Err(SolvError::Stale(_))));
    assert_eq!(p.len(), 5);
}

#[test]
fn bad_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = Pool::new("x86_64");
    let mut r = p.add_repo("t", 0, 0);
    assert!(r
        .load_rpmmd(&dir.path().join("missing.xml"), false)
        .is_err());
    let junk = dir.path().join("junk.xml");
    std::fs::write(&junk, b"\x00\xffnot xml <<<").unwrap();
    assert!(r.load_rpmmd(&junk, false).is_err());
    assert!(r.load_solv(&junk).is_err());
    let nul = Path::new("with\0nul");
    assert!(r.load_solv(nul).is_err());
    r.internalize();
    assert!(p.prepare_unresolved_files().is_empty());
    assert!(p.solvable(2).is_err());
}
