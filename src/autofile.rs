//! Pages plugins create when the wiki needs them (ikiwiki's autofiles):
//! a page for each tag (`tag_autocreate`) and the calendar's archive
//! pages (`calendar_autocreate`). They are written to the transient
//! underlay in the state directory — never into srcdir — where a page of
//! the same name in srcdir hides them, as any underlay page.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use rustc_hash::FxHashMap;
use serde_json::json;

use crate::config::Config;
use crate::site::Site;

/// Where generated pages live: an underlay searched right after srcdir.
pub fn transient_dir(statedir: &Path) -> PathBuf {
    statedir.join("transient")
}

/// Whether the enabled plugins may generate pages.
pub fn wanted(plugins: &crate::plugins::PluginSet) -> bool {
    plugins.enabled("tag") || plugins.enabled("calendar") || plugins.enabled("recentchanges")
}

/// A page to generate: its name, its text, and the time it is dated.
struct Wanted {
    name: String,
    text: String,
    time: i64,
}

/// Writes the pages the wiki wants and does not have; returns how many
/// were written (the caller finds sources again when any were).
pub fn create_missing(site: &Site) -> Result<usize> {
    let config = &site.wiki.config;
    let mut wanted: FxHashMap<String, Wanted> = FxHashMap::default();
    if config.plugins.enabled("tag") {
        tag_pages(site, &mut wanted)?;
    }
    if config.plugins.enabled("calendar") {
        archive_pages(site, &mut wanted)?;
    }
    let dir = transient_dir(&config.statedir);
    let mut written = 0;
    let mut names: Vec<&String> = wanted.keys().collect();
    names.sort();
    for name in names {
        let w = &wanted[name];
        let path = dir.join(format!("{}.{}", w.name, default_ext(config)));
        if path.exists() {
            continue;
        }
        tracing::info!("creating {}", w.name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, &w.text)
            .with_context(|| format!("cannot write {}", path.display()))?;
        // Dated by what it collects, so every build makes the same page.
        crate::write::set_mtime(&path, w.time);
        written += 1;
    }
    Ok(written)
}

fn default_ext(config: &Config) -> String {
    config.setup.str_or("default_pageext", "mdwn")
}

fn tag_pages(site: &Site, wanted: &mut FxHashMap<String, Wanted>) -> Result<()> {
    let wiki = &site.wiki;
    let cfg = &wiki.config;
    if !cfg.tag_autocreate.unwrap_or(cfg.tagbase.is_some()) {
        return Ok(());
    }
    for p in &wiki.pages {
        for link in p.tags() {
            let name = link
                .strip_prefix("./")
                .or_else(|| link.strip_prefix('/'))
                .unwrap_or(link);
            if name.is_empty() || wiki.id_lc(&name.to_lowercase()).is_some() {
                continue;
            }
            let tag = match &cfg.tagbase {
                Some(base) => name
                    .strip_prefix(&format!("{base}/"))
                    .unwrap_or(name)
                    .to_string(),
                None => name.to_string(),
            };
            let time = wiki.ctime(wiki.id(&p.name).unwrap_or_default());
            match wanted.get_mut(name) {
                Some(w) => w.time = w.time.min(time),
                None => {
                    let text = site
                        .render_template(
                            "autotag",
                            &json!({"tag": tag, "tagname": crate::names::pagetitle(&tag, true)}),
                        )
                        .map_err(anyhow::Error::msg)?;
                    wanted.insert(
                        name.to_string(),
                        Wanted {
                            name: name.to_string(),
                            text,
                            time,
                        },
                    );
                }
            }
        }
    }
    Ok(())
}

fn archive_pages(site: &Site, wanted: &mut FxHashMap<String, Wanted>) -> Result<()> {
    let wiki = &site.wiki;
    let setup = &wiki.config.setup;
    if !setup.flag_or("calendar_autocreate", setup.has("archivebase")) {
        return Ok(());
    }
    let base = setup.str_or("archivebase", "archives");
    let spec_text = setup.str_or("archive_pagespec", "*");
    let fill_gaps = setup.flag_or("calendar_fill_gaps", true);
    let spec = site.pagespec(&spec_text);
    let Ok(spec) = spec.as_ref() else {
        anyhow::bail!("archive_pagespec \"{spec_text}\" is not a valid PageSpec");
    };
    let tz = wiki.config.timezone.clone();
    let mut months: std::collections::BTreeSet<(i64, i64)> = Default::default();
    for id in 0..wiki.pages.len() as crate::wiki::PageId {
        let mp = crate::pagespec::MatchParams {
            location: Some(&wiki.page(id).name),
            ..Default::default()
        };
        // Files built into wikic have no real date.
        if wiki.page(id).builtin.is_some() || wiki.ctime(id) <= 0 {
            continue;
        }
        if spec.match_id(wiki, id, &mp).is_match() {
            let (y, m, _) = crate::timefmt::ymd(wiki.ctime(id), tz.as_deref());
            months.insert((y, m));
        }
    }
    let (Some(&(first, _)), Some(&(last, _))) = (months.first(), months.last()) else {
        return Ok(());
    };
    let mut years: Vec<i64> = months.iter().map(|(y, _)| *y).collect();
    if fill_gaps {
        years = (first..=last).collect();
        months = years
            .iter()
            .flat_map(|&y| (1..=12).map(move |m| (y, m)))
            .collect();
    }
    years.dedup();
    let start = |y, m| crate::timefmt::day_start(y, m, 1, tz.as_deref());
    let mut want = |name: String, template: &str, vars: serde_json::Value, time: i64| {
        if wiki.id_lc(&name.to_lowercase()).is_some() || wanted.contains_key(&name) {
            return Ok::<(), anyhow::Error>(());
        }
        let text = site
            .render_template(template, &vars)
            .map_err(anyhow::Error::msg)?;
        wanted.insert(name.clone(), Wanted { name, text, time });
        Ok(())
    };
    for y in years {
        want(
            format!("{base}/{y}"),
            "calendaryear",
            json!({"year": y, "pagespec": spec_text}),
            start(y, 1),
        )?;
    }
    for (y, m) in months {
        want(
            format!("{base}/{y}/{m:02}"),
            "calendarmonth",
            json!({"year": y, "month": format!("{m:02}"), "pagespec": spec_text,
                "sidebar": wiki.config.plugins.enabled("sidebar")}),
            start(y, m),
        )?;
    }
    Ok(())
}
