// A position-dependent executable needs no relocating at start-up: the
// dynamic loader otherwise patches tens of thousands of pointers before
// `main`, a visible share of a refresh that finds little to do.
fn main() {
    let target = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if target == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
