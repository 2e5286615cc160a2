//! The setup file: ikiwiki's YAML setup files, read unchanged.
//!
//! Keys are read by name from the YAML mapping rather than through a
//! derived struct because ikiwiki setups spell booleans as `0`/`1`, lists
//! sometimes as single strings, and carry keys for plugins of every kind;
//! a key we have never heard of earns a warning, never a failure.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_norway::Value;

use crate::plugins::PluginSet;

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("cannot read setup file {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message} (the setup file is not valid YAML)")]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "{path}: this is a Perl-format ikiwiki setup file; wikic reads YAML setups. \
         Convert it once with: ikiwiki --setup {path} --dumpsetup wiki.yaml --set setuptype=Yaml"
    )]
    PerlFormat { path: PathBuf },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// Every setup key ikiwiki (core and bundled plugins) understands, plus
/// wikic's own. Keys outside this list earn a warning.
const KNOWN_KEYS: &[&str] = &[
    // core
    "wikiname",
    "adminemail",
    "adminuser",
    "banned_users",
    "srcdir",
    "destdir",
    "url",
    "cgiurl",
    "reverse_proxy",
    "cgi_wrapper",
    "cgi_wrappermode",
    "cgi_overload_delay",
    "cgi_overload_message",
    "only_committed_changes",
    "rcs",
    "default_plugins",
    "add_plugins",
    "disable_plugins",
    "templatedir",
    "underlaydir",
    "underlaydirbase",
    "wrappers",
    "underlaydirs",
    "verbose",
    "syslog",
    "usedirs",
    "prefix_directives",
    "indexpages",
    "discussion",
    "discussionpage",
    "html5",
    "sslcookie",
    "default_pageext",
    "htmlext",
    "timeformat",
    "locale",
    "userdir",
    "numbacklinks",
    "hardlink",
    "umask",
    "wrappergroup",
    "libdirs",
    "libdir",
    "ENV",
    "timezone",
    "include",
    "exclude",
    "wiki_file_prune_regexps",
    "wiki_file_chars",
    "wiki_file_regexp",
    "web_commit_regexp",
    "cgi",
    "cgi_disable_uploads",
    "post_commit",
    "rebuild",
    "setup",
    "clean",
    "refresh",
    "test_receive",
    "wrapper_background_command",
    "gettime",
    "w3mmode",
    "wikistatedir",
    "setupfile",
    "setuptype",
    "allow_symlinks_before_srcdir",
    "cookiejar",
    "useragent",
    "responsive_layout",
    "deterministic",
    "setupsyslog",
    // plugins
    "aggregateinternal",
    "aggregate_webtrigger",
    "amazon_s3_key_id",
    "amazon_s3_key_file",
    "amazon_s3_bucket",
    "amazon_s3_prefix",
    "amazon_s3_location",
    "amazon_s3_dupindex",
    "anonok_pagespec",
    "allowed_attachments",
    "virus_checker",
    "autoindex_commit",
    "blogspam_pagespec",
    "blogspam_options",
    "blogspam_server",
    "bzr_wrapper",
    "bzr_wrappermode",
    "historyurl",
    "diffurl",
    "archivebase",
    "archive_pagespec",
    "calendar_autocreate",
    "calendar_fill_gaps",
    "camelcase_ignore",
    "comments_pagespec",
    "comments_closed_pagespec",
    "comments_pagename",
    "comments_allowdirectives",
    "comments_allowauthor",
    "comments_commit",
    "comments_allowformats",
    "cvsrepo",
    "cvspath",
    "cvs_wrapper",
    "cvs_wrappermode",
    "darcs_wrapper",
    "darcs_wrappermode",
    "emailauth_sender",
    "flattr_userid",
    "getsource_mimetype",
    "git_wrapper",
    "git_wrapper_background_command",
    "git_wrappermode",
    "git_test_receive_wrapper",
    "untrusted_committers",
    "gitorigin_branch",
    "gitmaster_branch",
    "tohighlight",
    "filetypes_conf",
    "langdefdir",
    "htmlscrubber_skip",
    "htmltidy",
    "cgiauthurl",
    "httpauth_pagespec",
    "img_allowed_formats",
    "rss",
    "atom",
    "allowrss",
    "allowatom",
    "pingurl",
    "directive_description_dir",
    "locked_pages",
    "multimarkdown",
    "nodiscount",
    "mdwn_footnotes",
    "mdwn_alpha_lists",
    "mercurial_wrapper",
    "mercurial_wrappermode",
    "mirrorlist",
    "mirrorlist_use_cgi",
    "moderate_pagespec",
    "mtn_wrapper",
    "mtn_wrappermode",
    "mtnkey",
    "mtnsync",
    "mtnrootdir",
    "openid_realm",
    "openid_cgiurl",
    "osm_default_zoom",
    "osm_default_icon",
    "osm_alt",
    "osm_format",
    "osm_tag_default_icon",
    "osm_openlayers_url",
    "osm_layers",
    "account_creation_password",
    "password_cost",
    "pinger_timeout",
    "po_master_language",
    "po_slave_languages",
    "po_translatable_pages",
    "po_link_to",
    "prettydateformat",
    "timetable",
    "recentchangespage",
    "recentchangesnum",
    "repositories",
    "rsync_command",
    "omega_cgi",
    "google_search",
    "global_sidebars",
    "svnrepo",
    "svnpath",
    "svn_wrapper",
    "svn_wrappermode",
    "tagbase",
    "tag_autocreate",
    "tag_autocreate_commit",
    "teximg_dvipng",
    "teximg_prefix",
    "teximg_postfix",
    "theme",
    "tla_wrapper",
    "tla_wrappermode",
    "typographyattributes",
    "add_underlays",
    "websetup_force_plugins",
    "websetup_unsafe",
    "websetup_show_unsafe",
    "emailauth_sender",
    "comments_closed_pagespec",
    // wikic
    "jobs",
    "copies",
    "pull_secret",
];

/// A parsed setup file: typed access to the keys, with ikiwiki's defaults.
#[derive(Debug, Clone)]
pub struct Setup {
    /// Path of the setup file, if the wiki came from one.
    pub file: Option<PathBuf>,
    raw: BTreeMap<String, Value>,
    /// Keys that neither ikiwiki nor wikic know.
    pub unknown_keys: Vec<String>,
}

impl Setup {
    /// Reads and parses a YAML setup file.
    pub fn load(path: &Path) -> Result<Setup, SetupError> {
        let text = std::fs::read_to_string(path).map_err(|source| SetupError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut setup = Setup::parse(&text, path)?;
        // Absolute, so that relative paths in the setup resolve the same
        // whatever directory wikic runs from: a hook (which has the
        // canonical path built in) and a user typing `--setup wiki.yaml`
        // must describe the same wiki, or every alternation between them
        // would be a full rebuild.
        setup.file = Some(absolute(path));
        Ok(setup)
    }

    /// Parses setup text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Setup, SetupError> {
        if text.contains("IkiWiki::Setup::Standard") || text.starts_with("#!/usr/bin/perl") {
            return Err(SetupError::PerlFormat {
                path: path.to_path_buf(),
            });
        }
        let value: Value = serde_norway::from_str(text).map_err(|e| {
            let (line, column) = e
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((0, 0));
            let message = e.to_string();
            let message = match message.find(" at line ") {
                Some(i) => message[..i].to_string(),
                None => message,
            };
            SetupError::Syntax {
                path: path.to_path_buf(),
                line,
                column,
                message,
            }
        })?;
        let map = match value {
            Value::Mapping(m) => m,
            Value::Null => Default::default(),
            _ => {
                return Err(SetupError::Invalid {
                    path: path.to_path_buf(),
                    message: "the setup file must be a mapping of `key: value` lines".into(),
                });
            }
        };
        let mut raw = BTreeMap::new();
        let mut unknown_keys = Vec::new();
        for (k, v) in map {
            let key = match k {
                Value::String(s) => s,
                other => value_to_string(&other).unwrap_or_default(),
            };
            if !KNOWN_KEYS.contains(&key.as_str()) {
                unknown_keys.push(key.clone());
            }
            raw.insert(key, v);
        }
        Ok(Setup {
            file: None,
            raw,
            unknown_keys,
        })
    }

    /// A setup for the quick form `wikic SRCDIR DESTDIR`.
    pub fn quick(srcdir: &Path, destdir: &Path) -> Setup {
        let mut s = Setup {
            file: None,
            raw: BTreeMap::new(),
            unknown_keys: Vec::new(),
        };
        // Absolute for the same reason as a setup file's path (see `load`);
        // lexically, as destdir may not exist yet.
        for (key, dir) in [("srcdir", srcdir), ("destdir", destdir)] {
            let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
            s.set_str(key, &dir.to_string_lossy());
        }
        s
    }

    pub fn set_str(&mut self, key: &str, value: &str) {
        self.raw
            .insert(key.to_string(), Value::String(value.to_string()));
    }

    pub fn set_value(&mut self, key: &str, value: Value) {
        self.raw.insert(key.to_string(), value);
    }

    pub fn has(&self, key: &str) -> bool {
        self.raw.get(key).is_some_and(|v| !v.is_null())
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.raw.get(key).filter(|v| !v.is_null())
    }

    pub fn str(&self, key: &str) -> Option<String> {
        self.get(key).and_then(value_to_string)
    }

    pub fn str_or(&self, key: &str, default: &str) -> String {
        self.str(key).unwrap_or_else(|| default.to_string())
    }

    /// Booleans as ikiwiki setups write them: true/false, 1/0, yes/no.
    pub fn flag(&self, key: &str) -> Option<bool> {
        self.get(key).map(value_truthy)
    }

    pub fn flag_or(&self, key: &str, default: bool) -> bool {
        self.flag(key).unwrap_or(default)
    }

    pub fn int(&self, key: &str) -> Option<i64> {
        match self.get(key)? {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            Value::Bool(b) => Some(*b as i64),
            _ => None,
        }
    }

    /// A list of strings; a single string counts as a one-element list.
    pub fn list(&self, key: &str) -> Vec<String> {
        match self.get(key) {
            Some(Value::Sequence(seq)) => seq.iter().filter_map(value_to_string).collect(),
            Some(v) => value_to_string(v).into_iter().collect(),
            None => Vec::new(),
        }
    }

    /// A mapping of string to string (`ENV`, `mirrorlist`).
    pub fn map(&self, key: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        if let Some(Value::Mapping(m)) = self.get(key) {
            for (k, v) in m {
                if let (Some(k), Some(v)) = (value_to_string(k), value_to_string(v)) {
                    out.insert(k, v);
                }
            }
        }
        out
    }

    /// Directory the setup file lives in; relative paths are read from it.
    pub fn base_dir(&self) -> PathBuf {
        self.file
            .as_ref()
            .and_then(|f| f.parent())
            .map(|p| {
                if p.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    p.to_path_buf()
                }
            })
            .unwrap_or_else(|| PathBuf::from("."))
    }

    /// Resolves a path-valued key relative to the setup file's directory.
    pub fn path(&self, key: &str) -> Option<PathBuf> {
        self.str(key).filter(|s| !s.is_empty()).map(|s| {
            let p = PathBuf::from(s);
            if p.is_absolute() {
                p
            } else {
                self.base_dir().join(p)
            }
        })
    }

    /// The plugins this setup enables, with warnings for unknown names.
    pub fn plugins(&self) -> PluginSet {
        let defaults = if self.has("default_plugins") {
            Some(self.list("default_plugins"))
        } else {
            None
        };
        PluginSet::resolve(
            defaults.as_deref(),
            &self.list("add_plugins"),
            &self.list("disable_plugins"),
        )
    }

    /// The setup as YAML, keys sorted, for `--dumpsetup`.
    pub fn dump(&self) -> String {
        let mut map = serde_norway::Mapping::new();
        for (k, v) in &self.raw {
            map.insert(Value::String(k.clone()), v.clone());
        }
        let body = serde_norway::to_string(&Value::Mapping(map)).unwrap_or_default();
        format!("# IkiWiki::Setup::Yaml - YAML formatted setup file\n# written by wikic\n{body}")
    }
}

pub fn value_to_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "1".into() } else { "0".into() }),
        _ => None,
    }
}

pub fn value_truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => {
            let s = s.trim().to_ascii_lowercase();
            !(s.is_empty() || s == "0" || s == "no" || s == "false" || s == "off")
        }
        Value::Null => false,
        Value::Sequence(s) => !s.is_empty(),
        Value::Mapping(m) => !m.is_empty(),
        Value::Tagged(t) => value_truthy(&t.value),
    }
}

/// A setup file's path made absolute: canonical (symlinks resolved, as the
/// wrappers record it) where possible.
fn absolute(path: &Path) -> PathBuf {
    path.canonicalize()
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ikiwiki_style_values() {
        let s = Setup::parse(
            "# IkiWiki::Setup::Yaml - YAML formatted setup file\nwikiname: x\nusedirs: 0\nadd_plugins: goodstuff\nnumbacklinks: '5'\nfrobnicate: 1\n",
            Path::new("w.yaml"),
        )
        .unwrap();
        assert_eq!(s.str("wikiname").as_deref(), Some("x"));
        assert_eq!(s.flag("usedirs"), Some(false));
        assert_eq!(s.list("add_plugins"), vec!["goodstuff"]);
        assert_eq!(s.int("numbacklinks"), Some(5));
        assert_eq!(s.unknown_keys, vec!["frobnicate"]);
    }

    #[test]
    fn syntax_errors_carry_line_and_column() {
        let err = Setup::parse("wikiname: x\nurl: [unclosed\n", Path::new("bad.yaml")).unwrap_err();
        match err {
            SetupError::Syntax { line, .. } => assert!(line >= 2, "{err}"),
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn perl_setups_are_explained() {
        let err =
            Setup::parse("use IkiWiki::Setup::Standard {\n", Path::new("a.setup")).unwrap_err();
        assert!(err.to_string().contains("--dumpsetup"));
    }
}
