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
//!
//! A *gang* job ([`Team::gang`]) is the exception to "a task never waits": its members
//! meet at barriers. It stays deadlock-free because the lead closes the gang before any
//! member starts, so a barrier only ever waits for members that are already running.
//!
//! Panics: a task that panics on a helper poisons the team and the lead panics once every
//! task of the job has ended; a task that panics on the lead is resumed only after the
//! helpers' tasks of the job have ended (they use the job's closure, which lives on the
//! lead's stack).

use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A job as the helpers see it: a task function shared by reference.
type Task<'a> = &'a (dyn Fn(usize) + Sync);

/// Generation (high 32 bits), task count (16 bits), tasks claimed so far (low 16 bits).
/// Packing the three into one word lets a claim check, in one compare-and-swap, that the
/// job it read is still the published one and that a task is left.
const COUNT_BITS: u32 = 16;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;
/// Most tasks one job may have.
pub(crate) const MAX_TASKS: usize = COUNT_MASK as usize;

/// Most members of a gang (see [`Team::gang`]).
pub(crate) const MAX_GANG: usize = 16;

/// How long the lead waits for helpers to join a gang before it starts without them. A
/// spinning helper joins within a microsecond; one still starting (a rayon worker waking
/// up), asleep in its back-off, or descheduled by the OS may take longer, and then the gang
/// is smaller, not wrong.
const GANG_JOIN_WAIT: Duration = Duration::from_millis(1);

/// An atomic counter alone on its cache lines, so members' counters do not share a line.
#[repr(align(128))]
#[derive(Default)]
struct Padded(AtomicU64);

/// The shared state of one team.
pub(crate) struct Team {
    state: AtomicU64,
    /// Points at the lead's `Task` of the current generation.
    job: AtomicPtr<()>,
    done: AtomicU32,
    finished: AtomicBool,
    poisoned: AtomicBool,
    /// Helpers inside [`Team::help`].
    alive: AtomicUsize,
    /// Helpers spawned for this team (see [`with_team`]); those not yet inside
    /// [`Team::help`] are still starting, or waiting for a busy pool.
    spawned: AtomicUsize,
    /// Set when a gang waited in vain for a spawned helper that never started: later
    /// gangs then wait only for helpers already running.
    stopped_waiting: AtomicBool,
    /// The size of the gang being formed: 0 until the lead has closed it.
    gang_size: AtomicUsize,
    /// Per gang member: the last barrier it reached.
    arrived: [Padded; MAX_GANG],
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
            alive: AtomicUsize::new(0),
            spawned: AtomicUsize::new(0),
            stopped_waiting: AtomicBool::new(false),
            gang_size: AtomicUsize::new(0),
            arrived: Default::default(),
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
        let gen_next = self.publish(&task, n, 0);
        let mut ran = 0usize;
        // A task that panics on the lead must not unwind past helpers still running the
        // job's other tasks (they use `task`): the lead closes the job, waits for them,
        // and then resumes the panic.
        let lead = catch_unwind(AssertUnwindSafe(|| {
            while let Some(i) = self.claim(gen_next) {
                f(i);
                ran += 1;
            }
        }));
        let others = match lead {
            // Every task is claimed: the lead ran `ran` of them.
            Ok(()) => n - ran,
            Err(_) => {
                self.poisoned.store(true, Ordering::Release);
                self.close(gen_next, n) - ran - 1
            }
        };
        self.finish_job(others, lead);
    }

    /// Publishes `task` as a new generation's job of `n` tasks, the first `claimed` of them
    /// already taken by the lead; returns the generation. The pointer is read by helpers
    /// only after a successful claim on this generation, and neither `run` nor `gang`
    /// returns (or unwinds) before every claimed task has ended, so `task` outlives every
    /// use.
    fn publish(&self, task: &Task<'_>, n: usize, claimed: usize) -> u64 {
        let generation = (self.state.load(Ordering::Relaxed) >> 32).wrapping_add(1) & 0xFFFF_FFFF;
        self.done.store(0, Ordering::Relaxed);
        self.job.store(task as *const Task<'_> as *mut (), Ordering::Release);
        self.state.store(
            (generation << 32) | ((n as u64) << COUNT_BITS) | claimed as u64,
            Ordering::Release,
        );
        generation
    }

    /// Claims every task left of generation `generation` (a job of `n` tasks), so no
    /// helper starts one; returns how many had been claimed before.
    fn close(&self, generation: u64, n: usize) -> usize {
        let mut s = self.state.load(Ordering::Acquire);
        loop {
            let claimed = (s & COUNT_MASK) as usize;
            if s >> 32 != generation || claimed >= n {
                return claimed.min(n);
            }
            let closed = (s & !COUNT_MASK) | n as u64;
            match self
                .state
                .compare_exchange_weak(s, closed, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return claimed,
                Err(now) => s = now,
            }
        }
    }

    /// Waits until the helpers have finished `others` tasks of the current job (returned
    /// or unwound: see [`Finished`]), then resumes the lead's panic, or panics if a
    /// helper's task panicked.
    fn finish_job(&self, others: usize, lead: std::thread::Result<()>) {
        let mut backoff = Backoff::default();
        while (self.done.load(Ordering::Acquire) as usize) < others {
            backoff.wait();
        }
        if let Err(payload) = lead {
            resume_unwind(payload);
        }
        if self.poisoned.load(Ordering::Acquire) {
            panic!("a training worker panicked");
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
        self.alive.fetch_add(1, Ordering::AcqRel);
        let _gone = Leave(&self.alive);
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
                let _finished = Finished(self);
                // SAFETY: the claim succeeded on `generation`, so the lead is inside `run`
                // or `gang` for that generation and cannot return (nor unwind) before this
                // task reports finished; `job` points at its live `Task` (see `run` and the
                // comment above).
                let f = unsafe { *job };
                f(i);
            }
        }
    }

    /// Runs `f` on a *gang*: the lead and the helpers that join within a short wait, at
    /// most `n` members in all (and at most [`MAX_GANG`]), all at once, each called with
    /// its own [`Member`] (rank 0 is the lead). Unlike the tasks of [`Team::run`], members
    /// may wait for each other, at [`Member::sync`]: the gang is closed before any member
    /// starts, so every member it counts is running and a barrier never waits for a thread
    /// that has not started. The gang's size therefore depends on timing; `f` must give
    /// the same result for every size. Only the lead may call this.
    ///
    /// # Panics
    /// If a member panicked (every other member then panics at its next barrier).
    pub(crate) fn gang(&self, n: usize, f: &(dyn Fn(&Member<'_>) + Sync)) {
        let n = n.clamp(1, MAX_GANG);
        for a in &self.arrived[..n] {
            a.0.store(0, Ordering::Relaxed);
        }
        let helpers = if self.stopped_waiting.load(Ordering::Relaxed) {
            self.alive.load(Ordering::Acquire)
        } else {
            self.spawned.load(Ordering::Relaxed)
        };
        let wanted = n.min(1 + helpers);
        if wanted == 1 {
            f(&Member {
                team: self,
                rank: 0,
                size: 1,
            });
            return;
        }
        self.gang_size.store(0, Ordering::Relaxed);
        let join = |rank: usize| {
            // Joined: the lead closes the gang soon (it waits for nothing else).
            let mut backoff = Backoff::default();
            let size = loop {
                let s = self.gang_size.load(Ordering::Acquire);
                if s != 0 {
                    break s;
                }
                backoff.wait();
            };
            if rank < size {
                f(&Member { team: self, rank, size });
            }
        };
        let task: Task<'_> = &join;
        // Rank 0 is the lead's, claimed in the published state itself.
        let generation = self.publish(&task, n, 1);
        // Close the gang once the running helpers have joined, or after the wait: closing
        // claims every task left, which turns latecomers away.
        let start = Instant::now();
        let mut spins = 0u32;
        while ((self.state.load(Ordering::Acquire) & COUNT_MASK) as usize) < wanted {
            spins += 1;
            if spins.is_multiple_of(64) && start.elapsed() > GANG_JOIN_WAIT {
                break;
            }
            std::hint::spin_loop();
        }
        let size = self.close(generation, n);
        self.gang_size.store(size, Ordering::Release);
        if size < wanted && self.alive.load(Ordering::Acquire) < self.spawned.load(Ordering::Relaxed) {
            // A helper never started (its pool is busy): do not wait for it again.
            self.stopped_waiting.store(true, Ordering::Relaxed);
        }
        // As in `run`, a panic of the lead's waits for the other members: they stop at
        // their next barrier, which sees the team poisoned.
        let lead = catch_unwind(AssertUnwindSafe(|| {
            f(&Member {
                team: self,
                rank: 0,
                size,
            })
        }));
        if lead.is_err() {
            self.poisoned.store(true, Ordering::Release);
        }
        // Members 1..size each claimed one task; the rest were closed out.
        self.finish_job(size - 1, lead);
    }

    /// Lets the helpers return. Called once the lead has run its last job.
    pub(crate) fn finish(&self) {
        self.finished.store(true, Ordering::Release);
    }
}

/// One member of a gang (see [`Team::gang`]).
pub(crate) struct Member<'t> {
    team: &'t Team,
    rank: usize,
    size: usize,
}

impl Member<'_> {
    /// This member's rank, `0..size` (the lead is 0).
    pub(crate) fn rank(&self) -> usize {
        self.rank
    }

    /// How many members the gang has.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// [`Member::sync_or`] with nothing to do while waiting.
    #[cfg(test)]
    pub(crate) fn sync(&self, k: u64) {
        self.sync_or(k, || ());
    }

    /// Barrier `k` (1, 2, … in order): returns once every member has reached it. Writes a
    /// member made before it are visible to every member after it. A member that finds
    /// another not yet there runs `idle` first (once), then waits; the last to arrive
    /// does not run it.
    ///
    /// # Panics
    /// If another member panicked.
    pub(crate) fn sync_or(&self, k: u64, idle: impl FnOnce()) {
        let arrived = &self.team.arrived[..self.size];
        arrived[self.rank].0.store(k, Ordering::Release);
        let mut idle = Some(idle);
        for (j, a) in arrived.iter().enumerate() {
            if j == self.rank {
                continue;
            }
            if a.0.load(Ordering::Acquire) < k
                && let Some(idle) = idle.take()
            {
                idle();
            }
            let mut backoff = Backoff::default();
            while a.0.load(Ordering::Acquire) < k {
                if self.team.poisoned.load(Ordering::Relaxed) {
                    panic!("a training worker panicked");
                }
                backoff.wait();
            }
        }
    }
}

/// Counts a helper out of [`Team::help`], however it leaves.
struct Leave<'a>(&'a AtomicUsize);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Counts a helper's task finished when it returns or unwinds; an unwinding task also
/// marks the team poisoned (first, so the lead sees it once it sees the count), so the
/// lead panics instead of waiting forever.
struct Finished<'a>(&'a Team);

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.poisoned.store(true, Ordering::Release);
        }
        self.0.done.fetch_add(1, Ordering::Release);
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
    team.spawned.store(helpers, Ordering::Relaxed);
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

    /// Element `i`, shared.
    ///
    /// # Safety
    /// No mutable reference to element `i` may be live while the result is.
    pub(crate) unsafe fn get(&self, i: usize) -> &T {
        assert!(i < self.len, "shared index {i} of {}", self.len);
        // SAFETY: in bounds (asserted); the absence of writers is the caller's contract.
        unsafe { &*self.ptr.add(i) }
    }

    /// Elements `lo..hi`, shared.
    ///
    /// # Safety
    /// No mutable reference to any of these elements may be live while the result is.
    pub(crate) unsafe fn range(&self, lo: usize, hi: usize) -> &[T] {
        assert!(lo <= hi && hi <= self.len, "shared range {lo}..{hi} of {}", self.len);
        // SAFETY: in bounds (asserted); the absence of writers is the caller's contract.
        unsafe { std::slice::from_raw_parts(self.ptr.add(lo), hi - lo) }
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
    fn a_panicking_lead_task_unwinds_only_after_the_helpers_tasks() {
        // The helpers' tasks use the job's closure, on the lead's stack: the lead's panic
        // must not unwind past `run` (or `gang`) before they are done.
        struct OnUnwind<'a>(&'a AtomicBool, &'a AtomicBool);
        impl Drop for OnUnwind<'_> {
            fn drop(&mut self) {
                self.1.store(self.0.load(Ordering::SeqCst), Ordering::SeqCst);
            }
        }
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        for gang in [false, true] {
            let (helper_in, helper_done, seen) =
                (AtomicBool::new(false), AtomicBool::new(false), AtomicBool::new(false));
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                pool.install(|| {
                    with_team(1, |team| {
                        wait_for_a_helper(team);
                        let lead = std::thread::current().id();
                        let _check = OnUnwind(&helper_done, &seen);
                        // The lead fails once the helper is inside a task of the same job.
                        let work = || {
                            if std::thread::current().id() == lead {
                                let start = Instant::now();
                                while start.elapsed() < Duration::from_millis(50) {
                                    if helper_in.load(Ordering::SeqCst) {
                                        panic!("lead task failed");
                                    }
                                }
                            } else {
                                helper_in.store(true, Ordering::SeqCst);
                                std::thread::sleep(Duration::from_millis(20));
                                helper_done.store(true, Ordering::SeqCst);
                            }
                        };
                        for _ in 0..1000 {
                            if gang {
                                team.gang(2, &|_| work());
                            } else {
                                team.run(2, &|_| work());
                            }
                        }
                    })
                })
            }));
            assert!(r.is_err(), "gang {gang}: the lead's panic was lost");
            assert!(
                seen.load(Ordering::SeqCst),
                "gang {gang}: unwound before the helper's task ended"
            );
        }
    }

    /// Runs jobs until a helper has run a task of one (a new pool's worker may take a
    /// while to start when other tests keep the cores busy; until then, gangs are the
    /// lead alone), for at most 10 s.
    fn wait_for_a_helper(team: &Team) {
        let lead = std::thread::current().id();
        let helped = AtomicBool::new(false);
        let start = Instant::now();
        while !helped.load(Ordering::Relaxed) && start.elapsed() < Duration::from_secs(10) {
            team.run(2, &|_| {
                if std::thread::current().id() != lead {
                    helped.store(true, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_micros(50));
            });
        }
    }

    /// Runs gangs of up to `n` members on a pool of `threads` threads with `helpers`
    /// helpers; each member checks at every barrier that every member's write before it
    /// is visible. Returns the sizes the gangs had.
    fn gangs(threads: usize, helpers: usize, n: usize, rounds: usize) -> Vec<usize> {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            with_team(helpers, |team| {
                if threads > 1 && helpers > 0 {
                    wait_for_a_helper(team);
                }
                // Per barrier parity, per member: the last barrier it wrote before.
                let slots: Vec<AtomicU64> = (0..2 * MAX_GANG).map(|_| AtomicU64::new(0)).collect();
                let mut sizes = Vec::new();
                for _ in 0..rounds {
                    for v in &slots {
                        v.store(0, Ordering::Relaxed);
                    }
                    let size = AtomicUsize::new(0);
                    team.gang(n, &|m| {
                        assert!(m.rank() < m.size() && m.size() <= n.min(MAX_GANG));
                        if m.rank() == 0 {
                            size.store(m.size(), Ordering::Relaxed);
                        }
                        for k in 1..=200u64 {
                            let parity = (k % 2) as usize * MAX_GANG;
                            slots[parity + m.rank()].store(k, Ordering::Relaxed);
                            m.sync(k);
                            for j in 0..m.size() {
                                // A member writes this parity again only after the next
                                // barrier, which waits for this member.
                                assert_eq!(slots[parity + j].load(Ordering::Relaxed), k, "member {j}");
                            }
                        }
                    });
                    sizes.push(size.load(Ordering::Relaxed));
                }
                sizes
            })
        })
    }

    #[test]
    fn gang_members_meet_at_every_barrier() {
        // Ordering is checked in every gang; that gangs of two or more formed at all is
        // checked over many tries (a helper the OS keeps off its core only shrinks one).
        let sizes = gangs(2, 1, 2, 200);
        assert!(sizes.iter().all(|&s| (1..=2).contains(&s)));
        assert!(sizes.contains(&2), "no gang of two in 200: {sizes:?}");
        let sizes = gangs(4, 3, 4, 50);
        assert!(sizes.iter().any(|&s| s >= 2), "{sizes:?}");
        assert_eq!(gangs(2, 1, 1, 5), vec![1; 5]);
        assert_eq!(gangs(2, 0, 3, 5), vec![1; 5]);
    }

    #[test]
    fn only_a_member_that_would_wait_runs_its_idle_work() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        pool.install(|| {
            with_team(1, |team| {
                wait_for_a_helper(team);
                let (first, last) = (AtomicBool::new(false), AtomicBool::new(false));
                let mut pairs = 0;
                for _ in 0..200 {
                    first.store(false, Ordering::Relaxed);
                    last.store(false, Ordering::Relaxed);
                    let size = AtomicUsize::new(0);
                    team.gang(2, &|m| {
                        size.store(m.size(), Ordering::Relaxed);
                        if m.size() == 1 {
                            // Nobody to wait for.
                            m.sync_or(1, || last.store(true, Ordering::Relaxed));
                        } else if m.rank() == 0 {
                            m.sync_or(1, || first.store(true, Ordering::Release));
                        } else {
                            // Arrives only after member 0's idle work has begun (or after
                            // 10 s, and then the assertion below fails).
                            let start = Instant::now();
                            while !first.load(Ordering::Acquire) && start.elapsed() < Duration::from_secs(10) {
                                std::hint::spin_loop();
                            }
                            m.sync_or(1, || last.store(true, Ordering::Relaxed));
                        }
                    });
                    let two = size.load(Ordering::Relaxed) == 2;
                    pairs += usize::from(two);
                    assert_eq!(
                        first.load(Ordering::Relaxed),
                        two,
                        "the member that waited ran its work"
                    );
                    assert!(!last.load(Ordering::Relaxed), "the last to arrive ran its work");
                }
                assert!(pairs > 0, "no gang of two in 200");
            })
        });
    }

    #[test]
    fn a_gang_on_a_busy_pool_is_the_lead_alone() {
        // The helper task cannot start while the lead holds the pool's one thread.
        assert_eq!(gangs(1, 1, 2, 20), vec![1; 20]);
    }

    #[test]
    fn a_panicking_gang_member_panics_the_others_instead_of_hanging() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        for bad in [0, 1] {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                pool.install(|| {
                    with_team(1, |team| {
                        wait_for_a_helper(team);
                        // Until a gang of two forms, nothing panics.
                        for _ in 0..10_000 {
                            team.gang(2, &|m| {
                                if m.size() == 2 && m.rank() == bad {
                                    panic!("member failed");
                                }
                                m.sync(1);
                            });
                        }
                    })
                })
            }));
            assert!(r.is_err(), "member {bad}'s panic was lost");
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
