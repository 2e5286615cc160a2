//! The wiki as the compiler sees it after scanning: every source file as a
//! "page" (ikiwiki's `%pagesources`: raw files are pages named by their
//! path), their links and metadata, and the lookups every renderer needs —
//! bestlink, urlto, htmllink — answered from hash maps.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use crate::config::Config;
use crate::names::{
    abs2rel, basename, beautify_urlpath, dirname, pagetitle, target_infix, targetpage, uri_escape,
};

pub type PageId = u32;

/// Metadata set by `[[!meta]]` (ikiwiki's `$pagestate{$page}{meta}`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Meta {
    pub title: Option<String>,
    pub titlesort: Option<String>,
    pub description: Option<String>,
    pub guid: Option<String>,
    pub license: Option<String>,
    pub copyright: Option<String>,
    pub author: Option<String>,
    pub authorsort: Option<String>,
    pub authorurl: Option<String>,
    pub permalink: Option<String>,
    pub enclosure: Option<String>,
    pub enclosurefile: Option<String>,
    pub updated: Option<i64>,
    /// Creation time set by `[[!meta date=...]]`.
    pub date: Option<i64>,
    pub redir: Option<String>,
    /// The trail this page defines (trail plugin).
    #[serde(default)]
    pub trail: Option<crate::directives::trail::TrailDef>,
    /// Mirrors `[[!ping]]` asks to ping after a build (pinger plugin).
    #[serde(default)]
    pub ping: Vec<String>,
}

/// A page's metadata, allocated only for the pages that set some: most
/// set none, and a refresh holds a record for every page twice over.
/// Reads as an empty [`Meta`] when unset; encoded exactly as a `Meta`.
#[derive(Debug, Clone, Default)]
pub struct MetaBox(Option<Box<Meta>>);

impl PartialEq for MetaBox {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

static NO_META: Meta = Meta {
    title: None,
    titlesort: None,
    description: None,
    guid: None,
    license: None,
    copyright: None,
    author: None,
    authorsort: None,
    authorurl: None,
    permalink: None,
    enclosure: None,
    enclosurefile: None,
    updated: None,
    date: None,
    redir: None,
    trail: None,
    ping: Vec::new(),
};

impl From<Meta> for MetaBox {
    fn from(m: Meta) -> Self {
        MetaBox((m != NO_META).then(|| Box::new(m)))
    }
}

impl std::ops::Deref for MetaBox {
    type Target = Meta;
    fn deref(&self) -> &Meta {
        self.0.as_deref().unwrap_or(&NO_META)
    }
}

impl std::ops::DerefMut for MetaBox {
    fn deref_mut(&mut self) -> &mut Meta {
        self.0.get_or_insert_with(Box::default)
    }
}

impl serde::Serialize for MetaBox {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for MetaBox {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Meta::deserialize(d).map(MetaBox::from)
    }
}

impl Meta {
    /// Value of a meta field by name, for `map show=` and pagespecs.
    pub fn field(&self, name: &str) -> Option<&str> {
        match name {
            "title" => self.title.as_deref(),
            "description" => self.description.as_deref(),
            "guid" => self.guid.as_deref(),
            "license" => self.license.as_deref(),
            "copyright" => self.copyright.as_deref(),
            "author" => self.author.as_deref(),
            "authorurl" => self.authorurl.as_deref(),
            "permalink" => self.permalink.as_deref(),
            "enclosure" => self.enclosure.as_deref(),
            _ => None,
        }
    }
}

/// One source file and what scanning learned about it.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// Page name (`foo/bar` for `foo/bar.mdwn`; the path for raw files).
    pub name: String,
    pub lc_name: String,
    /// Source path relative to its root directory (shared with the
    /// source's entry).
    pub file: std::sync::Arc<str>,
    /// The root the file is in: 0 srcdir, 1.. the underlays,
    /// `u16::MAX` built in (see [`Page::src_path`]).
    pub root: u16,
    pub underlay: bool,
    /// Page type (`mdwn`, `md`, `html`...), `None` for raw files.
    pub kind: Option<&'static str>,
    /// Internal sources (`name._ext`) are scanned for links, as ikiwiki
    /// scans them whether or not a plugin renders their type, but never
    /// rendered as pages of their own.
    pub internal: bool,
    pub ctime: i64,
    pub mtime: i64,
    /// Modification time in nanoseconds (copies keep it exactly).
    pub mtime_ns: i64,
    pub size: u64,
    /// Content built into wikic, for files no root provides.
    pub builtin: Option<&'static [u8]>,
    /// Links, typed links and metadata: what scanning found.
    pub scan: ScanCell,
}

impl Page {
    pub fn is_page(&self) -> bool {
        self.kind.is_some()
    }

    /// Where the file lives on disk (an empty path for built-in files).
    pub fn src_path(&self, config: &Config) -> PathBuf {
        crate::scan::source_path(config, self.root, &self.file)
    }

    /// Whether the source's text is read and scanned for links and
    /// directives: pages, and internal sources of any type.
    pub fn scanned(&self) -> bool {
        self.kind.is_some() || self.internal
    }

    /// Links, in the order they were found, without duplicates.
    pub fn links(&self) -> &[String] {
        &self.scan.get().links
    }

    /// Typed links: link type (`tag`) to targets.
    pub fn typed(&self) -> &TypedLinks {
        &self.scan.get().typed
    }

    pub fn meta(&self) -> &MetaBox {
        &self.scan.get().meta
    }

    pub fn add_link(&mut self, link: &str, kind: Option<&str>) {
        let scan = self.scan.get_mut();
        if !scan.links.iter().any(|l| l == link) {
            scan.links.push(link.to_string());
        }
        if let Some(t) = kind {
            scan.typed.insert(t, link);
        }
    }

    pub fn tags(&self) -> impl Iterator<Item = &str> {
        self.typed().get("tag").iter().map(|x| x.as_str())
    }
}

/// What scanning a source found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScanData {
    pub links: Vec<String>,
    pub typed: TypedLinks,
    pub meta: MetaBox,
}

/// Where the scan data of a page not scanned again comes from: the
/// record the last build wrote, decoded when first asked for — a refresh
/// after an edit looks at a few pages' links and metadata, not at all of
/// them.
pub trait ScanSource: Send + Sync {
    /// The scan data of record `i`.
    fn scan_data(&self, i: usize) -> ScanData;
    /// Where the links of record `i` resolved (page ids of the same
    /// page list), as recorded.
    fn resolved(&self, i: usize) -> &[Option<u32>];
}

/// Link targets to take from the last build's records: where they are,
/// and per page the position of its record there (`None` to resolve the
/// page's links afresh).
pub type RecordedTargets = (Arc<dyn ScanSource>, Vec<Option<usize>>);

/// Where each page's links resolve (parallel to `Page::links`): worked
/// out afresh, or, for pages whose links resolve as they did, the last
/// build's record read in place rather than copied.
#[derive(Clone, Default)]
pub struct ResolvedLinks {
    /// Per page: the fresh resolutions, or where in `old` they are.
    pages: Vec<LinkTargets>,
    old: Option<Arc<dyn ScanSource>>,
}

#[derive(Clone)]
enum LinkTargets {
    Fresh(Vec<Option<PageId>>),
    Recorded(usize),
}

impl ResolvedLinks {
    pub fn is_empty(&self) -> bool {
        self.pages.is_empty()
    }

    /// Where the links of page `i` resolve, if there is such a page.
    pub fn get(&self, i: usize) -> Option<&[Option<PageId>]> {
        match self.pages.get(i)? {
            LinkTargets::Fresh(v) => Some(v),
            LinkTargets::Recorded(j) => self.old.as_ref().map(|o| o.resolved(*j)),
        }
    }
}

impl std::ops::Index<usize> for ResolvedLinks {
    type Output = [Option<PageId>];
    fn index(&self, i: usize) -> &[Option<PageId>] {
        self.get(i).unwrap_or(&[])
    }
}

impl std::fmt::Debug for ResolvedLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries((0..self.pages.len()).map(|i| &self[i]))
            .finish()
    }
}

/// A page's scan data: set by scanning, or read from a [`ScanSource`] on
/// first use. Boxed: a refresh makes thousands of pages and reads the
/// data of a few, and each page's share of memory is paid for in page
/// faults.
#[derive(Clone, Default)]
pub struct ScanCell {
    data: OnceLock<Box<ScanData>>,
    from: Option<(Arc<dyn ScanSource>, usize)>,
}

impl std::fmt::Debug for ScanCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.data.get() {
            Some(d) => d.fmt(f),
            None => f.write_str("(not read yet)"),
        }
    }
}

impl From<ScanData> for ScanCell {
    fn from(data: ScanData) -> ScanCell {
        ScanCell {
            data: OnceLock::from(Box::new(data)),
            from: None,
        }
    }
}

impl ScanCell {
    /// Scan data to be read from record `i` of `from` when first used.
    pub fn read_later(from: Arc<dyn ScanSource>, i: usize) -> ScanCell {
        ScanCell {
            data: OnceLock::new(),
            from: Some((from, i)),
        }
    }

    pub fn get(&self) -> &ScanData {
        self.data.get_or_init(|| {
            Box::new(match &self.from {
                Some((source, i)) => source.scan_data(*i),
                None => ScanData::default(),
            })
        })
    }

    pub fn get_mut(&mut self) -> &mut ScanData {
        self.get();
        self.data.get_mut().expect("initialised just above")
    }

    pub fn set(&mut self, data: ScanData) {
        *self = data.into();
    }
}

/// Typed links (`tag` → targets), kept sorted by type and by target: the
/// same shape in memory as in the index, so a refresh moves a page's
/// typed links out of its old record instead of rebuilding a map.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct TypedLinks(Vec<(String, Vec<String>)>);

impl TypedLinks {
    /// Adds `link` as a link of type `kind` (once).
    pub fn insert(&mut self, kind: &str, link: &str) {
        let i = match self.0.binary_search_by(|(k, _)| k.as_str().cmp(kind)) {
            Ok(i) => i,
            Err(i) => {
                self.0.insert(i, (kind.to_string(), Vec::new()));
                i
            }
        };
        let targets = &mut self.0[i].1;
        if let Err(j) = targets.binary_search_by(|t| t.as_str().cmp(link)) {
            targets.insert(j, link.to_string());
        }
    }

    /// The targets of links of type `kind`, sorted.
    pub fn get(&self, kind: &str) -> &[String] {
        match self.0.binary_search_by(|(k, _)| k.as_str().cmp(kind)) {
            Ok(i) => &self.0[i].1,
            Err(_) => &[],
        }
    }

    /// Whether `link` is a link of type `kind`.
    pub fn contains(&self, kind: &str, link: &str) -> bool {
        self.get(kind)
            .binary_search_by(|t| t.as_str().cmp(link))
            .is_ok()
    }
}

/// A link resolution made while rendering: (linking page, link, where it
/// led, lowercased). A refresh after pages came or went re-resolves these.
pub type Resolution = (String, String, String);

thread_local! {
    /// Resolutions recorded by [`Wiki::htmllink`] on this thread while a
    /// page renders (see [`record_links`]).
    static RECORDER: std::cell::RefCell<Option<Recorded>> = const { std::cell::RefCell::new(None) };
}

/// Resolutions in the order made, each (page, link) once.
#[derive(Default)]
struct Recorded {
    list: Vec<Resolution>,
    seen: rustc_hash::FxHashSet<(String, String)>,
}

/// Runs `f`, returning what it returned and every link resolution
/// [`Wiki::htmllink`] made meanwhile on this thread.
pub fn record_links<T>(f: impl FnOnce() -> T) -> (T, Vec<Resolution>) {
    let outer = RECORDER.with(|r| r.borrow_mut().replace(Recorded::default()));
    let value = f();
    let recorded = RECORDER.with(|r| {
        let mine = r.borrow_mut().take().unwrap_or_default();
        *r.borrow_mut() = outer;
        mine
    });
    (value, recorded.list)
}

fn note_resolution(lpage: &str, link: &str, best: &str) {
    RECORDER.with(|r| {
        if let Some(rec) = r.borrow_mut().as_mut()
            && rec.seen.insert((lpage.to_string(), link.to_string()))
        {
            rec.list
                .push((lpage.to_string(), link.to_string(), best.to_lowercase()));
        }
    });
}

/// Options for [`Wiki::htmllink`].
#[derive(Debug, Default, Clone)]
pub struct LinkOpts<'a> {
    pub linktext: Option<&'a str>,
    pub anchor: Option<&'a str>,
    pub forcesubpage: bool,
    pub noimageinline: bool,
    pub rel: Option<&'a str>,
    pub class: Option<&'a str>,
    pub title: Option<&'a str>,
}

/// Page ids by a name the pages hold (their name or lowercased name),
/// without copying the names: built on every refresh, for thousands of
/// pages. Where two pages share a name, the later one wins.
#[derive(Debug, Clone, Default)]
struct NameIndex {
    table: hashbrown::HashTable<PageId>,
}

impl NameIndex {
    fn hash(name: &str) -> u64 {
        use std::hash::BuildHasher;
        rustc_hash::FxBuildHasher.hash_one(name)
    }

    fn build(pages: &[Page], key: impl Fn(&Page) -> &str) -> NameIndex {
        let mut table = hashbrown::HashTable::with_capacity(pages.len());
        let rehash = |id: &PageId| Self::hash(key(&pages[*id as usize]));
        for (i, p) in pages.iter().enumerate() {
            let name = key(p);
            match table.entry(
                Self::hash(name),
                |id: &PageId| key(&pages[*id as usize]) == name,
                rehash,
            ) {
                hashbrown::hash_table::Entry::Occupied(mut e) => *e.get_mut() = i as PageId,
                hashbrown::hash_table::Entry::Vacant(e) => {
                    e.insert(i as PageId);
                }
            }
        }
        NameIndex { table }
    }

    fn get(&self, pages: &[Page], key: impl Fn(&Page) -> &str, name: &str) -> Option<PageId> {
        self.table
            .find(Self::hash(name), |id| key(&pages[*id as usize]) == name)
            .copied()
    }
}

/// A list of pages for each page, in one array: thousands of small
/// vectors cost an allocation and fresh memory each.
#[derive(Debug, Clone, Default)]
pub struct PageLists {
    /// Where each page's list starts in `items`; one more at the end.
    starts: Vec<u32>,
    items: Vec<PageId>,
}

impl PageLists {
    /// The lists of `n` pages from (from, to) pairs: `from` goes in the
    /// list of `to`. Pairs come with `from` never decreasing; a pair
    /// repeated is entered once.
    fn from_pairs(n: usize, pairs: impl Iterator<Item = (PageId, PageId)> + Clone) -> PageLists {
        // The last `from` entered per list, to leave out repeats.
        let mut last: Vec<PageId> = vec![PageId::MAX; n];
        let mut counts: Vec<u32> = vec![0; n + 1];
        for (from, to) in pairs.clone() {
            if last[to as usize] != from {
                last[to as usize] = from;
                counts[to as usize + 1] += 1;
            }
        }
        for i in 0..n {
            counts[i + 1] += counts[i];
        }
        let mut fill: Vec<u32> = counts[..n].to_vec();
        let mut items: Vec<PageId> = vec![0; counts[n] as usize];
        last.fill(PageId::MAX);
        for (from, to) in pairs {
            if last[to as usize] != from {
                last[to as usize] = from;
                items[fill[to as usize] as usize] = from;
                fill[to as usize] += 1;
            }
        }
        PageLists {
            starts: counts,
            items,
        }
    }

    /// These lists with each page left out of its own.
    fn without_own(&self) -> PageLists {
        let n = self.starts.len().saturating_sub(1);
        let mut starts = Vec::with_capacity(n + 1);
        let mut items = Vec::with_capacity(self.items.len());
        starts.push(0);
        for i in 0..n {
            items.extend(self[i].iter().copied().filter(|&p| p as usize != i));
            starts.push(items.len() as u32);
        }
        PageLists { starts, items }
    }

    /// The list of page `i`, if there is such a page.
    pub fn get(&self, i: usize) -> Option<&[PageId]> {
        let (a, b) = (*self.starts.get(i)?, *self.starts.get(i + 1)?);
        Some(&self.items[a as usize..b as usize])
    }
}

impl std::ops::Index<usize> for PageLists {
    type Output = [PageId];
    fn index(&self, i: usize) -> &[PageId] {
        self.get(i).unwrap_or(&[])
    }
}

/// The output paths (relative to destdir) of the published sources, as
/// a set, without making the strings: a page's path is its name, the
/// infix `targetpage` puts there and the extension; a raw file's is its
/// own path.
#[derive(Debug, Clone, Default)]
struct DestIndex {
    table: hashbrown::HashTable<PageId>,
    ext: String,
    usedirs: bool,
}

impl DestIndex {
    /// The parts' bytes joined, hashed (a word at a time), so that a path
    /// hashes the same whole or in pieces. Joined on the stack: the table
    /// is made of thousands of them on every refresh.
    fn hash(parts: [&str; 3]) -> u64 {
        use std::hash::BuildHasher;
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let mut buf = [0u8; 256];
        if len > buf.len() {
            return rustc_hash::FxBuildHasher.hash_one(parts.concat().as_bytes());
        }
        let mut at = 0;
        for p in parts {
            buf[at..at + p.len()].copy_from_slice(p.as_bytes());
            at += p.len();
        }
        rustc_hash::FxBuildHasher.hash_one(&buf[..len])
    }

    fn parts<'a>(&'a self, p: &'a Page) -> Option<[&'a str; 3]> {
        match (&p.kind, p.internal) {
            (_, true) => None,
            (None, false) => Some([&p.file, "", ""]),
            (Some(_), false) => Some([&p.name, target_infix(&p.name, self.usedirs), &self.ext]),
        }
    }

    fn build(pages: &[Page], config: &Config) -> DestIndex {
        let mut d = DestIndex {
            table: hashbrown::HashTable::new(),
            ext: config.htmlext.clone(),
            usedirs: config.usedirs,
        };
        let mut table = hashbrown::HashTable::with_capacity(pages.len());
        let rehash = |id: &PageId| d.parts(&pages[*id as usize]).map_or(0, Self::hash);
        // Two sources with one output path are both entered: a set
        // lookup finds either.
        for (i, p) in pages.iter().enumerate() {
            if let Some(key) = d.parts(p) {
                table.insert_unique(Self::hash(key), i as PageId, rehash);
            }
        }
        d.table = table;
        d
    }

    fn contains(&self, pages: &[Page], path: &str) -> bool {
        let spells = |[a, b, c]: [&str; 3]| {
            path.len() == a.len() + b.len() + c.len()
                && path.starts_with(a)
                && path[a.len()..].starts_with(b)
                && path.ends_with(c)
        };
        self.table
            .find(Self::hash([path, "", ""]), |id| {
                self.parts(&pages[*id as usize]).is_some_and(spells)
            })
            .is_some()
    }
}

#[derive(Debug, Clone)]
pub struct Wiki {
    pub config: Arc<Config>,
    pub pages: Vec<Page>,
    by_name: NameIndex,
    by_lc: NameIndex,
    /// Output paths (relative to destdir) of the published sources.
    dest: DestIndex,
    /// For each page, the pages that link to it (ikiwiki's %backlinks).
    pub backlinks: PageLists,
    /// For each page, where each of its links resolves (parallel to
    /// `Page::links`), so pagespecs do not resolve links again.
    pub resolved: ResolvedLinks,
    /// For each page, every page with a link resolving to it — internal
    /// pages and self-links included, unlike `backlinks`.
    pub linkers: PageLists,
    /// Page ids ordered by lowercased name, for prefix ranges.
    by_lc_sorted: Vec<PageId>,
}

impl Wiki {
    pub fn new(config: Arc<Config>, pages: Vec<Page>) -> Wiki {
        Wiki::with_lc_order(config, pages, None)
    }

    /// A wiki of `pages`, given their order by lowercased name when it is
    /// known (the last build's, for the same pages in the same order).
    pub fn with_lc_order(
        config: Arc<Config>,
        pages: Vec<Page>,
        lc_order: Option<Vec<PageId>>,
    ) -> Wiki {
        let mut w = Wiki {
            config,
            pages,
            by_name: NameIndex::default(),
            by_lc: NameIndex::default(),
            dest: DestIndex::default(),
            backlinks: PageLists::default(),
            resolved: ResolvedLinks::default(),
            linkers: PageLists::default(),
            by_lc_sorted: Vec::new(),
        };
        w.reindex_with(lc_order);
        w
    }

    /// The pages in the order of their lowercased names.
    pub fn lc_order(&self) -> &[PageId] {
        &self.by_lc_sorted
    }

    /// Rebuilds the name, case and destination maps after `pages` changed.
    pub fn reindex(&mut self) {
        self.reindex_with(None);
    }

    /// [`Wiki::reindex`], taking the order by lowercased name if known:
    /// sorting thousands of names is the longest of the four maps.
    fn reindex_with(&mut self, lc_order: Option<Vec<PageId>>) {
        for p in self.pages.iter_mut() {
            if p.lc_name.is_empty() {
                p.lc_name = p.name.to_lowercase();
            }
        }
        let (pages, config) = (&self.pages, &self.config);
        // Four independent maps, made two at a time.
        let ((by_name, by_lc), (dest, sorted)) = rayon::join(
            || {
                (
                    NameIndex::build(pages, |p| &p.name),
                    NameIndex::build(pages, |p| &p.lc_name),
                )
            },
            || {
                let sort = || {
                    let mut sorted: Vec<PageId> = (0..pages.len() as PageId).collect();
                    // Ties (names differing only in case) in page order, as
                    // a stable sort would leave them.
                    sorted.sort_unstable_by(|a, b| {
                        pages[*a as usize]
                            .lc_name
                            .cmp(&pages[*b as usize].lc_name)
                            .then(a.cmp(b))
                    });
                    sorted
                };
                let sorted = match lc_order {
                    Some(order) if order.len() == pages.len() => {
                        debug_assert_eq!(order, sort(), "the order given is not the pages'");
                        order
                    }
                    _ => sort(),
                };
                (DestIndex::build(pages, config), sorted)
            },
        );
        (self.by_name, self.by_lc, self.dest, self.by_lc_sorted) = (by_name, by_lc, dest, sorted);
    }

    /// Pages whose lowercased name starts with `prefix` (lowercase).
    pub fn with_lc_prefix(&self, prefix: &str) -> &[PageId] {
        let key = |id: &PageId| self.pages[*id as usize].lc_name.as_str();
        let start = self.by_lc_sorted.partition_point(|id| key(id) < prefix);
        let len = self.by_lc_sorted[start..].partition_point(|id| key(id).starts_with(prefix));
        &self.by_lc_sorted[start..start + len]
    }

    pub fn id(&self, name: &str) -> Option<PageId> {
        self.by_name.get(&self.pages, |p| &p.name, name)
    }

    /// A page by lowercased name.
    pub fn id_lc(&self, lc_name: &str) -> Option<PageId> {
        self.by_lc.get(&self.pages, |p| &p.lc_name, lc_name)
    }

    pub fn page(&self, id: PageId) -> &Page {
        &self.pages[id as usize]
    }

    pub fn page_named(&self, name: &str) -> Option<&Page> {
        self.id(name).map(|i| self.page(i))
    }

    pub fn exists(&self, name: &str) -> bool {
        self.id(name).is_some()
    }

    fn lookup_exact_or_case(&self, candidate: &str) -> Option<PageId> {
        if let Some(id) = self.id(candidate) {
            return Some(id);
        }
        self.id_lc(&candidate.to_lowercase())
    }

    /// Resolves a link from `page` the way ikiwiki does: try the link as a
    /// subpage of the page, then of each parent, then at the top; then in
    /// `userdir`. Case-insensitive as a fallback.
    pub fn bestlink(&self, page: &str, link: &str) -> Option<PageId> {
        let (mut cwd, link) = match link.strip_prefix('/') {
            Some(rest) => ("", rest.trim_start_matches('/')),
            None => (page, link),
        };
        let link = link.strip_suffix('/').unwrap_or(link);
        let mut buf = String::with_capacity(cwd.len() + link.len() + 1);
        loop {
            buf.clear();
            buf.push_str(cwd);
            if !cwd.is_empty() {
                buf.push('/');
            }
            buf.push_str(link);
            if let Some(id) = self.lookup_exact_or_case(&buf) {
                return Some(id);
            }
            if cwd.is_empty() {
                break;
            }
            // `s{/?[^/]+$}{}`: drop the last component and its slash.
            cwd = match cwd.rfind('/') {
                Some(i) => &cwd[..i],
                None => "",
            };
        }
        let userdir = &self.config.userdir;
        if !userdir.is_empty() {
            let l = format!("{}/{}", userdir, link.to_lowercase());
            if let Some(id) = self.lookup_exact_or_case(&l) {
                return Some(id);
            }
        }
        None
    }

    /// Like [`bestlink`](Self::bestlink) but returns the page name, or ""
    /// when nothing matches, as ikiwiki's function does.
    pub fn bestlink_name(&self, page: &str, link: &str) -> &str {
        match self.bestlink(page, link) {
            Some(id) => &self.page(id).name,
            None => "",
        }
    }

    pub fn htmlpage(&self, page: &str) -> String {
        targetpage(page, &self.config.htmlext, self.config.usedirs)
    }

    fn beautify(&self, url: &str) -> String {
        beautify_urlpath(url, self.config.usedirs, &self.config.htmlext)
    }

    /// The output file a page name or file resolves to.
    fn dest_of(&self, to: &str) -> String {
        let to = if to.is_empty() { "index" } else { to };
        if self.dest.contains(&self.pages, to) {
            to.to_string()
        } else {
            self.htmlpage(to)
        }
    }

    /// URL of `to` relative to the page `from`.
    pub fn urlto(&self, to: &str, from: &str) -> String {
        let to = self.dest_of(to);
        let from_dir = self.htmlpage(from);
        let link = abs2rel(&to, dirname(&from_dir));
        self.beautify(&link)
    }

    /// URL of the output file `file` (a path in destdir) from page `from`.
    pub fn urlto_file(&self, file: &str, from: &str) -> String {
        let from_dir = self.htmlpage(from);
        let link = abs2rel(file, dirname(&from_dir));
        self.beautify(&link)
    }

    /// Absolute URL of `to` (using the configured `url`).
    pub fn urlto_abs(&self, to: &str) -> String {
        let to = self.dest_of(to);
        format!("{}{}", self.config.url, self.beautify(&format!("/{to}")))
    }

    /// URL of `to` from the wiki root, without a host (`urlto($to)`).
    pub fn urlto_local(&self, to: &str) -> String {
        let to = self.dest_of(to);
        let base = self.config.local_url.trim_end_matches('/');
        format!("{}{}", base, self.beautify(&format!("/{to}")))
    }

    /// Relative path from `page`'s output directory to the wiki root.
    pub fn baseurl(&self, page: &str) -> String {
        let html = self.htmlpage(page);
        let dir = match html.rfind('/') {
            Some(i) => &html[..=i],
            None => "",
        };
        let mut out = String::new();
        for c in dir.split('/').filter(|c| !c.is_empty()) {
            let _ = c;
            out.push_str("../");
        }
        out
    }

    /// A CGI URL with parameters, sorted by name and escaped as ikiwiki does.
    pub fn cgiurl(&self, params: &[(&str, &str)]) -> String {
        let mut params: Vec<&(&str, &str)> = params.iter().collect();
        params.sort_by(|a, b| a.0.cmp(b.0));
        let mut url = self.config.local_cgiurl.clone();
        for (i, (k, v)) in params.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            if i > 0 {
                url.push_str("amp;");
            }
            url.push_str(k);
            url.push('=');
            url.push_str(&uri_escape(v));
        }
        url
    }

    /// Renders a link from `lpage` (the page the link is written on) as it
    /// appears on `page` (where it is shown; differs when inlined).
    pub fn htmllink(&self, lpage: &str, page: &str, link: &str, opts: &LinkOpts) -> String {
        let link = link.strip_suffix('/').unwrap_or(link);
        if opts.forcesubpage {
            let best = format!("{}/{}", lpage, link.to_lowercase());
            return self.htmllink_to(lpage, page, link, &best, opts);
        }
        let best = self.bestlink(lpage, link);
        self.htmllink_resolved(lpage, page, link, best, opts)
    }

    /// [`htmllink`](Self::htmllink) for a link already resolved to `best`.
    pub fn htmllink_resolved(
        &self,
        lpage: &str,
        page: &str,
        link: &str,
        best: Option<PageId>,
        opts: &LinkOpts,
    ) -> String {
        let link = link.strip_suffix('/').unwrap_or(link);
        let best = best.map_or("", |b| self.page(b).name.as_str());
        self.htmllink_to(lpage, page, link, best, opts)
    }

    fn htmllink_to(
        &self,
        lpage: &str,
        page: &str,
        link: &str,
        best: &str,
        opts: &LinkOpts,
    ) -> String {
        if !opts.forcesubpage {
            note_resolution(lpage, link, best);
        }
        let best = best.to_string();
        let linktext = match opts.linktext {
            Some(t) => t.to_string(),
            None => pagetitle(basename(link), false),
        };
        if !best.is_empty() && best == page && opts.anchor.is_none() {
            return format!("<span class=\"selflink\">{linktext}</span>");
        }
        let target = if self.dest.contains(&self.pages, &best) {
            best
        } else {
            let html = self.htmlpage(&best);
            if !self.dest.contains(&self.pages, &html) {
                let mut cgilink = String::new();
                if !self.config.cgiurl.is_empty() {
                    cgilink = format!(
                        "<a href=\"{}\" rel=\"nofollow\">?</a>",
                        self.cgiurl(&[("do", "create"), ("page", link), ("from", lpage)])
                    );
                }
                return format!("<span class=\"createlink\">{cgilink}{linktext}</span>");
            }
            html
        };
        let page_html = self.htmlpage(page);
        let mut url = self.beautify(&abs2rel(&target, dirname(&page_html)));
        if !opts.noimageinline && is_inlinable_image(&url) {
            return format!("<img src=\"{url}\" alt=\"{linktext}\" />");
        }
        if let Some(a) = opts.anchor {
            url.push('#');
            url.push_str(a);
        }
        let mut attrs = String::new();
        for (name, val) in [
            ("rel", opts.rel),
            ("class", opts.class),
            ("title", opts.title),
        ] {
            if let Some(v) = val {
                attrs.push_str(&format!(" {name}=\"{v}\""));
            }
        }
        format!("<a href=\"{url}\"{attrs}>{linktext}</a>")
    }

    /// Pages linking to each page (self-links excluded), computed from the
    /// scanned links with one bestlink per link. Links from internal
    /// sources count, as in ikiwiki.
    pub fn compute_backlinks(&mut self) {
        self.compute_backlinks_reusing(None);
    }

    /// [`compute_backlinks`](Self::compute_backlinks), taking link
    /// targets from the records of `known` where given: per page, the
    /// position of its record there, for pages whose links and whose
    /// possible targets have not changed.
    pub fn compute_backlinks_reusing(&mut self, known: Option<RecordedTargets>) {
        use rayon::prelude::*;
        let (old, known) = known.unzip();
        let mut known = known.unwrap_or_default();
        known.resize(self.pages.len(), None);
        let pages: Vec<LinkTargets> = self
            .pages
            .par_iter()
            .zip(known.into_par_iter())
            .map(|(p, k)| match k {
                // Made from the same record as the links: one target per
                // link, without reading the links.
                Some(j) => LinkTargets::Recorded(j),
                None => LinkTargets::Fresh(
                    p.links()
                        .iter()
                        .map(|l| self.bestlink(&p.name, l))
                        .collect(),
                ),
            })
            .collect();
        let resolved = ResolvedLinks { pages, old };
        // Linking pages come in increasing order: each list is sorted as
        // it is filled, and a repeated link is the last one entered.
        let pairs = (0..resolved.pages.len()).flat_map(|from| {
            resolved[from]
                .iter()
                .flatten()
                .map(move |&to| (from as PageId, to))
        });
        self.linkers = PageLists::from_pairs(self.pages.len(), pairs);
        // Internal sources count, as they do for ikiwiki.
        self.backlinks = self.linkers.without_own();
        self.resolved = resolved;
    }

    /// Where link number `i` of page `id` resolves.
    pub fn resolved_link(&self, id: PageId, i: usize) -> Option<PageId> {
        match self.resolved.get(id as usize).and_then(|r| r.get(i)) {
            Some(r) => *r,
            None => {
                let p = self.page(id);
                self.bestlink(&p.name, &p.links()[i])
            }
        }
    }

    /// Every link that resolves nowhere, with the pages using it
    /// (ikiwiki's %brokenlinks).
    pub fn broken_links(&self) -> BTreeMap<String, Vec<PageId>> {
        let mut out: BTreeMap<String, Vec<PageId>> = BTreeMap::new();
        for (i, p) in self.pages.iter().enumerate() {
            for l in p.links() {
                if self.bestlink(&p.name, l).is_none() {
                    out.entry(l.clone()).or_default().push(i as PageId);
                }
            }
        }
        out
    }

    /// Creation time as pagespecs and sorting see it (meta date wins).
    pub fn ctime(&self, id: PageId) -> i64 {
        let p = self.page(id);
        p.meta().date.unwrap_or(p.ctime)
    }
}

pub fn is_inlinable_image(file: &str) -> bool {
    let lower = file.to_ascii_lowercase();
    [".png", ".gif", ".jpg", ".jpeg", ".svg"]
        .iter()
        .any(|e| lower.ends_with(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_data_is_read_from_its_source_once_and_only_when_asked() {
        struct Counting(std::sync::atomic::AtomicUsize);
        impl ScanSource for Counting {
            fn scan_data(&self, i: usize) -> ScanData {
                self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                ScanData {
                    links: vec![format!("link{i}")],
                    ..Default::default()
                }
            }
            fn resolved(&self, _: usize) -> &[Option<u32>] {
                &[]
            }
        }
        let source = Arc::new(Counting(0.into()));
        let reads = || source.0.load(std::sync::atomic::Ordering::SeqCst);
        let mut page = Page {
            scan: ScanCell::read_later(source.clone(), 7),
            ..Default::default()
        };
        let copy = page.clone();
        assert_eq!(reads(), 0, "nothing read before it is asked for");
        assert_eq!(page.links(), ["link7"]);
        assert!(page.meta().title.is_none());
        assert_eq!(reads(), 1, "read once");
        page.add_link("extra", Some("tag"));
        assert_eq!(page.links(), ["link7", "extra"]);
        assert_eq!(page.tags().collect::<Vec<_>>(), ["extra"]);
        assert_eq!(reads(), 1);
        // A copy made before the read reads for itself; one set by a scan
        // never reads.
        assert_eq!(copy.links(), ["link7"]);
        assert_eq!(reads(), 2);
        page.scan.set(ScanData::default());
        assert!(page.links().is_empty());
        assert_eq!(reads(), 2);
    }

    #[test]
    fn typed_links_are_sorted_and_unique_as_the_index_stores_them() {
        let mut t = TypedLinks::default();
        for (kind, link) in [("tag", "b"), ("tag", "a"), ("author", "x"), ("tag", "b")] {
            t.insert(kind, link);
        }
        assert_eq!(t.get("tag"), ["a", "b"]);
        assert!(t.contains("author", "x") && !t.contains("tag", "x"));
        assert!(t.get("none").is_empty());
        // The index's encoding: (type, targets) pairs, both sorted.
        let as_pairs: Vec<(String, Vec<String>)> = vec![
            ("author".into(), vec!["x".into()]),
            ("tag".into(), vec!["a".into(), "b".into()]),
        ];
        assert_eq!(
            postcard::to_allocvec(&t).unwrap(),
            postcard::to_allocvec(&as_pairs).unwrap()
        );
    }

    #[test]
    fn boxed_meta_reads_encodes_and_compares_as_meta() {
        let empty = MetaBox::default();
        assert_eq!(empty.title, None);
        // Written to and cleared again: still equal to one never set.
        // (Through `&mut Meta`: writing goes through `DerefMut`.)
        let mut cleared = MetaBox::default();
        let m: &mut Meta = &mut cleared;
        m.title = Some("t".into());
        m.title = None;
        assert_eq!(cleared, empty);
        let mut set = MetaBox::default();
        let m: &mut Meta = &mut set;
        m.title = Some("Title".into());
        m.ping.push("http://mirror/".into());
        let meta = Meta {
            title: Some("Title".into()),
            ping: vec!["http://mirror/".into()],
            ..Default::default()
        };
        let bytes = postcard::to_allocvec(&set).unwrap();
        assert_eq!(bytes, postcard::to_allocvec(&meta).unwrap());
        let back: MetaBox = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, set);
        // An empty record decodes to no allocation at all.
        let none: MetaBox =
            postcard::from_bytes(&postcard::to_allocvec(&Meta::default()).unwrap()).unwrap();
        assert!(none.0.is_none());
    }

    #[test]
    fn output_paths_are_the_pages_and_raw_files_published() {
        let page = |name: &str, file: &str, kind: Option<&'static str>, internal: bool| Page {
            name: name.into(),
            file: file.into(),
            kind,
            internal,
            ..Default::default()
        };
        // Longer than the stack buffer the parts are joined in.
        let long = "l".repeat(300);
        let long_file = format!("{long}.mdwn");
        let pages = || {
            vec![
                page(&long, &long_file, Some("mdwn"), false),
                page("index", "index.mdwn", Some("mdwn"), false),
                page("blog/post", "blog/post.mdwn", Some("mdwn"), false),
                page("logo.png", "logo.png", None, false),
                page(
                    "blog/post/comment_1",
                    "blog/post/comment_1._comment",
                    Some("_comment"),
                    true,
                ),
            ]
        };
        for usedirs in [true, false] {
            let mut c = Config::for_tests();
            c.usedirs = usedirs;
            let w = Wiki::new(Arc::new(c), pages());
            let is = |p: &str| w.dest.contains(&w.pages, p);
            let post = if usedirs {
                "blog/post/index.html"
            } else {
                "blog/post.html"
            };
            let long_out = if usedirs {
                format!("{long}/index.html")
            } else {
                format!("{long}.html")
            };
            assert!(
                is("index.html") && is(post) && is("logo.png") && is(&long_out),
                "usedirs {usedirs}"
            );
            assert!(!is(&format!("{long}x.html")) && !is(&long));
            for absent in [
                "index/index.html",
                "blog/post",
                "blog/post/index.htm",
                "xblog/post/index.html",
                "logo.png/index.html",
                "blog/post/comment_1/index.html",
                "blog/post/comment_1.html",
                "",
            ] {
                assert!(!is(absent), "{absent} (usedirs {usedirs})");
            }
        }
    }
}
