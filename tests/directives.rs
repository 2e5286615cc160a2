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
fn shortcuts_from_the_shortcuts_page_never_replace_built_in_directives() {
    let w = TestWiki::new();
    w.write(
        "shortcuts.mdwn",
        "[[!shortcut name=wp url=\"https://en.wikipedia.org/wiki/%W\"]]\n\
         [[!shortcut name=wp url=\"https://second.example/%s\"]]\n\
         [[!shortcut name=tag url=\"https://tags.example/%s\"]]\n\
         \\[[!shortcut name=off url=\"https://off.example/%s\"]]\n",
    )
    .write(
        "index.mdwn",
        "[[!wp Rust_(language)]] and [[!tag green]] and [[!off x]] and [[!nosuch y]].\n",
    );
    w.build();
    let html = w.content("index");
    // The first definition of a name wins.
    assert!(
        html.contains("href=\"https://en.wikipedia.org/wiki/Rust%5F%28language%29\""),
        "{html}"
    );
    assert!(!html.contains("second.example"), "{html}");
    // A built-in directive of that name stays the built-in one.
    assert!(!html.contains("tags.example"), "{html}");
    // An escaped definition defines nothing; unknown directives stay as
    // written.
    assert!(
        html.contains("[[!off ") && html.contains("[[!nosuch "),
        "{html}"
    );
    // A shortcut added later applies on refresh.
    w.write(
        "shortcuts.mdwn",
        "[[!shortcut name=wp url=\"https://en.wikipedia.org/wiki/%W\"]]\n\
         [[!shortcut name=nosuch url=\"https://now.example/%s\"]]\n",
    );
    w.refresh();
    assert!(
        w.content("index")
            .contains("href=\"https://now.example/y\"")
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

fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_pixel(w, h, image::Rgb([200, 40, 40]));
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut out, image::ImageFormat::Png)
        .unwrap();
    out.into_inner()
}

#[test]
fn img_scales_links_and_captions() {
    let w = TestWiki::new();
    w.write("pic.png", png(300, 200))
        .write("other.mdwn", "o\n")
        .write(
            "index.mdwn",
            "[[!img pic.png]]\n\n[[!img pic.png size=100x]]\n\n[[!img pic.png size=x50 alt=\"A pic\" title=T class=fancy id=p1 align=left]]\n\n[[!img pic.png size=200x200 caption=\"Cap\" align=right link=other]]\n\n[[!img pic.png size=600x link=http://example.com/]]\n\n[[!img pic.png size=30x30 link=no]]\n\n[[!img missing.png]]\n",
        );
    w.build();
    let html = w.content("index");
    assert!(
        html.contains("<a href=\"./pic.png\"><img src=\"./pic.png\" width=\"300\" height=\"200\" class=\"img\" /></a>"),
        "{html}"
    );
    assert!(
        html.contains(
            "<img src=\"./index/100x-pic.png\" width=\"100\" height=\"67\" class=\"img\" />"
        ),
        "{html}"
    );
    assert!(html.contains(
        "<img src=\"./index/x50-pic.png\" width=\"75\" height=\"50\" alt=\"A pic\" title=\"T\" class=\"fancy\" id=\"p1\" align=\"left\" />"
    ));
    assert!(html.contains("<table class=\"img align-right\"><caption>Cap</caption><tr><td><a href=\"./other/\"><img src=\"./index/200x200-pic.png\" width=\"200\" height=\"133\""), "{html}");
    // Not scaled up: the original, shown at the size asked.
    assert!(
        html.contains(
            "<a href=\"http://example.com/\"><img src=\"./pic.png\" width=\"600\" height=\"400\""
        ),
        "{html}"
    );
    assert!(
        html.contains(
            "<img src=\"./index/30x30-pic.png\" width=\"30\" height=\"20\" class=\"img\" />"
        ) && !html.contains("<a href=\"./pic.png\"><img src=\"./index/30x30")
    );
    assert!(
        html.contains("<span class=\"createlink\">missing.png</span>"),
        "{html}"
    );
    let scaled = image::open(w.dest().join("index/100x-pic.png")).unwrap();
    assert_eq!((scaled.width(), scaled.height()), (100, 67));

    // A rebuild keeps the scaled copies it made; a changed image remakes them.
    let path = w.dest().join("index/100x-pic.png");
    let before = std::fs::metadata(&path).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    w.build();
    assert_eq!(
        std::fs::metadata(&path).unwrap().modified().unwrap(),
        before,
        "not remade"
    );
    w.write("pic.png", png(200, 100));
    w.refresh();
    assert!(
        w.content("index")
            .contains("<img src=\"./index/100x-pic.png\" width=\"100\" height=\"50\"")
    );
    assert_eq!(image::open(&path).unwrap().height(), 50);
    // Scaled copies go with the page.
    w.write("index.mdwn", "no images\n");
    w.refresh();
    assert!(!path.exists(), "scaled copy removed with its use");
}

#[test]
fn img_defaults_and_errors() {
    let w = TestWiki::with_setup("img_allowed_formats: [png]");
    w.write("pic.png", png(300, 200))
        .write("fake.png", "not a png")
        .write("photo.jpg", b"\xff\xd8\xff\xe0")
        .write("noext", "x")
        .write(
            "index.mdwn",
            "[[!img pic.png]]\n\n[[!img defaults size=150x class=thumb]]\n\n[[!img fake.png]]\n\n[[!img photo.jpg]]\n\n[[!img \"bad name!.png\"]]\n",
        );
    w.build();
    let html = w.content("index");
    // The page's defaults apply to every image on it, as in ikiwiki.
    assert!(
        html.contains(
            "<img src=\"./index/150x-pic.png\" width=\"150\" height=\"100\" class=\"thumb\" />"
        ),
        "{html}"
    );
    assert!(
        html.contains("Error: &quot;fake.png&quot; does not seem to be a valid png file")
            || html.contains("Error: \"fake.png\" does not seem to be a valid png file"),
        "{html}"
    );
    assert!(
        html.contains("Error: jpeg image processing disabled in img_allowed_formats configuration"),
        "{html}"
    );
    assert!(html.contains("Error: bad image filename"), "{html}");
}

#[test]
fn format_highlights_renders_or_escapes() {
    let w = TestWiki::with_setup("add_plugins: [goodstuff, format]");
    w.write(
        "index.mdwn",
        "[[!format c \"\"\"\nint main() {\n\n    return 0; /* done */\n}\n\"\"\"]]\n\n[[!format mdwn \"\"\"*emphasis* and [[other]]\"\"\"]]\n\n[[!format nosuchlang \"\"\"a < b\"\"\"]]\n\n[[!format c]]\n",
    )
    .write("other.mdwn", "o\n");
    w.build();
    let html = w.content("index");
    let code = &html[html
        .find("<div class=\"highlight-c\"><pre class=\"hl\">")
        .expect("highlighted block")..];
    let code = &code[..code.find("</pre>").unwrap()];
    assert!(
        code.contains("hl-comment") && code.contains("return"),
        "{code}"
    );
    assert!(
        code.contains("\n\n"),
        "a blank line inside the code stays inside it: {code}"
    );
    assert!(
        html.contains("<em>emphasis</em> and <a href=\"./other/\">other</a>"),
        "{html}"
    );
    assert!(html.contains("<pre class=\"hl\">a &lt; b</pre>"), "{html}");
    assert!(
        html.contains("Error: must specify format and text"),
        "{html}"
    );
}

#[test]
fn sidebars_nearest_own_and_global_off() {
    let w = TestWiki::with_setup("add_plugins: [goodstuff, sidebar]");
    w.write("sidebar.mdwn", "Main [[sidebar links|index]]\n")
        .write("index.mdwn", "home\n")
        .write("blog.mdwn", "blog\n")
        .write("blog/post.mdwn", "post\n")
        .write(
            "custom.mdwn",
            "[[!sidebar content=\"\"\"Mine, see [[blog]]\"\"\"]]\nbody\n",
        );
    w.build();
    let aside = |name: &str| {
        let html = w.page(name);
        html.find("class=\"sidebar\"")
            .map(|i| html[i..i + html[i..].find("</div>").unwrap_or(200)].to_string())
    };
    // Links in the sidebar are made from the page it is shown on.
    assert!(
        aside("index")
            .unwrap()
            .contains("<span class=\"selflink\">sidebar links</span>"),
        "{:?}",
        aside("index")
    );
    assert!(
        aside("blog/post")
            .unwrap()
            .contains("<a href=\"../../\">sidebar links</a>")
    );
    let own = aside("custom").unwrap();
    assert!(
        own.contains("Mine, see <a href=\"../blog/\">blog</a>") && !own.contains("Main"),
        "{own}"
    );
    // A nearer sidebar appears: the pages below it change, others not.
    w.write("blog/sidebar.mdwn", "Blog side\n");
    let r = w.refresh();
    assert!(aside("blog/post").unwrap().contains("Blog side"));
    assert!(aside("index").unwrap().contains("Main"));
    assert!(
        r.rendered < 6,
        "only what the new sidebar affects: {}",
        r.rendered
    );
    // Editing the sidebar updates the pages showing it.
    w.write("sidebar.mdwn", "Edited side\n");
    w.refresh();
    assert!(aside("index").unwrap().contains("Edited side"));

    let off = TestWiki::with_setup("add_plugins: [goodstuff, sidebar]\nglobal_sidebars: 0");
    off.write("sidebar.mdwn", "Side\n")
        .write("index.mdwn", "home\n")
        .write("with.mdwn", "[[!sidebar]]\nwith\n");
    off.build();
    assert!(!off.page("index").contains("class=\"sidebar\""));
    assert!(off.page("with").contains("class=\"sidebar\""));
}

/// The trail navigation of a page: (prev title, trail title, next title).
/// (Pages show it twice, above and below the content; this reads the
/// first.)
fn trail_nav(html: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let Some(start) = html.find("<div class=\"trails\">") else {
        return out;
    };
    let rest = &html[start..];
    let first = &rest[..rest.find("</div>\n</div>").unwrap_or(rest.len())];
    for block in first.split("<div class=\"trail\">").skip(1) {
        let block = &block[..block.find("</div>").unwrap_or(block.len())];
        let text_in = |class: &str| {
            block
                .find(&format!("class=\"{class}\""))
                .map(|i| {
                    let rest = &block[i..];
                    let a = rest.find("<a ").unwrap();
                    let start = a + rest[a..].find('>').unwrap() + 1;
                    rest[start..start + rest[start..].find("</a>").unwrap()].to_string()
                })
                .unwrap_or_default()
        };
        out.push((
            text_in("trailprev"),
            text_in("trailup"),
            text_in("trailnext"),
        ));
    }
    out
}

#[test]
fn trails_link_neighbours_and_follow_changes() {
    let w = TestWiki::with_setup("add_plugins: [goodstuff, trail]");
    w.write(
        "guide.mdwn",
        "[[!meta title=\"The Guide\"]]\nRead [[!traillink Intro|g/one]], then [[!traillink g/two text=\"part two\"]].\n[[!trailitem g/three]]\n[[!trailitems pagenames=\"g/four g/missing\"]]\n",
    );
    for p in ["one", "two", "three", "four"] {
        w.write(&format!("g/{p}.mdwn"), format!("Page {p}.\n"));
    }
    w.write(
        "blog.mdwn",
        "[[!inline pages=\"posts/*\" trail=yes sort=title]]\n",
    )
    .write("posts/b.mdwn", "b\n")
    .write("posts/a.mdwn", "a\n");
    w.build();
    let guide = w.content("guide");
    assert!(
        guide.contains("<a href=\"../g/one/\">Intro</a>") && guide.contains(">part two</a>"),
        "{guide}"
    );
    assert_eq!(
        trail_nav(&w.page("g/one")),
        vec![(String::new(), "The Guide".into(), "two".into())]
    );
    assert_eq!(
        trail_nav(&w.page("g/three")),
        vec![("two".into(), "The Guide".into(), "four".into())]
    );
    assert_eq!(
        trail_nav(&w.page("g/four")),
        vec![("three".into(), "The Guide".into(), String::new())]
    );
    assert!(
        w.page("g/two")
            .contains("<link rel=\"next\" href=\"../three/\" title=\"three\" />")
    );
    assert_eq!(
        trail_nav(&w.page("posts/a")),
        vec![(String::new(), "blog".into(), "b".into())]
    );

    // A neighbour's new title, a page joining and circular=yes all show
    // after a refresh, as after a rebuild.
    w.write("g/two.mdwn", "[[!meta title=\"Two!\"]]\n");
    w.refresh();
    assert_eq!(trail_nav(&w.page("g/three"))[0].0, "Two!");
    w.write(
        "guide.mdwn",
        "[[!meta title=\"The Guide\"]]\n[[!trailoptions circular=yes]]\n[[!trailitem g/one]] [[!trailitem g/five]] [[!trailitem g/four]]\n",
    )
    .write("g/five.mdwn", "five\n");
    w.refresh();
    assert_eq!(
        trail_nav(&w.page("g/one")),
        vec![("four".into(), "The Guide".into(), "five".into())]
    );
    assert_eq!(
        trail_nav(&w.page("g/four")),
        vec![("five".into(), "The Guide".into(), "one".into())]
    );
    assert!(trail_nav(&w.page("g/three")).is_empty(), "left the trail");
    w.write("posts/c.mdwn", "c\n");
    w.refresh();
    assert_eq!(trail_nav(&w.page("posts/b"))[0].2, "c");
}

#[test]
fn edittemplate_registrations_and_errors() {
    let w = TestWiki::with_setup("add_plugins: [goodstuff, edittemplate]\n");
    w.write("templates/bug.mdwn", "A bug report template.\n")
        .write(
            "index.mdwn",
            "[[!edittemplate template=\"bug\" match=\"bugs/*\"]]\n\n\
         [[!edittemplate template=\"bug\" match=\"bugs/*\" silent=yes]]\n\n\
         [[!edittemplate template=\"nosuch\" match=\"x/*\" silent=yes]]\n\n\
         [[!edittemplate match=\"x/*\"]]\n\n[[!edittemplate template=\"bug\"]]\n",
        );
    w.build();
    let html = w.content("index");
    assert!(
        html.contains(
            "<p>edittemplate <a href=\"./templates/bug/\">bug</a> registered for bugs/*</p>"
        ),
        "{html}"
    );
    assert_eq!(
        html.matches("registered for bugs/*").count(),
        1,
        "silent: {html}"
    );
    assert!(
        html.contains("<span class=\"createlink\">nosuch</span> registered for x/*"),
        "missing templates are never silent"
    );
    assert_eq!(
        error_of(&html, "edittemplate").as_deref(),
        Some("[[!edittemplate <span class=\"error\">Error: template not specified")
    );
    assert!(html.contains("Error: match not specified"));
    // The template page appearing turns the link on.
    w.write("templates/nosuch.mdwn", "Now it exists.\n");
    w.refresh();
    assert!(
        !w.content("index").contains("nosuch"),
        "silent once the template exists"
    );
}

#[test]
fn version_and_ping() {
    let w = TestWiki::with_setup("add_plugins: [goodstuff, version, pinger]\n");
    w.write(
        "index.mdwn",
        "Built by version [[!version]].\n\n\
         [[!ping from=\"http://example.org/\" to=\"http://mirror.example.com/ikiwiki.cgi\"]]\n\n\
         [[!ping from=\"http://elsewhere.org\" to=\"http://x.example.com/\"]]\n\n[[!ping to=\"x\"]]\n",
    );
    w.build();
    let html = w.content("index");
    assert!(html.contains(&format!("Built by version {}.", env!("CARGO_PKG_VERSION"))));
    assert!(html.contains("Will ping http://mirror.example.com/ikiwiki.cgi"));
    assert!(html.contains(
        "Ignoring ping directive for wiki http://elsewhere.org (this wiki is http://example.org)"
    ));
    assert!(
        html.contains("Error: requires &#39;from&#39; and &#39;to&#39; parameters")
            || html.contains("Error: requires 'from' and 'to' parameters"),
        "{html}"
    );
    let site = wikic::build::load_site(w.config(), &mut Default::default()).unwrap();
    assert_eq!(
        wikic::directives::ping::targets(&site.wiki),
        ["http://mirror.example.com/ikiwiki.cgi"]
    );
}

#[test]
fn htmlscrubber_skips_pages_matching_htmlscrubber_skip() {
    let w = TestWiki::with_setup("htmlscrubber_skip: \"trusted/*\"\n");
    let evil = "<script>alert(1)</script><a href=\"javascript:x()\" onclick=\"y()\">go</a>\n";
    w.write("trusted/page.mdwn", evil).write("open.mdwn", evil);
    w.build();
    let trusted = w.content("trusted/page");
    assert!(trusted.contains("<script>alert(1)</script>"), "{trusted}");
    assert!(trusted.contains("onclick"));
    let open = w.content("open");
    assert!(
        !open.contains("<script") && !open.contains("onclick") && !open.contains("javascript:"),
        "{open}"
    );
    assert!(open.contains(">go</a>"));
}

#[test]
fn inline_feeds_parse_with_a_feed_parser() {
    let w = TestWiki::with_setup("rss: 1\natom: 1\ntagbase: tags\n");
    w.write(
        "blog/one.mdwn",
        "[[!meta title=\"Fish & <chips>\"]][[!meta author=\"Ann\"]][[!tag food]]\nSee [[two]] and ![pic](pic.png).\n",
    )
    .write("blog/two.mdwn", "[[!meta date=\"2020-01-02 03:04\"]]Two, with `code` & entities &eacute;.\n")
    .write("blog/pic.png", "\u{89}PNG not really")
    .write("index.mdwn", "[[!inline pages=\"blog/*\" feedshow=5]]\n");
    w.build();
    let rss = feed_rs::parser::parse(w.out("index.rss").as_bytes()).expect("RSS parses");
    let atom = feed_rs::parser::parse(w.out("index.atom").as_bytes()).expect("Atom parses");
    for feed in [&rss, &atom] {
        let titles: Vec<&str> = feed
            .entries
            .iter()
            .map(|e| e.title.as_ref().unwrap().content.as_str())
            .collect();
        assert!(titles.contains(&"Fish & <chips>"), "{titles:?}");
        assert_eq!(feed.entries.len(), 3, "two posts and the image");
        for e in &feed.entries {
            assert!(
                e.links[0].href.starts_with("http://example.org/"),
                "{:?}",
                e.links
            );
        }
        let one = feed
            .entries
            .iter()
            .find(|e| e.title.as_ref().unwrap().content.starts_with("Fish"))
            .unwrap();
        assert_eq!(one.authors[0].name.as_deref(), Some("Ann"));
        assert_eq!(one.categories[0].term, "food");
        let body = one
            .content
            .as_ref()
            .and_then(|c| c.body.clone())
            .or_else(|| one.summary.as_ref().map(|s| s.content.clone()))
            .unwrap();
        assert!(
            body.contains("href=\"http://example.org/blog/two/\""),
            "absolute links: {body}"
        );
    }
}
