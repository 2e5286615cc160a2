//! The recentchanges plugin: the last `recentchangesnum` commits as
//! internal pages `recentchanges/change_REV._change` in the transient
//! underlay, which the `recentchanges` page inlines (with feeds when they
//! are on). Brought up to date before each build finds its sources; a
//! build with the same history head leaves them alone.

use anyhow::{Context as _, Result};
use serde_json::{Value, json};

use crate::config::Config;
use crate::names::{encode_entities, pagetitle, uri_escape, uri_escape_keep};
use crate::vcs::Change;

/// Pages a change lists at most; more are shown as "...".
const MAX_PAGES: usize = 10;

fn page_name(config: &Config) -> String {
    config.setup.str_or("recentchangespage", "recentchanges")
}

/// Writes the change pages for the current history, removing those that
/// fell out of the last `recentchangesnum`.
pub fn sync(config: &Config) -> Result<()> {
    if config.rcs.is_none() || !config.plugins.enabled("recentchanges") {
        return Ok(());
    }
    let Some(vcs) = crate::vcs::open(config)? else {
        return Ok(());
    };
    let head = vcs.head()?.unwrap_or_default();
    let marker = config.statedir.join("recentchanges-head");
    let num = config.setup.int("recentchangesnum").unwrap_or(100).max(0) as usize;
    let stamp = format!("{head} {num}");
    let dir = crate::autofile::transient_dir(&config.statedir).join(page_name(config));
    if std::fs::read_to_string(&marker).is_ok_and(|s| s == stamp) && dir.is_dir() {
        return Ok(());
    }
    let changes = vcs.recent_changes(num)?;
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let templates = crate::templates::Templates::new(config.templatedir.as_deref())?;
    let mut keep = rustc_hash::FxHashSet::default();
    for change in &changes {
        let file = format!("change_{}._change", change.rev);
        let path = dir.join(&file);
        keep.insert(file);
        if path.exists() {
            continue;
        }
        let text = templates
            .render("change", &vars(config, change))
            .map_err(anyhow::Error::msg)?;
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        crate::write::set_mtime(&path, change.time);
    }
    for entry in std::fs::read_dir(&dir)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("change_") && name.ends_with("._change") && !keep.contains(&name) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    crate::write::write_atomic(&marker, stamp.as_bytes())
        .with_context(|| format!("cannot write {}", marker.display()))?;
    Ok(())
}

/// `cgiurl?do=goto&page=...`, as links from changes lead through the CGI
/// (the page may be gone).
fn goto_url(config: &Config, page: &str) -> String {
    format!(
        "{}?do=goto&amp;page={}",
        config.local_cgiurl,
        uri_escape(page)
    )
}

/// The change template's variables.
fn vars(config: &Config, change: &Change) -> Value {
    let mut pages: Vec<Value> = Vec::new();
    for file in change.files.iter().take(MAX_PAGES) {
        let page = crate::scan::page_name(file, config);
        let title = pagetitle(&page, false);
        let link = if config.cgiurl.is_empty() {
            title
        } else {
            format!(
                "<a href=\"{}\" rel=\"nofollow\">{title}</a>",
                goto_url(config, &page)
            )
        };
        let diffurl = config.diffurl.as_ref().map(|d| {
            d.replace("[[file]]", &uri_escape_keep(file, "/"))
                .replace("[[sha1_commit]]", &change.rev)
                .replace("[[sha1_parent]]", change.parent.as_deref().unwrap_or(""))
        });
        pages.push(json!({"page": page, "link": link, "diffurl": diffurl}));
    }
    if change.files.len() > MAX_PAGES {
        pages.push(json!({"page": "...", "link": "..."}));
    }
    // Message lines as text: no markup, no wikilinks or directives.
    let message: Vec<String> = change
        .message
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            encode_entities(l)
                .replace('[', "&#91;")
                .replace(']', "&#93;")
        })
        .collect();
    let committype = if change.email.ends_with("@web") {
        "web"
    } else {
        "git"
    };
    let authorurl = (!config.cgiurl.is_empty()).then(|| {
        let userpage = if config.userdir.is_empty() {
            change.author.clone()
        } else {
            format!("{}/{}", config.userdir, change.author)
        };
        goto_url(config, &userpage)
    });
    let permalink = (!config.url.is_empty()).then(|| {
        format!(
            "{}{}/#change-{}",
            config.local_url.trim_end_matches('/'),
            if config.usedirs {
                format!("/{}", page_name(config))
            } else {
                format!("/{}.html", page_name(config))
            },
            change.rev
        )
        .replace(".html/#", ".html#")
    });
    json!({
        "rev": change.rev,
        "author": change.author,
        "user": encode_entities(&change.author),
        "authorurl": authorurl,
        "pages": pages,
        "message": message,
        "committype": committype,
        "commitdate": crate::timefmt::format(change.time, "%X %x", config.timezone.as_deref()),
        "wikiname": config.wikiname,
        "permalink": permalink,
    })
}
