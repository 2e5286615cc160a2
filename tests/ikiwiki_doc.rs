//! ikiwiki's own documentation wiki, built by ikiwiki and by wikic with
//! the same setup, compared page by page. Needs the corpus
//! (`../shared/corpora/ikiwiki-doc.tar.xz`, or `WIKIC_DOC_CORPUS`) and an
//! installed ikiwiki; without them the test says so and passes.

#[path = "support/sitecompare.rs"]
mod sitecompare;

use std::path::{Path, PathBuf};
use std::process::Command;

fn corpus() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("WIKIC_DOC_CORPUS") {
        return Some(PathBuf::from(p)).filter(|p| p.exists());
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpora/ikiwiki-doc.tar.xz");
    p.exists().then_some(p)
}

fn have_ikiwiki() -> bool {
    Command::new("ikiwiki")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn setup(dir: &Path, src: &Path, dest: &Path) -> PathBuf {
    let p = dir.join(format!(
        "{}.yaml",
        dest.file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(
        &p,
        format!(
            "# IkiWiki::Setup::Yaml - YAML formatted setup file\nwikiname: ikiwiki\nsrcdir: {}\ndestdir: {}\nurl: http://example.org/\nunderlaydir: /usr/share/ikiwiki/basewiki\nadd_plugins:\n  - goodstuff\n  - table\nusedirs: 1\n",
            src.display(),
            dest.display()
        ),
    )
    .unwrap();
    p
}

#[test]
fn doc_wiki_matches_ikiwiki() {
    let Some(tarball) = corpus() else {
        eprintln!(
            "SKIPPED: ikiwiki doc corpus not found (set WIKIC_DOC_CORPUS or provide ../shared/corpora/ikiwiki-doc.tar.xz)"
        );
        return;
    };
    if !have_ikiwiki() {
        eprintln!("SKIPPED: ikiwiki is not installed (apt-get install ikiwiki)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ok = Command::new("tar")
        .arg("-xJf")
        .arg(&tarball)
        .arg("-C")
        .arg(dir.path())
        .status()
        .unwrap()
        .success();
    assert!(ok, "cannot unpack {}", tarball.display());
    let src = dir.path().join("doc");
    // Separate source copies: both tools keep state in their srcdir.
    let src2 = dir.path().join("doc2");
    assert!(
        Command::new("cp")
            .arg("-a")
            .arg(&src)
            .arg(&src2)
            .status()
            .unwrap()
            .success()
    );
    let reference = dir.path().join("ikiwiki-html");
    let ours = dir.path().join("wikic-html");

    let o = Command::new("ikiwiki")
        .arg("--setup")
        .arg(setup(dir.path(), &src, &reference))
        .env("TZ", "UTC")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "ikiwiki failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );

    let o = Command::new(env!("CARGO_BIN_EXE_wikic"))
        .arg("--setup")
        .arg(setup(dir.path(), &src2, &ours))
        .env("TZ", "UTC")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "wikic failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );

    let r = sitecompare::compare_sites(&reference, &ours);
    eprintln!("{}", r.summary());
    assert!(
        r.missing.is_empty(),
        "pages ikiwiki made that wikic did not: {:?}",
        r.missing
    );
    assert!(r.title_ratio() >= 0.99, "titles agree on too few pages");
    assert!(
        r.content.link_ratio() >= 0.98,
        "content links agree too little"
    );
    assert!(
        r.backlinks.link_ratio() >= 0.95,
        "backlinks agree too little"
    );
    assert!(r.tags.link_ratio() >= 0.99, "tags agree too little");
    assert!(
        r.our_errors <= r.reference_errors,
        "more error spans than ikiwiki: {} > {}",
        r.our_errors,
        r.reference_errors
    );
}
