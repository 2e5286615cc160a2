use std::path::Path;

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        // A position-dependent executable needs no relocating at start-up:
        // the dynamic loader otherwise patches tens of thousands of
        // pointers before `main`, a visible share of a refresh that finds
        // little to do.
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    // The functions a refresh runs, placed together (see
    // bench/hot-symbols.sh): a refresh then faults in a few dozen pages of
    // code rather than pieces of most of it. Only with lld, the linker
    // Rust uses by default on x86-64 Linux since 1.90; WIKIC_NO_SYMBOL_ORDER
    // turns it off, for a build linked otherwise.
    let list = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/hot-symbols.txt");
    if os == "linux"
        && env == "gnu"
        && arch == "x86_64"
        && std::env::var_os("WIKIC_NO_SYMBOL_ORDER").is_none()
        && links_with_lld()
        && list.is_file()
        && !list.to_string_lossy().contains(',')
    {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            list.display()
        );
        // Names the list has and the binary does not (a list made with
        // another toolchain) are no error.
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=bench/hot-symbols.txt");
    println!("cargo:rerun-if-env-changed=WIKIC_NO_SYMBOL_ORDER");
}

/// Whether the final link is lld's: rustc 1.90 or later with no linker
/// chosen in the flags.
fn links_with_lld() -> bool {
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if [
        "-fuse-ld",
        "linker=",
        "linker-flavor",
        "linker-features",
        "link-self-contained",
    ]
    .iter()
    .any(|f| flags.contains(f))
    {
        return false;
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = std::process::Command::new(rustc).arg("--version").output() else {
        return false;
    };
    // "rustc 1.95.0 (59807616e 2026-04-14)"
    let text = String::from_utf8_lossy(&out.stdout);
    let mut version = text
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .split(['.', '-'])
        .map(|n| n.parse::<u32>().unwrap_or(0));
    let (major, minor) = (version.next().unwrap_or(0), version.next().unwrap_or(0));
    (major, minor) >= (1, 90)
}
