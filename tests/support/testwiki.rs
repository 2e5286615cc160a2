//! A small wiki in a temporary directory, built in-process with the
//! library, for tests of directives and page features.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use wikic::build::{BuildOptions, BuildReport, build};
use wikic::config::Config;
use wikic::setup::Setup;

pub struct TestWiki {
    pub dir: tempfile::TempDir,
    /// Setup lines added after the defaults.
    pub extra: String,
}

impl TestWiki {
    /// A wiki with `goodstuff` and no ikiwiki underlay.
    pub fn new() -> TestWiki {
        Self::with_setup("")
    }

    /// A wiki with extra setup lines (YAML), e.g. `add_plugins: [calendar]`.
    pub fn with_setup(extra: &str) -> TestWiki {
        let w = TestWiki {
            dir: tempfile::tempdir().unwrap(),
            extra: extra.to_string(),
        };
        fs::create_dir_all(w.src()).unwrap();
        w
    }

    pub fn src(&self) -> PathBuf {
        self.dir.path().join("src")
    }

    pub fn dest(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    pub fn write(&self, rel: &str, text: impl AsRef<[u8]>) -> &Self {
        let p = self.src().join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
        self
    }

    pub fn config(&self) -> Arc<Config> {
        let mut text = String::from(
            "wikiname: test\nsrcdir: src\ndestdir: out\nurl: http://example.org/\nunderlaydir: ''\ntimezone: UTC\n",
        );
        let has = |k: &str| self.extra.lines().any(|l| l.starts_with(k));
        if !has("add_plugins") {
            text.push_str("add_plugins: [goodstuff]\n");
        }
        if !has("disable_plugins") {
            text.push_str("disable_plugins: [smiley]\n");
        }
        text.push_str(&self.extra);
        text.push('\n');
        let path = self.dir.path().join("wiki.yaml");
        fs::write(&path, text).unwrap();
        Arc::new(Config::from_setup(&Setup::load(&path).unwrap()).unwrap())
    }

    /// A full build.
    pub fn build(&self) -> BuildReport {
        build(
            self.config(),
            &BuildOptions {
                rebuild: true,
                ..Default::default()
            },
        )
        .unwrap()
    }

    /// A refresh.
    pub fn refresh(&self) -> BuildReport {
        build(self.config(), &BuildOptions::default()).unwrap()
    }

    /// A file of the built site.
    pub fn out(&self, rel: &str) -> String {
        fs::read_to_string(self.dest().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    pub fn exists(&self, rel: &str) -> bool {
        self.dest().join(rel).exists()
    }

    /// The HTML of page `name` (usedirs layout).
    pub fn page(&self, name: &str) -> String {
        if name == "index" {
            self.out("index.html")
        } else {
            self.out(&format!("{name}/index.html"))
        }
    }

    /// The content area of page `name`, between the opening of the
    /// `id="content"` element and the end of the page body.
    pub fn content(&self, name: &str) -> String {
        let html = self.page(name);
        content_of(&html)
    }
}

pub fn content_of(html: &str) -> String {
    let start = html
        .find("id=\"content\"")
        .and_then(|i| html[i..].find('>').map(|j| i + j + 1))
        .unwrap_or(0);
    let end = html[start..]
        .find("id=\"footer\"")
        .map(|j| start + j)
        .unwrap_or(html.len());
    html[start..end].to_string()
}

/// Whether `path` exists under `root`.
pub fn exists(root: &Path, path: &str) -> bool {
    root.join(path).exists()
}
