//! `[[!brokenlinks pages="..."]]`: links to pages that do not exist.

use super::{Context, Directive, Params};
use crate::pagespec::{DEPEND_LINKS, MatchParams};
use crate::wiki::LinkOpts;

pub struct BrokenLinks;

impl Directive for BrokenLinks {
    fn run(&self, cx: &mut Context, params: &Params) -> Result<String, String> {
        let spec_text = params.get("pages").unwrap_or("*").to_string();
        let spec = cx.site.pagespec(&spec_text);
        let spec = spec.as_ref().as_ref().map_err(|e| e.to_string())?;
        cx.state.add_depends_spec(&spec_text, DEPEND_LINKS);
        let wiki = cx.wiki();
        let cfg = &wiki.config;
        let dp = format!("/{}", cfg.discussionpage.to_lowercase());
        let opts = LinkOpts {
            noimageinline: true,
            ..Default::default()
        };
        let mp = MatchParams {
            location: Some(&cx.page),
            ..Default::default()
        };
        let mut broken = Vec::new();
        for (link, pages) in wiki.broken_links() {
            if cfg.discussion && link.to_lowercase().contains(&dp) {
                continue;
            }
            let mut names: Vec<&str> = Vec::new();
            for id in &pages {
                let name = wiki.page(*id).name.as_str();
                let r = spec.match_page(wiki, name, &mp);
                if r.is_error() {
                    return Err(format!("cannot match pages: {}", r.reason));
                }
                if r.is_match() {
                    names.push(name);
                }
            }
            if names.is_empty() {
                continue;
            }
            let first = wiki.page(pages[0]).name.as_str();
            names.sort();
            let from: Vec<String> = names
                .iter()
                .map(|n| wiki.htmllink(&cx.page, &cx.destpage, n, &opts))
                .collect();
            broken.push(format!(
                "{} from {}",
                wiki.htmllink(first, &cx.destpage, &link, &opts),
                from.join(", ")
            ));
        }
        if broken.is_empty() {
            return Ok("There are no broken links!".into());
        }
        broken.sort();
        let items: Vec<String> = broken.iter().map(|b| format!("<li>{b}</li>")).collect();
        Ok(format!("<ul>\n{}</ul>\n", items.join("\n")))
    }
}
