//! Finding the wiki's source files: srcdir first, then each underlay, with
//! ikiwiki's pruning rules (dot files, VCS directories, `*.html` unless
//! the html plugin is on, the `exclude` regex) and its file-name alphabet.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use rustc_hash::{FxHashMap, FxHashSet};

use crate::config::Config;
use crate::names::is_wiki_char;

/// A source file found on disk.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path relative to its root, with `/` separators; shared with the
    /// index's entry and the page (one allocation per source, not one
    /// per copy).
    pub rel: std::sync::Arc<str>,
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

impl SourceFile {
    /// Where the file is: its path under its root (none for built-in
    /// files). Made when needed, not for every source on every refresh.
    pub fn abs(&self, config: &Config) -> PathBuf {
        source_path(config, self.root, &self.rel)
    }
}

/// Where the source `rel` of root `root` is (an empty path for built-in
/// files).
pub fn source_path(config: &Config, root: u16, rel: &str) -> PathBuf {
    config
        .root_dir(root)
        .map_or_else(PathBuf::new, |dir| dir.join(rel))
}

/// Page types wikic can render, given the enabled plugins.
pub fn page_type(file: &str, config: &Config) -> Option<&'static str> {
    let ext = &file[last_dot(file)? + 1..];
    let on = config.plugins.page_types();
    match ext {
        "mdwn" if on.mdwn => Some("mdwn"),
        "md" if on.mdwn => Some("md"),
        "html" if on.html => Some("html"),
        "htm" if on.html => Some("htm"),
        "txt" if on.txt => Some("txt"),
        "_comment" if on.comments => Some("_comment"),
        "_comment_pending" if on.comments => Some("_comment_pending"),
        "_change" if on.recentchanges => Some("_change"),
        _ => None,
    }
}

/// Whether `format` names a page type wikic renders (`mdwn`, `html`...).
pub fn is_page_type(format: &str, config: &Config) -> bool {
    !format.contains(['.', '/']) && page_type(&format!("x.{format}"), config).is_some()
}

/// The page name of a source file (ikiwiki's `pagename`).
pub fn page_name(file: &str, config: &Config) -> String {
    page_name_typed(file, page_type(file, config), config)
}

/// [`page_name`] for a file whose [`page_type`] is known.
pub fn page_name_typed(file: &str, kind: Option<&str>, config: &Config) -> String {
    let page = match kind {
        Some(t) => &file[..file.len() - t.len() - 1],
        None => file,
    };
    match page.strip_suffix("/index") {
        Some(p) if config.indexpages => p.to_string(),
        _ => page.to_string(),
    }
}

/// Internal pages (`._name` sources) are scanned for links but never
/// rendered on their own: the last `.` of the name, after its last `/`,
/// starts `._` and something follows.
pub fn is_internal_file(file: &str) -> bool {
    let b = file.as_bytes();
    last_dot(file).is_some_and(|i| b.get(i + 1) == Some(&b'_') && b.len() > i + 2)
}

/// Where the last dot of `file`'s last path component is: one byte scan
/// from the end, for each of thousands of sources per refresh.
fn last_dot(file: &str) -> Option<usize> {
    let b = file.as_bytes();
    b.iter()
        .rposition(|&c| c == b'.' || c == b'/')
        .filter(|&i| b[i] == b'.')
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

/// Whether `dir` is one of the directories on the path of `file`.
fn has_component(file: &str, dir: &str) -> bool {
    file.rsplit_once('/')
        .is_some_and(|(dirs, _)| dirs.split('/').any(|c| c == dir))
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

/// What a directory held at the last build, so an unchanged directory
/// (same modification time) is not read again: only its files are
/// stat()ed. Entries are sorted by name.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DirRecord {
    pub root: u16,
    /// Path relative to the root ("" for the root itself).
    pub rel: String,
    pub mtime_ns: i64,
    /// Modified too close to that build to trust the time: read again.
    pub racy: bool,
    pub entries: DirEntries,
}

impl DirRecord {
    /// Whether the record still describes the directory, which now has
    /// modification time `mtime_ns` (0 when it could not be read).
    fn current(&self, mtime_ns: i64) -> bool {
        dir_current(self.racy, self.mtime_ns, mtime_ns)
    }
}

/// Whether a directory recorded with time `recorded` (and `racy`) now
/// having time `now` (0 when it could not be read) still holds what was
/// recorded.
fn dir_current(racy: bool, recorded: i64, now: i64) -> bool {
    !racy && recorded == now && now != 0
}

/// A directory's entries, (name, kind) sorted by name, kind 0 file, 1
/// directory, 2 other (symlink, device...). Kept encoded as the index
/// stores them and decoded when first listed: a refresh that finds every
/// directory unchanged never lists one, and decoding thousands of names
/// was a visible part of it.
#[derive(Debug, Clone, Default)]
pub struct DirEntries {
    encoded: Vec<u8>,
    decoded: std::sync::OnceLock<Option<Vec<(String, u8)>>>,
}

impl DirEntries {
    pub fn new(entries: Vec<(String, u8)>) -> DirEntries {
        DirEntries {
            encoded: postcard::to_allocvec(&entries).unwrap_or_default(),
            decoded: Some(entries).into(),
        }
    }

    /// The entries; `None` if the stored encoding is damaged (the
    /// directory is then read again).
    pub fn get(&self) -> Option<&[(String, u8)]> {
        self.decoded
            .get_or_init(|| postcard::from_bytes(&self.encoded).ok())
            .as_deref()
    }

    /// Size of the encoding, for sizing buffers.
    pub fn encoded_len(&self) -> usize {
        self.encoded.len()
    }
}

impl PartialEq for DirEntries {
    fn eq(&self, other: &Self) -> bool {
        // The encoding is canonical.
        self.encoded == other.encoded
    }
}

impl serde::Serialize for DirEntries {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.encoded)
    }
}

impl<'de> serde::Deserialize<'de> for DirEntries {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Bytes;
        impl serde::de::Visitor<'_> for Bytes {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("encoded directory entries")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
        }
        Ok(DirEntries {
            encoded: d.deserialize_bytes(Bytes)?,
            decoded: std::sync::OnceLock::new(),
        })
    }
}

/// Directory records of the last build, by root and relative path.
pub type DirCache<'a> = FxHashMap<(u16, &'a str), &'a DirRecord>;

/// Indexes directory records for lookups.
pub fn dir_cache(records: &[DirRecord]) -> DirCache<'_> {
    records
        .iter()
        .map(|d| ((d.root, d.rel.as_str()), d))
        .collect()
}

const KIND_FILE: u8 = 0;
const KIND_DIR: u8 = 1;
const KIND_OTHER: u8 = 2;

/// A directory opened once, so files are stat()ed relative to it (the
/// kernel then resolves only the relative part of each path).
struct RootDir {
    path: PathBuf,
    #[cfg(unix)]
    fd: Option<std::fs::File>,
}

impl RootDir {
    fn open(path: &Path) -> RootDir {
        RootDir {
            path: path.to_path_buf(),
            #[cfg(unix)]
            fd: std::fs::File::open(path).ok(),
        }
    }

    /// [`RootDir::stat`] of a file, as a [`FileStat`].
    fn file_stat(&self, rel: &str) -> Option<FileStat> {
        let (mtime_ns, size, is_file, _, ctime) = self.stat(rel)?;
        Some(FileStat {
            mtime_ns,
            size,
            is_file,
            ctime,
        })
    }

    /// (mtime in ns, size, is a regular file, is a directory) of `rel`,
    /// without following symlinks.
    fn stat(&self, rel: &str) -> Option<(i64, u64, bool, bool, i64)> {
        #[cfg(unix)]
        if let Some(fd) = &self.fd {
            use std::os::fd::AsRawFd;
            let name = if rel.is_empty() { "." } else { rel };
            // (memchr's vector search: the slice's own is a byte loop
            // for names this short, and a refresh checks thousands.)
            if memchr::memchr(0, name.as_bytes()).is_some() {
                return None;
            }
            // The C string on the stack (a refresh makes thousands), NUL
            // after the name.
            let mut buf = [0u8; 512];
            let heap;
            let path = if name.len() < buf.len() {
                buf[..name.len()].copy_from_slice(name.as_bytes());
                buf.as_ptr().cast::<libc::c_char>()
            } else {
                heap = std::ffi::CString::new(name).ok()?;
                heap.as_ptr()
            };
            // SAFETY: `st` is plain data filled in by the kernel; the fd
            // and the NUL-terminated path outlive the call.
            let mut st: libc::stat = unsafe { std::mem::zeroed() };
            let r =
                unsafe { libc::fstatat(fd.as_raw_fd(), path, &mut st, libc::AT_SYMLINK_NOFOLLOW) };
            if r != 0 {
                return None;
            }
            let mtime_ns = st.st_mtime * 1_000_000_000 + st.st_mtime_nsec;
            let fmt = st.st_mode & libc::S_IFMT;
            let ctime = st.st_ctime.min(st.st_mtime);
            return Some((
                mtime_ns,
                st.st_size as u64,
                fmt == libc::S_IFREG,
                fmt == libc::S_IFDIR,
                ctime,
            ));
        }
        let meta = std::fs::symlink_metadata(self.path.join(rel)).ok()?;
        let (mtime, ctime, mtime_ns) = times(&meta);
        let _ = mtime;
        Some((mtime_ns, meta.len(), meta.is_file(), meta.is_dir(), ctime))
    }
}

/// Lists `rel` (a directory under `root`): from the cache when its
/// modification time is what the cache recorded, else by reading it.
fn list_dir<'c>(
    root: &RootDir,
    root_id: u16,
    rel: &str,
    cache: Option<&DirCache<'c>>,
    build_start_ns: i64,
) -> Result<std::borrow::Cow<'c, DirRecord>, String> {
    let mtime_ns = root.stat(rel).map(|s| s.0).unwrap_or(0);
    if let Some(c) = cache.and_then(|c| c.get(&(root_id, rel)))
        && c.current(mtime_ns)
        && c.entries.get().is_some()
    {
        return Ok(std::borrow::Cow::Borrowed(*c));
    }
    let dir = if rel.is_empty() {
        root.path.clone()
    } else {
        root.path.join(rel)
    };
    let rd = std::fs::read_dir(&dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut entries: Vec<(String, u8)> = Vec::new();
    for e in rd {
        let Ok(e) = e else { continue };
        let Ok(ft) = e.file_type() else { continue };
        let name = match e.file_name().into_string() {
            Ok(n) => n,
            Err(n) => {
                // Reported when the file is selected; kept out of the list.
                tracing::warn!(
                    "skipping {}: its name is not valid UTF-8; rename it",
                    dir.join(n).display()
                );
                continue;
            }
        };
        let kind = if ft.is_dir() {
            KIND_DIR
        } else if ft.is_file() {
            KIND_FILE
        } else {
            KIND_OTHER
        };
        entries.push((name, kind));
    }
    entries.sort();
    Ok(std::borrow::Cow::Owned(DirRecord {
        root: root_id,
        rel: rel.to_string(),
        mtime_ns,
        racy: is_racy(mtime_ns, build_start_ns),
        entries: DirEntries::new(entries),
    }))
}

/// Files and directories modified within this long of a build are
/// checked again by content or listing next time: a second change in the
/// same clock tick keeps the time.
const RACY_WINDOW_NS: i64 = 2_000_000_000;

/// Whether something modified at `mtime_ns` is too close to a build
/// started at `build_start_ns` for its time to be trusted next time.
pub fn is_racy(mtime_ns: i64, build_start_ns: i64) -> bool {
    mtime_ns >= build_start_ns - RACY_WINDOW_NS
}

/// Walks one directory tree depth-first in name order, collecting files
/// and other entries (relative paths) and the directory records.
fn walk<'c>(
    root: &RootDir,
    root_id: u16,
    rel: &str,
    cache: Option<&DirCache<'c>>,
    build_start_ns: i64,
    out: &mut Listing<'c>,
) {
    let rec = match list_dir(root, root_id, rel, cache, build_start_ns) {
        Ok(r) => r,
        Err(w) => {
            out.warnings.push(w);
            return;
        }
    };
    for (name, kind) in rec.entries.get().unwrap_or_default() {
        let path = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        match *kind {
            // Dot directories never hold publishable files; skipping them
            // whole avoids walking .git.
            KIND_DIR if name.starts_with('.') => {}
            KIND_DIR => walk(root, root_id, &path, cache, build_start_ns, out),
            KIND_FILE => out.files.push(path),
            _ => out.others.push(path),
        }
    }
    out.dirs.push(rec);
}

#[derive(Default)]
struct Listing<'c> {
    files: Vec<String>,
    others: Vec<String>,
    dirs: Vec<std::borrow::Cow<'c, DirRecord>>,
    warnings: Vec<String>,
}

/// Every file under `root` in sorted depth-first order (relative paths),
/// the other entries (symlinks and the like), and directory records.
/// Top-level directories are walked in parallel.
fn list_files<'c>(
    root: &RootDir,
    root_id: u16,
    cache: Option<&DirCache<'c>>,
    build_start_ns: i64,
) -> Listing<'c> {
    use rayon::prelude::*;
    let top = match list_dir(root, root_id, "", cache, build_start_ns) {
        Ok(r) => r,
        Err(w) => {
            return Listing {
                warnings: vec![w],
                ..Default::default()
            };
        }
    };
    let parts: Vec<Listing<'c>> = top
        .entries
        .get()
        .unwrap_or_default()
        .par_iter()
        .map(|(name, kind)| {
            let mut l = Listing::default();
            match *kind {
                KIND_DIR if name.starts_with('.') => {}
                KIND_DIR => walk(root, root_id, name, cache, build_start_ns, &mut l),
                KIND_FILE => l.files.push(name.clone()),
                _ => l.others.push(name.clone()),
            }
            l
        })
        .collect();
    let mut out = Listing::default();
    for p in parts {
        out.files.extend(p.files);
        out.others.extend(p.others);
        out.dirs.extend(p.dirs);
        out.warnings.extend(p.warnings);
    }
    out.dirs.push(top);
    out
}

/// Applies pruning, the name alphabet and precedence to one root's files.
fn select(
    root: &Path,
    files: Vec<String>,
    underlay: bool,
    config: &Config,
    seen_pages: &mut FxHashSet<String>,
    in_srcdir: &FxHashSet<String>,
    report: &mut ScanReport,
) -> (Vec<String>, Vec<String>) {
    let mut kept = Vec::with_capacity(files.len());
    let mut rejected = Vec::new();
    for rel in files {
        if is_pruned(&rel, config) {
            rejected.push(rel);
            continue;
        }
        if !is_valid_name(&rel) {
            report.warnings.push(format!(
                "skipping bad filename {rel} (in {}): names may only use letters, digits and -+/.:_",
                root.display()
            ));
            rejected.push(rel);
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
            rejected.push(rel);
            continue;
        }
        seen_pages.insert(page);
        kept.push(rel);
    }
    (kept, rejected)
}

/// All source files of the wiki: srcdir wins over underlays, and an
/// earlier underlay over a later one.
pub fn find_sources(config: &Config) -> (Vec<SourceFile>, ScanReport) {
    let (files, report, _) = find_sources_listed(config, None, 0);
    (files, report)
}

/// What the last build found: its sources, directory listings and the
/// warnings finding them gave; and what [`restat`] found of them now.
pub struct Previous<'c> {
    files: &'c [crate::index::FileEntry],
    dirs: &'c [DirRecord],
    warnings: &'c [String],
    cache: DirCache<'c>,
    /// The listed files and directories, stat()ed already.
    restat: Restat,
}

impl<'c> Previous<'c> {
    pub fn new(
        files: &'c [crate::index::FileEntry],
        dirs: &'c [DirRecord],
        warnings: &'c [String],
        restat: Restat,
    ) -> Self {
        Previous {
            files,
            dirs,
            warnings,
            cache: dir_cache(dirs),
            restat,
        }
    }
}

/// Whether every directory recorded (root, path, time, racy flag) still
/// has its time, and the roots are the ones recorded.
fn listings_current(roots: &[(RootDir, u16)], dirs: &[(u16, &str, i64, bool)]) -> bool {
    use rayon::prelude::*;
    let roots_known = dirs.iter().filter(|d| d.1.is_empty()).count() == roots.len();
    roots_known
        && dirs
            .par_iter()
            .with_min_len(32)
            .all(|&(root, rel, t, racy)| {
                root_of(roots, root)
                    .is_some_and(|r| dir_current(racy, t, r.stat(rel).map_or(0, |s| s.0)))
            })
}

fn root_of(roots: &[(RootDir, u16)], id: u16) -> Option<&RootDir> {
    root_entry(roots, id).map(|(r, _)| r)
}

/// The root numbered `id`, with its number (a handful of roots: a scan
/// beats a map).
fn root_entry(roots: &[(RootDir, u16)], id: u16) -> Option<&(RootDir, u16)> {
    roots.iter().find(|(_, n)| *n == id)
}

/// The sources found, what finding them warned about, and the directory
/// records (borrowed from the last build's where unchanged).
pub type Sources<'c> = (
    Vec<SourceFile>,
    ScanReport,
    Vec<std::borrow::Cow<'c, DirRecord>>,
);

/// Finds the sources, reading only the directories that changed since
/// `previous` was recorded (all of them without it). Directory records
/// come back borrowed where unchanged.
pub fn find_sources_listed<'c>(
    config: &Config,
    previous: Option<&Previous<'c>>,
    build_start_ns: i64,
) -> Sources<'c> {
    if let Some(prev) = previous {
        // The stamps of the files the last build found were taken with
        // its directory listings checked, from the roots opened then;
        // with the same names everywhere the same files are selected, and
        // those stamps are all that is needed.
        let roots = &prev.restat.roots;
        if !prev.restat.listings_same {
            return find_changed(config, roots, Some(&prev.cache), build_start_ns);
        }
        // One pass into an array of the final size: growing it would
        // touch (and copy) twice the memory, fresh pages a refresh pays
        // for one by one.
        let mut files = Vec::with_capacity(prev.files.len());
        let mut warnings = Vec::new();
        for (f, st) in prev.files.iter().zip(&prev.restat.stats) {
            let Some(root) = root_entry(roots, f.root) else {
                continue;
            };
            match source_file(root, f.rel.clone(), *st) {
                Ok(s) => files.push(s),
                Err(w) => warnings.push(w),
            }
        }
        let mut report = ScanReport {
            warnings: prev.warnings.to_vec(),
        };
        report
            .warnings
            .extend(warnings.into_iter().filter(|w| !prev.warnings.contains(w)));
        for f in prev.files.iter().filter(|f| f.root == u16::MAX) {
            if let Some(content) = crate::basewiki::get(&f.rel) {
                files.push(builtin_source(&f.rel, content));
            }
        }
        return (
            files,
            report,
            prev.dirs.iter().map(std::borrow::Cow::Borrowed).collect(),
        );
    }
    find_changed(config, &open_roots(config), None, build_start_ns)
}

/// The roots to look in: srcdir, then the underlays that are
/// directories (and not srcdir again).
fn open_roots(config: &Config) -> Vec<(RootDir, u16)> {
    config
        .roots()
        .filter(|&(n, dir)| n == 0 || (dir.is_dir() && dir != config.srcdir))
        .map(|(n, dir)| (RootDir::open(dir), n))
        .collect()
}

/// A file's state on disk, as `stat` (not following symlinks) gives it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FileStat {
    pub mtime_ns: i64,
    pub size: u64,
    pub is_file: bool,
    pub ctime: i64,
}

/// The files and directories an index lists, stat()ed again: enough to
/// tell that nothing changed without decoding the index's entries, and
/// what [`find_sources_listed`] then needs instead of taking them again.
pub struct Restat {
    /// Every listed directory still has the time recorded, so every root
    /// holds the same names (see [`Previous`]).
    pub listings_same: bool,
    /// Each listed source's state, in the index's order; `None` for one
    /// gone, outside today's roots, or built in.
    stats: Vec<Option<FileStat>>,
    /// The roots the stats were taken in, for finding the sources after.
    roots: Vec<(RootDir, u16)>,
}

impl Restat {
    pub fn stat(&self, i: usize) -> Option<FileStat> {
        self.stats.get(i).copied().flatten()
    }
}

/// Stats what `listed` lists (in parallel, the directories beside the
/// files).
pub fn restat(config: &Config, listed: &crate::index::Listed<'_>) -> Restat {
    use rayon::prelude::*;
    let roots = open_roots(config);
    let (listings_same, stats) = rayon::join(
        || listings_current(&roots, &listed.dirs),
        || {
            listed
                .files
                .par_iter()
                .map(|&(root, rel)| root_of(&roots, root)?.file_stat(rel))
                .collect()
        },
    );
    Restat {
        listings_same,
        stats,
        roots,
    }
}

/// The source `rel` of `root` in the state `st`; what to warn about if
/// it cannot be one.
fn source_file<S: AsRef<str> + Into<std::sync::Arc<str>>>(
    (root, n): &(RootDir, u16),
    rel: S,
    st: Option<FileStat>,
) -> Result<SourceFile, String> {
    let rel_str = rel.as_ref();
    let Some(st) = st else {
        return Err(format!("cannot stat {}", root.path.join(rel_str).display()));
    };
    if !st.is_file {
        return Err(format!(
            "{} is no longer a file",
            root.path.join(rel_str).display()
        ));
    }
    let mtime = st.mtime_ns.div_euclid(1_000_000_000);
    Ok(SourceFile {
        // Shared where the caller has the name shared, else moved.
        rel: rel.into(),
        underlay: *n > 0,
        root: *n,
        mtime,
        mtime_ns: st.mtime_ns,
        ctime: st.ctime.min(mtime),
        size: st.size,
        builtin: None,
    })
}

/// Finds the sources by walking the roots, reading the directories not
/// in `cache` or changed since it was recorded.
fn find_changed<'c>(
    config: &Config,
    roots: &[(RootDir, u16)],
    cache: Option<&DirCache<'c>>,
    build_start_ns: i64,
) -> Sources<'c> {
    let mut report = ScanReport::default();
    let mut seen_pages = FxHashSet::default();
    let mut kept: Vec<(usize, String)> = Vec::new();
    let mut dirs = Vec::new();
    // Every name present in srcdir (files, symlinks, pruned files): an
    // underlay's file of the same name is hidden.
    let mut in_srcdir: FxHashSet<String> = FxHashSet::default();
    for (ri, (root, n)) in roots.iter().enumerate() {
        let listing = list_files(root, *n, cache, build_start_ns);
        report.warnings.extend(listing.warnings);
        dirs.extend(listing.dirs);
        let (selected, rejected) = select(
            &root.path,
            listing.files,
            *n > 0,
            config,
            &mut seen_pages,
            &in_srcdir,
            &mut report,
        );
        if *n == 0 && roots.len() > 1 {
            in_srcdir.extend(selected.iter().cloned());
            in_srcdir.extend(listing.others);
            in_srcdir.extend(rejected);
        }
        for rel in selected {
            kept.push((ri, rel));
        }
    }
    let (mut out, warnings) = stat_sources(roots, kept);
    report.warnings.extend(warnings);
    for b in crate::basewiki::for_plugins(&config.plugins) {
        let page = page_name(b.path, config);
        if !seen_pages.contains(&page) && !is_pruned(b.path, config) {
            seen_pages.insert(page);
            out.push(builtin_source(b.path, b.content));
        }
    }
    (out, report, dirs)
}

fn builtin_source(rel: &str, content: &'static [u8]) -> SourceFile {
    SourceFile {
        rel: rel.into(),
        underlay: true,
        root: u16::MAX,
        mtime: 0,
        mtime_ns: 0,
        ctime: 0,
        size: content.len() as u64,
        builtin: Some(content),
    }
}

/// Stamps of the selected files, in parallel; files gone since they were
/// listed become warnings.
fn stat_sources<S: AsRef<str> + Into<std::sync::Arc<str>> + Send>(
    roots: &[(RootDir, u16)],
    kept: Vec<(usize, S)>,
) -> (Vec<SourceFile>, Vec<String>) {
    use rayon::prelude::*;
    let stats: Vec<Result<SourceFile, String>> = kept
        .into_par_iter()
        .map(|(ri, rel)| {
            let root = &roots[ri];
            let st = root.0.file_stat(rel.as_ref());
            source_file(root, rel, st)
        })
        .collect();
    // Collected in place: the stamps of thousands of files are not
    // copied into a second array.
    let mut warnings = Vec::new();
    let out = stats
        .into_iter()
        .filter_map(|s| s.map_err(|w| warnings.push(w)).ok())
        .collect();
    (out, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_entries_are_decoded_when_listed_and_damage_means_reading_again() {
        let entries = vec![
            ("a.mdwn".to_string(), KIND_FILE),
            ("sub".to_string(), KIND_DIR),
        ];
        let rec = DirRecord {
            root: 0,
            rel: String::new(),
            mtime_ns: 1,
            racy: false,
            entries: DirEntries::new(entries.clone()),
        };
        let bytes = postcard::to_allocvec(&rec).unwrap();
        let back: DirRecord = postcard::from_bytes(&bytes).unwrap();
        assert!(back.entries.decoded.get().is_none(), "decoded before use");
        assert_eq!(back.entries.get(), Some(&entries[..]));
        assert_eq!(back, rec);

        // A cached record with damaged entries is not trusted: the
        // directory is read.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("real.mdwn"), "x").unwrap();
        let root = RootDir::open(dir.path());
        let mtime = root.stat("").unwrap().0;
        let damaged = DirRecord {
            mtime_ns: mtime,
            entries: DirEntries {
                encoded: vec![0xff, 0xff],
                decoded: std::sync::OnceLock::new(),
            },
            ..rec
        };
        assert_eq!(damaged.entries.get(), None);
        let cache: DirCache = [((0, ""), &damaged)].into_iter().collect();
        let listed = list_dir(&root, 0, "", Some(&cache), 0).unwrap();
        assert!(matches!(listed, std::borrow::Cow::Owned(_)));
        assert_eq!(
            listed.entries.get(),
            Some(&[("real.mdwn".to_string(), KIND_FILE)][..])
        );
    }

    #[test]
    fn files_gone_since_they_were_listed_become_warnings() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.mdwn"), "x").unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        std::fs::write(dir.path().join("c.mdwn"), "yy").unwrap();
        let roots = [(RootDir::open(dir.path()), 0u16)];
        let (files, warnings) = stat_sources(
            &roots,
            vec![(0, "a.mdwn"), (0, "gone.mdwn"), (0, "d"), (0, "c.mdwn")],
        );
        let got: Vec<(&str, u64)> = files.iter().map(|f| (&*f.rel, f.size)).collect();
        assert_eq!(got, [("a.mdwn", 1), ("c.mdwn", 2)]);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("cannot stat") && warnings[0].contains("gone.mdwn"));
        assert!(warnings[1].contains("no longer a file"));
    }

    #[test]
    fn internal_files_end_in_a_dot_underscore_extension() {
        // The rule as ikiwiki states it: something after the last `._`,
        // with no `.` or `/` in it.
        let rule = |f: &str| {
            f.rsplit_once("._")
                .is_some_and(|(_, ext)| !ext.is_empty() && !ext.contains(['.', '/']))
        };
        for f in [
            "a._comment",
            "a/b._comment",
            "a._",
            "._x",
            "a._b.c",
            "a._b/c",
            "a.b",
            "a",
            "",
            "x/._y",
            "a.__b",
            "a._b._c",
            "dir._x/file",
            "é._ü",
            "a/.",
            "._",
            "a.",
            "_",
            "a_.b",
        ] {
            assert_eq!(is_internal_file(f), rule(f), "{f:?}");
        }
    }

    #[test]
    fn prune_rules() {
        let c = Config::for_tests();
        for f in [
            ".git/config",
            "a/.hidden",
            "x.html",
            "a/CVS/Entries",
            "CVS/Root",
            "x/_darcs/y/z",
            "_MTN/a",
            "../x",
            "foo.ikiwiki-new",
        ] {
            assert!(is_pruned(f, &c), "{f}");
        }
        for f in [
            "index.mdwn",
            "a/b.png",
            "style.css",
            "dot.in.name",
            "CVS",
            "a/CVS",
            "xCVS/a",
            "CVSx/a",
        ] {
            assert!(!is_pruned(f, &c), "{f}");
        }
    }

    #[test]
    fn names_and_types() {
        let c = Config::for_tests();
        assert_eq!(page_name("a/b.mdwn", &c), "a/b");
        assert_eq!(page_name("a/b.png", &c), "a/b.png");
        for (file, kind) in [
            ("a/b.mdwn", Some("mdwn")),
            ("b.md", Some("md")),
            ("x.y/z.html", c.plugins.page_types().html.then_some("html")),
            ("x.y/z", None),
            ("a.mdwn/readme", None),
            ("a.mdwn/", None),
            ("mdwn", None),
            (".mdwn", Some("mdwn")),
            ("a/b.", None),
            ("a/b.MDWN", None),
            ("é/ü.txt", c.plugins.page_types().txt.then_some("txt")),
        ] {
            assert_eq!(page_type(file, &c), kind, "{file}");
        }
        assert!(is_internal_file("a/comment_1._comment"));
        assert!(!is_internal_file("a/b.mdwn"));
        assert!(!is_valid_name("a b.mdwn"));
    }
}
