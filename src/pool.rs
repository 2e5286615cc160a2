//! The thread pool a build runs on.
//!
//! The thread that runs the command becomes the pool's first worker; the
//! others are started here. On Linux each of them starts on a CPU of its
//! own, other than the caller's.
//!
//! Why: some kernels (this project's benchmark machines run one with
//! `sched_vcpu_pack`) place a new thread on its creator's CPU rather than
//! wake an idle one. A short run's second worker then waits behind the
//! thread doing the work, typically for the first few milliseconds —
//! which is all of a refresh — and the load balancer moves it only later.
//! Measured in C on such a machine after an idle spell: a new thread began
//! 2.6 ms (median) after `pthread_create`, against 0.1 ms when created with
//! an affinity for another CPU.

use std::io;

/// Makes the current thread the first of the thread pool's workers,
/// with `jobs` workers in all (by default, one per available CPU).
///
/// The build's parallel steps then fork and join on this thread rather
/// than being handed to the pool by a thread that sleeps until they are
/// done. And nothing waits for the pool to start: the other workers join
/// in when they are up, where `build_global` waited for every one of them
/// (0.4 ms, and up to several on a busy machine, of a 20 ms refresh).
pub fn join(jobs: Option<usize>, stack_size: usize) {
    let placement = Placement::here();
    let mut pool = rayon::ThreadPoolBuilder::new()
        .stack_size(stack_size)
        .use_current_thread()
        .spawn_handler(move |worker| spawn(worker, stack_size, &placement));
    if let Some(j) = jobs {
        pool = pool.num_threads(j.max(1));
    }
    // Kept to the end of the process (which exits without tearing it
    // down). Without a pool, rayon's default one does the work.
    if let Ok(pool) = pool.build() {
        std::mem::forget(pool);
    }
}

/// Where the workers go: the CPUs this process may use, and the one the
/// calling thread is on.
struct Placement {
    #[cfg(target_os = "linux")]
    cpus: Vec<usize>,
    #[cfg(target_os = "linux")]
    current: Option<usize>,
}

impl Placement {
    #[cfg(target_os = "linux")]
    fn here() -> Placement {
        // SAFETY: a zeroed cpu_set_t is an empty set; sched_getaffinity
        // and sched_getcpu only read this thread's state.
        let (set, current) = unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            let ok = libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) == 0;
            let cpu = libc::sched_getcpu();
            (ok.then_some(set), usize::try_from(cpu).ok())
        };
        let cpus = match set {
            // SAFETY: CPU_ISSET reads a bit of a set we own.
            Some(set) => (0..libc::CPU_SETSIZE as usize)
                .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
                .collect(),
            None => Vec::new(),
        };
        Placement { cpus, current }
    }

    #[cfg(not(target_os = "linux"))]
    fn here() -> Placement {
        Placement {}
    }

    /// The CPU for worker `index` (1 is the first started here): the
    /// allowed CPUs other than the caller's, in turn. None when there is
    /// no other, or the caller's is not known.
    #[cfg(target_os = "linux")]
    fn cpu_for(&self, index: usize) -> Option<usize> {
        let current = self.current?;
        let mut others = self.cpus.iter().filter(|&&c| c != current).cycle();
        others.nth(index.checked_sub(1)?).copied()
    }
}

#[cfg(target_os = "linux")]
fn spawn(worker: rayon::ThreadBuilder, stack_size: usize, placement: &Placement) -> io::Result<()> {
    let cpu = placement.cpu_for(worker.index());
    spawn_on(cpu, stack_size, move |_| worker.run())
}

#[cfg(not(target_os = "linux"))]
fn spawn(worker: rayon::ThreadBuilder, stack_size: usize, _: &Placement) -> io::Result<()> {
    std::thread::Builder::new()
        .stack_size(stack_size)
        .spawn(move || worker.run())
        .map(drop)
}

/// Starts a detached thread running `f`, placed on `cpu` from its first
/// instruction (the standard library cannot say where a thread starts).
/// The thread may run anywhere once started: the affinity is only where
/// it begins, which `f` is told.
#[cfg(target_os = "linux")]
fn spawn_on(
    cpu: Option<usize>,
    stack_size: usize,
    f: impl FnOnce(Option<usize>) + Send + 'static,
) -> io::Result<()> {
    type Job = Box<dyn FnOnce(Option<usize>) + Send>;
    extern "C" fn start(arg: *mut libc::c_void) -> *mut libc::c_void {
        // SAFETY: `arg` is the box leaked below, handed to this thread only.
        let job = unsafe { Box::from_raw(arg as *mut Job) };
        // SAFETY: reads the calling thread's CPU.
        let began_on = usize::try_from(unsafe { libc::sched_getcpu() }).ok();
        if let Some(set) = all_cpus() {
            // SAFETY: sets this thread's own affinity from a set we own.
            unsafe {
                libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set);
            }
        }
        // A panic must not unwind into C; rayon's workers catch their
        // jobs' panics, so this is for rayon's own.
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(began_on))).is_err() {
            std::process::abort();
        }
        std::ptr::null_mut()
    }
    let job: Box<Job> = Box::new(Box::new(f));
    let arg = Box::into_raw(job) as *mut libc::c_void;
    // SAFETY: the attribute is initialised before use and destroyed after;
    // the cpu set is owned here; `start` takes ownership of `arg` exactly
    // when pthread_create succeeds.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        let rc = libc::pthread_attr_init(&mut attr);
        if rc != 0 {
            drop(Box::from_raw(arg as *mut Job));
            return Err(io::Error::from_raw_os_error(rc));
        }
        libc::pthread_attr_setstacksize(&mut attr, stack_size);
        libc::pthread_attr_setdetachstate(&mut attr, libc::PTHREAD_CREATE_DETACHED);
        if let Some(cpu) = cpu {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            libc::pthread_attr_setaffinity_np(&mut attr, std::mem::size_of_val(&set), &set);
        }
        let mut thread: libc::pthread_t = std::mem::zeroed();
        let rc = libc::pthread_create(&mut thread, &attr, start, arg);
        libc::pthread_attr_destroy(&mut attr);
        if rc != 0 {
            drop(Box::from_raw(arg as *mut Job));
            return Err(io::Error::from_raw_os_error(rc));
        }
    }
    Ok(())
}

/// The process's allowed CPUs (read again: the caller's set is the one
/// to go back to).
#[cfg(target_os = "linux")]
fn all_cpus() -> Option<libc::cpu_set_t> {
    // SAFETY: reads the process's affinity (pid of the thread group
    // leader) into a set we own.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        (libc::sched_getaffinity(libc::getpid(), std::mem::size_of_val(&set), &mut set) == 0)
            .then_some(set)
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn placement(cpus: &[usize], current: usize) -> Placement {
        Placement {
            cpus: cpus.to_vec(),
            current: Some(current),
        }
    }

    #[test]
    fn workers_go_to_the_other_cpus_in_turn() {
        let p = placement(&[0, 1, 2, 3], 2);
        let got: Vec<_> = (1..=4).map(|i| p.cpu_for(i)).collect();
        assert_eq!(got, [Some(0), Some(1), Some(3), Some(0)]);
        // The calling thread is worker 0: it stays where it is.
        assert_eq!(p.cpu_for(0), None);
    }

    #[test]
    fn no_placement_without_another_cpu_or_a_known_one() {
        assert_eq!(placement(&[5], 5).cpu_for(1), None);
        let unknown = Placement {
            cpus: vec![0, 1],
            current: None,
        };
        assert_eq!(unknown.cpu_for(1), None);
        // A set that does not hold the caller's CPU (it moved since).
        assert_eq!(placement(&[1, 3], 0).cpu_for(2), Some(3));
    }

    /// Pins the calling thread to `cpu`.
    fn pin_here(cpu: usize) {
        // SAFETY: sets this thread's own affinity from a set we own.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            assert_eq!(
                libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set),
                0
            );
        }
    }

    #[test]
    fn a_thread_begins_on_the_cpu_it_was_given() {
        let here = Placement::here();
        let (Some(mine), Some(cpu)) = (here.current, here.cpu_for(1)) else {
            eprintln!("one CPU only: nothing to place");
            return;
        };
        // Held to its CPU, the caller would have the new thread inherit
        // that: only a placement at creation puts it elsewhere.
        pin_here(mine);
        let (tx, rx) = std::sync::mpsc::channel();
        spawn_on(Some(cpu), 1 << 20, move |began_on| {
            tx.send(began_on).unwrap();
        })
        .unwrap();
        let began_on = rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
        assert_eq!(began_on, Some(cpu));
    }
}
