//! `[[!calendar type=month|year pages=... year=... month=...]]`: a month
//! or year table linking the days (months) on which pages were created,
//! with arrows to the neighbouring archive pages (`archivebase/YYYY/MM`).
//! A calendar showing the current day or month is re-rendered when that
//! day or month has passed (see [`until`]).

use chrono::{Datelike, NaiveDate};

use super::{Context, Directive, Params};
use crate::pagespec::DEPEND_PRESENCE;
use crate::wiki::LinkOpts;

pub struct Calendar;

/// The dependency name that makes a page re-render once `t` has passed.
pub fn until(t: i64) -> String {
    format!("\u{0}until:{t}")
}

/// The time an [`until`] dependency waits for.
pub fn until_time(dep: &str) -> Option<i64> {
    dep.strip_prefix("\u{0}until:")?.parse().ok()
}

/// "Now" for calendars: `WIKIC_NOW` (seconds) when set, so builds can be
/// reproduced, else the clock.
pub fn now() -> i64 {
    std::env::var("WIKIC_NOW")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0)
        })
}

fn int_param(params: &Params, key: &str) -> Result<Option<i64>, String> {
    match params.get(key) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| format!("{key} must be a number, not \"{v}\"")),
    }
}

fn date(year: i64, month: i64, day: i64) -> NaiveDate {
    NaiveDate::from_ymd_opt(year as i32, month as u32, day as u32).unwrap_or_default()
}

fn month_days(year: i64, month: i64) -> i64 {
    let (ny, nm) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    (date(ny, nm, 1) - date(year, month, 1)).num_days()
}

struct Req {
    year: i64,
    month: i64,
    pages: String,
    week_start_day: i64,
    months_per_row: i64,
    archivebase: String,
    today: (i64, i64, i64),
}

impl Directive for Calendar {
    fn run(&self, cx: &mut Context, params: &Params) -> Result<String, String> {
        let tz = cx.wiki().config.timezone.clone();
        let now = now();
        let (this_year, this_month, this_day) = crate::timefmt::ymd(now, tz.as_deref());
        let kind = params.get("type").unwrap_or("month").to_string();
        let mut year = int_param(params, "year")?.unwrap_or(this_year);
        let mut month = int_param(params, "month")?.unwrap_or(this_month);
        let relative_year = year < 1;
        if relative_year {
            year += this_year;
        }
        let relative_month = month < 1;
        if relative_month {
            // `month=-1` is last month, in last year in January.
            let total = this_year * 12 + (this_month - 1) + month;
            year = total.div_euclid(12) - (this_year - year);
            month = total.rem_euclid(12) + 1;
        }
        if !(1..=12).contains(&month) {
            return Err(format!("month must be between 1 and 12, not {month}"));
        }
        let week_start_day = int_param(params, "week_start_day")?
            .unwrap_or(0)
            .rem_euclid(7);
        let months_per_row = int_param(params, "months_per_row")?.unwrap_or(3).max(1);
        let archivebase = params
            .get("archivebase")
            .map(str::to_string)
            .unwrap_or_else(|| cx.wiki().config.setup.str_or("archivebase", "archives"));
        let req = Req {
            year,
            month,
            pages: params.get("pages").unwrap_or("*").to_string(),
            week_start_day,
            months_per_row,
            archivebase,
            today: (this_year, this_month, this_day),
        };

        // What the calendar shows about "today" changes with time.
        let day_start = |y, m, d| crate::timefmt::day_start(y, m, d, tz.as_deref());
        let next_month = |y: i64, m: i64| if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        let change = if kind == "month" && (year, month) == (this_year, this_month) {
            Some(day_start(this_year, this_month, this_day + 1))
        } else if kind == "month" && (year, month) > (this_year, this_month) {
            Some(day_start(year, month, 1))
        } else if (kind == "year" && year == this_year) || relative_month {
            let (y, m) = next_month(this_year, this_month);
            Some(day_start(y, m, 1))
        } else if relative_year {
            Some(day_start(this_year + 1, 1, 1))
        } else if kind == "year" && year > this_year {
            Some(day_start(year, 1, 1))
        } else {
            None
        };
        if let Some(t) = change {
            cx.state.add_depends(&until(t), DEPEND_PRESENCE);
        }
        // Arrows lead to the nearest archive pages, which come and go.
        let base = req.archivebase.clone();
        cx.state
            .add_depends_spec(&format!("{base}/*"), DEPEND_PRESENCE);
        cx.state.add_depends(&base, DEPEND_PRESENCE);

        let table = match kind.as_str() {
            "month" => format_month(cx, &req)?,
            "year" => format_year(cx, &req)?,
            _ => String::new(),
        };
        // Indented as ikiwiki's Markdown leaves it (tabs as four spaces).
        let table = table.replace('\t', "    ");
        Ok(format!(
            "\n<div><div class=\"calendar\">{table}</div></div>\n"
        ))
    }
}

fn archive_exists(cx: &Context, name: &str) -> bool {
    cx.wiki().exists(name)
}

/// The years archive pages exist for (`archivebase/YYYY...`).
fn archive_years(cx: &Context, base: &str) -> Option<(i64, i64)> {
    let wiki = cx.wiki();
    let prefix = format!("{}/", base.to_lowercase());
    let years = wiki.with_lc_prefix(&prefix).iter().filter_map(|&id| {
        let rest = &wiki.page(id).lc_name[prefix.len()..];
        rest.split('/').next()?.parse::<i64>().ok()
    });
    years.fold(None, |acc, y| match acc {
        None => Some((y, y)),
        Some((lo, hi)) => Some((lo.min(y), hi.max(y))),
    })
}

/// The nearest month before (`step` -1) or after (+1) with an archive page.
fn neighbour_month(cx: &Context, req: &Req, step: i64) -> Option<(i64, i64)> {
    let (lo, hi) = archive_years(cx, &req.archivebase)?;
    let mut total = req.year * 12 + req.month - 1;
    loop {
        total += step;
        let (y, m) = (total.div_euclid(12), total.rem_euclid(12) + 1);
        if (step < 0 && y < lo) || (step > 0 && y > hi) {
            return None;
        }
        if archive_exists(cx, &format!("{}/{y}/{m:02}", req.archivebase)) {
            return Some((y, m));
        }
    }
}

fn neighbour_year(cx: &Context, req: &Req, step: i64) -> Option<i64> {
    let (lo, hi) = archive_years(cx, &req.archivebase)?;
    let mut y = req.year;
    loop {
        y += step;
        if (step < 0 && y < lo) || (step > 0 && y > hi) {
            return None;
        }
        if archive_exists(cx, &format!("{}/{y}", req.archivebase)) {
            return Some(y);
        }
    }
}

fn link(cx: &Context, target: &str, text: &str, title: &str) -> String {
    cx.wiki().htmllink(
        &cx.page,
        &cx.destpage,
        target,
        &LinkOpts {
            noimageinline: true,
            linktext: Some(text),
            title: Some(title),
            ..Default::default()
        },
    )
}

fn format_month(cx: &mut Context, req: &Req) -> Result<String, String> {
    let (year, month) = (req.year, req.month);
    let spec = format!(
        "creation_year({year}) and creation_month({month}) and ({})",
        req.pages
    );
    let ids = super::match_pages(cx, &spec, DEPEND_PRESENCE, None)?;
    let wiki = cx.wiki();
    let tz = wiki.config.timezone.clone();
    let mut by_day: std::collections::BTreeMap<i64, Vec<crate::wiki::PageId>> = Default::default();
    for id in ids {
        let (_, _, d) = crate::timefmt::ymd(wiki.ctime(id), tz.as_deref());
        by_day.entry(d).or_default().push(id);
    }
    let base = &req.archivebase;
    let first = date(year, month, 1);
    let month_name = first.format("%B").to_string();
    let month_abbrev = first.format("%b").to_string();
    let name_of = |(y, m): (i64, i64)| date(y, m, 1).format("%B").to_string();

    let head = format!("{base}/{year}/{month:02}");
    let url = if archive_exists(cx, &head) {
        link(cx, &head, &format!("{month_abbrev} {year}"), &month_name)
    } else {
        format!("{month_name} {year}")
    };
    let arrow = |cx: &Context, to: Option<(i64, i64)>, text: &str| match to {
        Some((y, m)) => link(cx, &format!("{base}/{y}/{m:02}"), text, &name_of((y, m))),
        None => String::new(),
    };
    let purl = arrow(cx, neighbour_month(cx, req, -1), "&larr;");
    let nurl = arrow(cx, neighbour_month(cx, req, 1), "&rarr;");

    let mut out = format!(
        "<table class=\"month-calendar\">\n\t<tr>\n\t<th class=\"month-calendar-arrow\">{purl}</th>\n\t<th class=\"month-calendar-head\" colspan=\"5\">{url}</th>\n\t<th class=\"month-calendar-arrow\">{nurl}</th>\n\t</tr>\n\t<tr>\n"
    );
    let (ty, tm, td) = req.today;
    let (today, future) = if (year, month) == (ty, tm) {
        (td, td + 1)
    } else {
        (0, 0)
    };
    // Day names by weekday number (0 = Sunday).
    let day_name = |w: i64| {
        [
            "Sunday",
            "Monday",
            "Tuesday",
            "Wednesday",
            "Thursday",
            "Friday",
            "Saturday",
        ][w.rem_euclid(7) as usize]
    };
    let wss = req.week_start_day;
    for w in wss..wss + 7 {
        let name = day_name(w);
        out.push_str(&format!(
            "\t\t<th class=\"month-calendar-day-head {name}\" title=\"{name}\">{}</th>\n",
            &name[..1]
        ));
    }
    out.push_str("\t</tr>\n");
    let start_wday = first.weekday().num_days_from_sunday() as i64;
    let mut wday = wss;
    while wday != start_wday {
        if wday == wss {
            out.push_str("\t<tr>\n");
        }
        out.push_str(&format!(
            "\t\t<td class=\"month-calendar-day-noday {}\">&nbsp;</td>\n",
            day_name(wday)
        ));
        wday = (wday + 1) % 7;
    }
    for day in 1..=month_days(year, month) {
        if wday == wss {
            if day != 1 {
                out.push_str("\t</tr>\n");
            }
            out.push_str("\t<tr>\n");
        }
        let dname = day_name(wday);
        if let Some(pages) = by_day.get(&day) {
            let tag = if day == today {
                "month-calendar-day-this-day"
            } else {
                "month-calendar-day-link"
            };
            out.push_str(&format!(
                "\t\t<td class=\"{tag} {dname}\"><div class=\"popup\">{day}<div class=\"balloon\"><ul>"
            ));
            for &id in pages {
                let p = cx.wiki().page(id);
                let title = match &p.meta().title {
                    Some(t) => t.clone(),
                    None => crate::names::pagetitle(crate::names::basename(&p.name), false),
                };
                let name = p.name.clone();
                out.push_str("\n\t\t\t<li>");
                out.push_str(&link(cx, &name, &title, &title));
                out.push_str("</li>");
            }
            out.push_str("\n\t\t</ul></div></div></td>\n");
        } else {
            let tag = if day == today {
                "month-calendar-day-this-day"
            } else if day == future {
                "month-calendar-day-future"
            } else {
                "month-calendar-day-nolink"
            };
            out.push_str(&format!("\t\t<td class=\"{tag} {dname}\">{day}</td>\n"));
        }
        wday = (wday + 1) % 7;
    }
    while wday != wss {
        out.push_str(&format!(
            "\t\t<td class=\"month-calendar-day-noday {}\">&nbsp;</td>\n",
            day_name(wday)
        ));
        wday = (wday + 1) % 7;
    }
    out.push_str("\t</tr>\n</table>\n");
    Ok(out)
}

fn format_year(cx: &mut Context, req: &Req) -> Result<String, String> {
    let year = req.year;
    let spec = format!("creation_year({year}) and ({})", req.pages);
    let ids = super::match_pages(cx, &spec, DEPEND_PRESENCE, None)?;
    let wiki = cx.wiki();
    let tz = wiki.config.timezone.clone();
    let mut post_months = [0usize; 13];
    for id in ids {
        let (_, m, _) = crate::timefmt::ymd(wiki.ctime(id), tz.as_deref());
        post_months[m as usize] += 1;
    }
    let base = &req.archivebase;
    let head = format!("{base}/{year}");
    let url = if archive_exists(cx, &head) {
        link(cx, &head, &year.to_string(), &year.to_string())
    } else {
        year.to_string()
    };
    let arrow = |cx: &Context, to: Option<i64>, text: &str| match to {
        Some(y) => link(cx, &format!("{base}/{y}"), text, &y.to_string()),
        None => String::new(),
    };
    let purl = arrow(cx, neighbour_year(cx, req, -1), "&larr;");
    let nurl = arrow(cx, neighbour_year(cx, req, 1), "&rarr;");
    let per_row = req.months_per_row;
    let mut out = format!(
        "<table class=\"year-calendar\">\n\t<tr>\n\t<th class=\"year-calendar-arrow\">{purl}</th>\n\t<th class=\"year-calendar-head\" colspan=\"{}\">{url}</th>\n\t<th class=\"year-calendar-arrow\">{nurl}</th>\n\t</tr>\n\t<tr>\n\t\t<th class=\"year-calendar-subhead\" colspan=\"{per_row}\">Months</th>\n\t</tr>\n",
        per_row - 2
    );
    let (this_year, this_month, _) = req.today;
    let future_month = if year == this_year { this_month } else { 0 };
    for month in 1..=12i64 {
        let d = date(year, month, 15);
        let (name, abbr) = (d.format("%B").to_string(), d.format("%b").to_string());
        if month % per_row == 1 || per_row == 1 {
            out.push_str("\t<tr>\n");
        }
        let page = format!("{base}/{year}/{month:02}");
        let exists = archive_exists(cx, &page);
        let tag = if month == req.month && this_year == year {
            "year-calendar-this-month"
        } else if exists {
            "year-calendar-month-link"
        } else if future_month != 0 && month >= future_month {
            "year-calendar-month-future"
        } else {
            "year-calendar-month-nolink"
        };
        if exists && post_months[month as usize] > 0 {
            out.push_str(&format!(
                "\t<td class=\"{tag}\">{} </td>\n",
                link(cx, &page, &abbr, &name)
            ));
        } else {
            out.push_str(&format!("\t<td class=\"{tag}\">{abbr}</td>\n"));
        }
        if month % per_row == 0 {
            out.push_str("\t</tr>\n");
        }
    }
    out.push_str("</table>\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_lengths() {
        assert_eq!(month_days(2024, 2), 29);
        assert_eq!(month_days(2023, 2), 28);
        assert_eq!(month_days(2023, 12), 31);
        assert_eq!(until_time(&until(42)), Some(42));
    }
}
