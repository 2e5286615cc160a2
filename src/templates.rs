//! Page templates: wikic's own handlebars templates, built into the binary,
//! overridden file by file from `templatedir` — as `NAME.hbs`, or as an
//! ikiwiki-style `NAME.tmpl` rendered by the HTML::Template-compatible
//! engine so existing custom templates keep working.

use std::path::Path;

use anyhow::{Context as _, Result};
use handlebars::Handlebars;
use rustc_hash::FxHashMap;
use serde_json::Value;

use crate::htmltmpl::HtmlTemplate;

/// Built-in templates, by name without extension.
pub const BUILTIN: &[(&str, &str)] = &[
    ("page", include_str!("../templates/page.hbs")),
    ("inlinepage", include_str!("../templates/inlinepage.hbs")),
    ("archivepage", include_str!("../templates/archivepage.hbs")),
    ("titlepage", include_str!("../templates/titlepage.hbs")),
    ("microblog", include_str!("../templates/microblog.hbs")),
    ("feedlink", include_str!("../templates/feedlink.hbs")),
    ("blogpost", include_str!("../templates/blogpost.hbs")),
    ("rsspage", include_str!("../templates/rsspage.hbs")),
    ("rssitem", include_str!("../templates/rssitem.hbs")),
    ("atompage", include_str!("../templates/atompage.hbs")),
    ("atomitem", include_str!("../templates/atomitem.hbs")),
    ("autotag", include_str!("../templates/autotag.hbs")),
    (
        "recentchanges",
        include_str!("../templates/recentchanges.hbs"),
    ),
    ("trails", include_str!("../templates/trails.hbs")),
    ("comment", include_str!("../templates/comment.hbs")),
    ("change", include_str!("../templates/change.hbs")),
    (
        "calendaryear",
        include_str!("../templates/calendaryear.hbs"),
    ),
    (
        "calendarmonth",
        include_str!("../templates/calendarmonth.hbs"),
    ),
];

/// ikiwiki's stock template directory: its templates are ikiwiki's, and
/// wikic's built-in ones take their place, so a setup naming it (as
/// `--dumpsetup` output does) is treated as not overriding anything.
const IKIWIKI_STOCK_TEMPLATES: &str = "/usr/share/ikiwiki/templates";

enum Kind {
    Hbs,
    Tmpl(HtmlTemplate),
}

pub struct Templates {
    /// Templates are compiled on first use (a refresh usually needs only
    /// the page template), so the registry is behind a lock.
    hb: std::sync::RwLock<Handlebars<'static>>,
    kinds: FxHashMap<String, Kind>,
    sources: FxHashMap<String, String>,
    /// The partials each handlebars template includes.
    partials: FxHashMap<String, Vec<String>>,
    /// Templates being compiled on another thread.
    pending: std::sync::Mutex<FxHashMap<String, Compiling>>,
}

type Compiling = crate::aside::Aside<Result<handlebars::Template, String>>;

impl Templates {
    /// Loads the built-in templates and any overrides in `templatedir`.
    pub fn new(templatedir: Option<&Path>) -> Result<Templates> {
        let mut hb = Handlebars::new();
        hb.register_escape_fn(handlebars::no_escape);
        hb.set_strict_mode(false);
        let mut t = Templates {
            hb: std::sync::RwLock::new(hb),
            kinds: FxHashMap::default(),
            sources: FxHashMap::default(),
            partials: FxHashMap::default(),
            pending: Default::default(),
        };
        for (name, src) in BUILTIN {
            // Built-in templates are known to compile (tests render them
            // all); they are compiled when first used.
            t.kinds.insert(name.to_string(), Kind::Hbs);
            t.sources.insert(name.to_string(), src.to_string());
        }
        if let Some(dir) = templatedir.filter(|d| *d != Path::new(IKIWIKI_STOCK_TEMPLATES)) {
            let entries = std::fs::read_dir(dir)
                .with_context(|| format!("cannot read templatedir {}", dir.display()))?;
            let mut files: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
            files.sort();
            for path in files {
                let Some(fname) = path.file_name().and_then(|f| f.to_str()) else {
                    continue;
                };
                if let Some(name) = fname.strip_suffix(".hbs") {
                    let src = std::fs::read_to_string(&path)
                        .with_context(|| format!("cannot read template {}", path.display()))?;
                    t.add_hbs(name, &src).with_context(|| {
                        format!("template {} has a syntax error", path.display())
                    })?;
                } else if let Some(name) = fname.strip_suffix(".tmpl") {
                    // A .hbs of the same name in templatedir wins.
                    if dir.join(format!("{name}.hbs")).exists() {
                        continue;
                    }
                    let src = std::fs::read_to_string(&path)
                        .with_context(|| format!("cannot read template {}", path.display()))?;
                    t.add_tmpl(name, &src).with_context(|| {
                        format!("template {} has a syntax error", path.display())
                    })?;
                }
            }
        }
        t.check_partials(templatedir)?;
        Ok(t)
    }

    /// Refuses templates that include each other in a cycle, which would
    /// recurse without end at render time.
    fn check_partials(&mut self, dir: Option<&Path>) -> Result<()> {
        let file = |name: &str| match dir {
            Some(d) if d.join(format!("{name}.hbs")).exists() => {
                d.join(format!("{name}.hbs")).display().to_string()
            }
            _ => format!("{name}.hbs (built in)"),
        };
        let mut graph: FxHashMap<String, Vec<String>> = FxHashMap::default();
        for (name, kind) in &self.kinds {
            if !matches!(kind, Kind::Hbs) {
                continue;
            }
            let src = &self.sources[name];
            let mut deps = Vec::new();
            let mut rest = src.as_str();
            while let Some(i) = rest.find("{{") {
                rest = &rest[i + 2..];
                let t = rest.trim_start_matches(['~', '#']).trim_start();
                if let Some(after) = t.strip_prefix('>') {
                    let after = after.trim_start();
                    if after.starts_with('(') {
                        anyhow::bail!(
                            "template {}: partials with computed names are not supported",
                            file(name)
                        );
                    }
                    let dep: String = after
                        .chars()
                        .take_while(|c| !c.is_whitespace() && *c != '}' && *c != '~')
                        .collect();
                    deps.push(dep);
                }
            }
            graph.insert(name.clone(), deps);
        }
        self.partials = graph.clone();
        let graph: FxHashMap<&str, Vec<String>> =
            graph.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        fn visit<'a>(
            n: &'a str,
            graph: &'a FxHashMap<&'a str, Vec<String>>,
            stack: &mut Vec<&'a str>,
            done: &mut rustc_hash::FxHashSet<&'a str>,
        ) -> Option<Vec<String>> {
            if let Some(pos) = stack.iter().position(|s| *s == n) {
                let mut cycle: Vec<String> = stack[pos..].iter().map(|s| s.to_string()).collect();
                cycle.push(n.to_string());
                return Some(cycle);
            }
            if !done.insert(n) {
                return None;
            }
            stack.push(n);
            for d in graph.get(n).into_iter().flatten() {
                if let Some(c) = visit(d, graph, stack, done) {
                    return Some(c);
                }
            }
            stack.pop();
            None
        }
        let mut done = rustc_hash::FxHashSet::default();
        let mut names: Vec<&str> = graph.keys().copied().collect();
        names.sort();
        for n in names {
            if let Some(cycle) = visit(n, &graph, &mut Vec::new(), &mut done) {
                let files: Vec<String> = cycle.iter().map(|c| file(c)).collect();
                anyhow::bail!(
                    "templates include each other in a loop: {}; remove one of the {{{{> ...}}}} includes",
                    files.join(" -> ")
                );
            }
        }
        Ok(())
    }

    fn add_hbs(&mut self, name: &str, src: &str) -> Result<()> {
        self.hb
            .get_mut()
            .map_err(|_| anyhow::anyhow!("template registry poisoned"))?
            .register_template_string(name, src)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        self.kinds.insert(name.to_string(), Kind::Hbs);
        self.sources.insert(name.to_string(), src.to_string());
        Ok(())
    }

    /// Adds an HTML::Template-style template under `name`.
    pub fn add_tmpl(&mut self, name: &str, src: &str) -> Result<()> {
        let t = HtmlTemplate::parse(src).map_err(|e| anyhow::anyhow!("{e}"))?;
        self.kinds.insert(name.to_string(), Kind::Tmpl(t));
        self.sources.insert(name.to_string(), src.to_string());
        Ok(())
    }

    pub fn has(&self, name: &str) -> bool {
        self.kinds.contains_key(name)
    }

    /// True when the template refers to the variable `var`.
    pub fn uses(&self, name: &str, var: &str) -> bool {
        match self.kinds.get(name) {
            Some(Kind::Tmpl(t)) => t.query(var),
            Some(Kind::Hbs) => self.sources.get(name).is_some_and(|s| mentions(s, var)),
            None => false,
        }
    }

    /// Starts compiling `name` and the partials it includes on another
    /// thread, so that (slow) compilation overlaps with the work done
    /// before the first page is rendered.
    pub fn prepare(&self, name: &str) {
        let Ok(mut pending) = self.pending.lock() else {
            return;
        };
        let mut todo = vec![name.to_string()];
        while let Some(n) = todo.pop() {
            if pending.contains_key(&n) {
                continue;
            }
            if let (Some(Kind::Hbs), Some(src)) = (self.kinds.get(&n), self.sources.get(&n)) {
                let (src, tname) = (src.clone(), n.clone());
                let job = crate::aside::start(move || compile(&src, &tname));
                todo.extend(self.partials.get(&n).into_iter().flatten().cloned());
                pending.insert(n, job);
            }
        }
    }

    /// Compiles `name` and the partials it includes, if not done yet.
    fn ensure_compiled(&self, name: &str) -> Result<(), String> {
        if self
            .hb
            .read()
            .map_err(|e| e.to_string())?
            .has_template(name)
        {
            return Ok(());
        }
        let mut hb = self.hb.write().map_err(|e| e.to_string())?;
        let mut todo = vec![name.to_string()];
        while let Some(n) = todo.pop() {
            if hb.has_template(&n) {
                continue;
            }
            if let (Some(Kind::Hbs), Some(src)) = (self.kinds.get(&n), self.sources.get(&n)) {
                let started = self.pending.lock().ok().and_then(|mut p| p.remove(&n));
                match started {
                    Some(job) => {
                        let t = job
                            .wait()
                            .ok_or_else(|| format!("template {n}: compiling it failed"))??;
                        hb.register_template(&n, t);
                    }
                    None => hb.register_template(&n, compile(src, &n)?),
                }
                todo.extend(self.partials.get(&n).into_iter().flatten().cloned());
            }
        }
        Ok(())
    }

    /// Renders template `name` with `data` (an object).
    pub fn render(&self, name: &str, data: &Value) -> Result<String, String> {
        match self.kinds.get(name) {
            Some(Kind::Hbs) => {
                self.ensure_compiled(name)?;
                self.hb
                    .read()
                    .map_err(|e| e.to_string())?
                    .render(name, data)
                    .map_err(|e| format!("template {name}: {e}"))
            }
            Some(Kind::Tmpl(t)) => match data {
                Value::Object(m) => Ok(t.render(m)),
                _ => Ok(t.render(&Default::default())),
            },
            None => Err(format!("template {name} not found")),
        }
    }
}

/// Compiles a handlebars template, on every refresh for the page
/// template, so how long handlebars' parser takes shows. It steps through
/// raw text one character at a time, and for every token counts lines from
/// the start (time quadratic in a template's length). So the raw text is
/// first replaced by stand-ins (see [`stand_in`]), and a long template is
/// compiled in chunks, cut between lines outside any block, whose elements
/// are joined: the same template, several times faster to make. (Column
/// numbers in the mapping, used in render errors, are those of the
/// shortened text; lines are right.)
fn compile(src: &str, name: &str) -> Result<handlebars::Template, String> {
    let whole = || {
        handlebars::Template::compile_with_name(src, name.to_string())
            .map_err(|e| format!("template {name}: {e}"))
    };
    let stood = stand_in(src);
    let text = stood.as_ref().map_or(src, |(t, _)| t.as_str());
    // An error is reported for the whole template as written, where its
    // line and column numbers are right.
    let Some(mut t) = compile_chunks(text, name) else {
        return whole();
    };
    if let Some((_, pieces)) = &stood {
        restore(&mut t, pieces);
    }
    Ok(t)
}

/// `src` compiled chunk by chunk (see [`chunks`]), the chunks' elements
/// joined; `None` if a chunk does not compile.
fn compile_chunks(src: &str, name: &str) -> Option<handlebars::Template> {
    let mut joined: Option<handlebars::Template> = None;
    let mut line = 0;
    for chunk in chunks(src) {
        let mut t = handlebars::Template::compile_with_name(chunk, name.to_string()).ok()?;
        for m in &mut t.mapping {
            m.0 += line;
        }
        line += chunk.matches('\n').count();
        match &mut joined {
            None => joined = Some(t),
            Some(j) => {
                j.elements.append(&mut t.elements);
                j.mapping.append(&mut t.mapping);
            }
        }
    }
    joined
}

/// Characters that stand in for raw text while handlebars parses: the
/// second private use plane, which templates have no reason to use.
const STAND_INS: std::ops::RangeInclusive<u32> = 0xF0000..=0xFFFFD;

/// `src` with each stretch of raw text — outside tags, within one line,
/// without braces, from its first to its last non-blank character —
/// replaced by one stand-in character, and the stretches in order.
/// Everything handlebars decides from raw text (where tags start, which
/// lines hold only a block tag and are dropped, what `~` trims) depends
/// only on braces, blanks and line ends, and those stay where they were.
/// `None` for templates with what this cannot see through: comments, raw
/// blocks and escapes, a tag that seems to end inside a string, or
/// characters already in the stand-in range.
fn stand_in(src: &str) -> Option<(String, Vec<&str>)> {
    if ["{{!", "{{{{", "\\{{"].iter().any(|m| src.contains(m))
        || src.chars().any(|c| STAND_INS.contains(&(c as u32)))
    {
        return None;
    }
    let mut out = String::with_capacity(src.len());
    let mut pieces = Vec::new();
    let mut rest = src;
    loop {
        let (raw, tail) = rest.split_at(rest.find("{{").unwrap_or(rest.len()));
        stand_in_raw(raw, &mut out, &mut pieces)?;
        if tail.is_empty() {
            return Some((out, pieces));
        }
        let tag = &tail[..tail.find("}}")? + 2];
        if tag.matches('"').count() % 2 == 1 || tag.matches('\'').count() % 2 == 1 {
            return None;
        }
        out.push_str(tag);
        rest = &tail[tag.len()..];
    }
}

/// Writes raw text to `out`, its stretches (see [`stand_in`]) longer than
/// a stand-in replaced by stand-ins.
fn stand_in_raw<'a>(raw: &'a str, out: &mut String, pieces: &mut Vec<&'a str>) -> Option<()> {
    let mut at = 0;
    for part in raw.split(['\n', '{', '}']) {
        let core = part.trim_matches(char::is_whitespace);
        let lead = part.len() - part.trim_start_matches(char::is_whitespace).len();
        if core.len() > 4 {
            let c = char::from_u32(STAND_INS.start() + pieces.len() as u32)
                .filter(|c| STAND_INS.contains(&(*c as u32)))?;
            pieces.push(core);
            out.push_str(&part[..lead]);
            out.push(c);
            out.push_str(&part[lead + core.len()..]);
        } else {
            out.push_str(part);
        }
        at += part.len();
        // The separator the split took away.
        if let Some(sep) = raw[at..].chars().next() {
            out.push(sep);
            at += sep.len_utf8();
        }
    }
    Some(())
}

/// Puts the raw text back in place of its stand-ins, in every raw string
/// of `t` and of the templates nested in it.
fn restore(t: &mut handlebars::Template, pieces: &[&str]) {
    use handlebars::template::TemplateElement as E;
    each_template(t, &mut |t| {
        for e in &mut t.elements {
            if let E::RawString(s) = e
                && s.chars().any(|c| STAND_INS.contains(&(c as u32)))
            {
                let mut o = String::with_capacity(s.len() * 4);
                for c in s.chars() {
                    match (c as u32).checked_sub(*STAND_INS.start()) {
                        Some(i) if STAND_INS.contains(&(c as u32)) => {
                            o.push_str(pieces[i as usize])
                        }
                        _ => o.push(c),
                    }
                }
                *s = o;
            }
        }
    });
}

/// Calls `f` on `t` and on every template nested in it (blocks, their
/// inverses, partial blocks, inline partials).
fn each_template(t: &mut handlebars::Template, f: &mut impl FnMut(&mut handlebars::Template)) {
    use handlebars::template::TemplateElement as E;
    f(t);
    for e in &mut t.elements {
        match e {
            E::HtmlExpression(h) | E::Expression(h) | E::HelperBlock(h) => {
                for t in [&mut h.template, &mut h.inverse].into_iter().flatten() {
                    each_template(t, f);
                }
            }
            E::DecoratorExpression(d)
            | E::DecoratorBlock(d)
            | E::PartialExpression(d)
            | E::PartialBlock(d) => {
                if let Some(t) = &mut d.template {
                    each_template(t, f);
                }
            }
            _ => {}
        }
    }
}

/// Splits a template into pieces of about `CHUNK` bytes, each ending at a
/// line end outside any block. Templates using what could act across a
/// cut (whitespace control, comments, raw blocks, escapes) stay whole.
fn chunks(src: &str) -> Vec<&str> {
    const CHUNK: usize = 512;
    if src.len() < 2 * CHUNK
        || ["{{~", "~}}", "{{!", "{{{{", "\\{{"]
            .iter()
            .any(|m| src.contains(m))
    {
        return vec![src];
    }
    let mut out = Vec::new();
    let (mut start, mut depth) = (0usize, 0i32);
    let mut at = 0;
    for line in src.split_inclusive('\n') {
        let mut rest = line;
        while let Some(i) = rest.find("{{") {
            rest = &rest[i + 2..];
            match rest.as_bytes().first() {
                Some(b'#' | b'^') => depth += 1,
                Some(b'/') => depth -= 1,
                _ => {}
            }
        }
        at += line.len();
        if depth == 0 && line.ends_with('\n') && at - start >= CHUNK {
            out.push(&src[start..at]);
            start = at;
        }
    }
    if start < src.len() {
        out.push(&src[start..]);
    }
    out
}

/// Whether a handlebars source mentions a variable in any expression.
fn mentions(src: &str, var: &str) -> bool {
    let mut rest = src;
    while let Some(i) = rest.find("{{") {
        rest = &rest[i + 2..];
        let end = rest.find("}}").unwrap_or(rest.len());
        let expr = &rest[..end];
        if expr
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .any(|w| w == var)
        {
            return true;
        }
        rest = &rest[end..];
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builtins_render_without_escaping() {
        let t = Templates::new(None).unwrap();
        let out = t
            .render(
                "titlepage",
                &json!({"pageurl": "./x/", "title": "a &amp; <b>b</b>"}),
            )
            .unwrap();
        assert!(out.contains("<a href=\"./x/\">a &amp; <b>b</b></a>"));
        assert!(t.uses("inlinepage", "content"));
        assert!(!t.uses("archivepage", "content"));
    }

    #[test]
    fn every_builtin_compiles() {
        let t = Templates::new(None).unwrap();
        for (name, _) in BUILTIN {
            t.render(name, &json!({})).unwrap();
        }
    }

    /// Compiled in chunks or whole, a template renders the same, with
    /// every condition true and with none.
    #[test]
    fn chunked_compile_is_the_same_template() {
        let mut hb = Handlebars::new();
        hb.register_escape_fn(handlebars::no_escape);
        let mut all = serde_json::Map::new();
        for (_, src) in BUILTIN {
            let mut rest = *src;
            while let Some(i) = rest.find("{{") {
                rest = &rest[i + 2..];
                let expr = rest.trim_start_matches(['#', '/', '^', ' ']);
                let each = expr.starts_with("each ");
                let word: String = expr
                    .trim_start_matches("if ")
                    .trim_start_matches("unless ")
                    .trim_start_matches("each ")
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if each {
                    all.insert(word, json!([{ "url": "u", "page": "p" }, { "page": "q" }]));
                } else if !word.is_empty() && !all.contains_key(&word) {
                    all.insert(word, json!("v"));
                }
            }
        }
        let full = Value::Object(all);
        let mut chunked = 0;
        for (name, src) in BUILTIN {
            if chunks(src).len() > 1 {
                chunked += 1;
            }
            hb.register_template(
                "whole",
                handlebars::Template::compile_with_name(*src, name.to_string()).unwrap(),
            );
            hb.register_template("chunked", compile(src, name).unwrap());
            for data in [&json!({}), &full] {
                assert_eq!(
                    hb.render("whole", data).unwrap(),
                    hb.render("chunked", data).unwrap(),
                    "{name}"
                );
            }
        }
        assert!(chunked > 0, "the page template is long enough to be cut");
        assert_eq!(
            chunks("{{#if a}}\nx\n{{/if}}\n"),
            ["{{#if a}}\nx\n{{/if}}\n"]
        );
    }

    /// The stand-ins change nothing handlebars makes of a template: with
    /// and without them, the same elements.
    fn same_with_stand_ins(src: &str) {
        let whole = |s: &str| handlebars::Template::compile_with_name(s, "t".into()).ok();
        let plain = whole(src);
        let stood = stand_in(src).and_then(|(text, pieces)| {
            let mut t = whole(&text)?;
            restore(&mut t, &pieces);
            Some(t)
        });
        // Columns differ (they count in the shortened text); lines and
        // everything else must not.
        let lines = |mut t: handlebars::Template| {
            let mut lines = Vec::new();
            each_template(&mut t, &mut |t| {
                lines.extend(t.mapping.drain(..).map(|m| m.0));
            });
            (t, lines)
        };
        match (plain.map(lines), stood.map(lines)) {
            (Some(p), Some(s)) => assert_eq!(p, s, "{src:?}"),
            // No stand-ins for it, or it does not compile either way.
            (_, None) => {}
            (None, Some(_)) => panic!("compiles only with stand-ins: {src:?}"),
        }
    }

    #[test]
    fn stand_ins_leave_templates_as_they_were() {
        for (_, src) in BUILTIN {
            assert!(stand_in(src).is_some(), "{src}");
            same_with_stand_ins(src);
        }
        for src in [
            "  {{#if a}}\n  <p class=\"x\">text here</p>\n  {{else}}\n\tother text\r\n  {{/if}}\n",
            "{{{raw}}}} tail text}\n{ lone brace text {{x}}",
            "<a href=\"{{url}}\">a link text</a>{{#each list}}\n  item {{this}} done\n{{/each}}",
            "   {{> partial}}\n  after the partial\n",
            "{{#*inline \"p\"}}inline body text{{/inline}}{{> p}}",
            "text before   {{~x~}}   text after\n",
            "{{#if a}}one{{else if b}}two text{{else}}three text{{/if}}",
            "{{x \"a string }} inside\"}} more text",
            "unicode\u{a0}spaced\u{a0} text {{x}}\u{3000}wide\u{3000}",
        ] {
            same_with_stand_ins(src);
        }
        // What it cannot see through is left to handlebars.
        for src in [
            "{{! a comment }} text",
            "\\{{x}} escaped text",
            "{{{{raw}}}} x {{{{/raw}}}}",
        ] {
            assert!(stand_in(src).is_none(), "{src}");
        }
        let (text, pieces) = stand_in("  <p>hello world</p>\n{{x}}").unwrap();
        assert_eq!(pieces, ["<p>hello world</p>"]);
        assert!(text.starts_with("  ") && text.ends_with("\n{{x}}") && text.len() < 20);
    }

    proptest::proptest! {
        #[test]
        fn stand_ins_never_change_a_template(parts in proptest::collection::vec(
            proptest::sample::select(vec![
                "{{#if a}}", "{{/if}}", "{{else}}", "{{^}}", "{{#each l}}", "{{/each}}",
                "{{#unless u}}", "{{/unless}}", "{{x}}", "{{{y}}}", "{{> p}}", "{{~z~}}",
                "{{x \"q\"}}", "  ", "\t", "\n", "\r\n", "}", "{", "some text",
                "<div class=\"c\">", "a b", " x ", "\u{a0}", "\"", "'",
            ]),
            0..24,
        )) {
            same_with_stand_ins(&parts.concat());
        }
    }

    #[test]
    fn include_loops_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("page.hbs"), "{{> inlinepage}}").unwrap();
        std::fs::write(dir.path().join("inlinepage.hbs"), "{{> page}}").unwrap();
        let err = format!("{:#}", Templates::new(Some(dir.path())).err().unwrap());
        assert!(err.contains("loop") && err.contains("page.hbs"), "{err}");
        std::fs::write(dir.path().join("inlinepage.hbs"), "plain").unwrap();
        std::fs::write(dir.path().join("page.hbs"), "{{> page}}").unwrap();
        assert!(Templates::new(Some(dir.path())).is_err());
    }

    #[test]
    fn templatedir_overrides() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("titlepage.tmpl"), "T:<TMPL_VAR TITLE>").unwrap();
        let t = Templates::new(Some(dir.path())).unwrap();
        assert_eq!(
            t.render("titlepage", &json!({"title": "x"})).unwrap(),
            "T:x"
        );
        std::fs::write(dir.path().join("bad.hbs"), "{{#if}}").unwrap();
        let err = Templates::new(Some(dir.path())).err().unwrap();
        assert!(format!("{err:#}").contains("bad.hbs"));
    }
}
