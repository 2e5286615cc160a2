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
    /// 0 for srcdir, 1.. for the underlays in order, `u16::MAX` built in.
    pub root: u16,
    pub mtime: i64,
    /// Modification time in nanoseconds, for change detection.
    pub mtime_ns: i64,
    /// Creation time as ikiwiki guesses it without history: the older of
    /// the inode change time and the modification time.
    pub ctime: i64,
    pub size: u64,
    /// Content built into wikic (the files of [`crate::basewiki`]).
    pub builtin: Option<&'static [u8]>,
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

fn times(meta: &std::fs::Metadata) -> (i64, i64, i64) {
    let mtime_ns = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i64);
    let mtime = mtime_ns.div_euclid(1_000_000_000);
    #[cfg(unix)]
    let ctime = {
        use std::os::unix::fs::MetadataExt;
        meta.ctime()
    };
    #[cfg(not(unix))]
    let ctime = mtime;
    (mtime, ctime.min(mtime), mtime_ns)
}

/// Problems found while scanning that do not stop the build.
#[derive(Debug, Default)]
pub struct ScanReport {
    pub warnings: Vec<String>,
}

/// Every file under `root` (relative path, absolute path), in sorted
/// depth-first order, skipping symlinks and dot directories. Top-level
/// directories are walked in parallel.
fn list_files(root: &Path, report: &mut ScanReport) -> (Vec<(String, PathBuf)>, Vec<String>) {
    use rayon::prelude::*;
    let mut top: Vec<_> = match std::fs::read_dir(root) {
        Ok(rd) => rd.filter_map(|e| e.ok()).collect(),
        Err(e) => {
            report
                .warnings
                .push(format!("cannot read {}: {e}", root.display()));
            return (Vec::new(), Vec::new());
        }
    };
    top.sort_by_key(|e| e.file_name());
    type Listing = (Vec<(String, PathBuf)>, Vec<String>, Vec<String>);
    let parts: Vec<Listing> = top
        .par_iter()
        .map(|entry| {
            let mut files = Vec::new();
            let mut others = Vec::new();
            let mut warnings = Vec::new();
            let walker = WalkDir::new(entry.path())
                .follow_links(false)
                .sort_by_file_name()
                .into_iter()
                .filter_entry(|e| {
                    // Dot directories never hold publishable files;
                    // skipping them whole avoids walking .git.
                    !(e.file_type().is_dir() && e.file_name().to_string_lossy().starts_with('.'))
                });
            for item in walker {
                let item = match item {
                    Ok(i) => i,
                    Err(e) => {
                        warnings.push(format!(
                            "cannot read {}: {e}",
                            e.path().map_or_else(
                                || root.display().to_string(),
                                |p| p.display().to_string()
                            )
                        ));
                        continue;
                    }
                };
                if item.file_type().is_dir() {
                    continue;
                }
                let Ok(relpath) = item.path().strip_prefix(root) else {
                    continue;
                };
                if !item.file_type().is_file() {
                    // Symlinks and the like are never sources, but they
                    // still hide an underlay's file of the same name.
                    if let Some(rel) = relpath.to_str() {
                        others.push(rel.replace(std::path::MAIN_SEPARATOR, "/"));
                    }
                    continue;
                }
                match relpath.to_str() {
                    Some(rel) => files.push((
                        rel.replace(std::path::MAIN_SEPARATOR, "/"),
                        item.into_path(),
                    )),
                    None => warnings.push(format!(
                        "skipping {}: its name is not valid UTF-8; rename it",
                        item.path().display()
                    )),
                }
            }
            (files, others, warnings)
        })
        .collect();
    let mut out = Vec::new();
    let mut other_out = Vec::new();
    for (files, others, warnings) in parts {
        out.extend(files);
        other_out.extend(others);
        report.warnings.extend(warnings);
    }
    (out, other_out)
}

/// Applies pruning, the name alphabet and precedence to one root's files.
fn select(
    root: &Path,
    files: Vec<(String, PathBuf)>,
    underlay: bool,
    config: &Config,
    seen_pages: &mut FxHashSet<String>,
    in_srcdir: &FxHashSet<String>,
    report: &mut ScanReport,
) -> Vec<(String, PathBuf)> {
    let mut kept = Vec::with_capacity(files.len());
    for (rel, abs) in files {
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
            if seen_pages.contains(&page) || in_srcdir.contains(&rel) {
                continue;
            }
        } else if seen_pages.contains(&page) {
            report.warnings.push(format!(
                "{rel}: page {page} already has a source file; this one is ignored"
            ));
            continue;
        }
        seen_pages.insert(page);
        kept.push((rel, abs));
    }
    kept
}

/// All source files of the wiki: srcdir wins over underlays, and an
/// earlier underlay over a later one.
pub fn find_sources(config: &Config) -> (Vec<SourceFile>, ScanReport) {
    use rayon::prelude::*;
    let mut report = ScanReport::default();
    let mut seen_pages = FxHashSet::default();
    let mut kept: Vec<(String, PathBuf, u16)> = Vec::new();
    let mut roots: Vec<(&Path, u16)> = vec![(config.srcdir.as_path(), 0)];
    for (i, dir) in config.underlays.iter().enumerate() {
        if dir.is_dir() && *dir != config.srcdir {
            roots.push((dir.as_path(), (i + 1) as u16));
        }
    }
    // Every name present in srcdir (files, symlinks, pruned files).
    let mut in_srcdir: FxHashSet<String> = FxHashSet::default();
    for (root, n) in roots {
        let (files, others) = list_files(root, &mut report);
        if n == 0 {
            in_srcdir.extend(files.iter().map(|(r, _)| r.clone()));
            in_srcdir.extend(others);
        }
        for (rel, abs) in select(
            root,
            files,
            n > 0,
            config,
            &mut seen_pages,
            &in_srcdir,
            &mut report,
        ) {
            kept.push((rel, abs, n));
        }
    }
    let stats: Vec<Result<SourceFile, String>> = kept
        .into_par_iter()
        .map(|(rel, abs, root)| {
            let meta = std::fs::metadata(&abs)
                .map_err(|e| format!("cannot stat {}: {e}", abs.display()))?;
            let (mtime, ctime, mtime_ns) = times(&meta);
            Ok(SourceFile {
                rel,
                abs,
                underlay: root > 0,
                root,
                mtime,
                mtime_ns,
                ctime,
                size: meta.len(),
                builtin: None,
            })
        })
        .collect();
    let mut out = Vec::with_capacity(stats.len());
    for s in stats {
        match s {
            Ok(f) => out.push(f),
            Err(w) => report.warnings.push(w),
        }
    }
    for (rel, content) in crate::basewiki::FILES {
        let page = page_name(rel, config);
        if !seen_pages.contains(&page) && !is_pruned(rel, config) {
            seen_pages.insert(page);
            out.push(SourceFile {
                rel: rel.to_string(),
                abs: PathBuf::new(),
                underlay: true,
                root: u16::MAX,
                mtime: 0,
                mtime_ns: 0,
                ctime: 0,
                size: content.len() as u64,
                builtin: Some(content),
            });
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
