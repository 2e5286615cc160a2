//! `[[!tag a b]]` and `[[!taglink a]]`: tags are typed links to pages
//! under `tagbase`, listed in the page footer and matched by `tagged()`.

use super::{Context, Directive, Params};
use crate::names::{linkpage, pagetitle};
use crate::pagespec::tag_link;
use crate::wiki::{LinkOpts, Wiki};

/// The tag name shown for a stored tag link.
pub fn tag_name(wiki: &Wiki, link: &str) -> String {
    let stripped = match &wiki.config.tagbase {
        Some(base) => {
            let prefix = format!("/{base}/");
            link.strip_prefix(&prefix).unwrap_or(link).to_string()
        }
        None => link
            .strip_prefix("./")
            .or_else(|| link.strip_prefix('/'))
            .unwrap_or(link)
            .to_string(),
    };
    pagetitle(&stripped, true)
}

/// The footer link for a tag.
pub fn footer_link(wiki: &Wiki, page: &str, destpage: &str, link: &str) -> String {
    let name = tag_name(wiki, link);
    wiki.htmllink(
        page,
        destpage,
        &tag_link(wiki, link),
        &LinkOpts {
            rel: Some("tag"),
            linktext: Some(&name),
            ..Default::default()
        },
    )
}

/// Records a tag (its page is made by [`crate::autofile`] when missing).
fn add_tag(cx: &mut Context, tag: &str) -> String {
    let link = tag_link(cx.wiki(), tag);
    cx.state.add_link(&link, Some("tag"));
    link
}

pub struct Tag;

impl Directive for Tag {
    fn scan(&self) -> bool {
        true
    }

    fn run(&self, cx: &mut Context, params: &Params) -> Result<String, String> {
        for key in params.keys() {
            let tag = linkpage(key);
            add_tag(cx, &tag);
        }
        Ok(String::new())
    }
}

pub struct TagLink;

impl Directive for TagLink {
    fn scan(&self) -> bool {
        true
    }

    fn run(&self, cx: &mut Context, params: &Params) -> Result<String, String> {
        let mut out = Vec::new();
        for key in params.keys() {
            let (text, tag) = match key.rsplit_once('|') {
                Some((text, tag)) => (Some(pagetitle(text, false)), linkpage(tag)),
                None => (None, linkpage(key)),
            };
            let link = add_tag(cx, &tag);
            if !cx.scan {
                let wiki = cx.wiki();
                out.push(wiki.htmllink(
                    &cx.page,
                    &cx.destpage,
                    &link,
                    &LinkOpts {
                        linktext: text.as_deref(),
                        ..Default::default()
                    },
                ));
            }
        }
        Ok(out.join(" "))
    }
}
