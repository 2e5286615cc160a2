//! `[[!if test="pagespec" then="..." else="..."]]`: conditional text.
//!
//! A test made only of `enabled()`, `sourcepage()`, `destpage()` and
//! `included()` (or with `all=no`) is asked of the page itself; any other
//! test is true when some page in the wiki matches it.

use super::{Context, Directive, Params};

pub struct If;

/// Whether a test only uses the page-independent functions.
fn is_page_test(test: &str) -> bool {
    let mut rest = test;
    let mut seen_any = false;
    loop {
        rest = rest
            .trim_start_matches(|c: char| c.is_whitespace() || c == '!' || c == '(' || c == ')');
        if rest.is_empty() {
            return seen_any;
        }
        let mut matched = false;
        for f in ["enabled(", "sourcepage(", "destpage(", "included("] {
            if let Some(after) = rest.strip_prefix(f) {
                let Some(close) = after.find(')') else {
                    return false;
                };
                rest = &after[close + 1..];
                matched = true;
                break;
            }
        }
        if !matched {
            if let Some(after) = rest.strip_prefix("and").or_else(|| rest.strip_prefix("or")) {
                rest = after;
            } else {
                return false;
            }
        }
        seen_any = true;
    }
}

impl Directive for If {
    fn run(&self, cx: &mut Context, params: &Params) -> Result<String, String> {
        let Some(test) = params.get("test") else {
            return Err("test parameter is required".into());
        };
        let Some(then) = params.get("then") else {
            return Err("then parameter is required".into());
        };
        let test = test.to_string();
        let single = params.get("all").is_some_and(|a| !super::yesno(a)) || is_page_test(&test);
        let result = if single {
            let page = cx.page.clone();
            super::page_matches(cx, &test, &page)
        } else {
            let dest = cx.destpage.clone();
            !super::match_pages_with(
                cx,
                &test,
                crate::pagespec::DEPEND_CONTENT,
                None,
                Some(1),
                Some(&dest),
            )?
            .is_empty()
        };
        let chosen = if result {
            then.to_string()
        } else {
            params.get("else").unwrap_or("").to_string()
        };
        Ok(cx.preprocess(&chosen))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tests() {
        assert!(is_page_test("enabled(tag)"));
        assert!(is_page_test(
            "!sourcepage(plugins/contrib/*) and included()"
        ));
        assert!(!is_page_test("backlink(foo)"));
        assert!(!is_page_test("enabled(tag) and *"));
        assert!(!is_page_test(""));
    }
}
