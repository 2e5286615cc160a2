//! The build: setup → scan → preprocess/links → render → write, full or
//! incremental.
//!
//! A full build renders everything. A refresh compares the sources with
//! the index the last build left (see [`crate::index`]), rescans what
//! changed, and renders only the pages whose output can differ: changed
//! pages, pages whose links now resolve elsewhere or whose backlinks
//! changed, and pages depending — through a page name or a PageSpec, by
//! content, presence or links — on something that changed, repeated until
//! nothing more is affected. Either way the output is what a full build
//! gives, whatever the number of threads.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result};
use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};
use tracing::{debug, info, warn};

use crate::config::Config;
use crate::directives::{Context, PageState};
use crate::index::{
    Body, FileEntry, Index, IndexError, Kept, Manifest, ModelRecord, OutputRecord, RawIndex,
    RecordOut, Stamp, content_hash, encode_body, name_hash,
};
use crate::links::scan_links;
use crate::render::render_page;
use crate::scan::{
    DirRecord, SourceFile, find_sources, is_internal_file, is_racy, page_name_typed, page_type,
};
use crate::site::Site;
use crate::templates::Templates;
use crate::wiki::{Page, PageId, ScanCell, ScanData, ScanSource, Wiki};
use crate::write::copy_if_changed;

mod plan;
use plan::{Changes, EXTRA_LINK, Status};

const TOOL: &str = concat!("wikic ", env!("CARGO_PKG_VERSION"));

#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Render everything, ignoring the index.
    pub rebuild: bool,
    pub verbose: bool,
    /// When another build holds the wiki, ask it for one more pass and
    /// return at once instead of waiting (for commit hooks).
    pub queue_if_busy: bool,
    /// The process ends after this build (the command line): the wiki
    /// model is left for the exit to take back rather than dropped piece
    /// by piece, which costs a short refresh half a millisecond. Only the
    /// first pass leaves it: a build making more passes drops theirs.
    pub process_ends: bool,
}

/// What a build did, for the command line and tests.
#[derive(Debug, Default)]
pub struct BuildReport {
    pub pages: usize,
    pub files: usize,
    /// Pages rendered and files copied in this run.
    pub rendered: usize,
    pub written: usize,
    pub unchanged: usize,
    pub removed: usize,
    /// True when nothing had changed and nothing was done.
    pub up_to_date: bool,
    /// True when another build was running and was asked for another pass.
    pub queued: bool,
    pub full: bool,
    pub warnings: Vec<String>,
    /// Problems that left part of the wiki wrong (unreadable sources,
    /// write failures); the rest was still built.
    pub errors: Vec<String>,
    pub timings: Vec<(&'static str, Duration)>,
}

/// A hash of everything besides the sources that affects the output.
fn config_hash(config: &Config) -> u64 {
    let mut c = config.clone();
    // Paths of state and output do not change what a page contains.
    c.underlays.retain(|u| !u.starts_with(&config.statedir));
    c.statedir = PathBuf::new();
    // Where the setup file lives does not either: the paths it names are
    // already resolved.
    c.setup.file = None;
    let text = format!("{c:?}|{:?}", std::env::var("TZ").ok());
    content_hash(text.as_bytes())
}

fn stamp_of(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    let mtime_ns = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i64);
    Some(Stamp {
        mtime_ns,
        size: m.len(),
    })
}

fn template_stamps(config: &Config) -> Vec<(String, Stamp)> {
    let Some(dir) = &config.templatedir else {
        return Vec::new();
    };
    let mut out: Vec<(String, Stamp)> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    stamp_of(&e.path()).map(|s| (name, s))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// One build of the wiki described by `config`: a refresh when an index
/// from an earlier build applies, else a full build. Holds the wiki's
/// lock while it runs; requests for another pass made meanwhile (by
/// `queue_if_busy` callers) are served before returning.
pub fn build(config: Arc<Config>, opts: &BuildOptions) -> Result<BuildReport> {
    std::fs::create_dir_all(&config.destdir)
        .with_context(|| format!("cannot create destdir {}", config.destdir.display()))?;
    std::fs::create_dir_all(&config.statedir).with_context(|| {
        format!(
            "cannot create the state directory {} (make it writable, or set `wikistatedir` to a writable directory)",
            config.statedir.display()
        )
    })?;
    let lock_path = config.statedir.join("lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("cannot open lock {}", lock_path.display()))?;
    let pending = config.statedir.join("pending");
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            if opts.queue_if_busy {
                std::fs::write(&pending, b"")
                    .with_context(|| format!("cannot write {}", pending.display()))?;
                info!("another build is running; it will make another pass");
                return Ok(BuildReport {
                    queued: true,
                    ..Default::default()
                });
            }
            info!("waiting for another build of this wiki to finish");
            lock.lock().context("cannot lock the wiki")?;
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("cannot lock {}", lock_path.display()));
        }
    }
    let mark = BuildMark::new(&lock, &config);
    let mut opts = opts.clone();
    loop {
        let _ = std::fs::remove_file(&pending);
        let report = build_locked(config.clone(), &opts, &mark)?;
        if !pending.exists() {
            return Ok(report);
        }
        info!("a change arrived during the build; refreshing again");
        opts.rebuild = false;
        opts.process_ends = false;
    }
}

/// Whether a build is under way, kept as the lock file's content: this
/// process's id while it may touch outputs, nothing otherwise. A build
/// killed midway leaves it there, and the next one then checks every
/// output. Written in place in the open lock file: creating and removing
/// a marker file of its own cost about 0.15 ms of a refresh.
struct BuildMark<'a> {
    lock: &'a std::fs::File,
    lock_path: PathBuf,
    /// The marker file of wikic versions before this one.
    legacy: PathBuf,
}

impl<'a> BuildMark<'a> {
    fn new(lock: &'a std::fs::File, config: &Config) -> BuildMark<'a> {
        BuildMark {
            lock,
            lock_path: config.statedir.join("lock"),
            legacy: config.statedir.join("building"),
        }
    }

    /// Whether the last build was interrupted.
    fn interrupted(&self) -> bool {
        self.lock.metadata().is_ok_and(|m| m.len() > 0) || self.legacy.exists()
    }

    /// Marks a build under way (before any output is touched).
    fn set(&self) -> Result<()> {
        use std::io::{Seek, Write};
        let id = std::process::id().to_string();
        let mut f = self.lock;
        f.seek(std::io::SeekFrom::Start(0))
            .and_then(|_| f.write_all(id.as_bytes()))
            .and_then(|_| f.set_len(id.len() as u64))
            .with_context(|| format!("cannot write the lock file {}", self.lock_path.display()))?;
        // Set once this one is: from now on it stands for both.
        let _ = std::fs::remove_file(&self.legacy);
        Ok(())
    }

    /// Marks the build finished (after the index is written).
    fn clear(&self) {
        let _ = self.lock.set_len(0);
    }
}

fn build_locked(
    config: Arc<Config>,
    opts: &BuildOptions,
    mark: &BuildMark<'_>,
) -> Result<BuildReport> {
    // A build that generated pages (tag or archive pages) finds the
    // sources again, now with those pages.
    for _ in 0..3 {
        if let Some(report) = build_once(config.clone(), opts, mark)? {
            return Ok(report);
        }
    }
    build_once(config, opts, mark)?.context("generated pages keep appearing")
}

/// One pass of a build; `None` when it generated pages and stopped
/// before rendering.
fn build_once(
    config: Arc<Config>,
    opts: &BuildOptions,
    mark: &BuildMark<'_>,
) -> Result<Option<BuildReport>> {
    let started = Instant::now();
    let build_start_ns = now_ns();
    let mut report = BuildReport::default();
    let crashed = mark.interrupted();
    if crashed {
        warn!("the previous build was interrupted; checking every output it may have touched");
        remove_temp_files(&config.destdir);
    }
    let chash = config_hash(&config);
    let tstamps = template_stamps(&config);

    let destdir_key = config.destdir.display().to_string();
    let tl = Instant::now();
    let raw = match RawIndex::read(&config.statedir) {
        Ok(r) => Some(r),
        Err(IndexError::Missing) => None,
        Err(e) => {
            warn!("{e}: rebuilding everything");
            None
        }
    };
    let incremental = match &raw {
        _ if opts.rebuild => false,
        None => false,
        Some(r) if r.tool() != TOOL => {
            info!("the index is from {}: rebuilding everything", r.tool());
            false
        }
        Some(r)
            if r.config_hash() != chash
                || r.templates() != tstamps.as_slice()
                || r.destdir() != destdir_key =>
        {
            info!("the setup or templates changed: rebuilding everything");
            false
        }
        Some(_) => true,
    };
    report.timings.push(("index manifest", tl.elapsed()));

    let t0 = Instant::now();
    if let Err(e) = crate::recentchanges::sync(&config) {
        let msg = format!("recentchanges: {e:#}");
        warn!("{msg}");
        report.warnings.push(msg);
    }
    // What the index lists, read in place. Nothing changed is told from
    // it alone, without decoding it; otherwise the manifest is decoded
    // from it, and the stats taken are used to find the sources.
    let listed = match raw.as_ref().map(RawIndex::listed) {
        Some(Ok(l)) => Some(l),
        Some(Err(e)) => {
            warn!("{e}: rebuilding everything");
            None
        }
        None => None,
    };
    let mut restat = None;
    if let (Some(r), Some(l)) = (&raw, &listed)
        && incremental
        && !crashed
    {
        let stats = crate::scan::restat(&config, l);
        if unchanged_listed(l, &stats, &config)
            && r.next_change()
                .is_none_or(|t| crate::directives::calendar::now() < t)
        {
            for w in r.scan_warnings() {
                warn!("{w}");
            }
            report.warnings.extend(r.scan_warnings().iter().cloned());
            report.timings.push(("find", t0.elapsed()));
            report.up_to_date = true;
            (report.pages, report.files) = r.counts();
            report.timings.push(("total", started.elapsed()));
            if opts.process_ends {
                // What was read is left for the exit.
                std::mem::forget(listed);
                std::mem::forget(raw);
            }
            return Ok(Some(report));
        }
        restat = Some(stats);
    }
    // A build is made from here on. The page template starts compiling
    // on the other thread now, while this one decodes the index and finds
    // the sources: the steps after those want both threads.
    let tt = Instant::now();
    let templates = Templates::new(config.templatedir.as_deref())?;
    templates.prepare("page");
    report.timings.push(("templates", tt.elapsed()));
    let tl = Instant::now();
    // With every listing current, the directory records stay encoded:
    // the next index keeps their segment. (Their racy flags cannot have
    // changed — a current listing is an old one, not racy — unless the
    // clock went back.)
    let with_dirs = !(restat.as_ref().is_some_and(|r| r.listings_same)
        && listed.as_ref().is_some_and(|l| {
            l.dirs
                .iter()
                .all(|&(_, _, t, was)| was == is_racy(t, build_start_ns))
        }));
    let mut loaded = match (&raw, listed) {
        (Some(r), Some(l)) => match r.decode(l, with_dirs) {
            Ok(i) => Some(i),
            Err(e) => {
                warn!("{e}: rebuilding everything");
                None
            }
        },
        _ => None,
    };
    drop(raw);
    let incremental = incremental && loaded.is_some();
    report.timings.push(("index decode", tl.elapsed()));
    // (Without the stats, as when the listings could not be read in
    // place, the sources are found by walking every root.)
    let previous = match (&loaded, restat) {
        (Some(i), Some(r)) if incremental => Some(crate::scan::Previous::new(
            &i.manifest.files,
            &i.manifest.dirs,
            &i.manifest.scan_warnings,
            r,
        )),
        _ => None,
    };
    let (files, scan_report, dirs) =
        crate::scan::find_sources_listed(&config, previous.as_ref(), build_start_ns);
    for w in &scan_report.warnings {
        warn!("{w}");
    }
    report.warnings.extend(scan_report.warnings.iter().cloned());
    report.timings.push(("find", t0.elapsed()));

    mark.set()?;
    // Directory records for the next build: owned, racy flags renewed.
    // When every listing is the last build's, in its order, the old
    // records are taken rather than copied.
    let all_old = loaded.as_ref().is_some_and(|i| {
        i.manifest.dirs.len() == dirs.len()
            && dirs
                .iter()
                .zip(&i.manifest.dirs)
                .all(|(d, o)| matches!(d, std::borrow::Cow::Borrowed(b) if std::ptr::eq(*b, o)))
    });
    let dirs: Vec<std::borrow::Cow<'_, DirRecord>> = if all_old { Vec::new() } else { dirs };
    let mut dirs: Vec<DirRecord> = dirs.into_iter().map(|d| d.into_owned()).collect();
    drop(previous);
    if all_old && let Some(i) = loaded.as_mut() {
        dirs = std::mem::take(&mut i.manifest.dirs);
    }
    let mut racy_changed = false;
    for d in &mut dirs {
        let now = is_racy(d.mtime_ns, build_start_ns);
        racy_changed |= d.racy != now;
        d.racy = now;
    }
    let tb = Instant::now();
    // The body, decoded once: the last build's records for a refresh, and
    // for any build into the same destdir the outputs it wrote, so that
    // what nothing produces any more is removed.
    let body = match &loaded {
        Some(i) if i.manifest.destdir == destdir_key => match i.body() {
            Ok(b) => Some(b),
            Err(e) => {
                warn!("{e}: rebuilding everything");
                None
            }
        },
        _ => None,
    };
    let mut kept = loaded.as_ref().map(Index::kept).unwrap_or_default();
    if all_old && !racy_changed {
        kept.same_dirs();
    }
    if !with_dirs {
        kept.dirs_unread();
    }
    let (old_state, previous_outputs): (Option<OldState>, Vec<String>) = match (loaded, body) {
        (Some(i), Some(body)) if incremental => (
            Some(OldState {
                files: i.manifest.files,
                lc_order: i.manifest.lc_order,
                body: Arc::new(body),
            }),
            Vec::new(),
        ),
        (_, Some(b)) => {
            b.decode_all_outputs();
            let outs = (0..b.len())
                .flat_map(|j| b.output(j).outputs.iter().map(|(p, _)| p.clone()))
                .collect();
            (None, outs)
        }
        _ => (None, Vec::new()),
    };
    report.full = old_state.is_none();
    report.timings.push(("index body", tb.elapsed()));

    let result = run(
        config.clone(),
        Found {
            files,
            dirs,
            warnings: scan_report.warnings,
            templates,
        },
        old_state,
        &previous_outputs,
        kept,
        crashed,
        build_start_ns,
        chash,
        tstamps,
        &mut report,
        opts,
    );
    let generated = result?;
    mark.clear();
    if generated {
        return Ok(None);
    }
    report.timings.push(("total", started.elapsed()));
    Ok(Some(report))
}

/// The previous build, as the index describes it.
struct OldState {
    files: Vec<FileEntry>,
    /// The pages' order by lowercased name then.
    lc_order: Vec<u32>,
    /// Shared with the pages whose scan data is read from it.
    body: Arc<Body>,
}

/// Sources sort the same way in the index as from a walk: by root, then
/// by path component.
fn walk_cmp(a: (u16, &str), b: (u16, &str)) -> std::cmp::Ordering {
    a.0.cmp(&b.0)
        .then_with(|| a.1.split('/').cmp(b.1.split('/')))
}

/// For each current source, its position in the old index.
fn merge_positions(old: &[FileEntry], now: &[SourceFile]) -> Vec<Option<usize>> {
    let mut out = vec![None; now.len()];
    let (mut i, mut j) = (0, 0);
    while i < old.len() && j < now.len() {
        // Mostly the same source: equal names need no walk-order compare.
        let same = old[i].root == now[j].root && same_name(&old[i].rel, &now[j].rel);
        let order = if same {
            std::cmp::Ordering::Equal
        } else {
            walk_cmp((old[i].root, &old[i].rel), (now[j].root, &now[j].rel))
        };
        match order {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out[j] = Some(i);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// Whether two sources' paths are the same: mostly the one shared path.
fn same_name(a: &Arc<str>, b: &Arc<str>) -> bool {
    Arc::ptr_eq(a, b) || a == b
}

/// Whether the sources an index lists are as it recorded them, `stats`
/// taken now: the same stamps, and for a racy entry the same content.
/// (The directories being unchanged, there are no others.)
fn unchanged_listed(
    listed: &crate::index::Listed<'_>,
    stats: &crate::scan::Restat,
    config: &Config,
) -> bool {
    stats.listings_same
        && listed.files.iter().enumerate().all(|(i, &(root, rel))| {
            let (stamp, hash, racy) = listed.stamp(i);
            let (now, content) = if root == u16::MAX {
                // Built in: there while this wikic has it.
                let Some(b) = crate::basewiki::get(rel) else {
                    return false;
                };
                (
                    Stamp {
                        mtime_ns: 0,
                        size: b.len() as u64,
                    },
                    Some(b),
                )
            } else {
                match stats.stat(i) {
                    Some(st) if st.is_file => (
                        Stamp {
                            mtime_ns: st.mtime_ns,
                            size: st.size,
                        },
                        None,
                    ),
                    _ => return false,
                }
            };
            // A racy entry stays racy until a build rewrites the index;
            // its content says whether it changed.
            stamp == now
                && (!racy
                    || same_hash(hash, content, || {
                        crate::scan::source_path(config, root, rel)
                    }))
        })
}

/// Whether content (built in, or read from where `path` says) has the
/// hash the index recorded (0: none was).
fn same_hash(recorded: u64, content: Option<&[u8]>, path: impl Fn() -> PathBuf) -> bool {
    let hash = match content {
        Some(b) => content_hash(b),
        None => match std::fs::read(path()) {
            Ok(b) => content_hash(&b),
            Err(_) => return false,
        },
    };
    recorded != 0 && hash == recorded
}

/// Whether a source still has the content the index recorded.
fn same_content(o: &FileEntry, f: &SourceFile, config: &Config) -> bool {
    same_hash(o.hash, f.builtin, || f.abs(config))
}

/// Pages rendered from which a refresh, like a full build, touches tens
/// of megabytes: huge pages then save more page faults than zeroing them
/// costs. Below it (an edit or two) they fill 2 MiB where a few hundred
/// KiB are used: measured on the doc wiki, 9 huge pages stood in for only
/// about 330 small faults, and an edit refresh took ~1 ms longer.
const HUGE_PAGES_FROM: usize = 100;

/// Turns huge pages (which `main` turns off) back on, for a build that
/// touches much memory. Pages already touched stay small.
fn allow_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl with these arguments only clears a flag on this process.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 0, 0, 0, 0);
    }
}

/// Removes temporary files an interrupted build left in destdir.
fn remove_temp_files(destdir: &Path) {
    for e in walkdir::WalkDir::new(destdir)
        .into_iter()
        .filter_map(|e| e.ok())
    {
        if e.file_type().is_file()
            && e.file_name()
                .to_string_lossy()
                .ends_with(crate::write::TEMP_SUFFIX)
        {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// What scanning a page found.
struct Scanned {
    links: Vec<String>,
    typed: crate::wiki::TypedLinks,
    meta: crate::wiki::MetaBox,
    scan_deps: Vec<String>,
}

/// Scans `ids` in parallel and stores what each scan found on its page;
/// returns each page's scan dependencies, in the order of `ids`.
fn scan_pages(site: &mut Site, ids: &[PageId]) -> Vec<Vec<String>> {
    let scanned: Vec<Scanned> = ids.par_iter().map(|&id| scan_page(site, id)).collect();
    ids.iter()
        .zip(scanned)
        .map(|(id, s)| {
            site.wiki.pages[*id as usize].scan.set(ScanData {
                links: s.links,
                typed: s.typed,
                meta: s.meta,
            });
            s.scan_deps
        })
        .collect()
}

fn scan_page(site: &Site, id: PageId) -> Scanned {
    let cfg = &site.wiki.config;
    let p = site.wiki.page(id);
    let text = site.source(id).unwrap_or("");
    let mut cx = Context::new(site, &p.name, &p.name, true);
    // Internal sources get no discussion link (ikiwiki adds it only for
    // pages of their own).
    if cfg.discussion && !p.internal {
        cx.state.add_link(
            &format!("{}/{}", p.name, cfg.discussionpage.to_lowercase()),
            None,
        );
    }
    if text.contains("[[") {
        cx.preprocess(text);
        for l in scan_links(text, cfg.prefix_directives) {
            cx.state.add_link(&l, None);
        }
    }
    let state = cx.state;
    Scanned {
        links: state.links,
        typed: state.typed,
        meta: state.meta,
        scan_deps: state
            .depends
            .into_iter()
            .map(|(p, _)| p.to_lowercase())
            .collect(),
    }
}

/// Shortcuts are directives defined on the `shortcuts` page.
fn load_shortcuts(site: &mut Site, report: &mut BuildReport) {
    let Some(id) = site
        .wiki
        .id("shortcuts")
        .filter(|&i| site.wiki.page(i).kind.is_some())
    else {
        let msg = "shortcut plugin will not work without shortcuts.mdwn".to_string();
        debug!("{msg}");
        report.warnings.push(msg);
        return;
    };
    site.shortcuts_from(id);
}

/// Builds the site for a full build: every source read and scanned.
/// Used by tools and tests that want the scanned wiki without writing.
pub fn load_site(config: Arc<Config>, report: &mut BuildReport) -> Result<Site> {
    let (files, scan_report) = find_sources(&config);
    report.warnings.extend(scan_report.warnings);
    let mut pages: Vec<Page> = files.iter().map(|f| page_from_file(f, &config)).collect();
    apply_history_times(&config, &mut pages, report);
    let templates = Templates::new(config.templatedir.as_deref())?;
    let mut site = Site::new(Wiki::new(config.clone(), pages), templates);
    let all: Vec<PageId> = (0..site.wiki.pages.len() as PageId).collect();
    site.preload(&all);
    if config.plugins.enabled("shortcut") {
        load_shortcuts(&mut site, report);
    }
    let to_scan: Vec<PageId> = all
        .iter()
        .copied()
        .filter(|&i| site.wiki.page(i).scanned())
        .collect();
    scan_pages(&mut site, &to_scan);
    site.wiki.compute_backlinks();
    report.errors.extend(site.read_errors());
    Ok(site)
}

/// With `rcs: git`, pages are dated by their first and last commits
/// (files not committed yet keep their file times).
fn apply_history_times(config: &Config, pages: &mut [Page], report: &mut BuildReport) {
    let t = Instant::now();
    let times = match crate::vcs::open(config).and_then(|v| match v {
        Some(v) => v.times(&config.statedir).map(Some),
        None => Ok(None),
    }) {
        Ok(Some(times)) => times,
        Ok(None) => return,
        Err(e) => {
            let msg = format!("page times from history: {e:#}; using file times");
            warn!("{msg}");
            report.warnings.push(msg);
            return;
        }
    };
    for p in pages
        .iter_mut()
        .filter(|p| !p.underlay && p.builtin.is_none())
    {
        if let Some(&(ctime, mtime)) = times.get(&*p.file) {
            p.ctime = ctime;
            p.mtime = mtime;
        }
    }
    report.timings.push(("history times", t.elapsed()));
}

fn page_from_file(f: &SourceFile, config: &Config) -> Page {
    let kind = page_type(&f.rel, config);
    let name = page_name_typed(&f.rel, kind, config);
    // Page names are mostly ASCII, which lowercases byte by byte.
    let lc_name = if name.is_ascii() {
        name.to_ascii_lowercase()
    } else {
        name.to_lowercase()
    };
    Page {
        lc_name,
        name,
        file: f.rel.clone(),
        root: f.root,
        underlay: f.underlay,
        kind,
        internal: is_internal_file(&f.rel),
        ctime: f.ctime,
        mtime: f.mtime,
        mtime_ns: f.mtime_ns,
        size: f.size,
        builtin: f.builtin,
        ..Default::default()
    }
}

/// Why a page is being rendered, for `--verbose`.
fn say(verbose: bool, file: &str, why: &str) {
    if verbose {
        info!("building {file}, {why}");
    } else {
        debug!("building {file}, {why}");
    }
}

/// What finding the sources produced.
struct Found {
    files: Vec<SourceFile>,
    dirs: Vec<DirRecord>,
    warnings: Vec<String>,
    /// The templates, with the page template compiling meanwhile.
    templates: Templates,
}

/// What rendering one page (or copying one file) produced.
#[derive(Default)]
struct Rendered {
    /// Files written, relative to destdir, with content hashes.
    outputs: Vec<(String, u64)>,
    depends: Deps,
    depends_spec: Deps,
    written: usize,
    unchanged: usize,
    errors: Vec<String>,
}

impl Rendered {
    /// Counts the outcome of writing `full` (true: written, false: already
    /// up to date).
    fn count(&mut self, written: std::io::Result<bool>, full: &Path) {
        match written {
            Ok(true) => self.written += 1,
            Ok(false) => self.unchanged += 1,
            Err(e) => self
                .errors
                .push(format!("cannot write {}: {e}", full.display())),
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn run(
    config: Arc<Config>,
    found: Found,
    old_state: Option<OldState>,
    previous_outputs: &[String],
    mut kept: Kept,
    crashed: bool,
    build_start_ns: i64,
    chash: u64,
    tstamps: Vec<(String, Stamp)>,
    report: &mut BuildReport,
    opts: &BuildOptions,
) -> Result<bool> {
    if old_state.is_none() {
        allow_huge_pages();
    }
    let t1 = Instant::now();
    let verbose = opts.verbose;
    let Found {
        files,
        dirs,
        warnings: scan_warnings,
        templates,
    } = found;

    // Match every source with its entry in the old index (both lists are
    // in walk order) and classify it.
    let mut ch = match &old_state {
        Some(old) => {
            let old_pos = merge_positions(&old.files, &files);
            let status: Vec<Status> = files
                .par_iter()
                .zip(old_pos.par_iter())
                .map(|(f, pos)| {
                    let Some(i) = *pos else {
                        return Status::New;
                    };
                    let o = &old.files[i];
                    let stamp = Stamp {
                        mtime_ns: f.mtime_ns,
                        size: f.size,
                    };
                    if o.stamp != stamp {
                        Status::Changed
                    } else if o.racy && !same_content(o, f, &config) {
                        // Same stamp but recently modified: trust content only.
                        Status::Changed
                    } else {
                        Status::Same(i)
                    }
                })
                .collect();
            Changes::new(status, old_pos, &old.files, &config)
        }
        None => Changes::all_new(files.len()),
    };

    let mut pages: Vec<Page> = files
        .par_iter()
        .map(|f| page_from_file(f, &config))
        .collect();
    apply_history_times(&config, &mut pages, report);
    let n = pages.len();
    let mut scan_deps: Vec<Vec<String>> = vec![Vec::new(); n];
    for (i, p) in pages.iter().enumerate() {
        ch.rescan[i] = p.scanned() && !matches!(ch.status[i], Status::Same(_));
    }
    if let Some(old) = old_state.as_ref() {
        // Names whose content changed (hashes of the lowercased names),
        // for scan dependencies.
        let mut touched: FxHashSet<u64> = FxHashSet::default();
        for (i, st) in ch.status.iter().enumerate() {
            if !matches!(st, Status::Same(_)) {
                touched.insert(name_hash(&pages[i].lc_name));
            }
        }
        for &d in &ch.deleted {
            touched.insert(name_hash(ch.old_name(&pages, d)));
        }
        // Pages whose scan read a changed page are scanned again (a hash
        // collision only scans one more); the others keep what the last
        // scan found, read from its record when first used.
        for (i, p) in pages.iter_mut().enumerate() {
            let Status::Same(o) = ch.status[i] else {
                continue;
            };
            if p.scanned() && old.body.scan_deps(o).iter().any(|h| touched.contains(h)) {
                ch.rescan[i] = true;
            } else if !ch.rescan[i] {
                let source: Arc<dyn ScanSource> = old.body.clone();
                p.scan = ScanCell::read_later(source, o);
            }
        }
    }
    let old = old_state.as_ref();
    report.timings.push(("classify", t1.elapsed()));

    // The same sources in the same order as the last build: the same
    // names, sorted the same way.
    let same_names = old.is_some_and(|o| o.files.len() == n)
        && ch.old_pos.iter().enumerate().all(|(i, p)| *p == Some(i));
    let lc_order = old.filter(|_| same_names).map(|o| o.lc_order.clone());
    let mut site = Site::new(
        Wiki::with_lc_order(config.clone(), pages, lc_order),
        templates,
    );
    site.prepare_smileys();
    report.timings.push(("site", t1.elapsed()));
    if old.is_none() {
        let all: Vec<PageId> = (0..n as PageId).collect();
        site.preload(&all);
    }
    if config.plugins.enabled("shortcut") {
        load_shortcuts(&mut site, report);
    }
    let to_scan: Vec<PageId> = (0..n as PageId)
        .filter(|&i| ch.rescan[i as usize])
        .collect();
    for (id, deps) in to_scan.iter().zip(scan_pages(&mut site, &to_scan)) {
        scan_deps[*id as usize] = deps;
    }
    report.timings.push(("rescan", t1.elapsed()));
    // Link targets: with the same pages as before, unchanged pages' links
    // resolve as they did.
    let reuse: Option<crate::wiki::RecordedTargets> = match old {
        Some(old) if !ch.page_set_changed => Some((
            old.body.clone(),
            (0..n)
                .map(|i| match ch.status[i] {
                    Status::Same(o) if !ch.rescan[i] => Some(o),
                    _ => None,
                })
                .collect(),
        )),
        _ => None,
    };
    site.wiki.compute_backlinks_reusing(reuse);
    report.timings.push(("scan", t1.elapsed()));
    if crate::autofile::create_missing(&site)? > 0 {
        return Ok(true);
    }

    // Decide what to render, and render. New and changed sources are
    // rendered whatever the plan finds, so they render beside it: the
    // plan is serial, and after an edit the other core has nothing else
    // to do.
    let t2 = Instant::now();
    let wiki = &site.wiki;
    let render_ids = |ids: &[PageId]| -> Vec<(PageId, Rendered)> {
        if old.is_some() {
            site.preload(ids);
        }
        ids.par_iter()
            .map(|&id| {
                let old_outputs: &[(String, u64)] = match (old, ch.old_pos[id as usize]) {
                    (Some(o), Some(j)) => &o.body.output(j).outputs,
                    _ => &[],
                };
                (id, render_one(&site, id, old_outputs, crashed))
            })
            .collect()
    };
    let (render, mut outs) = match old {
        None => {
            for p in &wiki.pages {
                say(verbose, &p.file, "(full build)");
            }
            report.timings.push(("plan", t2.elapsed()));
            (vec![true; n], Vec::new())
        }
        Some(old) => {
            let early: Vec<PageId> = (0..n as PageId)
                .filter(|&i| ch.status[i as usize].always_rendered())
                .collect();
            if early.len() >= HUGE_PAGES_FROM {
                allow_huge_pages();
            }
            let ((render, planned), outs) = rayon::join(
                || {
                    let render = plan::plan(&site, old, &ch, verbose);
                    (render, t2.elapsed())
                },
                || render_ids(&early),
            );
            report.timings.push(("plan", planned));
            (render, outs)
        }
    };

    let to_render: Vec<PageId> = (0..n as PageId).filter(|&i| render[i as usize]).collect();
    if old.is_some() && to_render.len() >= HUGE_PAGES_FROM {
        allow_huge_pages();
    }
    // Those the plan added (with no old index, every page).
    let rest: Vec<PageId> = to_render
        .iter()
        .copied()
        .filter(|&i| old.is_none() || !ch.status[i as usize].always_rendered())
        .collect();
    outs.extend(render_ids(&rest));
    debug_assert_eq!(
        outs.len(),
        to_render.len(),
        "a page rendered twice or not at all"
    );
    report.timings.push(("render", t2.elapsed()));
    let destdir = config.destdir.as_path();

    // Boxed: a refresh renders a few of thousands.
    let mut rendered: Vec<Option<Box<Rendered>>> = (0..n).map(|_| None).collect();
    for (id, out) in outs {
        rendered[id as usize] = Some(Box::new(out));
    }
    // New records: rendered pages get what this run recorded, the others
    // keep what the last build recorded — as the same bytes, where nothing
    // in them can differ.
    let old_model = |i: usize| match (old, ch.status[i]) {
        (Some(o), Status::Same(j)) => Some((o, j)),
        _ => None,
    };
    let fresh_model = |i: usize| -> ModelRecord {
        let p = wiki.page(i as PageId);
        let (until, depends_spec) = match (&rendered[i], old_model(i)) {
            (Some(r), _) => (
                r.depends
                    .iter()
                    .filter_map(|(d, _)| crate::directives::calendar::until_time(d))
                    .min(),
                r.depends_spec.clone(),
            ),
            (None, Some((o, j))) => (
                o.body.summary(j).until,
                o.body.model(j).depends_spec.clone(),
            ),
            (None, None) => (None, Vec::new()),
        };
        ModelRecord {
            kind: p.kind.map(str::to_string),
            internal: p.internal,
            links: p.links().to_vec(),
            typed: p.typed().clone(),
            meta: p.meta().clone(),
            resolved: wiki.resolved[i].to_vec(),
            // Pages not scanned again keep the last scan's.
            scan_deps: match old_model(i) {
                Some((o, j)) if !ch.rescan[i] => o.body.model(j).scan_deps.clone(),
                _ => scan_deps[i].clone(),
            },
            until,
            depends_spec,
        }
    };
    let models: Vec<RecordOut<ModelRecord>> = (0..n)
        .into_par_iter()
        .map(|i| match old_model(i) {
            Some((o, j)) if rendered[i].is_none() && !ch.rescan[i] && !ch.page_set_changed => {
                debug_assert_eq!(
                    postcard::to_allocvec(&fresh_model(i)).ok().as_deref(),
                    Some(o.body.model_raw(j)),
                    "reused index record of {} differs from a fresh one",
                    files[i].rel
                );
                RecordOut::Same(o.body.model_raw(j))
            }
            _ => RecordOut::Fresh(Box::new(fresh_model(i))),
        })
        .collect();
    let next_change = models
        .iter()
        .enumerate()
        .filter_map(|(i, r)| match r {
            RecordOut::Fresh(m) => m.until,
            RecordOut::Same(_) => old_model(i).and_then(|(o, j)| o.body.summary(j).until),
        })
        .min();
    let outputs: Vec<RecordOut<OutputRecord>> = rendered
        .iter_mut()
        .enumerate()
        .map(|(i, r)| match (r, old_model(i)) {
            (Some(r), _) => RecordOut::Fresh(Box::new(OutputRecord {
                outputs: std::mem::take(&mut r.outputs),
                depends: std::mem::take(&mut r.depends),
            })),
            (None, Some((o, j))) => RecordOut::Same(o.body.output_raw(j)),
            (None, None) => RecordOut::Fresh(Box::default()),
        })
        .collect();
    for r in rendered.iter_mut().flatten() {
        report.written += r.written;
        report.unchanged += r.unchanged;
        for e in r.errors.drain(..) {
            tracing::error!("{e}");
            report.errors.push(e);
        }
    }
    report.rendered = to_render.len();
    remove_stale_outputs(
        destdir,
        old,
        &ch,
        &outputs,
        &to_render,
        previous_outputs,
        verbose,
        report,
    );
    report.errors.extend(site.read_errors());
    let t4 = Instant::now();

    // The index, after every output is in place.
    let entries: Vec<FileEntry> = files
        .into_iter()
        .enumerate()
        .map(|(i, f)| {
            let old_hash = old_model(i).map_or(0, |(o, j)| o.files[j].hash);
            let racy = is_racy(f.mtime_ns, build_start_ns);
            let hash = if old_hash != 0 {
                old_hash
            } else if site.wiki.page(i as PageId).scanned() {
                site.source(i as PageId)
                    .map_or(0, |t| content_hash(t.as_bytes()))
            } else if racy {
                // Raw files are hashed only when the next build will need
                // the content to tell whether they changed.
                match f.builtin {
                    Some(b) => content_hash(b),
                    None => std::fs::read(f.abs(&config)).map_or(0, |b| content_hash(&b)),
                }
            } else {
                0
            };
            FileEntry {
                rel: f.rel,
                root: f.root,
                stamp: Stamp {
                    mtime_ns: f.mtime_ns,
                    size: f.size,
                },
                hash,
                racy,
            }
        })
        .collect();
    report.pages = wiki
        .pages
        .iter()
        .filter(|p| p.kind.is_some() && !p.internal)
        .count();
    report.files = wiki
        .pages
        .iter()
        .filter(|p| p.kind.is_none() && !p.internal)
        .count();
    let dependents = dependents_index(old, &ch, &outputs, same_names);
    if same_names {
        kept.same_names();
    }
    let manifest = Manifest {
        counts: (report.pages, report.files),
        next_change,
        tool: TOOL.to_string(),
        destdir: config.destdir.display().to_string(),
        config_hash: chash,
        templates: tstamps,
        files: entries,
        lc_order: site.wiki.lc_order().to_vec(),
        dirs,
        scan_warnings,
    };
    Index::save(
        &config.statedir,
        &manifest,
        &encode_body(
            &models,
            &outputs,
            dependents.as_deref(),
            old.map(|o| &*o.body),
        ),
        kept,
    )
    .with_context(|| format!("cannot write the index in {}", config.statedir.display()))?;
    report.timings.push(("index save", t4.elapsed()));

    report.up_to_date = report.rendered == 0 && report.removed == 0 && ch.deleted.is_empty();
    if opts.process_ends {
        std::mem::forget((models, outputs, rendered));
        std::mem::forget((site, old_state, manifest));
    } else {
        drop((models, outputs, rendered));
        drop_later((site, old_state, manifest));
    }
    Ok(false)
}

/// Frees `x` on the (by now idle) thread pool: tearing down the wiki
/// model takes a millisecond or two that a refresh need not wait for.
fn drop_later<T: Send + 'static>(x: T) {
    rayon::spawn(move || drop(x));
}

/// Renders page `id` (or copies a raw file) and writes its outputs,
/// skipping those the last build wrote with the same content.
fn render_one(site: &Site, id: PageId, old_outputs: &[(String, u64)], crashed: bool) -> Rendered {
    let wiki = &site.wiki;
    let destdir = wiki.config.destdir.as_path();
    let p = wiki.page(id);
    let mut out = Rendered::default();
    // Internal sources are never published. (ikiwiki copies a raw one
    // when it happens to re-render it for its links, which depends on
    // build order; not copying is its intent.)
    if p.internal {
        return out;
    }
    let put = |out: &mut Rendered, path: String, data: &[u8]| {
        let hash = content_hash(data);
        let full = destdir.join(&path);
        let same_as_before = !crashed
            && old_outputs.iter().any(|(p, h)| *p == path && *h == hash)
            && std::fs::metadata(&full).is_ok_and(|m| m.is_file() && m.len() == data.len() as u64);
        let r = if same_as_before {
            Ok(false)
        } else {
            crate::write::write_if_changed(&full, data)
        };
        out.count(r, &full);
        out.outputs.push((path, hash));
    };
    match &p.kind {
        Some(_) => {
            let started = Instant::now();
            let r = render_page(site, id);
            let took = started.elapsed();
            if took > Duration::from_millis(20) {
                debug!(
                    "slow page {}: {:.1} ms",
                    p.file,
                    took.as_secs_f64() * 1000.0
                );
            }
            put(&mut out, wiki.htmlpage(&p.name), r.html.as_bytes());
            for (path, data) in &r.state.outputs {
                put(&mut out, path.clone(), data);
            }
            for path in &r.state.kept_outputs {
                // Made by an earlier build and still current.
                out.unchanged += 1;
                out.outputs.push((path.clone(), 0));
            }
            (out.depends, out.depends_spec) = record_deps(&r.state);
        }
        None => {
            let full = destdir.join(&*p.file);
            let res = match p.builtin {
                Some(content) => crate::write::write_if_changed(&full, content),
                None => copy_if_changed(&p.src_path(&wiki.config), &full, p.mtime_ns, p.size),
            };
            out.count(res, &full);
            out.outputs.push((p.file.to_string(), 0));
        }
    }
    out
}

/// Removes the outputs no source produces any more. A refresh looks only
/// at what the pages it rendered, and the sources that went away, wrote
/// last time; a full build at everything the last build wrote.
#[allow(clippy::too_many_arguments)]
fn remove_stale_outputs(
    destdir: &Path,
    old: Option<&OldState>,
    ch: &Changes,
    outputs: &[RecordOut<OutputRecord>],
    rendered: &[PageId],
    previous_outputs: &[String],
    verbose: bool,
    report: &mut BuildReport,
) {
    let produced: FxHashSet<&str> = outputs
        .iter()
        .filter_map(|r| match r {
            RecordOut::Fresh(r) => Some(r),
            RecordOut::Same(_) => None,
        })
        .flat_map(|r| r.outputs.iter().map(|(p, _)| p.as_str()))
        .collect();
    let mut stale: Vec<&str> = match old {
        Some(o) => rendered
            .iter()
            .filter_map(|&i| ch.old_pos[i as usize])
            .chain(ch.deleted.iter().copied())
            .flat_map(|j| o.body.output(j).outputs.iter().map(|(p, _)| p.as_str()))
            .filter(|p| !produced.contains(p))
            .collect(),
        None => previous_outputs
            .iter()
            .map(String::as_str)
            .filter(|p| !produced.contains(p))
            .collect(),
    };
    if let Some(o) = old
        && !stale.is_empty()
    {
        // Another source, not rendered this time, may still make it.
        o.body.decode_all_outputs();
        let kept: FxHashSet<&str> = outputs
            .iter()
            .enumerate()
            .filter(|(_, r)| matches!(r, RecordOut::Same(_)))
            .filter_map(|(i, _)| ch.old_pos[i])
            .flat_map(|j| o.body.output(j).outputs.iter().map(|(p, _)| p.as_str()))
            .collect();
        stale.retain(|p| !kept.contains(p));
    }
    stale.sort_unstable();
    stale.dedup();
    for path in stale {
        let full = destdir.join(path);
        if full.is_file() {
            if verbose {
                info!("removing {path}, no longer built");
            }
            if let Err(e) = std::fs::remove_file(&full) {
                report
                    .errors
                    .push(format!("cannot remove {}: {e}", full.display()));
                continue;
            }
            report.removed += 1;
            prune_dirs(full.parent(), destdir);
        }
    }
}

/// The dependents index for the new records: the last build's entries
/// for pages not rendered again (at their new positions), and the
/// dependencies of the pages rendered now. `None` when that is the last
/// build's index: the same sources in the same places (`same_names`),
/// and the pages rendered depending on the names they depended on.
fn dependents_index(
    old: Option<&OldState>,
    ch: &Changes,
    outputs: &[RecordOut<OutputRecord>],
    same_names: bool,
) -> Option<Vec<(u64, u32)>> {
    let hashes = |r: &OutputRecord| {
        let mut h: Vec<u64> = plan::indexed_names(r).map(name_hash).collect();
        h.sort_unstable();
        h.dedup();
        h
    };
    let rebuilt = || {
        let fresh: Vec<(u64, u32)> = outputs
            .iter()
            .enumerate()
            .filter_map(|(i, r)| match r {
                RecordOut::Fresh(r) => Some((r, i)),
                RecordOut::Same(_) => None,
            })
            .flat_map(|(r, i)| plan::indexed_names(r).map(move |d| (name_hash(d), i as u32)))
            .collect();
        let kept = old.map_or(0, |o| o.body.dependents.len());
        // Sized once: growing by doubling faults in twice the memory.
        let mut dependents: Vec<(u64, u32)> = Vec::with_capacity(kept + fresh.len());
        if let Some(o) = old {
            dependents.extend(o.body.dependents.iter().filter_map(|(h, j)| {
                let i = ch.new_of_old.get(j as usize).copied().flatten()?;
                matches!(outputs[i as usize], RecordOut::Same(_)).then_some((h, i))
            }));
        }
        dependents.extend(fresh);
        dependents.sort_unstable();
        dependents.dedup();
        dependents
    };
    if let Some(o) = old
        && same_names
        && outputs.iter().enumerate().all(|(i, r)| match r {
            RecordOut::Same(_) => true,
            RecordOut::Fresh(r) => hashes(r) == hashes(o.body.output(i)),
        })
    {
        debug_assert!(
            rebuilt().into_iter().eq(o.body.dependents.iter()),
            "the dependents index kept differs from a rebuilt one"
        );
        return None;
    }
    Some(rebuilt())
}

/// Dependencies by name (page or PageSpec) and type bits.
type Deps = Vec<(String, u8)>;

/// Page and PageSpec dependencies recorded while rendering.
fn record_deps(state: &PageState) -> (Deps, Deps) {
    let mut deps: Vec<(String, u8)> = Vec::new();
    let mut at: FxHashMap<String, usize> = FxHashMap::default();
    for (p, t) in &state.depends {
        let lc = p.to_lowercase();
        match at.get(&lc) {
            Some(&i) => deps[i].1 |= t,
            None => {
                at.insert(lc.clone(), deps.len());
                deps.push((lc, *t));
            }
        }
    }
    for (lpage, link, target) in &state.extra_links {
        deps.push((format!("{lpage}\u{0}{link}\u{0}{target}"), EXTRA_LINK));
    }
    (deps, state.depends_spec.clone())
}

/// Removes now-empty directories from `dir` up to (not including) `top`.
fn prune_dirs(mut dir: Option<&Path>, top: &Path) {
    while let Some(d) = dir {
        if d == top || !d.starts_with(top) || std::fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
}
