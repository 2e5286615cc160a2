//! Finding the wiki's source files: srcdir first, then each underlay, with
//! ikiwiki's pruning rules (dot files, VCS directories, `*.html` unless
//! the html plugin is on, the `exclude` regex) and its file-name alphabet.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use rustc_hash::FxHashSet;
use walkdir::WalkDir;

use crate::config::Config;
use crate::names::is_wiki_char;

/// A source file found on disk.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path relative to its root, with `/` separators.
    pub rel: String,
    pub abs: PathBuf,
    pub underlay: bool,
    pub mtime: i64,
    /// Creation time as ikiwiki guesses it without history: the older of
    /// the inode change time and the modification time.
    pub ctime: i64,
    pub size: u64,
}

/// Page types wikic can render, given the enabled plugins.
pub fn page_type(file: &str, config: &Config) -> Option<&'static str> {
    let ext = file.rsplit_once('.').map(|(_, e)| e)?;
    if ext.contains('/') {
        return None;
    }
    match ext {
        "mdwn" if config.plugins.enabled("mdwn") => Some("mdwn"),
        "md" if config.plugins.enabled("mdwn") => Some("md"),
        "html" if config.plugins.enabled("html") => Some("html"),
        "htm" if config.plugins.enabled("html") => Some("htm"),
        "txt" if config.plugins.enabled("txt") => Some("txt"),
        "_comment" if config.plugins.enabled("comments") => Some("_comment"),
        _ => None,
    }
}

/// The page name of a source file (ikiwiki's `pagename`).
pub fn page_name(file: &str, config: &Config) -> String {
    let mut page = match page_type(file, config) {
        Some(t) => file[..file.len() - t.len() - 1].to_string(),
        None => file.to_string(),
    };
    if config.indexpages
        && let Some(p) = page.strip_suffix("/index")
    {
        page = p.to_string();
    }
    page
}

/// Internal pages (`._name` sources) are scanned for links but never
/// rendered on their own.
pub fn is_internal_file(file: &str) -> bool {
    match file.rsplit_once("._") {
        Some((_, ext)) => !ext.is_empty() && !ext.contains(['.', '/']),
        None => false,
    }
}

/// ikiwiki's default prune rules, plus `exclude`, minus what `include`
/// lets back in.
pub fn is_pruned(file: &str, config: &Config) -> bool {
    if let Some(inc) = &config.include
        && inc.is_match(file)
    {
        return false;
    }
    let html_pruned = !config.plugins.enabled("html");
    let lower_ends = |sfx: &str| file.ends_with(sfx);
    if file.starts_with('.')
        || file.starts_with('/')
        || file.contains("/.")
        || file == ".."
        || file.starts_with("../")
        || file.ends_with("/..")
        || file.contains("/../")
        || (html_pruned
            && (lower_ends(".html")
                || lower_ends(".htm")
                || lower_ends(".xhtml")
                || lower_ends(".xhtm")))
        || file.ends_with(".ikiwiki-new")
        || file.ends_with(".wikic-new")
        || file.ends_with(".dpkg-tmp")
        || has_component(file, ".svn")
        || file.contains(".arch-ids/")
        || file.contains("{arch}/")
        || has_component(file, "_MTN")
        || has_component(file, "_darcs")
        || has_component(file, "CVS")
    {
        return true;
    }
    if let Some(ex) = &config.exclude
        && ex.is_match(file)
    {
        return true;
    }
    false
}

fn has_component(file: &str, dir: &str) -> bool {
    file.starts_with(&format!("{dir}/")) || file.contains(&format!("/{dir}/"))
}

/// File names must stay within ikiwiki's alphabet.
pub fn is_valid_name(file: &str) -> bool {
    !file.is_empty() && file.chars().all(is_wiki_char)
}

fn times(meta: &std::fs::Metadata) -> (i64, i64) {
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs() as i64);
    #[cfg(unix)]
    let ctime = {
        use std::os::unix::fs::MetadataExt;
        meta.ctime()
    };
    #[cfg(not(unix))]
    let ctime = mtime;
    (mtime, ctime.min(mtime))
}

/// Problems found while scanning that do not stop the build.
#[derive(Debug, Default)]
pub struct ScanReport {
    pub warnings: Vec<String>,
}

fn walk_root(
    root: &Path,
    underlay: bool,
    config: &Config,
    seen_pages: &mut FxHashSet<String>,
    out: &mut Vec<SourceFile>,
    report: &mut ScanReport,
) {
    let walker = WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            // Dot directories never hold publishable files; skipping them
            // whole avoids walking .git.
            e.depth() == 0
                || !(e.file_type().is_dir() && e.file_name().to_string_lossy().starts_with('.'))
        });
    for entry in walker {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                report.warnings.push(format!(
                    "cannot read {}: {e}",
                    e.path()
                        .map_or_else(|| root.display().to_string(), |p| p.display().to_string())
                ));
                continue;
            }
        };
        let ft = entry.file_type();
        if ft.is_dir() || ft.is_symlink() {
            continue;
        }
        let Ok(relpath) = entry.path().strip_prefix(root) else {
            continue;
        };
        let Some(rel) = relpath
            .to_str()
            .map(|s| s.replace(std::path::MAIN_SEPARATOR, "/"))
        else {
            report.warnings.push(format!(
                "skipping {}: its name is not valid UTF-8; rename it",
                entry.path().display()
            ));
            continue;
        };
        if is_pruned(&rel, config) {
            continue;
        }
        if !is_valid_name(&rel) {
            report.warnings.push(format!(
                "skipping bad filename {rel} (in {}): names may only use letters, digits and -+/.:_",
                root.display()
            ));
            continue;
        }
        let page = page_name(&rel, config);
        if underlay {
            // Anything at that path in srcdir, even a symlink or a pruned
            // file, hides the underlay's copy (underlay override attacks).
            if seen_pages.contains(&page) || config.srcdir.join(&rel).symlink_metadata().is_ok() {
                continue;
            }
        } else if seen_pages.contains(&page) {
            report.warnings.push(format!(
                "{rel}: page {page} already has a source file; this one is ignored"
            ));
            continue;
        }
        let meta = match entry.metadata() {
            Ok(m) => m,
            Err(e) => {
                report
                    .warnings
                    .push(format!("cannot stat {}: {e}", entry.path().display()));
                continue;
            }
        };
        let (mtime, ctime) = times(&meta);
        seen_pages.insert(page);
        out.push(SourceFile {
            rel,
            abs: entry.path().to_path_buf(),
            underlay,
            mtime,
            ctime,
            size: meta.len(),
        });
    }
}

/// All source files of the wiki: srcdir wins over underlays, and an
/// earlier underlay over a later one.
pub fn find_sources(config: &Config) -> (Vec<SourceFile>, ScanReport) {
    let mut out = Vec::new();
    let mut report = ScanReport::default();
    let mut seen_pages = FxHashSet::default();
    walk_root(
        &config.srcdir,
        false,
        config,
        &mut seen_pages,
        &mut out,
        &mut report,
    );
    for dir in &config.underlays {
        if dir.is_dir() && *dir != config.srcdir {
            walk_root(dir, true, config, &mut seen_pages, &mut out, &mut report);
        }
    }
    (out, report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prune_rules() {
        let c = Config::for_tests();
        for f in [
            ".git/config",
            "a/.hidden",
            "x.html",
            "a/CVS/Entries",
            "../x",
            "foo.ikiwiki-new",
        ] {
            assert!(is_pruned(f, &c), "{f}");
        }
        for f in ["index.mdwn", "a/b.png", "style.css", "dot.in.name"] {
            assert!(!is_pruned(f, &c), "{f}");
        }
    }

    #[test]
    fn names_and_types() {
        let c = Config::for_tests();
        assert_eq!(page_name("a/b.mdwn", &c), "a/b");
        assert_eq!(page_name("a/b.png", &c), "a/b.png");
        assert!(is_internal_file("a/comment_1._comment"));
        assert!(!is_internal_file("a/b.mdwn"));
        assert!(!is_valid_name("a b.mdwn"));
    }
}
