//! Page names, titles and URL paths, following ikiwiki's rules exactly.
//!
//! ikiwiki keeps page names in a restricted alphabet (`wiki_file_chars`:
//! `-[:alnum:]+/.:_`) and escapes anything else as `__NN__` (the decimal
//! code point). Titles undo that escaping. These functions are the ground
//! truth behind every link and URL in a built wiki, so they are checked
//! against vectors recorded from the real ikiwiki (`tests/conformance`).

use std::fmt::Write;

/// Characters allowed unescaped in page names (`wiki_file_chars`).
/// Perl's `[:alnum:]` on a character string is Unicode-aware.
pub fn is_wiki_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '-' | '+' | '/' | '.' | ':' | '_')
}

fn escape_into(out: &mut String, c: char) {
    if c == ' ' {
        out.push('_');
    } else {
        let _ = write!(out, "__{}__", c as u32);
    }
}

/// Turns a title into a page name; `_` is escaped too, so that the
/// result round-trips through [`pagetitle`].
pub fn titlepage(title: &str) -> String {
    let mut out = String::with_capacity(title.len());
    for c in title.chars() {
        if c == '_' || !is_wiki_char(c) {
            escape_into(&mut out, c);
        } else {
            out.push(c);
        }
    }
    out
}

/// Turns the target of a wikilink into a page name (`_` kept as is).
pub fn linkpage(link: &str) -> String {
    if link.chars().all(is_wiki_char) {
        return link.to_string();
    }
    let mut out = String::with_capacity(link.len() + 8);
    for c in link.chars() {
        if is_wiki_char(c) {
            out.push(c);
        } else {
            escape_into(&mut out, c);
        }
    }
    out
}

/// Turns a page name back into a title. `_` becomes a space and
/// `__NN__` becomes `&#NN;` (or the character itself when `unescaped`).
pub fn pagetitle(page: &str, unescaped: bool) -> String {
    if !page.contains('_') {
        return page.to_string();
    }
    let bytes = page.as_bytes();
    let mut out = String::with_capacity(page.len());
    let mut i = 0;
    let mut last = 0;
    while i < bytes.len() {
        if bytes[i] != b'_' {
            i += 1;
            continue;
        }
        out.push_str(&page[last..i]);
        // Try `__(\d+)__` first, as the Perl alternation does.
        let mut replaced = false;
        if bytes.get(i + 1) == Some(&b'_') {
            let start = i + 2;
            let mut j = start;
            while j < bytes.len() && bytes[j].is_ascii_digit() {
                j += 1;
            }
            if j > start && bytes.get(j) == Some(&b'_') && bytes.get(j + 1) == Some(&b'_') {
                let digits = &page[start..j];
                if unescaped {
                    match digits.parse::<u32>().ok().and_then(char::from_u32) {
                        Some(c) => out.push(c),
                        None => out.push('\u{FFFD}'),
                    }
                } else {
                    out.push_str("&#");
                    out.push_str(digits);
                    out.push(';');
                }
                i = j + 2;
                last = i;
                replaced = true;
            }
        }
        if !replaced {
            out.push(' ');
            i += 1;
            last = i;
        }
    }
    out.push_str(&page[last..]);
    out
}

/// ikiwiki's `basename`: everything after the last run of slashes.
pub fn basename(path: &str) -> &str {
    match path.rfind('/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

/// ikiwiki's `dirname`: strips the last component and the slashes before it.
pub fn dirname(path: &str) -> &str {
    let trimmed = path.trim_end_matches(|c| c != '/');
    // `s!/*[^/]+$!!` needs a non-empty last component to do anything.
    if trimmed.len() == path.len() {
        return path;
    }
    trimmed.trim_end_matches('/')
}

/// Output file for `page` with extension `ext` (ikiwiki's `targetpage`).
pub fn targetpage(page: &str, ext: &str, usedirs: bool) -> String {
    format!("{page}{}{ext}", target_infix(page, usedirs))
}

/// What stands between a page's name and the extension in its output
/// file: `page.html`, or with `usedirs` `page/index.html` (except for the
/// top page, `index.html`).
pub fn target_infix(page: &str, usedirs: bool) -> &'static str {
    if !usedirs || page == "index" {
        "."
    } else {
        "/index."
    }
}

/// Collapses `//`, `/./` and trailing slashes like File::Spec's canonpath.
fn canon_components(path: &str) -> Vec<&str> {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect()
}

/// Relative path from directory `base` to `path`, both relative to the
/// wiki root (File::Spec::Unix::abs2rel on "/path" and "/base").
pub fn abs2rel(path: &str, base: &str) -> String {
    let p = canon_components(path);
    let b = canon_components(base);
    if b.is_empty() {
        return if p.is_empty() {
            "/".into()
        } else {
            p.join("/")
        };
    }
    let common = p.iter().zip(&b).take_while(|(x, y)| x == y).count();
    if common == p.len() && common == b.len() {
        return ".".into();
    }
    let mut parts: Vec<&str> = Vec::with_capacity(b.len() - common + p.len() - common);
    let mut pending_common: Vec<&str> = Vec::new();
    for dir in &b[common..] {
        if *dir != ".." {
            parts.insert(0, "..");
            pending_common.push(dir);
        } else if !pending_common.is_empty() {
            if parts.first() == Some(&"..") {
                parts.remove(0);
                pending_common.pop();
            } else if let Some(d) = pending_common.pop() {
                parts.insert(0, d);
            }
        }
    }
    parts.extend_from_slice(&p[common..]);
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

/// Makes a relative URL safe and pretty: a leading `./` so a colon in the
/// first component is not read as a scheme, and `index.html` dropped when
/// usedirs is on.
pub fn beautify_urlpath(url: &str, usedirs: bool, htmlext: &str) -> String {
    let mut url = if url.starts_with('/') || url.starts_with("./") || url.starts_with("../") {
        url.to_string()
    } else {
        format!("./{url}")
    };
    if usedirs {
        let suffix_len = "/index.".len() + htmlext.len();
        if url.len() >= suffix_len {
            let tail = &url[url.len() - suffix_len..];
            if tail.starts_with("/index.") && &tail[7..] == htmlext {
                url.truncate(url.len() - suffix_len + 1);
            }
        }
    }
    url
}

/// Percent-encodes like URI::Escape's `uri_escape_utf8` with its default
/// safe set (`A-Za-z0-9-._~`).
pub fn uri_escape(s: &str) -> String {
    uri_escape_keep(s, "")
}

/// Percent-encodes everything but `A-Za-z0-9-._~` and the `extra` bytes.
pub fn uri_escape_keep(s: &str, extra: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || extra.as_bytes().contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Escapes the five HTML-special characters.
pub fn html_escape(s: &str) -> String {
    if !s.contains(['<', '>', '&', '"', '\'']) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// HTML::Entities::encode_numeric with its default set: the HTML specials
/// and every character outside printable ASCII become numeric references.
pub fn encode_numeric(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' | '>' | '&' | '"' => {
                let _ = write!(out, "&#x{:X};", c as u32);
            }
            '\n' | '\r' | '\t' | ' '..='~' => out.push(c),
            _ => {
                let _ = write!(out, "&#x{:X};", c as u32);
            }
        }
    }
    out
}

/// HTML::Entities::encode_entities with its default set (`<>&"` and
/// non-ASCII), using named entities for the specials.
pub fn encode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\n' | '\r' | '\t' | ' '..='~' => out.push(c),
            _ => {
                let _ = write!(out, "&#{};", c as u32);
            }
        }
    }
    out
}

/// Decodes the HTML entities a wiki author is likely to write: the named
/// basics and numeric references. Unknown entities are left alone.
pub fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('&') {
        out.push_str(&rest[..pos]);
        rest = &rest[pos..];
        let end = rest[1..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '#'))
            .map(|e| e + 1)
            .unwrap_or(rest.len());
        let name = &rest[1..end];
        let decoded = if let Some(num) = name.strip_prefix('#') {
            let code = if let Some(hex) = num.strip_prefix(['x', 'X']) {
                u32::from_str_radix(hex, 16).ok()
            } else {
                num.parse::<u32>().ok()
            };
            code.and_then(char::from_u32)
        } else {
            named_entity(name)
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end..];
                if rest.starts_with(';') {
                    rest = &rest[1..];
                }
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn named_entity(name: &str) -> Option<char> {
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        "copy" => '©',
        "reg" => '®',
        "mdash" => '—',
        "ndash" => '–',
        "hellip" => '…',
        "laquo" => '«',
        "raquo" => '»',
        "eacute" => 'é',
        "uuml" => 'ü',
        "ouml" => 'ö',
        "auml" => 'ä',
        "szlig" => 'ß',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dirname_and_basename_follow_ikiwiki() {
        assert_eq!(dirname("a/b/c"), "a/b");
        assert_eq!(dirname("a"), "");
        assert_eq!(dirname("index.html"), "");
        assert_eq!(dirname("a//b"), "a");
        assert_eq!(dirname("a/"), "a/");
        assert_eq!(basename("a/b/c"), "c");
        assert_eq!(basename("c"), "c");
    }

    #[test]
    fn abs2rel_cases() {
        assert_eq!(abs2rel("index.html", ""), "index.html");
        assert_eq!(
            abs2rel("sandbox/index.html", "setup/byhand"),
            "../../sandbox/index.html"
        );
        assert_eq!(abs2rel("a/b", "a/b"), ".");
        assert_eq!(abs2rel("a/b/c.html", "a"), "b/c.html");
    }

    #[test]
    fn entities_round_trip() {
        assert_eq!(
            decode_entities("a &amp; b &#65;&#x42; &bogus; &"),
            "a & b AB &bogus; &"
        );
        assert_eq!(encode_numeric("é<"), "&#xE9;&#x3C;");
    }
}
