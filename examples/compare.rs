//! Compares two built sites page by page: titles, links in the content,
//! backlinks and tags. Used to check wikic against ikiwiki's rendering of
//! the same wiki (see `bench/compare-ikiwiki.sh`).
//!
//! Usage: cargo run --release --example compare -- REFERENCE_DIR WIKIC_DIR [--details N]

#[path = "../tests/support/sitecompare.rs"]
mod sitecompare;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: compare REFERENCE_DIR WIKIC_DIR [--details N]");
        std::process::exit(2);
    }
    let details: usize = args
        .iter()
        .position(|a| a == "--details")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let report = sitecompare::compare_sites(
        std::path::Path::new(&args[1]),
        std::path::Path::new(&args[2]),
    );
    print!("{}", report.summary());
    if details > 0 {
        print!("{}", report.details(details));
    }
}
