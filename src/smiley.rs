//! The smiley plugin: text smileys such as `:)` in a page's HTML become
//! the images the `smileys` page lists (`* \\:) [[smileys/smile.png]]`).
//! A backslash before a smiley keeps it as text; smileys in `<pre>` and
//! `<code>` are left alone.

use std::sync::LazyLock;

use regex::Regex;
use rustc_hash::FxHashMap;

use crate::wiki::{LinkOpts, Wiki};

/// The smileys of a wiki, from its `smileys` page.
#[derive(Debug, Default)]
pub struct Smileys {
    /// Smiley text (also in its HTML-escaped form) to the image linked.
    images: FxHashMap<String, String>,
    /// The smileys, longest first where one is a prefix of another.
    pattern: Option<aho_corasick::AhoCorasick>,
}

static LIST_ITEM: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?m)^\s*\*\s+\\\\(\S+)\s+\[\[([^\]]+)\]\]").unwrap());

impl Smileys {
    /// Reads the list from the smileys page's source.
    pub fn parse(list: &str) -> Smileys {
        let mut images = FxHashMap::default();
        for c in LIST_ITEM.captures_iter(list) {
            let (smiley, file) = (c[1].to_string(), c[2].to_string());
            let escaped = smiley.replace('<', "&lt;").replace('>', "&gt;");
            images.insert(smiley, file.clone());
            images.insert(escaped, file);
        }
        if images.is_empty() {
            return Smileys::default();
        }
        let mut keys: Vec<&String> = images.keys().collect();
        // Reverse order puts a smiley before any prefix of it. (A literal
        // automaton, not a regex alternation: building that took a
        // millisecond, on every build; and an NFA, not a DFA, which takes
        // as long to build as a refresh spends searching.)
        keys.sort_unstable_by(|a, b| b.cmp(a));
        let pattern = aho_corasick::AhoCorasick::builder()
            .match_kind(aho_corasick::MatchKind::LeftmostFirst)
            .kind(Some(aho_corasick::AhoCorasickKind::ContiguousNFA))
            .build(keys)
            .ok();
        Smileys { images, pattern }
    }

    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// Replaces the smileys in `html` (the content of `page` shown on
    /// `destpage`).
    pub fn apply(&self, wiki: &Wiki, page: &str, destpage: &str, html: &str) -> String {
        let Some(re) = &self.pattern else {
            return html.to_string();
        };
        let mut out = String::with_capacity(html.len());
        let mut copied = 0;
        let mut at = 0;
        while let Some(m) = re.find(aho_corasick::Input::new(html).span(at..html.len())) {
            // A backslash just before a smiley escapes it.
            let start = if m.start() > at && html.as_bytes()[m.start() - 1] == b'\\' {
                m.start() - 1
            } else {
                m.start()
            };
            let end = m.end();
            let before_ok = html[..start]
                .chars()
                .next_back()
                .is_none_or(|c| c.is_whitespace() || c == '>');
            let after_ok = html[end..]
                .chars()
                .next()
                .is_none_or(|c| c.is_whitespace() || c == '<');
            if !(before_ok && after_ok) || inside_pre_or_code(&html[end..]) {
                // Try again one character on: a shorter smiley may fit.
                at = start + html[start..].chars().next().map_or(1, char::len_utf8);
                continue;
            }
            out.push_str(&html[copied..start]);
            let text = &html[start..end];
            if let Some(plain) = text.strip_prefix('\\') {
                out.push_str(plain);
            } else if let Some(image) = self.images.get(text) {
                out.push_str(&wiki.htmllink(
                    page,
                    destpage,
                    image,
                    &LinkOpts {
                        linktext: Some(text),
                        ..Default::default()
                    },
                ));
            } else {
                out.push_str(text);
            }
            copied = end;
            at = end;
        }
        out.push_str(&html[copied..]);
        out
    }
}

static PRE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?is)<(/)?\s*pre\s*>").unwrap());
static CODE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?is)<(/)?\s*code\s*>").unwrap());

/// Whether the next `<pre>`/`<code>` tag after this point closes one.
fn inside_pre_or_code(rest: &str) -> bool {
    [&*PRE, &*CODE]
        .iter()
        .any(|re| re.captures(rest).is_some_and(|c| c.get(1).is_some()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_list_longest_first() {
        let s = Smileys::parse(
            "Intro\n\n* \\\\:)\t[[smileys/smile.png]]\n* \\\\:))\t[[smileys/smile3.png]]\n* \\\\>:>\t[[smileys/devil.png]]\n",
        );
        assert_eq!(s.images.get(":)").unwrap(), "smileys/smile.png");
        assert_eq!(s.images.get("&gt;:&gt;").unwrap(), "smileys/devil.png");
        let re = s.pattern.unwrap();
        let m = re.find("a :)) b").unwrap();
        assert_eq!(&"a :)) b"[m.range()], ":))");
    }

    #[test]
    fn code_is_detected() {
        assert!(inside_pre_or_code(" x</code> y"));
        assert!(!inside_pre_or_code(" x <code>y</code>"));
        assert!(!inside_pre_or_code(" x"));
    }
}
