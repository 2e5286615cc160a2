//! `[[!map pages="..."]]`: a nested list of matching pages as a tree.

use super::{Context, Directive, Params};
use crate::names::dirname;
use crate::pagespec::{DEPEND_CONTENT, DEPEND_PRESENCE};
use crate::wiki::LinkOpts;

pub struct Map;

impl Directive for Map {
    fn run(&self, cx: &mut Context, params: &Params) -> Result<String, String> {
        let spec = params.get("pages").unwrap_or("*").to_string();
        let show = params.get("show").map(str::to_string);
        let deptype = if show.is_some() {
            DEPEND_CONTENT
        } else {
            DEPEND_PRESENCE
        };
        let ids = super::match_pages(cx, &spec, deptype, None)?;
        let wiki = cx.wiki();

        // Items with their link text; the longest common directory prefix.
        let mut items: Vec<(String, String)> = Vec::with_capacity(ids.len());
        let mut common: Option<String> = None;
        for id in &ids {
            let p = wiki.page(*id);
            let text = show
                .as_deref()
                .and_then(|f| p.meta().field(f))
                .unwrap_or("")
                .to_string();
            items.push((p.name.clone(), text));
            let name = &p.name;
            match &common {
                None => common = Some(name.clone()),
                Some(c)
                    if !c.is_empty()
                        && !(name.starts_with(c.as_str())
                            && (name.len() == c.len() || name[c.len()..].starts_with('/'))) =>
                {
                    let a: Vec<&str> = name.split('/').collect();
                    let b: Vec<&str> = c.split('/').collect();
                    let n = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
                    common = Some(a[..n].join("/"));
                }
                _ => {}
            }
        }
        items.sort_by(|a, b| a.0.cmp(&b.0));
        let names: rustc_hash::FxHashSet<&str> = items.iter().map(|(n, _)| n.as_str()).collect();
        let mut common = common.unwrap_or_default();
        while !common.is_empty() && names.contains(common.as_str()) {
            common = dirname(&common).to_string();
        }

        let mut map = String::from("<div class='map'>\n");
        if items.is_empty() {
            map.push_str("</div>\n");
            return Ok(map);
        }
        map.push_str("<ul>\n");
        let mut parent = String::new();
        let mut indent: usize = 0;
        let mut openli = false;
        let mut addparent = String::new();
        let under = |s: &str, prefix: &str| {
            s.starts_with(prefix) && (s.len() == prefix.len() || s[prefix.len()..].starts_with('/'))
        };
        for (full, text) in &items {
            let item: String = if !common.is_empty() {
                full.strip_prefix(&format!("{common}/"))
                    .unwrap_or(full)
                    .to_string()
            } else {
                full.clone()
            };
            let depth = item.matches('/').count() + 1;
            let baseitem = dirname(&item).to_string();
            while !parent.is_empty() && !baseitem.is_empty() && !under(&baseitem, &parent) {
                parent = dirname(&parent).to_string();
                if !addparent.is_empty() && under(&baseitem, &addparent) {
                    break;
                }
                addparent.clear();
                map.push_str("</li>\n");
                if indent > 1 {
                    map.push_str("</ul><map:collapse>\n");
                }
                indent = indent.saturating_sub(1);
            }
            while depth < indent {
                map.push_str("</li>\n");
                if indent > 1 {
                    map.push_str("</ul>\n");
                }
                indent -= 1;
            }
            let mut bits = item.split('/');
            let mut p = String::new();
            for _ in 0..indent {
                if let Some(b) = bits.next() {
                    p.push('/');
                    p.push_str(b);
                }
            }
            while depth > indent {
                indent += 1;
                if indent > 1 {
                    map.push_str("<ul><map:collapse>\n");
                }
                if depth > indent {
                    if let Some(b) = bits.next() {
                        p.push('/');
                        p.push_str(b);
                    }
                    addparent = p.trim_start_matches('/').to_string();
                    map.push_str("<li>\n");
                    map.push_str(&wiki.htmllink(
                        &cx.page,
                        &cx.destpage,
                        &format!("/{common}{p}"),
                        &LinkOpts {
                            class: Some("mapparent"),
                            noimageinline: true,
                            ..Default::default()
                        },
                    ));
                    map.push('\n');
                    openli = true;
                } else {
                    openli = false;
                }
            }
            if openli {
                map.push_str("</li>\n");
            }
            map.push_str("<li>\n");
            let linktext = (!text.is_empty()).then_some(text.as_str());
            map.push_str(&wiki.htmllink(
                &cx.page,
                &cx.destpage,
                &format!("/{common}/{item}"),
                &LinkOpts {
                    linktext,
                    class: Some("mapitem"),
                    noimageinline: true,
                    ..Default::default()
                },
            ));
            map.push('\n');
            openli = true;
            parent = item;
        }
        while indent > 0 {
            map.push_str("</li>\n");
            indent -= 1;
            map.push_str("</ul>\n");
        }
        let map = map.replace("\n</ul><map:collapse>\n<ul><map:collapse>\n", "\n");
        let mut map = map.replace("<map:collapse>", "");
        map.push_str("</div>\n");
        Ok(map)
    }
}
