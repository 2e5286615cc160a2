// On Linux wikic brings its own C `main` (below); not under `cargo test`,
// whose harness brings its own.
#![cfg_attr(all(target_os = "linux", not(test)), no_main)]

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

// On Linux the C `main` is wikic's own: the standard library's start-up
// (which asks the C library for the main thread's stack bounds, reading
// /proc/self/maps, and sets up a signal stack for it) took about a
// quarter of a millisecond of every run, and the main thread does nothing
// but start the thread that runs the command. What of that start-up
// matters is done here: SIGPIPE ignored, so that writing to a closed pipe
// or socket is an error rather than death, and the standard descriptors
// open, so that no file opened later becomes standard output. (Program
// arguments reach `std::env::args` without it; a stack overflow then ends
// the process without the standard library's message.)
#[cfg(all(target_os = "linux", not(test)))]
#[unsafe(no_mangle)]
pub extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    // SAFETY: plain system calls on this process's own signal disposition
    // and descriptors, before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        for fd in 0..3 {
            if libc::fcntl(fd, libc::F_GETFD) == -1
                && std::io::Error::last_os_error().raw_os_error() == Some(libc::EBADF)
                && libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) == -1
            {
                libc::_exit(1);
            }
        }
    }
    wikic::cli::main()
}

#[cfg(any(not(target_os = "linux"), test))]
fn main() {
    wikic::cli::main()
}
