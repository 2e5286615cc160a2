//! `[[!inline pages="blog/*"]]`: pages included in a page — blogs, news,
//! archives — with RSS and Atom feeds.

use serde_json::{Map, Value, json};

use super::{Context, Directive, Params};
use crate::names::{
    abs2rel, basename, dirname, encode_numeric, html_escape, pagetitle, targetpage,
};
use crate::pagespec::{DEPEND_CONTENT, DEPEND_PRESENCE};
use crate::render::{displaytime, inline_content, inline_render, placeholder};
use crate::sort::SortSpec;
use crate::timefmt;
use crate::wiki::{LinkOpts, PageId};

pub struct Inline;

struct Feeds {
    rss: bool,
    atom: bool,
}

impl Directive for Inline {
    fn scan(&self) -> bool {
        true
    }

    fn run(&self, cx: &mut Context, params: &Params) -> Result<String, String> {
        if !params.has("pages") && !params.has("pagenames") {
            return Err("missing pages parameter".into());
        }
        let trail = params.yes("trail") && cx.wiki().config.plugins.enabled("trail");
        if cx.scan {
            if trail {
                // Pages inlined make a trail, in the order shown by default.
                super::trail::items(cx, params, params.get("sort").unwrap_or("age title"));
            }
            return Ok(String::new());
        }
        let site = cx.site;
        let wiki = &site.wiki;
        let cfg = &wiki.config;
        let raw = params.yes("raw");
        let archive = params.yes("archive");
        let rss = if (cfg.rss || cfg.allowrss) && params.has("rss") {
            params.yes("rss")
        } else {
            cfg.rss
        };
        let atom = if (cfg.atom || cfg.allowatom) && params.has("atom") {
            params.yes("atom")
        } else {
            cfg.atom
        };
        let quick = params.yes("quick");
        let mut feeds = if params.has("feeds") {
            params.yes("feeds")
        } else {
            !quick && !raw
        };
        let mut emptyfeeds = if params.has("emptyfeeds") {
            params.yes("emptyfeeds")
        } else {
            true
        };
        let feedonly = params.yes("feedonly");

        let int = |v: &str| -> Option<i64> { v.trim().parse::<i64>().ok() };
        let mut limit: Option<i64> = params.get("show").filter(|s| is_int(s, true)).and_then(int);
        let mut feedlimit: Option<i64> = params
            .get("feedshow")
            .filter(|s| is_int(s, false))
            .and_then(int);
        if limit.is_none() && !archive {
            limit = Some(10);
        }
        if feedlimit.is_none() {
            feedlimit = limit;
        }
        let skip: usize = params
            .get("skip")
            .and_then(|s| s.trim().parse::<usize>().ok())
            .unwrap_or(0);

        let title = match params.get("title") {
            Some(t) => t.to_string(),
            None if cx.page != "index" => pagetitle(&cx.page, false),
            None => cfg.wikiname.clone(),
        };
        let desc = params
            .get("description")
            .map(str::to_string)
            .unwrap_or_else(|| cfg.wikiname.clone());
        let actions = params.yes("actions");
        let template = match params.get("template") {
            Some(t) => t
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect(),
            None => (if archive { "archivepage" } else { "inlinepage" }).to_string(),
        };
        let deptype = if quick {
            DEPEND_PRESENCE
        } else {
            DEPEND_CONTENT
        };

        let mut list: Vec<PageId> = if let Some(names) = params.get("pagenames") {
            for p in ["sort", "pages"] {
                if params.has(p) {
                    return Err(format!(
                        "the pagenames and {p} parameters cannot be used together"
                    ));
                }
            }
            let mut l: Vec<&str> = names.split_whitespace().collect();
            if params.yes("reverse") {
                l.reverse();
            }
            let mut out = Vec::new();
            for name in l {
                cx.state.add_depends(name, deptype);
                if let Some(id) = wiki.id(name) {
                    out.push(id);
                }
            }
            out
        } else {
            let spec = params.get("pages").unwrap_or("").to_string();
            let sort = SortSpec::parse(params.get("sort").unwrap_or("age title"))?;
            let page = cx.page.clone();
            let mut ids = super::match_pages(cx, &spec, deptype, Some(&page))?;
            sort.sort(wiki, &mut ids, params.yes("reverse"));
            ids
        };
        if skip > 0 {
            list = list.into_iter().skip(skip).collect();
        }
        let mut feedlist: Vec<PageId> = Vec::new();
        if feeds {
            feedlist = match feedlimit {
                Some(n) if n > 0 && list.len() > n as usize => list[..n as usize].to_vec(),
                _ => list.clone(),
            };
        }
        if let Some(n) = limit
            && n != 0
        {
            if n < 0 {
                list.clear();
            } else if list.len() > n as usize {
                list.truncate(n as usize);
            }
        }
        if feeds && let Some(fp) = params.get("feedpages") {
            let spec = format!("({}) and ({fp})", params.get("pages").unwrap_or(""));
            let allowed = super::match_pages(cx, &spec, deptype, None)?;
            feedlist.retain(|p| allowed.contains(p));
        }

        // Feeds only from the page itself, not from inside another inline.
        if cx.nesting > 0 || cx.preview {
            feeds = feeds && !cx.preview && cx.nesting == 0;
        }
        let kinds = Feeds { rss, atom };
        let mut feedfile = params.get("feedfile").map(str::to_string);
        if !cfg.usedirs {
            feedfile = None;
        }
        if let Some(f) = &feedfile
            && (f.contains('/') || !crate::scan::is_valid_name(f))
        {
            return Err("illegal feedfile".into());
        }
        let feedbase = match &feedfile {
            Some(f) => format!("{}/{f}.", cx.page),
            None => targetpage(&cx.page, "", cfg.usedirs),
        };
        let feednum = if feeds {
            let n = cx
                .state
                .outputs
                .iter()
                .filter(|(path, _)| {
                    path.strip_prefix(&feedbase)
                        .is_some_and(|rest| rest.starts_with("rss") || rest.starts_with("atom"))
                })
                .count()
                / (rss as usize + atom as usize).max(1);
            if n == 0 {
                String::new()
            } else {
                (n + 1).to_string()
            }
        } else {
            String::new()
        };
        let destdir_of = dirname(&wiki.htmlpage(&cx.destpage)).to_string();
        let rssurl = abs2rel(&format!("{feedbase}rss{feednum}"), &destdir_of);
        let atomurl = abs2rel(&format!("{feedbase}atom{feednum}"), &destdir_of);
        let rssdesc = format!("{desc} (RSS feed)");
        let atomdesc = format!("{desc} (Atom feed)");

        let mut ret = String::new();
        let postform = if params.has("postform") {
            params.yes("postform")
        } else {
            params.has("rootpage")
        };
        if !cfg.cgiurl.is_empty() && !cx.preview && postform && cfg.plugins.enabled("editpage") {
            let rootpage = match params.get("rootpage") {
                Some(r) => match wiki.bestlink(&cx.page, r) {
                    Some(id) => wiki.page(id).name.clone(),
                    None => r.to_string(),
                },
                None => cx.page.clone(),
            };
            let mut v = Map::new();
            v.insert("cgiurl".into(), json!(cfg.local_cgiurl));
            v.insert("rootpage".into(), json!(rootpage));
            if feeds {
                if kinds.rss {
                    v.insert("rssurl".into(), json!(rssurl));
                    v.insert("rssdesc".into(), json!(rssdesc));
                }
                if kinds.atom {
                    v.insert("atomurl".into(), json!(atomurl));
                    v.insert("atomdesc".into(), json!(atomdesc));
                }
            }
            v.insert(
                "postformtext".into(),
                json!(
                    params
                        .get("postformtext")
                        .unwrap_or("Add a new post titled:")
                ),
            );
            if let Some(id) = params.get("id") {
                v.insert("postformid".into(), json!(id));
            }
            ret.push_str(&site.render_template("blogpost", &Value::Object(v))?);
            emptyfeeds = true;
        } else if feeds && (kinds.rss || kinds.atom) && (emptyfeeds || !feedlist.is_empty()) {
            let mut v = Map::new();
            if kinds.rss {
                v.insert("rssurl".into(), json!(rssurl));
                v.insert("rssdesc".into(), json!(rssdesc));
            }
            if kinds.atom {
                v.insert("atomurl".into(), json!(atomurl));
                v.insert("atomdesc".into(), json!(atomdesc));
            }
            if let Some(id) = params.get("id") {
                v.insert("id".into(), json!(html_escape(id)));
            }
            ret.push_str(&site.render_template("feedlink", &Value::Object(v))?);
        }

        if !feedonly {
            cx.state.add_depends(
                &format!("templates/{template}.tmpl"),
                DEPEND_CONTENT | DEPEND_PRESENCE,
            );
            if !raw && !site.template_exists(&template) {
                return Err(format!(
                    "failed to process template {template}.tmpl: template {template}.tmpl not found"
                ));
            }
            let needcontent =
                raw || (!(archive && quick) && site.template_uses(&template, "content"));
            let timeformat = params.get("timeformat");
            for (i, &id) in list.iter().enumerate() {
                let p = wiki.page(id);
                if raw {
                    if let Some(kind) = &p.kind {
                        let text = site.source(id).unwrap_or("");
                        let mut sub = Context::new(site, &p.name, &cx.destpage, false);
                        sub.nesting = cx.nesting + 1;
                        let pre = sub.preprocess(text);
                        let _ = kind;
                        ret.push('\n');
                        ret.push_str(&crate::links::linkify(wiki, &p.name, &cx.destpage, &pre));
                    } else {
                        ret.push('\n');
                        ret.push_str(
                            &std::fs::read_to_string(p.src_path(&wiki.config)).unwrap_or_default(),
                        );
                    }
                    continue;
                }
                let mut v = item_vars(cx, id, timeformat);
                super::comment::item_vars(cx, id, actions, &mut v);
                if needcontent {
                    let (html, state) = inline_render(site, id, &cx.destpage, cx.nesting + 1);
                    if let Some(info) = &state.comment {
                        super::comment::info_vars(info, &wiki.page(id).name, &mut v);
                    }
                    v.insert("content".into(), json!(html));
                }
                if i == 0 {
                    v.insert("first".into(), json!(true));
                }
                if i + 1 == list.len() {
                    v.insert("last".into(), json!(true));
                }
                if actions {
                    add_actions(cx, id, &mut v);
                }
                ret.push_str(&site.render_template(&template, &Value::Object(v))?);
            }
        }

        if feeds && (kinds.rss || kinds.atom) && (emptyfeeds || !feedlist.is_empty()) {
            if kinds.rss {
                let path = format!("{feedbase}rss{feednum}");
                let xml = genfeed(
                    cx,
                    "rss",
                    &path,
                    &title,
                    &desc,
                    params.get("guid"),
                    &feedlist,
                )?;
                cx.state.outputs.push((path, xml.into_bytes()));
                cx.state.feedlinks.push_str(&format!(
                    "<link rel=\"alternate\" type=\"application/rss+xml\" title=\"{rssdesc}\" href=\"{rssurl}\" />"
                ));
            }
            if kinds.atom {
                let path = format!("{feedbase}atom{feednum}");
                let xml = genfeed(
                    cx,
                    "atom",
                    &path,
                    &title,
                    &desc,
                    params.get("guid"),
                    &feedlist,
                )?;
                cx.state.outputs.push((path, xml.into_bytes()));
                cx.state.feedlinks.push_str(&format!(
                    "<link rel=\"alternate\" type=\"application/atom+xml\" title=\"{atomdesc}\" href=\"{atomurl}\" />"
                ));
            }
        }

        if raw || cx.nesting > 0 {
            return Ok(ret);
        }
        cx.state.placeholders.push(ret);
        Ok(format!(
            "{}\n\n",
            placeholder(cx.state.placeholders.len() - 1)
        ))
    }
}

fn is_int(s: &str, allow_neg: bool) -> bool {
    let s = if allow_neg {
        s.strip_prefix('-').unwrap_or(s)
    } else {
        s
    };
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Template variables for one inlined page (ikiwiki's inline loop plus
/// the meta and tag plugins' pagetemplate hooks).
fn item_vars(cx: &Context, id: PageId, timeformat: Option<&str>) -> Map<String, Value> {
    let site = cx.site;
    let wiki = &site.wiki;
    let p = wiki.page(id);
    let mut v = Map::new();
    v.insert("pageurl".into(), json!(wiki.urlto(&p.name, &cx.destpage)));
    v.insert("inlinepage".into(), json!(p.name));
    let title = match &p.meta().title {
        Some(t) => encode_numeric(t),
        None => pagetitle(basename(&p.name), false),
    };
    v.insert("title".into(), json!(title));
    v.insert(
        "ctime".into(),
        json!(displaytime(wiki, wiki.ctime(id), timeformat, true)),
    );
    v.insert(
        "mtime".into(),
        json!(displaytime(wiki, p.mtime, timeformat, false)),
    );
    v.insert("html5".into(), json!(wiki.config.html5));
    meta_vars(cx, id, &mut v);
    if wiki.config.plugins.enabled("tag") {
        let tags: Vec<Value> = p
            .tags()
            .map(|t| json!({"link": super::tag::footer_link(wiki, &p.name, &cx.destpage, t)}))
            .collect();
        if !tags.is_empty() {
            v.insert("tags".into(), Value::Array(tags));
        }
    }
    v
}

fn meta_vars(cx: &Context, id: PageId, v: &mut Map<String, Value>) {
    let site = cx.site;
    let wiki = &site.wiki;
    let p = wiki.page(id);
    let m = &p.meta();
    if let Some(a) = &m.author {
        v.insert("author".into(), json!(encode_numeric(a)));
    }
    if let Some(a) = &m.authorurl {
        v.insert("authorurl".into(), json!(crate::names::encode_entities(a)));
    }
    if let Some(pl) = &m.permalink {
        v.insert(
            "permalink".into(),
            json!(crate::names::encode_entities(&urlabs(pl, &wiki.config.url))),
        );
    }
    if let Some(d) = &m.description {
        v.insert("description".into(), json!(encode_numeric(d)));
    }
    if let Some(e) = &m.enclosure {
        v.insert("enclosure".into(), json!(crate::names::encode_entities(e)));
    }
    let dest_meta = wiki
        .page_named(&cx.destpage)
        .map(|d| d.meta().clone())
        .unwrap_or_default();
    for (field, val, destval) in [
        ("license", &m.license, &dest_meta.license),
        ("copyright", &m.copyright, &dest_meta.copyright),
    ] {
        if let Some(val) = val
            && (p.name == cx.destpage || destval.as_ref() != Some(val))
        {
            v.insert(
                field.into(),
                json!(crate::render::meta_html(site, &p.name, val)),
            );
        }
    }
}

fn urlabs(url: &str, base: &str) -> String {
    if url.contains("://") || base.is_empty() {
        return url.to_string();
    }
    if url.starts_with('/') {
        let root_end = base
            .find("://")
            .map(|i| i + 3)
            .and_then(|s| base[s..].find('/').map(|j| s + j))
            .unwrap_or(base.len());
        return format!("{}{url}", &base[..root_end]);
    }
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        url.trim_start_matches("./")
    )
}

fn add_actions(cx: &Context, id: PageId, v: &mut Map<String, Value>) {
    let wiki = &cx.site.wiki;
    let cfg = &wiki.config;
    let p = wiki.page(id);
    if cfg.discussion {
        let dp = &cfg.discussionpage;
        let is_discussion = p
            .name
            .rsplit_once('/')
            .is_some_and(|(_, last)| last.eq_ignore_ascii_case(dp));
        if !is_discussion
            && (!cfg.cgiurl.is_empty() || wiki.exists(&format!("{}/{}", p.name, dp.to_lowercase())))
        {
            v.insert("have_actions".into(), json!(true));
            v.insert(
                "discussionlink".into(),
                json!(wiki.htmllink(
                    &p.name,
                    &cx.destpage,
                    dp,
                    &LinkOpts {
                        noimageinline: true,
                        forcesubpage: true,
                        ..Default::default()
                    }
                )),
            );
        }
    }
    if !cfg.cgiurl.is_empty() && p.kind.is_some() && cfg.plugins.enabled("editpage") {
        v.insert("have_actions".into(), json!(true));
        v.insert(
            "editurl".into(),
            json!(wiki.cgiurl(&[("do", "edit"), ("page", &p.name)])),
        );
    }
}

/// Makes relative links in inlined content absolute, for feeds.
pub fn absolute_urls(html: &str, baseurl: &str) -> String {
    use crate::htmlscan::{Token, tokenize};
    let dir = match baseurl.rfind('/') {
        Some(i) => &baseurl[..=i],
        None => baseurl,
    };
    let top = baseurl
        .find("://")
        .and_then(|s| baseurl[s + 3..].find('/').map(|j| &baseurl[..s + 3 + j]))
        .unwrap_or(baseurl);
    let mut out = String::with_capacity(html.len() + 256);
    for tok in tokenize(html) {
        match tok {
            Token::Start { name, raw, attrs }
                if matches!(
                    name.as_str(),
                    "a" | "img"
                        | "link"
                        | "script"
                        | "source"
                        | "video"
                        | "audio"
                        | "area"
                        | "form"
                        | "iframe"
                ) =>
            {
                let mut s = raw.to_string();
                let mut edits: Vec<(std::ops::Range<usize>, String)> = Vec::new();
                for a in &attrs {
                    if !matches!(
                        a.name.as_str(),
                        "href" | "src" | "action" | "poster" | "cite"
                    ) {
                        continue;
                    }
                    let (Some(v), Some(r)) = (&a.value, &a.value_range) else {
                        continue;
                    };
                    let dv = crate::names::decode_entities(v);
                    let new = if dv.starts_with('#') {
                        format!("{baseurl}{v}")
                    } else if dv.starts_with('/') {
                        format!("{top}{v}")
                    } else if !has_scheme(&dv) {
                        resolve(dir, v)
                    } else {
                        continue;
                    };
                    edits.push((r.clone(), new.replace('"', "&quot;")));
                }
                edits.sort_by_key(|e| std::cmp::Reverse(e.0.start));
                for (r, new) in edits {
                    // Replace including quotes when quoted.
                    let quoted = r.start > 0 && matches!(s.as_bytes()[r.start - 1], b'"' | b'\'');
                    if quoted {
                        s.replace_range(r.start - 1..r.end + 1, &format!("\"{new}\""));
                    } else {
                        s.replace_range(r, &format!("\"{new}\""));
                    }
                }
                out.push_str(&s);
            }
            other => out.push_str(other.raw()),
        }
    }
    out
}

fn has_scheme(u: &str) -> bool {
    match u.find(':') {
        Some(i) => {
            i > 0
                && u[..i]
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '+' || c == '-' || c == '.')
        }
        None => false,
    }
}

/// Resolves a relative URL against a directory URL ending in `/`.
fn resolve(dir: &str, rel: &str) -> String {
    let (path_part, suffix) = match rel.find(['?', '#']) {
        Some(i) => (&rel[..i], &rel[i..]),
        None => (rel, ""),
    };
    let mut base: Vec<&str> = dir.trim_end_matches('/').split('/').collect();
    let keep = base.len().min(3);
    let mut parts: Vec<&str> = path_part.split('/').collect();
    let trailing = path_part.ends_with('/')
        || path_part.is_empty()
        || path_part == "."
        || path_part.ends_with("/.");
    if parts.last() == Some(&"") {
        parts.pop();
    }
    for part in parts {
        match part {
            "." | "" => {}
            ".." => {
                if base.len() > keep {
                    base.pop();
                }
            }
            p => base.push(p),
        }
    }
    let mut s = base.join("/");
    if trailing {
        s.push('/');
    }
    s.push_str(suffix);
    s
}

fn genfeed(
    cx: &mut Context,
    kind: &str,
    path: &str,
    title: &str,
    desc: &str,
    guid: Option<&str>,
    pages: &[PageId],
) -> Result<String, String> {
    let site = cx.site;
    let wiki = &site.wiki;
    let cfg = &wiki.config;
    let page = &cx.page.clone();
    let pageurl = wiki.urlto_abs(page);
    let tz = cfg.timezone.as_deref();
    let mut content = String::new();
    let mut lasttime = 0;
    for &id in pages {
        let p = wiki.page(id);
        let u = wiki.urlto_abs(&p.name);
        let pcontent = absolute_urls(&inline_content(site, id, page, cx.nesting + 1), &pageurl);
        let mut v = Map::new();
        let ptitle = match &p.meta().title {
            Some(t) => encode_numeric(t),
            None => pagetitle(basename(&p.name), false),
        };
        v.insert("title".into(), json!(xml_text(&ptitle)));
        v.insert("url".into(), json!(xml_attr(&u)));
        let permalink = match &p.meta().permalink {
            Some(pl) => urlabs(pl, &cfg.url),
            None => u.clone(),
        };
        v.insert("permalink".into(), json!(xml_attr(&permalink)));
        super::comment::item_vars(cx, id, false, &mut v);
        let ctime = wiki.ctime(id);
        let mtime = p.meta().updated.unwrap_or(p.mtime);
        v.insert("cdate_822".into(), json!(timefmt::date_822(ctime, tz)));
        v.insert("mdate_822".into(), json!(timefmt::date_822(mtime, tz)));
        v.insert("cdate_3339".into(), json!(timefmt::date_3339(ctime)));
        v.insert("mdate_3339".into(), json!(timefmt::date_3339(mtime)));
        if let Some(g) = &p.meta().guid {
            v.insert("guid".into(), json!(encode_numeric(g)));
        }
        if let Some(a) = &p.meta().author {
            v.insert("author".into(), json!(xml_text(&encode_numeric(a))));
        }
        if let Some(a) = &p.meta().authorurl {
            v.insert("authorurl".into(), json!(xml_attr(a)));
        }
        if let (Some(enc), Some(file)) = (&p.meta().enclosure, &p.meta().enclosurefile) {
            let (mime, len) = enclosure_info(cx, file);
            v.insert("enclosure".into(), json!(xml_attr(enc)));
            v.insert("type".into(), json!(mime));
            v.insert("length".into(), json!(len));
        } else if p.kind.is_none() {
            let (mime, len) = enclosure_info(cx, &p.name);
            v.insert("enclosure".into(), json!(xml_attr(&u)));
            v.insert("type".into(), json!(mime));
            v.insert("length".into(), json!(len));
            v.insert("simplepodcast".into(), json!(true));
        }
        if cfg.plugins.enabled("tag") {
            let cats: Vec<Value> = p
                .tags()
                .map(|t| json!({"category": xml_text(&encode_numeric(&super::tag::tag_name(wiki, t)))}))
                .collect();
            if !cats.is_empty() {
                v.insert("categories".into(), Value::Array(cats));
            }
        }
        v.insert("content".into(), json!(html_escape(&pcontent)));
        content.push_str(&site.render_template(&format!("{kind}item"), &Value::Object(v))?);
        lasttime = lasttime.max(p.mtime);
    }
    let mut v = Map::new();
    v.insert("wants_absolute_urls".into(), json!(true));
    v.insert("title".into(), json!(xml_text(title)));
    v.insert("wikiname".into(), json!(xml_text(&cfg.wikiname)));
    v.insert("pageurl".into(), json!(xml_attr(&pageurl)));
    v.insert("content".into(), json!(content));
    v.insert("feeddesc".into(), json!(xml_text(desc)));
    if let Some(g) = guid {
        v.insert("guid".into(), json!(xml_text(g)));
    }
    v.insert("feeddate".into(), json!(timefmt::date_3339(lasttime)));
    v.insert(
        "feeddate_822".into(),
        json!(timefmt::date_822(lasttime, tz)),
    );
    v.insert(
        "feedurl".into(),
        json!(xml_attr(&format!("{}/{path}", cfg.url))),
    );
    site.render_template(&format!("{kind}page"), &Value::Object(v))
}

fn enclosure_info(cx: &Context, file: &str) -> (String, u64) {
    let wiki = &cx.site.wiki;
    let size = wiki.page_named(file).map(|p| p.size).unwrap_or(0);
    (crate::mime::guess(file).to_string(), size)
}

/// Text for XML element content: entities already numeric stay, bare
/// ampersands and angle brackets are escaped.
fn xml_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < s.len() {
        let c = b[i];
        match c {
            b'&' => {
                let rest = &s[i..];
                let is_entity = rest
                    .find(';')
                    .map(|e| {
                        let name = &rest[1..e];
                        e > 1
                            && e < 12
                            && (name.starts_with('#')
                                && name[1..].chars().all(|c| c.is_ascii_hexdigit() || c == 'x')
                                || matches!(name, "amp" | "lt" | "gt" | "quot" | "apos"))
                    })
                    .unwrap_or(false);
                out.push_str(if is_entity { "&" } else { "&amp;" });
            }
            b'<' => out.push_str("&lt;"),
            b'>' => out.push_str("&gt;"),
            _ => {
                let ch = s[i..].chars().next().unwrap_or(' ');
                out.push(ch);
                i += ch.len_utf8();
                continue;
            }
        }
        i += 1;
    }
    out
}

fn xml_attr(s: &str) -> String {
    xml_text(s).replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_urls_rewrites_relative_links() {
        let base = "http://example.org/wiki/blog/";
        let out = absolute_urls(
            "<a href=\"../x/\">x</a> <img src=\"y.png\" /> <a href=\"#f\">f</a> <a href=\"/top\">t</a> <a href=\"http://o.org/\">o</a>",
            base,
        );
        assert!(out.contains("href=\"http://example.org/wiki/x/\""), "{out}");
        assert!(
            out.contains("src=\"http://example.org/wiki/blog/y.png\""),
            "{out}"
        );
        assert!(
            out.contains("href=\"http://example.org/wiki/blog/#f\""),
            "{out}"
        );
        assert!(out.contains("href=\"http://example.org/top\""), "{out}");
        assert!(out.contains("href=\"http://o.org/\""), "{out}");
    }

    #[test]
    fn xml_text_keeps_entities() {
        assert_eq!(xml_text("a &#95; & <b>"), "a &#95; &amp; &lt;b&gt;");
    }
}
