//! Property tests: the parsers never panic on arbitrary input, their
//! results are well formed, and scrubbed HTML is always safe.

use std::sync::{Arc, OnceLock};

use proptest::prelude::*;
use wikic::config::Config;
use wikic::directives::Context;
use wikic::htmltmpl::HtmlTemplate;
use wikic::links::{find_links, linkify, scan_links};
use wikic::pagespec::{MatchParams, PageSpec};
use wikic::preprocess::{find_all, parse_params};
use wikic::scrub::{Scrubber, is_clean};
use wikic::site::Site;
use wikic::templates::Templates;
use wikic::wiki::{Page, ScanData, Wiki};

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(1500)
}

/// Text built from the pieces wiki syntax is made of.
fn wikitext() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("[[".to_string()),
        Just("]]".to_string()),
        Just("[[!".to_string()),
        Just("\\[[".to_string()),
        Just("\"\"\"".to_string()),
        Just("'''".to_string()),
        Just("\"".to_string()),
        Just("=".to_string()),
        Just("|".to_string()),
        Just("#".to_string()),
        Just("<<EOT\n".to_string()),
        Just("\nEOT".to_string()),
        Just("\n".to_string()),
        Just(" ".to_string()),
        Just("!".to_string()),
        Just("inline pages=".to_string()),
        Just("map ".to_string()),
        Just("if test=".to_string()),
        Just("then=".to_string()),
        Just("meta title=".to_string()),
        Just("tag ".to_string()),
        Just("template id=note text=".to_string()),
        Just("toc ".to_string()),
        Just("*".to_string()),
        Just("é".to_string()),
        "[a-zA-Z0-9/_.-]{1,8}",
    ];
    prop::collection::vec(piece, 0..60).prop_map(|v| v.concat())
}

fn test_site() -> &'static Site {
    static SITE: OnceLock<Site> = OnceLock::new();
    SITE.get_or_init(|| {
        let names = [
            "index",
            "sandbox",
            "blog",
            "blog/post",
            "templates/note",
            "tags/foo",
        ];
        let mut pages = Vec::new();
        let mut sources: Vec<&str> = Vec::new();
        for n in names {
            pages.push(Page {
                name: n.to_string(),
                file: format!("{n}.mdwn").into(),
                kind: Some("mdwn"),
                scan: ScanData {
                    links: vec!["sandbox".into(), "blog".into()],
                    ..Default::default()
                }
                .into(),
                ..Default::default()
            });
            let text = if n == "templates/note" {
                "<div class=\"note\"><TMPL_VAR text></div>"
            } else {
                "Some [[sandbox]] text.\n"
            };
            sources.push(text);
        }
        let mut wiki = Wiki::new(Arc::new(Config::for_tests()), pages);
        wiki.compute_backlinks();
        let site = Site::new(wiki, Templates::new(None).unwrap());
        for (i, t) in sources.iter().enumerate() {
            site.set_source(i as u32, t);
        }
        site
    })
}

/// HTML with the constructs a scrubber must handle.
fn htmlish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("<a href=\"".to_string()),
        Just("<a href=".to_string()),
        Just("javascript:alert(1)".to_string()),
        Just("java&#115;cript:x".to_string()),
        Just("&colon;".to_string()),
        Just("\" onclick=\"x()\"".to_string()),
        Just(" onmouseover=y ".to_string()),
        Just("<script>".to_string()),
        Just("</script>".to_string()),
        Just("<img src=x".to_string()),
        Just(" onerror=alert(1)".to_string()),
        Just("<p>".to_string()),
        Just("</p>".to_string()),
        Just("<div class=\"c\">".to_string()),
        Just("</div>".to_string()),
        Just("<!--".to_string()),
        Just("-->".to_string()),
        Just(">".to_string()),
        Just("\"".to_string()),
        Just("'".to_string()),
        Just("/".to_string()),
        Just("<style>".to_string()),
        Just("<svg><a xlink:href=\"javascript:x\">".to_string()),
        "[a-z ]{1,6}",
    ];
    prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

fn assert_safe(html: &str) {
    let doc = scraper::Html::parse_fragment(html);
    for node in doc.tree.nodes() {
        if let scraper::Node::Element(e) = node.value() {
            let name = e.name();
            assert!(
                name != "script" && name != "style" && name != "svg",
                "{name} survived in {html:?}"
            );
            for (attr, value) in e.attrs() {
                assert!(
                    !attr.starts_with("on"),
                    "event handler {attr} survived in {html:?}"
                );
                let v: String = value
                    .chars()
                    .filter(|c| !c.is_whitespace() && !c.is_control())
                    .collect();
                assert!(
                    !v.to_ascii_lowercase().starts_with("javascript:"),
                    "javascript URL survived in {html:?}"
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn directive_finder_is_well_formed(s in wikitext()) {
        let found = find_all(&s, true);
        let mut last = 0;
        for d in &found {
            prop_assert!(d.start >= last && d.end <= s.len() && d.start < d.end);
            prop_assert!(s.is_char_boundary(d.start) && s.is_char_boundary(d.end));
            let opener = if d.escaped { "\\[[" } else { "[[" };
            prop_assert!(s[d.start..].starts_with(opener), "directive at {} does not open", d.start);
            prop_assert!(s[..d.end].ends_with("]]"));
            last = d.end;
            let _ = parse_params(d.params);
        }
        let _ = find_all(&s, false);
        let _ = parse_params(&s);
    }

    #[test]
    fn link_finder_is_well_formed(s in wikitext()) {
        let mut last = 0;
        for l in find_links(&s, true) {
            prop_assert!(l.start >= last && l.end <= s.len());
            prop_assert!(s[..l.end].ends_with("]]"));
            prop_assert!(!l.target.is_empty());
            last = l.end;
        }
        let _ = scan_links(&s, true);
        let _ = find_links(&s, false);
        let _ = linkify(&test_site().wiki, "blog/post", "blog/post", &s);
    }

    #[test]
    fn expanding_directives_never_panics(s in wikitext()) {
        let site = test_site();
        let mut cx = Context::new(site, "blog/post", "blog/post", false);
        let _ = cx.preprocess(&s);
        let mut scan = Context::new(site, "blog/post", "blog/post", true);
        let _ = scan.preprocess(&s);
    }

    #[test]
    fn pagespecs_never_panic(s in "[a-z/*?!() ]{0,30}|(link|tagged|backlink|created_before|page|glob|internal|user|nosuch)\\([a-z/*.]{0,8}\\)( (and|or) !?[a-z*/]{1,5})*") {
        let site = test_site();
        if let Ok(spec) = PageSpec::parse(&s, &site.wiki.config.plugins) {
            for p in &site.wiki.pages {
                let _ = spec.match_page(&site.wiki, &p.name, &MatchParams { location: Some("blog"), ..Default::default() });
            }
            // Testing only the candidates gives the same answer as
            // testing every page.
            let mp = MatchParams { location: Some("blog"), ..Default::default() };
            if let Some(c) = spec.candidates(&site.wiki, Some("blog")) {
                for (i, p) in site.wiki.pages.iter().enumerate() {
                    let r = spec.match_page(&site.wiki, &p.name, &mp);
                    if !c.contains(&(i as u32)) {
                        prop_assert!(!r.is_match() && !r.is_error(), "{s:?}: {} matches but is not a candidate", p.name);
                    }
                }
            }
        }
    }

    #[test]
    fn html_templates_never_panic(s in "(<TMPL_(VAR|IF|ELSE|UNLESS|LOOP) ?[a-z]{0,3}>|</TMPL_(IF|LOOP|UNLESS)>|<!-- TMPL_VAR x -->|[a-z <>\"=]{0,4}){0,20}") {
        if let Ok(t) = HtmlTemplate::parse(&s) {
            let vars: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(r#"{"a":"1","b":"","x":"<","l":[{"a":"2"}]}"#).unwrap();
            let _ = t.render(&vars);
        }
    }

    #[test]
    fn scrubbed_html_is_safe(s in htmlish()) {
        let scrubber = Scrubber::new();
        let out = scrubber.scrub(&s);
        assert_safe(&out);
        if is_clean(&s) {
            assert_safe(&s);
        }
    }
}
