//! `[[!pagecount pages="..."]]`: how many pages match.

use super::{Context, Directive, Params};
use crate::pagespec::DEPEND_PRESENCE;

pub struct PageCount;

impl Directive for PageCount {
    fn run(&self, cx: &mut Context, params: &Params) -> Result<String, String> {
        let spec = params.get("pages").unwrap_or("*").to_string();
        if spec == "*" {
            cx.state.add_depends_spec("*", DEPEND_PRESENCE);
            return Ok(cx.wiki().pages.len().to_string());
        }
        Ok(super::match_pages(cx, &spec, DEPEND_PRESENCE, None)?
            .len()
            .to_string())
    }
}
