//! The htmlscrubber: user HTML is cut down to a safe subset (no scripts,
//! no event handlers, no `javascript:` URLs) with ammonia, using the tag,
//! attribute and URL-scheme lists ikiwiki's htmlscrubber allows.

use std::borrow::Cow;
use std::collections::HashSet;

const TAGS: &[&str] = &[
    "a",
    "abbr",
    "acronym",
    "address",
    "area",
    "b",
    "big",
    "blockquote",
    "br",
    "button",
    "caption",
    "center",
    "cite",
    "code",
    "col",
    "colgroup",
    "dd",
    "del",
    "dfn",
    "dir",
    "div",
    "dl",
    "dt",
    "em",
    "fieldset",
    "font",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "input",
    "ins",
    "kbd",
    "label",
    "legend",
    "li",
    "map",
    "menu",
    "ol",
    "optgroup",
    "option",
    "p",
    "pre",
    "q",
    "s",
    "samp",
    "select",
    "small",
    "span",
    "strike",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "textarea",
    "tfoot",
    "th",
    "thead",
    "tr",
    "tt",
    "u",
    "ul",
    "var",
    "video",
    "audio",
    "source",
    "section",
    "nav",
    "article",
    "aside",
    "hgroup",
    "header",
    "footer",
    "figure",
    "figcaption",
    "time",
    "mark",
    "canvas",
    "datalist",
    "progress",
    "meter",
    "ruby",
    "rt",
    "rp",
    "details",
    "summary",
];

const ATTRIBUTES: &[&str] = &[
    "abbr",
    "accept",
    "accept-charset",
    "accesskey",
    "align",
    "alt",
    "axis",
    "border",
    "cellpadding",
    "cellspacing",
    "char",
    "charoff",
    "charset",
    "checked",
    "class",
    "clear",
    "cols",
    "colspan",
    "color",
    "compact",
    "coords",
    "datetime",
    "dir",
    "disabled",
    "enctype",
    "for",
    "frame",
    "headers",
    "height",
    "hreflang",
    "hspace",
    "id",
    "ismap",
    "label",
    "lang",
    "maxlength",
    "media",
    "method",
    "multiple",
    "name",
    "nohref",
    "noshade",
    "nowrap",
    "prompt",
    "readonly",
    "rel",
    "rev",
    "rows",
    "rowspan",
    "rules",
    "scope",
    "selected",
    "shape",
    "size",
    "span",
    "start",
    "summary",
    "tabindex",
    "target",
    "title",
    "type",
    "valign",
    "value",
    "vspace",
    "width",
    "autofocus",
    "autoplay",
    "preload",
    "loopstart",
    "loopend",
    "end",
    "playcount",
    "controls",
    "pubdate",
    "loop",
    "muted",
    "placeholder",
    "min",
    "max",
    "step",
    "low",
    "high",
    "optimum",
    "form",
    "required",
    "autocomplete",
    "novalidate",
    "pattern",
    "list",
    "formenctype",
    "formmethod",
    "formnovalidate",
    "formtarget",
    "reversed",
    "spellcheck",
    "open",
    "hidden",
    // URL-valued, checked by `is_safe_url`.
    "href",
    "src",
    "action",
    "formaction",
    "cite",
    "longdesc",
    "poster",
    "usemap",
];

const URL_ATTRIBUTES: &[&str] = &[
    "href",
    "src",
    "action",
    "formaction",
    "cite",
    "longdesc",
    "poster",
    "usemap",
];

/// URI schemes the scrubber lets through.
pub const SCHEMES: &[&str] = &[
    "http",
    "https",
    "ftp",
    "mailto",
    "file",
    "telnet",
    "gopher",
    "aaa",
    "aaas",
    "acap",
    "cap",
    "cid",
    "crid",
    "dav",
    "dict",
    "dns",
    "fax",
    "go",
    "h323",
    "im",
    "imap",
    "ldap",
    "mid",
    "news",
    "nfs",
    "nntp",
    "pop",
    "pres",
    "sip",
    "sips",
    "snmp",
    "tel",
    "urn",
    "wais",
    "xmpp",
    "z39.50r",
    "z39.50s",
    "aim",
    "callto",
    "cvs",
    "ed2k",
    "feed",
    "fish",
    "gg",
    "irc",
    "ircs",
    "lastfm",
    "ldaps",
    "magnet",
    "mms",
    "msnim",
    "notes",
    "rsync",
    "secondlife",
    "skype",
    "ssh",
    "sftp",
    "smb",
    "sms",
    "snews",
    "webcal",
    "ymsgr",
    "bitcoin",
    "git",
    "svn",
    "bzr",
    "darcs",
    "hg",
    "data",
];

/// ikiwiki's `safe_url_regexp`: a known scheme, a few `data:image/`
/// types, a relative URL (no colon before the first `/`, `?` or `#`), or
/// a fragment.
pub fn is_safe_url(url: &str) -> bool {
    if url.starts_with('#') {
        return true;
    }
    let lower = url.to_ascii_lowercase();
    for s in SCHEMES {
        if *s != "data"
            && lower.len() > s.len()
            && lower.starts_with(s)
            && lower.as_bytes()[s.len()] == b':'
        {
            return true;
        }
    }
    for t in ["data:image/png", "data:image/jpeg", "data:image/gif"] {
        if lower.starts_with(t) {
            return true;
        }
    }
    // `[^:]+(?:$|[\/\?#])`: at least one non-colon character, then the
    // end of the URL or a / ? # — so either no colon at all, or a
    // separator (not the first character) before the first colon.
    match url.find(':') {
        None => !url.is_empty(),
        Some(colon) => url
            .char_indices()
            .skip(1)
            .take_while(|(i, _)| *i < colon)
            .any(|(_, c)| matches!(c, '/' | '?' | '#')),
    }
}

pub struct Scrubber {
    builder: ammonia::Builder<'static>,
}

impl Scrubber {
    pub fn new() -> Self {
        let mut b = ammonia::Builder::empty();
        b.tags(TAGS.iter().copied().collect::<HashSet<_>>())
            .tag_attributes(Default::default())
            .generic_attributes(ATTRIBUTES.iter().copied().collect::<HashSet<_>>())
            .url_schemes(SCHEMES.iter().copied().collect::<HashSet<_>>())
            .url_relative(ammonia::UrlRelative::PassThrough)
            .link_rel(None)
            .strip_comments(true)
            .attribute_filter(|_element, attribute, value| {
                if URL_ATTRIBUTES.contains(&attribute) && !is_safe_url(value) {
                    None
                } else {
                    Some(Cow::Borrowed(value))
                }
            });
        Scrubber { builder: b }
    }

    pub fn scrub(&self, html: &str) -> String {
        self.builder.clean(html).to_string()
    }
}

impl Default for Scrubber {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_scripts_and_handlers() {
        let s = Scrubber::new();
        let out = s.scrub("<p onclick=\"x()\">hi<script>alert(1)</script> <a href=\"javascript:alert(1)\">x</a> <a href=\"../foo/\" class=\"c\">y</a></p>");
        assert!(!out.contains("onclick"));
        assert!(!out.contains("script"));
        assert!(!out.contains("javascript:"));
        assert!(out.contains("href=\"../foo/\""));
        assert!(out.contains("class=\"c\""));
    }

    #[test]
    fn safe_urls() {
        for u in [
            "http://x",
            "../a/",
            "a/b",
            "#x",
            "?q",
            "data:image/png;base64,xx",
            "mailto:a@b",
            "/abs",
            "x",
        ] {
            assert!(is_safe_url(u), "{u}");
        }
        for u in [
            "javascript:alert(1)",
            "data:text/html,x",
            "vbscript:x",
            "",
            "foo:bar",
        ] {
            assert!(!is_safe_url(u), "{u}");
        }
    }
}
