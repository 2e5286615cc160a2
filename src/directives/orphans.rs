//! `[[!orphans pages="..."]]`: pages nothing links to.

use super::{Context, Directive, Params};
use crate::pagespec::{DEPEND_LINKS, DEPEND_PRESENCE};
use crate::wiki::LinkOpts;

pub struct Orphans;

impl Directive for Orphans {
    fn run(&self, cx: &mut Context, params: &Params) -> Result<String, String> {
        let spec = params.get("pages").unwrap_or("*").to_string();
        cx.state.add_depends_spec(super::ALL_LINKERS, DEPEND_LINKS);
        let ids = super::match_pages(cx, &spec, DEPEND_PRESENCE, None)?;
        let wiki = cx.wiki();
        let cfg = &wiki.config;
        let dp = format!("/{}", cfg.discussionpage.to_lowercase());
        let mut orphans: Vec<&str> = ids
            .into_iter()
            .filter(|&id| {
                let p = wiki.page(id);
                if !wiki.backlinks.get(id as usize).is_none_or(|b| b.is_empty())
                    || p.name == "index"
                {
                    return false;
                }
                // Linking out to another page makes it reachable back.
                !p.links().iter().any(|l| {
                    !l.is_empty()
                        && (!cfg.discussion || !l.to_lowercase().ends_with(&dp))
                        && wiki.bestlink(&p.name, l).is_some_and(|t| t != id)
                })
            })
            .map(|id| wiki.page(id).name.as_str())
            .collect();
        if orphans.is_empty() {
            return Ok("All pages have other pages linking to them.".into());
        }
        orphans.sort();
        let items: Vec<String> = orphans
            .iter()
            .map(|o| {
                format!(
                    "<li>{}</li>",
                    wiki.htmllink(
                        &cx.page,
                        &cx.destpage,
                        o,
                        &LinkOpts {
                            noimageinline: true,
                            ..Default::default()
                        }
                    )
                )
            })
            .collect();
        Ok(format!("<ul>\n{}</ul>\n", items.join("\n")))
    }
}
