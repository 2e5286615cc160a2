//! The template language of ikiwiki's wiki templates (HTML::Template):
//! `<TMPL_VAR name>`, `<TMPL_IF>`/`<TMPL_ELSE>`/`<TMPL_UNLESS>`,
//! `<TMPL_LOOP>`, also written inside HTML comments.
//!
//! Wiki pages use it as content (`templates/*.mdwn` with
//! `[[!template]]`), and a wiki's own `.tmpl` files keep working through
//! it, so it is implemented as HTML::Template behaves with ikiwiki's
//! options: unknown variables are empty, names are case-insensitive,
//! loops see outer variables and get `__first__`-style context variables.

use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq)]
enum Escape {
    None,
    Html,
    Url,
    Js,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Var {
        name: String,
        escape: Escape,
        default: Option<String>,
    },
    If {
        name: String,
        negate: bool,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
    Loop {
        name: String,
        body: Vec<Node>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct HtmlTemplate {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(pub String);

#[derive(Debug)]
struct Tag<'a> {
    start: usize,
    end: usize,
    closing: bool,
    kind: String,
    attrs: &'a str,
}

/// Finds the next template tag at or after `from`.
fn next_tag(s: &str, from: usize) -> Option<Tag<'_>> {
    let bytes = s.as_bytes();
    let mut pos = from;
    while let Some(k) = memchr::memchr(b'<', &bytes[pos..]) {
        let start = pos + k;
        let rest = &s[start..];
        let (inner_start, comment) = if rest.starts_with("<!--") {
            let mut i = start + 4;
            while i < s.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            (i, true)
        } else {
            (start + 1, false)
        };
        let mut i = inner_start;
        let closing = s[i..].starts_with('/');
        if closing {
            i += 1;
        }
        if s.len() >= i + 5 && s[i..i + 5].eq_ignore_ascii_case("tmpl_") {
            let kind_end = s[i + 5..]
                .find(|c: char| !c.is_ascii_alphabetic())
                .map(|e| i + 5 + e)
                .unwrap_or(s.len());
            let kind = s[i + 5..kind_end].to_ascii_uppercase();
            let close = if comment { "-->" } else { ">" };
            if let Some(e) = s[kind_end..].find(close) {
                let attrs_end = kind_end + e;
                let attrs = s[kind_end..attrs_end].trim().trim_end_matches('/').trim();
                return Some(Tag {
                    start,
                    end: attrs_end + close.len(),
                    closing,
                    kind,
                    attrs,
                });
            }
        }
        pos = start + 1;
    }
    None
}

/// Splits `NAME="x" ESCAPE=HTML` or a bare `x` into (name, escape, default).
fn parse_attrs(attrs: &str) -> (String, Escape, Option<String>) {
    let mut name = String::new();
    let mut escape = Escape::None;
    let mut default = None;
    let mut rest = attrs.trim();
    while !rest.is_empty() {
        let key_end = rest
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(rest.len());
        let (key, value, after);
        if rest[key_end..].trim_start().starts_with('=') {
            key = Some(rest[..key_end].to_ascii_lowercase());
            let v = rest[key_end..].trim_start()[1..].trim_start();
            let (val, rem) = take_value(v);
            value = val;
            after = rem;
        } else {
            key = None;
            let (val, rem) = take_value(rest);
            value = val;
            after = rem;
        }
        match key.as_deref() {
            Some("name") | None if name.is_empty() => name = value.to_lowercase(),
            Some("escape") => {
                escape = match value.to_ascii_lowercase().as_str() {
                    "html" | "1" => Escape::Html,
                    "url" => Escape::Url,
                    "js" => Escape::Js,
                    _ => Escape::None,
                }
            }
            Some("default") => default = Some(value),
            _ => {}
        }
        rest = after.trim_start();
    }
    (name, escape, default)
}

fn take_value(s: &str) -> (String, &str) {
    if let Some(q) = s.chars().next().filter(|c| *c == '"' || *c == '\'')
        && let Some(e) = s[1..].find(q)
    {
        return (s[1..1 + e].to_string(), &s[1 + e + 1..]);
    }
    let end = s.find(char::is_whitespace).unwrap_or(s.len());
    (s[..end].to_string(), &s[end..])
}

impl HtmlTemplate {
    /// Parses template text. Unbalanced blocks are errors naming the tag.
    pub fn parse(text: &str) -> Result<HtmlTemplate, TemplateError> {
        let mut pos = 0;
        let (nodes, _) = parse_seq(text, &mut pos, None, 0)?;
        Ok(HtmlTemplate { nodes })
    }

    /// True when the template mentions `name` in any tag.
    pub fn query(&self, name: &str) -> bool {
        fn walk(nodes: &[Node], name: &str) -> bool {
            nodes.iter().any(|n| match n {
                Node::Text(_) => false,
                Node::Var { name: n, .. } => n == name,
                Node::If {
                    name: n,
                    then,
                    otherwise,
                    ..
                } => n == name || walk(then, name) || walk(otherwise, name),
                Node::Loop { name: n, body } => n == name || walk(body, name),
            })
        }
        walk(&self.nodes, &name.to_lowercase())
    }

    /// Fills the template. `vars` keys are matched case-insensitively.
    pub fn render(&self, vars: &Map<String, Value>) -> String {
        let lowered: Map<String, Value> = vars
            .iter()
            .map(|(k, v)| (k.to_lowercase(), v.clone()))
            .collect();
        let mut out = String::new();
        let scopes = vec![&lowered];
        render_nodes(&self.nodes, &scopes, &mut out);
        out
    }
}

/// How a sequence of nodes ended.
#[derive(Debug, PartialEq)]
enum End {
    Eof,
    Else,
    Close,
}

/// Parses nodes until the end of text, or — inside a block of kind
/// `block` — until its `<TMPL_ELSE>` or closing tag.
fn parse_seq(
    text: &str,
    pos: &mut usize,
    block: Option<&str>,
    depth: usize,
) -> Result<(Vec<Node>, End), TemplateError> {
    if depth > 100 {
        return Err(TemplateError("template blocks nested too deeply".into()));
    }
    let mut nodes = Vec::new();
    loop {
        let Some(tag) = next_tag(text, *pos) else {
            if *pos < text.len() {
                nodes.push(Node::Text(text[*pos..].to_string()));
            }
            *pos = text.len();
            return match block {
                Some(b) => Err(TemplateError(format!("missing </TMPL_{b}>"))),
                None => Ok((nodes, End::Eof)),
            };
        };
        if tag.start > *pos {
            nodes.push(Node::Text(text[*pos..tag.start].to_string()));
        }
        *pos = tag.end;
        if tag.closing {
            if block == Some(tag.kind.as_str()) {
                return Ok((nodes, End::Close));
            }
            return Err(TemplateError(format!("unexpected </TMPL_{}>", tag.kind)));
        }
        match tag.kind.as_str() {
            "VAR" => {
                let (name, escape, default) = parse_attrs(tag.attrs);
                nodes.push(Node::Var {
                    name,
                    escape,
                    default,
                });
            }
            "ELSE" => {
                if matches!(block, Some("IF") | Some("UNLESS")) {
                    return Ok((nodes, End::Else));
                }
                return Err(TemplateError("<TMPL_ELSE> outside <TMPL_IF>".into()));
            }
            "IF" | "UNLESS" => {
                let (name, _, _) = parse_attrs(tag.attrs);
                let kind = tag.kind.clone();
                let (then, end) = parse_seq(text, pos, Some(&kind), depth + 1)?;
                let otherwise = if end == End::Else {
                    let (o, end2) = parse_seq(text, pos, Some(&kind), depth + 1)?;
                    if end2 == End::Else {
                        return Err(TemplateError(format!(
                            "two <TMPL_ELSE> in one <TMPL_{kind}>"
                        )));
                    }
                    o
                } else {
                    Vec::new()
                };
                nodes.push(Node::If {
                    name,
                    negate: kind == "UNLESS",
                    then,
                    otherwise,
                });
            }
            "LOOP" => {
                let (name, _, _) = parse_attrs(tag.attrs);
                let (body, _) = parse_seq(text, pos, Some("LOOP"), depth + 1)?;
                nodes.push(Node::Loop { name, body });
            }
            // TMPL_INCLUDE is refused in wiki templates (they are untrusted).
            _ => {}
        }
    }
}

fn lookup<'v>(scopes: &[&'v Map<String, Value>], name: &str) -> Option<&'v Value> {
    scopes.iter().rev().find_map(|s| s.get(name))
}

fn truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => !(s.is_empty() || s == "0"),
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(_)) => true,
    }
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => (if *b { "1" } else { "" }).to_string(),
        Value::Null => String::new(),
        Value::Array(a) => a.len().to_string(),
        Value::Object(_) => String::new(),
    }
}

fn escape(s: &str, how: &Escape) -> String {
    match how {
        Escape::None => s.to_string(),
        Escape::Html => {
            let mut o = String::with_capacity(s.len());
            for c in s.chars() {
                match c {
                    '&' => o.push_str("&amp;"),
                    '"' => o.push_str("&quot;"),
                    '<' => o.push_str("&lt;"),
                    '>' => o.push_str("&gt;"),
                    '\'' => o.push_str("&#39;"),
                    _ => o.push(c),
                }
            }
            o
        }
        Escape::Url => crate::names::uri_escape(s),
        Escape::Js => s
            .replace('\\', "\\\\")
            .replace('\'', "\\'")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
            .replace('\r', "\\r"),
    }
}

fn render_nodes(nodes: &[Node], scopes: &[&Map<String, Value>], out: &mut String) {
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Var {
                name,
                escape: how,
                default,
            } => match lookup(scopes, name) {
                Some(v) if !matches!(v, Value::Null) => out.push_str(&escape(&as_text(v), how)),
                _ => {
                    if let Some(d) = default {
                        out.push_str(&escape(d, how));
                    }
                }
            },
            Node::If {
                name,
                negate,
                then,
                otherwise,
            } => {
                let t = truthy(lookup(scopes, name)) != *negate;
                render_nodes(if t { then } else { otherwise }, scopes, out);
            }
            Node::Loop { name, body } => {
                if let Some(Value::Array(items)) = lookup(scopes, name) {
                    let n = items.len();
                    for (i, item) in items.iter().enumerate() {
                        let mut local: Map<String, Value> = match item {
                            Value::Object(m) => m
                                .iter()
                                .map(|(k, v)| (k.to_lowercase(), v.clone()))
                                .collect(),
                            _ => Map::new(),
                        };
                        local.insert("__first__".into(), Value::Bool(i == 0));
                        local.insert("__last__".into(), Value::Bool(i + 1 == n));
                        local.insert("__inner__".into(), Value::Bool(i > 0 && i + 1 < n));
                        local.insert("__odd__".into(), Value::Bool(i % 2 == 0));
                        local.insert("__counter__".into(), Value::from(i + 1));
                        let mut inner: Vec<&Map<String, Value>> = scopes.to_vec();
                        inner.push(&local);
                        render_nodes(body, &inner, out);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(t: &str, v: Value) -> String {
        let t = HtmlTemplate::parse(t).unwrap();
        t.render(v.as_object().unwrap())
    }

    #[test]
    fn vars_ifs_and_loops() {
        assert_eq!(render("a <TMPL_VAR name> b", json!({"NAME": "x"})), "a x b");
        assert_eq!(
            render(
                "<TMPL_IF core>yes<TMPL_ELSE>no</TMPL_IF>",
                json!({"core": "1"})
            ),
            "yes"
        );
        assert_eq!(
            render("<TMPL_IF core>yes<TMPL_ELSE>no</TMPL_IF>", json!({})),
            "no"
        );
        assert_eq!(
            render("<TMPL_UNLESS x>u</TMPL_UNLESS>", json!({"x": "0"})),
            "u"
        );
        assert_eq!(
            render(
                "<TMPL_LOOP l><TMPL_VAR a><TMPL_UNLESS __last__>,</TMPL_UNLESS></TMPL_LOOP>",
                json!({"l": [{"a": 1}, {"a": 2}]})
            ),
            "1,2"
        );
        assert_eq!(
            render(
                "<!-- TMPL_VAR x --> <TMPL_VAR NAME=\"y\" ESCAPE=HTML>",
                json!({"x": "1", "y": "<"})
            ),
            "1 &lt;"
        );
        assert_eq!(
            render(
                "<TMPL_IF a><TMPL_IF b>ab<TMPL_ELSE>a</TMPL_IF><TMPL_ELSE>none</TMPL_IF>",
                json!({"a":1})
            ),
            "a"
        );
    }

    #[test]
    fn query_and_errors() {
        let t = HtmlTemplate::parse("<TMPL_IF x><TMPL_VAR y></TMPL_IF>").unwrap();
        assert!(t.query("X") && t.query("y") && !t.query("z"));
        assert!(HtmlTemplate::parse("<TMPL_IF x>").is_err());
        assert!(HtmlTemplate::parse("</TMPL_LOOP>").is_err());
    }
}
