//! Plugins, by ikiwiki's names: which are enabled for a setup.
//!
//! ikiwiki is a small core plus one plugin per feature; setups switch
//! features on and off by plugin name (`add_plugins`, `disable_plugins`,
//! the `goodstuff` bundle). wikic keeps those names so setups carry over,
//! and so `enabled(...)` in a PageSpec answers as ikiwiki would.

use std::collections::BTreeSet;

use rustc_hash::FxHashSet;

/// Plugins ikiwiki enables when the setup does not say otherwise.
pub const DEFAULT_PLUGINS: &[&str] = &[
    "mdwn",
    "link",
    "inline",
    "meta",
    "htmlscrubber",
    "passwordauth",
    "openid",
    "signinedit",
    "lockedit",
    "conditional",
    "recentchanges",
    "parentlinks",
    "editpage",
    "templatebody",
];

/// The `goodstuff` bundle.
pub const GOODSTUFF: &[&str] = &[
    "brokenlinks",
    "img",
    "map",
    "more",
    "orphans",
    "pagecount",
    "pagestats",
    "progress",
    "shortcut",
    "smiley",
    "tag",
    "table",
    "template",
    "toc",
    "toggle",
    "repolist",
];

/// Every plugin name shipped with ikiwiki 3.20200202.
pub const IKIWIKI_PLUGINS: &[&str] = &[
    "404",
    "aggregate",
    "amazon_s3",
    "anonok",
    "attachment",
    "autoindex",
    "blogspam",
    "brokenlinks",
    "bzr",
    "calendar",
    "camelcase",
    "color",
    "comments",
    "conditional",
    "creole",
    "cutpaste",
    "cvs",
    "darcs",
    "date",
    "ddate",
    "editdiff",
    "editpage",
    "edittemplate",
    "emailauth",
    "embed",
    "external",
    "favicon",
    "filecheck",
    "flattr",
    "format",
    "fortune",
    "getsource",
    "git",
    "goodstuff",
    "google",
    "goto",
    "graphviz",
    "haiku",
    "headinganchors",
    "highlight",
    "hnb",
    "html",
    "htmlbalance",
    "htmlscrubber",
    "htmltidy",
    "httpauth",
    "img",
    "inline",
    "link",
    "linkmap",
    "listdirectives",
    "localstyle",
    "lockedit",
    "loginselector",
    "map",
    "mdwn",
    "mercurial",
    "meta",
    "mirrorlist",
    "moderatedcomments",
    "monotone",
    "more",
    "norcs",
    "notifyemail",
    "opendiscussion",
    "openid",
    "orphans",
    "osm",
    "otl",
    "pagecount",
    "pagestats",
    "pagetemplate",
    "parentlinks",
    "passwordauth",
    "pingee",
    "pinger",
    "po",
    "poll",
    "polygen",
    "postsparkline",
    "prettydate",
    "progress",
    "rawhtml",
    "recentchanges",
    "recentchangesdiff",
    "relativedate",
    "remove",
    "rename",
    "repolist",
    "rsync",
    "search",
    "shortcut",
    "sidebar",
    "signinedit",
    "smiley",
    "sortnaturally",
    "sparkline",
    "svn",
    "table",
    "tag",
    "template",
    "templatebody",
    "testpagespec",
    "teximg",
    "textile",
    "theme",
    "tla",
    "toc",
    "toggle",
    "trail",
    "transient",
    "txt",
    "typography",
    "underlay",
    "userlist",
    "version",
    "websetup",
    "wikitext",
    "wmd",
];

/// Plugins wikic implements (or that need nothing at build time). An
/// enabled plugin outside this list draws a warning: its directives are
/// left in pages as written, as ikiwiki does with unknown directives.
pub const IMPLEMENTED: &[&str] = &[
    "mdwn",
    "link",
    "inline",
    "meta",
    "htmlscrubber",
    "conditional",
    "parentlinks",
    "templatebody",
    "tag",
    "template",
    "toc",
    "map",
    "shortcut",
    "pagecount",
    "orphans",
    "brokenlinks",
    "toggle",
    "more",
    "progress",
    "color",
    "smiley",
    "table",
    "pagestats",
    "repolist",
    "img",
    "format",
    "highlight",
    "sidebar",
    "trail",
    "comments",
    "calendar",
    "recentchanges",
    "edittemplate",
    "pinger",
    "version",
    "goodstuff",
    "transient",
    "norcs",
    "goto",
    "html",
    "txt",
    // Web-side plugins: no effect on a build.
    "passwordauth",
    "openid",
    "signinedit",
    "lockedit",
    "editpage",
    "emailauth",
    "loginselector",
    "httpauth",
    "anonok",
    "opendiscussion",
    "moderatedcomments",
];

/// Plugins that pull in other plugins when loaded.
const DEPENDENCIES: &[(&str, &[&str])] = &[
    ("404", &["goto"]),
    ("attachment", &["filecheck"]),
    ("autoindex", &["transient"]),
    ("calendar", &["transient"]),
    ("comments", &["goto", "inline", "transient"]),
    ("emailauth", &["loginselector"]),
    ("openid", &["emailauth", "loginselector"]),
    ("postsparkline", &["sparkline"]),
    ("recentchanges", &["goto", "transient"]),
    ("tag", &["transient"]),
];

/// Underlay directories (under `underlaydirbase`) a plugin brings.
pub const UNDERLAYS: &[(&str, &[&str])] = &[
    ("attachment", &["attachment", "javascript", "jquery"]),
    ("listdirectives", &["directives"]),
    ("loginselector", &["login-selector", "jquery"]),
    ("osm", &["osm"]),
    ("recentchangesdiff", &["javascript"]),
    ("relativedate", &["javascript"]),
    ("smiley", &["smiley"]),
    ("toggle", &["javascript"]),
];

/// The enabled plugins, in the order ikiwiki would load them.
#[derive(Debug, Clone, Default)]
pub struct PluginSet {
    order: Vec<String>,
    // Asked for every page and directive: a hash set (a B-tree lookup
    // was a visible share of a refresh).
    set: FxHashSet<String>,
    /// Names in `add_plugins` that ikiwiki does not ship.
    pub unknown: Vec<String>,
    page_types: PageTypes,
}

/// Which plugins rendering a page type are on: asked for every source
/// file of every refresh, where a set lookup each time showed.
#[derive(Debug, Clone, Copy, Default)]
pub struct PageTypes {
    pub mdwn: bool,
    pub html: bool,
    pub txt: bool,
    pub comments: bool,
    pub recentchanges: bool,
}

impl PluginSet {
    /// `default_plugins` (or ikiwiki's defaults) plus `add_plugins`, minus
    /// `disable_plugins`, with bundles expanded and dependencies loaded.
    pub fn resolve(defaults: Option<&[String]>, add: &[String], disable: &[String]) -> Self {
        let mut wanted: Vec<String> = match defaults {
            Some(d) => d.to_vec(),
            None => DEFAULT_PLUGINS.iter().map(|s| s.to_string()).collect(),
        };
        wanted.extend(add.iter().cloned());
        let disabled: BTreeSet<&str> = disable.iter().map(|s| s.as_str()).collect();
        let mut out = PluginSet::default();
        for name in &wanted {
            if disabled.contains(name.as_str()) {
                continue;
            }
            out.load(name, &disabled);
        }
        out
    }

    fn load(&mut self, name: &str, disabled: &BTreeSet<&str>) {
        if self.set.contains(name) {
            return;
        }
        if !IKIWIKI_PLUGINS.contains(&name) && !self.unknown.iter().any(|u| u == name) {
            self.unknown.push(name.to_string());
            return;
        }
        self.set.insert(name.to_string());
        self.order.push(name.to_string());
        let t = &mut self.page_types;
        match name {
            "mdwn" => t.mdwn = true,
            "html" => t.html = true,
            "txt" => t.txt = true,
            "comments" => t.comments = true,
            "recentchanges" => t.recentchanges = true,
            _ => {}
        }
        if name == "goodstuff" {
            for p in GOODSTUFF {
                if !disabled.contains(p) {
                    self.load(p, disabled);
                }
            }
        }
        for (p, deps) in DEPENDENCIES {
            if *p == name {
                for d in *deps {
                    self.load(d, disabled);
                }
            }
        }
    }

    /// Enabled plugins wikic does not implement.
    pub fn unimplemented(&self) -> Vec<&str> {
        self.order
            .iter()
            .map(|s| s.as_str())
            .filter(|p| !IMPLEMENTED.contains(p))
            .collect()
    }

    pub fn enabled(&self, name: &str) -> bool {
        self.set.contains(name)
    }

    pub fn page_types(&self) -> PageTypes {
        self.page_types
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.order.iter().map(|s| s.as_str())
    }

    /// Underlay directory names the enabled plugins bring, in precedence
    /// order (ikiwiki prepends each new one, so the last loaded wins).
    pub fn underlays(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        for name in &self.order {
            for (p, dirs) in UNDERLAYS {
                if p == name {
                    for d in *dirs {
                        if !out.contains(d) {
                            out.insert(0, d);
                        }
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goodstuff_expands_and_dependencies_load() {
        let p = PluginSet::resolve(None, &["goodstuff".into(), "table".into()], &[]);
        for name in [
            "tag",
            "transient",
            "toc",
            "map",
            "inline",
            "loginselector",
            "goto",
        ] {
            assert!(p.enabled(name), "{name}");
        }
        assert!(!p.enabled("version"));
        assert!(p.unknown.is_empty());
        assert_eq!(
            p.underlays(),
            vec!["javascript", "smiley", "jquery", "login-selector"]
        );
    }

    #[test]
    fn disable_and_unknown() {
        let p = PluginSet::resolve(None, &["frob".into()], &["htmlscrubber".into()]);
        assert!(!p.enabled("htmlscrubber"));
        assert_eq!(p.unknown, vec!["frob"]);
    }
}
