//! Deciding what a refresh renders: changed pages, pages whose links now
//! lead elsewhere or whose backlinks changed, page furniture that follows
//! pages coming and going, and pages depending — by name or PageSpec, on
//! content, presence or links — on any of those, until nothing more is
//! affected.
//!
//! Only the pages a change can reach are looked at: dependencies are found
//! through the index's dependents-by-name table, and a page's recorded
//! dependencies are decoded only when it is a candidate.

use rustc_hash::{FxHashMap, FxHashSet};

use super::{OldState, say};
use crate::index::{ModelRecord, OutputRecord, name_hash};
use crate::pagespec::{DEPEND_CONTENT, DEPEND_LINKS, DEPEND_PRESENCE, MatchParams, PageSpec};
use crate::site::Site;
use crate::wiki::{Page, PageId, Wiki};

/// How a source compares with the last build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Status {
    New,
    Changed,
    /// Unchanged; index of its record in the old index.
    Same(usize),
}

impl Status {
    /// New and changed sources: `plan` renders them whatever else it
    /// finds, so the build may start on them before it is done.
    pub(super) fn always_rendered(self) -> bool {
        !matches!(self, Status::Same(_))
    }
}

/// How the current sources relate to the last build's.
pub(super) struct Changes {
    pub status: Vec<Status>,
    /// For each current source, its position in the old index.
    pub old_pos: Vec<Option<usize>>,
    /// For each old source, where it is now.
    pub new_of_old: Vec<Option<PageId>>,
    /// Old positions of the sources that are gone.
    pub deleted: Vec<usize>,
    /// Sources came or went (so old and new positions differ).
    pub page_set_changed: bool,
    /// Unchanged pages scanned again (their scan read a changed page).
    pub rescan: Vec<bool>,
    /// Lowercased names of the old sources, when the page set changed
    /// (otherwise they are the current names).
    old_names: Vec<String>,
}

impl Changes {
    pub fn new(
        status: Vec<Status>,
        old_pos: Vec<Option<usize>>,
        old_files: &[crate::index::FileEntry],
        config: &crate::config::Config,
    ) -> Changes {
        let mut new_of_old = vec![None; old_files.len()];
        for (i, o) in old_pos.iter().enumerate() {
            if let Some(o) = o {
                new_of_old[*o] = Some(i as PageId);
            }
        }
        let deleted: Vec<usize> = (0..old_files.len())
            .filter(|&o| new_of_old[o].is_none())
            .collect();
        let page_set_changed = !deleted.is_empty() || status.contains(&Status::New);
        let old_names = if page_set_changed {
            old_files
                .iter()
                .map(|f| crate::scan::page_name(&f.rel, config).to_lowercase())
                .collect()
        } else {
            Vec::new()
        };
        Changes {
            rescan: vec![false; status.len()],
            status,
            old_pos,
            new_of_old,
            deleted,
            page_set_changed,
            old_names,
        }
    }

    /// Every source is new (a full build).
    pub fn all_new(n: usize) -> Changes {
        Changes {
            status: vec![Status::New; n],
            old_pos: vec![None; n],
            new_of_old: Vec::new(),
            deleted: Vec::new(),
            page_set_changed: false,
            rescan: vec![false; n],
            old_names: Vec::new(),
        }
    }

    /// The lowercased name old source `o` had (`pages` are the current
    /// ones).
    pub fn old_name<'a>(&'a self, pages: &'a [Page], o: usize) -> &'a str {
        if self.page_set_changed {
            &self.old_names[o]
        } else {
            &pages[o].lc_name
        }
    }

    fn same(&self, i: usize) -> Option<usize> {
        match self.status[i] {
            Status::Same(o) => Some(o),
            _ => None,
        }
    }
}

/// What changed, by lowercased name, as dependencies see it.
#[derive(Default)]
struct Changed {
    content: FxHashSet<String>,
    presence: FxHashSet<String>,
    links: FxHashSet<String>,
}

/// Which pages of a refresh to render, saying why with `verbose`.
pub(super) fn plan(site: &Site, old: &OldState, ch: &Changes, verbose: bool) -> Vec<bool> {
    let wiki = &site.wiki;
    let config = &wiki.config;
    let n = wiki.pages.len();
    let body = &old.body;
    let mut render = vec![false; n];
    let mut changed = Changed::default();
    let mark = |render: &mut Vec<bool>, i: usize, why: &str| {
        let p = wiki.page(i as PageId);
        if !render[i] && p.kind.is_some() && !p.internal {
            render[i] = true;
            say(verbose, &p.file, why);
        }
    };
    for (i, st) in ch.status.iter().enumerate() {
        let p = wiki.page(i as PageId);
        let links_differ = |r: &ModelRecord| r.links != p.links() || r.typed != *p.typed();
        match st {
            Status::New => {
                render[i] = true;
                changed.presence.insert(p.lc_name.clone());
                changed.content.insert(p.lc_name.clone());
                changed.links.insert(p.lc_name.clone());
                say(verbose, &p.file, "which is new");
            }
            Status::Changed => {
                render[i] = true;
                changed.content.insert(p.lc_name.clone());
                if ch.old_pos[i].is_none_or(|o| links_differ(body.model(o))) {
                    changed.links.insert(p.lc_name.clone());
                }
                say(verbose, &p.file, "which changed");
            }
            Status::Same(o) if ch.rescan[i] => {
                let r = body.model(*o);
                let links = links_differ(r);
                if links {
                    changed.links.insert(p.lc_name.clone());
                }
                if links || r.meta != *p.meta() {
                    mark(&mut render, i, "whose template changed");
                }
            }
            Status::Same(_) => {}
        }
    }
    for &d in &ch.deleted {
        let name = ch.old_name(&wiki.pages, d);
        changed.presence.insert(name.to_string());
        changed.content.insert(name.to_string());
        changed.links.insert(name.to_string());
    }

    // Pages whose links resolve differently, and the pages whose
    // backlinks may therefore differ.
    let mut bl_candidates: FxHashSet<PageId> = FxHashSet::default();
    for i in 0..n {
        let now = &wiki.resolved[i];
        let before: Option<&[Option<u32>]> = ch.old_pos[i].map(|o| body.summary(o).resolved);
        // Compared by name: a target that went away differs from a link
        // that was already broken.
        let same = before.is_some_and(|b| {
            b.len() == now.len()
                && b.iter().zip(now).all(|(x, y)| match (x, y) {
                    (None, None) => true,
                    (Some(x), Some(y)) if !ch.page_set_changed => *x == *y,
                    (Some(x), Some(y)) => {
                        ch.old_name(&wiki.pages, *x as usize) == wiki.page(*y).lc_name
                    }
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
                    .filter_map(|t| ch.new_of_old.get(*t as usize).copied().flatten()),
            );
        }
        if ch.same(i).is_some() {
            mark(&mut render, i, "whose links now lead elsewhere");
            // An internal source is not rendered itself, but the pages
            // showing it (a comment's parent) are.
            if wiki.page(i as PageId).internal {
                changed
                    .content
                    .insert(wiki.page(i as PageId).lc_name.clone());
            }
        }
    }
    for &d in &ch.deleted {
        bl_candidates.extend(
            body.summary(d)
                .resolved
                .iter()
                .flatten()
                .filter_map(|t| ch.new_of_old.get(*t as usize).copied().flatten()),
        );
    }
    if ch.page_set_changed {
        // Links made by directives, which the scan does not see, may now
        // resolve elsewhere.
        old.body.decode_all_outputs();
        for i in 0..n {
            let Some(o) = ch.same(i) else { continue };
            if extra_links_moved(wiki, old.body.output(o)) {
                mark(&mut render, i, "whose links now lead elsewhere");
            }
        }
    }
    for c in changed_backlinks(wiki, old, ch, bl_candidates) {
        mark(&mut render, c as usize, "to update its backlinks");
    }
    // Page furniture: parent links, the discussion link, the recentchanges
    // link follow the pages that exist.
    for name in changed.presence.iter() {
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
            changed
                .content
                .insert(wiki.page(i as PageId).lc_name.clone());
        }
    }
    follow_dependencies(site, old, ch, &mut render, &mut changed, verbose);
    render
}

/// Whether a link a directive made (recorded as an [`EXTRA_LINK`]
/// dependency) now resolves to another page.
fn extra_links_moved(wiki: &Wiki, r: &OutputRecord) -> bool {
    r.depends.iter().any(|(d, t)| {
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
    })
}

/// Of the candidates, the pages whose backlinks differ from the last
/// build's.
fn changed_backlinks(
    wiki: &Wiki,
    old: &OldState,
    ch: &Changes,
    candidates: FxHashSet<PageId>,
) -> Vec<PageId> {
    if candidates.is_empty() {
        return Vec::new();
    }
    let wanted: FxHashSet<usize> = candidates
        .iter()
        .filter_map(|&c| ch.old_pos[c as usize])
        .collect();
    let mut old_back: FxHashMap<u32, Vec<u32>> = FxHashMap::default();
    for (from, r) in old.body.summaries().enumerate() {
        for t in r.resolved.iter().flatten() {
            if *t as usize != from && wanted.contains(&(*t as usize)) {
                old_back.entry(*t).or_default().push(from as u32);
            }
        }
    }
    let mut cands: Vec<PageId> = candidates.into_iter().collect();
    cands.sort_unstable();
    cands
        .into_iter()
        .filter(|&c| {
            let mut now: Vec<&str> = wiki.backlinks[c as usize]
                .iter()
                .map(|b| wiki.page(*b).lc_name.as_str())
                .collect();
            now.sort_unstable();
            now.dedup();
            let mut before: Vec<&str> = ch.old_pos[c as usize]
                .and_then(|o| old_back.get(&(o as u32)))
                .map(|v| {
                    v.iter()
                        .map(|b| ch.old_name(&wiki.pages, *b as usize))
                        .collect()
                })
                .unwrap_or_default();
            before.sort_unstable();
            before.dedup();
            now != before
        })
        .collect()
}

/// Marks the pages depending on what changed, and what depends on those,
/// until nothing more is affected.
fn follow_dependencies(
    site: &Site,
    old: &OldState,
    ch: &Changes,
    render: &mut [bool],
    changed: &mut Changed,
    verbose: bool,
) {
    let wiki = &site.wiki;
    let config = &wiki.config;
    let n = wiki.pages.len();
    let mut spec_cache: FxHashMap<String, Option<PageSpec>> = FxHashMap::default();
    // Shortcuts and smileys come from their pages' source text and apply
    // to every page.
    let global_pages: &[&str] = if config.plugins.enabled("smiley") {
        &["shortcuts", "smileys"]
    } else {
        &["shortcuts"]
    };
    let shortcuts_changed = global_pages.iter().any(|g| {
        wiki.id(g).is_some_and(|i| ch.same(i as usize).is_none())
            || ch
                .deleted
                .iter()
                .any(|&d| ch.old_name(&wiki.pages, d) == *g)
    });
    // Pages matching PageSpecs or showing the date are checked every
    // time; the others only when something they name changed.
    let always: Vec<usize> = (0..n)
        .filter(|&i| {
            ch.same(i).is_some_and(|o| {
                let m = old.body.summary(o);
                m.has_depends_spec || m.until.is_some()
            })
        })
        .collect();
    // A trail page rebuilt may have new members, which did not depend on
    // it before.
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
                                format!("which is on the trail {}", wiki.page(t as PageId).name),
                            ));
                        }
                    }
                }
            }
        }
        // Old positions of the pages naming something that changed.
        let named: FxHashSet<usize> = changed
            .content
            .iter()
            .chain(&changed.presence)
            .chain(&changed.links)
            .flat_map(|name| old.body.dependents_of(name_hash(name)))
            .collect();
        let candidates: Vec<usize> = if shortcuts_changed {
            (0..n).collect()
        } else {
            let mut c = always.clone();
            c.extend(
                named
                    .iter()
                    .filter_map(|&o| ch.new_of_old.get(o).copied().flatten())
                    .map(|i| i as usize),
            );
            c.sort_unstable();
            c.dedup();
            c
        };
        for i in candidates {
            if render[i] {
                continue;
            }
            let p = wiki.page(i as PageId);
            if p.kind.is_none() || p.internal {
                continue;
            }
            let Some(o) = ch.same(i) else { continue };
            // New shortcuts turn unknown directives on any page into
            // links; pages do not record which unknown ones they use.
            if shortcuts_changed {
                added.push((i, "because the shortcuts or smileys changed".to_string()));
                continue;
            }
            let names_hit = named.contains(&o);
            if let Some(why) = depends_hit(wiki, &mut spec_cache, p, old, o, names_hit, changed) {
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
            changed
                .content
                .insert(wiki.page(i as PageId).lc_name.clone());
            say(verbose, &wiki.page(i as PageId).file, &why);
        }
    }
}

/// Dependency type recorded for a link made while rendering that the scan
/// did not see; the name is `page\0link\0target` (target lowercased,
/// empty when broken).
pub(super) const EXTRA_LINK: u8 = 0x80;

/// Does page `p` (unchanged, at `o` in the last build) depend on
/// something that changed? Returns why. Its recorded page dependencies
/// are read only when the dependents index says it `named` something
/// that changed.
fn depends_hit(
    wiki: &Wiki,
    spec_cache: &mut FxHashMap<String, Option<PageSpec>>,
    p: &Page,
    old: &OldState,
    o: usize,
    named: bool,
    changed: &Changed,
) -> Option<String> {
    let summary = old.body.summary(o);
    if summary
        .until
        .is_some_and(|u| crate::directives::calendar::now() >= u)
    {
        return Some("whose calendar has a new day or month to show".into());
    }
    if named {
        let hit = old.body.find_depend(o, |d, t| {
            (t & DEPEND_CONTENT != 0 && changed.content.contains(d))
                || (t & DEPEND_PRESENCE != 0 && changed.presence.contains(d))
                || (t & DEPEND_LINKS != 0 && changed.links.contains(d))
        });
        if let Some(d) = hit {
            return Some(format!("which depends on {d}"));
        }
    }
    if !summary.has_depends_spec {
        return None;
    }
    let m = old.body.model(o);
    let mp = MatchParams {
        location: Some(p.name.as_str()),
        ..Default::default()
    };
    for (spec, t) in &m.depends_spec {
        let parsed = spec_cache
            .entry(spec.clone())
            .or_insert_with(|| PageSpec::parse(spec, &wiki.config.plugins).ok());
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
            (DEPEND_CONTENT, &changed.content),
            (DEPEND_PRESENCE, &changed.presence),
            (DEPEND_LINKS, &changed.links),
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

/// The names a page's dependencies are found under in the dependents
/// index: every page dependency but directive links and dates.
pub(super) fn indexed_names(r: &OutputRecord) -> impl Iterator<Item = &str> {
    r.depends
        .iter()
        .filter(|(d, t)| *t != EXTRA_LINK && crate::directives::calendar::until_time(d).is_none())
        .map(|(d, _)| d.as_str())
}
