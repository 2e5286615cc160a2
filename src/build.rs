//! The build: setup → scan → preprocess/links → render → write.
//!
//! Every file is read once. Scanning and rendering run on all cores with
//! rayon over an immutable [`Site`]; results are merged in page order, so
//! the output does not depend on the number of threads.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use rayon::prelude::*;
use tracing::{debug, info, warn};

use crate::config::Config;
use crate::directives::shortcut::Shortcut;
use crate::directives::templatebody::TemplateBody;
use crate::directives::{Context, Params};
use crate::links::scan_links;
use crate::preprocess::{find_all, parse_params};
use crate::render::render_page;
use crate::scan::{find_sources, is_internal_file, page_name, page_type};
use crate::site::Site;
use crate::templates::Templates;
use crate::wiki::{Meta, Page, Wiki};
use crate::write::{copy_if_changed, write_if_changed};

#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    pub rebuild: bool,
    pub verbose: bool,
}

/// What a build did, for the command line and tests.
#[derive(Debug, Default)]
pub struct BuildReport {
    pub pages: usize,
    pub files: usize,
    pub written: usize,
    pub unchanged: usize,
    pub warnings: Vec<String>,
    /// Problems that left part of the wiki wrong (unreadable sources,
    /// write failures); the rest was still built.
    pub errors: Vec<String>,
    pub timings: Vec<(&'static str, Duration)>,
}

struct Scanned {
    links: Vec<String>,
    typed: std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
    meta: Meta,
}

/// Reads the sources and builds the scanned site, without writing.
pub fn load_site(config: Arc<Config>, report: &mut BuildReport) -> Result<Site> {
    let t0 = Instant::now();
    let (files, scan_report) = find_sources(&config);
    for w in scan_report.warnings {
        warn!("{w}");
        report.warnings.push(w);
    }
    report.timings.push(("find", t0.elapsed()));

    let t1 = Instant::now();
    type Loaded = (Page, Option<Arc<str>>, Option<String>);
    let loaded: Vec<Loaded> = files
        .par_iter()
        .map(|f| {
            let kind = page_type(&f.rel, &config).map(str::to_string);
            let internal = is_internal_file(&f.rel);
            let name = page_name(&f.rel, &config);
            let mut text = None;
            let mut error = None;
            if kind.is_some() {
                let bytes = match f.builtin {
                    Some(b) => Ok(b.to_vec()),
                    None => std::fs::read(&f.abs),
                };
                match bytes {
                    Ok(bytes) => match String::from_utf8(bytes) {
                        Ok(s) => text = Some(Arc::<str>::from(s)),
                        Err(e) => {
                            let at = e.utf8_error().valid_up_to();
                            let bytes = e.into_bytes();
                            let line = bytes[..at].iter().filter(|b| **b == b'\n').count() + 1;
                            error = Some(format!(
                                "{}: not valid UTF-8 (line {line}, byte {at}); the bad bytes are shown as \u{FFFD}. Re-save the file as UTF-8.",
                                f.abs.display()
                            ));
                            text = Some(Arc::<str>::from(String::from_utf8_lossy(&bytes).into_owned()));
                        }
                    },
                    Err(e) => {
                        error = Some(format!(
                            "{}: cannot read: {e}; fix its permissions and rebuild",
                            f.abs.display()
                        ));
                        text = Some(Arc::<str>::from(""));
                    }
                }
            }
            let page = Page {
                lc_name: name.to_lowercase(),
                name,
                file: f.rel.clone(),
                src_path: f.abs.clone(),
                underlay: f.underlay,
                kind,
                internal,
                ctime: f.ctime,
                mtime: f.mtime,
                size: f.size,
                builtin: f.builtin,
                ..Default::default()
            };
            (page, text, error)
        })
        .collect();
    let mut pages = Vec::with_capacity(loaded.len());
    let mut sources = Vec::with_capacity(loaded.len());
    let mut errors = Vec::with_capacity(loaded.len());
    for (p, t, e) in loaded {
        if let Some(e) = &e {
            tracing::error!("{e}");
            report.errors.push(e.clone());
        }
        pages.push(p);
        sources.push(t);
        errors.push(e);
    }
    report.timings.push(("read", t1.elapsed()));

    let templates = Templates::new(config.templatedir.as_deref())?;
    let wiki = Wiki::new(config.clone(), pages);
    let mut site = Site::new(wiki, sources, templates);
    site.source_errors = errors;

    let t2 = Instant::now();
    collect_templatebodies(&mut site);
    if config.plugins.enabled("shortcut") {
        load_shortcuts(&mut site, report);
    }
    scan_pages(&mut site);
    site.wiki.compute_backlinks();
    report.timings.push(("scan", t2.elapsed()));
    Ok(site)
}

/// `[[!templatebody]]` must be known before any `[[!template]]` runs.
fn collect_templatebodies(site: &mut Site) {
    let prefix = site.wiki.config.prefix_directives;
    let mut bodies = Vec::new();
    for (i, p) in site.wiki.pages.iter().enumerate() {
        let Some(text) = site.sources[i].as_deref() else {
            continue;
        };
        if p.kind.is_none() || !text.contains("templatebody") {
            continue;
        }
        for d in find_all(text, prefix) {
            if d.command == "templatebody"
                && !d.escaped
                && let Ok(body) = TemplateBody::body(&Params::new(parse_params(d.params)))
            {
                bodies.push((p.name.clone(), body));
            }
        }
    }
    site.templatebodies.extend(bodies);
}

/// Shortcuts are directives defined on the `shortcuts` page.
fn load_shortcuts(site: &mut Site, report: &mut BuildReport) {
    let Some(id) = site
        .wiki
        .id("shortcuts")
        .filter(|&i| site.wiki.page(i).kind.is_some())
    else {
        let msg = "shortcut plugin will not work without shortcuts.mdwn".to_string();
        debug!("{msg}");
        report.warnings.push(msg);
        return;
    };
    let Some(text) = site.source(id).map(str::to_string) else {
        return;
    };
    for d in find_all(&text, site.wiki.config.prefix_directives) {
        if d.command != "shortcut" || d.escaped {
            continue;
        }
        if let Some((name, sc)) = Shortcut::from_params(&Params::new(parse_params(d.params))) {
            site.registry.add_if_absent(&name, Arc::new(sc));
        }
    }
}

/// The scan pass: links, tags and metadata of every page.
fn scan_pages(site: &mut Site) {
    let cfg = site.wiki.config.clone();
    let scanned: Vec<Option<Scanned>> = {
        let site: &Site = site;
        (0..site.wiki.pages.len())
            .into_par_iter()
            .map(|i| {
                let p = &site.wiki.pages[i];
                p.kind.as_ref()?;
                let text = site.sources[i].as_deref().unwrap_or("");
                let mut cx = Context::new(site, &p.name, &p.name, true);
                if cfg.discussion {
                    cx.state.add_link(
                        &format!("{}/{}", p.name, cfg.discussionpage.to_lowercase()),
                        None,
                    );
                }
                if text.contains("[[") {
                    cx.preprocess(text);
                    for l in scan_links(text, cfg.prefix_directives) {
                        cx.state.add_link(&l, None);
                    }
                }
                let state = cx.state;
                Some(Scanned {
                    links: state.links,
                    typed: state.typed,
                    meta: state.meta,
                })
            })
            .collect()
    };
    for (p, s) in site.wiki.pages.iter_mut().zip(scanned) {
        if let Some(s) = s {
            p.links = s.links;
            p.typed = s.typed;
            p.meta = s.meta;
        }
    }
}

/// A full build of the wiki described by `config`.
pub fn build(config: Arc<Config>, opts: &BuildOptions) -> Result<BuildReport> {
    let mut report = BuildReport::default();
    let started = Instant::now();
    std::fs::create_dir_all(&config.destdir)
        .with_context(|| format!("cannot create destdir {}", config.destdir.display()))?;
    let site = load_site(config.clone(), &mut report)?;

    let t3 = Instant::now();
    let written = AtomicUsize::new(0);
    let unchanged = AtomicUsize::new(0);
    let destdir = config.destdir.as_path();
    let wiki = &site.wiki;
    let results: Vec<Vec<String>> = (0..wiki.pages.len())
        .into_par_iter()
        .map(|i| {
            let id = i as u32;
            let p = wiki.page(id);
            let mut errs = Vec::new();
            let mut record = |r: std::io::Result<bool>, path: &Path| match r {
                Ok(true) => {
                    written.fetch_add(1, Ordering::Relaxed);
                }
                Ok(false) => {
                    unchanged.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => errs.push(format!("cannot write {}: {e}", path.display())),
            };
            if p.internal {
                return errs;
            }
            match &p.kind {
                Some(_) => {
                    if opts.verbose {
                        info!("building {}", p.file);
                    }
                    let started = Instant::now();
                    let r = render_page(&site, id);
                    let took = started.elapsed();
                    if took > Duration::from_millis(20) {
                        debug!(
                            "slow page {}: {:.1} ms",
                            p.file,
                            took.as_secs_f64() * 1000.0
                        );
                    }
                    let out = destdir.join(wiki.htmlpage(&p.name));
                    record(write_if_changed(&out, r.html.as_bytes()), &out);
                    for (path, data) in &r.state.outputs {
                        let out = destdir.join(path);
                        record(write_if_changed(&out, data), &out);
                    }
                }
                None => {
                    let out = destdir.join(&p.file);
                    match p.builtin {
                        Some(content) => record(write_if_changed(&out, content), &out),
                        None => record(copy_if_changed(&p.src_path, &out, p.mtime, p.size), &out),
                    }
                }
            }
            errs
        })
        .collect();
    for errs in results {
        for e in errs {
            tracing::error!("{e}");
            report.errors.push(e);
        }
    }
    report.timings.push(("render", t3.elapsed()));
    report.pages = wiki
        .pages
        .iter()
        .filter(|p| p.kind.is_some() && !p.internal)
        .count();
    report.files = wiki
        .pages
        .iter()
        .filter(|p| p.kind.is_none() && !p.internal)
        .count();
    report.written = written.into_inner();
    report.unchanged = unchanged.into_inner();
    report.timings.push(("total", started.elapsed()));
    Ok(report)
}
