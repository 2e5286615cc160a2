// mimalloc: the build allocates many short strings on every thread, where
// the system allocator's locking and fragmentation cost about a tenth of
// the run time.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

// Settings that must be made before the runtime's first allocation,
// hence a constructor rather than `main`. Huge pages are zeroed 2 MiB at
// a time on first touch; for a process that often lives a few
// milliseconds (a refresh with little to do) that costs more than the TLB
// misses they save. And the allocator's arenas are kept small (below).
#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array")]
static BEFORE_ALLOCATING: extern "C" fn() = {
    extern "C" fn settle() {
        // SAFETY: prctl with these arguments only sets a flag on this process.
        unsafe {
            libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
        }
        // SAFETY: getenv with a NUL-terminated name, before any thread;
        // setting an option before the first allocation is what mimalloc
        // asks for.
        unsafe {
            if libc::getenv(c"MIMALLOC_ARENA_RESERVE".as_ptr()).is_null() {
                mi_option_set(MI_OPTION_ARENA_RESERVE, ARENA_RESERVE_KIB);
            }
        }
    }
    settle
};

// mimalloc reserves its first arena (1 GiB by default) on the first
// allocation and sets up bitmaps for all of it: 42 pages faulted in, a
// tenth of those a refresh with nothing to do touches. Arenas of 64 MiB
// need a few; bigger builds get more arenas, which mimalloc makes larger
// as their number grows.
#[cfg(target_os = "linux")]
unsafe extern "C" {
    fn mi_option_set(option: libc::c_int, value: libc::c_long);
}
/// `mi_option_arena_reserve` in mimalloc 3 (libmimalloc-sys does not
/// export it).
#[cfg(target_os = "linux")]
const MI_OPTION_ARENA_RESERVE: libc::c_int = 23;
#[cfg(target_os = "linux")]
const ARENA_RESERVE_KIB: libc::c_long = 64 * 1024;

fn main() {
    wikic::cli::main()
}
