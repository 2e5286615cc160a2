//! Files wikic provides when a wiki (and its underlays) has none: the
//! lowest-precedence underlay, built into the binary so a wiki works with
//! nothing else installed.

/// (path relative to the wiki root, content)
pub const FILES: &[(&str, &[u8])] = &[
    ("style.css", include_bytes!("../basewiki/style.css")),
    ("local.css", include_bytes!("../basewiki/local.css")),
];

/// The built-in content of `rel`, if wikic provides such a file.
pub fn get(rel: &str) -> Option<&'static [u8]> {
    FILES.iter().find(|(p, _)| *p == rel).map(|(_, c)| *c)
}
