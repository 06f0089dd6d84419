//! A team of spinning workers for the fit loop: one rayon region per fit, not per step.
//!
//! A mini-batch step is short (tens of microseconds at batch 256), so waking a rayon pool
//! twice per step cost more than the step. A [`Team`] instead keeps its helpers spinning
//! between jobs for the whole fit. The calling thread (the *lead*) publishes a job of `n`
//! independent tasks, claims tasks itself like any helper, and returns once every task is
//! done.
//!
//! Deadlock freedom: tasks are claimed dynamically and the lead only ever waits for tasks
//! that a running thread has claimed, and a claimed task never waits on anything. So a
//! helper that never starts (its pool thread busy elsewhere) only costs parallelism: the
//! lead then runs every task itself. Helpers wait only for the lead, which never waits on
//! an unstarted helper.
//!
//! Results never depend on which thread ran a task: tasks write disjoint outputs and the
//! caller combines them in task order.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

/// A job as the helpers see it: a task function shared by reference.
type Task<'a> = &'a (dyn Fn(usize) + Sync);

/// Generation (high 32 bits), task count (16 bits), tasks claimed so far (low 16 bits).
/// Packing the three into one word lets a claim check, in one compare-and-swap, that the
/// job it read is still the published one and that a task is left.
const COUNT_BITS: u32 = 16;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;
/// Most tasks one job may have.
pub(crate) const MAX_TASKS: usize = COUNT_MASK as usize;

/// The shared state of one team.
pub(crate) struct Team {
    state: AtomicU64,
    /// Points at the lead's `Task` of the current generation.
    job: AtomicPtr<()>,
    done: AtomicU32,
    finished: AtomicBool,
    poisoned: AtomicBool,
}

impl Default for Team {
    fn default() -> Self {
        Team::new()
    }
}

impl Team {
    /// A team with no job published.
    pub(crate) fn new() -> Self {
        Team {
            state: AtomicU64::new(0),
            job: AtomicPtr::new(std::ptr::null_mut()),
            done: AtomicU32::new(0),
            finished: AtomicBool::new(false),
            poisoned: AtomicBool::new(false),
        }
    }

    /// Runs `f(0)`, …, `f(n − 1)` on the lead and any helpers, each task exactly once, and
    /// returns when all are done. Only the lead (one thread) may call this.
    ///
    /// # Panics
    /// If `n` exceeds [`MAX_TASKS`] or a helper panicked in a task.
    pub(crate) fn run(&self, n: usize, f: &(dyn Fn(usize) + Sync)) {
        assert!(n <= MAX_TASKS, "team job of {n} tasks");
        if n == 0 {
            return;
        }
        let task: Task<'_> = f;
        let gen_next = (self.state.load(Ordering::Relaxed) >> 32).wrapping_add(1) & 0xFFFF_FFFF;
        self.done.store(0, Ordering::Relaxed);
        // The pointer is read by helpers only after a successful claim on this generation,
        // and this function does not return before every claimed task is done, so `task`
        // outlives every use.
        self.job.store(&task as *const Task<'_> as *mut (), Ordering::Release);
        self.state
            .store((gen_next << 32) | ((n as u64) << COUNT_BITS), Ordering::Release);
        let mut ran = 0u32;
        while let Some(i) = self.claim(gen_next) {
            f(i);
            ran += 1;
        }
        if ran as usize == n {
            return;
        }
        let mut backoff = Backoff::default();
        loop {
            let others = self.done.load(Ordering::Acquire);
            if (others + ran) as usize == n {
                return;
            }
            if self.poisoned.load(Ordering::Relaxed) {
                panic!("a training worker panicked");
            }
            backoff.wait();
        }
    }

    /// Claims the next task of generation `generation`, if that job is still current and
    /// has one left.
    fn claim(&self, generation: u64) -> Option<usize> {
        let mut s = self.state.load(Ordering::Acquire);
        loop {
            let (g, n, c) = (s >> 32, (s >> COUNT_BITS) & COUNT_MASK, s & COUNT_MASK);
            if g != generation || c >= n {
                return None;
            }
            match self
                .state
                .compare_exchange_weak(s, s + 1, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Some(c as usize),
                Err(now) => s = now,
            }
        }
    }

    /// A helper's loop: run tasks of each new job until [`Team::finish`].
    pub(crate) fn help(&self) {
        let mut seen = 0u64;
        let mut backoff = Backoff::default();
        loop {
            if self.finished.load(Ordering::Acquire) {
                return;
            }
            let s = self.state.load(Ordering::Acquire);
            let generation = s >> 32;
            if generation == seen || s & COUNT_MASK >= (s >> COUNT_BITS) & COUNT_MASK {
                backoff.wait();
                continue;
            }
            seen = generation;
            backoff = Backoff::default();
            // Read the job before claiming: a successful claim on `generation` proves the
            // pointer read after observing it is still that generation's (the lead replaces
            // it only after all of the generation's tasks were claimed and done).
            let job = self.job.load(Ordering::Acquire) as *const Task<'_>;
            while let Some(i) = self.claim(generation) {
                let poison = Poison(&self.poisoned);
                // SAFETY: the claim succeeded on `generation`, so the lead is inside `run`
                // for that generation and cannot return before this task reports done; `job`
                // points at its live `Task` (see `run` and the comment above).
                let f = unsafe { *job };
                f(i);
                std::mem::forget(poison);
                self.done.fetch_add(1, Ordering::Release);
            }
        }
    }

    /// Lets the helpers return. Called once the lead has run its last job.
    pub(crate) fn finish(&self) {
        self.finished.store(true, Ordering::Release);
    }
}

/// Marks the team poisoned if a task unwinds, so the lead panics instead of waiting forever.
struct Poison<'a>(&'a AtomicBool);

impl Drop for Poison<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Calls [`Team::finish`] when dropped, so helpers return even if the lead unwinds.
pub(crate) struct FinishOnDrop<'a>(pub(crate) &'a Team);

impl Drop for FinishOnDrop<'_> {
    fn drop(&mut self) {
        self.0.finish();
    }
}

/// Spin, then yield, then sleep: a helper that waits through a long pause (an epoch
/// callback, a shuffle) stops burning its core.
#[derive(Default)]
struct Backoff {
    n: u32,
}

impl Backoff {
    fn wait(&mut self) {
        if self.n < 1 << 12 {
            std::hint::spin_loop();
        } else if self.n < (1 << 12) + (1 << 10) {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_micros(50));
        }
        self.n = self.n.saturating_add(1);
    }
}

/// Runs `lead(&team)` on the calling thread with up to `helpers` rayon tasks helping it,
/// for the whole call.
pub(crate) fn with_team<R>(helpers: usize, lead: impl FnOnce(&Team) -> R) -> R {
    let team = Team::new();
    if helpers == 0 {
        let _fin = FinishOnDrop(&team);
        return lead(&team);
    }
    rayon::in_place_scope(|s| {
        let team = &team;
        for _ in 0..helpers {
            s.spawn(move |_| team.help());
        }
        let _fin = FinishOnDrop(team);
        lead(team)
    })
}

/// How many helpers a team should have: the pool's other threads, at most `tasks − 1`,
/// and never more spinning threads than the machine has cores.
pub(crate) fn helpers_for(tasks: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    rayon::current_num_threads().min(cores).min(tasks).saturating_sub(1)
}

/// A slice that the tasks of one team job share, each task touching only parts no other
/// task of the job touches. The team's release/acquire handshakes order one job's writes
/// before the next job's reads.
pub(crate) struct Shared<'a, T> {
    ptr: *mut T,
    len: usize,
    _borrow: PhantomData<&'a mut [T]>,
}

// SAFETY: `Shared` hands out parts of a `&mut [T]` to several threads; callers of its
// unsafe accessors guarantee the parts are disjoint within a job, which is what makes
// sharing `&mut` parts across threads sound for `T: Send`.
unsafe impl<T: Send> Sync for Shared<'_, T> {}
// SAFETY: as above; moving the view moves no `T`.
unsafe impl<T: Send> Send for Shared<'_, T> {}

impl<'a, T> Shared<'a, T> {
    /// Shares `s` for the lifetime of the borrow.
    pub(crate) fn new(s: &'a mut [T]) -> Self {
        Shared {
            ptr: s.as_mut_ptr(),
            len: s.len(),
            _borrow: PhantomData,
        }
    }

    /// Element `i`, mutably.
    ///
    /// # Safety
    /// No other reference to element `i` may be live while the result is.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn get_mut(&self, i: usize) -> &mut T {
        assert!(i < self.len, "shared index {i} of {}", self.len);
        // SAFETY: in bounds (asserted); exclusivity is the caller's contract.
        unsafe { &mut *self.ptr.add(i) }
    }

    /// Elements `lo..hi`, mutably.
    ///
    /// # Safety
    /// No other reference to any of these elements may be live while the result is.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn range_mut(&self, lo: usize, hi: usize) -> &mut [T] {
        assert!(lo <= hi && hi <= self.len, "shared range {lo}..{hi} of {}", self.len);
        // SAFETY: in bounds (asserted); exclusivity is the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(lo), hi - lo) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn every_task_runs_once_per_job_with_any_helper_count() {
        for helpers in [0, 1, 3] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(4).build().unwrap();
            let total = pool.install(|| {
                with_team(helpers, |team| {
                    let mut out = vec![0usize; 300];
                    for job in 0..2000usize {
                        let n = 1 + job % 7;
                        let counts: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
                        let shared = Shared::new(&mut out[..n]);
                        team.run(n, &|i| {
                            counts[i].fetch_add(1, Ordering::Relaxed);
                            // SAFETY: task i is the only one touching element i.
                            unsafe { *shared.get_mut(i) += i + job };
                        });
                        assert!(counts.iter().all(|c| c.load(Ordering::Relaxed) == 1), "job {job}");
                    }
                    out.iter().sum::<usize>()
                })
            });
            let expect: usize = (0..2000usize)
                .flat_map(|job| (0..1 + job % 7).map(move |i| i + job))
                .sum();
            assert_eq!(total, expect, "helpers {helpers}");
        }
    }

    #[test]
    fn a_busy_pool_only_costs_parallelism() {
        // One pool thread, held by the lead: the helper task cannot start until the end,
        // and the lead runs every task itself.
        let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let sum = pool.install(|| {
            with_team(2, |team| {
                let acc = AtomicUsize::new(0);
                for _ in 0..100 {
                    team.run(5, &|i| {
                        acc.fetch_add(i, Ordering::Relaxed);
                    });
                }
                acc.into_inner()
            })
        });
        assert_eq!(sum, 100 * 10);
    }

    #[test]
    fn concurrent_teams_on_one_pool_finish() {
        use rayon::prelude::*;
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let sums: Vec<usize> = pool.install(|| {
            (0..8usize)
                .into_par_iter()
                .map(|k| {
                    with_team(1, |team| {
                        let acc = AtomicUsize::new(0);
                        for _ in 0..200 {
                            team.run(3, &|i| {
                                acc.fetch_add(i + k, Ordering::Relaxed);
                            });
                        }
                        acc.into_inner()
                    })
                })
                .collect()
        });
        for (k, s) in sums.into_iter().enumerate() {
            assert_eq!(s, 200 * (3 + 3 * k));
        }
    }

    #[test]
    fn a_panicking_helper_task_panics_the_lead_instead_of_hanging() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.install(|| {
                let lead = std::thread::current().id();
                with_team(1, |team| {
                    // The lead sleeps in its task, so the helper soon runs one and panics.
                    for _ in 0..10_000 {
                        team.run(2, &|_| {
                            if std::thread::current().id() != lead {
                                panic!("task failed");
                            }
                            std::thread::sleep(Duration::from_millis(1));
                        });
                    }
                })
            })
        }));
        assert!(r.is_err(), "the helper's panic was lost");
    }
}
