//! `[[!ping from=URL to=URL]]` (pinger plugin): when `from` is this wiki's
//! `url`, `to` is a mirror to ping after each build; the targets are kept
//! in the page's metadata, where the build collects them.

use super::{Context, Directive, Params};

pub struct Ping;

impl Directive for Ping {
    fn scan(&self) -> bool {
        true
    }

    fn run(&self, cx: &mut Context, params: &Params) -> Result<String, String> {
        let (Some(from), Some(to)) = (params.get("from"), params.get("to")) else {
            return Err("requires 'from' and 'to' parameters".into());
        };
        let url = &cx.wiki().config.url;
        if from.trim_end_matches('/') != url.trim_end_matches('/') {
            return Ok(format!(
                "Ignoring ping directive for wiki {from} (this wiki is {url})"
            ));
        }
        if !cx.state.meta.ping.iter().any(|t| t == to) {
            cx.state.meta.ping.push(to.to_string());
        }
        Ok(format!("Will ping {to}"))
    }
}

/// Every mirror the wiki's pages ask to ping, each once, in page order.
pub fn targets(wiki: &crate::wiki::Wiki) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in &wiki.pages {
        for t in &p.meta().ping {
            if !out.contains(t) {
                out.push(t.clone());
            }
        }
    }
    out
}
