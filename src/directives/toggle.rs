//! `[[!toggle id=... text=...]]` and `[[!toggleable id=... text="""..."""
//! open=yes]]`: a link that shows and hides a block of the page. The
//! blocks are hidden by `ikiwiki/toggle.js`, which the format stage adds
//! to pages that have any.

use super::{Context, Directive, Params};

pub struct Toggle;
pub struct Toggleable;

/// A valid HTML id from the page and the id given, as ikiwiki makes it:
/// characters other than letters, digits, `-` and `.` become `-`, and it
/// starts with a letter.
pub fn genid(page: &str, id: &str) -> String {
    let raw = format!("{page}.{id}");
    let mut out: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if !out.starts_with(|c: char| c.is_ascii_alphabetic()) {
        out.insert_str(0, "id");
    }
    out
}

impl Directive for Toggle {
    fn run(&self, cx: &mut Context, params: &Params) -> Result<String, String> {
        let id = genid(&cx.page, params.get("id").unwrap_or("default"));
        let text = params.get("text").unwrap_or("more");
        Ok(format!("<a class=\"toggle\" href=\"#{id}\">{text}</a>"))
    }
}

impl Directive for Toggleable {
    fn run(&self, cx: &mut Context, params: &Params) -> Result<String, String> {
        let id = genid(&cx.page, params.get("id").unwrap_or("default"));
        let text = cx.preprocess(params.get("text").unwrap_or(""));
        let class = if params
            .get("open")
            .is_some_and(|o| o.eq_ignore_ascii_case("yes"))
        {
            "toggleable-open"
        } else {
            "toggleable"
        };
        // The block's text must stay Markdown, which a <div> around it
        // would stop: the opening and closing markers are separate empty
        // elements, joined up by the format stage. Trailing indentation
        // is repeated so the end marker stays inside an indented block.
        let indent = &text[text.trim_end_matches(' ').len()..];
        Ok(format!(
            "<div class=\"{class}\" id=\"{id}\"></div>\n\n{text}\n{indent}<div class=\"toggleableend\"></div>"
        ))
    }
}

static MARKERS: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r#"(<div class="toggleable(?:-open)?" id="[^"]+">\s*)</div>"#).unwrap()
});

/// The format stage: joins each block's markers into one element and, if
/// the page has any, loads the scripts before `</body>`; `urlto` gives
/// a file's URL from the page.
pub fn format(html: &str, urlto: impl Fn(&str) -> String) -> Option<String> {
    if !html.contains("<div class=\"toggleable") || !MARKERS.is_match(html) {
        return None;
    }
    let out = MARKERS
        .replace_all(html, "$1")
        .replace("<div class=\"toggleableend\">", "");
    let scripts: String = ["ikiwiki/ikiwiki.js", "ikiwiki/toggle.js"]
        .iter()
        .map(|js| {
            format!(
                "<script src=\"{}\" type=\"text/javascript\" charset=\"utf-8\"></script>\n",
                urlto(js)
            )
        })
        .collect();
    Some(match find_body_close(&out) {
        Some(at) => format!("{}{scripts}{}", &out[..at], &out[at..]),
        None => format!("{out}{scripts}"),
    })
}

/// Where the line holding `</body>` begins (the scripts go just before
/// it, as ikiwiki puts them).
fn find_body_close(html: &str) -> Option<usize> {
    let at = html.find("</body")?;
    let line_start = html[..at].rfind('\n').map_or(0, |n| n + 1);
    if html[line_start..at].trim().is_empty() {
        Some(line_start)
    } else {
        Some(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_valid_html() {
        assert_eq!(genid("index", "t1"), "index.t1");
        assert_eq!(genid("a b/c", "x y"), "a-b-c.x-y");
        assert_eq!(genid("1page", "x"), "id1page.x");
    }

    #[test]
    fn format_joins_markers_and_adds_scripts() {
        let html = "<body>\n<div class=\"toggleable\" id=\"p.x\"></div>\n<p>hi</p>\n<div class=\"toggleableend\"></div>\n</body>";
        let out = format(html, |js| format!("../{js}")).unwrap();
        assert!(
            out.contains("<div class=\"toggleable\" id=\"p.x\">\n<p>hi</p>\n</div>"),
            "{out}"
        );
        assert!(
            out.contains("<script src=\"../ikiwiki/toggle.js\""),
            "{out}"
        );
        assert!(out.find("toggle.js").unwrap() < out.find("</body>").unwrap());
        assert_eq!(format("<p>nothing</p>", |js| js.to_string()), None);
    }
}
