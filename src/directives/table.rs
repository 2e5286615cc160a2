//! `[[!table data="""...""" format=csv|dsv header=row|column|no
//! class=... delimiter=... file=...]]`: a table from CSV or
//! delimiter-separated data, given inline or in another file of the wiki.
//! Cells are wiki text.

use super::{Context, Directive, Params, yesno};
use crate::wiki::LinkOpts;

pub struct Table;

impl Directive for Table {
    /// Links in a data file count as links of the page using it.
    fn scan(&self) -> bool {
        true
    }

    fn run(&self, cx: &mut Context, params: &Params) -> Result<String, String> {
        let file = params.get("file");
        let data = match file {
            Some(f) => {
                let wiki = cx.wiki();
                let Some(id) = wiki.id(f) else {
                    return Err("cannot find file".into());
                };
                let path = &wiki.page(id).src_path(&wiki.config);
                let text = match wiki.page(id).builtin {
                    Some(b) => String::from_utf8_lossy(b).into_owned(),
                    None => std::fs::read_to_string(path)
                        .map_err(|e| format!("cannot read {f}: {e}"))?,
                };
                cx.state.add_depends(f, crate::pagespec::DEPEND_CONTENT);
                text
            }
            None => params.get("data").unwrap_or("").to_string(),
        };
        if cx.scan {
            if file.is_some() {
                cx.preprocess(&data);
                for l in crate::links::scan_links(&data, cx.wiki().config.prefix_directives) {
                    cx.state.add_link(&l, None);
                }
            }
            return Ok(String::new());
        }
        let format = params.get("format").unwrap_or("auto").to_lowercase();
        let format = if format == "auto" {
            if is_dsv(&data) {
                "dsv".to_string()
            } else {
                "csv".to_string()
            }
        } else {
            format
        };
        let mut rows: Vec<Vec<String>> = match format.as_str() {
            "csv" => {
                let delimiter = params.get("delimiter").unwrap_or(",");
                split_csv(&data, delimiter)
                    .into_iter()
                    .map(|row| {
                        row.into_iter()
                            .map(|c| crate::links::linkify(cx.wiki(), &cx.page, &cx.destpage, &c))
                            .collect()
                    })
                    .collect()
            }
            "dsv" => {
                let delimiter = params.get("delimiter").unwrap_or("|");
                let linked = crate::links::linkify(cx.wiki(), &cx.page, &cx.destpage, &data);
                split_dsv(&linked, delimiter)
            }
            _ => return Err("unknown data format".into()),
        };
        let header_param = params.get("header").unwrap_or("row").to_lowercase();
        let header = if header_param == "row" || yesno(&header_param) {
            (!rows.is_empty()).then(|| rows.remove(0))
        } else {
            None
        };
        if rows.is_empty() {
            return Err("empty data".into());
        }
        let column_headers = header_param == "column";
        let mut lines = vec![match params.get("class") {
            Some(c) => format!("<table class=\"{c}\">"),
            None => "<table>".to_string(),
        }];
        if let Some(h) = &header {
            lines.push("\t<thead>".into());
            lines.extend(row_html(cx, "th", h, column_headers));
            lines.push("\t</thead>".into());
            lines.push("\t<tbody>".into());
        }
        for r in &rows {
            lines.extend(row_html(cx, "td", r, column_headers));
        }
        if header.is_some() {
            lines.push("\t</tbody>".into());
        }
        lines.push("</table>".into());
        let html = lines.join("\n");
        match file {
            Some(f) => {
                let link = cx.wiki().htmllink(
                    &cx.page,
                    &cx.destpage,
                    f,
                    &LinkOpts {
                        linktext: Some("Direct data download"),
                        ..Default::default()
                    },
                );
                Ok(format!("{html}\n\n{link}"))
            }
            None => Ok(html),
        }
    }
}

/// ikiwiki guesses DSV when the first line has a `|` after something.
fn is_dsv(data: &str) -> bool {
    let first = data.split('\n').next().unwrap_or("");
    first.char_indices().any(|(i, c)| c == '|' && i > 0)
}

/// Each line parsed on its own (fields cannot span lines); lines that do
/// not parse are left out.
fn split_csv(data: &str, delimiter: &str) -> Vec<Vec<String>> {
    let Some(&d) = delimiter.as_bytes().first() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for line in data.split('\n') {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .delimiter(d)
            .flexible(true)
            .from_reader(line.as_bytes());
        if let Some(Ok(record)) = reader.records().next() {
            out.push(record.iter().map(str::to_string).collect());
        }
    }
    out
}

/// Fields between delimiters; empty fields kept (they widen the cell
/// before them).
fn split_dsv(data: &str, delimiter: &str) -> Vec<Vec<String>> {
    data.split('\n')
        .map(|line| {
            if delimiter.is_empty() {
                vec![line.to_string()]
            } else {
                line.split(delimiter).map(str::to_string).collect()
            }
        })
        .collect()
}

fn row_html(cx: &mut Context, elt: &str, cells: &[String], column_headers: bool) -> Vec<String> {
    let kind = cx
        .wiki()
        .page_named(&cx.page)
        .and_then(|p| p.kind)
        .unwrap_or("mdwn");
    let mut out = vec!["\t\t<tr>".to_string()];
    let mut x = 0;
    while x < cells.len() {
        let pre = cx.preprocess(&cells[x]);
        let cell = crate::render::htmlize(cx.site, &cx.page, &cx.destpage, kind, &pre);
        let first = x;
        let mut colspan = 1;
        while x + 1 < cells.len() && cells[x + 1].is_empty() {
            x += 1;
            colspan += 1;
        }
        let e = if first == 0 && column_headers {
            "th"
        } else {
            elt
        };
        if colspan > 1 {
            out.push(format!("\t\t\t<{e} colspan=\"{colspan}\">{cell}</{e}>"));
        } else {
            out.push(format!("\t\t\t<{e}>{cell}</{e}>"));
        }
        x += 1;
    }
    out.push("\t\t</tr>".into());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_guessed_and_split() {
        assert!(is_dsv("a|b\n1|2"));
        assert!(!is_dsv("|a\n"));
        assert!(!is_dsv("a,b"));
        assert_eq!(split_dsv("a||b|", "|"), vec![vec!["a", "", "b", ""]]);
        assert_eq!(
            split_csv("x,\"y, z\",w\n1,2,3", ","),
            vec![vec!["x", "y, z", "w"], vec!["1", "2", "3"]]
        );
        assert_eq!(split_csv("a;b", ";"), vec![vec!["a", "b"]]);
    }
}
