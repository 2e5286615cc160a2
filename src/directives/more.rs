//! `[[!more linktext="..." text="""..."""]]`: text shown on the page
//! itself, replaced by a "more" link where the page is inlined (for the
//! destination pages `pages=` matches, all of them by default).

use super::{Context, Directive, Params};
use crate::wiki::LinkOpts;

pub struct More;

impl Directive for More {
    fn run(&self, cx: &mut Context, params: &Params) -> Result<String, String> {
        let linktext = params.get("linktext").unwrap_or("more");
        let inlined = cx.page != cx.destpage
            && match params.get("pages") {
                None => true,
                Some(spec) => {
                    let dest = cx.destpage.clone();
                    super::page_matches(cx, spec, &dest)
                }
            };
        if inlined {
            let link = cx.wiki().htmllink(
                &cx.page,
                &cx.destpage,
                &cx.page,
                &LinkOpts {
                    linktext: Some(linktext),
                    anchor: Some("more"),
                    ..Default::default()
                },
            );
            Ok(format!("\n{link}"))
        } else {
            let text = cx.preprocess(params.get("text").unwrap_or(""));
            Ok(format!("<a name=\"more\"></a>\n\n{text}"))
        }
    }
}
