// mimalloc: the build allocates many short strings on every thread, where
// the system allocator's locking and fragmentation cost about a tenth of
// the run time.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // Huge pages are zeroed 2 MiB at a time on first touch; for a process
    // that often lives a few milliseconds (a refresh with little to do)
    // that costs more than the TLB misses they save.
    #[cfg(target_os = "linux")]
    // SAFETY: prctl with these arguments only sets a flag on this process.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
    wikic::cli::main()
}
