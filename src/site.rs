//! Everything a pass over the wiki reads but never changes: the scanned
//! [`Wiki`], page texts (read on first use, so a refresh reads only what
//! it renders), the directive registry, templates, Markdown and scrubber
//! settings, plus caches that are safe to share between threads.

use std::sync::{Arc, Mutex, OnceLock, RwLock};

use rustc_hash::FxHashMap;

use crate::config::Config;
use crate::directives::templatebody::TemplateBody;
use crate::directives::{Params, Registry};
use crate::htmltmpl::HtmlTemplate;
use crate::markdown::Markdown;
use crate::pagespec::{PageSpec, SyntaxError};
use crate::preprocess::{find_all, parse_params};
use crate::scrub::Scrubber;
use crate::templates::Templates;
use crate::wiki::{Page, PageId, Wiki};

/// A page's text as read from disk.
#[derive(Debug, Clone, Default)]
pub struct Source {
    pub text: Option<Arc<str>>,
    /// A problem reading it, reported once and shown on the page.
    pub error: Option<String>,
}

/// Reads a page source: UTF-8 expected; invalid bytes are replaced and
/// reported, an unreadable file gives an empty page and an error.
pub fn read_source(p: &Page, config: &Config) -> Source {
    if !p.scanned() {
        return Source::default();
    }
    let path = p.src_path(config);
    let bytes = match p.builtin {
        Some(b) => Ok(b.to_vec()),
        None => std::fs::read(&path),
    };
    match bytes {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(s) => Source {
                text: Some(Arc::from(s)),
                error: None,
            },
            Err(e) => {
                let at = e.utf8_error().valid_up_to();
                let bytes = e.into_bytes();
                let line = bytes[..at].iter().filter(|b| **b == b'\n').count() + 1;
                Source {
                    text: Some(Arc::from(String::from_utf8_lossy(&bytes).into_owned())),
                    error: Some(format!(
                        "{}: not valid UTF-8 (line {line}, byte {at}); the bad bytes are shown as \u{FFFD}. Re-save the file as UTF-8.",
                        path.display()
                    )),
                }
            }
        },
        Err(e) => Source {
            text: Some(Arc::from("")),
            error: Some(format!(
                "{}: cannot read: {e}; fix its permissions and rebuild",
                path.display()
            )),
        },
    }
}

pub struct Site {
    pub wiki: Wiki,
    /// Boxed: a few are read in a refresh, and the cells of the others
    /// are all there is of them (16 bytes, not 48, for each page).
    sources: Vec<OnceLock<Box<Source>>>,
    /// Problems met while reading sources, in the order met.
    read_errors: Mutex<Vec<String>>,
    pub registry: Registry,
    pub templates: Templates,
    pub markdown: Markdown,
    pub scrubber: Option<Scrubber>,
    specs: RwLock<FxHashMap<String, Arc<Result<PageSpec, SyntaxError>>>>,
    wiki_templates: RwLock<FxHashMap<String, Arc<Result<HtmlTemplate, String>>>>,
    smileys: OnceLock<crate::smiley::Smileys>,
    /// The smileys being read on another thread (see `prepare_smileys`).
    smileys_job: Mutex<Option<crate::aside::Aside<crate::smiley::Smileys>>>,
    trails: OnceLock<crate::directives::trail::Trails>,
    /// The page defining shortcuts, when the plugin is on and there is one.
    shortcuts_page: Option<PageId>,
    /// The shortcuts it defines, read when a directive is not a built-in
    /// one: a refresh rendering pages that use none never reads them.
    shortcuts: OnceLock<FxHashMap<String, Arc<dyn crate::directives::Directive>>>,
}

impl Site {
    pub fn new(wiki: Wiki, templates: Templates) -> Site {
        let config = wiki.config.clone();
        let n = wiki.pages.len();
        Site {
            registry: Registry::for_plugins(&config.plugins),
            markdown: Markdown::new(config.mdwn_footnotes),
            scrubber: config.plugins.enabled("htmlscrubber").then(Scrubber::new),
            wiki,
            sources: (0..n).map(|_| OnceLock::new()).collect(),
            read_errors: Mutex::new(Vec::new()),
            templates,
            specs: RwLock::new(FxHashMap::default()),
            wiki_templates: RwLock::new(FxHashMap::default()),
            smileys: OnceLock::new(),
            smileys_job: Mutex::new(None),
            trails: OnceLock::new(),
            shortcuts_page: None,
            shortcuts: OnceLock::new(),
        }
    }

    /// Shortcuts are to be read from page `id` when first needed.
    pub fn shortcuts_from(&mut self, id: PageId) {
        self.shortcuts_page = Some(id);
        self.shortcuts = OnceLock::new();
    }

    /// The directive `name`: a built-in one, else a shortcut.
    pub fn directive(&self, name: &str) -> Option<Arc<dyn crate::directives::Directive>> {
        if let Some(d) = self.registry.get(name) {
            return Some(d.clone());
        }
        let id = self.shortcuts_page?;
        self.shortcuts
            .get_or_init(|| {
                crate::directives::shortcut::defined(
                    self.source(id).unwrap_or(""),
                    &self.wiki.config,
                )
            })
            .get(name)
            .cloned()
    }

    /// Every trail of the wiki, worked out on first use.
    pub fn trails(&self) -> &crate::directives::trail::Trails {
        self.trails
            .get_or_init(|| crate::directives::trail::Trails::compute(&self.wiki, self))
    }

    /// The smileys the `smileys` page lists (none without the page).
    pub fn smileys(&self) -> &crate::smiley::Smileys {
        self.smileys.get_or_init(|| {
            let started = self.smileys_job.lock().ok().and_then(|mut j| j.take());
            if let Some(Some(smileys)) = started.map(|job| job.wait()) {
                return smileys;
            }
            match self.smileys_source() {
                Some(text) => crate::smiley::Smileys::parse(text),
                None => {
                    tracing::warn!("smiley plugin will not work without smileys.mdwn");
                    Default::default()
                }
            }
        })
    }

    /// With the smiley plugin, starts reading the smileys list on another
    /// thread: compiling its pattern takes a millisecond that the first
    /// page rendered would otherwise wait for.
    pub fn prepare_smileys(&self) {
        if !self.wiki.config.plugins.enabled("smiley") || self.smileys.get().is_some() {
            return;
        }
        let Some(text) = self.smileys_source().map(str::to_string) else {
            return;
        };
        if let Ok(mut job) = self.smileys_job.lock() {
            *job = Some(crate::aside::start(move || {
                crate::smiley::Smileys::parse(&text)
            }));
        }
    }

    fn smileys_source(&self) -> Option<&str> {
        let id = self
            .wiki
            .id("smileys")
            .filter(|&i| self.wiki.page(i).is_page())?;
        self.source(id)
    }

    /// Supplies page texts already in memory (tests, tools).
    pub fn set_source(&self, id: PageId, text: &str) {
        let _ = self.sources[id as usize].set(Box::new(Source {
            text: Some(Arc::from(text)),
            error: None,
        }));
    }

    fn load(&self, id: PageId) -> &Source {
        self.sources[id as usize].get_or_init(|| {
            let s = read_source(self.wiki.page(id), &self.wiki.config);
            if let Some(e) = &s.error {
                tracing::error!("{e}");
                if let Ok(mut errs) = self.read_errors.lock() {
                    errs.push(e.clone());
                }
            }
            Box::new(s)
        })
    }

    /// Reads the sources of `ids` now, in parallel.
    pub fn preload(&self, ids: &[PageId]) {
        use rayon::prelude::*;
        ids.par_iter().for_each(|&id| {
            self.load(id);
        });
    }

    pub fn source(&self, id: PageId) -> Option<&str> {
        self.sources.get(id as usize)?;
        self.load(id).text.as_deref()
    }

    pub fn source_error(&self, id: PageId) -> Option<&str> {
        self.sources.get(id as usize)?;
        self.load(id).error.as_deref()
    }

    /// Problems met reading sources so far.
    pub fn read_errors(&self) -> Vec<String> {
        self.read_errors
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default()
    }

    /// A parsed PageSpec, parsed once per distinct text.
    pub fn pagespec(&self, spec: &str) -> Arc<Result<PageSpec, SyntaxError>> {
        if let Some(s) = self.specs.read().ok().and_then(|m| m.get(spec).cloned()) {
            return s;
        }
        let parsed = Arc::new(PageSpec::parse(spec, &self.wiki.config.plugins));
        if let Ok(mut m) = self.specs.write() {
            m.insert(spec.to_string(), parsed.clone());
        }
        parsed
    }

    /// The page `[[!template id=...]]` refers to: `templates/id`, or the
    /// page itself for `/name`.
    pub fn template_page(id: &str) -> String {
        match id.strip_prefix('/') {
            Some(rest) => rest.to_string(),
            None => format!("templates/{id}"),
        }
    }

    /// The template a `[[!template id=...]]` uses: the template page's
    /// `[[!templatebody]]` if it has one, else its whole text; or a raw
    /// `.tmpl` file in the wiki. Returns the template page's name (for
    /// dependencies) and the parsed template.
    pub fn wiki_template(
        &self,
        id: &str,
    ) -> Result<(String, Arc<Result<HtmlTemplate, String>>), String> {
        let tpage = Self::template_page(id);
        let Some(tid) = self.wiki.id(&tpage) else {
            return Err(format!("template {id} not found"));
        };
        if let Some(t) = self
            .wiki_templates
            .read()
            .ok()
            .and_then(|m| m.get(&tpage).cloned())
        {
            return Ok((tpage, t));
        }
        let text: String = match self.source(tid) {
            Some(s) => templatebody_of(s, self.wiki.config.prefix_directives)
                .unwrap_or_else(|| s.to_string()),
            None => std::fs::read_to_string(self.wiki.page(tid).src_path(&self.wiki.config))
                .map_err(|e| format!("cannot read template {tpage}: {e}"))?,
        };
        let parsed = Arc::new(HtmlTemplate::parse(&text).map_err(|e| e.0));
        if let Ok(mut m) = self.wiki_templates.write() {
            m.insert(tpage.clone(), parsed.clone());
        }
        Ok((tpage, parsed))
    }

    /// Renders an item template (inline's `template=`, feeds): a `.tmpl`
    /// file in the wiki's `templates/` directory wins over `templatedir`
    /// and the built-in templates.
    pub fn render_template(&self, name: &str, data: &serde_json::Value) -> Result<String, String> {
        let wiki_file = format!("templates/{name}.tmpl");
        if self.wiki.exists(&wiki_file) {
            let (_, t) = self.wiki_template(&format!("/{wiki_file}"))?;
            let t = t.as_ref().as_ref().map_err(|e| e.clone())?;
            return Ok(match data {
                serde_json::Value::Object(m) => t.render(m),
                _ => t.render(&Default::default()),
            });
        }
        self.templates.render(name, data)
    }

    /// Whether the item template `name` uses variable `var`.
    pub fn template_uses(&self, name: &str, var: &str) -> bool {
        let wiki_file = format!("templates/{name}.tmpl");
        if self.wiki.exists(&wiki_file) {
            return self
                .wiki_template(&format!("/{wiki_file}"))
                .ok()
                .and_then(|(_, t)| t.as_ref().as_ref().ok().map(|t| t.query(var)))
                .unwrap_or(false);
        }
        self.templates.uses(name, var)
    }

    pub fn template_exists(&self, name: &str) -> bool {
        self.wiki.exists(&format!("templates/{name}.tmpl")) || self.templates.has(name)
    }
}

/// The `[[!templatebody]]` of a template page, if it declares one.
pub fn templatebody_of(text: &str, prefix_directives: bool) -> Option<String> {
    if !text.contains("templatebody") {
        return None;
    }
    find_all(text, prefix_directives)
        .into_iter()
        .filter(|d| d.command == "templatebody" && !d.escaped)
        .find_map(|d| TemplateBody::body(&Params::new(parse_params(d.params))).ok())
}
