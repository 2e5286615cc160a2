//! `[[!format LANG """text"""]]`: text in another format. A page type
//! (`mdwn`, `html`, `txt`...) is rendered as such; a programming language
//! syntect knows (by name or file extension: `c`, `rust`, `py`, `sh`...)
//! is highlighted; anything else is shown as preformatted text.

use std::sync::OnceLock;

use syntect::html::{ClassStyle, ClassedHTMLGenerator};
use syntect::parsing::SyntaxSet;
use syntect::util::LinesWithEndings;

use super::{Context, Directive, Params};

pub struct Format;

/// Loaded on first use: most builds never highlight anything.
fn syntaxes() -> &'static SyntaxSet {
    static SET: OnceLock<SyntaxSet> = OnceLock::new();
    SET.get_or_init(SyntaxSet::load_defaults_newlines)
}

impl Directive for Format {
    fn run(&self, cx: &mut Context, params: &Params) -> Result<String, String> {
        let (Some((format, _)), Some((text, _))) = (params.pairs.first(), params.pairs.get(1))
        else {
            return Err("must specify format and text".into());
        };
        let (format, text) = (format.clone(), text.clone());
        let text = cx.preprocess(&text);
        if crate::scan::is_page_type(&format, &cx.wiki().config) {
            return Ok(crate::render::htmlize(
                cx.site,
                &cx.page,
                &cx.destpage,
                &format,
                &text,
            ));
        }
        // Kept out of Markdown's way (blank lines in code would end the
        // HTML block), put back by the format stage.
        cx.state.placeholders.push(highlight(&format, &text));
        Ok(format!(
            "{}\n\n",
            crate::render::placeholder(cx.state.placeholders.len() - 1)
        ))
    }
}

/// `text` as highlighted HTML, classes prefixed `hl-` (the stylesheet
/// colours the common ones), or escaped when the language is unknown.
pub fn highlight(lang: &str, text: &str) -> String {
    let class: String = lang
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let ss = syntaxes();
    let body = match ss.find_syntax_by_token(lang) {
        Some(syntax) => {
            let mut html = ClassedHTMLGenerator::new_with_class_style(
                syntax,
                ss,
                ClassStyle::SpacedPrefixed { prefix: "hl-" },
            );
            let mut ok = true;
            for line in LinesWithEndings::from(text) {
                if html
                    .parse_html_for_line_which_includes_newline(line)
                    .is_err()
                {
                    ok = false;
                    break;
                }
            }
            if ok {
                html.finalize()
            } else {
                crate::names::html_escape(text)
            }
        }
        None => crate::names::html_escape(text),
    };
    format!("<div class=\"highlight-{class}\"><pre class=\"hl\">{body}</pre></div>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_languages_are_highlighted() {
        let out = highlight("c", "int main() { return 0; } /* hi */\n");
        assert!(
            out.starts_with("<div class=\"highlight-c\"><pre class=\"hl\">"),
            "{out}"
        );
        assert!(
            out.contains("hl-comment") && out.contains("hl-storage"),
            "{out}"
        );
        let plain = highlight("no-such-language", "a < b\n");
        assert!(
            plain.contains("a &lt; b") && !plain.contains("<span"),
            "{plain}"
        );
    }
}
