//! The `wikic` binary on real wikis in temporary directories: normal
//! builds, the command-line forms, and bad input of every kind.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn wikic() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wikic"))
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run wikic")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

struct Wiki {
    dir: tempfile::TempDir,
}

impl Wiki {
    fn new() -> Wiki {
        let w = Wiki {
            dir: tempfile::tempdir().unwrap(),
        };
        fs::create_dir_all(w.src()).unwrap();
        w
    }
    fn src(&self) -> PathBuf {
        self.dir.path().join("src")
    }
    fn dest(&self) -> PathBuf {
        self.dir.path().join("out")
    }
    fn write(&self, rel: &str, text: impl AsRef<[u8]>) {
        let p = self.src().join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }
    fn setup(&self, extra: &str) -> PathBuf {
        let p = self.dir.path().join("wiki.yaml");
        fs::write(
            &p,
            format!(
                "# IkiWiki::Setup::Yaml - YAML formatted setup file\nwikiname: test wiki\nsrcdir: src\ndestdir: out\nurl: http://example.org/\nunderlaydir: {}\n{}{extra}",
                self.dir.path().join("no-underlay").display(),
                if extra.contains("add_plugins") { "" } else { "add_plugins: [goodstuff]\n" }
            ),
        )
        .unwrap();
        p
    }
    fn out(&self, rel: &str) -> String {
        fs::read_to_string(self.dest().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }
}

#[test]
fn builds_pages_links_backlinks_and_tags() {
    let w = Wiki::new();
    w.write(
        "index.mdwn",
        "Welcome to [[the blog|blog]] and [[Missing]].\n\n[[!tag news]]\n",
    );
    w.write(
        "blog.mdwn",
        "[[!meta title=\"My Blog\"]]\nPosts: [[!inline pages=\"blog/*\" archive=yes]]\n",
    );
    w.write("blog/first.mdwn", "First post, back to [[index]].\n");
    w.write("news.mdwn", "News tag page.\n");
    w.write("pic.png", b"\x89PNG\r\n");
    let o = run(wikic().arg("--setup").arg(w.setup("")));
    assert!(o.status.success(), "{}", stderr(&o));
    let index = w.out("index.html");
    assert!(
        index.contains("<a href=\"./blog/\">the blog</a>"),
        "{index}"
    );
    assert!(index.contains("<span class=\"createlink\">Missing</span>"));
    assert!(index.contains("<a href=\"./news/\" rel=\"tag\">news</a>"));
    let blog = w.out("blog/index.html");
    assert!(blog.contains("<title>My Blog</title>"));
    assert!(blog.contains("<a href=\"./first/\">first</a>"), "{blog}");
    assert!(blog.contains("id=\"backlinks\"") && blog.contains("<a href=\"../\">index</a>"));
    assert!(
        w.out("blog/first/index.html")
            .contains("<a href=\"../\">blog</a>/")
    );
    assert_eq!(fs::read(w.dest().join("pic.png")).unwrap(), b"\x89PNG\r\n");
    assert!(
        w.dest().join("style.css").exists(),
        "a style.css is always provided"
    );
}

#[test]
fn quick_mode_and_jobs_give_identical_output() {
    let w = Wiki::new();
    for i in 0..60 {
        w.write(
            &format!("p{i}.mdwn"),
            format!(
                "Page {i} links to [[p{}]] and [[p{}]].\n\n## Heading\n\n[[!toc]]\n",
                (i + 1) % 60,
                (i * 7) % 60
            ),
        );
    }
    w.write("index.mdwn", "[[!map pages=\"p*\"]]\n");
    let a = w.dir.path().join("a");
    let b = w.dir.path().join("b");
    assert!(
        run(wikic().arg("-j").arg("1").arg(w.src()).arg(&a))
            .status
            .success()
    );
    assert!(
        run(wikic().arg("--jobs").arg("4").arg(w.src()).arg(&b))
            .status
            .success()
    );
    let files = |d: &Path| {
        let mut v: Vec<(PathBuf, Vec<u8>)> = walkdir::WalkDir::new(d)
            .into_iter()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_file())
            .map(|e| {
                (
                    e.path().strip_prefix(d).unwrap().to_path_buf(),
                    fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let (fa, fb) = (files(&a), files(&b));
    assert!(fa.len() > 60);
    assert!(fa == fb, "output differs between --jobs 1 and --jobs 4");
}

/// The same wiki named from another directory (a hook has the canonical
/// setup path built in; a user types a relative one) is the same wiki:
/// its refresh finds nothing to do instead of rebuilding everything.
#[test]
fn a_setup_named_from_another_directory_is_the_same_wiki() {
    let w = Wiki::new();
    w.write("index.mdwn", "Links to [[other]].\n");
    w.write("other.mdwn", "Other.\n");
    w.setup("");
    let built = run(wikic()
        .current_dir(w.dir.path())
        .args(["--setup", "wiki.yaml"]));
    assert!(built.status.success(), "{}", stderr(&built));
    let check = |cmd: &mut Command, how: &str| {
        let o = run(cmd.arg("--refresh").arg("-v"));
        let err = stderr(&o);
        assert!(o.status.success(), "{how}: {err}");
        assert!(!err.contains("rebuilding everything"), "{how}: {err}");
        assert!(!err.contains("INFO building"), "{how}: {err}");
    };
    let abs = w.dir.path().canonicalize().unwrap();
    check(
        wikic()
            .current_dir("/")
            .arg("--setup")
            .arg(abs.join("wiki.yaml")),
        "absolute setup path",
    );
    check(
        wikic()
            .current_dir(abs.join("src"))
            .args(["--setup", "../wiki.yaml"]),
        "setup path relative to srcdir",
    );
    // Quick mode: relative and absolute directories alike.
    let quick = run(wikic().current_dir(w.dir.path()).args(["src", "quick"]));
    assert!(quick.status.success(), "{}", stderr(&quick));
    check(
        wikic()
            .current_dir("/")
            .arg(abs.join("src"))
            .arg(abs.join("quick")),
        "quick mode, absolute directories",
    );
}

#[test]
fn invalid_utf8_page_is_reported_and_the_rest_builds() {
    let w = Wiki::new();
    w.write("index.mdwn", "Fine page linking [[bad]].\n");
    w.write("bad.mdwn", b"caf\xe9 au lait\nsecond line\n");
    let o = run(wikic().arg("--setup").arg(w.setup("")));
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("bad.mdwn") && err.contains("UTF-8") && err.contains("line 1"),
        "{err}"
    );
    let bad = w.out("bad/index.html");
    assert!(bad.contains("class=\"error\"") && bad.contains("caf\u{FFFD} au lait"));
    assert!(w.out("index.html").contains("<a href=\"./bad/\">bad</a>"));
}

#[cfg(unix)]
#[test]
fn unreadable_page_is_reported_and_the_rest_builds() {
    use std::os::unix::fs::PermissionsExt;
    let w = Wiki::new();
    w.write("index.mdwn", "Index.\n");
    w.write("secret.mdwn", "hidden\n");
    fs::set_permissions(
        w.src().join("secret.mdwn"),
        fs::Permissions::from_mode(0o000),
    )
    .unwrap();
    fs::set_permissions(w.dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
    fs::set_permissions(w.src(), fs::Permissions::from_mode(0o777)).unwrap();
    let setup = w.setup("");
    // Root reads anything; run as nobody so the permission bites.
    let is_root = unsafe_geteuid() == 0;
    let mut cmd = if is_root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_wikic"));
        c
    } else {
        wikic()
    };
    let o = run(cmd.arg("--setup").arg(&setup));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("secret.mdwn") && err.contains("cannot read"),
        "{err}"
    );
    assert!(w.out("index.html").contains("Index."));
    assert!(w.out("secret/index.html").contains("class=\"error\""));
}

#[cfg(unix)]
fn unsafe_geteuid() -> u32 {
    // The uid of this process, from /proc to avoid a libc dependency.
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).and_then(|u| u.parse().ok()))
        })
        .unwrap_or(1000)
}

#[test]
fn broken_yaml_names_file_line_and_column() {
    let w = Wiki::new();
    let p = w.dir.path().join("bad.yaml");
    fs::write(
        &p,
        "srcdir: src\ndestdir: out\nurl: [unclosed\nwikiname: x\n",
    )
    .unwrap();
    let o = run(wikic().arg("--setup").arg(&p));
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "one-line reason: {err}");
    assert!(
        err.contains("bad.yaml:") && err.contains("not valid YAML"),
        "{err}"
    );
    let loc = err.split("bad.yaml:").nth(1).unwrap();
    let nums: Vec<&str> = loc.split(':').take(2).collect();
    assert!(
        nums.iter().all(|n| n.parse::<usize>().is_ok()),
        "line and column in {err}"
    );
}

#[test]
fn unknown_keys_and_plugins_warn_but_build() {
    let w = Wiki::new();
    w.write("index.mdwn", "hi\n");
    let o = run(wikic().arg("--setup").arg(w.setup(
        "frobnicate: 1\ndisable_plugins: [smiley]\nadd_plugins: [goodstuff, nosuchplugin]\n",
    )));
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("frobnicate"), "{err}");
    assert!(err.contains("nosuchplugin"), "{err}");
}

#[test]
fn missing_arguments_and_files_fail_with_one_line() {
    let o = run(&mut wikic());
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--setup"));
    let o = run(wikic().arg("--setup").arg("/nonexistent/wiki.yaml"));
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o).lines().count(), 1);
    let w = Wiki::new();
    let p = w.dir.path().join("w.yaml");
    fs::write(&p, "destdir: out\n").unwrap();
    let o = run(wikic().arg("--setup").arg(&p));
    assert!(stderr(&o).contains("srcdir"), "{}", stderr(&o));
}

#[test]
fn perl_setup_files_are_explained() {
    let w = Wiki::new();
    let p = w.dir.path().join("old.setup");
    fs::write(
        &p,
        "#!/usr/bin/perl\nuse IkiWiki::Setup::Standard {\n\twikiname => 'x',\n}\n",
    )
    .unwrap();
    let o = run(wikic().arg("--setup").arg(&p));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--dumpsetup"), "{}", stderr(&o));
}

#[test]
fn dumpsetup_round_trips() {
    let w = Wiki::new();
    w.write("index.mdwn", "x\n");
    let dumped = w.dir.path().join("dumped.yaml");
    let o = run(wikic()
        .arg("--setup")
        .arg(w.setup(""))
        .arg("--wikiname")
        .arg("renamed")
        .arg("--dumpsetup")
        .arg(&dumped));
    assert!(o.status.success(), "{}", stderr(&o));
    let text = fs::read_to_string(&dumped).unwrap();
    assert!(text.starts_with("# IkiWiki::Setup::Yaml"));
    assert!(text.contains("wikiname: renamed"));
    // It is a working setup on its own.
    let o = run(wikic().arg("--setup").arg(&dumped));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(w.out("index.html").contains("<!-- from renamed -->"));
}

#[test]
fn self_including_templates_fail_cleanly() {
    // A wiki template that includes itself: an error box on the page.
    let w = Wiki::new();
    w.write("templates/loop.mdwn", "[[!template id=loop]]\n");
    w.write("index.mdwn", "[[!template id=loop]]\n");
    let o = run(wikic().arg("--setup").arg(w.setup("")));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(w.out("index.html").contains("preprocessing loop detected"));

    // Page templates that include each other: refused before building.
    let tpl = w.dir.path().join("tpl");
    fs::create_dir_all(&tpl).unwrap();
    fs::write(tpl.join("page.hbs"), "{{> inlinepage}}").unwrap();
    fs::write(tpl.join("inlinepage.hbs"), "{{> page}}").unwrap();
    let o = run(wikic().arg("--setup").arg(w.setup("templatedir: tpl\n")));
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("page.hbs") && err.contains("loop"), "{err}");
}

#[test]
fn deep_nesting_does_not_crash() {
    let w = Wiki::new();
    // 1,000 directives nested through heredocs with distinct delimiters.
    let mut text = String::from("core");
    for i in (0..1000).rev() {
        let id: String = [
            b'A' + (i / 676) as u8,
            b'A' + (i / 26 % 26) as u8,
            b'A' + (i % 26) as u8,
        ]
        .iter()
        .map(|&c| c as char)
        .collect();
        text = format!("[[!if test=\"*\" then=<<{id}\n{text}\n{id}]]");
    }
    w.write("deep.mdwn", &text);
    w.write(
        "parens.mdwn",
        format!(
            "[[!map pages=\"{}a{}\"]]\n",
            "(".repeat(3000),
            ")".repeat(3000)
        ),
    );
    w.write(
        "quotes.mdwn",
        format!(
            "[[!meta title={}]]\n{}",
            "\"\"\"".repeat(5000),
            "[[".repeat(20000)
        ),
    );
    w.write("index.mdwn", format!("{}\n", ">".repeat(3000)));
    let o = run(wikic().arg("--setup").arg(w.setup("")));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        w.out("deep/index.html")
            .contains("preprocessing loop detected on deep")
    );
    assert!(
        w.out("parens/index.html")
            .contains("syntax error in pagespec")
    );
    assert!(w.dest().join("quotes/index.html").exists());
}

#[test]
fn a_closed_log_pipe_does_not_stop_the_build() {
    // `wikic -v ... | head -1`: standard error is a pipe nobody reads.
    let w = Wiki::new();
    for i in 0..50 {
        w.write(
            &format!("p{i}.mdwn"),
            format!("page {i} [[p{}]]\n", (i + 1) % 50),
        );
    }
    let mut child = wikic()
        .arg("--setup")
        .arg(w.setup(""))
        .arg("-v")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    drop(child.stderr.take());
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status}");
    assert!(w.out("p49/index.html").contains("page 49"));
    assert!(
        !w.dir.path().join("src/.wikic/building").exists(),
        "the build finished"
    );
}

/// The program headers' types of a 64-bit little-endian ELF file.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn elf_segment_types(bytes: &[u8]) -> Vec<u32> {
    assert_eq!(&bytes[..4], b"\x7fELF", "not an ELF file");
    assert_eq!((bytes[4], bytes[5]), (2, 1), "not 64-bit little-endian");
    let u16_at = |o: usize| u16::from_le_bytes(bytes[o..o + 2].try_into().unwrap()) as usize;
    let phoff = u64::from_le_bytes(bytes[0x20..0x28].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    (0..phnum)
        .map(|i| {
            let o = phoff + i * phentsize;
            u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap())
        })
        .collect()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn the_binary_is_static_and_needs_no_loader() {
    // .cargo/config.toml links statically and position-dependent: no
    // interpreter (PT_INTERP) to load libraries and no dynamic section
    // (PT_DYNAMIC) to relocate, so nothing runs before `main`.
    const PT_DYNAMIC: u32 = 2;
    const PT_INTERP: u32 = 3;
    let bytes = fs::read(env!("CARGO_BIN_EXE_wikic")).unwrap();
    let types = elf_segment_types(&bytes);
    assert!(types.contains(&1), "no loadable segment: {types:?}");
    assert!(
        !types.contains(&PT_INTERP) && !types.contains(&PT_DYNAMIC),
        "wikic is dynamically linked (segments {types:?}); was RUSTFLAGS set, overriding .cargo/config.toml?"
    );
}

#[cfg(all(target_os = "linux", target_env = "gnu", target_arch = "x86_64"))]
#[test]
fn the_functions_a_refresh_runs_are_placed_first() {
    // build.rs hands bench/hot-symbols.txt to the linker, which puts
    // those functions at the start of the code. Their names are the
    // release build's; this debug build shares those of the standard
    // library and libc, enough to see the order was applied.
    if std::env::var_os("WIKIC_NO_SYMBOL_ORDER").is_some() {
        eprintln!("skipped: WIKIC_NO_SYMBOL_ORDER is set");
        return;
    }
    let comment = Command::new("readelf")
        .args(["-p", ".comment", env!("CARGO_BIN_EXE_wikic")])
        .output();
    let Ok(comment) = comment else {
        eprintln!("skipped: readelf (binutils) not found");
        return;
    };
    if !String::from_utf8_lossy(&comment.stdout).contains("LLD") {
        eprintln!("skipped: wikic was not linked by lld");
        return;
    }
    let nm = Command::new("nm")
        .args(["-n", env!("CARGO_BIN_EXE_wikic")])
        .output()
        .expect("nm (binutils)");
    let text: Vec<String> = String::from_utf8_lossy(&nm.stdout)
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_, kind, name) = (f.next()?, f.next()?, f.next()?);
            matches!(kind, "t" | "T" | "w" | "W").then(|| name.to_string())
        })
        .collect();
    let listed: std::collections::HashSet<&str> =
        include_str!("../bench/hot-symbols.txt").lines().collect();
    let positions: Vec<usize> = text
        .iter()
        .enumerate()
        .filter(|(_, s)| listed.contains(s.as_str()))
        .map(|(i, _)| i)
        .collect();
    assert!(
        positions.len() >= 100,
        "only {} listed functions in wikic",
        positions.len()
    );
    let last = *positions.last().unwrap();
    assert!(
        last * 10 < text.len(),
        "the listed functions are spread over the code (the last at {last} of {}): was the list given to the linker?",
        text.len()
    );
}

#[cfg(unix)]
#[test]
fn a_closed_pipe_or_descriptor_is_no_death_by_signal() {
    // main.rs replaces the standard library's start-up on Linux and does
    // what of it matters itself: SIGPIPE ignored, standard descriptors
    // open.
    use std::os::unix::process::ExitStatusExt;
    // A pipe whose reading end is closed before wikic writes to it.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let status = wikic().arg("--help").stdout(writer).status().unwrap();
    assert_eq!(
        status.signal(),
        None,
        "killed writing to a closed pipe: {status:?}"
    );
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "'{}' --version >&- 2>&- <&-",
            env!("CARGO_BIN_EXE_wikic")
        ))
        .status()
        .unwrap();
    assert!(
        status.success(),
        "with its standard descriptors closed: {status:?}"
    );
}

#[test]
fn log_levels_follow_verbose_and_wikic_log() {
    let w = Wiki::new();
    w.write("index.mdwn", "Hello.\n");
    let build = |name: &str, args: &[&str], env: Option<&str>| {
        // Each run another setup, which a build says at INFO.
        let setup = w.setup(&format!("timeformat: '%c {name}'\n"));
        let mut cmd = wikic();
        cmd.arg("--setup").arg(&setup).arg("--refresh").args(args);
        cmd.env_remove("WIKIC_LOG");
        if let Some(v) = env {
            cmd.env("WIKIC_LOG", v);
        }
        let o = run(&mut cmd);
        assert!(o.status.success(), "{}", stderr(&o));
        stderr(&o)
    };
    build("a", &[], None);
    // Quiet by default; `-v` says what was rebuilt and why.
    assert!(!build("b", &[], None).contains("INFO"));
    let said = build("c", &["-v"], None);
    assert!(said.contains("rebuilding everything"), "{said}");
    // WIKIC_LOG takes tracing's filter syntax, without `-v`...
    let said = build("d", &[], Some("wikic=info"));
    assert!(said.contains("rebuilding everything"), "{said}");
    // ...and can also silence what `-v` would show.
    let said = build("e", &["-v"], Some("wikic=error"));
    assert!(!said.contains("INFO"), "{said}");
}

#[cfg(target_os = "linux")]
#[test]
fn the_allocator_reserves_small_arenas() {
    // wikic asks mimalloc for 64 MiB arenas before its first allocation
    // (main.rs); the default first arena is 1 GiB, with bitmaps a short
    // run pays for. Seen in the maps of a wikic waiting for the lock.
    use std::io::BufRead;
    let w = Wiki::new();
    w.write("index.mdwn", "Hello.\n");
    let setup = w.setup("");
    assert!(run(wikic().arg("--setup").arg(&setup)).status.success());
    let lock = fs::File::options()
        .write(true)
        .open(w.src().join(".wikic/lock"))
        .unwrap();
    lock.lock().unwrap();
    let mut child = wikic()
        .arg("--setup")
        .arg(&setup)
        .args(["--refresh", "--verbose"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = String::new();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        said.push_str(&line);
        if line.contains("waiting for another build") {
            break;
        }
    }
    assert!(said.contains("waiting"), "wikic did not wait: {said}");
    let maps = fs::read_to_string(format!("/proc/{}/maps", child.id())).unwrap();
    drop(lock);
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(child.wait().unwrap().success(), "{said} {rest:?}");
    let sizes: Vec<u64> = maps
        .lines()
        .filter_map(|l| {
            let (a, b) = l.split_whitespace().next()?.split_once('-')?;
            Some(u64::from_str_radix(b, 16).ok()? - u64::from_str_radix(a, 16).ok()?)
        })
        .collect();
    assert!(
        sizes.iter().all(|&s| s < 512 << 20),
        "a mapping of 512 MiB or more (mimalloc's default arena?): {maps}"
    );
    assert!(sizes.contains(&(64 << 20)), "no 64 MiB arena: {maps}");
}
