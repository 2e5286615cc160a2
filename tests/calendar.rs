//! The calendar directive, pages generated for tags and calendar archives
//! (written to the transient underlay, never to srcdir), and calendars
//! that follow the clock: the CLI runs with `WIKIC_NOW` set, so "today"
//! is fixed per run.

#[path = "support/testwiki.rs"]
mod testwiki;

use std::process::Command;

use testwiki::TestWiki;

const SETUP: &str = "add_plugins: [goodstuff, calendar]\n";

/// 2024-03-05 10:00 UTC and friends.
const MAR_05: i64 = 1_709_632_800;
const MAR_31_LATE: i64 = 1_711_929_000; // 2024-03-31 23:50 UTC
const APR_01: i64 = 1_711_929_600 + 3600; // 2024-04-01 01:00 UTC

fn posts(w: &TestWiki) {
    w.write(
        "posts/a.mdwn",
        "[[!meta date=\"2024-03-05 10:00\"]]Post A\n",
    )
    .write(
        "posts/b.mdwn",
        "[[!meta date=\"2024-03-05 12:00\"]][[!meta title=\"B title\"]]Post B\n",
    )
    .write(
        "posts/c.mdwn",
        "[[!meta date=\"2024-03-20 12:00\"]]Post C\n",
    )
    .write(
        "posts/d.mdwn",
        "[[!meta date=\"2024-06-01 12:00\"]]Post D\n",
    );
}

#[test]
fn month_and_year_tables() {
    let w = TestWiki::with_setup(SETUP);
    posts(&w);
    w.write("archives/2024/02.mdwn", "Feb\n")
        .write("archives/2024/06.mdwn", "Jun\n")
        .write("archives/2024.mdwn", "Year\n")
        .write(
            "index.mdwn",
            "[[!calendar type=month year=2024 month=3 pages=\"posts/*\"]]\n\n\
             [[!calendar type=month year=2024 month=3 pages=\"posts/*\" week_start_day=1]]\n\n\
             [[!calendar type=year year=2024 pages=\"posts/*\" months_per_row=4]]\n",
        );
    w.build();
    let html = w.content("index");
    // Arrows to the nearest archive months; head names the month.
    assert!(html.contains(
        "<th class=\"month-calendar-arrow\"><a href=\"./archives/2024/02/\" title=\"February\">&larr;</a></th>"
    ), "{html}");
    assert!(html.contains("<a href=\"./archives/2024/06/\" title=\"June\">&rarr;</a>"));
    assert!(html.contains("<th class=\"month-calendar-head\" colspan=\"5\">March 2024</th>"));
    // 1 March 2024 was a Friday: five empty cells on a Sunday week, four
    // on a Monday week.
    let first_table = &html[..html.find("</table>").unwrap()];
    assert_eq!(
        first_table.matches("month-calendar-day-noday").count(),
        5 + 6
    );
    assert!(html.contains("<th class=\"month-calendar-day-head Monday\" title=\"Monday\">M</th>\n        <th class=\"month-calendar-day-head Tuesday\""));
    // Both posts of the 5th, by title, in the popup.
    assert!(html.contains("<td class=\"month-calendar-day-link Tuesday\"><div class=\"popup\">5<div class=\"balloon\"><ul>"));
    assert!(html.contains("<li><a href=\"./posts/a/\" title=\"a\">a</a></li>"));
    assert!(html.contains("<li><a href=\"./posts/b/\" title=\"B title\">B title</a></li>"));
    assert!(html.contains("<td class=\"month-calendar-day-nolink Wednesday\">6</td>"));
    // The year: linked where an archive page exists and posts were made.
    assert!(html.contains("<th class=\"year-calendar-head\" colspan=\"2\"><a href=\"./archives/2024/\" title=\"2024\">2024</a></th>"));
    assert!(html.contains("<td class=\"year-calendar-month-link\"><a href=\"./archives/2024/06/\" title=\"June\">Jun</a> </td>"));
    assert!(
        html.contains("<td class=\"year-calendar-month-link\">Feb</td>"),
        "no posts in February"
    );
    assert!(html.contains("<td class=\"year-calendar-month-nolink\">Mar</td>"));
}

#[test]
fn calendar_errors() {
    let w = TestWiki::with_setup(SETUP);
    w.write(
        "index.mdwn",
        "[[!calendar month=13 year=2024]]\n\n[[!calendar year=soon]]\n\n[[!calendar type=month year=2024 month=2 pages=\"and(\"]]\n",
    );
    w.build();
    let html = w.content("index");
    assert!(
        html.contains("Error: month must be between 1 and 12, not 13"),
        "{html}"
    );
    assert!(
        html.contains("Error: year must be a number, not &quot;soon&quot;"),
        "{html}"
    );
    assert!(
        html.contains("[[!calendar <span class=\"error\">Error: "),
        "{html}"
    );
}

fn wikic(w: &TestWiki, now: i64) -> String {
    w.config(); // writes wiki.yaml
    let out = Command::new(env!("CARGO_BIN_EXE_wikic"))
        .arg("--refresh")
        .arg("--setup")
        .arg(w.src().parent().unwrap().join("wiki.yaml"))
        .arg("--verbose")
        .env("WIKIC_NOW", now.to_string())
        .env("TZ", "UTC")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn todays_calendar_is_rendered_again_the_next_day() {
    let w = TestWiki::with_setup(SETUP);
    posts(&w);
    w.write("index.mdwn", "[[!calendar pages=\"posts/*\"]]\n")
        .write("other.mdwn", "Nothing dated.\n");
    wikic(&w, MAR_05);
    let html = w.content("index");
    assert!(
        html.contains("<td class=\"month-calendar-day-this-day Tuesday\"><div class=\"popup\">5"),
        "{html}"
    );
    assert!(html.contains("<td class=\"month-calendar-day-future Wednesday\">6</td>"));
    // Later the same day nothing is rebuilt.
    let log = wikic(&w, MAR_05 + 3600);
    assert!(!log.contains("index.mdwn"), "{log}");
    // On the 31st the table moves on, though no file changed.
    let log = wikic(&w, MAR_31_LATE);
    assert!(log.contains("calendar"), "{log}");
    let html = w.content("index");
    assert!(
        html.contains("<td class=\"month-calendar-day-this-day Sunday\">31</td>"),
        "{html}"
    );
    assert!(
        !log.contains("other.mdwn"),
        "only the calendar's page: {log}"
    );
    // In April the default calendar shows April.
    wikic(&w, APR_01);
    assert!(w.content("index").contains("April 2024"));
}

#[test]
fn tag_pages_are_generated_outside_srcdir() {
    let w = TestWiki::with_setup("tagbase: tags\n");
    w.write("a.mdwn", "[[!tag red blue]]A\n")
        .write("b.mdwn", "[[!tag red]]B\n")
        .write("tags/blue.mdwn", "My own blue page.\n");
    w.build();
    let red = w.content("tags/red");
    assert!(
        red.contains("href=\"../../a/\"") && red.contains("href=\"../../b/\""),
        "{red}"
    );
    assert!(w.page("tags/red").contains("<title>Tag: red</title>"));
    assert!(w.content("tags/blue").contains("My own blue page."));
    assert!(!w.src().join("tags/red.mdwn").exists(), "srcdir untouched");
    assert!(w.src().join(".wikic/transient/tags/red.mdwn").exists());
    // A new tag on refresh gets its page too; the same as a rebuild.
    w.write("b.mdwn", "[[!tag red green]]B\n");
    w.refresh();
    assert!(w.content("tags/green").contains("href=\"../../b/\""));
    // A page written in srcdir replaces the generated one.
    w.write("tags/red.mdwn", "Red, by hand.\n");
    w.refresh();
    assert!(w.content("tags/red").contains("Red, by hand."));
    // No autocreation when switched off.
    let off = TestWiki::with_setup("tagbase: tags\ntag_autocreate: 0\n");
    off.write("a.mdwn", "[[!tag red]]A\n");
    off.build();
    assert!(!off.exists("tags/red/index.html"));
}

#[test]
fn archive_pages_are_generated() {
    let w = TestWiki::with_setup(
        "add_plugins: [goodstuff, calendar]\narchivebase: archives\narchive_pagespec: \"posts/*\"\n",
    );
    posts(&w);
    w.build();
    assert!(w.exists("archives/2024/index.html"));
    assert!(w.exists("archives/2024/01/index.html"), "gaps filled");
    let march = w.content("archives/2024/03");
    assert!(march.contains("Mar 2024"), "{march}");
    // The month's posts, newest last.
    let a = march
        .find("./../../../posts/a/")
        .or_else(|| march.find("posts/a/"))
        .unwrap();
    let c = march.rfind("posts/c/").unwrap();
    assert!(a < c);
    assert!(!w.exists("archives/2023/index.html"));
    assert!(!w.src().join("archives").exists());
}
