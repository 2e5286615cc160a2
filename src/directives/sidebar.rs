//! The sidebar plugin: the page `sidebar` (the nearest one, found as a
//! link from the page would be) shown beside every page, and
//! `[[!sidebar content="""..."""]]` for a page's own sidebar.
//! `global_sidebars: 0` limits sidebars to pages with the directive.

use super::{Context, Directive, Params};
use crate::pagespec::{DEPEND_CONTENT, DEPEND_PRESENCE};
use crate::site::Site;
use crate::wiki::PageId;

pub struct Sidebar;

impl Directive for Sidebar {
    fn run(&self, cx: &mut Context, params: &Params) -> Result<String, String> {
        if cx.page != cx.destpage {
            return Ok(String::new());
        }
        cx.state.sidebar = Some(match params.get("content") {
            Some(content) => {
                let kind = cx
                    .wiki()
                    .page_named(&cx.page)
                    .and_then(|p| p.kind)
                    .unwrap_or("mdwn");
                Some(crate::render::body(cx, kind, content))
            }
            None => None,
        });
        Ok(String::new())
    }
}

/// The sidebar HTML for page `id`, recording what it depends on.
pub fn content(site: &Site, id: PageId, state: &mut super::PageState) -> Option<String> {
    let wiki = &site.wiki;
    let page = wiki.page(id).name.clone();
    match state.sidebar.take() {
        Some(Some(own)) => return Some(own),
        None if wiki.config.setup.has("global_sidebars")
            && !wiki.config.setup.flag_or("global_sidebars", true) =>
        {
            return None;
        }
        _ => {}
    }
    // Any page that would become the nearest sidebar must rebuild this
    // one when it appears or goes.
    let mut dir = page.as_str();
    loop {
        let candidate = if dir.is_empty() {
            "sidebar".to_string()
        } else {
            format!("{}/sidebar", dir.to_lowercase())
        };
        state.add_depends(&candidate, DEPEND_PRESENCE);
        if dir.is_empty() {
            break;
        }
        dir = dir.rfind('/').map_or("", |i| &dir[..i]);
    }
    let sid = wiki.bestlink(&page, "sidebar")?;
    let sp = wiki.page(sid);
    let kind = sp.kind?;
    state.add_depends(&sp.name, DEPEND_CONTENT);
    let text = site.source(sid)?;
    if text.is_empty() {
        return None;
    }
    let mut cx = Context::new(site, &sp.name, &page, false);
    let html = crate::render::body(&mut cx, kind, text);
    // What the sidebar's directives depend on, the page shown with it
    // depends on.
    for (d, t) in &cx.state.depends {
        state.add_depends(d, *t);
    }
    for (d, t) in &cx.state.depends_spec {
        state.add_depends_spec(d, *t);
    }
    Some(if cx.state.placeholders.is_empty() {
        html
    } else {
        crate::render::fill_placeholders(&html, &cx.state.placeholders)
    })
}
