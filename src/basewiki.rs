//! Files wikic provides when a wiki (and its underlays) has none: the
//! lowest-precedence underlay, built into the binary so a wiki works with
//! nothing else installed.

/// A file wikic provides.
pub struct Builtin {
    /// Path relative to the wiki root.
    pub path: &'static str,
    /// The plugin that needs it; `None` for every wiki.
    pub plugin: Option<&'static str>,
    pub content: &'static [u8],
}

pub const FILES: &[Builtin] = &[
    Builtin {
        path: "style.css",
        plugin: None,
        content: include_bytes!("../basewiki/style.css"),
    },
    Builtin {
        path: "local.css",
        plugin: None,
        content: include_bytes!("../basewiki/local.css"),
    },
    Builtin {
        path: "recentchanges.mdwn",
        plugin: Some("recentchanges"),
        content: include_bytes!("../basewiki/recentchanges.mdwn"),
    },
    Builtin {
        path: "ikiwiki/ikiwiki.js",
        plugin: Some("toggle"),
        content: include_bytes!("../basewiki/ikiwiki/ikiwiki.js"),
    },
    Builtin {
        path: "ikiwiki/toggle.js",
        plugin: Some("toggle"),
        content: include_bytes!("../basewiki/ikiwiki/toggle.js"),
    },
];

/// The built-in files a wiki with these plugins gets.
pub fn for_plugins(
    plugins: &crate::plugins::PluginSet,
) -> impl Iterator<Item = &'static Builtin> + '_ {
    FILES
        .iter()
        .filter(move |b| b.plugin.is_none_or(|p| plugins.enabled(p)))
}

/// The built-in content of `rel`, if wikic provides such a file.
pub fn get(rel: &str) -> Option<&'static [u8]> {
    FILES.iter().find(|b| b.path == rel).map(|b| b.content)
}
