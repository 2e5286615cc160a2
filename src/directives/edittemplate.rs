//! `[[!edittemplate template=... match=...]]`: names the template new
//! pages matching a PageSpec start from when created on the web, and says
//! so on the page unless `silent` (and the template exists).

use super::{Context, Directive, Params};
use crate::names::linkpage;
use crate::pagespec::DEPEND_PRESENCE;
use crate::wiki::LinkOpts;

pub struct EditTemplate;

impl EditTemplate {
    /// The template page a registration names, as ikiwiki finds it: near
    /// the page, else under `templates/`. Returns the link to show and
    /// the page found.
    pub fn resolve(cx: &mut Context, template: &str) -> (String, Option<String>) {
        let mut link = linkpage(template);
        cx.state.add_depends(&link, DEPEND_PRESENCE);
        let wiki = cx.wiki();
        let mut best = wiki.bestlink(&cx.page, &link);
        if best.is_none() {
            cx.state
                .add_depends(&format!("templates/{link}"), DEPEND_PRESENCE);
            link = format!("/templates/{link}");
            best = wiki.bestlink(&cx.page, &link);
        }
        let found = best.map(|id| wiki.page(id).name.clone());
        (link, found)
    }
}

impl Directive for EditTemplate {
    fn run(&self, cx: &mut Context, params: &Params) -> Result<String, String> {
        if cx.page != cx.destpage {
            return Ok(String::new());
        }
        let template = params.get("template").filter(|t| !t.is_empty());
        let Some(template) = template else {
            return Err("template not specified".into());
        };
        let Some(spec) = params.get("match").filter(|m| !m.is_empty()) else {
            return Err("match not specified".into());
        };
        let (link, found) = Self::resolve(cx, template);
        if params.yes("silent") && found.is_some() {
            return Ok(String::new());
        }
        let shown = cx
            .wiki()
            .htmllink(&cx.page, &cx.destpage, &link, &LinkOpts::default());
        Ok(format!("edittemplate {shown} registered for {spec}"))
    }
}
