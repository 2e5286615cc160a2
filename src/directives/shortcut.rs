//! `[[!shortcut name=x url=...]]` on the shortcuts page defines a new
//! directive `[[!x text]]` that links to the URL with the text filled in
//! (`%s` escaped, `%S` raw, `%W` UTF-8 escaped).

use std::fmt::Write;

use super::{Context, Directive, Params};

/// The definition directive, shown on the shortcuts page.
pub struct ShortcutDef;

impl Directive for ShortcutDef {
    fn run(&self, _cx: &mut Context, params: &Params) -> Result<String, String> {
        let (Some(name), Some(url)) = (params.get("name"), params.get("url")) else {
            return Err("missing name or url parameter".into());
        };
        Ok(format!("shortcut {name} points to <i>{url}</i>"))
    }
}

/// A defined shortcut, callable as a directive.
pub struct Shortcut {
    pub url: String,
    pub desc: Option<String>,
}

/// The shortcuts the text of the shortcuts page defines, by name (the
/// first definition of a name wins, as built-in directives win over all).
pub fn defined(
    text: &str,
    config: &crate::config::Config,
) -> rustc_hash::FxHashMap<String, std::sync::Arc<dyn Directive>> {
    let mut out: rustc_hash::FxHashMap<String, std::sync::Arc<dyn Directive>> = Default::default();
    for d in crate::preprocess::find_all(text, config.prefix_directives) {
        if d.command != "shortcut" || d.escaped {
            continue;
        }
        let params = Params::new(crate::preprocess::parse_params(d.params));
        if let Some((name, sc)) = Shortcut::from_params(&params) {
            out.entry(name).or_insert_with(|| std::sync::Arc::new(sc));
        }
    }
    out
}

impl Shortcut {
    /// Reads a definition's parameters.
    pub fn from_params(params: &Params) -> Option<(String, Shortcut)> {
        let name = params.get("name")?.to_string();
        let url = params.get("url")?.to_string();
        Some((
            name,
            Shortcut {
                url,
                desc: params.get("desc").map(str::to_string),
            },
        ))
    }

    pub fn expand(&self, text: &str, desc_override: Option<&str>) -> String {
        let mut url = String::with_capacity(self.url.len() + text.len());
        let mut chars = self.url.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '%' {
                match chars.peek() {
                    Some('s') => {
                        chars.next();
                        for ch in text.chars() {
                            if ch.is_ascii_alphanumeric() {
                                url.push(ch);
                            } else {
                                let _ = write!(url, "%{:02X}", ch as u32);
                            }
                        }
                        continue;
                    }
                    Some('S') => {
                        chars.next();
                        url.push_str(text);
                        continue;
                    }
                    Some('W') => {
                        chars.next();
                        for b in text.bytes() {
                            if b.is_ascii_alphanumeric() {
                                url.push(b as char);
                            } else {
                                let _ = write!(url, "%{b:02X}");
                            }
                        }
                        continue;
                    }
                    _ => {}
                }
            }
            url.push(c);
        }
        let shown = text.replace('_', " ");
        let desc = match desc_override.or(self.desc.as_deref()) {
            Some(d) => d.replace("%s", &shown),
            None => shown,
        };
        format!("<a href=\"{url}\">{desc}</a>")
    }
}

impl Directive for Shortcut {
    fn run(&self, _cx: &mut Context, params: &Params) -> Result<String, String> {
        let text: Vec<&str> = params
            .pairs
            .iter()
            .filter(|(_, v)| v.is_empty())
            .map(|(k, _)| k.as_str())
            .collect();
        // No dependency is recorded: any change to the shortcuts page's
        // source rebuilds every page (the build plan sees to it), while
        // re-rendering it for its backlinks must not.
        Ok(self.expand(&text.join(" "), params.get("desc")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansions() {
        let s = Shortcut {
            url: "https://x.org/?q=%s&raw=%S&w=%W".into(),
            desc: None,
        };
        assert_eq!(
            s.expand("a b/é", None),
            "<a href=\"https://x.org/?q=a%20b%2F%E9&raw=a b/é&w=a%20b%2F%C3%A9\">a b/é</a>"
        );
        let d = Shortcut {
            url: "http://bugs/%s".into(),
            desc: Some("bug #%s".into()),
        };
        assert_eq!(
            d.expand("12_3", None),
            "<a href=\"http://bugs/12%5F3\">bug #12 3</a>"
        );
        assert_eq!(
            d.expand("1", Some("see %s")),
            "<a href=\"http://bugs/1\">see 1</a>"
        );
    }
}
