//! wikic on git wikis, with the real `git` binary and repositories in
//! temporary directories: page times from history (checked against
//! `git log`), and the recentchanges page.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use wikic::build::{BuildOptions, build};
use wikic::config::Config;
use wikic::setup::Setup;

fn git(dir: &Path, args: &[&str], date: Option<i64>) -> String {
    let mut c = Command::new("git");
    c.current_dir(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Test Author")
        .env("GIT_AUTHOR_EMAIL", "author@example.org")
        .env("GIT_COMMITTER_NAME", "Test Committer")
        .env("GIT_COMMITTER_EMAIL", "committer@example.org")
        .env_remove("GIT_DIR");
    if let Some(d) = date {
        c.env("GIT_AUTHOR_DATE", format!("@{d} +0000"))
            .env("GIT_COMMITTER_DATE", format!("@{d} +0000"));
    }
    let out = c.output().expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A wiki whose srcdir is `doc/` inside a git checkout.
struct GitWiki {
    dir: tempfile::TempDir,
}

impl GitWiki {
    fn new(extra: &str) -> GitWiki {
        let w = GitWiki {
            dir: tempfile::tempdir().unwrap(),
        };
        fs::create_dir_all(w.src()).unwrap();
        git(&w.repo(), &["init", "-q", "-b", "master"], None);
        // wikic's state stays out of history, as ikiwiki's `.ikiwiki`.
        fs::write(w.repo().join(".gitignore"), "/doc/.wikic/\n").unwrap();
        fs::write(
            w.dir.path().join("wiki.yaml"),
            format!(
                "wikiname: test\nsrcdir: repo/doc\ndestdir: out\nurl: http://example.org/\nunderlaydir: ''\ntimezone: UTC\nrcs: git\n{extra}"
            ),
        )
        .unwrap();
        w
    }
    fn repo(&self) -> PathBuf {
        self.dir.path().join("repo")
    }
    fn src(&self) -> PathBuf {
        self.repo().join("doc")
    }
    fn config(&self) -> Arc<Config> {
        let setup = Setup::load(&self.dir.path().join("wiki.yaml")).unwrap();
        Arc::new(Config::from_setup(&setup).unwrap())
    }
    fn commit(&self, file: &str, text: &str, date: i64, message: &str) {
        let p = self.src().join(file);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, text).unwrap();
        git(&self.repo(), &["add", "-A"], None);
        git(&self.repo(), &["commit", "-q", "-m", message], Some(date));
    }
    fn refresh(&self) {
        build(self.config(), &BuildOptions::default()).unwrap();
    }
    fn out(&self, rel: &str) -> String {
        fs::read_to_string(self.dir.path().join("out").join(rel)).unwrap()
    }
}

/// ctime and mtime of each file as ikiwiki reads them: `git log` with
/// author times, newest first; the first listing is the mtime, the last
/// the ctime.
fn times_from_git_log(repo: &Path) -> HashMap<String, (i64, i64)> {
    let log = git(
        &repo.join("doc"),
        &["log", "--pretty=format:%at", "--name-only", "--relative"],
        None,
    );
    let mut times: HashMap<String, (i64, i64)> = HashMap::new();
    let mut date: Option<i64> = None;
    for line in log.lines() {
        if date.is_none() && line.bytes().all(|b| b.is_ascii_digit()) && !line.is_empty() {
            date = line.parse().ok();
        } else if line.is_empty() {
            date = None;
        } else if let Some(d) = date {
            times
                .entry(line.to_string())
                .and_modify(|t| t.0 = d)
                .or_insert((d, d));
        }
    }
    times
}

fn wikic_times(w: &GitWiki) -> HashMap<String, (i64, i64)> {
    let site = wikic::build::load_site(w.config(), &mut Default::default()).unwrap();
    site.wiki
        .pages
        .iter()
        .filter(|p| !p.underlay && p.builtin.is_none())
        .map(|p| (p.file.to_string(), (p.ctime, p.mtime)))
        .collect()
}

#[test]
fn page_times_come_from_history() {
    let w = GitWiki::new("add_plugins: [goodstuff]\n");
    // Hundreds of commits over 40 pages, dates not always increasing
    // (commits made out of order, rebased, imported).
    let mut seed: u64 = 7;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let base = 1_500_000_000;
    // Something outside srcdir that history also has.
    fs::write(w.repo().join("README"), "not wiki\n").unwrap();
    for i in 0..300 {
        let page = next() % 40;
        let jitter = (next() % 5000) as i64 - 2500;
        w.commit(
            &format!("p{page}.mdwn"),
            &format!("Page {page}, edit {i}.\n"),
            base + i * 3600 + jitter,
            &format!("edit {i}"),
        );
    }
    let expected = times_from_git_log(&w.repo());
    assert!(expected.len() >= 35);
    let got = wikic_times(&w);
    for (file, t) in &expected {
        assert_eq!(got.get(file), Some(t), "{file}");
    }
    // More commits: the cached times are brought up to date.
    for i in 300..330 {
        let page = next() % 45;
        w.commit(
            &format!("p{page}.mdwn"),
            &format!("Page {page}, edit {i}.\n"),
            base + i * 3600,
            &format!("edit {i}"),
        );
    }
    assert!(w.dir.path().join("repo/doc/.wikic/git-times").exists());
    let expected = times_from_git_log(&w.repo());
    let got = wikic_times(&w);
    for (file, t) in &expected {
        assert_eq!(got.get(file), Some(t), "{file} after new commits");
    }
    // An uncommitted page keeps its file time.
    fs::write(w.src().join("new.mdwn"), "Not committed.\n").unwrap();
    let got = wikic_times(&w);
    assert!(got["new.mdwn"].1 > base + 400 * 3600);
}

#[test]
fn history_dates_show_on_pages() {
    let w = GitWiki::new(
        "add_plugins: [goodstuff]\nhistoryurl: \"http://git.example.org/?a=history;f=doc/[[file]]\"\n",
    );
    w.commit("index.mdwn", "Home.\n", 1_600_000_000, "first");
    w.commit("index.mdwn", "Home, edited.\n", 1_700_000_000, "second");
    w.refresh();
    let html = w.out("index.html");
    assert!(
        html.contains("Tue Nov 14 22:13:20 2023"),
        "mtime from the last commit: {html}"
    );
    assert!(
        html.contains("Sun Sep 13 12:26:40 2020"),
        "ctime from the first"
    );
    // historyurl names the file by its path in srcdir.
    assert!(
        html.contains("<a rel=\"nofollow\" href=\"http://git.example.org/?a=history;f=doc/index.mdwn\">History</a>"),
        "{html}"
    );
}

#[test]
fn recentchanges_lists_the_latest_commits_with_a_feed() {
    let w = GitWiki::new(
        "add_plugins: [goodstuff, recentchanges]\nrecentchangesnum: 3\nrss: 1\natom: 1\n\
         cgiurl: http://example.org/ikiwiki.cgi\n\
         diffurl: \"http://git.example.org/?a=commitdiff;f=[[file]];h=[[sha1_commit]];hp=[[sha1_parent]]\"\n",
    );
    w.commit("index.mdwn", "Home.\n", 1_600_000_000, "first page");
    w.commit("a.mdwn", "A.\n", 1_600_000_100, "add a");
    w.commit(
        "b.mdwn",
        "B.\n",
        1_600_000_200,
        "add b, see [[a]] <b>bold</b>",
    );
    w.commit(
        "a.mdwn",
        "A, again.\n",
        1_600_000_300,
        "edit a\n\nLonger description.",
    );
    w.refresh();
    let html = w.out("recentchanges/index.html");
    // The last three, newest first; the first commit is out.
    let edit = html.find("edit a").expect("newest change");
    let add_b = html.find("add b").expect("second");
    let add_a = html.find("add a").expect("third");
    assert!(edit < add_b && add_b < add_a, "{html}");
    assert!(!html.contains("first page"));
    assert!(html.contains("Longer description."));
    // Messages are text: no markup, no links made from them.
    assert!(
        html.contains("add b, see [[a]] &lt;b&gt;bold&lt;/b&gt;<br>"),
        "{html}"
    );
    assert!(html.contains("<span class=\"committer\"><a href=\"/ikiwiki.cgi?do=goto&amp;page=Test%20Author\" rel=\"nofollow\">Test Author</a></span>"), "{html}");
    assert!(html.contains("<a href=\"/ikiwiki.cgi?do=goto&amp;page=a\" rel=\"nofollow\">a</a>"));
    let rev = git(&w.repo(), &["rev-parse", "HEAD"], None)
        .trim()
        .to_string();
    let parent = git(&w.repo(), &["rev-parse", "HEAD^"], None)
        .trim()
        .to_string();
    assert!(html.contains(&format!("id=\"change-{rev}\"")));
    assert!(
        html.contains(&format!("f=doc/a.mdwn;h={rev};hp={parent}"))
            || html.contains(&format!("f=a.mdwn;h={rev};hp={parent}")),
        "{html}"
    );
    // Change pages are internal: nothing published for them.
    assert!(
        !w.dir
            .path()
            .join(format!("out/recentchanges/change_{rev}"))
            .exists()
    );
    // The feed parses and has the three changes.
    let feed = feed_rs::parser::parse(w.out("recentchanges/index.atom").as_bytes()).unwrap();
    assert_eq!(feed.entries.len(), 3);
    assert_eq!(
        feed.entries[0].title.as_ref().unwrap().content,
        "change to a on test"
    );
    // Every page links to it.
    assert!(w.out("index.html").contains("href=\"./recentchanges/\""));
    // A new commit appears on refresh; the oldest goes.
    w.commit("c.mdwn", "C.\n", 1_600_000_400, "add c");
    w.refresh();
    let html = w.out("recentchanges/index.html");
    assert!(html.contains("add c") && !html.contains("add a<"), "{html}");
    assert_eq!(html.matches("class=\"metadata\"").count(), 3);
}

/// A bare `origin.git` in `t` and a working clone of it, `t/work`.
fn origin_and_clone(t: &Path) -> PathBuf {
    git(
        t,
        &["init", "-q", "--bare", "-b", "master", "origin.git"],
        None,
    );
    git(t, &["clone", "-q", "origin.git", "work"], None);
    t.join("work")
}

/// The Unix user running the tests (the committer the hooks see).
fn whoami() -> String {
    let out = Command::new("id").arg("-un").output().unwrap().stdout;
    String::from_utf8(out).unwrap().trim().to_string()
}

fn wikic_cmd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wikic"))
}

/// Runs `wikic --setup` (a full build that installs the wrappers), which
/// must succeed.
fn setup_wiki(setup: &Path) {
    let out = wikic_cmd().arg("--setup").arg(setup).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_push_to_the_origin_publishes_through_the_hook() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let work = origin_and_clone(t);
    fs::write(work.join(".gitignore"), "/.wikic/\n").unwrap();
    fs::write(work.join("index.mdwn"), "Home. See [[about]].\n").unwrap();
    fs::write(work.join("about.mdwn"), "About.\n").unwrap();
    git(&work, &["add", "-A"], None);
    git(&work, &["commit", "-q", "-m", "start"], None);
    git(&work, &["push", "-q", "origin", "master"], None);
    git(t, &["clone", "-q", "origin.git", "repo"], None);
    let envfile = t.join("background-env");
    fs::write(
        t.join("wiki.yaml"),
        format!(
            "wikiname: test\nsrcdir: repo\ndestdir: out\nurl: http://example.org/\nunderlaydir: ''\nrcs: git\n\
             git_wrapper: origin.git/hooks/post-update\n\
             git_wrapper_background_command: \"env > {}\"\n",
            envfile.display()
        ),
    )
    .unwrap();
    setup_wiki(&t.join("wiki.yaml"));
    let hook = t.join("origin.git/hooks/post-update");
    assert!(hook.exists(), "wrapper installed");
    let text = fs::read_to_string(&hook).unwrap();
    assert!(
        text.contains(
            &t.join("wiki.yaml")
                .canonicalize()
                .unwrap()
                .display()
                .to_string()
        )
    );

    // A push, from a caller with a hostile environment.
    fs::write(work.join("new.mdwn"), "A new page about [[about]].\n").unwrap();
    fs::write(
        work.join("index.mdwn"),
        "Home. See [[about]] and [[new]].\n",
    )
    .unwrap();
    git(&work, &["add", "-A"], None);
    git(&work, &["commit", "-q", "-m", "add new"], None);
    let push = Command::new("git")
        .current_dir(&work)
        .args(["push", "-q", "origin", "master"])
        .env("PERL5LIB", "/nonexistent/evil")
        .env("LD_PRELOAD", "/nonexistent/evil.so")
        .env("WIKIC_LOG", "trace")
        .env("IKIWIKI_EVIL", "1")
        .env("GIT_EXEC_PATH_EVIL", "1")
        .output()
        .unwrap();
    assert!(
        push.status.success(),
        "{}",
        String::from_utf8_lossy(&push.stderr)
    );
    // Published when the push returns, links and backlinks up to date.
    let page = fs::read_to_string(t.join("out/new/index.html")).expect("new page published");
    assert!(page.contains("A new page about <a href=\"../about/\">about</a>"));
    let about = fs::read_to_string(t.join("out/about/index.html")).unwrap();
    assert!(
        about.contains("href=\"../new/\""),
        "backlink from the new page: {about}"
    );
    assert!(
        fs::read_to_string(t.join("out/index.html"))
            .unwrap()
            .contains("href=\"./new/\"")
    );
    assert!(t.join("repo/new.mdwn").exists(), "srcdir pulled");

    // The background command ran, in the wrapper's clean environment.
    let mut env = String::new();
    for _ in 0..100 {
        env = fs::read_to_string(&envfile).unwrap_or_default();
        if env.contains("PATH=") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(env.contains("PATH=/usr/local/bin:/usr/bin:/bin"), "{env}");
    for leaked in [
        "PERL5LIB",
        "LD_PRELOAD",
        "WIKIC_LOG",
        "IKIWIKI_EVIL",
        "GIT_DIR",
        "GIT_EXEC_PATH_EVIL",
    ] {
        assert!(
            !env.contains(&format!("{leaked}=")),
            "{leaked} leaked: {env}"
        );
    }

    // Without its setup file the wrapper refuses to run.
    fs::rename(t.join("wiki.yaml"), t.join("moved.yaml")).unwrap();
    let run = Command::new(&hook).output().unwrap();
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("is missing"));
}

/// A bare origin with wikic's hooks, srcdir `doc/` in its checkout, the
/// setup file at the top of the repository, and a working clone.
fn origin_with_hooks(extra: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let work = origin_and_clone(t);
    let user = whoami();
    fs::create_dir_all(work.join("doc")).unwrap();
    fs::write(work.join(".gitignore"), "/doc/.wikic/\n").unwrap();
    fs::write(work.join("doc/index.mdwn"), "Home.\n").unwrap();
    fs::write(work.join("doc/locked.mdwn"), "Locked.\n").unwrap();
    fs::write(work.join("doc/gone.mdwn"), "To be removed.\n").unwrap();
    fs::write(
        work.join("wiki.yaml"),
        format!(
            "wikiname: test\nsrcdir: doc\ndestdir: {out}\nurl: http://example.org/\nunderlaydir: ''\nrcs: git\n\
             git_wrapper: {t}/origin.git/hooks/post-update\n\
             git_test_receive_wrapper: {t}/origin.git/hooks/pre-receive\n\
             untrusted_committers: [{user}]\n\
             locked_pages: locked\n{extra}",
            out = t.join("out").display(),
            t = t.display(),
            user = user
        ),
    )
    .unwrap();
    git(&work, &["add", "-A"], None);
    git(&work, &["commit", "-q", "-m", "start"], None);
    // The first push, before any hook exists.
    git(&work, &["push", "-q", "origin", "master"], None);
    git(t, &["clone", "-q", "origin.git", "repo"], None);
    setup_wiki(&t.join("repo/wiki.yaml"));
    assert!(t.join("origin.git/hooks/pre-receive").exists());
    (tmp, work)
}

fn push(work: &Path) -> (bool, String) {
    let out = Command::new("git")
        .current_dir(work)
        .args(["push", "origin", "HEAD:master"])
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn origin_head(work: &Path) -> String {
    git(&work.join("../origin.git"), &["rev-parse", "master"], None)
}

#[test]
fn untrusted_pushes_are_checked_change_by_change() {
    let (tmp, work) = origin_with_hooks(
        "add_plugins: [goodstuff, attachment, lockedit]\nallowed_attachments: \"*.png and maxsize(1kb)\"\n",
    );
    // A page edit and an allowed attachment are accepted.
    fs::write(work.join("doc/index.mdwn"), "Home, edited.\n").unwrap();
    fs::write(work.join("doc/pic.png"), "small png").unwrap();
    git(&work, &["add", "-A"], None);
    git(&work, &["commit", "-q", "-m", "fine"], None);
    let (ok, err) = push(&work);
    assert!(ok, "accepted: {err}");
    assert!(
        tmp.path().join("out/pic.png").exists(),
        "published by the post-update hook"
    );

    // Each refused change is named with its reason; nothing changes.
    type Change = Box<dyn Fn(&Path)>;
    let cases: Vec<(&str, Change, &str)> = vec![
        (
            "doc/locked.mdwn",
            Box::new(|w: &Path| fs::write(w.join("doc/locked.mdwn"), "vandalised\n").unwrap()),
            "locked",
        ),
        (
            "doc/evil.bin",
            Box::new(|w: &Path| fs::write(w.join("doc/evil.bin"), [0u8, 1, 2, 255]).unwrap()),
            "not an allowed attachment",
        ),
        (
            "doc/big.png",
            Box::new(|w: &Path| fs::write(w.join("doc/big.png"), vec![b'x'; 5000]).unwrap()),
            "not an allowed attachment",
        ),
        (
            "doc/link.mdwn",
            Box::new(|w: &Path| {
                std::os::unix::fs::symlink("/etc/passwd", w.join("doc/link.mdwn")).unwrap()
            }),
            "symlinks are not allowed",
        ),
        (
            "doc/.htaccess",
            Box::new(|w: &Path| fs::write(w.join("doc/.htaccess"), "Options +ExecCGI\n").unwrap()),
            "dot files",
        ),
        (
            "wiki.yaml",
            Box::new(|w: &Path| {
                let s = fs::read_to_string(w.join("wiki.yaml")).unwrap();
                fs::write(w.join("wiki.yaml"), s.replace("locked_pages: locked", "")).unwrap()
            }),
            "the setup file may not be changed",
        ),
        (
            "doc/gone.mdwn",
            Box::new(|w: &Path| fs::remove_file(w.join("doc/gone.mdwn")).unwrap()),
            "removing files is not allowed",
        ),
    ];
    for (path, change, reason) in cases {
        let before = origin_head(&work);
        change(&work);
        git(&work, &["add", "-A"], None);
        git(&work, &["commit", "-q", "-m", "bad"], None);
        let (ok, err) = push(&work);
        assert!(!ok, "{path} must be refused");
        assert!(
            err.contains(&format!("refused: {path}: ")) && err.contains(reason),
            "{path}: {err}"
        );
        assert_eq!(origin_head(&work), before, "the repository is unchanged");
        git(&work, &["reset", "-q", "--hard", "origin/master"], None);
    }

    // A forced push that rewrites history.
    git(&work, &["reset", "-q", "--hard", "HEAD~1"], None);
    fs::write(work.join("doc/index.mdwn"), "Rewritten.\n").unwrap();
    git(&work, &["commit", "-qam", "rewrite"], None);
    let before = origin_head(&work);
    let out = Command::new("git")
        .current_dir(&work)
        .args(["push", "--force", "origin", "HEAD:master"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("non-fast-forward"),
        "{err}"
    );
    assert_eq!(origin_head(&work), before);
}

#[test]
fn trusted_committers_are_not_checked() {
    let (_tmp, work) = origin_with_hooks("add_plugins: [goodstuff]\n");
    // Trust the user by naming someone else as untrusted.
    let setup = fs::read_to_string(work.join("../repo/wiki.yaml")).unwrap();
    let user = whoami();
    fs::write(
        work.join("../repo/wiki.yaml"),
        setup.replace(&format!("[{}]", user), "[somebodyelse]"),
    )
    .unwrap();
    fs::write(work.join("doc/locked.mdwn"), "Edited by a trusted user.\n").unwrap();
    fs::write(work.join("doc/tool.bin"), [0u8, 1, 2]).unwrap();
    git(&work, &["add", "-A"], None);
    git(&work, &["commit", "-q", "-m", "trusted"], None);
    let (ok, err) = push(&work);
    assert!(ok, "{err}");
}

#[test]
fn pushed_attachments_are_typed_by_content() {
    let (_tmp, work) = origin_with_hooks(
        "add_plugins: [goodstuff, attachment]\nallowed_attachments: \"mimetype(image/*)\"\n",
    );
    // A script named like an image is refused; a real image is not.
    fs::write(work.join("doc/fake.png"), "#!/bin/sh\nrm -rf /\n").unwrap();
    git(&work, &["add", "-A"], None);
    git(&work, &["commit", "-q", "-m", "fake"], None);
    let (ok, err) = push(&work);
    assert!(
        !ok && err.contains("refused: doc/fake.png: not an allowed attachment"),
        "{err}"
    );
    git(&work, &["reset", "-q", "--hard", "origin/master"], None);
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.extend_from_slice(&[0; 16]);
    fs::write(work.join("doc/real.png"), png).unwrap();
    git(&work, &["add", "-A"], None);
    git(&work, &["commit", "-q", "-m", "real"], None);
    let (ok, err) = push(&work);
    assert!(ok, "{err}");
}
