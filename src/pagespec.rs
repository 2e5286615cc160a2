//! PageSpecs: `blog/* and !*/discussion`, `link(foo)`, `tagged(bar)`...
//!
//! A spec is parsed once into a tree and matched many times. Results keep
//! ikiwiki's three-valued semantics — success, failure, error — with the
//! same quirks (`!` turns an error into a success; `and`/`or` evaluate both
//! sides and pick one), and carry *influences*: the pages whose links,
//! content or presence could change the answer, which incremental builds
//! turn into dependencies.

use std::cell::RefCell;

use rustc_hash::FxHashMap;

use crate::names::dirname;
use crate::timefmt;
use crate::wiki::{PageId, Wiki};

pub const DEPEND_CONTENT: u8 = 1;
pub const DEPEND_PRESENCE: u8 = 2;
pub const DEPEND_LINKS: u8 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Fail,
    Error,
}

/// Pages that influenced a result, with dependency types.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Influences {
    /// True when the influences depend on which page was tested.
    pub dynamic: bool,
    pub pages: Vec<(String, u8)>,
}

impl Influences {
    fn is_empty(&self) -> bool {
        !self.dynamic && self.pages.is_empty()
    }

    fn add(&mut self, page: &str, deptype: u8) {
        if let Some(e) = self.pages.iter_mut().find(|(p, _)| p == page) {
            e.1 |= deptype;
        } else {
            self.pages.push((page.to_string(), deptype));
        }
    }

    fn absorb(&mut self, other: Influences) {
        self.dynamic |= other.dynamic;
        for (p, d) in other.pages {
            self.add(&p, d);
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchResult {
    pub outcome: Outcome,
    pub reason: String,
    pub influences: Influences,
}

impl MatchResult {
    pub fn is_match(&self) -> bool {
        self.outcome == Outcome::Success
    }

    pub fn is_error(&self) -> bool {
        self.outcome == Outcome::Error
    }

    fn new(outcome: Outcome, reason: impl Into<String>) -> Self {
        MatchResult {
            outcome,
            reason: reason.into(),
            influences: Influences::default(),
        }
    }

    // Reasons are only kept for errors: formatting one for every page a
    // spec is tried on would dominate matching time.
    fn success() -> Self {
        Self::new(Outcome::Success, String::new())
    }

    fn fail() -> Self {
        Self::new(Outcome::Fail, String::new())
    }

    fn error(reason: impl Into<String>) -> Self {
        Self::new(Outcome::Error, reason)
    }

    /// Records an influence when the caller asked for them.
    fn with(mut self, params: &MatchParams, page: &str, deptype: u8, dynamic: bool) -> Self {
        if params.track {
            self.influences.add(page, deptype);
            self.influences.dynamic |= dynamic;
        }
        self
    }

    fn truthy_or_influenced(&self) -> bool {
        self.is_match() || !self.influences.is_empty()
    }

    /// `merge_influences`: an `and` with an uninfluenced failure blocks
    /// influences altogether.
    fn merge(&mut self, other: MatchResult, anded: bool) {
        if !anded || (self.truthy_or_influenced() && other.truthy_or_influenced()) {
            self.influences.absorb(other.influences);
        } else {
            self.influences = Influences::default();
        }
    }

    fn and(a: MatchResult, b: MatchResult) -> MatchResult {
        if a.is_match() {
            let mut b = b;
            b.merge(a, true);
            b
        } else {
            let mut a = a;
            a.merge(b, true);
            a
        }
    }

    fn or(a: MatchResult, b: MatchResult) -> MatchResult {
        if a.is_match() {
            let mut a = a;
            a.merge(b, false);
            a
        } else {
            let mut b = b;
            b.merge(a, false);
            b
        }
    }

    fn not(mut self) -> MatchResult {
        self.outcome = match self.outcome {
            Outcome::Success => Outcome::Fail,
            Outcome::Fail | Outcome::Error => Outcome::Success,
        };
        self
    }
}

/// Link targets already resolved during one round of matching (the
/// same spec tried on many pages from one location).
#[derive(Debug, Default)]
pub struct LinkCache {
    targets: FxHashMap<String, std::rc::Rc<LinkTarget>>,
    tags: FxHashMap<String, std::rc::Rc<LinkTarget>>,
}

/// Extra facts a match may consult.
#[derive(Debug, Clone, Copy, Default)]
pub struct MatchParams<'a> {
    /// Optional memo of link targets for this location.
    pub cache: Option<&'a RefCell<LinkCache>>,
    /// Collect influences (the pages whose changes could change the
    /// answer); off by default because it costs an allocation per match.
    pub track: bool,
    /// The page the spec is written on, for `./` and relative links.
    pub location: Option<&'a str>,
    /// `Some(None)` means "a user was asked about but nobody is signed in".
    pub user: Option<Option<&'a str>>,
    pub ip: Option<&'a str>,
    pub sourcepage: Option<&'a str>,
    pub destpage: Option<&'a str>,
    /// Include internal pages in glob matches.
    pub internal: bool,
    /// The size of the file being checked (an upload or a pushed file
    /// not in the wiki yet), for `maxsize()` and `minsize()`.
    pub file_size: Option<u64>,
    /// Its MIME type, from its content, for `mimetype()`.
    pub file_mime: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Func {
    Internal,
    Page,
    Link,
    Backlink,
    CreatedBefore,
    CreatedAfter,
    CreationDay,
    CreationMonth,
    CreationYear,
    User,
    Admin,
    Ip,
    Tagged,
    Enabled,
    SourcePage,
    DestPage,
    Included,
    MetaField(&'static str),
    IsPage,
    MaxSize,
    MinSize,
    MimeType,
    VirusFree,
    Comment,
    CommentPending,
    PostComment,
    Glob,
}

/// A glob compiled for case-insensitive matching against lowercased
/// names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    raw: String,
    /// Lowercased pattern.
    lc: String,
    shape: Shape,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Shape {
    Any,
    Exact,
    /// `prefix*`
    Prefix(usize),
    /// `*suffix`
    Suffix(usize),
    General,
}

impl Glob {
    pub fn new(raw: &str) -> Glob {
        let lc = raw.to_lowercase();
        let stars = lc.matches('*').count();
        let shape = if lc.contains('?') {
            Shape::General
        } else if stars == 0 {
            Shape::Exact
        } else if lc == "*" {
            Shape::Any
        } else if stars == 1 && lc.ends_with('*') {
            Shape::Prefix(lc.len() - 1)
        } else if stars == 1 && lc.starts_with('*') {
            Shape::Suffix(lc.len() - 1)
        } else {
            Shape::General
        };
        Glob {
            raw: raw.to_string(),
            lc,
            shape,
        }
    }

    /// Whether `./` or `.` must be resolved against a location first.
    fn is_relative(&self) -> bool {
        self.raw == "." || self.raw.starts_with("./")
    }

    /// Matches text of any case; ASCII text is compared without copying.
    pub fn matches_ci(&self, text: &str) -> bool {
        if !text.is_ascii() || !self.lc.is_ascii() || text.contains('\n') {
            return self.matches_lc(&text.to_lowercase());
        }
        let t = text.as_bytes();
        let g = self.lc.as_bytes();
        match self.shape {
            Shape::Any => true,
            Shape::Exact => t.eq_ignore_ascii_case(g),
            Shape::Prefix(n) => t.len() >= n && t[..n].eq_ignore_ascii_case(&g[..n]),
            Shape::Suffix(n) => t.len() >= n && t[t.len() - n..].eq_ignore_ascii_case(&g[1..=n]),
            Shape::General => glob_match_general(&self.lc, &text.to_ascii_lowercase()),
        }
    }

    /// Matches an already lowercased text.
    pub fn matches_lc(&self, text: &str) -> bool {
        if text.contains('\n') {
            return glob_match_general(&self.lc, text);
        }
        match self.shape {
            Shape::Any => true,
            Shape::Exact => self.lc == text,
            Shape::Prefix(n) => text.starts_with(&self.lc[..n]),
            Shape::Suffix(n) => text.ends_with(&self.lc[1..=n]),
            Shape::General => glob_match_general(&self.lc, text),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Glob(Glob),
    /// `page(glob)`: the glob, and only pages (not other files).
    PageGlob(Glob),
    /// `internal(glob)`: the glob, internal pages included.
    InternalGlob(Glob),
    Call(Func, String),
    Unknown(String),
    Not(Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
}

/// A parsed PageSpec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageSpec {
    root: Node,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("syntax error in pagespec \"{0}\"")]
pub struct SyntaxError(pub String);

/// Which plugin-provided functions exist (ikiwiki only knows `tagged()`
/// when the tag plugin is loaded, and so on).
pub trait FunctionSet {
    fn plugin_enabled(&self, plugin: &str) -> bool;
}

impl FunctionSet for crate::plugins::PluginSet {
    fn plugin_enabled(&self, plugin: &str) -> bool {
        self.enabled(plugin)
    }
}

/// Every function, for callers that do not care about plugins.
pub struct AllFunctions;

impl FunctionSet for AllFunctions {
    fn plugin_enabled(&self, _: &str) -> bool {
        true
    }
}

fn lookup_func(name: &str, fs: &dyn FunctionSet) -> Option<Func> {
    let (f, plugin) = match name {
        "glob" => (Func::Glob, ""),
        "internal" => (Func::Internal, ""),
        "page" => (Func::Page, ""),
        "link" => (Func::Link, ""),
        "backlink" => (Func::Backlink, ""),
        "created_before" => (Func::CreatedBefore, ""),
        "created_after" => (Func::CreatedAfter, ""),
        "creation_day" => (Func::CreationDay, ""),
        "creation_month" => (Func::CreationMonth, ""),
        "creation_year" => (Func::CreationYear, ""),
        "user" => (Func::User, ""),
        "admin" => (Func::Admin, ""),
        "ip" => (Func::Ip, ""),
        "tagged" => (Func::Tagged, "tag"),
        "enabled" => (Func::Enabled, "conditional"),
        "sourcepage" => (Func::SourcePage, "conditional"),
        "destpage" => (Func::DestPage, "conditional"),
        "included" => (Func::Included, "conditional"),
        "title" => (Func::MetaField("title"), "meta"),
        "author" => (Func::MetaField("author"), "meta"),
        "authorurl" => (Func::MetaField("authorurl"), "meta"),
        "license" => (Func::MetaField("license"), "meta"),
        "copyright" => (Func::MetaField("copyright"), "meta"),
        "guid" => (Func::MetaField("guid"), "meta"),
        "ispage" => (Func::IsPage, "filecheck"),
        "maxsize" => (Func::MaxSize, "filecheck"),
        "minsize" => (Func::MinSize, "filecheck"),
        "mimetype" => (Func::MimeType, "filecheck"),
        "virusfree" => (Func::VirusFree, "filecheck"),
        "comment" => (Func::Comment, "comments"),
        "comment_pending" => (Func::CommentPending, "comments"),
        "postcomment" => (Func::PostComment, "comments"),
        _ => return None,
    };
    if plugin.is_empty() || fs.plugin_enabled(plugin) {
        Some(f)
    } else {
        None
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Not,
    Open,
    Close,
    And,
    Or,
    Word(String),
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn tokenize(spec: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut rest = spec;
    loop {
        rest = rest.trim_start();
        let Some(c) = rest.chars().next() else { break };
        let (tok, len) = match c {
            '!' => (Tok::Not, 1),
            '(' => (Tok::Open, 1),
            ')' => (Tok::Close, 1),
            _ => {
                // `\w+\([^\)]*\)` first, then `[^\s()]+`.
                let w = rest.find(|c: char| !is_word_char(c)).unwrap_or(rest.len());
                let call_len = if w > 0 && rest[w..].starts_with('(') {
                    rest[w + 1..].find(')').map(|k| w + 1 + k + 1)
                } else {
                    None
                };
                let len = call_len.unwrap_or_else(|| {
                    rest.find(|c: char| c.is_whitespace() || c == '(' || c == ')')
                        .unwrap_or(rest.len())
                });
                let word = &rest[..len];
                let tok = if word.eq_ignore_ascii_case("and") {
                    Tok::And
                } else if word.eq_ignore_ascii_case("or") {
                    Tok::Or
                } else {
                    Tok::Word(word.to_string())
                };
                (tok, len)
            }
        };
        out.push(tok);
        rest = &rest[len..];
    }
    out
}

struct Parser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    fs: &'a dyn FunctionSet,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn or_expr(&mut self) -> Option<Node> {
        let mut left = self.and_expr()?;
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            let right = self.and_expr()?;
            left = Node::Or(Box::new(left), Box::new(right));
        }
        Some(left)
    }

    fn and_expr(&mut self) -> Option<Node> {
        let mut left = self.unary()?;
        while self.peek() == Some(&Tok::And) {
            self.pos += 1;
            let right = self.unary()?;
            left = Node::And(Box::new(left), Box::new(right));
        }
        Some(left)
    }

    fn unary(&mut self) -> Option<Node> {
        self.depth += 1;
        if self.depth > 200 {
            return None;
        }
        let tok = self.peek()?.clone();
        self.pos += 1;
        let node = match tok {
            Tok::Not => Node::Not(Box::new(self.unary()?)),
            Tok::Open => {
                let inner = self.or_expr()?;
                if self.peek() != Some(&Tok::Close) {
                    return None;
                }
                self.pos += 1;
                inner
            }
            Tok::Word(w) => self.word(&w),
            Tok::Close | Tok::And | Tok::Or => return None,
        };
        self.depth -= 1;
        Some(node)
    }

    fn word(&self, w: &str) -> Node {
        if let Some(open) = w.find('(')
            && w.ends_with(')')
            && open > 0
            && w[..open].chars().all(is_word_char)
        {
            let name = &w[..open];
            let arg = &w[open + 1..w.len() - 1];
            return match lookup_func(name, self.fs) {
                Some(Func::Glob) => Node::Glob(Glob::new(arg)),
                Some(Func::Page) => Node::PageGlob(Glob::new(arg)),
                Some(Func::Internal) => Node::InternalGlob(Glob::new(arg)),
                Some(f) => Node::Call(f, arg.to_string()),
                None => Node::Unknown(format!("unknown function in pagespec \"{w}\"")),
            };
        }
        Node::Glob(Glob::new(w))
    }
}

impl PageSpec {
    /// Parses a spec, knowing only the functions of enabled plugins.
    pub fn parse(spec: &str, fs: &dyn FunctionSet) -> Result<PageSpec, SyntaxError> {
        let toks = tokenize(spec);
        if toks.is_empty() {
            return Err(SyntaxError(spec.to_string()));
        }
        let mut p = Parser {
            toks,
            pos: 0,
            fs,
            depth: 0,
        };
        let root = p.or_expr().ok_or_else(|| SyntaxError(spec.to_string()))?;
        if p.pos != p.toks.len() {
            return Err(SyntaxError(spec.to_string()));
        }
        Ok(PageSpec {
            root,
            text: spec.to_string(),
        })
    }

    /// Matches `page` (a page name that may or may not exist).
    pub fn match_page(&self, wiki: &Wiki, page: &str, params: &MatchParams) -> MatchResult {
        let subj = Subject {
            name: page,
            id: wiki.id(page),
        };
        eval(&self.root, wiki, subj, params)
    }

    /// Matches an existing page by id (no name lookups).
    pub fn match_id(&self, wiki: &Wiki, id: PageId, params: &MatchParams) -> MatchResult {
        let subj = Subject {
            name: &wiki.page(id).name,
            id: Some(id),
        };
        eval(&self.root, wiki, subj, params)
    }

    pub fn matches(&self, wiki: &Wiki, page: &str, params: &MatchParams) -> bool {
        self.match_page(wiki, page, params).is_match()
    }

    /// The only pages that can match, when the spec says: a glob with a
    /// fixed prefix (`blog/* and ...` can only match pages under `blog/`),
    /// or `link(x)`/`tagged(x)` with an existing target (only pages
    /// linking to it). Sorted by page id. Callers test just these.
    pub fn candidates(&self, wiki: &Wiki, location: Option<&str>) -> Option<Vec<PageId>> {
        fn can_error(n: &Node) -> bool {
            match n {
                Node::Glob(_) | Node::PageGlob(_) | Node::InternalGlob(_) | Node::Not(_) => false,
                Node::Unknown(_) => true,
                Node::Call(f, _) => matches!(
                    f,
                    Func::CreatedBefore
                        | Func::CreatedAfter
                        | Func::CreationDay
                        | Func::CreationMonth
                        | Func::CreationYear
                        | Func::User
                        | Func::Admin
                        | Func::Ip
                        | Func::MaxSize
                        | Func::MinSize
                ),
                Node::And(a, b) => can_error(a) || can_error(b),
                Node::Or(_, b) => can_error(b),
            }
        }
        fn by_prefix(wiki: &Wiki, g: &Glob, location: Option<&str>) -> Option<Vec<PageId>> {
            let g = if g.is_relative() {
                Glob::new(&derel(&g.raw, location))
            } else {
                g.clone()
            };
            let end = g.lc.find(['*', '?']).unwrap_or(g.lc.len());
            if end == 0 {
                return None;
            }
            let mut v = wiki.with_lc_prefix(&g.lc[..end]).to_vec();
            v.sort_unstable();
            Some(v)
        }
        fn by_link(wiki: &Wiki, link: &str, location: Option<&str>) -> Option<Vec<PageId>> {
            let best = LinkTarget::new(wiki, link, location).best?;
            wiki.linkers.get(best as usize).map(<[PageId]>::to_vec)
        }
        fn intersect(a: Vec<PageId>, b: &[PageId]) -> Vec<PageId> {
            a.into_iter()
                .filter(|x| b.binary_search(x).is_ok())
                .collect()
        }
        fn cands(n: &Node, wiki: &Wiki, location: Option<&str>) -> Option<Vec<PageId>> {
            match n {
                Node::Glob(g) | Node::PageGlob(g) | Node::InternalGlob(g) => {
                    by_prefix(wiki, g, location)
                }
                Node::Call(Func::Link, arg) => by_link(wiki, arg, location),
                Node::Call(Func::Tagged, arg) => by_link(wiki, &tag_link(wiki, arg), location),
                Node::Call(Func::Comment | Func::CommentPending, arg) => {
                    by_prefix(wiki, &Glob::new(&format!("{arg}/*")), location)
                }
                // A page outside a's candidates fails a, and then the
                // `and` fails whatever b says. Outside b's, a still runs
                // and might be an error, which must not be skipped.
                Node::And(a, b) => {
                    let ca = cands(a, wiki, location);
                    let cb = if can_error(a) {
                        None
                    } else {
                        cands(b, wiki, location)
                    };
                    match (ca, cb) {
                        (Some(x), Some(y)) => Some(intersect(x, &y)),
                        (x, y) => x.or(y),
                    }
                }
                Node::Or(a, b) => {
                    let mut x = cands(a, wiki, location)?;
                    x.extend(cands(b, wiki, location)?);
                    x.sort_unstable();
                    x.dedup();
                    Some(x)
                }
                _ => None,
            }
        }
        cands(&self.root, wiki, location)
    }

    /// True when the spec names a single page and nothing else, so a
    /// dependency on it can be recorded without matching.
    pub fn simple_page(&self) -> Option<&str> {
        match &self.root {
            Node::Glob(g) if g.shape == Shape::Exact && !g.is_relative() => Some(&g.raw),
            _ => None,
        }
    }
}

/// The page a spec is being matched against.
#[derive(Debug, Clone, Copy)]
struct Subject<'a> {
    name: &'a str,
    id: Option<PageId>,
}

impl<'a> Subject<'a> {
    fn of(wiki: &Wiki, name: &'a str) -> Self {
        Subject {
            name,
            id: wiki.id(name),
        }
    }

    fn page<'w>(&self, wiki: &'w Wiki) -> Option<&'w crate::wiki::Page> {
        self.id.map(|i| wiki.page(i))
    }
}

fn eval(node: &Node, wiki: &Wiki, page: Subject, params: &MatchParams) -> MatchResult {
    match node {
        Node::Glob(g) => match_compiled(wiki, page, g, params),
        Node::PageGlob(g) => {
            let r = match_compiled(wiki, page, g, params);
            if r.is_match() && !page.page(wiki).is_some_and(|p| p.is_page()) {
                return MatchResult::fail();
            }
            r
        }
        Node::InternalGlob(g) => {
            let p = MatchParams {
                internal: true,
                ..*params
            };
            match_compiled(wiki, page, g, &p)
        }
        Node::Call(f, arg) => call(f, arg, wiki, page, params),
        Node::Unknown(msg) => MatchResult::error(msg.clone()),
        Node::Not(n) => eval(n, wiki, page, params).not(),
        Node::And(a, b) => {
            let a = eval(a, wiki, page, params);
            let b = eval(b, wiki, page, params);
            MatchResult::and(a, b)
        }
        Node::Or(a, b) => {
            let a = eval(a, wiki, page, params);
            let b = eval(b, wiki, page, params);
            MatchResult::or(a, b)
        }
    }
}

/// Resolves `./x` and `.` against the spec's location.
pub fn derel(path: &str, location: Option<&str>) -> String {
    if path == "." {
        return location.unwrap_or("").to_string();
    }
    if let Some(rest) = path.strip_prefix("./") {
        let from = location.map(dirname).unwrap_or("");
        let from = match location {
            Some(l) if !l.contains('/') => "",
            _ => from,
        };
        if from.is_empty() {
            return rest.to_string();
        }
        return format!("{from}/{rest}");
    }
    path.to_string()
}

/// Case-insensitive glob with `*` and `?`, anchored at both ends.
pub fn glob_match(glob: &str, text: &str) -> bool {
    Glob::new(glob).matches_lc(&text.to_lowercase())
}

/// `*` and `?` over lowercased strings; neither crosses a newline, as
/// the regex `.` would not.
fn glob_match_general(g: &str, t: &str) -> bool {
    let (gb, tb) = (g.as_bytes(), t.as_bytes());
    let (mut gi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    let char_len = |b: &[u8], i: usize| -> usize {
        let c = b[i];
        if c < 0x80 {
            1
        } else if c >= 0xF0 {
            4
        } else if c >= 0xE0 {
            3
        } else {
            2
        }
    };
    while ti < tb.len() {
        if gi < gb.len() && gb[gi] == b'?' && tb[ti] != b'\n' {
            gi += 1;
            ti += char_len(tb, ti);
        } else if gi < gb.len() && gb[gi] == b'*' {
            star = Some((gi, ti));
            gi += 1;
        } else if gi < gb.len() && gb[gi] != b'?' && gb[gi] == tb[ti] {
            gi += 1;
            ti += 1;
        } else if let Some((sg, st)) = star {
            if tb[st] == b'\n' {
                return false;
            }
            let next = st + char_len(tb, st);
            gi = sg + 1;
            ti = next;
            star = Some((sg, next));
        } else {
            return false;
        }
    }
    while gi < gb.len() && gb[gi] == b'*' {
        gi += 1;
    }
    gi == gb.len()
}

fn match_glob(wiki: &Wiki, page: &str, glob: &str, params: &MatchParams) -> MatchResult {
    match_compiled(wiki, Subject::of(wiki, page), &Glob::new(glob), params)
}

fn match_compiled(wiki: &Wiki, page: Subject, glob: &Glob, params: &MatchParams) -> MatchResult {
    let derelled;
    let glob = if glob.is_relative() {
        derelled = Glob::new(&derel(&glob.raw, params.location));
        &derelled
    } else {
        glob
    };
    let p = page.page(wiki);
    let hit = match p {
        Some(p) => glob.matches_lc(&p.lc_name),
        None => glob.matches_ci(page.name),
    };
    if hit {
        if !p.is_some_and(|p| p.internal) || params.internal {
            MatchResult::success()
        } else {
            MatchResult::fail()
        }
    } else {
        MatchResult::fail()
    }
}

/// A `link()` argument resolved from one location.
#[derive(Debug, Clone)]
pub struct LinkTarget {
    best: Option<PageId>,
    glob: Glob,
    glob_rel: Glob,
}

impl LinkTarget {
    fn new(wiki: &Wiki, link: &str, location: Option<&str>) -> Self {
        let l = derel(&link.to_lowercase(), location);
        let best = wiki.bestlink(location.unwrap_or(""), &l);
        let rel = l.strip_prefix('/').unwrap_or(&l);
        LinkTarget {
            best,
            glob_rel: Glob::new(rel),
            glob: Glob::new(&l),
        }
    }
}

fn link_glob_hit(wiki: &Wiki, glob: &Glob, text: &str, params: &MatchParams) -> bool {
    glob.matches_ci(text) && (params.internal || !wiki.page_named(text).is_some_and(|p| p.internal))
}

/// The resolved target of `link()` (or, with `tag`, of `tagged()`),
/// from the cache when there is one.
fn link_target(wiki: &Wiki, arg: &str, params: &MatchParams, tag: bool) -> std::rc::Rc<LinkTarget> {
    let make = || {
        let link = if tag {
            tag_link(wiki, arg)
        } else {
            arg.to_string()
        };
        std::rc::Rc::new(LinkTarget::new(wiki, &link, params.location))
    };
    let Some(cache) = params.cache else {
        return make();
    };
    let hit = {
        let c = cache.borrow();
        if tag {
            c.tags.get(arg).cloned()
        } else {
            c.targets.get(arg).cloned()
        }
    };
    match hit {
        Some(t) => t,
        None => {
            let t = make();
            let mut c = cache.borrow_mut();
            let map = if tag { &mut c.tags } else { &mut c.targets };
            map.insert(arg.to_string(), t.clone());
            t
        }
    }
}

fn match_link(
    wiki: &Wiki,
    page: Subject,
    link: &str,
    params: &MatchParams,
    linktype: Option<&str>,
) -> MatchResult {
    let target = link_target(wiki, link, params, false);
    match_link_target(wiki, page, &target, params, linktype)
}

fn match_link_target(
    wiki: &Wiki,
    page: Subject,
    target: &LinkTarget,
    params: &MatchParams,
    linktype: Option<&str>,
) -> MatchResult {
    let dep = |r: MatchResult| r.with(params, page.name, DEPEND_LINKS, true);
    let Some(pid) = page.id else {
        return dep(MatchResult::fail());
    };
    let p = wiki.page(pid);
    if p.links().is_empty() {
        return dep(MatchResult::fail());
    }
    for (i, l) in p.links().iter().enumerate() {
        if let Some(t) = linktype
            && !p.typed().contains(t, l)
        {
            continue;
        }
        let hit = match target.best {
            Some(b) => wiki.resolved_link(pid, i) == Some(b),
            None => {
                link_glob_hit(wiki, &target.glob, l, params)
                    || link_glob_hit(
                        wiki,
                        &target.glob_rel,
                        l.strip_prefix('/').unwrap_or(l),
                        params,
                    )
            }
        };
        if hit {
            return dep(MatchResult::success());
        }
    }
    dep(MatchResult::fail())
}

/// `backlink(test)`: does `test` link to the page being matched?
fn match_backlink(wiki: &Wiki, subj: Subject, test: &str, params: &MatchParams) -> MatchResult {
    let tsubj = Subject::of(wiki, test);
    let mut r = match (tsubj.id, subj.page(wiki)) {
        // The common case, answered from the resolved links: the page's
        // name, resolved from the location, among test's link targets.
        // Whatever the page's name resolves to from the location ends
        // with that name, so a target list without such a page cannot
        // contain it.
        (Some(tid), Some(p))
            if !wiki.resolved.is_empty()
                && !wiki.resolved[tid as usize]
                    .iter()
                    .flatten()
                    .any(|t| wiki.page(*t).lc_name.ends_with(&p.lc_name)) =>
        {
            MatchResult::fail()
        }
        (Some(tid), Some(p)) => {
            let best = wiki.bestlink(
                params.location.unwrap_or(""),
                &derel(&p.lc_name, params.location),
            );
            let linked = best.is_some()
                && wiki
                    .page(tid)
                    .links()
                    .iter()
                    .enumerate()
                    .any(|(i, _)| wiki.resolved_link(tid, i) == best);
            if linked {
                MatchResult::success()
            } else if best.is_some() || wiki.page(tid).links().is_empty() {
                MatchResult::fail()
            } else {
                match_link(
                    wiki,
                    tsubj,
                    subj.name,
                    &MatchParams {
                        cache: None,
                        ..*params
                    },
                    None,
                )
            }
        }
        _ => match_link(
            wiki,
            tsubj,
            subj.name,
            &MatchParams {
                cache: None,
                ..*params
            },
            None,
        ),
    };
    r.influences = Influences::default();
    r.with(params, test, DEPEND_LINKS, false)
}

fn ctime_of(wiki: &Wiki, page: &str) -> Option<i64> {
    wiki.id(page).map(|id| wiki.ctime(id))
}

fn created_cmp(
    wiki: &Wiki,
    page: Subject,
    arg: &str,
    params: &MatchParams,
    before: bool,
) -> MatchResult {
    let test = derel(arg, params.location);
    let Some(tc) = ctime_of(wiki, &test) else {
        return MatchResult::error(format!("{test} does not exist")).with(
            params,
            &test,
            DEPEND_PRESENCE,
            false,
        );
    };
    let pc = page.id.map(|i| wiki.ctime(i)).unwrap_or(0);
    let ok = if before { pc < tc } else { pc > tc };
    let r = if ok {
        MatchResult::success()
    } else {
        MatchResult::fail()
    };
    r.with(params, &test, DEPEND_PRESENCE, false)
}

fn creation_part(wiki: &Wiki, page: Subject, arg: &str, what: &str) -> MatchResult {
    if arg.is_empty() || !arg.bytes().all(|b| b.is_ascii_digit()) {
        return MatchResult::error(format!("invalid {what} {arg}"));
    }
    let want: i64 = arg.parse().unwrap_or(-1);
    let t = page.id.map(|i| wiki.ctime(i)).unwrap_or(0);
    let (y, m, d) = timefmt::ymd(t, wiki.config.timezone.as_deref());
    let have = match what {
        "day" => d,
        "month" => m,
        _ => y,
    };
    if have == want {
        MatchResult::success()
    } else {
        MatchResult::fail()
    }
}

fn call(f: &Func, arg: &str, wiki: &Wiki, subj: Subject, params: &MatchParams) -> MatchResult {
    let page = subj.name;
    match f {
        Func::Glob => match_compiled(wiki, subj, &Glob::new(arg), params),
        Func::Internal => {
            let p = MatchParams {
                internal: true,
                ..*params
            };
            match_compiled(wiki, subj, &Glob::new(arg), &p)
        }
        Func::Page => {
            let r = match_compiled(wiki, subj, &Glob::new(arg), params);
            if r.is_match() && !subj.page(wiki).is_some_and(|p| p.is_page()) {
                return MatchResult::fail();
            }
            r
        }
        Func::Link => match_link(wiki, subj, arg, params, None),
        Func::Backlink => {
            let test = if arg == "." {
                params.location.unwrap_or("")
            } else {
                arg
            };
            match_backlink(wiki, subj, test, params)
        }
        Func::Tagged => {
            let target = link_target(wiki, arg, params, true);
            match_link_target(wiki, subj, &target, params, Some("tag"))
        }
        Func::CreatedBefore => created_cmp(wiki, subj, arg, params, true),
        Func::CreatedAfter => created_cmp(wiki, subj, arg, params, false),
        Func::CreationDay => creation_part(wiki, subj, arg, "day"),
        Func::CreationMonth => creation_part(wiki, subj, arg, "month"),
        Func::CreationYear => creation_part(wiki, subj, arg, "year"),
        Func::User => match params.user {
            None => MatchResult::error("no user specified"),
            Some(None) => MatchResult::fail(),
            Some(Some(u)) => {
                if glob_match(arg, u) {
                    MatchResult::success()
                } else {
                    MatchResult::fail()
                }
            }
        },
        Func::Admin => match params.user {
            None => MatchResult::error("no user specified"),
            Some(None) => MatchResult::fail(),
            Some(Some(u)) => {
                if wiki.config.adminuser.iter().any(|a| a == u) {
                    MatchResult::success()
                } else {
                    MatchResult::fail()
                }
            }
        },
        Func::Ip => match params.ip {
            None => MatchResult::error("no IP specified"),
            Some(ip) => {
                if glob_match(&arg.to_lowercase(), &ip.to_lowercase()) {
                    MatchResult::success()
                } else {
                    MatchResult::fail()
                }
            }
        },
        Func::Enabled => {
            if wiki.config.plugins.enabled(arg) {
                MatchResult::success()
            } else {
                MatchResult::fail()
            }
        }
        Func::SourcePage | Func::DestPage => {
            let which = if *f == Func::SourcePage {
                params.sourcepage
            } else {
                params.destpage
            };
            let glob = derel(arg, params.location);
            match which {
                None => MatchResult::fail(),
                Some(p) => {
                    if match_glob(wiki, p, &glob, params).is_match() {
                        MatchResult::success()
                    } else {
                        MatchResult::fail()
                    }
                }
            }
        }
        Func::Included => match (params.sourcepage, params.destpage) {
            (Some(s), Some(d)) if s != d => MatchResult::success(),
            (Some(_), Some(_)) => MatchResult::fail(),
            _ => MatchResult::fail(),
        },
        Func::MetaField(field) => {
            let meta_val = subj.page(wiki).and_then(|p| p.meta().field(field));
            let val = match (meta_val, *field) {
                (Some(v), _) => Some(v.to_string()),
                (None, "title") => Some(crate::names::pagetitle(page, false)),
                _ => None,
            };
            match val {
                Some(v) => {
                    let r = if glob_match(arg, &v) {
                        MatchResult::success()
                    } else {
                        MatchResult::fail()
                    };
                    r.with(params, page, DEPEND_CONTENT, true)
                }
                None => MatchResult::fail().with(params, page, DEPEND_CONTENT, false),
            }
        }
        Func::IsPage => match subj.page(wiki) {
            Some(p) if p.is_page() => MatchResult::success(),
            _ => MatchResult::fail(),
        },
        Func::MaxSize | Func::MinSize => {
            let Some(limit) = parse_size(arg) else {
                return MatchResult::error(format!("unable to parse \"{arg}\""));
            };
            let size = match (params.file_size, subj.page(wiki)) {
                (Some(size), _) => size,
                (None, Some(p)) => p.size,
                (None, None) => return MatchResult::fail(),
            };
            let ok = if *f == Func::MaxSize {
                size <= limit
            } else {
                size >= limit
            };
            if ok {
                MatchResult::success()
            } else {
                MatchResult::fail()
            }
        }
        Func::MimeType => {
            let mime = params.file_mime.unwrap_or_else(|| crate::mime::guess(page));
            if glob_match(arg, mime) {
                MatchResult::success()
            } else {
                MatchResult::fail()
            }
        }
        Func::VirusFree => MatchResult::success(),
        Func::Comment | Func::CommentPending => {
            let suffix = if *f == Func::Comment {
                "._comment"
            } else {
                "._comment_pending"
            };
            let is_comment = wiki
                .page_named(page)
                .is_some_and(|p| p.file.ends_with(suffix));
            if !is_comment {
                return MatchResult::fail();
            }
            // Comments anywhere below a matching page, as ikiwiki's
            // `glob/*` (parents exclude deeper ones with `!comment(p/*)`).
            let p = MatchParams {
                internal: true,
                ..*params
            };
            match_glob(wiki, page, &format!("{arg}/*"), &p)
        }
        Func::PostComment => match params.location {
            Some(loc) => match_glob(wiki, loc, arg, params),
            None => MatchResult::fail(),
        },
    }
}

/// The link a tag name stands for (`/tagbase/name`).
pub fn tag_link(wiki: &Wiki, tag: &str) -> String {
    match &wiki.config.tagbase {
        Some(base) if !tag.starts_with('/') => {
            let mut s = format!("/{base}/{tag}");
            while s.contains("//") {
                s = s.replace("//", "/");
            }
            s
        }
        _ => tag.to_string(),
    }
}

fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let digits_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let n: f64 = s[..digits_end].parse().ok()?;
    let unit = s[digits_end..].trim().to_ascii_lowercase();
    let mult: f64 = match unit.trim_end_matches('b').trim_end_matches("i") {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some((n * mult) as u64)
}

/// Pages matching `spec`, in page order.
pub fn match_list(
    wiki: &Wiki,
    spec: &PageSpec,
    params: &MatchParams,
) -> Result<Vec<PageId>, String> {
    let mut out = Vec::new();
    for (i, p) in wiki.pages.iter().enumerate() {
        let r = spec.match_page(wiki, &p.name, params);
        if r.is_error() {
            return Err(format!("cannot match pages: {}", r.reason));
        }
        if r.is_match() {
            out.push(i as PageId);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("blog/*", "Blog/post"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(glob_match("*/discussion", "a/b/Discussion"));
        assert!(!glob_match("blog", "blog/x"));
    }

    #[test]
    fn syntax() {
        let fs = AllFunctions;
        assert!(PageSpec::parse("a and (b or !c)", &fs).is_ok());
        assert!(PageSpec::parse("a b", &fs).is_err());
        assert!(PageSpec::parse("(a", &fs).is_err());
        assert!(PageSpec::parse("", &fs).is_err());
        assert!(PageSpec::parse("a and", &fs).is_err());
    }

    #[test]
    fn derel_cases() {
        assert_eq!(derel("./*", Some("plugins/tag")), "plugins/*");
        assert_eq!(derel("./*", Some("index")), "*");
        assert_eq!(derel(".", Some("a/b")), "a/b");
        assert_eq!(derel("x", Some("a/b")), "x");
    }
}
