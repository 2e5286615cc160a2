//! Generates a synthetic wiki for scale runs: N pages in nested
//! sections, with wikilinks, tags, meta titles, inlines, maps and tables
//! of contents in realistic proportions, deterministic for a seed.
//!
//! Usage: cargo run --release --example genwiki -- DIR [--pages N] [--seed S]
//!        [--comments C]
//!
//! `--comments C` adds C comments (`._comment` files, comments plugin on)
//! to the first pages of each section, a few pages taking most of them.
//!
//! Writes DIR/src (the wiki) and DIR/setup.yaml (an ikiwiki setup that
//! builds it into DIR/html; ikiwiki and wikic both read it).

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

/// A small deterministic generator (xorshift), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

const WORDS: &[&str] = &[
    "wiki", "page", "compiler", "markdown", "link", "tag", "blog", "feed", "template", "history",
    "commit", "branch", "mirror", "setup", "plugin", "render", "index", "archive", "editor",
    "static", "site", "git", "review", "draft", "release", "note", "topic", "section", "detail",
    "summary",
];

fn sentence(rng: &mut Rng, words: usize) -> String {
    let mut s = String::new();
    for i in 0..words {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(WORDS[rng.below(WORDS.len())]);
    }
    s
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 2 {
        eprintln!("usage: genwiki DIR [--pages N] [--seed S] [--comments C]");
        std::process::exit(2);
    }
    let dir = Path::new(&args[1]);
    let opt = |name: &str, default: u64| -> u64 {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let pages = opt("--pages", 10_000) as usize;
    let comments = opt("--comments", 0) as usize;
    let mut rng = Rng(opt("--seed", 42).max(1));
    let src = dir.join("src");
    fs::create_dir_all(&src).unwrap();

    // Sections of ~200 pages, some with subsections: names like
    // `s12/p345` or `s12/sub3/p345`.
    let sections = (pages / 200).max(1);
    let names: Vec<String> = (0..pages)
        .map(|i| {
            let s = i % sections;
            if i % 5 == 0 {
                format!("s{s}/sub{}/p{i}", i % 7)
            } else {
                format!("s{s}/p{i}")
            }
        })
        .collect();
    let base_time: i64 = 1_500_000_000;
    for (i, name) in names.iter().enumerate() {
        let mut t = String::new();
        if rng.chance(30) {
            let _ = writeln!(t, "[[!meta title=\"{}\"]]", sentence(&mut rng, 3));
        }
        let _ = writeln!(t, "# {}\n", sentence(&mut rng, 4));
        if rng.chance(5) {
            let _ = writeln!(t, "[[!toc levels=2]]\n");
        }
        for _ in 0..(2 + rng.below(4)) {
            let n = 12 + rng.below(30);
            let mut para = sentence(&mut rng, n);
            for _ in 0..rng.below(4) {
                let target = &names[rng.below(names.len())];
                let shown = target.rsplit('/').next().unwrap();
                let link = if rng.chance(30) {
                    format!(
                        " [[{} {}|{}]]",
                        WORDS[rng.below(WORDS.len())],
                        shown,
                        target
                    )
                } else if rng.chance(50) {
                    format!(" [[{target}]]")
                } else {
                    // Relative, resolved by bestlink from the page.
                    format!(" [[{shown}]]")
                };
                para.push_str(&link);
            }
            if rng.chance(10) {
                para.push_str(" [[missing page]]");
            }
            let _ = writeln!(t, "{para}.\n");
            if rng.chance(15) {
                let _ = writeln!(
                    t,
                    "## {}\n\n* {}\n* {}\n",
                    sentence(&mut rng, 2),
                    sentence(&mut rng, 5),
                    sentence(&mut rng, 5)
                );
            }
        }
        let tags = rng.below(3);
        if tags > 0 {
            let list: Vec<String> = (0..tags)
                .map(|_| format!("tags/t{}", rng.below(50)))
                .collect();
            let _ = writeln!(t, "[[!tag {}]]", list.join(" "));
        }
        if i % 200 == 0 {
            let sec = name.split('/').next().unwrap();
            let _ = writeln!(
                t,
                "\n[[!inline pages=\"{sec}/* and !*/discussion\" show=10 archive=yes]]"
            );
        }
        if i % 1000 == 1 {
            let sec = name.split('/').next().unwrap();
            let _ = writeln!(t, "\n[[!map pages=\"{sec}/*\"]]");
        }
        let path = src.join(format!("{name}.mdwn"));
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, t).unwrap();
        let mtime = std::time::UNIX_EPOCH
            + std::time::Duration::from_secs((base_time + i as i64 * 600) as u64);
        let f = fs::File::options().write(true).open(&path).unwrap();
        f.set_modified(mtime).unwrap();
    }
    for s in 0..sections {
        fs::write(
            src.join(format!("s{s}.mdwn")),
            format!("Section {s}.\n\n[[!inline pages=\"s{s}/*\" show=5]]\n"),
        )
        .unwrap();
    }
    fs::create_dir_all(src.join("tags")).unwrap();
    for t in 0..50 {
        fs::write(
            src.join(format!("tags/t{t}.mdwn")),
            format!(
                "Pages tagged t{t}:\n\n[[!inline pages=\"tagged(t{t})\" archive=yes show=20]]\n"
            ),
        )
        .unwrap();
    }
    // Comments: pages drawn from the first 2% (squared, so some pages
    // get hundreds), each comment a short Markdown text.
    let commented = (pages / 50).max(1);
    for c in 0..comments {
        let r = rng.below(commented);
        let parent = &names[r * r / commented];
        let text = format!(
            "[[!comment format=mdwn\n username=\"user{}\"\n subject=\"{}\"\n date=\"{}\"\n content=\"\"\"\n{} [[{}]].\n\"\"\"]]\n",
            rng.below(500),
            sentence(&mut rng, 3),
            base_time + c as i64 * 60,
            sentence(&mut rng, 12),
            names[rng.below(names.len())],
        );
        let dir = src.join(parent);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(format!("comment_{}_{c:x}._comment", c + 1)), text).unwrap();
    }
    let mut index = String::from("A generated wiki.\n\n");
    for s in 0..sections.min(100) {
        let _ = writeln!(index, "* [[s{s}]]");
    }
    fs::write(src.join("index.mdwn"), index).unwrap();
    fs::write(
        dir.join("setup.yaml"),
        format!(
            "# IkiWiki::Setup::Yaml - YAML formatted setup file\nwikiname: generated\nsrcdir: {}\ndestdir: {}\nurl: http://example.org/\nunderlaydir: ''\nadd_plugins: [goodstuff{}]\ndisable_plugins: [smiley]\ntagbase: tags\ntag_autocreate: 0\n{}",
            src.display(),
            dir.join("html").display(),
            if comments > 0 { ", comments" } else { "" },
            if comments > 0 {
                "comments_pagespec: \"s*\"\n"
            } else {
                ""
            }
        ),
    )
    .unwrap();
    println!("generated {pages} pages in {}", src.display());
}
