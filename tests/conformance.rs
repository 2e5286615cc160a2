//! Every vector recorded from the real ikiwiki (tests/conformance/*.json,
//! copied unchanged from the reference run) must hold for wikic.

use std::sync::{Arc, Mutex};

use serde_json::Value;
use wikic::config::Config;
use wikic::directives::{Context, Directive, Params};
use wikic::names::{linkpage, pagetitle, titlepage};
use wikic::pagespec::MatchParams;
use wikic::plugins::PluginSet;
use wikic::site::Site;
use wikic::templates::Templates;
use wikic::wiki::{Page, Wiki};

fn load(name: &str) -> Value {
    let path = format!("{}/tests/conformance/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// The configuration the vectors were generated with.
fn config(usedirs: bool, cgiurl: &str) -> Config {
    let mut c = Config::for_tests();
    c.plugins = PluginSet::resolve(None, &["tag".into()], &[]);
    c.userdir = "users".into();
    c.tagbase = Some("tags".into());
    c.usedirs = usedirs;
    c.set_urls("http://example.org/wiki", cgiurl);
    c.timezone = Some("UTC".into());
    c
}

/// The small wiki every vector file describes.
fn wiki(vectors: &Value, config: Config) -> Wiki {
    let pages = vectors["wiki"]["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let name = p["name"].as_str().unwrap().to_string();
            let mut page = Page {
                file: format!("{name}.mdwn").into(),
                name,
                kind: Some("mdwn"),
                ctime: p["ctime"].as_i64().unwrap(),
                mtime: p["mtime"].as_i64().unwrap(),
                ..Default::default()
            };
            for l in p["links"].as_array().unwrap() {
                page.add_link(l.as_str().unwrap(), None);
            }
            for t in p["tags"].as_array().unwrap() {
                page.scan.get_mut().typed.insert("tag", t.as_str().unwrap());
            }
            page
        })
        .collect();
    let mut w = Wiki::new(Arc::new(config), pages);
    w.compute_backlinks();
    w
}

fn cases(v: &Value) -> &Vec<Value> {
    v["cases"].as_array().unwrap()
}

#[test]
fn names() {
    let v = load("names.json");
    let mut n = 0;
    for c in v["titlepage_linkpage"].as_array().unwrap() {
        let input = c["input"].as_str().unwrap();
        assert_eq!(
            titlepage(input),
            c["titlepage"].as_str().unwrap(),
            "titlepage({input:?})"
        );
        assert_eq!(
            linkpage(input),
            c["linkpage"].as_str().unwrap(),
            "linkpage({input:?})"
        );
        n += 1;
    }
    for c in v["pagetitle"].as_array().unwrap() {
        let input = c["input"].as_str().unwrap();
        assert_eq!(
            pagetitle(input, false),
            c["pagetitle"].as_str().unwrap(),
            "pagetitle({input:?})"
        );
        assert_eq!(
            pagetitle(input, true),
            c["pagetitle_unescaped"].as_str().unwrap(),
            "pagetitle({input:?}, 1)"
        );
        n += 1;
    }
    assert_eq!(n, 23);
}

#[test]
fn urlto() {
    let v = load("urlto.json");
    let pages_from = load("bestlink.json");
    let mut checked = 0;
    for c in cases(&v) {
        let usedirs = c["usedirs"].as_bool().unwrap();
        let w = wiki(&pages_from, config(usedirs, ""));
        let (from, to) = (c["from"].as_str().unwrap(), c["to"].as_str().unwrap());
        let target = if to.is_empty() { "index" } else { to };
        assert_eq!(
            w.htmlpage(target),
            c["htmlpage"].as_str().unwrap(),
            "htmlpage({to:?}) usedirs={usedirs}"
        );
        assert_eq!(
            w.urlto(to, from),
            c["relative"].as_str().unwrap(),
            "urlto({to:?}, {from:?}) usedirs={usedirs}"
        );
        assert_eq!(
            w.urlto_abs(to),
            c["absolute"].as_str().unwrap(),
            "urlto({to:?}, abs) usedirs={usedirs}"
        );
        checked += 1;
    }
    assert_eq!(checked, 80);
}

#[test]
fn bestlink() {
    let v = load("bestlink.json");
    let w = wiki(&v, config(true, ""));
    let mut failures = Vec::new();
    for c in cases(&v) {
        let (from, link, expect) = (
            c["from"].as_str().unwrap(),
            c["link"].as_str().unwrap(),
            c["expect"].as_str().unwrap(),
        );
        let got = w.bestlink_name(from, link);
        if got != expect {
            failures.push(format!(
                "bestlink({from:?}, {link:?}) = {got:?}, ikiwiki says {expect:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases(&v).len(),
        failures.join("\n")
    );
    assert_eq!(cases(&v).len(), 1288);
}

#[test]
fn linkify() {
    let v = load("linkify.json");
    let mut failures = Vec::new();
    for c in cases(&v) {
        let w = wiki(&v, config(true, c["cgiurl"].as_str().unwrap()));
        let (page, input, expect) = (
            c["page"].as_str().unwrap(),
            c["input"].as_str().unwrap(),
            c["output"].as_str().unwrap(),
        );
        let got = wikic::links::linkify(&w, page, page, input);
        if got != expect {
            failures.push(format!(
                "linkify({page:?}, {input:?}) cgiurl={}\n  got    {got}\n  ikiwiki {expect}",
                c["cgiurl"]
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases(&v).len(),
        failures.join("\n")
    );
    assert_eq!(cases(&v).len(), 108);
}

#[test]
fn pagespec() {
    let v = load("pagespec.json");
    let w = wiki(&v, config(true, ""));
    let plugins = w.config.plugins.clone();
    let mut failures = Vec::new();
    for c in cases(&v) {
        let (page, spec, location) = (
            c["page"].as_str().unwrap(),
            c["spec"].as_str().unwrap(),
            c["location"].as_str().unwrap(),
        );
        let (expect, error) = (
            c["expect"].as_bool().unwrap(),
            c["error"].as_bool().unwrap(),
        );
        let params = MatchParams {
            location: Some(location),
            ..Default::default()
        };
        let (got, got_error) = match wikic::pagespec::PageSpec::parse(spec, &plugins) {
            Ok(s) => {
                let r = s.match_page(&w, page, &params);
                // Narrowing the pages to try must never drop a match or
                // an error.
                if let Some(c) = s.candidates(&w, Some(location))
                    && (r.is_match() || r.is_error())
                    && !c.contains(&w.id(page).unwrap())
                {
                    failures.push(format!("{spec:?}: {page} matches but is not a candidate"));
                }
                (r.is_match(), r.is_error())
            }
            Err(_) => (false, true),
        };
        if got != expect || got_error != error {
            failures.push(format!(
                "{spec:?} on {page:?}: got match={got} error={got_error}, ikiwiki match={expect} error={error}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases(&v).len(),
        failures.join("\n")
    );
    assert_eq!(cases(&v).len(), 1008);
}

type Calls = Arc<Mutex<Vec<Vec<(String, String)>>>>;

/// Records the parameters it is called with, like the generator's probe.
struct Probe {
    output: &'static str,
    calls: Calls,
    record: bool,
}

impl Directive for Probe {
    fn run(&self, _cx: &mut Context, params: &Params) -> Result<String, String> {
        if self.record {
            self.calls.lock().unwrap().push(params.pairs.clone());
        }
        Ok(self.output.to_string())
    }
}

#[test]
fn preprocess() {
    let v = load("preprocess.json");
    assert!(v["prefix_directives"].as_bool().unwrap());
    let w = wiki(&load("bestlink.json"), config(true, ""));
    let mut site = Site::new(w, Templates::new(None).unwrap());
    let calls = Arc::new(Mutex::new(Vec::new()));
    site.registry.add_if_absent(
        "probe",
        Arc::new(Probe {
            output: "<PROBE>",
            calls: calls.clone(),
            record: true,
        }),
    );
    site.registry.add_if_absent(
        "probe2",
        Arc::new(Probe {
            output: "<PROBE2>",
            calls: calls.clone(),
            record: false,
        }),
    );
    let mut n = 0;
    for c in cases(&v) {
        calls.lock().unwrap().clear();
        let input = c["input"].as_str().unwrap();
        let mut cx = Context::new(&site, "sandbox", "sandbox", false);
        let out = cx.preprocess(input);
        assert_eq!(out, c["output"].as_str().unwrap(), "output of {input:?}");
        let expect_calls: Vec<Vec<(String, String)>> = c["calls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|call| {
                call.as_array()
                    .unwrap()
                    .iter()
                    .map(|kv| {
                        (
                            kv[0].as_str().unwrap().to_string(),
                            kv[1].as_str().unwrap().to_string(),
                        )
                    })
                    .collect()
            })
            .collect();
        assert_eq!(
            *calls.lock().unwrap(),
            expect_calls,
            "parameters of {input:?}"
        );
        n += 1;
    }
    assert_eq!(n, 18);
}
