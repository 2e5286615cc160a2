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

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result};
use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};
use tracing::{debug, info, warn};

use crate::config::Config;
use crate::directives::shortcut::Shortcut;
use crate::directives::{Context, PageState, Params};
use crate::index::{
    Body, FileEntry, Index, IndexError, Manifest, PageRecord, RecordOut, Stamp, content_hash,
};
use crate::links::scan_links;
use crate::pagespec::{DEPEND_CONTENT, DEPEND_LINKS, DEPEND_PRESENCE, MatchParams};
use crate::preprocess::{find_all, parse_params};
use crate::render::render_page;
use crate::scan::{DirRecord, SourceFile, find_sources, is_internal_file, page_name, page_type};
use crate::site::Site;
use crate::templates::Templates;
use crate::wiki::{Meta, Page, PageId, Wiki};
use crate::write::copy_if_changed;

/// Files modified within this long of a build are re-checked by content
/// next time: a second edit in the same clock tick keeps the stamp.
const RACY_WINDOW_NS: i64 = 2_000_000_000;

const TOOL: &str = concat!("wikic ", env!("CARGO_PKG_VERSION"));

#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Render everything, ignoring the index.
    pub rebuild: bool,
    pub verbose: bool,
    /// When another build holds the wiki, ask it for one more pass and
    /// return at once instead of waiting (for commit hooks).
    pub queue_if_busy: bool,
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

/// How a source compares with the last build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    New,
    Changed,
    /// Unchanged; index of its record in the old index.
    Same(usize),
}

/// A hash of everything besides the sources that affects the output.
fn config_hash(config: &Config) -> u64 {
    let mut c = config.clone();
    // Paths of state and output do not change what a page contains.
    c.underlays.retain(|u| !u.starts_with(&config.statedir));
    c.statedir = PathBuf::new();
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
    let mut opts = opts.clone();
    loop {
        let _ = std::fs::remove_file(&pending);
        let report = build_locked(config.clone(), &opts)?;
        if !pending.exists() {
            return Ok(report);
        }
        info!("a change arrived during the build; refreshing again");
        opts.rebuild = false;
    }
}

fn build_locked(config: Arc<Config>, opts: &BuildOptions) -> Result<BuildReport> {
    // A build that generated pages (tag or archive pages) finds the
    // sources again, now with those pages.
    for _ in 0..3 {
        if let Some(report) = build_once(config.clone(), opts)? {
            return Ok(report);
        }
    }
    build_once(config, opts)?.context("generated pages keep appearing")
}

/// One pass of a build; `None` when it generated pages and stopped
/// before rendering.
fn build_once(config: Arc<Config>, opts: &BuildOptions) -> Result<Option<BuildReport>> {
    let started = Instant::now();
    let build_start_ns = now_ns();
    let mut report = BuildReport::default();
    let marker = config.statedir.join("building");
    let crashed = marker.exists();
    if crashed {
        warn!("the previous build was interrupted; checking every output it may have touched");
        remove_temp_files(&config.destdir);
    }
    let chash = config_hash(&config);
    let tstamps = template_stamps(&config);

    let destdir_key = config.destdir.display().to_string();
    let tl = Instant::now();
    let loaded = match Index::load(&config.statedir) {
        Ok(i) => Some(i),
        Err(IndexError::Missing) => None,
        Err(e) => {
            warn!("{e}: rebuilding everything");
            None
        }
    };
    let incremental = match &loaded {
        _ if opts.rebuild => false,
        None => false,
        Some(i) if i.manifest.tool != TOOL => {
            info!(
                "the index is from {}: rebuilding everything",
                i.manifest.tool
            );
            false
        }
        Some(i)
            if i.manifest.config_hash != chash
                || i.manifest.templates != tstamps
                || i.manifest.destdir != destdir_key =>
        {
            info!("the setup or templates changed: rebuilding everything");
            false
        }
        Some(_) => true,
    };
    report.timings.push(("index manifest", tl.elapsed()));

    let t0 = Instant::now();
    let previous = loaded
        .as_ref()
        .filter(|_| incremental && !crashed)
        .map(|i| {
            crate::scan::Previous::new(
                &i.manifest.files,
                &i.manifest.dirs,
                &i.manifest.scan_warnings,
            )
        });
    if let Err(e) = crate::recentchanges::sync(&config) {
        let msg = format!("recentchanges: {e:#}");
        warn!("{msg}");
        report.warnings.push(msg);
    }
    let (files, scan_report, dirs) =
        crate::scan::find_sources_listed(&config, previous.as_ref(), build_start_ns);
    for w in &scan_report.warnings {
        warn!("{w}");
    }
    report.warnings.extend(scan_report.warnings.iter().cloned());
    report.timings.push(("find", t0.elapsed()));

    // Nothing changed: done without reading anything else.
    if let Some(old) = &loaded
        && incremental
        && !crashed
        && unchanged(&old.manifest.files, &files)
        && old
            .manifest
            .next_change
            .is_none_or(|t| crate::directives::calendar::now() < t)
    {
        report.up_to_date = true;
        report.pages = files
            .iter()
            .filter(|f| page_type(&f.rel, &config).is_some() && !is_internal_file(&f.rel))
            .count();
        report.files = files.len() - report.pages;
        report.timings.push(("total", started.elapsed()));
        return Ok(Some(report));
    }

    allow_huge_pages();
    let templates = Templates::new(config.templatedir.as_deref())?;
    templates.prepare("page");
    std::fs::write(&marker, std::process::id().to_string())
        .with_context(|| format!("cannot write {}", marker.display()))?;
    // Directory records for the next build: owned, racy flags renewed.
    let dirs: Vec<DirRecord> = dirs
        .into_iter()
        .map(|d| {
            let mut d = d.into_owned();
            d.racy = d.mtime_ns >= build_start_ns - RACY_WINDOW_NS;
            d
        })
        .collect();
    drop(previous);
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
    let (old_state, previous_outputs): (Option<OldState>, Vec<String>) = match (loaded, body) {
        (Some(i), Some(b)) if incremental => {
            let state = OldState::new(&i.manifest, b);
            let outs = state
                .pages
                .iter()
                .flat_map(|r| r.outputs.iter().map(|(p, _)| p.clone()))
                .collect();
            (Some(state), outs)
        }
        (_, Some(b)) => (
            None,
            b.pages
                .into_iter()
                .flat_map(|r| r.outputs.into_iter().map(|(p, _)| p))
                .collect(),
        ),
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
        old_state.as_ref(),
        &previous_outputs,
        crashed,
        build_start_ns,
        chash,
        tstamps,
        &mut report,
        opts,
    );
    let generated = result?;
    let _ = std::fs::remove_file(&marker);
    if generated {
        return Ok(None);
    }
    report.timings.push(("total", started.elapsed()));
    Ok(Some(report))
}

/// The previous build, as the index describes it.
struct OldState {
    files: Vec<FileEntry>,
    pages: Vec<PageRecord>,
    /// The encoded records, for writing unchanged ones back as they are.
    encoded: Body,
}

impl OldState {
    fn new(m: &Manifest, mut b: Body) -> OldState {
        OldState {
            files: m.files.clone(),
            pages: std::mem::take(&mut b.pages),
            encoded: b,
        }
    }
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
        match walk_cmp((old[i].root, &old[i].rel), (now[j].root, &now[j].rel)) {
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

fn unchanged(old: &[FileEntry], now: &[SourceFile]) -> bool {
    old.len() == now.len()
        && old.iter().zip(now).all(|(o, n)| {
            o.root == n.root
                && o.rel == n.rel
                && o.stamp
                    == Stamp {
                        mtime_ns: n.mtime_ns,
                        size: n.size,
                    }
                // A racy entry stays racy until a build rewrites the
                // index; its content says whether it changed.
                && (!o.racy || same_content(o, n))
        })
}

/// Whether a source still has the content the index recorded.
fn same_content(o: &FileEntry, f: &SourceFile) -> bool {
    let hash = match f.builtin {
        Some(b) => content_hash(b),
        None => match std::fs::read(&f.abs) {
            Ok(b) => content_hash(&b),
            Err(_) => return false,
        },
    };
    o.hash != 0 && hash == o.hash
}

/// From here on the build touches tens of megabytes: huge pages (which
/// `main` turns off for the quick up-to-date check) now save more page
/// faults than zeroing them costs.
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
    typed: BTreeMap<String, BTreeSet<String>>,
    meta: Meta,
    scan_deps: Vec<String>,
}

/// Scans `ids` in parallel and stores what each scan found on its page;
/// returns each page's scan dependencies, in the order of `ids`.
fn scan_pages(site: &mut Site, ids: &[PageId]) -> Vec<Vec<String>> {
    let scanned: Vec<Scanned> = ids.par_iter().map(|&id| scan_page(site, id)).collect();
    ids.iter()
        .zip(scanned)
        .map(|(id, s)| {
            let p = &mut site.wiki.pages[*id as usize];
            p.links = s.links;
            p.typed = s.typed;
            p.meta = s.meta;
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
    let Some(text) = site.source(id).map(str::to_string) else {
        return;
    };
    for d in find_all(&text, site.wiki.config.prefix_directives) {
        if d.command != "shortcut" || d.escaped {
            continue;
        }
        if let Some((name, sc)) = Shortcut::from_params(&Params::new(parse_params(d.params))) {
            site.registry.add_if_absent(&name, Arc::new(sc));
        }
    }
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
        if let Some(&(ctime, mtime)) = times.get(&p.file) {
            p.ctime = ctime;
            p.mtime = mtime;
        }
    }
    report.timings.push(("history times", t.elapsed()));
}

fn page_from_file(f: &SourceFile, config: &Config) -> Page {
    let name = page_name(&f.rel, config);
    Page {
        lc_name: name.to_lowercase(),
        name,
        file: f.rel.clone(),
        src_path: f.abs.clone(),
        underlay: f.underlay,
        kind: page_type(&f.rel, config).map(str::to_string),
        internal: is_internal_file(&f.rel),
        ctime: f.ctime,
        mtime: f.mtime,
        mtime_ns: f.mtime_ns,
        size: f.size,
        builtin: f.builtin,
        ..Default::default()
    }
}

fn typed_to_vec(t: &BTreeMap<String, BTreeSet<String>>) -> Vec<(String, Vec<String>)> {
    t.iter()
        .map(|(k, v)| (k.clone(), v.iter().cloned().collect()))
        .collect()
}

fn typed_from_vec(v: &[(String, Vec<String>)]) -> BTreeMap<String, BTreeSet<String>> {
    v.iter()
        .map(|(k, s)| (k.clone(), s.iter().cloned().collect()))
        .collect()
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

#[allow(clippy::too_many_arguments)]
fn run(
    config: Arc<Config>,
    found: Found,
    old: Option<&OldState>,
    previous_outputs: &[String],
    crashed: bool,
    build_start_ns: i64,
    chash: u64,
    tstamps: Vec<(String, Stamp)>,
    report: &mut BuildReport,
    opts: &BuildOptions,
) -> Result<bool> {
    let t1 = Instant::now();
    let verbose = opts.verbose;
    let Found {
        files,
        dirs,
        warnings: scan_warnings,
        ..
    } = found;

    // Match every source with its entry in the old index (both lists are
    // in walk order) and classify it.
    let old_pos: Vec<Option<usize>> = match old {
        Some(o) => merge_positions(&o.files, &files),
        None => vec![None; files.len()],
    };
    let status: Vec<Status> = files
        .par_iter()
        .zip(old_pos.par_iter())
        .map(|(f, pos)| {
            let (Some(old), Some(i)) = (old, *pos) else {
                return Status::New;
            };
            let o = &old.files[i];
            let stamp = Stamp {
                mtime_ns: f.mtime_ns,
                size: f.size,
            };
            if o.stamp != stamp {
                Status::Changed
            } else if o.racy && !same_content(o, f) {
                // Same stamp but recently modified: trust content only.
                Status::Changed
            } else {
                Status::Same(i)
            }
        })
        .collect();

    let mut pages: Vec<Page> = files.iter().map(|f| page_from_file(f, &config)).collect();
    apply_history_times(&config, &mut pages, report);
    // Unchanged pages keep what the last scan found.
    let mut scan_deps: Vec<Vec<String>> = vec![Vec::new(); pages.len()];
    for (i, st) in status.iter().enumerate() {
        if let (Status::Same(o), Some(old)) = (st, old) {
            let r = &old.pages[*o];
            pages[i].links = r.links.clone();
            pages[i].typed = typed_from_vec(&r.typed);
            pages[i].meta = r.meta.clone();
            scan_deps[i] = r.scan_deps.clone();
        }
    }
    let deleted: Vec<usize> = match old {
        Some(old) => {
            let mut present = vec![false; old.files.len()];
            for p in old_pos.iter().flatten() {
                present[*p] = true;
            }
            (0..old.files.len()).filter(|i| !present[*i]).collect()
        }
        None => Vec::new(),
    };
    let page_set_changed = old.is_some() && (!deleted.is_empty() || status.contains(&Status::New));

    report.timings.push(("classify", t1.elapsed()));
    let mut site = Site::new(Wiki::new(config.clone(), pages), found.templates);
    report.timings.push(("site", t1.elapsed()));
    let n = site.wiki.pages.len();
    if old.is_none() {
        let all: Vec<PageId> = (0..n as PageId).collect();
        site.preload(&all);
    }
    if config.plugins.enabled("shortcut") {
        load_shortcuts(&mut site, report);
    }

    // Names whose content changed (lowercase), for scan dependencies.
    let old_names: Vec<String> = match old {
        Some(old) => old
            .files
            .iter()
            .map(|f| page_name(&f.rel, &config).to_lowercase())
            .collect(),
        None => Vec::new(),
    };
    let mut touched: FxHashSet<String> = FxHashSet::default();
    for (i, st) in status.iter().enumerate() {
        if !matches!(st, Status::Same(_)) {
            touched.insert(site.wiki.page(i as PageId).lc_name.clone());
        }
    }
    for &d in &deleted {
        touched.insert(old_names[d].clone());
    }
    // Pages whose scan read a changed template are scanned again.
    let mut rescan = vec![false; n];
    for i in 0..n {
        let p = site.wiki.page(i as PageId);
        if !p.scanned() {
            continue;
        }
        rescan[i] = !matches!(status[i], Status::Same(_))
            || scan_deps[i].iter().any(|d| touched.contains(d));
    }
    let to_scan: Vec<PageId> = (0..n as PageId).filter(|&i| rescan[i as usize]).collect();
    for (id, deps) in to_scan.iter().zip(scan_pages(&mut site, &to_scan)) {
        scan_deps[*id as usize] = deps;
    }
    report.timings.push(("rescan", t1.elapsed()));
    // Link targets: with the same pages as before, unchanged pages' links
    // resolve as they did.
    let reuse: Option<Vec<Option<Vec<Option<PageId>>>>> = match old {
        Some(old) if !page_set_changed => Some(
            (0..n)
                .map(|i| match status[i] {
                    Status::Same(o) if !rescan[i] => Some(
                        old.pages[o]
                            .resolved
                            .iter()
                            .map(|t| t.map(|t| t as PageId))
                            .collect(),
                    ),
                    _ => None,
                })
                .collect(),
        ),
        _ => None,
    };
    site.wiki.compute_backlinks_reusing(reuse);
    report.timings.push(("scan", t1.elapsed()));
    if crate::autofile::create_missing(&site)? > 0 {
        return Ok(true);
    }

    // Decide what to render.
    let t2 = Instant::now();
    let wiki = &site.wiki;
    let mut render = vec![false; n];
    let mut changed_content: FxHashSet<String> = FxHashSet::default();
    let mut exists_changed: FxHashSet<String> = FxHashSet::default();
    let mut linkchangers: FxHashSet<String> = FxHashSet::default();
    match old {
        None => {
            for (i, r) in render.iter_mut().enumerate() {
                *r = true;
                say(verbose, &wiki.pages[i].file, "(full build)");
            }
        }
        Some(old) => {
            let mark = |render: &mut Vec<bool>, i: usize, why: &str| {
                let p = wiki.page(i as PageId);
                if !render[i] && p.kind.is_some() && !p.internal {
                    render[i] = true;
                    say(verbose, &p.file, why);
                }
            };
            for (i, st) in status.iter().enumerate() {
                let p = wiki.page(i as PageId);
                let links_differ =
                    |r: &PageRecord| r.links != p.links || r.typed != typed_to_vec(&p.typed);
                match st {
                    Status::New => {
                        render[i] = true;
                        exists_changed.insert(p.lc_name.clone());
                        changed_content.insert(p.lc_name.clone());
                        linkchangers.insert(p.lc_name.clone());
                        say(verbose, &p.file, "which is new");
                    }
                    Status::Changed => {
                        render[i] = true;
                        changed_content.insert(p.lc_name.clone());
                        if old_pos[i].is_none_or(|o| links_differ(&old.pages[o])) {
                            linkchangers.insert(p.lc_name.clone());
                        }
                        say(verbose, &p.file, "which changed");
                    }
                    Status::Same(o) if rescan[i] => {
                        let r = &old.pages[*o];
                        if links_differ(r) {
                            linkchangers.insert(p.lc_name.clone());
                        }
                        if links_differ(r) || r.meta != p.meta {
                            mark(&mut render, i, "whose template changed");
                        }
                    }
                    Status::Same(_) => {}
                }
            }
            for &d in &deleted {
                exists_changed.insert(old_names[d].clone());
                changed_content.insert(old_names[d].clone());
                linkchangers.insert(old_names[d].clone());
            }

            // Where each old page is now (by name), to compare link targets.
            let old_to_new: Vec<Option<PageId>> = if page_set_changed {
                old_names.iter().map(|n| wiki.id_lc(n)).collect()
            } else {
                (0..old.pages.len() as PageId).map(Some).collect()
            };
            // Pages whose links resolve differently, and the pages whose
            // backlinks may therefore differ.
            let mut bl_candidates: FxHashSet<PageId> = FxHashSet::default();
            for i in 0..n {
                let now = &wiki.resolved[i];
                let before: Option<&Vec<Option<u32>>> = old_pos[i].map(|o| &old.pages[o].resolved);
                // Compared by name: a target that went away differs from a
                // link that was already broken.
                let same = before.is_some_and(|b| {
                    b.len() == now.len()
                        && b.iter().zip(now).all(|(x, y)| match (x, y) {
                            (None, None) => true,
                            (Some(x), Some(y)) if !page_set_changed => *x == *y,
                            (Some(x), Some(y)) => old_names[*x as usize] == wiki.page(*y).lc_name,
                            _ => false,
                        })
                });
                if same {
                    continue;
                }
                bl_candidates.extend(now.iter().flatten());
                if let Some(b) = before {
                    bl_candidates.extend(
                        b.iter()
                            .flatten()
                            .filter_map(|t| old_to_new.get(*t as usize).copied().flatten()),
                    );
                }
                if matches!(status[i], Status::Same(_)) {
                    mark(&mut render, i, "whose links now lead elsewhere");
                    // An internal source is not rendered itself, but the
                    // pages showing it (a comment's parent) are.
                    if wiki.page(i as PageId).internal {
                        changed_content.insert(wiki.page(i as PageId).lc_name.clone());
                    }
                }
            }
            for &d in &deleted {
                bl_candidates.extend(
                    old.pages[d]
                        .resolved
                        .iter()
                        .flatten()
                        .filter_map(|t| old_to_new.get(*t as usize).copied().flatten()),
                );
            }
            // Links made by directives that now resolve elsewhere.
            if page_set_changed {
                for (i, st) in status.iter().enumerate() {
                    let Status::Same(o) = *st else { continue };
                    let moved = old.pages[o].depends.iter().any(|(d, t)| {
                        *t == EXTRA_LINK && {
                            let mut parts = d.split('\u{0}');
                            let (lpage, link, target) = (
                                parts.next().unwrap_or(""),
                                parts.next().unwrap_or(""),
                                parts.next().unwrap_or(""),
                            );
                            wiki.bestlink(lpage, link)
                                .map_or("", |b| wiki.page(b).lc_name.as_str())
                                != target
                        }
                    });
                    if moved {
                        mark(&mut render, i, "whose links now lead elsewhere");
                    }
                }
            }
            // Backlinks, compared where they may have changed.
            if !bl_candidates.is_empty() {
                let mut old_back: FxHashMap<u32, Vec<u32>> = FxHashMap::default();
                let new_to_old: FxHashMap<PageId, usize> = (0..n)
                    .filter_map(|i| old_pos[i].map(|o| (i as PageId, o)))
                    .collect();
                let wanted: FxHashSet<usize> = bl_candidates
                    .iter()
                    .filter_map(|c| new_to_old.get(c).copied())
                    .collect();
                for (from, r) in old.pages.iter().enumerate() {
                    for t in r.resolved.iter().flatten() {
                        if *t as usize != from && wanted.contains(&(*t as usize)) {
                            old_back.entry(*t).or_default().push(from as u32);
                        }
                    }
                }
                let mut cands: Vec<PageId> = bl_candidates.into_iter().collect();
                cands.sort_unstable();
                for c in cands {
                    let mut now: Vec<&str> = wiki.backlinks[c as usize]
                        .iter()
                        .map(|b| wiki.page(*b).lc_name.as_str())
                        .collect();
                    now.sort_unstable();
                    now.dedup();
                    let mut before: Vec<&str> = new_to_old
                        .get(&c)
                        .and_then(|o| old_back.get(&(*o as u32)))
                        .map(|v| v.iter().map(|b| old_names[*b as usize].as_str()).collect())
                        .unwrap_or_default();
                    before.sort_unstable();
                    before.dedup();
                    if now != before {
                        mark(&mut render, c as usize, "to update its backlinks");
                    }
                }
            }
            // Page furniture: parent links, the discussion link, the
            // recentchanges link follow the pages that exist.
            for name in exists_changed.iter() {
                for &id in wiki.with_lc_prefix(&format!("{name}/")) {
                    mark(&mut render, id as usize, "whose parent pages changed");
                }
                if config.discussion
                    && let Some((parent, last)) = name.rsplit_once('/')
                    && last == config.discussionpage.to_lowercase()
                    && let Some(id) = wiki.id_lc(parent)
                {
                    mark(
                        &mut render,
                        id as usize,
                        "whose discussion page came or went",
                    );
                }
                if name == "recentchanges" && config.rcs.is_some() {
                    for i in 0..n {
                        mark(&mut render, i, "because recentchanges came or went");
                    }
                }
            }
            for (i, r) in render.iter().enumerate() {
                if *r {
                    changed_content.insert(wiki.page(i as PageId).lc_name.clone());
                }
            }
            // Dependencies, until nothing more is affected.
            let mut spec_cache: FxHashMap<String, Option<crate::pagespec::PageSpec>> =
                FxHashMap::default();
            // Shortcuts and smileys come from their pages' source text
            // and apply to every page.
            let global_pages: &[&str] = if config.plugins.enabled("smiley") {
                &["shortcuts", "smileys"]
            } else {
                &["shortcuts"]
            };
            let shortcuts_changed = global_pages.iter().any(|g| {
                wiki.id(g)
                    .is_some_and(|i| !matches!(status[i as usize], Status::Same(_)))
                    || deleted.iter().any(|&d| old_names[d] == *g)
            });
            // A trail page rebuilt may have new members, which did not
            // depend on it before.
            let trails_on = config.plugins.enabled("trail");
            let mut trails_done: FxHashSet<usize> = FxHashSet::default();
            loop {
                let mut added = Vec::new();
                if trails_on {
                    for (&t, members) in &site.trails().members {
                        let t = t as usize;
                        if render[t] && trails_done.insert(t) {
                            for &m in members {
                                if !render[m as usize] {
                                    added.push((
                                        m as usize,
                                        format!(
                                            "which is on the trail {}",
                                            wiki.page(t as PageId).name
                                        ),
                                    ));
                                }
                            }
                        }
                    }
                }
                for i in 0..n {
                    if render[i] {
                        continue;
                    }
                    let p = wiki.page(i as PageId);
                    if p.kind.is_none() || p.internal {
                        continue;
                    }
                    let Status::Same(o) = status[i] else { continue };
                    let r = &old.pages[o];
                    // New shortcuts turn unknown directives on any page into
                    // links; pages do not record which unknown ones they use.
                    if shortcuts_changed {
                        added.push((i, "because the shortcuts or smileys changed".to_string()));
                        continue;
                    }
                    if let Some(why) = depends_hit(
                        wiki,
                        &mut spec_cache,
                        p,
                        r,
                        &changed_content,
                        &exists_changed,
                        &linkchangers,
                    ) {
                        added.push((i, why));
                    }
                }
                if added.is_empty() {
                    break;
                }
                for (i, why) in added {
                    if render[i] {
                        continue;
                    }
                    render[i] = true;
                    changed_content.insert(wiki.page(i as PageId).lc_name.clone());
                    say(verbose, &wiki.page(i as PageId).file, &why);
                }
            }
        }
    }
    report.timings.push(("plan", t2.elapsed()));

    // Render and write.
    let t3 = Instant::now();
    let to_render: Vec<PageId> = (0..n as PageId).filter(|&i| render[i as usize]).collect();
    if old.is_some() {
        site.preload(&to_render);
    }
    let destdir = config.destdir.as_path();
    type Out = (
        Vec<(String, u64)>,
        Vec<(String, u8)>,
        Vec<(String, u8)>,
        usize,
        usize,
        Vec<String>,
    );
    let outs: Vec<(PageId, Out)> = to_render
        .par_iter()
        .map(|&id| {
            let p = wiki.page(id);
            let mut written = 0;
            let mut unchanged = 0;
            let mut errs = Vec::new();
            let mut outputs = Vec::new();
            let old_outputs: &[(String, u64)] = match (old, status[id as usize]) {
                (Some(o), Status::Same(i)) => &o.pages[i].outputs,
                (Some(o), Status::Changed) => old_pos[id as usize]
                    .map(|i| o.pages[i].outputs.as_slice())
                    .unwrap_or(&[]),
                _ => &[],
            };
            let mut put = |path: String, data: &[u8]| {
                let hash = content_hash(data);
                let full = destdir.join(&path);
                let same_as_before = !crashed
                    && old_outputs.iter().any(|(p, h)| *p == path && *h == hash)
                    && std::fs::metadata(&full)
                        .is_ok_and(|m| m.is_file() && m.len() == data.len() as u64);
                let r = if same_as_before {
                    Ok(false)
                } else {
                    crate::write::write_if_changed(&full, data)
                };
                match r {
                    Ok(true) => written += 1,
                    Ok(false) => unchanged += 1,
                    Err(e) => errs.push(format!("cannot write {}: {e}", full.display())),
                }
                outputs.push((path, hash));
            };
            // Internal sources are never published. (ikiwiki copies a raw
            // one when it happens to re-render it for its links, which
            // depends on build order; not copying is its intent.)
            if p.internal {
                return (
                    id,
                    (outputs, Vec::new(), Vec::new(), written, unchanged, errs),
                );
            }
            let mut deps = Vec::new();
            let mut spec_deps = Vec::new();
            match &p.kind {
                Some(_) => {
                    let started = Instant::now();
                    let r = render_page(&site, id);
                    let took = started.elapsed();
                    if took > Duration::from_millis(20) {
                        debug!(
                            "slow page {}: {:.1} ms",
                            p.file,
                            took.as_secs_f64() * 1000.0
                        );
                    }
                    put(wiki.htmlpage(&p.name), r.html.as_bytes());
                    for (path, data) in &r.state.outputs {
                        put(path.clone(), data);
                    }
                    for path in &r.state.kept_outputs {
                        // Made by an earlier build and still current.
                        unchanged += 1;
                        outputs.push((path.clone(), 0));
                    }
                    (deps, spec_deps) = record_deps(&r.state);
                }
                None => {
                    let full = destdir.join(&p.file);
                    let res = match p.builtin {
                        Some(content) => crate::write::write_if_changed(&full, content),
                        None => copy_if_changed(&p.src_path, &full, p.mtime_ns, p.size),
                    };
                    match res {
                        Ok(true) => written += 1,
                        Ok(false) => unchanged += 1,
                        Err(e) => errs.push(format!("cannot write {}: {e}", full.display())),
                    }
                    outputs.push((p.file.clone(), 0));
                }
            }
            (id, (outputs, deps, spec_deps, written, unchanged, errs))
        })
        .collect();
    report.timings.push(("render", t3.elapsed()));

    // New records: rendered pages get what this run recorded, the others
    // keep what the last build recorded. A page that was neither rescanned
    // nor rendered, in an unchanged page set (so link targets keep their
    // indices), has exactly its old record: its bytes are written back.
    let mut rendered_out: Vec<Option<Out>> = vec![None; n];
    for (id, out) in outs {
        rendered_out[id as usize] = Some(out);
    }
    let fresh_record = |i: usize, rendered: Option<&mut Out>| -> PageRecord {
        let p = wiki.page(i as PageId);
        let mut r = match (rendered, old, status[i]) {
            (Some(out), _, _) => PageRecord {
                outputs: std::mem::take(&mut out.0),
                depends: std::mem::take(&mut out.1),
                depends_spec: std::mem::take(&mut out.2),
                ..Default::default()
            },
            (None, Some(o), Status::Same(j)) => PageRecord {
                depends: o.pages[j].depends.clone(),
                depends_spec: o.pages[j].depends_spec.clone(),
                outputs: o.pages[j].outputs.clone(),
                ..Default::default()
            },
            _ => PageRecord::default(),
        };
        r.kind = p.kind.clone();
        r.internal = p.internal;
        r.ctime = p.ctime;
        r.mtime = p.mtime;
        r.links = p.links.clone();
        r.typed = typed_to_vec(&p.typed);
        r.meta = p.meta.clone();
        r.resolved = wiki.resolved[i].clone();
        r.scan_deps = scan_deps[i].clone();
        r
    };
    let records: Vec<RecordOut> = rendered_out
        .par_iter_mut()
        .enumerate()
        .map(|(i, out)| match (old, status[i]) {
            (Some(o), Status::Same(j)) if out.is_none() && !rescan[i] && !page_set_changed => {
                debug_assert_eq!(
                    postcard::to_allocvec(&fresh_record(i, None))
                        .ok()
                        .as_deref(),
                    Some(o.encoded.raw(j)),
                    "reused index record of {} differs from a fresh one",
                    files[i].rel
                );
                RecordOut::Same(o.encoded.raw(j))
            }
            _ => RecordOut::Fresh(Box::new(fresh_record(i, out.as_mut()))),
        })
        .collect();
    for (outputs, _, _, written, unchanged, errs) in rendered_out.into_iter().flatten() {
        debug_assert!(outputs.is_empty());
        report.written += written;
        report.unchanged += unchanged;
        for e in errs {
            tracing::error!("{e}");
            report.errors.push(e);
        }
    }
    report.rendered = to_render.len();

    // Outputs no source produces any more.
    {
        let current: FxHashSet<&str> = records
            .iter()
            .enumerate()
            .flat_map(|(i, r)| {
                let outs: &[(String, u64)] = match (r, old, status[i]) {
                    (RecordOut::Fresh(r), _, _) => &r.outputs,
                    (RecordOut::Same(_), Some(o), Status::Same(j)) => &o.pages[j].outputs,
                    (RecordOut::Same(_), _, _) => &[],
                };
                outs.iter().map(|(p, _)| p.as_str())
            })
            .collect();
        let mut stale: Vec<&str> = previous_outputs
            .iter()
            .map(|p| p.as_str())
            .filter(|p| !current.contains(p))
            .collect();
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
    report.errors.extend(site.read_errors());
    let t4 = Instant::now();

    // The index, after every output is in place.
    let entries: Vec<FileEntry> = files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let old_hash = match (old, status[i]) {
                (Some(o), Status::Same(j)) => o.files[j].hash,
                _ => 0,
            };
            let racy = f.mtime_ns >= build_start_ns - RACY_WINDOW_NS;
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
                    None => std::fs::read(&f.abs).map_or(0, |b| content_hash(&b)),
                }
            } else {
                0
            };
            FileEntry {
                rel: f.rel.clone(),
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
    let next_change = records
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let deps = match (r, old, status[i]) {
                (RecordOut::Fresh(r), _, _) => &r.depends,
                (RecordOut::Same(_), Some(o), Status::Same(j)) => &o.pages[j].depends,
                _ => return None,
            };
            deps.iter()
                .filter_map(|(d, _)| crate::directives::calendar::until_time(d))
                .min()
        })
        .min();
    let manifest = Manifest {
        next_change,
        tool: TOOL.to_string(),
        destdir: config.destdir.display().to_string(),
        config_hash: chash,
        templates: tstamps,
        files: entries,
        dirs,
        scan_warnings,
    };
    Index::save(&config.statedir, &manifest, &records)
        .with_context(|| format!("cannot write the index in {}", config.statedir.display()))?;
    report.timings.push(("index save", t4.elapsed()));

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
    report.up_to_date = report.rendered == 0 && report.removed == 0 && deleted.is_empty();
    Ok(false)
}

/// Dependency type recorded for a link made while rendering that the scan
/// did not see; the name is `page\0link\0target` (target lowercased,
/// empty when broken).
const EXTRA_LINK: u8 = 0x80;

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

/// Does page `p` (unchanged, with last build's record `r`) depend on
/// something that changed? Returns why.
fn depends_hit(
    wiki: &Wiki,
    spec_cache: &mut FxHashMap<String, Option<crate::pagespec::PageSpec>>,
    p: &Page,
    r: &PageRecord,
    changed_content: &FxHashSet<String>,
    exists_changed: &FxHashSet<String>,
    linkchangers: &FxHashSet<String>,
) -> Option<String> {
    for (d, t) in &r.depends {
        if *t == EXTRA_LINK {
            continue;
        }
        if let Some(until) = crate::directives::calendar::until_time(d) {
            if crate::directives::calendar::now() >= until {
                return Some("whose calendar has a new day or month to show".into());
            }
            continue;
        }
        if (t & DEPEND_CONTENT != 0 && changed_content.contains(d))
            || (t & DEPEND_PRESENCE != 0 && exists_changed.contains(d))
            || (t & DEPEND_LINKS != 0 && linkchangers.contains(d))
        {
            return Some(format!("which depends on {d}"));
        }
    }
    if r.depends_spec.is_empty() {
        return None;
    }
    let location = p.name.as_str();
    let mp = MatchParams {
        location: Some(location),
        ..Default::default()
    };
    for (spec, t) in &r.depends_spec {
        let parsed = spec_cache
            .entry(spec.clone())
            .or_insert_with(|| crate::pagespec::PageSpec::parse(spec, &wiki.config.plugins).ok());
        let Some(parsed) = parsed.as_ref() else {
            continue;
        };
        // Pages that match now; those that matched before are recorded
        // as page dependencies when the output was made.
        let matches = |name: &str| -> bool {
            name != p.lc_name
                && match wiki.id_lc(name) {
                    Some(id) => parsed.match_id(wiki, id, &mp).is_match(),
                    None => parsed.match_page(wiki, name, &mp).is_match(),
                }
        };
        let sets: [(u8, &FxHashSet<String>); 3] = [
            (DEPEND_CONTENT, changed_content),
            (DEPEND_PRESENCE, exists_changed),
            (DEPEND_LINKS, linkchangers),
        ];
        for (bit, set) in sets {
            if t & bit != 0
                && let Some(hit) = set.iter().find(|n| matches(n))
            {
                return Some(format!("which depends on {hit} (through \"{spec}\")"));
            }
        }
    }
    None
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
