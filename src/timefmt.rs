//! Times as ikiwiki shows and reads them: strftime in the wiki's time zone
//! (`timezone` setting, else the TZ environment, else the system zone),
//! RFC 3339 and RFC 822 stamps for feeds, and a forgiving date parser for
//! `[[!meta date=...]]`.

use chrono::{DateTime, Datelike, FixedOffset, Local, NaiveDate, NaiveDateTime, TimeZone, Utc};

fn is_utc(tz: Option<&str>) -> bool {
    matches!(
        tz,
        Some("UTC" | "GMT" | "UTC0" | "GMT0" | "Etc/UTC" | ":UTC")
    )
}

/// The instant `t` in the wiki's time zone.
pub fn local(t: i64, tz: Option<&str>) -> DateTime<FixedOffset> {
    if is_utc(tz) {
        let d = Utc.timestamp_opt(t, 0).single().unwrap_or_default();
        return d.fixed_offset();
    }
    match Local.timestamp_opt(t, 0).single() {
        Some(d) => d.fixed_offset(),
        None => Utc.timestamp_opt(0, 0).unwrap().fixed_offset(),
    }
}

/// Year, month (1-12) and day of month of `t` in the wiki's time zone.
pub fn ymd(t: i64, tz: Option<&str>) -> (i64, i64, i64) {
    let d = local(t, tz);
    (d.year() as i64, d.month() as i64, d.day() as i64)
}

/// strftime with the wiki's `timeformat`; an invalid format falls back to
/// `%c` rather than failing the build.
pub fn format(t: i64, fmt: &str, tz: Option<&str>) -> String {
    use std::fmt::Write;
    let d = local(t, tz);
    let mut out = String::new();
    if write!(out, "{}", d.format(fmt)).is_err() {
        out.clear();
        let _ = write!(out, "{}", d.format("%a %b %e %H:%M:%S %Y"));
    }
    out
}

/// `2009-02-13T23:31:30Z`.
pub fn date_3339(t: i64) -> String {
    Utc.timestamp_opt(t, 0)
        .single()
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// `Fri, 13 Feb 2009 23:31:30 +0000` in the wiki's time zone.
pub fn date_822(t: i64, tz: Option<&str>) -> String {
    local(t, tz).format("%a, %d %b %Y %H:%M:%S %z").to_string()
}

/// Parses the date forms people write in `[[!meta date]]`: RFC 3339,
/// RFC 822, `YYYY-MM-DD[ HH:MM[:SS]]` with optional zone, and the like.
/// Times without a zone are read in the wiki's time zone.
pub fn parse_date(s: &str, tz: Option<&str>) -> Option<i64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.timestamp());
    }
    if let Ok(d) = DateTime::parse_from_rfc2822(s) {
        return Some(d.timestamp());
    }
    let with_zone = [
        "%Y-%m-%d %H:%M:%S %z",
        "%Y-%m-%d %H:%M %z",
        "%Y-%m-%dT%H:%M:%S%z",
        "%Y-%m-%d %H:%M:%S%z",
        "%a %b %e %H:%M:%S %z %Y",
        "%a, %d %b %Y %H:%M:%S %z",
        "%d %b %Y %H:%M:%S %z",
    ];
    for f in with_zone {
        if let Ok(d) = DateTime::parse_from_str(s, f) {
            return Some(d.timestamp());
        }
    }
    // Strip a trailing zone name we can interpret.
    let (body, offset) = split_zone_name(s);
    let naive = [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y/%m/%d %H:%M:%S",
        "%Y/%m/%d %H:%M",
        "%a %b %e %H:%M:%S %Y",
        "%a, %d %b %Y %H:%M:%S",
        "%d %b %Y %H:%M:%S",
        "%d %b %Y %H:%M",
        "%b %d %Y %H:%M:%S",
        "%B %d, %Y %H:%M",
        "%Y%m%dT%H%M%S",
    ];
    for f in naive {
        if let Ok(d) = NaiveDateTime::parse_from_str(body, f) {
            return Some(from_naive(d, offset, tz));
        }
    }
    let dates = [
        "%Y-%m-%d",
        "%Y/%m/%d",
        "%d %b %Y",
        "%d %B %Y",
        "%B %d, %Y",
        "%b %d, %Y",
        "%B %d %Y",
        "%b %d %Y",
        "%Y%m%d",
        "%d.%m.%Y",
    ];
    for f in dates {
        if let Ok(d) = NaiveDate::parse_from_str(body, f) {
            return Some(from_naive(d.and_hms_opt(0, 0, 0)?, offset, tz));
        }
    }
    None
}

fn split_zone_name(s: &str) -> (&str, Option<i32>) {
    if let Some((body, zone)) = s.rsplit_once(' ') {
        let off = match zone {
            "UTC" | "GMT" | "Z" | "UT" => Some(0),
            "EST" => Some(-5 * 3600),
            "EDT" => Some(-4 * 3600),
            "CST" => Some(-6 * 3600),
            "CDT" => Some(-5 * 3600),
            "MST" => Some(-7 * 3600),
            "MDT" => Some(-6 * 3600),
            "PST" => Some(-8 * 3600),
            "PDT" => Some(-7 * 3600),
            "CET" => Some(3600),
            "CEST" => Some(7200),
            "BST" => Some(3600),
            _ => None,
        };
        if off.is_some() {
            return (body, off);
        }
    }
    (s, None)
}

/// The start of day `d` of `month` in `year`, in the wiki's time zone
/// (days past the month's end roll over, as `timelocal` allows).
pub fn day_start(year: i64, month: i64, d: i64, tz: Option<&str>) -> i64 {
    let first = NaiveDate::from_ymd_opt(year as i32, month.clamp(1, 12) as u32, 1)
        .unwrap_or_default()
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default();
    from_naive(first, None, tz) + (d - 1) * 86_400
}

fn from_naive(d: NaiveDateTime, offset: Option<i32>, tz: Option<&str>) -> i64 {
    if let Some(o) = offset {
        return d.and_utc().timestamp() - o as i64;
    }
    if is_utc(tz) {
        return d.and_utc().timestamp();
    }
    match Local.from_local_datetime(&d).earliest() {
        Some(l) => l.timestamp(),
        None => d.and_utc().timestamp(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_dates() {
        let utc = Some("UTC");
        assert_eq!(parse_date("2009-02-13 23:31:30", utc), Some(1234567890));
        assert_eq!(parse_date("2009-02-13T23:31:30Z", utc), Some(1234567890));
        assert_eq!(
            parse_date("Fri, 13 Feb 2009 23:31:30 +0000", utc),
            Some(1234567890)
        );
        assert_eq!(parse_date("2009-02-13", utc), Some(1234483200));
        assert_eq!(
            parse_date("2009-02-13 23:31:30 UTC", None),
            Some(1234567890)
        );
        assert_eq!(parse_date("not a date", utc), None);
    }

    #[test]
    fn formats_like_c_locale() {
        assert_eq!(
            format(1234567890, "%c", Some("UTC")),
            "Fri Feb 13 23:31:30 2009"
        );
        assert_eq!(date_3339(1234567890), "2009-02-13T23:31:30Z");
        assert_eq!(
            date_822(1234567890, Some("UTC")),
            "Fri, 13 Feb 2009 23:31:30 +0000"
        );
    }
}
