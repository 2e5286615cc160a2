//! Trails: a page lists other pages in order, and each of them shows
//! links to the previous and next page and to the trail itself.
//! `[[!traillink page]]` (a link that also adds the page),
//! `[[!trailitem page]]`, `[[!trailitems pages="spec" pagenames="a b"
//! sort=... reverse=...]]`, `[[!trailoptions sort=... reverse=...
//! circular=...]]`, and `[[!inline ... trail=yes]]`.
//!
//! What a trail contains is found when its page is scanned (it is part of
//! the page's metadata); members and neighbours are worked out once per
//! build, for the whole wiki.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Context, Directive, Params, yesno};
use crate::names::{basename, encode_numeric, linkpage, pagetitle};
use crate::pagespec::{DEPEND_CONTENT, DEPEND_PRESENCE, MatchParams};
use crate::site::Site;
use crate::sort::SortSpec;
use crate::wiki::{LinkOpts, PageId, Wiki};

/// One entry of a trail's definition, in the order written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Part {
    Link(String),
    Spec {
        spec: String,
        sort: String,
        reverse: bool,
    },
    Names(Vec<String>),
}

/// A trail as its page defines it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrailDef {
    pub parts: Vec<Part>,
    pub circular: bool,
    pub sort: Option<String>,
    pub reverse: Option<String>,
}

fn def<'a>(cx: &'a mut Context) -> &'a mut TrailDef {
    cx.state.meta.trail.get_or_insert_with(Default::default)
}

pub struct TrailOptions;
pub struct TrailItem;
pub struct TrailItems;
pub struct TrailLink;

impl Directive for TrailOptions {
    fn scan(&self) -> bool {
        true
    }
    fn run(&self, cx: &mut Context, params: &Params) -> Result<String, String> {
        if cx.scan {
            let d = def(cx);
            if let Some(c) = params.get("circular") {
                d.circular = yesno(c);
            }
            if let Some(s) = params.get("sort") {
                d.sort = Some(s.to_string());
            }
            if let Some(r) = params.get("reverse") {
                d.reverse = Some(r.to_string());
            }
        }
        Ok(String::new())
    }
}

impl Directive for TrailItem {
    fn scan(&self) -> bool {
        true
    }
    fn run(&self, cx: &mut Context, params: &Params) -> Result<String, String> {
        let Some((link, _)) = params.first() else {
            return Ok(String::new());
        };
        let link = linkpage(link);
        cx.state.add_link(&link, Some("trail"));
        if cx.scan {
            def(cx).parts.push(Part::Link(link));
        }
        Ok(String::new())
    }
}

/// The parts `trailitems` (and `inline trail=yes`) add.
pub fn items(cx: &mut Context, params: &Params, default_sort: &str) {
    if !cx.scan {
        return;
    }
    let sort = params.get("sort").unwrap_or(default_sort).to_string();
    let reverse = params.get("reverse").is_some_and(yesno);
    let pages = params.get("pages").map(str::to_string);
    let names = params
        .get("pagenames")
        .map(|n| n.split_whitespace().map(linkpage).collect::<Vec<_>>());
    let d = def(cx);
    if let Some(spec) = pages {
        d.parts.push(Part::Spec {
            spec,
            sort,
            reverse,
        });
    }
    if let Some(names) = names {
        d.parts.push(Part::Names(names));
    }
}

impl Directive for TrailItems {
    fn scan(&self) -> bool {
        true
    }
    fn run(&self, cx: &mut Context, params: &Params) -> Result<String, String> {
        items(cx, params, "path");
        Ok(String::new())
    }
}

impl Directive for TrailLink {
    fn scan(&self) -> bool {
        true
    }
    fn run(&self, cx: &mut Context, params: &Params) -> Result<String, String> {
        let Some((raw, _)) = params.first() else {
            return Ok(String::new());
        };
        let (text, target) = match raw.split_once('|') {
            Some((t, l)) if !t.is_empty() && !l.is_empty() => (Some(pagetitle(t, false)), l),
            _ => (None, raw),
        };
        let link = linkpage(target);
        cx.state.add_link(&link, Some("trail"));
        if cx.scan {
            def(cx).parts.push(Part::Link(link));
            return Ok(String::new());
        }
        let text = params.get("text").map(str::to_string).or(text);
        Ok(cx.wiki().htmllink(
            &cx.page,
            &cx.destpage,
            &link,
            &LinkOpts {
                linktext: text.as_deref(),
                ..Default::default()
            },
        ))
    }
}

/// Where a page stands on one trail.
#[derive(Debug, Clone)]
pub struct Position {
    pub trail: PageId,
    pub prev: Option<PageId>,
    pub next: Option<PageId>,
}

/// Every trail of the wiki: members in order, and each page's positions.
#[derive(Debug, Default)]
pub struct Trails {
    pub members: BTreeMap<PageId, Vec<PageId>>,
    /// By member; trails in name order.
    pub positions: BTreeMap<PageId, Vec<Position>>,
}

impl Trails {
    pub fn compute(wiki: &Wiki, site: &Site) -> Trails {
        let mut t = Trails::default();
        let mut trails: Vec<PageId> = (0..wiki.pages.len() as PageId)
            .filter(|&i| wiki.page(i).meta().trail.is_some())
            .collect();
        trails.sort_by(|a, b| wiki.page(*a).name.cmp(&wiki.page(*b).name));
        for tid in trails {
            let members = members_of(wiki, site, tid);
            let def = wiki.page(tid).meta().trail.as_ref().unwrap();
            let n = members.len();
            for (i, &m) in members.iter().enumerate() {
                let mut pos = Position {
                    trail: tid,
                    prev: i.checked_sub(1).map(|j| members[j]),
                    next: members.get(i + 1).copied(),
                };
                if def.circular && n > 1 {
                    if i == 0 {
                        pos.prev = Some(members[n - 1]);
                    }
                    if i == n - 1 {
                        pos.next = Some(members[0]);
                    }
                }
                t.positions.entry(m).or_default().push(pos);
            }
            t.members.insert(tid, members);
        }
        t
    }
}

fn members_of(wiki: &Wiki, site: &Site, tid: PageId) -> Vec<PageId> {
    let tp = wiki.page(tid);
    let Some(def) = &tp.meta().trail else {
        return Vec::new();
    };
    let mut members: Vec<PageId> = Vec::new();
    for part in &def.parts {
        match part {
            Part::Link(l) => members.extend(wiki.bestlink(&tp.name, l)),
            Part::Names(names) => members.extend(names.iter().filter_map(|n| wiki.id(n))),
            Part::Spec {
                spec,
                sort,
                reverse,
            } => {
                let compiled = site.pagespec(spec);
                let Ok(parsed) = compiled.as_ref() else {
                    continue;
                };
                let mp = MatchParams {
                    location: Some(&tp.name),
                    ..Default::default()
                };
                let mut found: Vec<PageId> = (0..wiki.pages.len() as PageId)
                    .filter(|&i| parsed.match_id(wiki, i, &mp).is_match())
                    .collect();
                if let Ok(s) = SortSpec::parse(sort) {
                    s.sort(wiki, &mut found, *reverse);
                }
                members.extend(found);
            }
        }
    }
    if let Some(sort) = def.sort.as_deref().and_then(|s| SortSpec::parse(s).ok()) {
        sort.sort(wiki, &mut members, false);
    }
    if def.reverse.as_deref().is_some_and(yesno) {
        members.reverse();
    }
    let mut seen = rustc_hash::FxHashSet::default();
    members.retain(|m| seen.insert(*m));
    members
}

/// A page's title as trails show it.
fn title_of(wiki: &Wiki, id: PageId) -> String {
    let p = wiki.page(id);
    match &p.meta().title {
        Some(t) => encode_numeric(t),
        None => pagetitle(basename(&p.name), false),
    }
}

/// The trail navigation for page `id`: the HTML (empty when it is on no
/// trail) and the data for the page template's `trailloop`, recording
/// what they depend on.
pub fn navigation(
    site: &Site,
    id: PageId,
    state: &mut super::PageState,
) -> (String, Vec<serde_json::Value>) {
    let wiki = &site.wiki;
    let trails = site.trails();
    let Some(positions) = trails.positions.get(&id) else {
        return (String::new(), Vec::new());
    };
    let page = wiki.page(id).name.clone();
    let mut loop_items = Vec::new();
    for pos in positions {
        let tp = wiki.page(pos.trail);
        state.add_depends(&tp.name, DEPEND_CONTENT);
        if let Some(def) = &tp.meta().trail {
            for part in &def.parts {
                match part {
                    Part::Spec { spec, sort, .. } => {
                        let t = if sort == "path" {
                            DEPEND_PRESENCE
                        } else {
                            DEPEND_PRESENCE | DEPEND_CONTENT
                        };
                        state.add_depends_spec(spec, t);
                    }
                    Part::Names(names) => {
                        for n in names {
                            state.add_depends(n, DEPEND_PRESENCE);
                        }
                    }
                    Part::Link(_) => {}
                }
            }
        }
        let mut item = serde_json::Map::new();
        for (key, other) in [("prev", pos.prev), ("next", pos.next)] {
            if let Some(o) = other {
                state.add_depends(&wiki.page(o).name, DEPEND_CONTENT);
                item.insert(format!("{key}page"), wiki.page(o).name.clone().into());
                item.insert(format!("{key}title"), title_of(wiki, o).into());
                item.insert(
                    format!("{key}url"),
                    wiki.urlto(&wiki.page(o).name, &page).into(),
                );
            }
        }
        item.insert("trailpage".into(), tp.name.clone().into());
        item.insert("trailtitle".into(), title_of(wiki, pos.trail).into());
        item.insert("trailurl".into(), wiki.urlto(&tp.name, &page).into());
        loop_items.push(serde_json::Value::Object(item));
    }
    let data = serde_json::json!({
        "trailloop": loop_items,
        "html5": wiki.config.html5,
    });
    let html = site.templates.render("trails", &data).unwrap_or_else(|e| {
        format!(
            "<div class=\"error\">{}</div>",
            crate::names::html_escape(&e)
        )
    });
    (html, loop_items)
}
