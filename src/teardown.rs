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
//! Files the run replaced (an output rewritten) cost the same: ext4 frees
//! a file's blocks when its last name and last open descriptor are gone,
//! inside the `rename` that replaces it — about 0.35 ms for a page of the
//! doc wiki, measured in C, of a rename taking 0.45. A command-line run
//! ([`retire_replaced_files`]) holds on to each file it replaces
//! ([`retire`]), and the helper takes those descriptors over: the blocks
//! are freed when it ends. (The index's head, mapped, is kept by the
//! mapping anyway.)
//!
//! Every other descriptor is closed before the helper starts (all output
//! has been flushed and every file written by then), so that it holds no
//! pipe, socket or lock: a reader of wikic's output sees the end of it,
//! and the next run can take the wiki's lock, at once. (A replaced file
//! is held by an `O_PATH` descriptor of its own: no lock, no pipe.) The
//! helper waits on a pipe whose other end only the ending process holds,
//! and gives up after a second in any case; once the process is gone it
//! is an orphan, which the system's reaper collects like any other.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};

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

/// How many replaced files a run holds on to at most: a few after an
/// edit; a build that rewrites thousands frees the rest as it goes,
/// well within the descriptor limit.
const MAX_RETIRED: usize = 64;

/// Whether replaced files are held on to (the command line's runs only:
/// a library caller's process goes on, and would keep them).
static RETIRING: AtomicBool = AtomicBool::new(false);
/// Descriptors of the files replaced so far; the first `RETIRED_N` of
/// them (up to [`MAX_RETIRED`]) are set, or -1 while being set.
static RETIRED: [AtomicI32; MAX_RETIRED] = [const { AtomicI32::new(-1) }; MAX_RETIRED];
static RETIRED_N: AtomicUsize = AtomicUsize::new(0);

/// Makes [`retire`] hold on to replaced files until the helper ends:
/// for a process that ends with [`hand_off`].
pub fn retire_replaced_files() {
    RETIRING.store(true, Ordering::SeqCst);
}

/// Called before `path` is replaced: holds on to the file it
/// names now (if any), so that freeing its blocks is left to the helper.
/// Does nothing unless [`retire_replaced_files`] was called, or once
/// [`MAX_RETIRED`] files are held.
pub fn retire(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    if !RETIRING.load(Ordering::Relaxed) || RETIRED_N.load(Ordering::Relaxed) >= MAX_RETIRED {
        return;
    }
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return;
    };
    // SAFETY: opens a path (no reading, no lock) with a NUL-terminated name.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return;
    }
    let slot = RETIRED_N.fetch_add(1, Ordering::SeqCst);
    match RETIRED.get(slot) {
        Some(s) => s.store(fd, Ordering::SeqCst),
        // SAFETY: closing the descriptor just opened; the file still has
        // its name, so this frees nothing.
        None => unsafe {
            libc::close(fd);
        },
    }
}

/// The descriptors [`retire`] holds.
fn retired() -> Vec<libc::c_int> {
    let n = RETIRED_N.load(Ordering::SeqCst).min(MAX_RETIRED);
    RETIRED[..n]
        .iter()
        .map(|fd| fd.load(Ordering::SeqCst))
        .filter(|&fd| fd >= 0)
        .collect()
}

/// The ranges of descriptors to close so that only `keep` stay open
/// (`close_range`'s inclusive bounds).
fn ranges_to_close(keep: &mut [libc::c_int]) -> Vec<(libc::c_uint, libc::c_uint)> {
    keep.sort_unstable();
    let mut ranges = Vec::new();
    let mut from: libc::c_uint = 0;
    for &k in keep.iter() {
        let k = k as libc::c_uint;
        if k > from {
            ranges.push((from, k - 1));
        }
        from = from.max(k + 1);
    }
    ranges.push((from, libc::c_uint::MAX));
    ranges
}

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
/// enough memory, or replaced files, to make it worth it, closes every
/// other descriptor and starts the helper that frees the memory and the
/// files; its process id. Anything going wrong leaves the teardown to the
/// exit, as without this.
pub fn hand_off() -> Option<libc::pid_t> {
    // SAFETY: getrusage fills in a plain struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let retired = retired();
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0
        || (usage.ru_maxrss < WORTH_IT_KIB && retired.is_empty())
        || std::env::var_os(OPT_OUT).is_some()
        || HANDED_OFF.swap(true, Ordering::SeqCst)
    {
        return None;
    }
    start_helper(retired)
}

fn start_helper(mut keep: Vec<libc::c_int>) -> Option<libc::pid_t> {
    let mut p = [0 as libc::c_int; 2];
    // SAFETY: system calls on this process's descriptors; the helper gets
    // a stack of its own that nothing else uses (see HANDED_OFF), and the
    // clone shares memory only, not the descriptor table (it gets a copy,
    // holding what `keep` holds).
    unsafe {
        if libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
            return None;
        }
        keep.extend(p);
        // The system call, not the C library's wrapper, which not every
        // C library for Linux has.
        let closed = ranges_to_close(&mut keep)
            .into_iter()
            .all(|(first, last)| libc::syscall(libc::SYS_close_range, first, last, 0) == 0);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_descriptor_but_those_kept_is_closed() {
        let max = libc::c_uint::MAX;
        assert_eq!(ranges_to_close(&mut []), [(0, max)]);
        assert_eq!(ranges_to_close(&mut [4, 3]), [(0, 2), (5, max)]);
        assert_eq!(
            ranges_to_close(&mut [9, 0, 5, 5]),
            [(1, 4), (6, 8), (10, max)]
        );
    }

    #[test]
    fn a_replaced_file_is_held_until_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("page.html");
        std::fs::write(&path, "old").unwrap();
        // (Other tests in this binary may retire files from now on too:
        // a few descriptors, for as long as the test run.)
        retire_replaced_files();
        retire(&path);
        retire(&dir.path().join("never-there"));
        std::fs::write(dir.path().join("new"), "new").unwrap();
        std::fs::rename(dir.path().join("new"), &path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        // A descriptor held still names the replaced file, now nameless.
        let held: Vec<String> = retired()
            .into_iter()
            .filter_map(|fd| std::fs::read_link(format!("/proc/self/fd/{fd}")).ok())
            .map(|l| l.to_string_lossy().into_owned())
            .collect();
        let real = dir.path().canonicalize().unwrap().join("page.html");
        let gone = format!("{} (deleted)", real.display());
        assert!(held.contains(&gone), "{gone} not in {held:?}");
        assert!(!held.iter().any(|l| l.contains("never-there")));
    }
}
