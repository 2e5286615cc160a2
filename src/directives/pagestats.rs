//! `[[!pagestats pages="spec" among="spec" style=cloud|list|table
//! show=N|field class=...]]`: how many pages link to each matching page,
//! as a tag cloud (the default), a list or a table.

use super::{Context, Directive, Params};
use crate::pagespec::{DEPEND_LINKS, DEPEND_PRESENCE};
use crate::wiki::{LinkOpts, PageId};

pub struct PageStats;

const CLASSES: [&str; 5] = ["smallestPC", "smallPC", "normalPC", "bigPC", "biggestPC"];

impl Directive for PageStats {
    fn run(&self, cx: &mut Context, params: &Params) -> Result<String, String> {
        let spec = params.get("pages").unwrap_or("*").to_string();
        let style = params
            .get("style")
            .filter(|s| !s.is_empty())
            .unwrap_or("cloud");
        // `show=N` limits the count; any other `show` names the metadata
        // field used as link text.
        let (limit, show) = match params.get("show") {
            Some(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                (s.parse::<usize>().ok(), None)
            }
            Some(s) => (
                params.get("limit").and_then(|l| l.parse().ok()),
                Some(s.to_string()),
            ),
            None => (params.get("limit").and_then(|l| l.parse().ok()), None),
        };
        let pages = super::match_pages(cx, &spec, DEPEND_PRESENCE, None)?;
        let among: Option<rustc_hash::FxHashSet<PageId>> = match params.get("among") {
            Some(a) => {
                let a = a.to_string();
                Some(
                    super::match_pages(cx, &a, DEPEND_LINKS, None)?
                        .into_iter()
                        .collect(),
                )
            }
            None => {
                cx.state.add_depends_spec(super::ALL_LINKERS, DEPEND_LINKS);
                None
            }
        };
        let wiki = cx.wiki();
        let mut counts: Vec<(&str, PageId, usize)> = pages
            .iter()
            .map(|&id| {
                let back = wiki.backlinks.get(id as usize).unwrap_or(&[]);
                let n = match &among {
                    Some(set) => back.iter().filter(|b| set.contains(b)).count(),
                    None => back.len(),
                };
                (wiki.page(id).name.as_str(), id, n)
            })
            .collect();
        let max = counts.iter().map(|c| c.2).max().unwrap_or(0);
        let by_count =
            |a: &(&str, PageId, usize), b: &(&str, PageId, usize)| b.2.cmp(&a.2).then(a.0.cmp(b.0));
        if let Some(limit) = limit {
            counts.sort_by(by_count);
            counts.truncate(limit);
        }
        let linktext = |id: PageId| show.as_deref().and_then(|f| wiki.page(id).meta().field(f));
        let class = params.get("class");
        let (page, destpage) = (cx.page.as_str(), cx.destpage.as_str());
        if style == "table" {
            counts.sort_by(by_count);
            let rows: Vec<String> = counts
                .iter()
                .map(|(name, id, n)| {
                    let link = wiki.htmllink(
                        page,
                        destpage,
                        name,
                        &LinkOpts {
                            noimageinline: true,
                            linktext: linktext(*id),
                            ..Default::default()
                        },
                    );
                    format!("<tr><td>{link}</td><td>{n}</td></tr>")
                })
                .collect();
            return Ok(format!(
                "<table class='{}'>\n{}\n</table>\n",
                class.unwrap_or("pageStats"),
                rows.join("\n")
            ));
        }
        counts.sort_by(|a, b| a.0.cmp(b.0));
        let list = style == "list";
        let mut out = if list {
            format!("<ul class='{}'>\n", class.unwrap_or("list"))
        } else {
            format!("<div class='{}'>\n", class.unwrap_or("pagecloud"))
        };
        for (name, id, n) in &counts {
            if *n == 0 {
                continue;
            }
            let c = CLASSES[n * CLASSES.len() / (max + 1)];
            let link = wiki.htmllink(
                page,
                destpage,
                name,
                &LinkOpts {
                    linktext: linktext(*id),
                    ..Default::default()
                },
            );
            if list {
                out.push_str("<li>");
            }
            out.push_str(&format!("<span class=\"{c}\">{link}</span>\n"));
            if list {
                out.push_str("</li>");
            }
        }
        out.push_str(if list { "</ul>\n" } else { "</div>\n" });
        Ok(out)
    }
}
