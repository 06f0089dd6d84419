//! Shared pieces of the multilogit fuzz targets: an allocator that turns allocation
//! bombs into crashes, and the checks of each target's contract.
//!
//! The contract of every target: no panic, no abort, no unbounded allocation; either a
//! typed [`multilogit::Error`] or a result whose numbers are finite (probabilities in
//! `[0, 1]`, rows summing to 1 within `1e-5`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};

use multilogit::{Float, Matrix};

/// The largest single allocation a target may make (512 MiB). The inputs are a few KiB:
/// anything near this is an allocation driven by a size read from the input.
pub const MAX_ALLOC_BYTES: usize = 512 << 20;
/// The most memory a target may hold at once through the Rust allocator (2 GiB).
pub const MAX_LIVE_BYTES: usize = 2 << 30;

/// The system allocator with limits: an allocation above [`MAX_ALLOC_BYTES`] or one
/// that brings the live total above [`MAX_LIVE_BYTES`] prints a message and aborts,
/// which libFuzzer reports as a crash and saves the input.
///
/// libFuzzer's own `-malloc_limit_mb` needs a sanitizer's malloc hooks, and `-rss_limit_mb`
/// misses a huge zeroed buffer that is never touched (the kernel backs it lazily); this
/// check works in every build, with or without AddressSanitizer.
pub struct LimitAlloc;

static LIVE: AtomicUsize = AtomicUsize::new(0);

fn too_much(what: &[u8], size: usize) -> ! {
    // No allocation here: format the number by hand into a stack buffer.
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = size;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(b"==multilogit-fuzz== ");
    let _ = err.write_all(what);
    let _ = err.write_all(&digits[i..]);
    let _ = err.write_all(b" bytes: allocation bomb\n");
    std::process::abort()
}

fn admit(size: usize) {
    if size > MAX_ALLOC_BYTES {
        too_much(b"single allocation of ", size);
    }
    let live = LIVE.fetch_add(size, Ordering::Relaxed) + size;
    if live > MAX_LIVE_BYTES {
        too_much(b"live heap would reach ", live);
    }
}

// SAFETY: every method forwards to `System` with the caller's layout; the counters
// only observe sizes.
unsafe impl GlobalAlloc for LimitAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        admit(layout.size());
        // SAFETY: forwarded contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        admit(layout.size());
        // SAFETY: forwarded contract.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        admit(new_size);
        // SAFETY: forwarded contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if p.is_null() {
            LIVE.fetch_sub(new_size, Ordering::Relaxed);
        } else {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: LimitAlloc = LimitAlloc;

/// Asserts that every element of `m` is finite.
pub fn assert_finite<T: Float>(m: &Matrix<T>, what: &str) {
    if let Some(k) = m.as_slice().iter().position(|v| !v.is_finite()) {
        let c = m.cols().max(1);
        panic!(
            "{what}: non-finite value {} at row {}, column {} of a {}×{} matrix",
            m.as_slice()[k].to_f64(),
            k / c,
            k % c,
            m.rows(),
            m.cols()
        );
    }
}

/// Asserts the probability contract: `rows × cols`, every value finite and in `[0, 1]`,
/// every row summing to 1 within `1e-5`.
pub fn assert_proba<T: Float>(p: &Matrix<T>, rows: usize, cols: usize, what: &str) {
    assert_eq!(p.shape(), (rows, cols), "{what}: probabilities have the wrong shape");
    for (i, row) in p.iter_rows().enumerate() {
        let mut sum = 0.0f64;
        for (j, &v) in row.iter().enumerate() {
            let v = v.to_f64();
            assert!(
                v.is_finite() && (0.0..=1.0).contains(&v),
                "{what}: probability {v} at row {i}, column {j} is not in [0, 1] (row: {:?})",
                row.iter().map(|v| v.to_f64()).collect::<Vec<_>>()
            );
            sum += v;
        }
        assert!(
            (sum - 1.0).abs() <= 1e-5,
            "{what}: row {i} sums to {sum}, not 1 (row: {:?})",
            row.iter().map(|v| v.to_f64()).collect::<Vec<_>>()
        );
    }
}

/// A reader that hands out its bytes a few at a time, so that the streaming paths
/// (unknown length, short reads) are exercised as well as the in-memory ones.
pub struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl<'a> Trickle<'a> {
    /// Reads `data` at most `step` (≥ 1) bytes per call.
    pub fn new(data: &'a [u8], step: usize) -> Self {
        Trickle {
            data,
            step: step.max(1),
        }
    }
}

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.step).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// Splits a fuzz input into its first byte (the options) and the rest (the file).
pub fn split_options(data: &[u8]) -> (u8, &[u8]) {
    match data.split_first() {
        Some((&o, rest)) => (o, rest),
        None => (0, data),
    }
}
