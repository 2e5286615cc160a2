//! `[[!templatebody <<EOT ... EOT]]`: the part of a template page that is
//! the template; the rest of the page documents it.

use super::{Context, Directive, Params};

pub struct TemplateBody;

impl TemplateBody {
    /// The body declared by a directive's parameters.
    pub fn body(params: &Params) -> Result<String, String> {
        match params.pairs.first() {
            Some((content, rest)) if rest.is_empty() => Ok(content.clone()),
            Some(_) => Err("first parameter must be the content".into()),
            None => Ok(String::new()),
        }
    }
}

impl Directive for TemplateBody {
    fn scan(&self) -> bool {
        true
    }

    fn run(&self, _cx: &mut Context, params: &Params) -> Result<String, String> {
        // The body was collected before scanning (see build); on the page
        // itself the directive shows nothing.
        Self::body(params).map(|_| String::new())
    }
}
