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

/// Positions of the characters that end the parts of a wikilink, so each
/// "scan to the next stop" is a binary search instead of a walk: a page of
/// `[[[[[[...` would otherwise cost quadratic time.
struct Stops<'s> {
    s: &'s str,
    prefix_directives: bool,
    /// End of link text: `]` or `|` (plus whitespace without prefixes).
    text: Vec<usize>,
    /// End of the target: newline, `]`, `#` (whitespace without prefixes).
    target: Vec<usize>,
    /// End of an anchor: whitespace or `]`; built on first use, as only
    /// links with `#` need it.
    anchor: std::cell::OnceCell<Vec<usize>>,
}

impl<'s> Stops<'s> {
    fn new(s: &'s str, prefix_directives: bool) -> Stops<'s> {
        let mut text = Vec::new();
        let mut target = Vec::new();
        if prefix_directives {
            // All stop characters are ASCII, so a byte scan is exact.
            for (i, &b) in s.as_bytes().iter().enumerate() {
                match b {
                    b']' => {
                        text.push(i);
                        target.push(i);
                    }
                    b'|' => text.push(i),
                    b'#' | b'\n' | b'\r' => target.push(i),
                    _ => {}
                }
            }
        } else {
            for (i, c) in s.char_indices() {
                let ws = c.is_whitespace();
                if c == ']' || c == '|' || ws {
                    text.push(i);
                }
                if c == ']' || c == '#' || ws {
                    target.push(i);
                }
            }
        }
        Stops {
            s,
            prefix_directives,
            text,
            target,
            anchor: std::cell::OnceCell::new(),
        }
    }

    fn anchor(&self) -> &[usize] {
        self.anchor.get_or_init(|| {
            let _ = self.prefix_directives;
            self.s
                .char_indices()
                .filter(|(_, c)| *c == ']' || c.is_whitespace())
                .map(|(i, _)| i)
                .collect()
        })
    }

    fn next(v: &[usize], from: usize, len: usize) -> usize {
        let k = v.partition_point(|&p| p < from);
        v.get(k).copied().unwrap_or(len)
    }
}

/// Matches the part after `[[` at `i`: `(?:text|)?target(?:#anchor)?]]`.
fn match_body<'s>(
    s: &'s str,
    i: usize,
    stops: &Stops,
) -> Option<(Option<&'s str>, &'s str, Option<&'s str>, usize)> {
    let len = s.len();
    let attempt = |t0: usize| -> Option<(&'s str, Option<&'s str>, usize)> {
        let t1 = Stops::next(&stops.target, t0, len);
        if t1 == t0 {
            return None;
        }
        let rest = &s[t1..];
        if rest.starts_with('#') {
            let a0 = t1 + 1;
            let a1 = Stops::next(stops.anchor(), a0, len);
            if a1 > a0 && s[a1..].starts_with("]]") {
                return Some((&s[t0..t1], Some(&s[a0..a1]), a1 + 2));
            }
            None
        } else if rest.starts_with("]]") {
            Some((&s[t0..t1], None, t1 + 2))
        } else {
            None
        }
    };
    // With link text first, as the regex's optional group prefers.
    let x = Stops::next(&stops.text, i, len);
    if x > i
        && s[x..].starts_with('|')
        && let Some((target, anchor, end)) = attempt(x + 1)
    {
        return Some((Some(&s[i..x]), target, anchor, end));
    }
    let (target, anchor, end) = attempt(i)?;
    Some((None, target, anchor, end))
}

/// All wikilinks in `s`, left to right, non-overlapping; escaped links are
/// included (with `escaped` set) so they can be unescaped.
pub fn find_links(s: &str, prefix_directives: bool) -> Vec<LinkMatch<'_>> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    if memchr::memmem::find(bytes, b"[[").is_none() {
        return out;
    }
    let stops = Stops::new(s, prefix_directives);
    let mut pos = 0;
    while let Some(k) = memchr::memmem::find(&bytes[pos..], b"[[") {
        let open = pos + k;
        let body = open + 2;
        if prefix_directives && (body >= s.len() || bytes[body] == b'!') {
            pos = open + 1;
            continue;
        }
        match match_body(s, body, &stops) {
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
    let page_id = wiki.id(page);
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
        let target = linkpage(m.target);
        // The scan pass resolved this page's own links already.
        let known = page_id.and_then(|id| {
            let p = wiki.page(id);
            p.links()
                .iter()
                .position(|l| *l == target)
                .map(|i| wiki.resolved_link(id, i))
        });
        out.push_str(&match known {
            Some(best) => wiki.htmllink_resolved(page, destpage, &target, best, &opts),
            None => wiki.htmllink(page, destpage, &target, &opts),
        });
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
