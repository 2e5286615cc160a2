//! Work started on the build's thread pool ahead of need (compiling a
//! template, reading the smileys list) and waited for later. On the pool
//! rather than on threads of its own: each new thread would bring a fresh
//! allocator heap, and its memory, to a run that may last milliseconds.

use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};

type Job<T> = Arc<Mutex<Option<Box<dyn FnOnce() -> T + Send>>>>;

/// A result being computed on the thread pool.
pub struct Aside<T> {
    job: Job<T>,
    done: Receiver<T>,
}

/// Starts `f` on the thread pool.
pub fn start<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Aside<T> {
    let job: Job<T> = Arc::new(Mutex::new(Some(Box::new(f))));
    let (tx, done) = channel();
    let queued = job.clone();
    rayon::spawn(move || {
        let f = queued.lock().ok().and_then(|mut j| j.take());
        if let Some(f) = f {
            let _ = tx.send(f());
        }
    });
    Aside { job, done }
}

impl<T> Aside<T> {
    /// The result; `None` if the work panicked. Work the pool has not
    /// started yet is done here, by the waiting thread: waiting never
    /// depends on a pool whose threads may all be waiting too.
    pub fn wait(self) -> Option<T> {
        let f = self.job.lock().ok().and_then(|mut j| j.take());
        match f {
            Some(f) => Some(f()),
            None => self.done.recv().ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_inside_a_busy_one_thread_pool_runs_the_job() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let got = pool.install(|| start(|| 6 * 7).wait());
        assert_eq!(got, Some(42));
        let queued = pool.install(|| {
            let job = start(|| "later");
            std::thread::sleep(std::time::Duration::from_millis(5));
            job
        });
        assert_eq!(queued.wait(), Some("later"));
    }
}
