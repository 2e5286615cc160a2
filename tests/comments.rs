//! The comments plugin: `._comment` files shown on their parent page as
//! ikiwiki shows them, their feeds (checked with a feed parser), the
//! pagespecs that open and close comments, and refreshes when comments
//! come and go.

#[path = "support/testwiki.rs"]
mod testwiki;

use testwiki::TestWiki;

const SETUP: &str = "add_plugins: [goodstuff, comments]\n\
    cgiurl: http://example.org/ikiwiki.cgi\n\
    comments_pagespec: \"blog/* and !*/Discussion\"\n\
    comments_closed_pagespec: \"blog/closed\"\n\
    rss: 1\natom: 1\n";

fn comment(fields: &str, content: &str) -> String {
    format!("[[!comment format=mdwn\n {fields}\n content=\"\"\"\n{content}\n\"\"\"]]\n")
}

fn blog() -> TestWiki {
    let w = TestWiki::with_setup(SETUP);
    w.write("blog/post.mdwn", "A post.\n")
        .write("blog/closed.mdwn", "Closed post.\n")
        .write("other.mdwn", "No comments here.\n")
        .write(
            "blog/post/comment_1_aaaa._comment",
            comment(
                "username=\"alice\" subject=\"Nice post\" date=\"2024-01-02T10:00:00Z\"",
                "I liked *this*. See [[other]].",
            ),
        )
        .write(
            "blog/post/comment_2_bbbb._comment",
            comment(
                "ip=\"192.0.2.1\" claimedauthor=\"Bob\" subject=\"Earlier\" date=\"2024-01-01T09:00:00Z\"",
                "A \\\"quoted\\\" reply. <script>alert(1)</script>\n\nSecond paragraph.",
            ),
        )
        .write(
            "blog/post/comment_3_cccc._comment_pending",
            comment("username=\"mallory\" date=\"2024-01-03T09:00:00Z\"", "pending"),
        )
        .write(
            "blog/closed/comment_1_dddd._comment",
            comment(
                "username=\"http://carol.example.net/\" nickname=\"carol\" date=\"2024-02-01T10:00:00Z\"",
                "openid comment",
            ),
        )
        .write(
            "other/comment_1_eeee._comment",
            comment("username=\"eve\"", "not shown: other takes no comments"),
        );
    w
}

#[test]
fn comments_appear_on_their_page_oldest_first() {
    let w = blog();
    w.build();
    let html = w.page("blog/post");
    let section = &html[html.find("id=\"comments\"").expect("comments section")..];
    let first = section.find("Earlier").unwrap();
    let second = section.find("Nice post").unwrap();
    assert!(first < second, "oldest first: {section}");
    assert!(
        section.contains("<div class=\"comment\" id=\"comment-54b425aeb29123cb90d223a535bc38b8\">")
    );
    // Signed-in commenter, linked through the CGI; anonymous one by IP.
    assert!(section.contains("<span class=\"author\" title=\"Signed in\">"));
    assert!(section.contains("href=\"/ikiwiki.cgi?do=goto&amp;page=alice\">alice</a>"));
    assert!(section.contains("title=\"Unauthenticated, from 192.0.2.1\""));
    assert!(
        section.contains("Anonymous"),
        "claimed names need comments_allowauthor"
    );
    // Content: Markdown, links, the scrubber, \" unescaped.
    assert!(section.contains("I liked <em>this</em>. See <a href=\"../../other/\">other</a>."));
    assert!(section.contains("A \"quoted\" reply."));
    assert!(section.contains("<p>Second paragraph.</p>"));
    assert!(!section.contains("<script"), "scrubbed: {section}");
    // Dates from the directive, permalinks to the anchor.
    assert!(section.contains("Mon Jan  1 09:00:00 2024"), "{section}");
    let id = "comment-89ce9df4d850bc82c01d57422a695792";
    let bob = "blog/post/comment_2_bbbb";
    assert!(section.contains(&format!("id=\"{id}\"")), "md5 of {bob}");
    assert!(section.contains(&format!("href=\"http://example.org/blog/post/#{id}\"")));
    // Pending comments wait for moderation.
    assert!(!section.contains("mallory"));
    assert!(
        section.contains("href=\"/ikiwiki.cgi?do=comment&amp;page=blog%2Fpost\">Add a comment</a>")
    );
    // The action link counts them.
    assert!(
        html.contains("<a href=\"./#comments\">2 comments</a>"),
        "{html}"
    );
    // Comment pages are not pages of their own.
    assert!(!w.exists("blog/post/comment_1_aaaa/index.html"));
    assert!(!w.exists("blog/post/comment_1_aaaa._comment"));
}

#[test]
fn closed_and_unlisted_pages() {
    let w = blog();
    w.build();
    let closed = w.page("blog/closed");
    assert!(closed.contains("Comments on this page are closed."));
    assert!(!closed.contains("do=comment"));
    assert!(closed.contains("<span class=\"author\" title=\"OpenID\">"));
    assert!(closed.contains("<a rel=\"nofollow\" href=\"http://carol.example.net/\">carol</a>"));
    assert!(
        closed.contains("comment 1 dddd"),
        "title from the page name"
    );
    let other = w.page("other");
    assert!(!other.contains("id=\"comments\""));
    assert!(!other.contains("not shown"));
    assert!(!w.exists("other/comments.atom"));
}

#[test]
fn comment_feeds_parse() {
    let w = blog();
    w.build();
    for ext in ["atom", "rss"] {
        let xml = w.out(&format!("blog/post/comments.{ext}"));
        let feed = feed_rs::parser::parse(xml.as_bytes())
            .unwrap_or_else(|e| panic!("comments.{ext} does not parse: {e}\n{xml}"));
        let titles: Vec<String> = feed
            .entries
            .iter()
            .map(|e| e.title.as_ref().unwrap().content.clone())
            .collect();
        assert_eq!(titles, ["Earlier", "Nice post"], "{ext}");
        let link = &feed.entries[1].links[0].href;
        assert_eq!(
            link,
            "http://example.org/blog/post/#comment-54b425aeb29123cb90d223a535bc38b8"
        );
    }
    // A page with comments shown but none written has no feed.
    w.write("blog/empty.mdwn", "Nothing yet.\n");
    w.refresh();
    assert!(!w.exists("blog/empty/comments.atom"));
    assert!(!w.page("blog/empty").contains("Add a comment"));
    assert!(w.page("blog/empty").contains(">Comment</a>"));
}

#[test]
fn blog_feeds_point_at_comments() {
    let w = blog();
    w.write(
        "index.mdwn",
        "[[!inline pages=\"blog/* and !*/Discussion\" actions=yes]]\n",
    );
    w.build();
    let index = w.page("index");
    assert!(
        index.contains("<a href=\"./blog/post/#comments\">2 comments</a>"),
        "{index}"
    );
    let rss = w.out("index.rss");
    assert!(
        rss.contains("<comments>/blog/post/#comments</comments>"),
        "{rss}"
    );
    let atom = w.out("index.atom");
    assert!(atom.contains("href=\"/blog/post/comments.atom\" type=\"application/atom+xml\""));
    for (name, xml) in [("rss", rss), ("atom", atom)] {
        feed_rs::parser::parse(xml.as_bytes())
            .unwrap_or_else(|e| panic!("index.{name} does not parse: {e}"));
    }
}

#[test]
fn comment_errors() {
    let w = TestWiki::with_setup(SETUP);
    w.write("blog/post.mdwn", "A post.\n")
        .write(
            "blog/post/comment_1_a._comment",
            "[[!comment username=\"x\" subject=\"no content\"]]\n",
        )
        .write(
            "blog/post/comment_2_b._comment",
            "[[!comment format=nosuch content=\"text\"]]\n",
        );
    w.build();
    let html = w.page("blog/post");
    assert!(html.contains("Error: comment must have content"), "{html}");
    assert!(
        html.contains("Error: unsupported page format nosuch"),
        "{html}"
    );
}

#[test]
fn allowauthor_and_directives() {
    let w = TestWiki::with_setup(&format!(
        "{SETUP}comments_allowauthor: 1\ncomments_allowdirectives: 1\n"
    ));
    w.write("blog/post.mdwn", "A post.\n").write(
        "blog/post/comment_1_a._comment",
        comment(
            "ip=\"192.0.2.9\" claimedauthor=\"Bob\" url=\"bob.example.com\"",
            "[[!pagecount pages=\"blog/*\"]] posts",
        ),
    );
    w.build();
    let html = w.page("blog/post");
    assert!(
        html.contains("<a rel=\"nofollow\" href=\"http://bob.example.com\">Bob</a>"),
        "{html}"
    );
    assert!(html.contains("1 posts"), "directives expanded: {html}");
}

#[test]
fn a_new_comment_refreshes_its_page() {
    let w = blog();
    w.build();
    assert!(w.page("blog/post").contains("2 comments"));
    w.write(
        "blog/post/comment_4_ffff._comment",
        comment(
            "username=\"zed\" subject=\"Latest\" date=\"2024-03-01T00:00:00Z\"",
            "new",
        ),
    );
    w.refresh();
    let html = w.page("blog/post");
    assert!(html.contains("3 comments"), "{html}");
    assert!(html.contains("Latest"));
    let atom = w.out("blog/post/comments.atom");
    assert!(atom.contains("Latest"));
    // Removing every comment removes the feeds and the section.
    for c in ["comment_1_aaaa", "comment_2_bbbb", "comment_4_ffff"] {
        std::fs::remove_file(w.src().join(format!("blog/post/{c}._comment"))).unwrap();
    }
    w.refresh();
    let html = w.page("blog/post");
    assert!(!html.contains("id=\"comments\""), "{html}");
    assert!(!w.exists("blog/post/comments.atom"));
}
