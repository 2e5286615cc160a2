//! Directives and page plugins on small wikis built in-process: each
//! directive's parameters, its errors (ikiwiki's error span, the rest of
//! the page intact), and what it adds to the page around it.

#[path = "support/testwiki.rs"]
mod testwiki;

use testwiki::TestWiki;

/// The error span a failed directive leaves.
fn error_of(html: &str, directive: &str) -> Option<String> {
    let start = html.find(&format!("[[!{directive} <span class=\"error\">Error: "))?;
    let rest = &html[start..];
    let end = rest.find("</span>")?;
    Some(rest[..end].to_string())
}

#[test]
fn internal_sources_count_as_linkers_but_are_not_published() {
    let w = TestWiki::new();
    w.write("target.mdwn", "The target.\n")
        .write("post.mdwn", "A post.\n")
        .write(
            "post/comment_1_abc._comment",
            "[[!comment username=\"joe\" content=\"\"\"See [[target]].\"\"\"]]\n",
        );
    w.build();
    let target = w.page("target");
    assert!(
        target.contains("href=\"../post/comment_1_abc._comment/\""),
        "ikiwiki lists internal sources among backlinks: {target}"
    );
    assert!(!w.exists("post/comment_1_abc._comment"), "not published");
    // The same after a refresh that changes the comment's links.
    w.write(
        "post/comment_1_abc._comment",
        "[[!comment content=\"\"\"no links\"\"\"]]\n",
    );
    w.refresh();
    assert!(!w.page("target").contains("comment_1_abc"));
}

#[test]
fn toggle_and_toggleable() {
    let w = TestWiki::new();
    w.write(
        "index.mdwn",
        "[[!toggle id=\"a b\" text=\"Show it\"]]\n\n[[!toggleable id=\"a b\" text=\"\"\"\nSome **bold** and [[other]].\n\"\"\"]]\n\n[[!toggle]]\n[[!toggleable text=\"open one\" open=yes]]\n",
    )
    .write("other.mdwn", "x\n");
    w.build();
    let html = w.page("index");
    assert!(
        html.contains("<a class=\"toggle\" href=\"#index.a-b\">Show it</a>"),
        "{html}"
    );
    assert!(
        html.contains("<div class=\"toggleable\" id=\"index.a-b\">"),
        "{html}"
    );
    assert!(html.contains("<strong>bold</strong>") && html.contains("href=\"./other/\""));
    assert!(html.contains("<a class=\"toggle\" href=\"#index.default\">more</a>"));
    assert!(html.contains("<div class=\"toggleable-open\" id=\"index.default\">"));
    assert!(!html.contains("toggleableend"), "markers joined: {html}");
    let scripts = html.find("ikiwiki/toggle.js").expect("script added");
    assert!(scripts < html.find("</body>").unwrap());
    assert!(w.exists("ikiwiki/toggle.js") && w.exists("ikiwiki/ikiwiki.js"));
    // A page without toggles gets no script.
    assert!(!w.page("other").contains("toggle.js"));
}

#[test]
fn more_on_the_page_and_inlined() {
    let w = TestWiki::new();
    w.write(
        "blog/post.mdwn",
        "Intro.\n\n[[!more linktext=\"read on\" text=\"\"\"\nThe rest.\n\"\"\"]]\n",
    )
    .write("index.mdwn", "[[!inline pages=\"blog/*\"]]\n")
    .write("other.mdwn", "[[!inline pages=\"blog/*\"]]\n");
    w.build();
    let post = w.content("blog/post");
    assert!(
        post.contains("<a name=\"more\"></a>") && post.contains("The rest."),
        "{post}"
    );
    let index = w.content("index");
    assert!(
        index.contains("href=\"./blog/post/#more\">read on</a>"),
        "{index}"
    );
    assert!(!index.contains("The rest."));
    // pages= limits where the link replaces the text.
    w.write(
        "blog/post.mdwn",
        "[[!more pages=\"index\" text=\"\"\"The rest.\"\"\"]]\n",
    );
    w.build();
    assert!(w.content("index").contains(">more</a>"));
    assert!(w.content("other").contains("The rest."));
}

#[test]
fn progress_bars_and_their_errors() {
    let w = TestWiki::new();
    w.write(
        "index.mdwn",
        "[[!progress percent=42]]\n\n[[!progress totalpages=\"todo/*\" donepages=\"todo/* and tagged(done)\"]]\n\n[[!progress percent=140]]\n\n[[!progress]]\n",
    )
    .write("todo/a.mdwn", "[[!tag done]]\n")
    .write("todo/b.mdwn", "b\n")
    .write("todo/c.mdwn", "c\n");
    w.build();
    let html = w.content("index");
    assert!(
        html.contains("<div class=\"progress-done\" style=\"width: 42%\">42%</div>"),
        "{html}"
    );
    assert!(html.contains("style=\"width: 33%\">33%</div>"), "{html}");
    assert_eq!(
        error_of(&html, "progress").as_deref(),
        Some("[[!progress <span class=\"error\">Error: illegal percent value 140")
    );
    assert!(
        html.contains("Error: need either `percent` or `totalpages`"),
        "{html}"
    );
    // Marking another page done updates the bar on refresh.
    w.write("todo/b.mdwn", "[[!tag done]]\n");
    w.refresh();
    assert!(w.content("index").contains(">66%</div>"));
}

#[test]
fn color_keeps_valid_colours_only() {
    let w = TestWiki::with_setup("add_plugins: [goodstuff, color]");
    w.write(
        "index.mdwn",
        "[[!color foreground=red background=\"#ABC\" text=\"warm\"]] and [[!color foreground=\"red;position:fixed\" text=\"*safe*\"]]\n",
    );
    w.build();
    let html = w.content("index");
    assert!(
        html.contains(
            "<span class=\"color\" style=\"color: red; background-color: #abc\">warm</span>"
        ),
        "{html}"
    );
    assert!(
        html.contains("<span class=\"color\" style=\"\"><em>safe</em></span>"),
        "{html}"
    );
    assert!(!html.contains("position"));
}

#[test]
fn tables_from_dsv_csv_and_files() {
    let w = TestWiki::new();
    w.write(
        "index.mdwn",
        "[[!table data=\"\"\"\nName|Link\n[[Other]]|**x**||\n\"\"\"]]\n\n[[!table format=csv header=column class=wide data=\"\"\"\na,\"b, c\",d\n1,2,3\n\"\"\"]]\n\n[[!table file=\"data.csv\"]]\n\n[[!table format=xml data=\"a\"]]\n\n[[!table data=\"\"\"only|header\"\"\"]]\n\n[[!table file=missing.csv]]\n",
    )
    .write("other.mdwn", "o\n")
    .write("data.csv", "h1,h2\n[[other]],v\n");
    w.build();
    let html = w.content("index");
    assert!(html.contains("<th>Name</th>"), "{html}");
    assert!(html.contains("<a href=\"./other/\">Other</a>"), "{html}");
    assert!(
        html.contains("<td colspan=\"3\"><strong>x</strong></td>"),
        "{html}"
    );
    assert!(html.contains("<table class=\"wide\">"));
    assert!(
        html.contains("<th>1</th>") && html.contains("<td>b, c</td>"),
        "{html}"
    );
    assert!(
        html.contains("<th>h1</th>") && html.contains("Direct data download"),
        "{html}"
    );
    assert!(html.contains("Error: unknown data format"));
    assert!(html.contains("Error: empty data"));
    assert!(html.contains("Error: cannot find file"));
    // Links in the data file are the page's links.
    assert!(w.page("other").contains("id=\"backlinks\""));
}

#[test]
fn pagestats_cloud_list_table() {
    let w = TestWiki::new();
    w.write(
        "index.mdwn",
        "[[!pagestats pages=\"tags/*\"]]\n\n[[!pagestats pages=\"tags/*\" style=table]]\n\n[[!pagestats pages=\"tags/*\" among=\"posts/*\" style=list show=1]]\n",
    )
    .write("tags/big.mdwn", "big\n")
    .write("tags/small.mdwn", "small\n")
    .write("tags/none.mdwn", "none\n")
    .write("posts/a.mdwn", "[[tags/big]] [[tags/small]]\n")
    .write("posts/b.mdwn", "[[tags/big]]\n")
    .write("c.mdwn", "[[tags/big]]\n");
    w.build();
    let html = w.content("index");
    // Classes scale with the count: 3 of at most 3 is bigPC (3*5/4).
    assert!(
        html.contains("<span class=\"bigPC\"><a href=\"./tags/big/\">big</a></span>"),
        "{html}"
    );
    assert!(
        html.contains("<span class=\"smallPC\"><a href=\"./tags/small/\">small</a></span>"),
        "{html}"
    );
    assert!(
        !html.contains("class=\"smallestPC\"><a href=\"./tags/none/\""),
        "count 0 not in the cloud"
    );
    assert!(
        html.contains("<td><a href=\"./tags/big/\">big</a></td><td>3</td>"),
        "{html}"
    );
    assert!(
        html.contains("<td><a href=\"./tags/none/\">none</a></td><td>0</td>"),
        "{html}"
    );
    let list = &html[html.find("<ul class=").expect("list")..];
    assert!(
        list.contains("tags/big/") && !list[..list.find("</ul>").unwrap()].contains("tags/small/"),
        "show=1"
    );
    // A new linking page changes the counts on refresh.
    w.write("posts/d.mdwn", "[[tags/small]] [[tags/none]]\n");
    w.refresh();
    assert!(
        w.content("index")
            .contains("<td><a href=\"./tags/none/\">none</a></td><td>1</td>")
    );
}

#[test]
fn smileys_from_the_smileys_page() {
    let w = TestWiki::with_setup("disable_plugins: []");
    w.write(
        "smileys.mdwn",
        "* \\\\:)\t[[smileys/smile.png]]\n* \\\\:-(\t[[smileys/sad.png]]\n",
    )
    .write("smileys/smile.png", b"\x89PNG")
    .write("smileys/sad.png", b"\x89PNG")
    // In CommonMark `\:` is an escaped colon: a backslash that reaches the
    // smiley filter is written `\\`.
    .write(
        "index.mdwn",
        "Hi :) and :-( but not a:) nor \\\\:) nor `:)`.\n",
    );
    w.build();
    let html = w.content("index");
    assert!(
        html.contains("Hi <img src=\"./smileys/smile.png\" alt=\":)\""),
        "{html}"
    );
    assert!(
        html.contains("<img src=\"./smileys/sad.png\" alt=\":-(\""),
        "{html}"
    );
    assert!(
        html.contains("not a:) nor :) nor <code>:)</code>"),
        "{html}"
    );
    // A new smiley applies everywhere on refresh.
    w.write(
        "smileys.mdwn",
        "* \\\\:)\t[[smileys/smile.png]]\n* \\\\:-(\t[[smileys/sad.png]]\n* \\\\a:)\t[[smileys/sad.png]]\n",
    );
    w.refresh();
    assert!(
        w.content("index")
            .contains("not <img src=\"./smileys/sad.png\" alt=\"a:)\"")
    );
}

#[test]
fn repolist_names_the_repositories() {
    let w = TestWiki::with_setup("rcs: git\nrepositories: [\"git://example.org/wiki.git\"]");
    w.write("index.mdwn", "x\n");
    w.build();
    assert!(w.page("index").contains(
        "<link rel=\"vcs-git\" href=\"git://example.org/wiki.git\" title=\"wiki git repository\" />"
    ));
}
