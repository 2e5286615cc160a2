//! `[[!color foreground=red background="#eee" text="""..."""]]`: coloured
//! text. Colours are names or `#rgb`/`#rrggbb`; anything else is dropped.

use std::sync::LazyLock;

use regex::Regex;

use super::{Context, Directive, Params};

pub struct Color;

/// A colour as ikiwiki accepts it: lowercase letters, or `#` and three to
/// six hex digits.
fn valid(c: Option<&str>) -> String {
    let Some(c) = c else { return String::new() };
    let c = c.to_lowercase();
    let name = !c.is_empty() && c.bytes().all(|b| b.is_ascii_lowercase());
    let hex = c
        .strip_prefix('#')
        .is_some_and(|h| (3..=6).contains(&h.len()) && h.bytes().all(|b| b.is_ascii_hexdigit()));
    if name || hex { c } else { String::new() }
}

impl Directive for Color {
    fn run(&self, cx: &mut Context, params: &Params) -> Result<String, String> {
        let fg = valid(params.get("foreground"));
        let bg = valid(params.get("background"));
        let text = cx.preprocess(params.get("text").unwrap_or(""));
        // The scrubber removes style attributes: the colours travel in a
        // `value` attribute, made a style by the format stage.
        let mut style = String::new();
        if !fg.is_empty() {
            style.push_str(&format!("color: {fg}"));
        }
        if !fg.is_empty() && !bg.is_empty() {
            style.push_str("; ");
        }
        if !bg.is_empty() {
            style.push_str(&format!("background-color: {bg}"));
        }
        Ok(format!(
            "<span class=\"color\"><span value=\"{style}\"></span>{text}</span>"
        ))
    }
}

static PRESERVED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r##"<span class="color">\s*<span value="((color: ([a-z]+|#[0-9a-f]{3,6})?)?((; )?(background-color: ([a-z]+|#[0-9a-f]{3,6})?)?)?)">\s*</span>"##).unwrap()
});

/// The format stage: colours back into style attributes.
pub fn format(html: &str) -> Option<String> {
    if !html.contains("<span class=\"color\">") {
        return None;
    }
    Some(
        PRESERVED
            .replace_all(html, "<span class=\"color\" style=\"$1\">")
            .into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_checked() {
        assert_eq!(valid(Some("Red")), "red");
        assert_eq!(valid(Some("#A0b")), "#a0b");
        assert_eq!(valid(Some("#12345678")), "");
        assert_eq!(valid(Some("red;x:y")), "");
        assert_eq!(valid(None), "");
    }

    #[test]
    fn format_makes_the_style() {
        let out = format("<span class=\"color\"><span value=\"color: red; background-color: #fff\"></span>x</span>").unwrap();
        assert_eq!(
            out,
            "<span class=\"color\" style=\"color: red; background-color: #fff\">x</span>"
        );
    }
}
