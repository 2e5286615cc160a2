//! Everything a pass over the wiki reads but never changes: the scanned
//! [`Wiki`], page texts, the directive registry, templates, Markdown and
//! scrubber settings, plus caches that are safe to share between threads.

use std::sync::{Arc, RwLock};

use rustc_hash::FxHashMap;

use crate::directives::Registry;
use crate::htmltmpl::HtmlTemplate;
use crate::markdown::Markdown;
use crate::pagespec::{PageSpec, SyntaxError};
use crate::scrub::Scrubber;
use crate::templates::Templates;
use crate::wiki::{PageId, Wiki};

pub struct Site {
    pub wiki: Wiki,
    /// Text of each page source (`None` for raw files and unreadable ones).
    pub sources: Vec<Option<Arc<str>>>,
    /// A problem reading a source, shown at the top of its page.
    pub source_errors: Vec<Option<String>>,
    pub registry: Registry,
    pub templates: Templates,
    pub markdown: Markdown,
    pub scrubber: Option<Scrubber>,
    /// `[[!templatebody]]` contents, by template page name.
    pub templatebodies: FxHashMap<String, String>,
    specs: RwLock<FxHashMap<String, Arc<Result<PageSpec, SyntaxError>>>>,
    wiki_templates: RwLock<FxHashMap<String, Arc<Result<HtmlTemplate, String>>>>,
}

impl Site {
    pub fn new(wiki: Wiki, sources: Vec<Option<Arc<str>>>, templates: Templates) -> Site {
        let config = wiki.config.clone();
        let n = wiki.pages.len();
        Site {
            registry: Registry::for_plugins(&config.plugins),
            markdown: Markdown::new(config.mdwn_footnotes),
            scrubber: config.plugins.enabled("htmlscrubber").then(Scrubber::new),
            wiki,
            sources,
            source_errors: vec![None; n],
            templates,
            templatebodies: FxHashMap::default(),
            specs: RwLock::new(FxHashMap::default()),
            wiki_templates: RwLock::new(FxHashMap::default()),
        }
    }

    pub fn source(&self, id: PageId) -> Option<&str> {
        self.sources.get(id as usize).and_then(|s| s.as_deref())
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

    /// The text of a wiki template used by `[[!template id=...]]`: the
    /// `[[!templatebody]]` of the template page if it has one, else the
    /// page's whole text; or a raw `.tmpl` file in the wiki. Returns the
    /// template page's name (for dependencies) and the parsed template.
    pub fn wiki_template(
        &self,
        id: &str,
    ) -> Result<(String, Arc<Result<HtmlTemplate, String>>), String> {
        let tpage = match id.strip_prefix('/') {
            Some(rest) => rest.to_string(),
            None => format!("templates/{id}"),
        };
        if !self.wiki.exists(&tpage) {
            return Err(format!("template {id} not found"));
        }
        if let Some(t) = self
            .wiki_templates
            .read()
            .ok()
            .and_then(|m| m.get(&tpage).cloned())
        {
            return Ok((tpage, t));
        }
        let id_num = self
            .wiki
            .id(&tpage)
            .ok_or_else(|| format!("template {id} not found"))?;
        let text: String = match self.templatebodies.get(&tpage) {
            Some(body) => body.clone(),
            None => match self.source(id_num) {
                Some(s) => s.to_string(),
                None => std::fs::read_to_string(&self.wiki.page(id_num).src_path)
                    .map_err(|e| format!("cannot read template {tpage}: {e}"))?,
            },
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
