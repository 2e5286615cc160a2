//! Directive syntax: finding `[[!name params]]` in page text and splitting
//! the parameters, with the results ikiwiki's regular expressions give.
//!
//! ikiwiki matches directives with a backtracking regex (lazy `"""`
//! quotes, heredocs, a back-reference). This module reproduces that
//! regex's choice of match by exploring the same alternatives in the same
//! order, but memoises "can a directive close from here" per position, so
//! hostile input costs polynomial time, never exponential, and never
//! recursion deep enough to overflow the stack.

use rustc_hash::FxHashMap;

/// Lazy quantifiers try at most this many candidate ends; real pages need
/// one or two, and the cap keeps pathological quote runs linear.
const MAX_LAZY_CANDIDATES: usize = 64;

/// One directive found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found<'t> {
    /// Byte range of the whole match, including a leading backslash.
    pub start: usize,
    pub end: usize,
    pub escaped: bool,
    /// `"!"` when written with the prefix, `""` otherwise.
    pub prefix: &'t str,
    pub command: &'t str,
    /// The parameter text exactly as matched (may be empty).
    pub params: &'t str,
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || is_mark(c)
}

/// Combining marks count as word characters in Perl's `\w`.
fn is_mark(c: char) -> bool {
    matches!(c as u32, 0x300..=0x36F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F)
}

fn is_space(c: char) -> bool {
    c.is_whitespace()
}

fn char_at(s: &str, i: usize) -> Option<char> {
    s.get(i..).and_then(|r| r.chars().next())
}

fn skip_while(s: &str, mut i: usize, f: impl Fn(char) -> bool) -> usize {
    while let Some(c) = char_at(s, i) {
        if !f(c) {
            break;
        }
        i += c.len_utf8();
    }
    i
}

/// Candidate ends (exclusive) of `<open>.*?<close>` starting at `i`, in the
/// order a lazy match tries them.
fn lazy_ends(s: &str, i: usize, open: &str, close: &str) -> Vec<usize> {
    let mut out = Vec::new();
    if !s[i..].starts_with(open) {
        return out;
    }
    let mut from = i + open.len();
    while out.len() < MAX_LAZY_CANDIDATES {
        match s[from..].find(close) {
            Some(k) => {
                let at = from + k;
                out.push(at + close.len());
                // The next candidate may overlap this one (`""""`).
                from = at + char_at(s, at).map_or(1, |c| c.len_utf8());
            }
            None => break,
        }
    }
    out
}

/// Candidate ends of a heredoc `<<ID\n ... \nID` starting at `i`, with
/// the body range for each.
fn heredoc_ends(s: &str, i: usize) -> Vec<(usize, usize, usize)> {
    let mut out = Vec::new();
    if !s[i..].starts_with("<<") {
        return out;
    }
    let id_start = i + 2;
    let id_end = skip_while(s, id_start, |c| c.is_ascii_alphabetic());
    if id_end == id_start || char_at(s, id_end) != Some('\n') {
        return out;
    }
    let id = &s[id_start..id_end];
    let body_start = id_end + 1;
    let term = format!("\n{id}");
    let mut from = body_start;
    while out.len() < MAX_LAZY_CANDIDATES {
        match s[from..].find(&term) {
            Some(k) => {
                let at = from + k;
                out.push((at + term.len(), body_start, at));
                from = at + 1;
            }
            None => break,
        }
    }
    out
}

/// The parts of the outer directive regex after the command.
struct Outer<'s> {
    s: &'s str,
    memo: FxHashMap<usize, Option<usize>>,
}

impl<'s> Outer<'s> {
    /// Ends of one parameter (without trailing whitespace) starting at `i`,
    /// in the regex's preference order.
    fn param_ends(&self, i: usize) -> Vec<usize> {
        let s = self.s;
        let mut ends = Vec::new();
        let key_end = skip_while(s, i, |c| is_word(c) || c == '-' || c == '.');
        let value_starts: Vec<usize> = if key_end > i && char_at(s, key_end) == Some('=') {
            vec![key_end + 1, i]
        } else {
            vec![i]
        };
        for (n, &v) in value_starts.iter().enumerate() {
            let keyed = n == 0 && value_starts.len() == 2;
            if keyed || value_starts.len() == 1 {
                ends.extend(lazy_ends(s, v, "\"\"\"", "\"\"\""));
                if s[v..].starts_with('"')
                    && let Some(k) = s[v + 1..].find('"')
                {
                    ends.push(v + 1 + k + 1);
                }
                ends.extend(lazy_ends(s, v, "'''", "'''"));
                ends.extend(heredoc_ends(s, v).into_iter().map(|(e, _, _)| e));
            }
            let u = skip_while(s, v, |c| c != '"' && c != ']' && !is_space(c));
            if u > v {
                ends.push(u);
            }
        }
        ends
    }

    /// From `i` (after the command's whitespace), zero or more parameters
    /// then `]]`: the end of the whole directive, if it closes.
    fn rest(&mut self, i: usize) -> Option<usize> {
        if let Some(&r) = self.memo.get(&i) {
            return r;
        }
        // Mark in progress: a parameter always consumes input, so a cycle
        // back to `i` cannot happen, but be safe against it.
        self.memo.insert(i, None);
        let mut result = None;
        for e in self.param_ends(i) {
            let f = skip_while(self.s, e, is_space);
            if let Some(end) = self.rest_iterative(f) {
                result = Some(end);
                break;
            }
        }
        if result.is_none() && self.s[i..].starts_with("]]") {
            result = Some(i + 2);
        }
        self.memo.insert(i, result);
        result
    }

    /// `rest`, guarded against deep recursion by resolving long chains of
    /// parameters from the right first.
    fn rest_iterative(&mut self, i: usize) -> Option<usize> {
        if let Some(&r) = self.memo.get(&i) {
            return r;
        }
        // Walk forward along first-choice parameter ends, then solve the
        // chain backwards so each recursive call hits the memo.
        let mut chain = vec![i];
        let mut cur = i;
        while chain.len() < 100_000 {
            let ends = self.param_ends(cur);
            let Some(&e) = ends.first() else { break };
            let f = skip_while(self.s, e, is_space);
            if f <= cur || self.memo.contains_key(&f) {
                break;
            }
            chain.push(f);
            cur = f;
        }
        for &p in chain.iter().rev().skip(1) {
            if !self.memo.contains_key(&p) {
                self.rest(p);
            }
        }
        self.rest(i)
    }
}

/// A reusable directive finder for one text.
pub struct Finder<'s> {
    outer: Outer<'s>,
    prefix_directives: bool,
}

impl<'s> Finder<'s> {
    pub fn new(s: &'s str, prefix_directives: bool) -> Self {
        Finder {
            outer: Outer {
                s,
                memo: FxHashMap::default(),
            },
            prefix_directives,
        }
    }

    /// Tries to match a directive whose `[[` is at `open`.
    fn match_at(&mut self, open: usize, escaped: bool) -> Option<Found<'s>> {
        let s = self.outer.s;
        let start = if escaped { open - 1 } else { open };
        let mut i = open + 2;
        let prefix = if s[i..].starts_with('!') {
            i += 1;
            "!"
        } else if self.prefix_directives {
            return None;
        } else {
            ""
        };
        let cmd_start = i;
        let cmd_end = skip_while(s, i, |c| is_word(c) || c == '-');
        if cmd_end == cmd_start {
            return None;
        }
        let command = &s[cmd_start..cmd_end];
        if self.prefix_directives {
            let ws_end = skip_while(s, cmd_end, is_space);
            if ws_end > cmd_end
                && let Some(end) = self.outer.rest_iterative(ws_end)
            {
                return Some(Found {
                    start,
                    end,
                    escaped,
                    prefix,
                    command,
                    params: &s[cmd_end..end - 2],
                });
            }
            if s[cmd_end..].starts_with("]]") {
                return Some(Found {
                    start,
                    end: cmd_end + 2,
                    escaped,
                    prefix,
                    command,
                    params: "",
                });
            }
            None
        } else {
            let ws_end = skip_while(s, cmd_end, is_space);
            if ws_end == cmd_end {
                return None;
            }
            let end = self.outer.rest_iterative(ws_end)?;
            Some(Found {
                start,
                end,
                escaped,
                prefix,
                command,
                params: &s[ws_end..end - 2],
            })
        }
    }

    /// The first directive starting at or after byte `from`.
    pub fn next(&mut self, from: usize) -> Option<Found<'s>> {
        let s = self.outer.s;
        let bytes = s.as_bytes();
        let mut pos = from;
        while let Some(k) = memchr::memmem::find(&bytes[pos..], b"[[") {
            let open = pos + k;
            let escaped = open > from && bytes[open - 1] == b'\\';
            if escaped && let Some(f) = self.match_at(open, true) {
                return Some(f);
            }
            // An escaped directive that failed to match cannot match
            // unescaped either (the text after `[[` is the same), but
            // trying keeps exactly the regex's order.
            if let Some(f) = self.match_at(open, false) {
                return Some(f);
            }
            pos = open + 1;
        }
        None
    }
}

/// Iterates over all directives in `s`, non-overlapping, left to right.
pub fn find_all(s: &str, prefix_directives: bool) -> Vec<Found<'_>> {
    let mut f = Finder::new(s, prefix_directives);
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(d) = f.next(pos) {
        pos = d.end;
        out.push(d);
    }
    out
}

/// Splits a directive's parameter text into `(key, value)` pairs in order;
/// a bare value becomes `(value, "")`.
pub fn parse_params(p: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < p.len() {
        match param_at(p, i) {
            Some((key, value, end)) => {
                match key {
                    Some(k) => out.push((k.to_string(), value)),
                    None => out.push((value, String::new())),
                }
                i = if end > i { end } else { i + 1 };
            }
            None => {
                i += char_at(p, i).map_or(1, |c| c.len_utf8());
            }
        }
    }
    out
}

/// After a value ending at `e`: `(?:\s+|$)` — the consumed end if it holds.
fn delimiter(p: &str, e: usize) -> Option<usize> {
    if e == p.len() {
        return Some(e);
    }
    let w = skip_while(p, e, is_space);
    (w > e).then_some(w)
}

fn param_at(p: &str, i: usize) -> Option<(Option<&str>, String, usize)> {
    let key_end = skip_while(p, i, |c| is_word(c) || c == '-' || c == '.');
    let keyed = key_end > i && char_at(p, key_end) == Some('=');
    let attempts: &[(bool, usize)] = if keyed {
        &[(true, key_end + 1), (false, i)]
    } else {
        &[(false, i)]
    };
    for &(has_key, v) in attempts {
        let key = has_key.then(|| &p[i..key_end]);
        // """triple"""
        for e in lazy_ends(p, v, "\"\"\"", "\"\"\"") {
            if let Some(end) = delimiter(p, e) {
                let inner = &p[v + 3..e - 3];
                return Some((key, clean_triple(inner), end));
            }
        }
        // "double"
        if p[v..].starts_with('"')
            && let Some(k) = p[v + 1..].find('"')
            && let Some(end) = delimiter(p, v + k + 2)
        {
            return Some((key, p[v + 1..v + k + 1].to_string(), end));
        }
        // '''triple single'''
        for e in lazy_ends(p, v, "'''", "'''") {
            if let Some(end) = delimiter(p, e) {
                return Some((key, p[v + 3..e - 3].to_string(), end));
            }
        }
        // heredoc
        for (e, b0, b1) in heredoc_ends(p, v) {
            if let Some(end) = delimiter(p, e) {
                return Some((key, p[b0..b1].to_string(), end));
            }
        }
        // \S+
        let u = skip_while(p, v, |c| !is_space(c));
        if u > v
            && let Some(end) = delimiter(p, u)
        {
            return Some((key, p[v..u].to_string(), end));
        }
    }
    None
}

fn clean_triple(v: &str) -> String {
    let v = v.replace("\r\n", "\n");
    v.trim_start_matches('\n')
        .trim_end_matches('\n')
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_simple_directives() {
        let f = find_all("a [[!foo bar=1]] b [[!baz]]", true);
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].command, "foo");
        assert_eq!(f[0].params, " bar=1");
        assert_eq!(f[1].command, "baz");
        assert_eq!(f[1].params, "");
    }

    #[test]
    fn triple_quotes_may_contain_brackets() {
        let f = find_all("[[!if test=\"x\" then=\"\"\"[[link]] ]]\"\"\"]] tail", true);
        assert_eq!(f.len(), 1);
        assert!(f[0].params.ends_with("\"\"\""));
        assert_eq!(
            parse_params(f[0].params),
            vec![
                ("test".to_string(), "x".to_string()),
                ("then".to_string(), "[[link]] ]]".to_string())
            ]
        );
    }

    #[test]
    fn unclosed_directives_are_text() {
        assert!(find_all("[[!foo a=\"b", true).is_empty());
        assert!(find_all("[[!foo \"\"\"", true).is_empty());
    }

    #[test]
    fn escaped_directive() {
        let f = find_all("\\[[!foo x]]", true);
        assert_eq!(f.len(), 1);
        assert!(f[0].escaped);
        assert_eq!(f[0].start, 0);
    }

    #[test]
    fn pathological_quotes_are_fast() {
        let s = format!("[[!x a={}", "\"\"\" ".repeat(20000));
        let t = std::time::Instant::now();
        let _ = find_all(&s, true);
        assert!(t.elapsed().as_secs() < 5);
    }
}
