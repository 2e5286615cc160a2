//! Incremental refresh: after any sequence of edits, `--refresh` leaves
//! exactly the destdir a full `--rebuild` makes, byte for byte — and it
//! rebuilds less.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use proptest::prelude::*;
use wikic::build::{BuildOptions, BuildReport, build};
use wikic::config::Config;
use wikic::setup::Setup;

/// A wiki with two build outputs: `inc` refreshed step by step, `full`
/// rebuilt from scratch each time, each with its own state directory.
struct Pair {
    dir: tempfile::TempDir,
}

impl Pair {
    fn new() -> Pair {
        let p = Pair {
            dir: tempfile::tempdir().unwrap(),
        };
        fs::create_dir_all(p.src()).unwrap();
        p
    }
    fn src(&self) -> PathBuf {
        self.dir.path().join("src")
    }
    fn config(&self, which: &str) -> Arc<Config> {
        let text = format!(
            "wikiname: test\nsrcdir: src\ndestdir: out-{which}\nwikistatedir: state-{which}\nurl: http://example.org/\nunderlaydir: ''\nadd_plugins: [goodstuff, comments, sidebar, trail]\ndisable_plugins: [smiley]\ntagbase: tags\ntimezone: UTC\nrss: 1\ncomments_pagespec: \"blog/*\"\n"
        );
        let path = self.dir.path().join(format!("{which}.yaml"));
        fs::write(&path, text).unwrap();
        Arc::new(Config::from_setup(&Setup::load(&path).unwrap()).unwrap())
    }
    fn write(&self, rel: &str, text: &str) {
        let p = self.src().join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }
    fn remove(&self, rel: &str) {
        let _ = fs::remove_file(self.src().join(rel));
    }
    fn refresh(&self) -> BuildReport {
        build(self.config("inc"), &BuildOptions::default()).unwrap()
    }
    fn rebuild(&self) -> BuildReport {
        let out = self.dir.path().join("out-full");
        let _ = fs::remove_dir_all(&out);
        build(
            self.config("full"),
            &BuildOptions {
                rebuild: true,
                ..Default::default()
            },
        )
        .unwrap()
    }
    fn tree(&self, which: &str) -> BTreeMap<String, Vec<u8>> {
        let root = self.dir.path().join(format!("out-{which}"));
        walkdir::WalkDir::new(&root)
            .into_iter()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_file())
            .map(|e| {
                (
                    e.path()
                        .strip_prefix(&root)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                    fs::read(e.path()).unwrap(),
                )
            })
            .collect()
    }
    /// Directories other than the root that are empty (left behind).
    fn empty_dirs(&self, which: &str) -> Vec<String> {
        let root = self.dir.path().join(format!("out-{which}"));
        walkdir::WalkDir::new(&root)
            .min_depth(1)
            .into_iter()
            .filter_map(|e| e.ok())
            .filter(|e| {
                e.file_type().is_dir()
                    && fs::read_dir(e.path())
                        .map(|mut d| d.next().is_none())
                        .unwrap_or(false)
            })
            .map(|e| e.path().display().to_string())
            .collect()
    }
}

fn assert_same(p: &Pair, step: &str) {
    let a = p.tree("inc");
    let b = p.tree("full");
    let only_a: Vec<&String> = a.keys().filter(|k| !b.contains_key(*k)).collect();
    let only_b: Vec<&String> = b.keys().filter(|k| !a.contains_key(*k)).collect();
    let differ: Vec<&String> = a
        .keys()
        .filter(|k| b.get(*k).is_some_and(|v| v != &a[*k]))
        .collect();
    if !(only_a.is_empty() && only_b.is_empty() && differ.is_empty()) {
        let detail = differ
            .first()
            .map(|k| {
                format!(
                    "\n--- refresh {k}:\n{}\n--- rebuild {k}:\n{}",
                    String::from_utf8_lossy(&a[*k]),
                    String::from_utf8_lossy(&b[*k])
                )
            })
            .unwrap_or_default();
        panic!(
            "after {step}: refresh and rebuild differ\nonly in refresh: {only_a:?}\nonly in rebuild: {only_b:?}\ndifferent: {differ:?}{detail}"
        );
    }
    assert!(
        p.empty_dirs("inc").is_empty(),
        "after {step}: empty directories left: {:?}",
        p.empty_dirs("inc")
    );
}

const PAGES: &[&str] = &[
    "index",
    "about",
    "blog",
    "blog/one",
    "blog/two",
    "blog/three",
    "docs/a",
    "docs/b",
    "tags/red",
    "sidebar",
];

/// One edit to the wiki.
#[derive(Debug, Clone)]
enum Op {
    Write {
        page: usize,
        body: usize,
        link: usize,
        tag: usize,
        title: bool,
    },
    Delete(usize),
    Template(usize),
    Image(bool),
    Touch(usize),
    Rename(usize, usize),
    Shortcuts(bool),
    /// A full `--rebuild` of the incremental side, between edits.
    FullBuild(usize),
    /// Adds (or removes) comment `n` on a page, linking to another.
    Comment {
        page: usize,
        n: usize,
        link: usize,
        remove: bool,
    },
}

fn body(kind: usize, link: &str, tag: &str, title: bool) -> String {
    let mut s = String::new();
    if title {
        s.push_str(&format!("[[!meta title=\"Title of {link}\"]]\n"));
    }
    match kind % 14 {
        0 => s.push_str(&format!("Plain text linking [[{link}]].\n")),
        1 => s.push_str(&format!("[[!tag {tag}]]\nTagged, and see [[{link}|{link}]].\n")),
        2 => s.push_str("[[!inline pages=\"blog/* and !*/discussion\" show=3]]\n"),
        3 => s.push_str(&format!("[[!inline pages=\"tagged({tag})\" archive=yes]]\n")),
        4 => s.push_str("[[!map pages=\"docs/* or blog/*\"]]\n"),
        5 => s.push_str(&format!("[[!template id=box text=\"boxed [[{link}]]\"]]\n\n## Head\n\n[[!toc]]\n")),
        6 => s.push_str(&format!("[[!if test=\"{link}\" then=\"there is {link}\" else=\"no {link}\"]] [[!pagecount pages=\"blog/*\"]] ![pic](pic.png)\n")),
        7 => s.push_str("Orphans: [[!orphans pages=\"blog/* or docs/*\"]]\n"),
        8 => s.push_str("Broken: [[!brokenlinks]]\n"),
        9 => s.push_str(&format!("[[!meta date=\"2020-0{}-01\"]]See [[!wp {link}]].\n", 1 + link.len() % 9)),
        10 => s.push_str(&format!("[[!sidebar content=\"Side of [[{link}]]\"]]\n")),
        11 => s.push_str(&format!("[[!trailoptions]]\n[[!traillink {link}]] [[!traillink blog/one]]\n")),
        12 => s.push_str("[[!inline pages=\"blog/*\" trail=yes show=2 actions=yes]]\n"),
        _ => s.push_str("[[!inline pages=\"blog/*\" sort=\"meta(title)\" template=titlepage]]\n"),
    }
    s
}

fn apply(p: &Pair, op: &Op) {
    let tags = ["red", "green", "blue"];
    match op {
        Op::Write { page, body: b, link, tag, title } => {
            let page = PAGES[page % PAGES.len()];
            let link = PAGES[link % PAGES.len()].rsplit('/').next().unwrap();
            p.write(&format!("{page}.mdwn"), &body(*b, link, tags[tag % 3], *title));
        }
        Op::Delete(i) => p.remove(&format!("{}.mdwn", PAGES[i % PAGES.len()])),
        Op::Template(v) => p.write(
            "templates/box.mdwn",
            &format!("[[!templatebody <<EOT\n<div class=\"box{v}\"><TMPL_VAR text></div>\nEOT]]\nA box template.\n"),
        ),
        Op::Image(present) => {
            if *present {
                p.write("pic.png", "\u{89}PNG fake image data");
            } else {
                p.remove("pic.png");
            }
        }
        Op::Touch(i) => {
            let path = p.src().join(format!("{}.mdwn", PAGES[i % PAGES.len()]));
            if let Ok(text) = fs::read(&path) {
                fs::write(&path, text).unwrap();
            }
        }
        Op::FullBuild(i) => {
            p.remove(&format!("{}.mdwn", PAGES[i % PAGES.len()]));
            build(
                p.config("inc"),
                &BuildOptions {
                    rebuild: true,
                    ..Default::default()
                },
            )
            .unwrap();
        }
        Op::Shortcuts(defined) => {
            let wp = if *defined {
                "* [[!shortcut name=wp url=\"https://en.wikipedia.org/wiki/%W\"]]\n"
            } else {
                ""
            };
            p.write("shortcuts.mdwn", &format!("{wp}* [[!shortcut name=deb url=\"https://packages.debian.org/%s\"]]\n"));
        }
        Op::Comment { page, n, link, remove } => {
            let page = PAGES[page % PAGES.len()];
            let path = format!("{page}/comment_{n}_x._comment");
            if *remove {
                p.remove(&path);
            } else {
                let link = PAGES[link % PAGES.len()];
                p.write(
                    &path,
                    &format!("[[!comment format=mdwn username=\"u{n}\" subject=\"S{n}\" date=\"2021-01-0{}\" content=\"\"\"Re [[{link}]]\"\"\"]]\n", 1 + n % 9),
                );
            }
        }
        Op::Rename(a, b) => {
            let from = p.src().join(format!("{}.mdwn", PAGES[a % PAGES.len()]));
            let to = p.src().join(format!("{}.mdwn", PAGES[b % PAGES.len()]));
            if from.exists() && from != to {
                fs::create_dir_all(to.parent().unwrap()).unwrap();
                fs::rename(from, to).unwrap();
            }
        }
    }
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0..10usize, 0..14usize, 0..10usize, 0..3usize, any::<bool>())
            .prop_map(|(page, body, link, tag, title)| Op::Write { page, body, link, tag, title }),
        1 => (0..10usize).prop_map(Op::Delete),
        1 => (0..3usize).prop_map(Op::Template),
        1 => any::<bool>().prop_map(Op::Image),
        1 => (0..10usize).prop_map(Op::Touch),
        1 => (0..10usize, 0..10usize).prop_map(|(a, b)| Op::Rename(a, b)),
        1 => any::<bool>().prop_map(Op::Shortcuts),
        1 => (0..10usize).prop_map(Op::FullBuild),
        2 => (0..10usize, 0..3usize, 0..10usize, any::<bool>())
            .prop_map(|(page, n, link, remove)| Op::Comment { page, n, link, remove }),
    ]
}

fn seed(p: &Pair) {
    for (i, page) in PAGES.iter().enumerate() {
        let link = PAGES[(i * 5 + 1) % PAGES.len()].rsplit('/').next().unwrap();
        p.write(
            &format!("{page}.mdwn"),
            &body(i, link, ["red", "green", "blue"][i % 3], i % 2 == 0),
        );
    }
    apply(p, &Op::Template(0));
    apply(p, &Op::Image(true));
}

fn cases() -> u32 {
    std::env::var("REFRESH_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(32)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), max_shrink_iters: 50, ..ProptestConfig::default() })]

    #[test]
    fn refresh_equals_rebuild(ops in prop::collection::vec(op(), 1..10)) {
        let p = Pair::new();
        seed(&p);
        p.refresh();
        p.rebuild();
        assert_same(&p, "the first build");
        for (i, op) in ops.iter().enumerate() {
            apply(&p, op);
            p.refresh();
            p.rebuild();
            assert_same(&p, &format!("step {i}: {op:?}"));
        }
    }
}

#[test]
fn refresh_renders_only_what_changed() {
    let p = Pair::new();
    p.write("index.mdwn", "Welcome.\n");
    for i in 0..20 {
        p.write(
            &format!("extra/p{i}.mdwn"),
            &format!("Page {i}, no links.\n"),
        );
    }
    // An internal source and a raw file, for the counts below.
    p.write(
        "extra/p0/comment_1._comment",
        "[[!comment content=\"hi\"]]\n",
    );
    p.write("extra/notes.txt.raw", "raw\n");
    let first = p.refresh();
    assert!(first.full);
    let again = p.refresh();
    assert!(again.up_to_date, "nothing changed, nothing to do");
    assert_eq!(
        (again.pages, again.files),
        (first.pages, first.files),
        "the same pages and files reported, internal sources not among them"
    );
    // Editing a page nothing else depends on renders that page only.
    std::thread::sleep(std::time::Duration::from_millis(10));
    p.write("extra/p3.mdwn", "Page 3, edited.\n");
    let r = p.refresh();
    assert!(!r.full);
    assert_eq!(r.rendered, 1, "only the edited page");
    // A new page linked from elsewhere renders it and its linkers.
    p.write("extra/p4.mdwn", "Now links [[p5]].\n");
    let r = p.refresh();
    assert_eq!(
        r.rendered, 2,
        "the edited page and the page it now links to (backlinks)"
    );
    // Pages using shortcuts are not rebuilt when the shortcuts page is
    // re-rendered only for its backlinks ...
    p.write(
        "shortcuts.mdwn",
        "[[!shortcut name=bug url=\"https://bugs.example.org/%s\"]]\n",
    );
    p.write("extra/p6.mdwn", "See [[!bug 42]].\n");
    p.refresh();
    p.write("extra/p7.mdwn", "Now links [[shortcuts]].\n");
    let r = p.refresh();
    assert_eq!(r.rendered, 2, "p7 and the shortcuts page");
    // ... but all are when the shortcuts change.
    p.write(
        "shortcuts.mdwn",
        "[[!shortcut name=bug url=\"https://bugs.example.net/%s\"]]\n",
    );
    let r = p.refresh();
    assert!(r.rendered >= 3, "every page: {}", r.rendered);
    let p6 = fs::read_to_string(p.dir.path().join("out-inc/extra/p6/index.html")).unwrap();
    assert!(p6.contains("https://bugs.example.net/42"), "{p6}");
    p.rebuild();
    assert_same(&p, "the edits");
}

#[test]
fn deleted_pages_lose_their_outputs() {
    let p = Pair::new();
    seed(&p);
    p.write(
        "gone/deep/page.mdwn",
        "[[!inline pages=\"blog/*\" rss=yes]]\n",
    );
    p.refresh();
    let out = p.dir.path().join("out-inc");
    assert!(out.join("gone/deep/page/index.html").exists());
    assert!(out.join("gone/deep/page/index.rss").exists());
    p.remove("gone/deep/page.mdwn");
    p.refresh();
    assert!(
        !out.join("gone").exists(),
        "outputs and emptied directories removed"
    );
    p.rebuild();
    assert_same(&p, "deleting a page");
}

#[test]
fn corrupt_index_means_full_rebuild() {
    let p = Pair::new();
    seed(&p);
    p.refresh();
    let index = p.dir.path().join("state-inc/index");
    let pristine = fs::read(&index).unwrap();
    // Damage in the manifest (just after the 36-byte header) is found at
    // once.
    let mut bytes = pristine.clone();
    bytes[40] ^= 0x55;
    fs::write(&index, bytes).unwrap();
    assert!(p.refresh().full, "a damaged manifest is not trusted");
    // Damage in the records is found when a change needs them.
    p.refresh();
    let mut bytes = fs::read(&index).unwrap();
    let n = bytes.len();
    bytes[n - 10] ^= 0x55;
    fs::write(&index, bytes).unwrap();
    p.write("index.mdwn", "changed [[blog/one]]\n");
    let r = p.refresh();
    assert!(r.full, "damaged records are not trusted");
    fs::write(&index, b"garbage").unwrap();
    assert!(p.refresh().full);
    p.rebuild();
    assert_same(&p, "rebuilding over a damaged index");
}

#[test]
fn setup_change_means_full_rebuild() {
    let p = Pair::new();
    seed(&p);
    p.refresh();
    assert!(p.refresh().up_to_date);
    let text = fs::read_to_string(p.dir.path().join("inc.yaml")).unwrap();
    let path = p.dir.path().join("inc2.yaml");
    fs::write(&path, text.replace("wikiname: test", "wikiname: renamed")).unwrap();
    let config = Arc::new(Config::from_setup(&Setup::load(&path).unwrap()).unwrap());
    let r = build(config, &BuildOptions::default()).unwrap();
    assert!(r.full);
}

#[allow(dead_code)]
fn exists(p: &Path) -> bool {
    p.exists()
}

#[test]
fn warnings_are_repeated_while_their_cause_remains() {
    let p = Pair::new();
    seed(&p);
    p.write("bad name.mdwn", "spaces are not allowed in source names\n");
    let first = p.refresh();
    let bad = |r: &BuildReport| r.warnings.iter().any(|w| w.contains("bad name.mdwn"));
    assert!(bad(&first), "warned: {:?}", first.warnings);
    // Nothing changed: the listing is not read again, and the warning
    // still comes (from the index).
    std::thread::sleep(std::time::Duration::from_millis(10));
    let again = p.refresh();
    assert!(again.up_to_date);
    assert!(bad(&again), "warned again: {:?}", again.warnings);
    p.remove("bad name.mdwn");
    let fixed = p.refresh();
    assert!(!bad(&fixed), "no warning once fixed: {:?}", fixed.warnings);
}

#[test]
fn an_edit_in_the_same_clock_tick_is_not_missed() {
    // The file is changed right after the build that indexed it, keeping
    // its size and (on coarse clocks) its time: only its content shows it.
    let p = Pair::new();
    seed(&p);
    p.write("same.mdwn", "version A\n");
    p.refresh();
    let path = p.src().join("same.mdwn");
    let before = fs::metadata(&path).unwrap().modified().unwrap();
    fs::write(&path, "version B\n").unwrap();
    fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(before)
        .unwrap();
    p.refresh();
    let out = fs::read_to_string(p.dir.path().join("out-inc/same/index.html")).unwrap();
    assert!(out.contains("version B"), "{out}");
}

/// Sets the modification time of every directory under `root` an hour
/// back, as if the wiki had not been touched for a while (a directory
/// changed within the racy window is read again on every refresh).
fn age_directories(root: &Path) {
    let then = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    for e in walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(|e| e.ok())
    {
        if e.file_type().is_dir() {
            fs::File::open(e.path())
                .unwrap()
                .set_modified(then)
                .unwrap();
        }
    }
}

fn dirs_segment(p: &Pair) -> Vec<(String, std::time::SystemTime)> {
    let mut v: Vec<_> = fs::read_dir(p.dir.path().join("state-inc"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("index-dirs-"))
        .map(|e| {
            let t = e.metadata().unwrap().modified().unwrap();
            (e.file_name().to_string_lossy().into_owned(), t)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn an_edit_keeps_the_listings_and_later_changes_to_them_are_seen() {
    // After an edit with every directory as it was, the directory records
    // are not decoded and their segment is kept as it is; it must still
    // describe the directories, so that a page added later is found.
    let p = Pair::new();
    seed(&p);
    p.write("sub/deep/one.mdwn", "One.\n");
    p.refresh();
    // (The generated tag pages' underlay, in the state directory, too.)
    age_directories(p.dir.path());
    p.refresh(); // records the aged directories
    let kept = dirs_segment(&p);
    assert_eq!(kept.len(), 1, "{kept:?}");

    p.write("sub/deep/one.mdwn", "One, edited.\n");
    let r = p.refresh();
    assert!(!r.full && !r.up_to_date);
    assert_eq!(
        dirs_segment(&p),
        kept,
        "the listings' segment was written again"
    );
    p.rebuild();
    assert_same(&p, "edit with every listing current");

    p.write("sub/deep/two.mdwn", "Two links to [[one]].\n");
    p.refresh();
    assert!(
        p.dir
            .path()
            .join("out-inc/sub/deep/two/index.html")
            .exists()
    );
    p.rebuild();
    assert_same(&p, "page added after the listings were kept");
    p.remove("sub/deep/one.mdwn");
    p.refresh();
    p.rebuild();
    assert_same(&p, "page removed after the listings were kept");
}
