//! Directives (`[[!name ...]]`): one file per directive behind the
//! [`Directive`] trait, gathered in a [`Registry`] that only holds the
//! directives of enabled plugins.
//!
//! A directive runs in one of two passes, as in ikiwiki: the *scan* pass
//! (only directives that say so) records links, tags and metadata for the
//! whole wiki; the *render* pass produces the text that replaces the
//! directive. Errors become ikiwiki's error span and the build goes on.

use std::collections::BTreeSet;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::preprocess::{Finder, parse_params};
use crate::site::Site;

pub mod brokenlinks;
pub mod calendar;
pub mod color;
pub mod comment;
pub mod conditional;
pub mod edittemplate;
pub mod format;
pub mod img;
pub mod inline;
pub mod map;
pub mod meta;
pub mod more;
pub mod orphans;
pub mod pagecount;
pub mod pagestats;
pub mod ping;
pub mod progress;
pub mod shortcut;
pub mod sidebar;
pub mod table;
pub mod tag;
pub mod template;
pub mod templatebody;
pub mod toc;
pub mod toggle;
pub mod trail;
pub mod version;

/// Directive parameters in the order written; lookups by key see the last
/// value, as a Perl hash built from the list would.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params {
    pub pairs: Vec<(String, String)>,
}

impl Params {
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Params { pairs }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn has(&self, key: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == key)
    }

    /// ikiwiki's `yesno`: "yes" or "1" (case-insensitive) is true.
    pub fn yes(&self, key: &str) -> bool {
        self.get(key).is_some_and(yesno)
    }

    /// Keys in order, each once (first occurrence).
    pub fn keys(&self) -> Vec<&str> {
        let mut seen: Vec<&str> = Vec::new();
        for (k, _) in &self.pairs {
            if !seen.contains(&k.as_str()) {
                seen.push(k);
            }
        }
        seen
    }

    pub fn first(&self) -> Option<(&str, &str)> {
        self.pairs.first().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

pub fn yesno(v: &str) -> bool {
    let l = v.to_lowercase();
    l == "yes" || l == "1"
}

/// Options a `[[!toc]]` left for the format stage.
#[derive(Debug, Clone, Default)]
pub struct TocRequest {
    pub levels: usize,
    pub startlevel: usize,
}

/// What directives learned about the page being processed.
#[derive(Debug, Clone, Default)]
pub struct PageState {
    pub links: Vec<String>,
    pub typed: crate::wiki::TypedLinks,
    pub meta: crate::wiki::MetaBox,
    /// Lines for the page's `<head>`.
    pub metaheaders: Vec<String>,
    /// HTML kept out of Markdown's way, put back after htmlize.
    pub placeholders: Vec<String>,
    pub toc: Option<TocRequest>,
    pub feedlinks: String,
    /// Extra files this page renders (feeds), path relative to destdir.
    pub outputs: Vec<(String, Vec<u8>)>,
    /// Extra files this page renders that are already up to date in
    /// destdir (scaled images made by an earlier build).
    pub kept_outputs: Vec<String>,
    /// `[[!img defaults ...]]` for the images after it.
    pub img_defaults: Option<Params>,
    /// `[[!sidebar]]` on the page: its own sidebar content, or `None`
    /// for the sidebar page even where sidebars are not global.
    pub sidebar: Option<Option<String>>,
    /// Who wrote the comment this page is (comments plugin).
    pub comment: Option<comment::CommentInfo>,
    /// Page names this page's output depends on, with dependency types.
    pub depends: Vec<(String, u8)>,
    /// PageSpecs this page's output depends on, with dependency types.
    pub depends_spec: Vec<(String, u8)>,
    /// Where each name is in `depends` (a page with thousands of
    /// comments depends on each of them).
    depends_at: FxHashMap<String, usize>,
    /// Links rendered that the scan did not see (they came out of a
    /// directive or template): linking page, link, where it led. A new or
    /// deleted page can change them.
    pub extra_links: Vec<crate::wiki::Resolution>,
}

impl PageState {
    pub fn add_link(&mut self, link: &str, kind: Option<&str>) {
        if !self.links.iter().any(|l| l == link) {
            self.links.push(link.to_string());
        }
        if let Some(t) = kind {
            self.typed.insert(t, link);
        }
    }

    pub fn add_depends(&mut self, page: &str, deptype: u8) {
        if let Some(&i) = self.depends_at.get(page) {
            self.depends[i].1 |= deptype;
        } else {
            self.depends_at.insert(page.to_string(), self.depends.len());
            self.depends.push((page.to_string(), deptype));
        }
    }

    pub fn add_depends_spec(&mut self, spec: &str, deptype: u8) {
        if let Some(e) = self.depends_spec.iter_mut().find(|(p, _)| p == spec) {
            e.1 |= deptype;
        } else {
            self.depends_spec.push((spec.to_string(), deptype));
        }
    }
}

/// Every page whose links count for backlinks: internal sources
/// (comments) link too.
pub const ALL_LINKERS: &str = "* or internal(*)";

/// Nested preprocessing of one page deeper than this is a loop (ikiwiki).
const MAX_PAGE_DEPTH: u32 = 8;
/// Overall nesting (inlines of inlines...) deeper than this is refused.
pub const MAX_NESTING: u32 = 32;

/// Everything a directive may look at and record while it runs.
pub struct Context<'a> {
    pub site: &'a Site,
    /// The page whose text is being processed.
    pub page: String,
    /// The page the result will appear on (differs inside inlines).
    pub destpage: String,
    pub scan: bool,
    pub preview: bool,
    pub state: PageState,
    /// Inline nesting depth (0 for the page itself).
    pub nesting: u32,
    depth: FxHashMap<String, u32>,
}

impl<'a> Context<'a> {
    pub fn new(site: &'a Site, page: &str, destpage: &str, scan: bool) -> Self {
        Context {
            site,
            page: page.to_string(),
            destpage: destpage.to_string(),
            scan,
            preview: false,
            state: PageState::default(),
            nesting: 0,
            depth: FxHashMap::default(),
        }
    }

    /// Expands directives in `text` written on this context's page.
    pub fn preprocess(&mut self, text: &str) -> String {
        preprocess(self, text)
    }

    pub fn wiki(&self) -> &'a crate::wiki::Wiki {
        &self.site.wiki
    }
}

/// A directive implementation.
pub trait Directive: Send + Sync {
    /// True when the directive must also run in the scan pass (it records
    /// links, tags or metadata other pages rely on).
    fn scan(&self) -> bool {
        false
    }

    /// Runs the directive; the returned text replaces it. An `Err` becomes
    /// ikiwiki's error span.
    fn run(&self, cx: &mut Context, params: &Params) -> Result<String, String>;
}

/// Directives by name, built for one set of enabled plugins.
#[derive(Clone, Default)]
pub struct Registry {
    map: FxHashMap<String, Arc<dyn Directive>>,
}

impl Registry {
    /// The built-in directives of the enabled plugins.
    pub fn for_plugins(plugins: &crate::plugins::PluginSet) -> Self {
        let mut reg = Registry::default();
        let all: Vec<(&str, &str, Arc<dyn Directive>)> = vec![
            ("meta", "meta", Arc::new(meta::MetaDirective)),
            ("tag", "tag", Arc::new(tag::Tag)),
            ("tag", "taglink", Arc::new(tag::TagLink)),
            ("template", "template", Arc::new(template::Template)),
            (
                "templatebody",
                "templatebody",
                Arc::new(templatebody::TemplateBody),
            ),
            ("shortcut", "shortcut", Arc::new(shortcut::ShortcutDef)),
            ("toc", "toc", Arc::new(toc::Toc)),
            ("toggle", "toggle", Arc::new(toggle::Toggle)),
            ("more", "more", Arc::new(more::More)),
            ("progress", "progress", Arc::new(progress::Progress)),
            ("color", "color", Arc::new(color::Color)),
            ("table", "table", Arc::new(table::Table)),
            ("pagestats", "pagestats", Arc::new(pagestats::PageStats)),
            ("img", "img", Arc::new(img::Img)),
            ("format", "format", Arc::new(format::Format)),
            ("sidebar", "sidebar", Arc::new(sidebar::Sidebar)),
            ("trail", "trailoptions", Arc::new(trail::TrailOptions)),
            ("trail", "trailitem", Arc::new(trail::TrailItem)),
            ("trail", "trailitems", Arc::new(trail::TrailItems)),
            ("trail", "traillink", Arc::new(trail::TrailLink)),
            ("toggle", "toggleable", Arc::new(toggle::Toggleable)),
            ("calendar", "calendar", Arc::new(calendar::Calendar)),
            (
                "edittemplate",
                "edittemplate",
                Arc::new(edittemplate::EditTemplate),
            ),
            ("pinger", "ping", Arc::new(ping::Ping)),
            ("version", "version", Arc::new(version::Version)),
            ("comments", "comment", Arc::new(comment::Comment)),
            // The name old comment files use.
            ("comments", "_comment", Arc::new(comment::Comment)),
            ("map", "map", Arc::new(map::Map)),
            ("inline", "inline", Arc::new(inline::Inline)),
            ("conditional", "if", Arc::new(conditional::If)),
            ("pagecount", "pagecount", Arc::new(pagecount::PageCount)),
            ("orphans", "orphans", Arc::new(orphans::Orphans)),
            (
                "brokenlinks",
                "brokenlinks",
                Arc::new(brokenlinks::BrokenLinks),
            ),
        ];
        for (plugin, name, d) in all {
            if plugins.enabled(plugin) {
                reg.map.insert(name.to_string(), d);
            }
        }
        reg
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn Directive>> {
        self.map.get(name)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    /// Adds a directive unless one of that name exists (shortcuts never
    /// override real directives).
    pub fn add_if_absent(&mut self, name: &str, d: Arc<dyn Directive>) {
        self.map.entry(name.to_string()).or_insert(d);
    }

    pub fn names(&self) -> BTreeSet<&str> {
        self.map.keys().map(|k| k.as_str()).collect()
    }
}

/// Encodes an error message so Markdown leaves it alone: everything but
/// letters, digits and a few safe characters becomes an entity.
pub fn encode_error(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    for c in msg.chars() {
        if c.is_ascii_alphanumeric() || "-+_,./:;= '".contains(c) {
            out.push(c);
        } else {
            match c {
                '"' => out.push_str("&quot;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '&' => out.push_str("&amp;"),
                _ => out.push_str(&format!("&#{};", c as u32)),
            }
        }
    }
    out
}

/// The error span ikiwiki puts where a directive failed.
pub fn error_span(command: &str, msg: &str) -> String {
    format!(
        "[[!{command} <span class=\"error\">Error: {}</span>]]",
        encode_error(msg)
    )
}

/// Expands every directive in `text` for the context's page.
pub fn preprocess(cx: &mut Context, text: &str) -> String {
    if !text.contains("[[") {
        return text.to_string();
    }
    let prefix_directives = cx.site.wiki.config.prefix_directives;
    let mut finder = Finder::new(text, prefix_directives);
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    let mut last = 0;
    while let Some(found) = finder.next(pos) {
        pos = found.end;
        out.push_str(&text[last..found.start]);
        last = found.end;
        let sep = if prefix_directives || !found.params.is_empty() {
            " "
        } else {
            ""
        };
        if found.escaped {
            out.push_str(&format!(
                "[[{}{}{}{}]]",
                found.prefix, found.command, sep, found.params
            ));
            continue;
        }
        let Some(directive) = cx.site.directive(found.command) else {
            out.push_str(&format!(
                "[[{}{}{}{}]]",
                found.prefix, found.command, sep, found.params
            ));
            continue;
        };
        if cx.scan && !directive.scan() {
            continue;
        }
        let params = Params::new(parse_params(found.params));
        let counter = cx.depth.entry(cx.page.clone()).or_insert(0);
        *counter += 1;
        if *counter > MAX_PAGE_DEPTH + 1 {
            let depth = *counter;
            *counter -= 1;
            if !cx.scan {
                out.push_str(&format!(
                    "[[!{} <span class=\"error\">preprocessing loop detected on {} at depth {}</span>]]",
                    found.command, cx.page, depth
                ));
            }
            continue;
        }
        let result = directive.run(cx, &params);
        if let Some(c) = cx.depth.get_mut(&cx.page) {
            *c -= 1;
        }
        if cx.scan {
            continue;
        }
        match result {
            Ok(s) => out.push_str(&s),
            Err(e) => out.push_str(&error_span(found.command, &e)),
        }
    }
    out.push_str(&text[last..]);
    out
}

/// Whether the page `page` matches `spec` (relative globs taken from the
/// context's page), recording what the answer depends on. A spec that
/// does not parse does not match.
pub fn page_matches(cx: &mut Context, spec: &str, page: &str) -> bool {
    let location = cx.page.clone();
    page_matches_at(cx, spec, page, &location)
}

/// [`page_matches`] with relative globs taken from `location`.
pub fn page_matches_at(cx: &mut Context, spec: &str, page: &str, location: &str) -> bool {
    let parsed = cx.site.pagespec(spec);
    let Ok(parsed) = parsed.as_ref() else {
        return false;
    };
    let mp = crate::pagespec::MatchParams {
        location: Some(location),
        sourcepage: Some(&cx.page),
        destpage: Some(&cx.destpage),
        track: true,
        ..Default::default()
    };
    let r = parsed.match_page(cx.wiki(), page, &mp);
    for (p, d) in &r.influences.pages {
        cx.state.add_depends(p, *d);
    }
    r.is_match()
}

/// Pages matching `spec` as seen from the context's page, in wiki order
/// (ikiwiki's `pagespec_match_list`), recording the dependency. `filter`
/// names a page to leave out (usually the page itself).
pub fn match_pages(
    cx: &mut Context,
    spec: &str,
    deptype: u8,
    filter: Option<&str>,
) -> Result<Vec<crate::wiki::PageId>, String> {
    match_pages_with(cx, spec, deptype, filter, None, None)
}

/// [`match_pages`] with a result limit and, for `[[!if]]`, the source
/// and destination pages `sourcepage()`/`destpage()` test.
pub fn match_pages_with(
    cx: &mut Context,
    spec: &str,
    deptype: u8,
    filter: Option<&str>,
    num: Option<usize>,
    destpage: Option<&str>,
) -> Result<Vec<crate::wiki::PageId>, String> {
    let started = std::time::Instant::now();
    let parsed = cx.site.pagespec(spec);
    let parsed = parsed.as_ref().as_ref().map_err(|e| e.to_string())?;
    cx.state.add_depends_spec(spec, deptype);
    let page = cx.page.clone();
    let cache = std::cell::RefCell::new(crate::pagespec::LinkCache::default());
    let mp = crate::pagespec::MatchParams {
        cache: Some(&cache),
        track: true,
        location: Some(&page),
        sourcepage: destpage.map(|_| page.as_str()),
        destpage,
        ..Default::default()
    };
    let wiki = cx.wiki();
    let mut out = Vec::new();
    // Influences that hold whichever page is tested (the links of X for
    // `backlink(X)`) become dependencies, as in ikiwiki.
    let mut influences: Vec<(String, u8)> = Vec::new();
    // Kinds of change that could make a page that failed match (its links
    // for `tagged()`): the spec must be re-tested against pages changed
    // that way. (ikiwiki drops these, and misses a page starting to
    // match; a refresh here must equal a rebuild.)
    let mut failed_on: u8 = 0;
    let mut try_page = |id: crate::wiki::PageId| -> Result<bool, String> {
        if filter == Some(wiki.page(id).name.as_str()) {
            return Ok(false);
        }
        let r = parsed.match_id(wiki, id, &mp);
        // Static influences (the links of X for `backlink(X)`) hold
        // whichever page is tested; a match's own influences (its links
        // for `link()`) only matter while it matches.
        if !r.influences.dynamic || r.is_match() {
            for (p, t) in &r.influences.pages {
                if !influences.iter().any(|(q, u)| q == p && u == t) {
                    influences.push((p.clone(), *t));
                }
            }
        } else {
            for (_, t) in &r.influences.pages {
                failed_on |= t;
            }
        }
        if r.is_error() {
            return Err(format!("cannot match pages: {}", r.reason));
        }
        if r.is_match() {
            out.push(id);
            if num.is_some_and(|n| out.len() >= n) {
                return Ok(true);
            }
        }
        Ok(false)
    };
    match parsed.candidates(wiki, Some(&page)) {
        Some(candidates) => {
            for id in candidates {
                if try_page(id)? {
                    break;
                }
            }
        }
        None => {
            for id in 0..wiki.pages.len() as crate::wiki::PageId {
                if try_page(id)? {
                    break;
                }
            }
        }
    }
    if failed_on != 0 {
        cx.state.add_depends_spec(spec, failed_on);
    }
    for (p, t) in influences {
        cx.state.add_depends(&p, t);
    }
    // Every page listed depends the output on that page, so one that
    // changes so as to stop matching is noticed (the spec alone only
    // finds pages that match now).
    for &id in &out {
        let name = wiki.page(id).name.clone();
        cx.state.add_depends(&name, deptype);
    }
    let took = started.elapsed();
    if took > std::time::Duration::from_millis(1) {
        tracing::debug!(
            "slow pagespec {spec:?} on {}: {:.1} ms",
            cx.page,
            took.as_secs_f64() * 1000.0
        );
    }
    Ok(out)
}
