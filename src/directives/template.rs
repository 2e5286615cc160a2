//! `[[!template id=name param=value ...]]`: fills a wiki template page
//! (`templates/name`) written in ikiwiki's template language.

use serde_json::{Map, Value};

use super::{Context, Directive, Params};
use crate::names::basename;
use crate::pagespec::DEPEND_CONTENT;
use crate::render::htmlize;
use crate::wiki::LinkOpts;

pub struct Template;

fn chomp(mut s: String) -> String {
    if s.ends_with('\n') {
        s.pop();
    }
    s
}

impl Directive for Template {
    fn scan(&self) -> bool {
        true
    }

    fn run(&self, cx: &mut Context, params: &Params) -> Result<String, String> {
        let Some(id) = params.get("id") else {
            return Err("missing id parameter".into());
        };
        let site = cx.site;
        // Depend on the template page even when it is missing, so that
        // creating it fixes this page.
        cx.state.add_depends(
            &crate::site::Site::template_page(id),
            DEPEND_CONTENT | crate::pagespec::DEPEND_PRESENCE,
        );
        let (tpage, parsed) = match site.wiki_template(id) {
            Ok(t) => t,
            Err(e) => {
                let link = site.wiki.htmllink(
                    &cx.page,
                    &cx.destpage,
                    &format!("/templates/{id}"),
                    &LinkOpts::default(),
                );
                return Err(format!("failed to process template {link} {e}"));
            }
        };
        let template = match parsed.as_ref() {
            Ok(t) => t,
            Err(e) => return Err(format!("failed to process template {tpage}: {e}")),
        };
        let kind = site
            .wiki
            .page_named(&cx.page)
            .and_then(|p| p.kind)
            .unwrap_or("mdwn");
        let mut vars = Map::new();
        let mut all: Vec<(String, String)> = params.pairs.clone();
        all.push(("page".into(), cx.page.clone()));
        all.push(("destpage".into(), cx.destpage.clone()));
        all.push(("basename".into(), basename(&cx.page).to_string()));
        for (key, value) in all {
            let key = key.to_lowercase();
            let wants = template.query(&key);
            let wants_raw = template.query(&format!("raw_{key}"));
            if !wants && !wants_raw {
                // Still expand it: directives in unused parameters run in
                // ikiwiki too (a tag passed in is still a tag).
                cx.preprocess(&value);
                continue;
            }
            let expanded = cx.preprocess(&value);
            if wants {
                let html = if cx.scan {
                    expanded.clone()
                } else {
                    htmlize(site, &cx.page, &cx.destpage, kind, &expanded)
                };
                vars.insert(key.clone(), Value::String(chomp(html)));
            }
            if wants_raw {
                vars.insert(format!("raw_{key}"), Value::String(chomp(expanded)));
            }
        }
        let output = template.render(&vars);
        Ok(cx.preprocess(&output))
    }
}
