// mimalloc: the build allocates many short strings on every thread, where
// the system allocator's locking and fragmentation cost about a tenth of
// the run time.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

// Huge pages are zeroed 2 MiB at a time on first touch; for a process
// that often lives a few milliseconds (a refresh with little to do) that
// costs more than the TLB misses they save. This must run before the
// runtime's first allocation, hence a constructor rather than `main`.
#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array")]
static NO_HUGE_PAGES: extern "C" fn() = {
    extern "C" fn disable() {
        // SAFETY: prctl with these arguments only sets a flag on this process.
        unsafe {
            libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
        }
    }
    disable
};

fn main() {
    wikic::cli::main()
}
