//! Crash safety and locking: a build killed at any moment leaves nothing
//! half-written, and the next refresh produces exactly a clean rebuild's
//! destdir; two builds of one wiki never run at once.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Wiki {
    dir: tempfile::TempDir,
}

impl Wiki {
    /// A generated wiki big enough that a build takes a while.
    fn generated(pages: usize) -> Wiki {
        let w = Wiki {
            dir: tempfile::tempdir().unwrap(),
        };
        for i in 0..pages {
            let sec = i % 20;
            let text = format!(
                "[[!meta title=\"Page {i}\"]]\nPage {i} in [[s{sec}]], see [[p{}]] and [[p{}]].\n\n[[!tag t{}]]\n",
                (i * 7 + 3) % pages,
                (i * 13 + 5) % pages,
                i % 9
            );
            w.write(&format!("s{sec}/p{i}.mdwn"), &text);
        }
        for s in 0..20 {
            w.write(
                &format!("s{s}.mdwn"),
                &format!("[[!inline pages=\"s{s}/*\" archive=yes]]\n[[!map pages=\"s{s}/*\"]]\n"),
            );
        }
        for t in 0..9 {
            w.write(
                &format!("tags/t{t}.mdwn"),
                &format!("[[!inline pages=\"tagged(t{t})\" archive=yes show=0]]\n"),
            );
        }
        w.write("index.mdwn", "[[!pagecount]] pages. [[!orphans]]\n");
        for which in ["inc", "full"] {
            fs::write(
                w.dir.path().join(format!("{which}.yaml")),
                format!("srcdir: src\ndestdir: out-{which}\nwikistatedir: state-{which}\nurl: http://example.org/\nunderlaydir: ''\nadd_plugins: [goodstuff]\ndisable_plugins: [smiley]\ntagbase: tags\ntimezone: UTC\n"),
            )
            .unwrap();
        }
        w
    }
    fn write(&self, rel: &str, text: &str) {
        let p = self.dir.path().join("src").join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }
    fn setup(&self, which: &str) -> PathBuf {
        self.dir.path().join(format!("{which}.yaml"))
    }
    fn wikic(&self, which: &str, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_wikic"));
        c.arg("--setup").arg(self.setup(which)).args(args);
        c.stdout(Stdio::null()).stderr(Stdio::piped());
        c
    }
    fn run(&self, which: &str, args: &[&str]) {
        let o = self.wikic(which, args).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    fn tree(&self, which: &str) -> BTreeMap<String, Vec<u8>> {
        tree(&self.dir.path().join(format!("out-{which}")))
    }
}

fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            (
                e.path()
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

/// A small deterministic random sequence.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn killed_builds_leave_a_correct_site_after_the_next_refresh() {
    let w = Wiki::generated(600);
    // How long a full build takes here, to aim the kills inside builds.
    let t = Instant::now();
    w.run("inc", &[]);
    let full = t.elapsed().max(Duration::from_millis(20));
    let mut rng = Rng(0x5eed);
    let rounds = std::env::var("CRASH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(12);
    for round in 0..rounds {
        // Change something, so the killed build has work to do.
        let i = rng.next() % 600;
        match rng.next() % 4 {
            0 => w.write(
                &format!("s{}/p{i}.mdwn", i % 20),
                &format!(
                    "Rewritten {round}, now linking [[p{}]].\n",
                    rng.next() % 600
                ),
            ),
            1 => {
                let _ = fs::remove_file(w.dir.path().join(format!("src/s{}/p{i}.mdwn", i % 20)));
            }
            2 => w.write(
                &format!("s{}/new{round}.mdwn", i % 20),
                "A new page. [[!tag t1]]\n",
            ),
            _ => w.write(
                &format!("tags/t{}.mdwn", i % 9),
                &format!("Tag page {round}.\n"),
            ),
        }
        let args: &[&str] = if round % 3 == 0 {
            &["--rebuild"]
        } else {
            &["--refresh"]
        };
        let mut child = w.wikic("inc", args).spawn().unwrap();
        let delay = Duration::from_micros(rng.next() % (full.as_micros() as u64 + 1));
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        // The next refresh repairs everything.
        w.run("inc", &["--refresh"]);
        let _ = fs::remove_dir_all(w.dir.path().join("out-full"));
        w.run("full", &["--rebuild"]);
        let (a, b) = (w.tree("inc"), w.tree("full"));
        let differ: Vec<&String> = a
            .keys()
            .chain(b.keys())
            .filter(|k| a.get(*k) != b.get(*k))
            .collect();
        if let Some(k) = differ.first() {
            panic!(
                "round {round} (killed after {delay:?}): {differ:?}\n--- refresh:\n{}\n--- rebuild:\n{}",
                a.get(*k)
                    .map(|v| String::from_utf8_lossy(v).into_owned())
                    .unwrap_or_default(),
                b.get(*k)
                    .map(|v| String::from_utf8_lossy(v).into_owned())
                    .unwrap_or_default()
            );
        }
        assert!(
            !a.keys().any(|k| k.ends_with(".wikic-new")),
            "temporary files left"
        );
    }
}

#[test]
fn a_second_build_waits_for_the_first() {
    let w = Wiki::generated(800);
    w.run("inc", &[]);
    w.write("s1/p1.mdwn", "Edited while nothing runs.\n");
    let first = w.wikic("inc", &["--rebuild"]).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(5));
    // This one must wait for the lock, then refresh.
    let second = w.wikic("inc", &["--refresh"]).output().unwrap();
    let first = first.wait_with_output().unwrap();
    assert!(first.status.success() && second.status.success());
    let _ = fs::remove_dir_all(w.dir.path().join("out-full"));
    w.run("full", &["--rebuild"]);
    assert!(w.tree("inc") == w.tree("full"));
}

#[test]
fn a_queued_build_is_not_lost() {
    let w = Wiki::generated(2000);
    w.run("inc", &[]);
    let mut first = w.wikic("inc", &["--rebuild"]).spawn().unwrap();
    // Wait until the first build holds the lock.
    // (The lock file holds the builder's process id while it builds.)
    let lock = w.dir.path().join("state-inc/lock");
    let building = || fs::metadata(&lock).is_ok_and(|m| m.len() > 0);
    let t = Instant::now();
    while !building() && t.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(1));
    }
    // A commit lands during the build; the hook queues another pass.
    w.write("s2/p2.mdwn", "Landed during the build.\n");
    let queued = w
        .wikic("inc", &["--refresh", "--queue-if-busy", "--verbose"])
        .output()
        .unwrap();
    assert!(queued.status.success());
    let said = String::from_utf8_lossy(&queued.stderr);
    assert!(
        said.contains("another pass"),
        "the hook did not wait: {said}"
    );
    assert!(first.wait().unwrap().success());
    let page = fs::read_to_string(w.dir.path().join("out-inc/s2/p2/index.html")).unwrap();
    assert!(
        page.contains("Landed during the build."),
        "the queued change was built"
    );
}

#[test]
fn an_interrupted_build_is_noticed_from_the_lock_file_or_an_old_marker() {
    let w = Wiki::generated(30);
    w.run("inc", &[]);
    let state = w.dir.path().join("state-inc");
    let lock = state.join("lock");
    assert_eq!(
        fs::metadata(&lock).unwrap().len(),
        0,
        "a finished build clears its mark"
    );
    let refresh = || {
        let o = w
            .wikic("inc", &["--refresh", "--verbose"])
            .output()
            .unwrap();
        assert!(o.status.success());
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let page = w.dir.path().join("out-inc/s1/p1/index.html");
    // (Its date may change with the touch: the page itself is checked.)
    let good = || fs::read_to_string(&page).unwrap().contains("Page 1 in");
    // What a killed build can leave: the output of a page it rendered
    // differs from what the index records, and the page's source is
    // back to what the index describes, only touched.
    let source = fs::read_to_string(w.dir.path().join("src/s1/p1.mdwn")).unwrap();
    let damage = || {
        fs::write(&page, "another build's output").unwrap();
        std::thread::sleep(Duration::from_millis(20));
        w.write("s1/p1.mdwn", &source);
    };
    // The lock file holds a builder's process id: that build was killed.
    fs::write(&lock, "12345").unwrap();
    damage();
    let said = refresh();
    assert!(said.contains("interrupted"), "{said}");
    assert!(good(), "the output is rewritten");
    assert_eq!(fs::metadata(&lock).unwrap().len(), 0);
    // The marker file older versions of wikic left counts too.
    fs::write(state.join("building"), "12345").unwrap();
    damage();
    let said = refresh();
    assert!(said.contains("interrupted"), "{said}");
    assert!(good());
    assert!(
        !state.join("building").exists(),
        "the old marker is removed"
    );
    assert!(!refresh().contains("interrupted"));
}
