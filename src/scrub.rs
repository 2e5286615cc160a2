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

fn is_allowed_tag(name: &str) -> bool {
    TAGS.iter().any(|t| t.eq_ignore_ascii_case(name))
}

fn is_allowed_attr(name: &str) -> bool {
    ATTRIBUTES.iter().any(|t| t.eq_ignore_ascii_case(name))
}

/// A strict, conservative check that `html` contains nothing the
/// scrubber would remove: only allowed tags in plain `<name attr="v">`
/// form, only allowed attributes, safe entity-free URLs, no comments or
/// declarations. Anything unusual answers `false`, and the full scrubber
/// runs.
pub fn is_clean(html: &str) -> bool {
    clean_check(html).is_ok()
}

/// [`is_clean`], telling where the first problem is.
pub fn clean_check(html: &str) -> Result<(), usize> {
    let b = html.as_bytes();
    let mut i = 0;
    // Open elements: a stray or mismatched end tag needs the scrubber's
    // tree repair, so it answers `false` too.
    let mut open: Vec<&str> = Vec::new();
    while let Some(k) = memchr::memchr(b'<', &b[i..]) {
        i += k + 1;
        let Some(&c) = b.get(i) else { return Err(i) };
        if c == b'/' {
            i += 1;
            let s = i;
            while i < b.len() && b[i].is_ascii_alphanumeric() {
                i += 1;
            }
            if i == s || !is_allowed_tag(&html[s..i]) {
                return Err(i);
            }
            match open.pop() {
                Some(t) if t.eq_ignore_ascii_case(&html[s..i]) => {}
                _ => return Err(i),
            }
            while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
                i += 1;
            }
            if b.get(i) != Some(&b'>') {
                return Err(i);
            }
            i += 1;
            continue;
        }
        if !c.is_ascii_alphabetic() {
            return Err(i);
        }
        let s = i;
        while i < b.len() && b[i].is_ascii_alphanumeric() {
            i += 1;
        }
        let tag = &html[s..i];
        if !is_allowed_tag(tag) {
            return Err(i);
        }
        let mut self_closed = false;
        loop {
            let ws = i;
            while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
                i += 1;
            }
            match b.get(i) {
                Some(b'>') => {
                    i += 1;
                    break;
                }
                Some(b'/') if b.get(i + 1) == Some(&b'>') => {
                    i += 2;
                    self_closed = true;
                    break;
                }
                Some(c) if c.is_ascii_alphabetic() && i > ws => {}
                _ => return Err(i),
            }
            let ns = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'-') {
                i += 1;
            }
            let name = &html[ns..i];
            if !is_allowed_attr(name) {
                return Err(i);
            }
            let mut j = i;
            while j < b.len() && matches!(b[j], b' ' | b'\t' | b'\n' | b'\r') {
                j += 1;
            }
            if b.get(j) != Some(&b'=') {
                continue;
            }
            j += 1;
            while j < b.len() && matches!(b[j], b' ' | b'\t' | b'\n' | b'\r') {
                j += 1;
            }
            let (vs, ve, next) = match b.get(j) {
                Some(&q @ (b'"' | b'\'')) => {
                    let Some(e) = memchr::memchr(q, &b[j + 1..]) else {
                        return Err(j);
                    };
                    (j + 1, j + 1 + e, j + 1 + e + 1)
                }
                Some(_) => {
                    let mut e = j;
                    while e < b.len()
                        && !matches!(
                            b[e],
                            b' ' | b'\t' | b'\n' | b'\r' | b'"' | b'\'' | b'=' | b'<' | b'>' | b'`'
                        )
                    {
                        e += 1;
                    }
                    if e == j {
                        return Err(i);
                    }
                    (j, e, e)
                }
                None => return Err(i),
            };
            let value = &html[vs..ve];
            if value.bytes().any(|c| c < 0x20 && c != b'\t' && c != b'\n') {
                return Err(i);
            }
            if URL_ATTRIBUTES.iter().any(|u| u.eq_ignore_ascii_case(name))
                && !is_plain_safe_url(value)
            {
                return Err(i);
            }
            i = next;
        }
        if !self_closed && !is_void(tag) {
            open.push(tag);
        }
    }
    if open.is_empty() {
        Ok(())
    } else {
        Err(html.len())
    }
}

/// A URL attribute value that is safe as a browser will read it. A
/// character reference (`&name;`, `&#N;`) must be one of `&amp; &lt; &gt;
/// &quot;` or numeric, and is decoded before checking; a lone `&` (as in
/// `?a=1&b=2`) is literal. No whitespace or control characters.
fn is_plain_safe_url(value: &str) -> bool {
    if value.contains('&') {
        let b = value.as_bytes();
        for (i, _) in value.match_indices('&') {
            let rest = &b[i + 1..];
            let name_len = rest
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == b'#')
                .count();
            if rest.get(name_len) != Some(&b';') {
                // Not a reference with a semicolon. HTML's references
                // without one never decode to ':' or whitespace.
                continue;
            }
            let name = &value[i + 1..i + 1 + name_len];
            let ok = matches!(name, "amp" | "lt" | "gt" | "quot")
                || name.strip_prefix('#').is_some_and(|n| {
                    !n.is_empty()
                        && (n.bytes().all(|c| c.is_ascii_digit())
                            || n.strip_prefix(['x', 'X']).is_some_and(|h| {
                                !h.is_empty() && h.bytes().all(|c| c.is_ascii_hexdigit())
                            }))
                });
            if !ok {
                return false;
            }
        }
        let decoded = crate::names::decode_entities(value);
        return !decoded.chars().any(|c| c <= ' ' || c.is_control()) && is_safe_url(&decoded);
    }
    !value.bytes().any(|c| c <= b' ') && is_safe_url(value)
}

fn is_void(tag: &str) -> bool {
    ["br", "hr", "img", "input", "col", "area", "source", "wbr"]
        .iter()
        .any(|v| v.eq_ignore_ascii_case(tag))
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

    /// Scrubs `html`. HTML that already passes every rule is returned
    /// unchanged, without a parse and re-serialisation.
    pub fn scrub(&self, html: &str) -> String {
        if is_clean(html) {
            return html.to_string();
        }
        if tracing::enabled!(tracing::Level::TRACE)
            && let Err(at) = clean_check(html)
        {
            let from = html.floor_char_boundary(at.saturating_sub(40));
            let to = html.floor_char_boundary((at + 40).min(html.len()));
            tracing::trace!("scrubbing, because of: {:?}", &html[from..to]);
        }
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
    fn clean_check_is_conservative() {
        for ok in [
            "<p>hi <a href=\"../x/\" class=\"c\">x</a><br /></p>",
            "plain",
            "<img src=\"a.png\" alt=\"a\">",
            "<a href=\"http://x.org/?a=1&amp;b=2\">q</a>",
            "<a href=\"http://x.org/?a=1&b=2\">q</a>",
        ] {
            assert!(is_clean(ok), "{ok}");
        }
        for bad in [
            "<script>x</script>",
            "<p onclick=\"x\">",
            "<a href=\"javascript:alert(1)\">",
            "<a href=\"javascript&#58;alert(1)\">",
            "<a href=\"javascript&colon;alert(1)\">",
            "<a href=\"java&#9;script:alert(1)\">",
            "<!-- c -->",
            "<img src=x onerror=alert(1)>",
            "<img/src=x>",
            "<a href=\" javascript:x\">",
            "<p",
            "<style>",
            "<a title='x' <script>",
            "1 < 2",
            "<div><p>x</div></p>",
            "</div>",
            "<div>",
        ] {
            assert!(!is_clean(bad), "{bad}");
        }
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
