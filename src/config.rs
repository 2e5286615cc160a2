//! The resolved configuration a build runs with: the setup file's keys
//! with ikiwiki's defaults applied, paths made absolute and URLs split
//! into the parts pages link with.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use regex::Regex;

use crate::plugins::PluginSet;
use crate::setup::Setup;

/// Where ikiwiki keeps its underlays when installed from Debian.
pub const IKIWIKI_UNDERLAY_BASE: &str = "/usr/share/ikiwiki";

#[derive(Debug, Clone)]
pub struct Config {
    pub wikiname: String,
    pub srcdir: PathBuf,
    pub destdir: PathBuf,
    /// Absolute URL of the wiki, without a trailing slash; may be empty.
    pub url: String,
    pub cgiurl: String,
    /// Path-only (or protocol-relative) URL of the wiki root, with a slash.
    pub local_url: String,
    /// The CGI URL as pages link to it.
    pub local_cgiurl: String,
    /// Underlay directories, highest precedence first.
    pub underlays: Vec<PathBuf>,
    pub templatedir: Option<PathBuf>,
    pub usedirs: bool,
    pub indexpages: bool,
    pub htmlext: String,
    pub default_pageext: String,
    pub prefix_directives: bool,
    pub discussion: bool,
    pub discussionpage: String,
    pub userdir: String,
    pub numbacklinks: usize,
    pub timeformat: String,
    pub html5: bool,
    pub responsive_layout: bool,
    pub tagbase: Option<String>,
    pub tag_autocreate: Option<bool>,
    pub historyurl: Option<String>,
    pub diffurl: Option<String>,
    pub rcs: Option<String>,
    pub exclude: Option<Regex>,
    pub include: Option<Regex>,
    pub htmlscrubber_skip: Option<String>,
    pub mdwn_footnotes: bool,
    pub rss: bool,
    pub atom: bool,
    pub allowrss: bool,
    pub allowatom: bool,
    pub deterministic: bool,
    pub timezone: Option<String>,
    pub env: BTreeMap<String, String>,
    pub adminuser: Vec<String>,
    pub locked_pages: Option<String>,
    pub plugins: PluginSet,
    /// wikic's state directory inside srcdir.
    pub statedir: PathBuf,
    /// The setup as given, for the options of individual plugins.
    pub setup: Setup,
}

impl Config {
    /// The directories sources come from, numbered as the index records
    /// them: 0 for srcdir, then the underlays from 1 in order.
    pub fn roots(&self) -> impl Iterator<Item = (u16, &Path)> {
        std::iter::once(self.srcdir.as_path())
            .chain(self.underlays.iter().map(PathBuf::as_path))
            .enumerate()
            .map(|(i, p)| (i as u16, p))
    }

    /// The directory of root `n` (see [`roots`](Self::roots)).
    pub fn root_dir(&self, n: u16) -> Option<&Path> {
        self.roots().nth(n as usize).map(|(_, p)| p)
    }

    pub fn from_setup(setup: &Setup) -> Result<Config> {
        let file = setup
            .file
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "the setup".into());
        let srcdir = setup.path("srcdir").with_context(|| {
            format!("{file}: `srcdir` is not set; add `srcdir: /path/to/wiki/source`")
        })?;
        let destdir = setup.path("destdir").with_context(|| {
            format!("{file}: `destdir` is not set; add `destdir: /path/to/public_html`")
        })?;
        if !srcdir.is_dir() {
            bail!(
                "{file}: srcdir {} is not a directory; create it or fix `srcdir`",
                srcdir.display()
            );
        }
        let plugins = setup.plugins();

        let underlaydirbase = setup
            .path("underlaydirbase")
            .unwrap_or_else(|| PathBuf::from(IKIWIKI_UNDERLAY_BASE));
        let mut underlays: Vec<PathBuf> = Vec::new();
        let mut add_underlay = |dir: PathBuf| {
            if !underlays.contains(&dir) {
                underlays.push(dir);
            }
        };
        for d in setup.list("underlaydirs") {
            add_underlay(PathBuf::from(d));
        }
        if plugins.enabled("underlay") {
            for d in setup.list("add_underlays") {
                let p = PathBuf::from(&d);
                add_underlay(if p.is_absolute() {
                    p
                } else {
                    underlaydirbase.join(p)
                });
            }
        }
        for d in plugins.underlays() {
            let p = underlaydirbase.join(d);
            if p.is_dir() {
                add_underlay(p);
            }
        }
        // An empty `underlaydir` means no underlay; a missing one means
        // ikiwiki's basewiki when it is installed.
        let underlaydir = match setup.path("underlaydir") {
            Some(p) => Some(p),
            None if setup.has("underlaydir") => None,
            None => {
                let p = underlaydirbase.join("basewiki");
                p.is_dir().then_some(p)
            }
        };
        if let Some(p) = underlaydir {
            add_underlay(p);
        }

        let url = setup.str_or("url", "").trim_end_matches('/').to_string();
        let cgiurl = setup.str_or("cgiurl", "");
        let (local_url, local_cgiurl) = local_urls(&url, &cgiurl);

        let regex_key = |key: &str| -> Result<Option<Regex>> {
            match setup.str(key).filter(|s| !s.is_empty()) {
                Some(re) => Regex::new(&re)
                    .map(Some)
                    .with_context(|| format!("{file}: `{key}` is not a valid regular expression")),
                None => Ok(None),
            }
        };

        // ikiwiki's `wikistatedir` names where state lives; wikic's files
        // there (index, lock) do not collide with ikiwiki's (indexdb).
        let statedir = setup
            .path("wikistatedir")
            .unwrap_or_else(|| srcdir.join(".wikic"));
        // Generated pages come right after srcdir.
        if crate::autofile::wanted(&plugins) {
            underlays.insert(0, crate::autofile::transient_dir(&statedir));
        }
        Ok(Config {
            wikiname: setup.str_or("wikiname", "wiki"),
            srcdir,
            destdir,
            url,
            cgiurl,
            local_url,
            local_cgiurl,
            underlays,
            templatedir: setup.path("templatedir").filter(|p| p.is_dir()),
            usedirs: setup.flag_or("usedirs", true),
            indexpages: setup.flag_or("indexpages", false),
            htmlext: setup.str_or("htmlext", "html"),
            default_pageext: setup.str_or("default_pageext", "mdwn"),
            prefix_directives: setup.flag_or("prefix_directives", true),
            discussion: setup.flag_or("discussion", true),
            discussionpage: setup.str_or("discussionpage", "Discussion"),
            userdir: setup.str_or("userdir", ""),
            numbacklinks: setup.int("numbacklinks").unwrap_or(10).max(0) as usize,
            timeformat: setup.str_or("timeformat", "%c"),
            html5: setup.flag_or("html5", false),
            responsive_layout: setup.flag_or("responsive_layout", true),
            tagbase: setup.str("tagbase").filter(|s| !s.is_empty()),
            tag_autocreate: setup.flag("tag_autocreate"),
            historyurl: setup.str("historyurl").filter(|s| !s.is_empty()),
            diffurl: setup.str("diffurl").filter(|s| !s.is_empty()),
            rcs: setup.str("rcs").filter(|s| !s.is_empty()),
            exclude: regex_key("exclude")?,
            include: regex_key("include")?,
            htmlscrubber_skip: setup.str("htmlscrubber_skip").filter(|s| !s.is_empty()),
            mdwn_footnotes: setup.flag_or("mdwn_footnotes", true),
            rss: setup.flag_or("rss", false),
            atom: setup.flag_or("atom", false),
            allowrss: setup.flag_or("allowrss", false),
            allowatom: setup.flag_or("allowatom", false),
            deterministic: setup.flag_or("deterministic", false),
            timezone: setup.str("timezone").filter(|s| !s.is_empty()),
            env: setup.map("ENV"),
            adminuser: setup.list("adminuser"),
            locked_pages: setup.str("locked_pages").filter(|s| !s.is_empty()),
            plugins,
            statedir,
            setup: setup.clone(),
        })
    }

    /// A configuration with defaults only, for tests and tools that build
    /// a wiki in memory.
    pub fn for_tests() -> Config {
        let plugins = PluginSet::resolve(None, &["goodstuff".into()], &[]);
        Config {
            wikiname: "wiki".into(),
            srcdir: PathBuf::from("/nonexistent/src"),
            destdir: PathBuf::from("/nonexistent/dest"),
            url: String::new(),
            cgiurl: String::new(),
            local_url: "/".into(),
            local_cgiurl: String::new(),
            underlays: Vec::new(),
            templatedir: None,
            usedirs: true,
            indexpages: false,
            htmlext: "html".into(),
            default_pageext: "mdwn".into(),
            prefix_directives: true,
            discussion: true,
            discussionpage: "Discussion".into(),
            userdir: String::new(),
            numbacklinks: 10,
            timeformat: "%c".into(),
            html5: false,
            responsive_layout: true,
            tagbase: None,
            tag_autocreate: None,
            historyurl: None,
            diffurl: None,
            rcs: None,
            exclude: None,
            include: None,
            htmlscrubber_skip: None,
            mdwn_footnotes: true,
            rss: false,
            atom: false,
            allowrss: false,
            allowatom: false,
            deterministic: false,
            timezone: Some("UTC".into()),
            env: BTreeMap::new(),
            adminuser: Vec::new(),
            locked_pages: None,
            plugins,
            statedir: PathBuf::from("/nonexistent/src/.wikic"),
            setup: Setup::quick(
                Path::new("/nonexistent/src"),
                Path::new("/nonexistent/dest"),
            ),
        }
    }

    /// Sets url and cgiurl, recomputing the local forms pages link with.
    pub fn set_urls(&mut self, url: &str, cgiurl: &str) {
        self.url = url.trim_end_matches('/').to_string();
        self.cgiurl = cgiurl.to_string();
        let (l, c) = local_urls(&self.url, cgiurl);
        self.local_url = l;
        self.local_cgiurl = c;
    }

    pub fn srcdir_display(&self) -> String {
        self.srcdir.display().to_string()
    }

    pub fn is_under_srcdir(&self, p: &Path) -> bool {
        p.starts_with(&self.srcdir)
    }
}

struct SplitUrl<'a> {
    scheme: &'a str,
    authority: &'a str,
    path: &'a str,
}

fn split_url(url: &str) -> SplitUrl<'_> {
    let (scheme, rest) = match url.find("://") {
        Some(i) => (&url[..i], &url[i + 3..]),
        None => ("", url),
    };
    if scheme.is_empty() {
        return SplitUrl {
            scheme,
            authority: "",
            path: rest,
        };
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let path = path.split(['?', '#']).next().unwrap_or("");
    SplitUrl {
        scheme,
        authority,
        path,
    }
}

/// The wiki root and CGI as pages link to them: host-relative when both
/// live on one host, protocol-relative or absolute when they do not
/// (ikiwiki's `checkconfig`).
fn local_urls(url: &str, cgiurl: &str) -> (String, String) {
    if url.is_empty() {
        return ("/".into(), cgiurl.to_string());
    }
    let base = split_url(url);
    let mut local_url = format!("{}/", base.path);
    let mut local_cgiurl = String::new();
    if !cgiurl.is_empty() {
        let cgi = split_url(cgiurl);
        local_cgiurl = cgi.path.to_string();
        if cgi.scheme == "https" && base.scheme == "http" {
            if cgi.authority != base.authority {
                local_url = format!("{url}/");
                if let Some(rest) = local_url.strip_prefix("http://") {
                    local_url = format!("//{rest}");
                }
            }
            local_cgiurl = cgiurl.to_string();
        } else if cgi.scheme != base.scheme {
            local_url = format!("{url}/");
            local_cgiurl = cgiurl.to_string();
        } else if cgi.authority != base.authority {
            local_url = format!("{url}/");
            for p in ["http://", "https://"] {
                if let Some(rest) = local_url.strip_prefix(p) {
                    local_url = format!("//{rest}");
                }
            }
            local_cgiurl = cgiurl.to_string();
            for p in ["http://", "https://"] {
                if let Some(rest) = local_cgiurl.strip_prefix(p) {
                    local_cgiurl = format!("//{rest}");
                }
            }
        }
    }
    if local_url.ends_with("//") {
        local_url.pop();
    }
    (local_url, local_cgiurl)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_urls_follow_ikiwiki() {
        assert_eq!(
            local_urls("http://example.org/wiki", "http://example.org/ikiwiki.cgi"),
            ("/wiki/".to_string(), "/ikiwiki.cgi".to_string())
        );
        assert_eq!(local_urls("http://example.org", "").0, "/");
        assert_eq!(
            local_urls("http://a.org/w", "http://b.org/cgi"),
            ("//a.org/w/".to_string(), "//b.org/cgi".to_string())
        );
    }
}
