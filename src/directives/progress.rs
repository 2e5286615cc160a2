//! `[[!progress percent=N]]` or `[[!progress totalpages="spec"
//! donepages="spec"]]`: a progress bar.

use std::sync::LazyLock;

use regex::Regex;

use super::{Context, Directive, Params};
use crate::pagespec::DEPEND_PRESENCE;

pub struct Progress;

static PERCENT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[0-9]+%?").unwrap());

impl Directive for Progress {
    fn run(&self, cx: &mut Context, params: &Params) -> Result<String, String> {
        let fill = if let Some(p) = params.get("percent") {
            // As ikiwiki: the first number in the value, with or without %.
            let n = PERCENT
                .find(p)
                .map(|m| m.as_str().trim_end_matches('%').to_string())
                .filter(|n| n.parse::<u64>().is_ok_and(|v| v <= 100));
            match n {
                Some(n) => format!("{n}%"),
                None => return Err(format!("illegal percent value {p}")),
            }
        } else if let (Some(total), Some(done)) =
            (params.get("totalpages"), params.get("donepages"))
        {
            let (total, done) = (total.to_string(), done.to_string());
            let total = super::match_pages(cx, &total, DEPEND_PRESENCE, None)?.len();
            let done = super::match_pages(cx, &done, DEPEND_PRESENCE, None)?.len();
            match (done * 100).checked_div(total) {
                Some(p) => format!("{p}%"),
                None => "100%".to_string(),
            }
        } else {
            return Err("need either `percent` or `totalpages` and `donepages` parameters".into());
        };
        Ok(format!(
            "<div class=\"progress\">\n  <div class=\"progress-done\" style=\"width: {fill}\">{fill}</div>\n</div>\n"
        ))
    }
}

static SCRUBBED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"<div class="progress-done">([0-9]+%?)</div>"#).unwrap());

/// The format stage: the HTML scrubber removes the bar's width; put it
/// back.
pub fn format(html: &str) -> Option<String> {
    if !html.contains("<div class=\"progress-done\">") {
        return None;
    }
    Some(
        SCRUBBED
            .replace_all(
                html,
                "<div class=\"progress-done\" style=\"width: $1\">$1</div>",
            )
            .into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_restores_the_width() {
        let out = format("<div class=\"progress-done\">42%</div>").unwrap();
        assert_eq!(
            out,
            "<div class=\"progress-done\" style=\"width: 42%\">42%</div>"
        );
        assert_eq!(format("<p>x</p>"), None);
    }
}
