//! Leaving the address space's teardown to a helper (Linux).
//!
//! When a process ends, the kernel frees every page it touched before
//! its parent learns that it has ended: about 0.4 µs a page on the
//! machines we measure, so most of a millisecond for a refresh after an
//! edit (about 2,500 pages) and tens of milliseconds for a full build of
//! a large wiki, all of it time the caller — a shell, a git hook, the web server
//! running the CGI — waits for nothing. So, as the mold linker does, a
//! run that used more than a little memory starts a helper that shares
//! its memory and outlives it by a moment: the process ends as soon as
//! its last thread does, and the pages are freed when the helper ends,
//! beside whatever the caller does next.
//!
//! Every descriptor is closed before the helper starts (all output has
//! been flushed and every file written by then), so that it holds no
//! pipe, socket or lock: a reader of wikic's output sees the end of it,
//! and the next run can take the wiki's lock, at once. The helper waits
//! on a pipe whose other end only the ending process holds, and gives up
//! after a second in any case; once the process is gone it is an orphan,
//! which the system's reaper collects like any other.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

/// Below this peak resident size (the binary itself is about 3 MiB) the
/// pages to free cost less than starting the helper (~0.1 ms).
const WORTH_IT_KIB: libc::c_long = 6 * 1024;

/// Set (to anything), the process frees its memory itself: for tools
/// that cannot follow a clone sharing memory without being a thread
/// (valgrind stops there).
pub const OPT_OUT: &str = "WIKIC_NO_TEARDOWN_HELPER";

/// How long the helper waits for the process to end, at most.
const PATIENCE_MS: libc::c_int = 1000;

/// The helper's stack: it only waits on a pipe, with two system calls.
const STACK_SIZE: usize = 16 * 1024;

#[repr(C, align(16))]
struct HelperStack([u8; STACK_SIZE]);

/// Only ever used by the one helper; `HANDED_OFF` sees to that.
static mut HELPER_STACK: HelperStack = HelperStack([0; STACK_SIZE]);
static HANDED_OFF: AtomicBool = AtomicBool::new(false);
/// The pipe the helper waits on: (read end, write end).
static PIPE: [AtomicI32; 2] = [AtomicI32::new(-1), AtomicI32::new(-1)];

/// Runs in the helper, on [`HELPER_STACK`], sharing the process's memory:
/// only plain system calls, nothing that allocates or unwinds.
extern "C" fn wait_for_the_end(_: *mut libc::c_void) -> libc::c_int {
    let (read_end, write_end) = (
        PIPE[0].load(Ordering::SeqCst),
        PIPE[1].load(Ordering::SeqCst),
    );
    // SAFETY: closing and polling descriptors of the helper's own table.
    unsafe {
        libc::close(write_end);
        let mut p = libc::pollfd {
            fd: read_end,
            events: libc::POLLIN,
            revents: 0,
        };
        // Returns with POLLHUP when the last holder of the write end, the
        // ending process, is gone.
        libc::poll(&mut p, 1, PATIENCE_MS);
    }
    0
}

/// Called right before `_exit`, with all output flushed: if the run used
/// enough memory to make it worth it, closes every descriptor and starts
/// the helper that frees the memory; its process id. Anything going wrong
/// leaves the teardown to the exit, as without this.
pub fn hand_off() -> Option<libc::pid_t> {
    // SAFETY: getrusage fills in a plain struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0
        || usage.ru_maxrss < WORTH_IT_KIB
        || std::env::var_os(OPT_OUT).is_some()
        || HANDED_OFF.swap(true, Ordering::SeqCst)
    {
        return None;
    }
    start_helper()
}

fn start_helper() -> Option<libc::pid_t> {
    let mut p = [0 as libc::c_int; 2];
    // SAFETY: system calls on this process's descriptors; the helper gets
    // a stack of its own that nothing else uses (see HANDED_OFF), and the
    // clone shares memory only, not the descriptor table.
    unsafe {
        if libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
            return None;
        }
        let (lo, hi) = (
            p[0].min(p[1]) as libc::c_uint,
            p[0].max(p[1]) as libc::c_uint,
        );
        // The system call, not the C library's wrapper, which not every
        // C library for Linux has.
        let close_range = |first: libc::c_uint, last: libc::c_uint| {
            libc::syscall(libc::SYS_close_range, first, last, 0) == 0
        };
        let closed = (lo == 0 || close_range(0, lo - 1))
            && (hi == lo + 1 || close_range(lo + 1, hi - 1))
            && close_range(hi + 1, libc::c_uint::MAX);
        if !closed {
            // (A kernel without close_range: the helper would hold copies
            // of the output pipes.)
            return None;
        }
        PIPE[0].store(p[0], Ordering::SeqCst);
        PIPE[1].store(p[1], Ordering::SeqCst);
        let top = (&raw mut HELPER_STACK).cast::<u8>().add(STACK_SIZE);
        let pid = libc::clone(
            wait_for_the_end,
            top.cast(),
            libc::CLONE_VM | libc::SIGCHLD,
            std::ptr::null_mut(),
        );
        (pid > 0).then_some(pid)
    }
}
