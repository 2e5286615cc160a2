//! Wikilinks: `[[page]]`, `[[text|page]]`, `[[page#anchor]]`, and their
//! escaped forms, matched as ikiwiki's link plugin matches them.

use crate::names::{linkpage, pagetitle};
use crate::wiki::{LinkOpts, Wiki};

/// One wikilink found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkMatch<'t> {
    pub start: usize,
    pub end: usize,
    pub escaped: bool,
    pub text: Option<&'t str>,
    pub target: &'t str,
    pub anchor: Option<&'t str>,
}

fn run(s: &str, i: usize, stop: impl Fn(char) -> bool) -> usize {
    let mut j = i;
    for c in s[i..].chars() {
        if stop(c) {
            break;
        }
        j += c.len_utf8();
    }
    j
}

/// Matches the part after `[[` at `i`: `(?:text|)?target(?:#anchor)?]]`.
fn match_body(
    s: &str,
    i: usize,
    prefix_directives: bool,
) -> Option<(Option<&str>, &str, Option<&str>, usize)> {
    let text_stop =
        |c: char| c == ']' || c == '|' || (!prefix_directives && (c == '\n' || c.is_whitespace()));
    let target_stop = |c: char| {
        if prefix_directives {
            c == '\n' || c == '\r' || c == ']' || c == '#'
        } else {
            c.is_whitespace() || c == ']' || c == '#'
        }
    };
    let finish = |text: Option<&'_ str>, t0: usize| -> Option<usize> {
        let _ = text;
        let t1 = run(s, t0, target_stop);
        if t1 == t0 {
            return None;
        }
        Some(t1)
    };
    // With link text first, as the regex's optional group prefers.
    let attempt = |text: Option<&'_ str>, t0: usize| {
        let t1 = finish(text, t0)?;
        let rest = &s[t1..];
        if let Some(after_hash) = rest.strip_prefix('#') {
            let a0 = t1 + 1;
            let a1 = run(s, a0, |c| c.is_whitespace() || c == ']');
            if a1 > a0 && s[a1..].starts_with("]]") {
                let _ = after_hash;
                return Some((&s[t0..t1], Some(&s[a0..a1]), a1 + 2));
            }
            None
        } else if rest.starts_with("]]") {
            Some((&s[t0..t1], None, t1 + 2))
        } else {
            None
        }
    };
    let x = run(s, i, text_stop);
    if x > i && s[x..].starts_with('|') {
        if let Some((target, anchor, end)) = attempt(Some(&s[i..x]), x + 1) {
            return Some((Some(&s[i..x]), target, anchor, end));
        }
    }
    let (target, anchor, end) = attempt(None, i)?;
    Some((None, target, anchor, end))
}

/// All wikilinks in `s`, left to right, non-overlapping; escaped links are
/// included (with `escaped` set) so they can be unescaped.
pub fn find_links(s: &str, prefix_directives: bool) -> Vec<LinkMatch<'_>> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(k) = memchr::memmem::find(&bytes[pos..], b"[[") {
        let open = pos + k;
        let body = open + 2;
        if prefix_directives && (body >= s.len() || bytes[body] == b'!') {
            pos = open + 1;
            continue;
        }
        match match_body(s, body, prefix_directives) {
            Some((text, target, anchor, end)) => {
                let escaped = open > pos && bytes[open - 1] == b'\\';
                out.push(LinkMatch {
                    start: if escaped { open - 1 } else { open },
                    end,
                    escaped,
                    text,
                    target,
                    anchor,
                });
                pos = end;
            }
            None => pos = open + 1,
        }
    }
    out
}

fn is_external(url: &str, anchor: Option<&str>) -> bool {
    let full_has = |f: &dyn Fn(&str) -> bool| match anchor {
        Some(a) => f(&format!("{url}#{a}")),
        None => f(url),
    };
    full_has(&|u: &str| {
        let lower = u.to_ascii_lowercase();
        if lower.starts_with("mailto:") {
            return true;
        }
        if let Some(i) = u.find("://")
            && i > 0
            && !u[..i].contains(':')
        {
            return true;
        }
        // `^.+@.+\..+$`
        if let Some(at) = u.find('@')
            && at > 0
        {
            let after = &u[at + 1..];
            let line_ok = !u.contains('\n');
            return line_ok
                && after
                    .char_indices()
                    .any(|(j, c)| c == '.' && j > 0 && j + 1 < after.len());
        }
        false
    })
}

fn external_link(url: &str, anchor: Option<&str>, text: Option<&str>) -> String {
    let mut url = url.to_string();
    if let Some(a) = anchor {
        url.push('#');
        url.push_str(a);
    }
    let title = match text {
        Some(t) if !t.is_empty() && t != "0" => t.to_string(),
        _ => {
            if let Some(rest) = url.strip_prefix("mailto:") {
                rest.split('?').next().unwrap_or(rest).to_string()
            } else {
                url.clone()
            }
        }
    };
    let lower = url.to_ascii_lowercase();
    let is_url = lower.starts_with("mailto:")
        || url
            .find("://")
            .is_some_and(|i| i > 0 && !url[..i].contains(':'));
    if !is_url {
        url = format!("mailto:{url}");
    }
    format!("<a href=\"{url}\">{title}</a>")
}

/// Page names linked from raw page text (the scan pass): unescaped,
/// non-external links, through `linkpage`.
pub fn scan_links(s: &str, prefix_directives: bool) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for m in find_links(s, prefix_directives) {
        if m.escaped || is_external(m.target, m.anchor) {
            continue;
        }
        let l = linkpage(m.target);
        if !out.contains(&l) {
            out.push(l);
        }
    }
    out
}

/// Replaces wikilinks in `s` with HTML links, as written on `page` and
/// shown on `destpage`.
pub fn linkify(wiki: &Wiki, page: &str, destpage: &str, s: &str) -> String {
    let links = find_links(s, wiki.config.prefix_directives);
    if links.is_empty() {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + links.len() * 32);
    let mut last = 0;
    for m in links {
        out.push_str(&s[last..m.start]);
        last = m.end;
        if m.escaped {
            out.push_str("[[");
            if let Some(t) = m.text {
                out.push_str(t);
                out.push('|');
            }
            out.push_str(m.target);
            if let Some(a) = m.anchor {
                out.push('#');
                out.push_str(a);
            }
            out.push_str("]]");
            continue;
        }
        if is_external(m.target, m.anchor) {
            out.push_str(&external_link(m.target, m.anchor, m.text));
            continue;
        }
        let text = m.text.map(|t| pagetitle(t, false));
        let opts = LinkOpts {
            linktext: text.as_deref(),
            anchor: m.anchor,
            ..Default::default()
        };
        out.push_str(&wiki.htmllink(page, destpage, &linkpage(m.target), &opts));
    }
    out.push_str(&s[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_links_like_the_regex() {
        let l = find_links("[[a|b|c]] [[x#y]] \\[[esc]] [[!dir]] [[a|]]", true);
        assert_eq!(l.len(), 4);
        assert_eq!((l[0].text, l[0].target), (Some("a"), "b|c"));
        assert_eq!((l[1].target, l[1].anchor), ("x", Some("y")));
        assert!(l[2].escaped);
        assert_eq!((l[3].text, l[3].target), (None, "a|"));
    }

    #[test]
    fn scan_skips_external_and_escaped() {
        assert_eq!(
            scan_links(
                "[[foo]] [[http://x.org/]] \\[[bar]] [[me@example.com]] [[Foo Bar]]",
                true
            ),
            vec!["foo", "Foo_Bar"]
        );
    }
}
