//! The comments plugin: `name/comment_N_HASH._comment` files are comments
//! on page `name`. Each holds one `[[!comment ...]]` directive (who, when,
//! subject, content); the parent page lists its comments, oldest first,
//! under `id="comments"` with feeds of them, where `comments_pagespec`
//! allows, and offers an "Add a comment" link unless
//! `comments_closed_pagespec` closes the page.

use serde_json::{Map, Value, json};

use super::{Context, Directive, Params};
use crate::names::{decode_entities, dirname};
use crate::site::Site;
use crate::wiki::{LinkOpts, PageId, Wiki};

pub struct Comment;

/// Who wrote a comment, as the comment template shows it (ikiwiki's
/// `%commentstate`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CommentInfo {
    pub user: Option<String>,
    pub openid: Option<String>,
    pub ip: Option<String>,
    pub author: Option<String>,
    pub authorurl: Option<String>,
    pub avatar: Option<String>,
}

impl Directive for Comment {
    fn scan(&self) -> bool {
        true
    }

    fn run(&self, cx: &mut Context, params: &Params) -> Result<String, String> {
        let setup = &cx.wiki().config.setup;
        let format = params.get("format").map(str::to_string);
        if let Some(f) = &format {
            let allowed = setup.str_or("comments_allowformats", "");
            let allowed_ok = allowed.is_empty() || allowed.split_whitespace().any(|a| a == f);
            if !crate::scan::is_page_type(f, &cx.wiki().config) || !allowed_ok {
                return Err(format!("unsupported page format {f}"));
            }
        }
        let Some(content) = params.get("content") else {
            return Err("comment must have content".into());
        };
        let content = content.replace("\\\"", "\"");
        let allow_directives = setup.flag_or("comments_allowdirectives", false);
        let allow_author = setup.flag_or("comments_allowauthor", false);

        let html = if cx.scan {
            cx.preprocess(&content);
            String::new()
        } else {
            let text = if allow_directives {
                cx.preprocess(&content)
            } else {
                content
            };
            match &format {
                Some(f) => crate::render::htmlize(cx.site, &cx.page, &cx.destpage, f, &text),
                None => match &cx.site.scrubber {
                    Some(s) => s.scrub(&text),
                    None => text,
                },
            }
        };

        let cfg = &cx.wiki().config;
        let mut info = CommentInfo {
            avatar: params.get("avatar").map(str::to_string),
            ..Default::default()
        };
        if let Some(user) = params.get("username") {
            if let Some(display) = openid_display(user) {
                info.authorurl = Some(user.to_string());
                info.author = Some(match params.get("nickname").filter(|n| !n.is_empty()) {
                    Some(n) => n.to_string(),
                    None => display,
                });
                info.openid = Some(user.to_string());
                info.user = Some(user.to_string());
            } else {
                let user = email_user(user).unwrap_or_else(|| user.to_string());
                if !cfg.cgiurl.is_empty() {
                    let userpage = if cfg.userdir.is_empty() {
                        user.clone()
                    } else {
                        format!("{}/{user}", cfg.userdir)
                    };
                    info.authorurl = Some(cx.wiki().cgiurl(&[("do", "goto"), ("page", &userpage)]));
                }
                info.author = Some(user.clone());
                info.user = Some(user);
            }
        } else {
            info.ip = params.get("ip").map(str::to_string);
            info.author = Some("Anonymous".to_string());
        }
        if allow_author {
            if let Some(a) = params.get("claimedauthor") {
                info.author = Some(a.to_string());
            }
            if let Some(u) = params.get("url") {
                let u = guess_url(u);
                if cx.site.scrubber.is_none() || crate::scrub::is_safe_url(&u) {
                    info.authorurl = Some(u);
                }
            }
        }

        let meta = &mut cx.state.meta;
        if meta.author.is_none() {
            meta.author = info.author.clone();
        }
        if meta.authorurl.is_none() {
            meta.authorurl = info.authorurl.clone();
        }
        if let Some(s) = params.get("subject") {
            meta.title = Some(decode_entities(s));
        }
        let pagename = comments_pagename(cx.wiki());
        let page = cx.page.clone();
        if is_comment_name(&page, &pagename) {
            cx.state.meta.permalink = Some(format!(
                "{}#{}",
                cx.wiki().urlto_local(dirname(&page)),
                page_to_id(&page)
            ));
        }
        if let Some(t) = params
            .get("date")
            .and_then(|d| crate::timefmt::parse_date(d, cx.wiki().config.timezone.as_deref()))
        {
            cx.state.meta.date = Some(t);
        }
        cx.state.comment = Some(info);
        Ok(html)
    }
}

/// Whether `page` is named like a comment: `parent/comment_12...`.
fn is_comment_name(page: &str, pagename: &str) -> bool {
    let Some((_, last)) = page.rsplit_once('/') else {
        return false;
    };
    last.strip_prefix(pagename)
        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
}

fn comments_pagename(wiki: &Wiki) -> String {
    wiki.config.setup.str_or("comments_pagename", "comment_")
}

/// The HTML id of a comment, stable across builds (an anchor people link
/// to): `comment-` and the MD5 of its page name.
pub fn page_to_id(page: &str) -> String {
    use md5::Digest;
    let digest = md5::Md5::digest(page.as_bytes());
    let mut id = String::from("comment-");
    for b in digest.iter() {
        id.push_str(&format!("{b:02x}"));
    }
    id
}

/// The name shown for an OpenID URL (`user [host]`), or `None` when the
/// username is not a URL.
fn openid_display(user: &str) -> Option<String> {
    let rest = user
        .strip_prefix("http://")
        .or_else(|| user.strip_prefix("https://"))?;
    let (host, path) = match rest.split_once('/') {
        Some((h, p)) => (h, p),
        None => (rest, ""),
    };
    let host = host.to_lowercase();
    let host = host.strip_prefix("www.").unwrap_or(&host).to_string();
    let path = path
        .split(['#', '?'])
        .next()
        .unwrap_or("")
        .trim_matches('/');
    let display = if path.is_empty() {
        // `user.example.com` reads as `user [example.com]`.
        match host.split_once('.') {
            Some((user, domain)) if domain.contains('.') => format!("{user} [{domain}]"),
            _ => host,
        }
    } else if !path.contains('/') {
        format!("{} [{host}]", path.trim_start_matches('~'))
    } else {
        format!("{host}/{path}")
    };
    Some(crate::names::html_escape(&display))
}

/// The user part of an e-mail address, as ikiwiki names e-mail logins.
fn email_user(user: &str) -> Option<String> {
    let (local, _) = user.split_once('@')?;
    let nick: String = local
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    (!nick.is_empty()).then_some(nick)
}

/// A commenter's homepage as typed (`example.com`) made a URL.
fn guess_url(u: &str) -> String {
    let u = u.trim();
    if u.contains("://") || u.starts_with("mailto:") {
        u.to_string()
    } else if u.contains('@') && !u.contains('/') {
        format!("mailto:{u}")
    } else if u.starts_with("ftp.") {
        format!("ftp://{u}")
    } else {
        format!("http://{u}")
    }
}

/// Whether comments are shown on `page` (`comments_pagespec`).
pub fn shown(cx: &mut Context, page: &str) -> bool {
    let spec = cx.wiki().config.setup.str_or("comments_pagespec", "");
    !spec.is_empty() && super::page_matches_at(cx, &spec, page, page)
}

/// Whether new comments may be posted on `page`: a CGI exists and
/// `comments_closed_pagespec` does not close it.
pub fn open(cx: &mut Context, page: &str) -> bool {
    let cfg = &cx.wiki().config;
    if cfg.cgiurl.is_empty() {
        return false;
    }
    let closed = cfg.setup.str_or("comments_closed_pagespec", "");
    closed.is_empty() || !super::page_matches_at(cx, &closed, page, page)
}

/// How many comments `page` has (its direct `comment_*._comment` files).
pub fn count(wiki: &Wiki, page: &str) -> usize {
    let prefix = format!("{}/{}", page, comments_pagename(wiki)).to_lowercase();
    wiki.with_lc_prefix(&prefix)
        .iter()
        .map(|&id| wiki.page(id))
        .filter(|p| {
            p.file.ends_with("._comment")
                && p.name.len() > page.len()
                && !p.name[page.len() + 1..].contains('/')
        })
        .count()
}

/// The comments on `page` itself (not those on its subpages).
fn comments_spec(page: &str) -> String {
    format!("comment({page}) and !comment({page}/*)")
}

fn add_comment_url(wiki: &Wiki, page: &str) -> String {
    wiki.cgiurl(&[("do", "comment"), ("page", page)])
}

/// The comments plugin's variables for the page template of `id`: the
/// comments themselves (with their feeds), the add-comment URL and the
/// "N comments" action link.
pub fn page_vars(cx: &mut Context, id: PageId, v: &mut Map<String, Value>) {
    let site = cx.site;
    let wiki = &site.wiki;
    let page = wiki.page(id).name.clone();
    if !shown(cx, &page) {
        return;
    }
    let spec = comments_spec(&page);
    if site.templates.uses("page", "comments") {
        let params = Params::new(vec![
            ("pages".into(), spec.clone()),
            ("template".into(), "comment".into()),
            ("show".into(), "0".into()),
            ("reverse".into(), "yes".into()),
            ("feedfile".into(), "comments".into()),
            ("emptyfeeds".into(), "no".into()),
        ]);
        let held = cx.state.placeholders.len();
        match super::inline::Inline.run(cx, &params) {
            // The inline hands back a placeholder for its HTML; no
            // comments means no section at all.
            Ok(_)
                if cx
                    .state
                    .placeholders
                    .get(held)
                    .is_none_or(|h| h.trim().is_empty()) =>
            {
                cx.state.placeholders.truncate(held);
            }
            Ok(html) => {
                v.insert("comments".into(), json!(html));
            }
            Err(e) => {
                v.insert("comments".into(), json!(super::error_span("comment", &e)));
            }
        }
        if open(cx, &page) {
            v.insert("addcommenturl".into(), json!(add_comment_url(wiki, &page)));
        }
    } else {
        cx.state
            .add_depends_spec(&spec, crate::pagespec::DEPEND_PRESENCE);
    }
    if let Some(link) = comments_link(cx, &page, &page) {
        v.insert("commentslink".into(), json!(link));
    }
}

/// "N comments" linking to a page's comments, or a link to post the
/// first one; `None` when there are none and posting is closed.
fn comments_link(cx: &mut Context, page: &str, destpage: &str) -> Option<String> {
    let wiki = cx.wiki();
    let n = count(wiki, page);
    if n > 0 {
        let text = if n == 1 {
            "1 comment".to_string()
        } else {
            format!("{n} comments")
        };
        Some(wiki.htmllink(
            page,
            destpage,
            page,
            &LinkOpts {
                linktext: Some(&text),
                anchor: Some("comments"),
                noimageinline: true,
                ..Default::default()
            },
        ))
    } else if open(cx, page) {
        Some(format!(
            "<a rel=\"nofollow\" href=\"{}\">Comment</a>",
            add_comment_url(wiki, page)
        ))
    } else {
        None
    }
}

/// Variables an inlined page or feed item gets from the comments plugin:
/// where its comments are, and (`actions`) the comments link.
pub fn item_vars(cx: &mut Context, id: PageId, actions: bool, v: &mut Map<String, Value>) {
    if !cx.wiki().config.plugins.enabled("comments") {
        return;
    }
    let wiki = cx.wiki();
    let page = wiki.page(id).name.clone();
    if !shown(cx, &page) {
        return;
    }
    let url = wiki.urlto_local(&page);
    v.insert("commentsurl".into(), json!(format!("{url}#comments")));
    if wiki.config.usedirs {
        v.insert(
            "atomcommentsurl".into(),
            json!(format!("{url}comments.atom")),
        );
    }
    if actions {
        let spec = comments_spec(&page);
        cx.state
            .add_depends_spec(&spec, crate::pagespec::DEPEND_PRESENCE);
        let destpage = cx.destpage.clone();
        if let Some(link) = comments_link(cx, &page, &destpage) {
            v.insert("commentslink".into(), json!(link));
        }
    }
}

/// Template variables of one comment as the comment template shows it.
pub fn info_vars(info: &CommentInfo, page: &str, v: &mut Map<String, Value>) {
    v.insert("commentid".into(), json!(page_to_id(page)));
    for (name, value) in [
        ("commentuser", &info.user),
        ("commentopenid", &info.openid),
        ("commentip", &info.ip),
        ("commentauthor", &info.author),
        ("commentauthorurl", &info.authorurl),
        ("commentauthoravatar", &info.avatar),
    ] {
        if let Some(val) = value {
            v.insert(name.into(), json!(val));
        }
    }
}

/// Whether the site renders comments at all.
pub fn enabled(site: &Site) -> bool {
    site.wiki.config.plugins.enabled("comments")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_md5_of_the_page_name() {
        assert_eq!(
            page_to_id("blog/post1/comment_1_aaaa"),
            "comment-a37a766b61b83a31b7b868837c723532"
        );
    }

    #[test]
    fn openid_names() {
        assert_eq!(
            openid_display("http://carol.example.net/").as_deref(),
            Some("carol [example.net]")
        );
        assert_eq!(
            openid_display("https://example.com/dave").as_deref(),
            Some("dave [example.com]")
        );
        assert_eq!(openid_display("alice"), None);
        assert_eq!(
            email_user("bob.smith@example.com").as_deref(),
            Some("bobsmith")
        );
    }

    #[test]
    fn comment_names() {
        assert!(is_comment_name("a/comment_3_ff", "comment_"));
        assert!(!is_comment_name("a/comment_x", "comment_"));
        assert!(!is_comment_name("comment_1", "comment_"));
    }
}
