//! Page-by-page comparison of two built wikis (a reference built by
//! ikiwiki, and wikic's): which pages exist, their titles, the links in
//! their content, their backlinks and their tags. Links are compared as
//! resolved paths, so `./foo/` and `../x/foo/` pointing at the same page
//! count as equal.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::path::Path;

use scraper::{ElementRef, Html, Selector};

#[derive(Debug, Default, Clone, PartialEq)]
pub struct PageFacts {
    pub title: String,
    pub content_links: BTreeSet<String>,
    pub backlinks: BTreeSet<String>,
    pub tags: BTreeSet<String>,
    pub errors: usize,
}

/// Resolves `href` found on the page at `page_path` (a path such as
/// `a/b/index.html`) to a site path; external links stay as they are.
pub fn resolve(page_path: &str, href: &str) -> String {
    let href = href.trim();
    if href.contains("://") || href.starts_with("mailto:") || href.starts_with("//") {
        return href.to_string();
    }
    let (path, frag) = match href.find('#') {
        Some(i) => (&href[..i], &href[i..]),
        None => (href, ""),
    };
    if path.is_empty() {
        return format!("{}{}", page_path, frag);
    }
    let mut parts: Vec<String> = if path.starts_with('/') {
        Vec::new()
    } else {
        let mut p: Vec<String> = page_path.split('/').map(String::from).collect();
        p.pop();
        p
    };
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s.to_string()),
        }
    }
    let mut out = parts.join("/");
    if path.ends_with('/') && !out.is_empty() {
        out.push('/');
    }
    format!("{out}{frag}")
}

fn text_of(e: ElementRef) -> String {
    e.text()
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn facts(html: &str, page_path: &str) -> PageFacts {
    let doc = Html::parse_document(html);
    let sel = |s: &str| Selector::parse(s).unwrap();
    let mut f = PageFacts::default();
    if let Some(t) = doc.select(&sel("title")).next() {
        f.title = text_of(t);
    }
    let links = |scope: &str| -> BTreeSet<String> {
        doc.select(&sel(scope))
            .filter_map(|a| a.value().attr("href"))
            .map(|h| resolve(page_path, h))
            .collect()
    };
    f.content_links = links("#content a[href]");
    f.backlinks = links("#backlinks a[href]");
    f.tags = links("#pageinfo .tags a[href]");
    f.errors = doc.select(&sel("#content .error")).count();
    f
}

fn html_files(root: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "html")
                && let Ok(rel) = p.strip_prefix(root)
            {
                out.insert(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out
}

#[derive(Debug, Default)]
pub struct Category {
    pub pages_equal: usize,
    pub pages_total: usize,
    pub links_common: usize,
    pub links_reference: usize,
    pub links_ours: usize,
}

impl Category {
    fn add(&mut self, a: &BTreeSet<String>, b: &BTreeSet<String>) {
        self.pages_total += 1;
        if a == b {
            self.pages_equal += 1;
        }
        self.links_common += a.intersection(b).count();
        self.links_reference += a.len();
        self.links_ours += b.len();
    }

    pub fn page_ratio(&self) -> f64 {
        self.pages_equal as f64 / self.pages_total.max(1) as f64
    }

    /// Links both sides have, over links either side has.
    pub fn link_ratio(&self) -> f64 {
        let union = self.links_reference + self.links_ours - self.links_common;
        if union == 0 {
            1.0
        } else {
            self.links_common as f64 / union as f64
        }
    }
}

#[derive(Debug, Default)]
pub struct Report {
    pub reference_pages: usize,
    pub our_pages: usize,
    pub missing: Vec<String>,
    pub extra: Vec<String>,
    pub titles_equal: usize,
    pub content: Category,
    pub backlinks: Category,
    pub tags: Category,
    pub reference_errors: usize,
    pub our_errors: usize,
    pub diffs: BTreeMap<String, Vec<String>>,
}

impl Report {
    pub fn title_ratio(&self) -> f64 {
        self.titles_equal as f64 / self.content.pages_total.max(1) as f64
    }

    pub fn summary(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "pages: reference {}, ours {}, missing {}, extra {}",
            self.reference_pages,
            self.our_pages,
            self.missing.len(),
            self.extra.len()
        );
        let _ = writeln!(
            s,
            "titles equal: {}/{} ({:.2}%)",
            self.titles_equal,
            self.content.pages_total,
            100.0 * self.title_ratio()
        );
        for (name, c) in [
            ("content links", &self.content),
            ("backlinks", &self.backlinks),
            ("tags", &self.tags),
        ] {
            let _ = writeln!(
                s,
                "{name}: pages equal {}/{} ({:.2}%), links common {} of reference {} / ours {} ({:.2}%)",
                c.pages_equal,
                c.pages_total,
                100.0 * c.page_ratio(),
                c.links_common,
                c.links_reference,
                c.links_ours,
                100.0 * c.link_ratio()
            );
        }
        let _ = writeln!(
            s,
            "error spans in content: reference {}, ours {}",
            self.reference_errors, self.our_errors
        );
        s
    }

    pub fn details(&self, n: usize) -> String {
        let mut s = String::new();
        for m in self.missing.iter().take(n) {
            let _ = writeln!(s, "missing: {m}");
        }
        for (page, d) in self.diffs.iter().take(n) {
            let _ = writeln!(s, "== {page}");
            for line in d {
                let _ = writeln!(s, "   {line}");
            }
        }
        s
    }
}

fn diff_lines(label: &str, a: &BTreeSet<String>, b: &BTreeSet<String>, out: &mut Vec<String>) {
    for x in a.difference(b) {
        out.push(format!("{label} only in reference: {x}"));
    }
    for x in b.difference(a) {
        out.push(format!("{label} only in ours: {x}"));
    }
}

pub fn compare_sites(reference: &Path, ours: &Path) -> Report {
    let rf = html_files(reference);
    let of = html_files(ours);
    let mut r = Report {
        reference_pages: rf.len(),
        our_pages: of.len(),
        missing: rf.difference(&of).cloned().collect(),
        extra: of.difference(&rf).cloned().collect(),
        ..Default::default()
    };
    for path in rf.intersection(&of) {
        let a = std::fs::read_to_string(reference.join(path)).unwrap_or_default();
        let b = std::fs::read_to_string(ours.join(path)).unwrap_or_default();
        let fa = facts(&a, path);
        let fb = facts(&b, path);
        let mut d = Vec::new();
        if fa.title == fb.title {
            r.titles_equal += 1;
        } else {
            d.push(format!(
                "title: reference {:?}, ours {:?}",
                fa.title, fb.title
            ));
        }
        r.content.add(&fa.content_links, &fb.content_links);
        r.backlinks.add(&fa.backlinks, &fb.backlinks);
        r.tags.add(&fa.tags, &fb.tags);
        r.reference_errors += fa.errors;
        r.our_errors += fb.errors;
        diff_lines("content link", &fa.content_links, &fb.content_links, &mut d);
        diff_lines("backlink", &fa.backlinks, &fb.backlinks, &mut d);
        diff_lines("tag", &fa.tags, &fb.tags, &mut d);
        if !d.is_empty() {
            r.diffs.insert(path.clone(), d);
        }
    }
    r
}
