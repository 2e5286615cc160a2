//! Markdown through comrak, configured like ikiwiki's mdwn plugin with
//! Discount: raw HTML passes through (the scrubber deals with it), tables,
//! strikethrough, footnotes, fenced code, definition lists; no smart
//! quotes and no bare-URL autolinking (Discount does neither).

use comrak::{Options, markdown_to_html};

/// Options for one wiki; built once, shared by every thread.
pub struct Markdown {
    options: Options<'static>,
}

impl Markdown {
    pub fn new(footnotes: bool) -> Self {
        let mut options = Options::default();
        options.extension.table = true;
        options.extension.strikethrough = true;
        options.extension.footnotes = footnotes;
        options.extension.description_lists = true;
        options.extension.autolink = false;
        options.render.r#unsafe = true;
        options.parse.smart = false;
        Markdown { options }
    }

    /// Converts Markdown to HTML. Blank input yields nothing, as with
    /// ikiwiki's Discount binding.
    pub fn to_html(&self, text: &str) -> String {
        if text.trim().is_empty() {
            return String::new();
        }
        markdown_to_html(text, &self.options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_html_and_extensions() {
        let md = Markdown::new(true);
        let html = md.to_html("<span class=\"x\">hi</span> ~~gone~~ http://example.org\n");
        assert!(html.contains("<span class=\"x\">hi</span>"));
        assert!(html.contains("<del>gone</del>"));
        assert!(!html.contains("<a href=\"http://example.org\""));
        assert_eq!(md.to_html("  \n"), "");
    }
}
