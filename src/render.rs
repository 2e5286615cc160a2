//! Rendering one page: preprocess → linkify → htmlize (Markdown and the
//! scrubber) → page template → format (inline placeholders, toc). Pure
//! with respect to the shared [`Site`], so pages render in parallel.

use serde_json::{Map, Value, json};

use crate::directives::{Context, PageState, preprocess, tag, toc};
use crate::names::{basename, encode_numeric, pagetitle, uri_escape_keep};
use crate::pagespec::MatchParams;
use crate::site::Site;
use crate::timefmt;
use crate::wiki::{LinkOpts, PageId, Wiki};

/// A rendered page and the extra files it produced.
#[derive(Debug, Default)]
pub struct Rendered {
    pub html: String,
    pub state: PageState,
}

/// Turns preprocessed, linkified page text into HTML: Markdown for
/// Markdown pages, then the htmlscrubber.
pub fn htmlize(site: &Site, page: &str, destpage: &str, kind: &str, text: &str) -> String {
    let oneline = !text.contains('\n');
    let mut html = match kind {
        "html" | "htm" => text.to_string(),
        "txt" => format!("<pre>{}</pre>", crate::names::html_escape(text)),
        // A comment's directive has already made its HTML.
        "_comment" | "_change" => text.to_string(),
        "_comment_pending" => "this comment needs moderation".to_string(),
        _ => site.markdown.to_html(text),
    };
    if let Some(scrubber) = &site.scrubber
        && !skip_scrub(site, page)
    {
        html = scrubber.scrub(&html);
    }
    if site.wiki.config.plugins.enabled("smiley") {
        let smileys = site.smileys();
        if !smileys.is_empty() {
            html = smileys.apply(&site.wiki, page, destpage, &html);
        }
    }
    if oneline {
        // Drop the paragraph Markdown wraps a single line in.
        if html.len() >= 3 && html[..3].eq_ignore_ascii_case("<p>") {
            html.drain(..3);
        }
        let trimmed = html.trim_end_matches('\n');
        if trimmed.len() >= 4 && trimmed[trimmed.len() - 4..].eq_ignore_ascii_case("</p>") {
            html.truncate(trimmed.len() - 4);
        }
    }
    html
}

fn skip_scrub(site: &Site, page: &str) -> bool {
    let Some(spec) = &site.wiki.config.htmlscrubber_skip else {
        return false;
    };
    match site.pagespec(spec).as_ref() {
        Ok(s) => s.matches(&site.wiki, page, &MatchParams::default()),
        Err(_) => false,
    }
}

/// The body of `page` as it appears on `destpage`.
pub fn body(cx: &mut Context, kind: &str, text: &str) -> String {
    let pre = preprocess(cx, text);
    let linked = crate::links::linkify(cx.wiki(), &cx.page, &cx.destpage, &pre);
    htmlize(cx.site, &cx.page, &cx.destpage, kind, &linked)
}

/// Content of `id` rendered for inclusion in `destpage` (inlines, feeds).
pub fn inline_content(site: &Site, id: PageId, destpage: &str, nesting: u32) -> String {
    inline_render(site, id, destpage, nesting).0
}

/// [`inline_content`] and what the inlined page's directives recorded.
pub fn inline_render(site: &Site, id: PageId, destpage: &str, nesting: u32) -> (String, PageState) {
    let p = site.wiki.page(id);
    let Some(kind) = p.kind else {
        return Default::default();
    };
    if nesting > crate::directives::MAX_NESTING {
        let err = crate::directives::error_span("inline", "inlines nested too deeply");
        return (err, PageState::default());
    }
    let text = match site.source(id) {
        Some(t) => t,
        None => return Default::default(),
    };
    let mut cx = Context::new(site, &p.name, destpage, false);
    cx.nesting = nesting;
    let html = body(&mut cx, kind, text);
    // Blocks kept out of Markdown's way on the inlined page go back in
    // now; the including page has its own.
    let html = if cx.state.placeholders.is_empty() {
        html
    } else {
        fill_placeholders(&html, &cx.state.placeholders)
    };
    (html, cx.state)
}

/// ikiwiki's `displaytime`.
pub fn displaytime(wiki: &Wiki, t: i64, format: Option<&str>, pubdate: bool) -> String {
    let fmt = format.unwrap_or(&wiki.config.timeformat);
    let shown = timefmt::format(t, fmt, wiki.config.timezone.as_deref());
    if wiki.config.html5 {
        format!(
            "<time datetime=\"{}\"{}>{}</time>",
            timefmt::date_3339(t),
            if pubdate { " pubdate=\"pubdate\"" } else { "" },
            shown
        )
    } else {
        format!("<span class=\"date\">{shown}</span>")
    }
}

/// Backlinks of a page as the footer shows them: common leading
/// directories trimmed, sorted by shown name then URL.
pub fn backlinks(wiki: &Wiki, id: PageId) -> Vec<(String, String)> {
    let page = &wiki.page(id).name;
    let mut out: Vec<(String, String)> = Vec::new();
    for &b in wiki.backlinks.get(id as usize).unwrap_or(&[]) {
        let from = &wiki.page(b).name;
        let url = wiki.urlto(from, page);
        let (mut p, mut q) = (from.as_str(), page.as_str());
        while let Some(i) = q.find('/') {
            let dir = &q[..=i];
            if let Some(rest) = p.strip_prefix(dir) {
                p = rest;
                q = &q[i + 1..];
            } else {
                break;
            }
        }
        out.push((pagetitle(p, false), url));
    }
    out.sort();
    out
}

/// The trail of links to the page's parents (ikiwiki's parentlinks).
pub fn parentlinks(wiki: &Wiki, page: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut path = String::new();
    let mut title = wiki.config.wikiname.clone();
    let parts: Vec<&str> = page.split('/').collect();
    let n = parts.len();
    for (i, dir) in parts.iter().enumerate() {
        if *dir == "index" {
            continue;
        }
        let target = wiki.bestlink_name(page, &path).to_string();
        out.push(json!({
            "url": wiki.urlto(&target, page),
            "page": title,
            "depth": i,
            "height": n - i,
        }));
        path.push('/');
        path.push_str(dir);
        title = pagetitle(dir, false);
    }
    out
}

/// Renders a page to its final HTML, recording the link resolutions the
/// scan did not already know (those made by directives and templates).
pub fn render_page(site: &Site, id: PageId) -> Rendered {
    let (mut r, resolutions) = crate::wiki::record_links(|| render_page_inner(site, id));
    let wiki = &site.wiki;
    for (lpage, link, best) in resolutions {
        let scanned = wiki
            .page_named(&lpage)
            .is_some_and(|p| p.links().contains(&link));
        if !scanned {
            r.state.extra_links.push((lpage, link, best));
        }
    }
    r
}

fn render_page_inner(site: &Site, id: PageId) -> Rendered {
    let wiki = &site.wiki;
    let p = wiki.page(id);
    let kind = p.kind.unwrap_or("mdwn");
    let mut cx = Context::new(site, &p.name, &p.name, false);
    let text = site.source(id).unwrap_or("");
    let mut content = body(&mut cx, kind, text);
    if let Some(err) = site.source_error(id) {
        content = format!(
            "<div class=\"error\">{}</div>\n{content}",
            crate::names::html_escape(err)
        );
    }
    let mut extra = Map::new();
    if crate::directives::comment::enabled(site) {
        crate::directives::comment::page_vars(&mut cx, id, &mut extra);
    }
    // The page's furniture (parent links, discussion and recentchanges
    // links) depends on which pages exist; a refresh handles that by
    // name (see `build::furniture_affected`) rather than by recording it.
    let mut state = cx.state;
    let sidebar =
        if wiki.config.plugins.enabled("sidebar") && site.templates.uses("page", "sidebar") {
            crate::directives::sidebar::content(site, id, &mut state)
        } else {
            None
        };
    let trails = if wiki.config.plugins.enabled("trail")
        && (site.templates.uses("page", "trails") || site.templates.uses("page", "trailloop"))
    {
        crate::directives::trail::navigation(site, id, &mut state)
    } else {
        (String::new(), Vec::new())
    };
    let html = genpage(site, id, content, &state, sidebar, trails, extra);
    Rendered { html, state }
}

/// Fills the page template and runs the format stage.
pub fn genpage(
    site: &Site,
    id: PageId,
    content: String,
    state: &PageState,
    sidebar: Option<String>,
    trails: (String, Vec<Value>),
    extra: Map<String, Value>,
) -> String {
    let wiki = &site.wiki;
    let cfg = &wiki.config;
    let p = wiki.page(id);
    let page = p.name.as_str();
    // Variables plugins set (ikiwiki's pagetemplate hooks).
    let mut v = extra;

    let mut actions = false;
    if !cfg.cgiurl.is_empty() && cfg.plugins.enabled("editpage") {
        v.insert(
            "editurl".into(),
            json!(wiki.cgiurl(&[("do", "edit"), ("page", page)])),
        );
        actions = true;
    }
    if let Some(h) = &cfg.historyurl {
        let f = uri_escape_keep(&p.file, "/");
        v.insert("historyurl".into(), json!(h.replace("[[file]]", &f)));
        actions = true;
    }
    if cfg.discussion {
        let dp = &cfg.discussionpage;
        let is_discussion = page
            .rsplit_once('/')
            .is_some_and(|(_, last)| last.eq_ignore_ascii_case(dp));
        if !is_discussion && (!cfg.cgiurl.is_empty() || wiki.exists(&format!("{page}/{dp}"))) {
            let link = wiki.htmllink(
                page,
                page,
                dp,
                &LinkOpts {
                    noimageinline: true,
                    forcesubpage: true,
                    ..Default::default()
                },
            );
            v.insert("discussionlink".into(), json!(link));
            actions = true;
        }
    }
    if !cfg.cgiurl.is_empty()
        && (cfg.plugins.enabled("passwordauth")
            || cfg.plugins.enabled("openid")
            || cfg.plugins.enabled("httpauth"))
    {
        v.insert("prefsurl".into(), json!(wiki.cgiurl(&[("do", "prefs")])));
        actions = true;
    }
    if cfg.rcs.is_some() && cfg.plugins.enabled("recentchanges") && wiki.exists("recentchanges") {
        v.insert(
            "recentchangesurl".into(),
            json!(wiki.urlto("recentchanges", page)),
        );
        actions = true;
    }
    if actions {
        v.insert("have_actions".into(), json!(true));
    }

    let bl = backlinks(wiki, id);
    let to_obj = |(page, url): &(String, String)| json!({"page": page, "url": url});
    let n = cfg.numbacklinks;
    let (shown, more): (Vec<Value>, Vec<Value>) = if n == 0 || bl.len() <= n {
        (bl.iter().map(to_obj).collect(), Vec::new())
    } else {
        (
            bl[..n].iter().map(to_obj).collect(),
            bl[n..].iter().map(to_obj).collect(),
        )
    };

    let meta = &p.meta();
    let own_title = state.meta.title.as_ref().or(meta.title.as_ref());
    let title = match own_title {
        Some(t) => encode_numeric(t),
        None if page == "index" => cfg.wikiname.clone(),
        None => pagetitle(basename(page), false),
    };
    v.insert("title".into(), json!(title));
    if own_title.is_some() {
        v.insert("title_overridden".into(), json!(true));
    }
    v.insert("wikiname".into(), json!(cfg.wikiname));
    v.insert("backlinks".into(), Value::Array(shown));
    v.insert("more_backlinks".into(), Value::Array(more));
    let ctime = wiki.ctime(id);
    v.insert(
        "mtime".into(),
        json!(displaytime(wiki, p.mtime, None, false)),
    );
    v.insert("ctime".into(), json!(displaytime(wiki, ctime, None, true)));
    v.insert("baseurl".into(), json!(wiki.baseurl(page)));
    v.insert("html5".into(), json!(cfg.html5));
    // Element names differ between the HTML5 and XHTML layouts; giving
    // them as values keeps the page template free of per-element ifs.
    for (var, html5_tag) in [
        ("t_article", "article"),
        ("t_section", "section"),
        ("t_header", "header"),
        ("t_nav", "nav"),
        ("t_aside", "aside"),
        ("t_footer", "footer"),
    ] {
        v.insert(var.into(), json!(if cfg.html5 { html5_tag } else { "div" }));
    }
    v.insert(
        "charset_meta".into(),
        json!(if cfg.html5 {
            "<meta charset=\"utf-8\" />"
        } else {
            "<meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\" />"
        }),
    );
    v.insert("responsive_layout".into(), json!(cfg.responsive_layout));
    if cfg.plugins.enabled("parentlinks") {
        let pl = parentlinks(wiki, page);
        v.insert("has_parentlinks".into(), json!(!pl.is_empty()));
        v.insert("parentlinks".into(), Value::Array(pl));
    }
    if cfg.plugins.enabled("tag") {
        let tags: Vec<Value> = p
            .tags()
            .map(|t| json!({"link": tag::footer_link(wiki, page, page, t)}))
            .collect();
        if !tags.is_empty() {
            v.insert("tags".into(), Value::Array(tags));
        }
    }
    // Head elements from [[!meta]], each once, in order.
    let mut seen = rustc_hash::FxHashSet::default();
    let heads: Vec<&str> = state
        .metaheaders
        .iter()
        .map(|s| s.as_str())
        .filter(|h| seen.insert(*h))
        .collect();
    // Everything else in <head>: edit link, feeds, [[!meta]] elements.
    let mut head = String::new();
    if let Some(Value::String(e)) = v.get("editurl") {
        head.push_str(&format!(
            "<link rel=\"alternate\" type=\"application/x-wiki\" title=\"Edit this page\" href=\"{e}\" />\n"
        ));
    }
    if !state.feedlinks.is_empty() {
        head.push_str(&state.feedlinks);
        head.push('\n');
        v.insert("feedlinks".into(), json!(state.feedlinks));
    }
    if let Some(relvcs) = relvcs(cfg) {
        head.push_str(&relvcs);
        head.push('\n');
        v.insert("relvcs".into(), json!(relvcs));
    }
    if !heads.is_empty() {
        let meta = heads.join("\n");
        head.push_str(&meta);
        head.push('\n');
        v.insert("meta".into(), json!(meta));
    }
    if !head.is_empty() {
        v.insert("head_extra".into(), json!(head));
    }
    for (field, value) in [("license", &meta.license), ("copyright", &meta.copyright)] {
        if let Some(val) = value {
            let html = meta_html(site, page, val);
            v.insert(field.into(), json!(html));
        }
    }
    if let Some(enc) = &meta.enclosure {
        v.insert(
            "enclosure".into(),
            json!(crate::names::encode_entities(enc)),
        );
    }
    v.insert("content".into(), json!(content));
    if let Some(s) = sidebar.filter(|s| !s.is_empty()) {
        v.insert("sidebar".into(), json!(s));
    }
    if !trails.0.is_empty() {
        v.insert("trails".into(), json!(trails.0));
        v.insert("trailloop".into(), Value::Array(trails.1));
    }

    let html = match site.templates.render("page", &Value::Object(v)) {
        Ok(h) => h,
        Err(e) => format!(
            "<!DOCTYPE html>\n<html><head><title>{page}</title></head><body><div class=\"error\">Error: {}</div>\n{}</body></html>\n",
            crate::names::html_escape(&e),
            ""
        ),
    };
    format_stage(site, page, html, state)
}

/// The repolist plugin: `<link rel="vcs-git" ...>` elements naming the
/// wiki's repositories (`repositories` in the setup).
fn relvcs(cfg: &crate::config::Config) -> Option<String> {
    if !cfg.plugins.enabled("repolist") {
        return None;
    }
    let rcs = cfg.rcs.as_deref()?;
    let repos = cfg.setup.list("repositories");
    if repos.is_empty() {
        return None;
    }
    Some(
        repos
            .iter()
            .map(|r| {
                format!(
                    "<link rel=\"vcs-{rcs}\" href=\"{}\" title=\"wiki {rcs} repository\" />",
                    r.replace('"', "")
                )
            })
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// ikiwiki's format hooks, run on the whole page: inline placeholders
/// back in, the toc, then what the enabled plugins add.
pub fn format_stage(site: &Site, page: &str, mut html: String, state: &PageState) -> String {
    if !state.placeholders.is_empty() {
        html = fill_placeholders(&html, &state.placeholders);
    }
    if let Some(req) = &state.toc {
        html = toc::apply(&html, req);
    }
    let plugins = &site.wiki.config.plugins;
    if plugins.enabled("progress")
        && let Some(h) = crate::directives::progress::format(&html)
    {
        html = h;
    }
    if plugins.enabled("color")
        && let Some(h) = crate::directives::color::format(&html)
    {
        html = h;
    }
    if plugins.enabled("toggle")
        && let Some(h) = crate::directives::toggle::format(&html, |js| site.wiki.urlto(js, page))
    {
        html = h;
    }
    html
}

const PLACEHOLDER_OPEN: &str = "<div class=\"inline\" id=\"";

/// The marker an inline leaves for the format stage.
pub fn placeholder(n: usize) -> String {
    format!("{PLACEHOLDER_OPEN}{n}\"></div>")
}

pub fn fill_placeholders(html: &str, parts: &[String]) -> String {
    let mut out = String::with_capacity(html.len() + parts.iter().map(|p| p.len()).sum::<usize>());
    let mut rest = html;
    while let Some(i) = rest.find(PLACEHOLDER_OPEN) {
        let after = &rest[i + PLACEHOLDER_OPEN.len()..];
        let close = "\"></div>";
        match after.find(close) {
            Some(j) if after[..j].bytes().all(|b| b.is_ascii_digit()) && j > 0 => {
                let n: usize = after[..j].parse().unwrap_or(usize::MAX);
                out.push_str(&rest[..i]);
                match parts.get(n) {
                    Some(p) => out.push_str(p),
                    None => out.push_str(&rest[i..i + PLACEHOLDER_OPEN.len() + j + close.len()]),
                }
                rest = &after[j + close.len()..];
            }
            _ => {
                out.push_str(&rest[..i + PLACEHOLDER_OPEN.len()]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// License and copyright texts are wiki text of their own.
pub fn meta_html(site: &Site, page: &str, text: &str) -> String {
    let kind = site
        .wiki
        .page_named(page)
        .and_then(|p| p.kind)
        .unwrap_or("mdwn");
    let mut cx = Context::new(site, page, page, false);
    body(&mut cx, kind, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_round_trip() {
        let html = format!(
            "a{}b{}c<div class=\"inline\" id=\"x\"></div>",
            placeholder(0),
            placeholder(1)
        );
        let out = fill_placeholders(&html, &["ONE".into(), "TWO".into()]);
        assert_eq!(out, "aONEbTWOc<div class=\"inline\" id=\"x\"></div>");
    }
}
