//! `[[!toc levels=2 startlevel=2]]`: a table of contents of the page's
//! headings, filled in once the whole page is rendered (ikiwiki's format
//! stage), with an anchor added to every heading.

use super::{Context, Directive, Params, TocRequest};
use crate::htmlscan::{Token, tokenize};
use crate::names::decode_entities;

pub struct Toc;

impl Directive for Toc {
    fn run(&self, cx: &mut Context, params: &Params) -> Result<String, String> {
        if cx.page != cx.destpage {
            return Ok(String::new());
        }
        let num = |k: &str, default: usize| -> usize {
            params
                .get(k)
                .and_then(|v| v.trim().parse::<f64>().ok())
                .map(|f| f.max(0.0) as usize)
                .unwrap_or(default)
        };
        cx.state.toc = Some(TocRequest {
            levels: num("levels", 1),
            startlevel: num("startlevel", 0),
        });
        Ok("\n<div class=\"toc\"></div>\n".into())
    }
}

fn heading_level(name: &str) -> Option<i64> {
    let rest = name.strip_prefix('h')?;
    if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    rest.parse().ok()
}

fn indent(level: i64) -> String {
    "\t".repeat(level.max(0) as usize)
}

/// Adds heading anchors to `html` and puts the contents list into the
/// first `<div class="toc">`.
pub fn apply(html: &str, req: &TocRequest) -> String {
    let explicit_start = req.startlevel as i64;
    let levels = req.levels as i64;
    let mut startlevel = explicit_start;
    let mut curlevel = startlevel - 1;
    let mut liststarted = false;
    let mut anchors = [0usize; 16];
    let mut page = String::with_capacity(html.len() + 1024);
    let mut index = String::new();
    let mut in_heading = false;

    for tok in tokenize(html) {
        match &tok {
            Token::Start { name, raw, attrs } => {
                let Some(l) = heading_level(name) else {
                    page.push_str(raw);
                    continue;
                };
                let slot = (l as usize).min(anchors.len() - 1);
                anchors[slot] += 1;
                let mut anchor = format!("index{}h{l}", anchors[slot]);
                page.push_str(raw);
                page.push_str(&format!("<a name=\"{anchor}\"></a>"));
                if let Some(id) = attrs
                    .iter()
                    .find(|a| a.name == "id")
                    .and_then(|a| a.value.clone())
                    && !id.is_empty()
                {
                    anchor = id;
                }
                let mut level = l;
                if startlevel == 0 {
                    startlevel = level;
                    curlevel = startlevel - 1;
                } else if explicit_start > 0 && level < explicit_start {
                    continue;
                } else if level < startlevel {
                    level = startlevel;
                }
                if level - startlevel >= levels {
                    continue;
                }
                if level > curlevel {
                    while level > curlevel + 1 {
                        index.push_str(&indent(curlevel));
                        index.push_str("<ol>\n");
                        curlevel += 1;
                        index.push_str(&indent(curlevel));
                        index.push_str(&format!("<li class=\"L{curlevel}\">\n"));
                    }
                    index.push_str(&indent(curlevel));
                    index.push_str("<ol>\n");
                    curlevel = level;
                    liststarted = true;
                } else if level < curlevel {
                    while level < curlevel {
                        if curlevel != 0 {
                            index.push_str(&indent(curlevel));
                            index.push_str("</li>\n");
                        }
                        curlevel -= 1;
                        index.push_str(&indent(curlevel));
                        index.push_str("</ol>\n");
                    }
                    liststarted = false;
                }
                if !liststarted {
                    index.push_str(&indent(curlevel));
                    index.push_str("</li>\n");
                }
                liststarted = false;
                index.push_str(&indent(curlevel));
                index.push_str(&format!("<li class=\"L{curlevel}\"><a href=\"#{anchor}\">"));
                in_heading = true;
            }
            Token::End { name, raw } => {
                if in_heading && heading_level(name).is_some() {
                    in_heading = false;
                    index.push_str("</a>\n");
                }
                page.push_str(raw);
            }
            Token::Text(t) => {
                if in_heading {
                    let d = decode_entities(t);
                    page.push_str(&d);
                    index.push_str(&d);
                } else {
                    page.push_str(t);
                }
            }
            Token::Other(t) => page.push_str(t),
        }
    }
    while startlevel != 0 && curlevel >= startlevel {
        if curlevel != 0 {
            index.push_str(&indent(curlevel));
            index.push_str("</li>\n");
        }
        curlevel -= 1;
        index.push_str(&indent(curlevel));
        index.push_str("</ol>\n");
    }
    const MARK: &str = "<div class=\"toc\">";
    match page.find(MARK) {
        Some(i) => {
            let at = i + MARK.len();
            format!("{}\n{}{}", &page[..at], index, &page[at..])
        }
        None => page,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_nested_list() {
        let html = "<div class=\"toc\"></div>\n<h1>A</h1><h2>B &amp; C</h2><h1 id=\"d\">D</h1>";
        let out = apply(
            html,
            &TocRequest {
                levels: 2,
                startlevel: 0,
            },
        );
        assert!(out.contains("<h1><a name=\"index1h1\"></a>A</h1>"));
        assert!(out.contains("<a href=\"#index1h1\">A</a>"));
        assert!(out.contains("<a href=\"#index1h2\">B & C</a>"));
        assert!(out.contains("<a href=\"#d\">D</a>"));
        assert_eq!(out.matches("<ol>").count(), out.matches("</ol>").count());
    }

    #[test]
    fn levels_limit() {
        let html = "<div class=\"toc\"></div><h2>x</h2><h3>y</h3>";
        let out = apply(
            html,
            &TocRequest {
                levels: 1,
                startlevel: 0,
            },
        );
        assert!(out.contains("#index1h2"));
        assert!(!out.contains("#index1h3"));
    }
}
