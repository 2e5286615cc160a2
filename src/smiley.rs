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

impl Smileys {
    /// Reads the list from the smileys page's source.
    pub fn parse(list: &str) -> Smileys {
        let mut images = FxHashMap::default();
        for (smiley, file) in list_items(list) {
            let (smiley, file) = (smiley.to_string(), file.to_string());
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

/// The `* \\\\SMILEY [[FILE]]` items of the list, as (smiley, file). A
/// regex for them took a millisecond to build, on every refresh (its
/// Unicode classes): the items are matched by hand, with the same
/// rules — an item starts a line after any whitespace (blank lines
/// included), and whitespace between its parts may span lines.
fn list_items(text: &str) -> Vec<(&str, &str)> {
    fn skip_ws(s: &str, at: usize) -> usize {
        s[at..]
            .char_indices()
            .find(|(_, c)| !c.is_whitespace())
            .map_or(s.len(), |(i, _)| at + i)
    }
    let item = |start: usize| -> Option<(&str, &str, usize)> {
        let at = skip_ws(text, start);
        let at = at + text[at..].strip_prefix('*').map(|_| 1)?;
        let after = skip_ws(text, at);
        (after > at).then_some(())?;
        let at = after + text[after..].strip_prefix("\\\\").map(|_| 2)?;
        let end = text[at..]
            .find(char::is_whitespace)
            .map_or(text.len(), |i| at + i);
        (end > at).then_some(())?;
        let smiley = &text[at..end];
        let link = skip_ws(text, end);
        (link > end).then_some(())?;
        let target = link + text[link..].strip_prefix("[[").map(|_| 2)?;
        let close = target + text[target..].find(']')?;
        (close > target && text[close..].starts_with("]]")).then_some(())?;
        Some((smiley, &text[target..close], close + 2))
    };
    let mut out = Vec::new();
    let mut start = Some(0);
    while let Some(s) = start {
        let resume = match item(s) {
            Some((smiley, file, end)) => {
                out.push((smiley, file));
                end
            }
            None => s + 1,
        };
        // The next line start at or after `resume` (bytes: `resume` may
        // be inside a character, never inside a line end).
        let bytes = text.as_bytes();
        start = if resume <= bytes.len() && resume > 0 && bytes[resume - 1] == b'\n' {
            Some(resume)
        } else {
            bytes
                .get(resume..)
                .and_then(|r| memchr::memchr(b'\n', r))
                .map(|i| resume + i + 1)
        };
    }
    out
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
    fn list_items_match_as_the_list_pattern_does() {
        // The pattern the items follow, as a regex: the hand matcher must
        // find exactly what it finds.
        let re = Regex::new(r"(?m)^\s*\*\s+\\\\(\S+)\s+\[\[([^\]]+)\]\]").unwrap();
        let by_regex = |t: &str| -> Vec<(String, String)> {
            re.captures_iter(t)
                .map(|c| (c[1].to_string(), c[2].to_string()))
                .collect()
        };
        let by_hand = |t: &str| -> Vec<(String, String)> {
            list_items(t)
                .into_iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        let fixed = [
            "* \\\\:) [[smileys/smile.png]]\n",
            "\n\n  * \\\\:-( \t[[sad.png]] trailing\n* \\\\B) [[x]]",
            "*\n\\\\:)\n[[a\nb]]",
            "x * \\\\:) [[no.png]]\n",
            "* \\\\:) [[]] [[y]]\n* \\\\:) [[a]b]]\n",
            "\u{a0}*\u{2003}\\\\é\u{a0}[[ü]]",
        ];
        for t in fixed {
            assert_eq!(by_hand(t), by_regex(t), "{t:?}");
        }
        // Every sequence of up to five pieces of the pattern.
        let alphabet = [
            "* ", "*", "\\\\", ":)", " ", "\n", "[[a]]", "[[", "]]", "]", "\u{a0}é",
        ];
        let mut t = String::new();
        fn all(t: &mut String, left: usize, alphabet: &[&str], check: &dyn Fn(&str)) {
            check(t);
            if left == 0 {
                return;
            }
            for piece in alphabet {
                t.push_str(piece);
                all(t, left - 1, alphabet, check);
                t.truncate(t.len() - piece.len());
            }
        }
        all(&mut t, 5, &alphabet, &|t| {
            assert_eq!(by_hand(t), by_regex(t), "{t:?}")
        });
    }

    #[test]
    fn code_is_detected() {
        assert!(inside_pre_or_code(" x</code> y"));
        assert!(!inside_pre_or_code(" x <code>y</code>"));
        assert!(!inside_pre_or_code(" x"));
    }
}
