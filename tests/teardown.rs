//! The helper that frees a finished run's memory (src/teardown.rs): the
//! run's exit status and output reach its parent as before, and the
//! helper ends when the run does, not when it gives up waiting.
//!
//! Its own test binary: the test process becomes a subreaper, so that the
//! orphaned helper comes back to it to be waited for.

#![cfg(target_os = "linux")]

use std::time::{Duration, Instant};

/// Waits for `pid` for at most `limit`; its exit status.
fn wait_for(pid: libc::pid_t, limit: Duration) -> Option<libc::c_int> {
    let start = Instant::now();
    loop {
        let mut status = 0;
        // SAFETY: waitpid on a child of this process.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            return libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
        }
        assert!(r == 0, "waitpid({pid}) failed");
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

// One test: the parts wait for children of this process, which a test
// running beside them would also have.
#[test]
fn the_helper_ends_when_the_run_has_ended() {
    // SAFETY: making this process the reaper of its orphans.
    assert_eq!(
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) },
        0
    );
    a_forked_run_hands_its_memory_to_a_helper();
    a_build_hands_its_memory_to_a_helper();
}

/// The mechanism, in a forked copy of this process that touches 32 MiB.
fn a_forked_run_hands_its_memory_to_a_helper() {
    // SAFETY: plain system calls; the forked child only makes system
    // calls (no allocation) until it exits.
    unsafe {
        // Where the child leaves the helper's pid (its descriptors are all
        // closed by then).
        let shared = libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
        .cast::<libc::pid_t>();
        assert_ne!(shared.cast::<libc::c_void>(), libc::MAP_FAILED);
        *shared = -1;
        let mut out = [0 as libc::c_int; 2];
        assert_eq!(libc::pipe(out.as_mut_ptr()), 0);

        let child = libc::fork();
        assert!(child >= 0);
        if child == 0 {
            // A run that used memory: 32 MiB touched.
            let size = 32 << 20;
            let mem = libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
            .cast::<u8>();
            if mem.cast::<libc::c_void>() == libc::MAP_FAILED {
                libc::_exit(99);
            }
            for i in (0..size).step_by(4096) {
                *mem.add(i) = 1;
            }
            libc::dup2(out[1], 1);
            libc::write(1, b"done".as_ptr().cast(), 4);
            *shared = wikic::teardown::hand_off().unwrap_or(0);
            libc::_exit(7);
        }
        libc::close(out[1]);

        // The run's status, and all of its output, then the end of it:
        // the helper holds no copy of the pipe.
        assert_eq!(wait_for(child, Duration::from_secs(10)), Some(7));
        let ended = Instant::now();
        let mut buf = [0u8; 16];
        let mut got = Vec::new();
        loop {
            let n = libc::read(out[0], buf.as_mut_ptr().cast(), buf.len());
            assert!(n >= 0, "reading the run's output failed");
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n as usize]);
        }
        assert_eq!(got, b"done");

        let helper = *shared;
        assert!(helper > 0, "no helper was started ({helper})");
        assert_ne!(helper, child);
        // It ends when the run has ended (the pipe it waits on hangs up),
        // well before it would give up waiting (one second).
        assert_eq!(wait_for(helper, Duration::from_secs(10)), Some(0));
        let waited = ended.elapsed();
        assert!(
            waited < Duration::from_millis(500),
            "the helper outlived the run by {waited:?}"
        );
    }
}

/// A build by the wikic binary (a debug build uses well over the
/// threshold): its page is written and its output complete when it
/// returns, and the helper it leaves ends with it.
fn a_build_hands_its_memory_to_a_helper() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("src")).unwrap();
    std::fs::write(dir.path().join("src/index.mdwn"), "Hello [[world]]\n").unwrap();
    let setup = dir.path().join("w.yaml");
    std::fs::write(
        &setup,
        format!(
            "srcdir: {0}/src\ndestdir: {0}/out\nurl: http://example.org/\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wikic"))
        .arg("--setup")
        .arg(&setup)
        .arg("--verbose")
        .output()
        .expect("wikic runs");
    let ended = Instant::now();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("total"));
    let page = std::fs::read_to_string(dir.path().join("out/index.html")).unwrap();
    assert!(page.contains("Hello"));
    // The orphaned helper, back with this subreaper.
    let mut status = 0;
    let helper = loop {
        // SAFETY: waiting for any child of this process.
        let r = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if r > 0 {
            break r;
        }
        assert!(r == 0, "wikic left no helper");
        assert!(
            ended.elapsed() < Duration::from_millis(500),
            "the helper outlived wikic by over 500 ms"
        );
        std::thread::sleep(Duration::from_millis(2));
    };
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "helper {helper}: {status}"
    );
}
