//! `[[!meta field=value]]`: page metadata (title, author, date, ...) and
//! `<head>` elements (stylesheets, redirects, robots, links).

use super::{Context, Directive, Params};
use crate::names::{decode_entities, encode_entities};
use crate::pagespec::DEPEND_PRESENCE;
use crate::scrub::is_safe_url;
use crate::timefmt;

pub struct MetaDirective;

fn safe_url(cx: &Context, url: &str) -> bool {
    cx.site.scrubber.is_none() || is_safe_url(url)
}

/// Scrubs a head element when the htmlscrubber is on.
fn scrub(cx: &Context, html: String) -> String {
    match &cx.site.scrubber {
        Some(s) => s.scrub(&html),
        None => html,
    }
}

impl Directive for MetaDirective {
    fn scan(&self) -> bool {
        true
    }

    fn run(&self, cx: &mut Context, params: &Params) -> Result<String, String> {
        let Some((key, raw_value)) = params.first() else {
            return Ok(String::new());
        };
        let key = key.to_string();
        let value = decode_entities(raw_value);
        // Parameters other than the field itself.
        let rest: Vec<(String, String)> = params.pairs[1..]
            .iter()
            .filter(|(k, _)| *k != key)
            .cloned()
            .collect();
        let rest_get = |k: &str| {
            rest.iter()
                .rev()
                .find(|(kk, _)| kk == k)
                .map(|(_, v)| v.clone())
        };
        let tz = cx.site.wiki.config.timezone.clone();
        let page = cx.page.clone();
        let value_is_safe = safe_url(cx, &value);
        let meta = &mut cx.state.meta;

        match key.as_str() {
            "title" => {
                meta.title = Some(value);
                meta.titlesort = rest_get("sortas");
                return Ok(String::new());
            }
            "description" => meta.description = Some(value.clone()),
            "guid" => meta.guid = Some(value.clone()),
            "license" => {
                cx.state
                    .metaheaders
                    .push("<link rel=\"license\" href=\"#pagelicense\" />".into());
                cx.state.meta.license = Some(value);
                return Ok(String::new());
            }
            "copyright" => {
                cx.state
                    .metaheaders
                    .push("<link rel=\"copyright\" href=\"#pagecopyright\" />".into());
                cx.state.meta.copyright = Some(value);
                return Ok(String::new());
            }
            "link" if rest.is_empty() => {
                cx.state.add_link(&value, None);
                return Ok(String::new());
            }
            "enclosure" => {
                let wiki = cx.wiki();
                let Some(target) = wiki.bestlink(&page, &value) else {
                    return Err("enclosure not found".into());
                };
                let tname = wiki.page(target).name.clone();
                cx.state.add_depends(&tname, DEPEND_PRESENCE);
                cx.state.meta.enclosure = Some(wiki.urlto_abs(&tname));
                cx.state.meta.enclosurefile = Some(tname);
            }
            "author" => {
                meta.author = Some(value.clone());
                meta.authorsort = rest_get("sortas");
            }
            "authorurl" if value_is_safe => {
                cx.state.meta.authorurl = Some(value.clone());
            }
            "permalink" if value_is_safe => {
                cx.state.meta.permalink = Some(value.clone());
            }
            "date" => match timefmt::parse_date(&value, tz.as_deref()) {
                Some(t) => meta.date = Some(t),
                None => return Err(format!("cannot parse date/time: {value}")),
            },
            "updated" => match timefmt::parse_date(&value, tz.as_deref()) {
                Some(t) => meta.updated = Some(t),
                None => return Err(format!("cannot parse date/time: {value}")),
            },
            "redir" if !starts_with_scheme(&value) => {
                // Record the target in the scan pass so cycle checks see
                // every page's redirect, whatever the render order.
                let target = value.split('#').next().unwrap_or("");
                if let Some(t) = cx.wiki().bestlink(&page, target) {
                    cx.state.meta.redir = Some(cx.wiki().page(t).name.clone());
                }
            }
            _ => {}
        }
        if cx.scan {
            return Ok(String::new());
        }

        let header = match key.as_str() {
            "permalink" => safe_url(cx, &value).then(|| {
                scrub(
                    cx,
                    format!(
                        "<link rel=\"bookmark\" href=\"{}\" />",
                        encode_entities(&value)
                    ),
                )
            }),
            "stylesheet" => {
                let rel = rest_get("rel").unwrap_or_else(|| "alternate stylesheet".into());
                let title = rest_get("title").unwrap_or_else(|| value.clone());
                let wiki = cx.wiki();
                let Some(css) = wiki.bestlink(&page, &format!("{value}.css")) else {
                    return Err("stylesheet not found".into());
                };
                let url = wiki.urlto(&wiki.page(css).name, &cx.destpage);
                Some(scrub(
                    cx,
                    format!(
                        "<link href=\"{url}\" rel=\"{}\" title=\"{}\" type=\"text/css\" />",
                        encode_entities(&rel),
                        encode_entities(&title)
                    ),
                ))
            }
            "script" => {
                let wiki = cx.wiki();
                let Some(js) = wiki.bestlink(&page, &format!("{value}.js")) else {
                    return Err("script not found".into());
                };
                let url = wiki.urlto(&wiki.page(js).name, &cx.destpage);
                let defer = if rest_get("defer").is_some() {
                    " defer=\"defer\""
                } else {
                    ""
                };
                let asy = if rest_get("async").is_some() {
                    " async=\"async\""
                } else {
                    ""
                };
                Some(format!(
                    "<script src=\"{url}\"{defer}{asy} type=\"text/javascript\"></script>"
                ))
            }
            "openid" => {
                let delegate = match rest_get("delegate").map(|d| d.to_lowercase()) {
                    Some(d) if d == "openid" => 1,
                    Some(d) if d == "openid2" => 2,
                    _ => 0,
                };
                let mut h = Vec::new();
                if let Some(server) = rest_get("server").filter(|s| safe_url(cx, s)) {
                    let s = encode_entities(&server);
                    if delegate != 2 {
                        h.push(format!("<link href=\"{s}\" rel=\"openid.server\" />"));
                    }
                    if delegate != 1 {
                        h.push(format!("<link href=\"{s}\" rel=\"openid2.provider\" />"));
                    }
                }
                if safe_url(cx, &value) {
                    let v = encode_entities(&value);
                    if delegate != 2 {
                        h.push(format!("<link href=\"{v}\" rel=\"openid.delegate\" />"));
                    }
                    if delegate != 1 {
                        h.push(format!("<link href=\"{v}\" rel=\"openid2.local_id\" />"));
                    }
                }
                if let Some(x) = rest_get("xrds-location").filter(|s| safe_url(cx, s)) {
                    h.push(format!(
                        "<meta http-equiv=\"X-XRDS-Location\" content=\"{}\" />",
                        encode_entities(&x)
                    ));
                }
                cx.state.metaheaders.extend(h);
                None
            }
            "foaf" => safe_url(cx, &value).then(|| {
                format!(
                    "<link rel=\"meta\" type=\"application/rdf+xml\" title=\"FOAF\" href=\"{}\" />",
                    encode_entities(&value)
                )
            }),
            "redir" => {
                if cx.page != cx.destpage {
                    return Ok(String::new());
                }
                let delay: i64 = rest_get("delay")
                    .and_then(|d| d.trim().parse::<f64>().ok())
                    .map(|f| f as i64)
                    .unwrap_or(0);
                if !starts_with_scheme(&value) {
                    let mut parts = value.splitn(2, '#');
                    let target = parts.next().unwrap_or("");
                    let anchor = parts.next();
                    let wiki = cx.wiki();
                    let Some(link) = wiki.bestlink(&page, target) else {
                        return Err("redir page not found".into());
                    };
                    let lname = wiki.page(link).name.clone();
                    cx.state.add_depends(&lname, DEPEND_PRESENCE);
                    // Follow the chain of redirects looking for a cycle.
                    let mut seen: Vec<String> = Vec::new();
                    let mut at = page.clone();
                    loop {
                        let next = if at == page {
                            Some(lname.clone())
                        } else {
                            wiki.page_named(&at).and_then(|p| p.meta().redir.clone())
                        };
                        let Some(next) = next else { break };
                        if seen.contains(&at) {
                            return Err("redir cycle is not allowed".into());
                        }
                        seen.push(at);
                        at = next;
                    }
                    let mut url = wiki.urlto(&lname, &page);
                    if let Some(a) = anchor {
                        url.push('#');
                        url.push_str(a);
                    }
                    Some(format!(
                        "<meta http-equiv=\"refresh\" content=\"{delay}; URL={url}\" />"
                    ))
                } else {
                    Some(scrub(
                        cx,
                        format!(
                            "<meta http-equiv=\"refresh\" content=\"{delay}; URL={}\" />",
                            encode_entities(&value)
                        ),
                    ))
                }
            }
            "link" => {
                let attrs: Vec<String> = rest
                    .iter()
                    .map(|(k, v)| {
                        format!(
                            "{}=\"{}\"",
                            encode_entities(k),
                            encode_entities(&decode_entities(v))
                        )
                    })
                    .collect();
                Some(scrub(
                    cx,
                    format!(
                        "<link href=\"{}\" {} />\n",
                        encode_entities(&value),
                        attrs.join(" ")
                    ),
                ))
            }
            "robots" => Some(format!(
                "<meta name=\"robots\" content=\"{}\" />",
                encode_entities(&value)
            )),
            "description" | "author" => Some(format!(
                "<meta name=\"{key}\" content=\"{}\" />",
                encode_entities(&value)
            )),
            "name" => {
                let attrs: Vec<String> = rest.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
                Some(scrub(
                    cx,
                    format!(
                        "<meta name=\"{}\" {} />",
                        encode_entities(&value),
                        attrs.join(" ")
                    ),
                ))
            }
            "keywords" => {
                let kept: String = value
                    .chars()
                    .filter(|c| c.is_alphanumeric() || *c == ',' || *c == ' ')
                    .collect();
                Some(format!(
                    "<meta name=\"keywords\" content=\"{}\" />",
                    encode_entities(&kept)
                ))
            }
            "guid" | "authorurl" | "date" | "updated" | "enclosure" => Some(scrub(
                cx,
                format!(
                    "<meta name=\"{}\" content=\"{}\" />",
                    encode_entities(&key),
                    encode_entities(&value)
                ),
            )),
            _ => Some(scrub(
                cx,
                format!(
                    "<meta name=\"{}\" content=\"{}\" />",
                    encode_entities(&key),
                    encode_entities(&value)
                ),
            )),
        };
        if let Some(h) = header.filter(|h| !h.is_empty()) {
            cx.state.metaheaders.push(h);
        }
        Ok(String::new())
    }
}

fn starts_with_scheme(v: &str) -> bool {
    match v.find("://") {
        Some(i) => i > 0 && v[..i].chars().all(|c| c.is_alphanumeric() || c == '_'),
        None => false,
    }
}
