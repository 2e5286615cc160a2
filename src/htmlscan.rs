//! A forgiving HTML tokenizer for the few places wikic rewrites finished
//! HTML (the table of contents, absolute URLs in feeds, link extraction):
//! it never fails, and concatenating the raw text of every token gives
//! back the input exactly.

use std::ops::Range;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attr {
    pub name: String,
    /// Value as written (entities not decoded), if any.
    pub value: Option<String>,
    /// Byte range of the value inside the tag's raw text, without quotes.
    pub value_range: Option<Range<usize>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token<'a> {
    Text(&'a str),
    Start {
        name: String,
        raw: &'a str,
        attrs: Vec<Attr>,
    },
    End {
        name: String,
        raw: &'a str,
    },
    /// Comments, declarations, processing instructions.
    Other(&'a str),
}

impl<'a> Token<'a> {
    pub fn raw(&self) -> &'a str {
        match self {
            Token::Text(s) | Token::Other(s) => s,
            Token::Start { raw, .. } | Token::End { raw, .. } => raw,
        }
    }
}

fn parse_attrs(raw: &str, from: usize) -> Vec<Attr> {
    let b = raw.as_bytes();
    let mut i = from;
    let mut out = Vec::new();
    let end = raw.len().saturating_sub(1); // before '>'
    while i < end {
        while i < end && (b[i].is_ascii_whitespace() || b[i] == b'/') {
            i += 1;
        }
        if i >= end {
            break;
        }
        let ns = i;
        while i < end && !b[i].is_ascii_whitespace() && b[i] != b'=' && b[i] != b'>' && b[i] != b'/'
        {
            i += 1;
        }
        if i == ns {
            i += 1;
            continue;
        }
        let name = raw[ns..i].to_ascii_lowercase();
        let mut j = i;
        while j < end && b[j].is_ascii_whitespace() {
            j += 1;
        }
        if j < end && b[j] == b'=' {
            j += 1;
            while j < end && b[j].is_ascii_whitespace() {
                j += 1;
            }
            if j < end && (b[j] == b'"' || b[j] == b'\'') {
                let q = b[j];
                let vs = j + 1;
                let mut k = vs;
                while k < end && b[k] != q {
                    k += 1;
                }
                out.push(Attr {
                    name,
                    value: Some(raw[vs..k].to_string()),
                    value_range: Some(vs..k),
                });
                i = (k + 1).min(end);
            } else {
                let vs = j;
                let mut k = vs;
                while k < end && !b[k].is_ascii_whitespace() {
                    k += 1;
                }
                out.push(Attr {
                    name,
                    value: Some(raw[vs..k].to_string()),
                    value_range: Some(vs..k),
                });
                i = k;
            }
        } else {
            out.push(Attr {
                name,
                value: None,
                value_range: None,
            });
        }
    }
    out
}

/// Splits HTML into tokens.
pub fn tokenize(html: &str) -> Vec<Token<'_>> {
    let b = html.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut text_start = 0;
    let mut raw_until: Option<String> = None;
    while i < b.len() {
        if let Some(tag) = &raw_until {
            // Inside <script> or <style>: text up to the closing tag.
            let close = format!("</{tag}");
            let rest = &html[i..];
            let pos = rest
                .to_ascii_lowercase()
                .find(&close)
                .map(|p| i + p)
                .unwrap_or(b.len());
            i = pos;
            raw_until = None;
            continue;
        }
        if b[i] != b'<' {
            i += 1;
            continue;
        }
        let next = b.get(i + 1).copied().unwrap_or(0);
        let tok_end;
        let token;
        if html[i..].starts_with("<!--") {
            tok_end = html[i + 4..]
                .find("-->")
                .map(|p| i + 4 + p + 3)
                .unwrap_or(b.len());
            token = Token::Other(&html[i..tok_end]);
        } else if next == b'!' || next == b'?' {
            tok_end = html[i..].find('>').map(|p| i + p + 1).unwrap_or(b.len());
            token = Token::Other(&html[i..tok_end]);
        } else if next == b'/' && b.get(i + 2).is_some_and(|c| c.is_ascii_alphabetic()) {
            let Some(p) = html[i..].find('>') else {
                i += 1;
                continue;
            };
            tok_end = i + p + 1;
            let name_end = html[i + 2..tok_end]
                .find(|c: char| !c.is_ascii_alphanumeric())
                .map(|e| i + 2 + e)
                .unwrap_or(tok_end);
            token = Token::End {
                name: html[i + 2..name_end].to_ascii_lowercase(),
                raw: &html[i..tok_end],
            };
        } else if next.is_ascii_alphabetic() {
            let Some(p) = find_tag_end(&html[i..]) else {
                i += 1;
                continue;
            };
            tok_end = i + p + 1;
            let raw = &html[i..tok_end];
            let name_end = raw[1..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == ':'))
                .map(|e| 1 + e)
                .unwrap_or(raw.len());
            let name = raw[1..name_end].to_ascii_lowercase();
            if name == "script" || name == "style" {
                raw_until = Some(name.clone());
            }
            token = Token::Start {
                attrs: parse_attrs(raw, name_end),
                name,
                raw,
            };
        } else {
            i += 1;
            continue;
        }
        if text_start < i {
            out.push(Token::Text(&html[text_start..i]));
        }
        out.push(token);
        i = tok_end;
        text_start = i;
    }
    if text_start < b.len() {
        out.push(Token::Text(&html[text_start..]));
    }
    out
}

/// End of a start tag, skipping `>` inside quoted attribute values.
fn find_tag_end(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut quote: Option<u8> = None;
    for (i, &c) in b.iter().enumerate() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == b'"' || c == b'\'' => {
                // Only a quote right after `=` opens a value.
                let prev = b[..i].iter().rev().find(|x| !x.is_ascii_whitespace());
                if prev == Some(&b'=') {
                    quote = Some(c);
                }
            }
            None if c == b'>' => return Some(i),
            None => {}
        }
    }
    None
}

/// Every `href` in the HTML, in order (for tests and comparisons).
pub fn hrefs(html: &str) -> Vec<String> {
    tokenize(html)
        .into_iter()
        .filter_map(|t| match t {
            Token::Start { name, attrs, .. } if name == "a" => attrs
                .into_iter()
                .find(|a| a.name == "href")
                .and_then(|a| a.value),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_finds_attributes() {
        let html =
            "a<p class=\"x\" id=y>t&amp;<a href='u>v'>l</a><!-- c --></p><script>if(a<b)</script>z";
        let toks = tokenize(html);
        let joined: String = toks.iter().map(|t| t.raw()).collect();
        assert_eq!(joined, html);
        assert_eq!(hrefs(html), vec!["u>v"]);
        match &toks[1] {
            Token::Start { name, attrs, .. } => {
                assert_eq!(name, "p");
                assert_eq!(attrs[1].value.as_deref(), Some("y"));
            }
            t => panic!("{t:?}"),
        }
    }
}
