//! Sort specifications (`sort="age title"`, `sort="-meta(date) path"`):
//! ikiwiki's sort keys, combined left to right, `-` reversing one key.

use std::cmp::Ordering;

use crate::names::{basename, pagetitle};
use crate::wiki::{PageId, Wiki};

#[derive(Debug, Clone, PartialEq)]
enum Key {
    Age,
    Mtime,
    Title,
    TitleNatural,
    Path,
    Meta(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct SortSpec {
    keys: Vec<(bool, Key)>,
}

impl SortSpec {
    /// Parses a sort spec; unknown keys are errors naming the key.
    pub fn parse(spec: &str) -> Result<SortSpec, String> {
        let mut keys = Vec::new();
        let mut rest = spec.trim();
        while !rest.is_empty() {
            let neg = rest.starts_with('-');
            if neg {
                rest = rest[1..].trim_start();
            }
            let word_end = {
                let w = rest
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                if rest[w..].starts_with('(') {
                    rest[w..].find(')').map(|c| w + c + 1).unwrap_or(rest.len())
                } else {
                    rest.find(char::is_whitespace).unwrap_or(rest.len())
                }
            };
            let word = &rest[..word_end];
            rest = rest[word_end..].trim_start();
            let (name, param) = match word.find('(') {
                Some(i) if word.ends_with(')') => (&word[..i], Some(&word[i + 1..word.len() - 1])),
                _ => (word, None),
            };
            if !name.chars().all(|c| c.is_alphanumeric() || c == '_') || name.is_empty() {
                return Err(format!("invalid sort type {word}"));
            }
            let key = match (name, param) {
                ("age", _) => Key::Age,
                ("mtime", _) => Key::Mtime,
                ("title", _) => Key::Title,
                ("title_natural", _) => Key::TitleNatural,
                ("path", _) => Key::Path,
                ("meta", Some(p)) => Key::Meta(p.to_string()),
                ("meta", None) => return Err("sort=meta requires a parameter".into()),
                ("meta_title", _) => Key::Meta("title".into()),
                _ => return Err(format!("unknown sort type {name}")),
            };
            keys.push((neg, key));
        }
        Ok(SortSpec { keys })
    }

    /// Sorts pages; ties left by the spec fall back to page name so the
    /// result never depends on scan order.
    pub fn sort(&self, wiki: &Wiki, pages: &mut [PageId], reverse: bool) {
        pages.sort_by(|&a, &b| {
            let mut o = Ordering::Equal;
            for (neg, key) in &self.keys {
                o = compare(wiki, key, a, b);
                if *neg {
                    o = o.reverse();
                }
                if o != Ordering::Equal {
                    break;
                }
            }
            if reverse {
                o = o.reverse();
            }
            o.then_with(|| wiki.page(a).name.cmp(&wiki.page(b).name))
        });
    }
}

fn title_of(wiki: &Wiki, id: PageId) -> String {
    pagetitle(basename(&wiki.page(id).name), false)
}

fn meta_key(wiki: &Wiki, id: PageId, field: &str) -> MetaKey {
    let p = wiki.page(id);
    match field {
        "title" => MetaKey::Str(
            p.meta()
                .titlesort
                .clone()
                .or_else(|| p.meta().title.clone())
                .unwrap_or_else(|| title_of(wiki, id)),
        ),
        "author" => MetaKey::Str(
            p.meta()
                .authorsort
                .clone()
                .or_else(|| p.meta().author.clone())
                .unwrap_or_default(),
        ),
        "date" => MetaKey::Num(wiki.ctime(id)),
        "updated" => MetaKey::Num(p.meta().updated.unwrap_or(p.mtime)),
        other => MetaKey::Str(p.meta().field(other).unwrap_or("").to_string()),
    }
}

enum MetaKey {
    Str(String),
    Num(i64),
}

/// Natural order: digit runs compare as numbers.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut ai, mut bi) = (a.chars().peekable(), b.chars().peekable());
    loop {
        match (ai.peek().copied(), bi.peek().copied()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let mut na = String::new();
                while let Some(c) = ai.peek().copied().filter(|c| c.is_ascii_digit()) {
                    na.push(c);
                    ai.next();
                }
                let mut nb = String::new();
                while let Some(c) = bi.peek().copied().filter(|c| c.is_ascii_digit()) {
                    nb.push(c);
                    bi.next();
                }
                let ta = na.trim_start_matches('0');
                let tb = nb.trim_start_matches('0');
                let o = ta.len().cmp(&tb.len()).then_with(|| ta.cmp(tb));
                if o != Ordering::Equal {
                    return o;
                }
            }
            (Some(x), Some(y)) => {
                let o = x.to_lowercase().cmp(y.to_lowercase());
                if o != Ordering::Equal {
                    return o;
                }
                ai.next();
                bi.next();
            }
        }
    }
}

fn compare(wiki: &Wiki, key: &Key, a: PageId, b: PageId) -> Ordering {
    match key {
        // Newest first.
        Key::Age => wiki.ctime(b).cmp(&wiki.ctime(a)),
        Key::Mtime => wiki.page(b).mtime.cmp(&wiki.page(a).mtime),
        Key::Title => title_of(wiki, a).cmp(&title_of(wiki, b)),
        Key::TitleNatural => natural_cmp(&title_of(wiki, a), &title_of(wiki, b)),
        Key::Path => {
            pagetitle(&wiki.page(a).name, false).cmp(&pagetitle(&wiki.page(b).name, false))
        }
        Key::Meta(field) => match (meta_key(wiki, a, field), meta_key(wiki, b, field)) {
            (MetaKey::Num(x), MetaKey::Num(y)) => x.cmp(&y),
            (MetaKey::Str(x), MetaKey::Str(y)) => x.cmp(&y),
            _ => Ordering::Equal,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_specs() {
        assert!(SortSpec::parse("age title").is_ok());
        assert!(SortSpec::parse("-meta(date) path").is_ok());
        assert!(SortSpec::parse("").is_ok());
        assert_eq!(
            SortSpec::parse("bogus").unwrap_err(),
            "unknown sort type bogus"
        );
        assert!(SortSpec::parse("meta").is_err());
    }

    #[test]
    fn natural() {
        assert_eq!(natural_cmp("a2", "a10"), Ordering::Less);
        assert_eq!(natural_cmp("b", "A"), Ordering::Greater);
    }
}
