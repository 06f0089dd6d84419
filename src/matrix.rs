//! Row-major matrices: the owned [`Matrix`] and the borrowed views [`MatRef`] and [`MatMut`].
//!
//! Element `(i, j)` of a view lives at `data[i * stride + j]`; `stride ≥ cols`. Owned
//! matrices are always contiguous (`stride == cols`).
//!
//! A matrix this crate allocates ([`Matrix::zeros`], [`Matrix::from_rows`], [`Clone`], the
//! NPY reader, data-set subsets and casts) starts on a 64-byte boundary, so 512-bit loads
//! of its rows do not straddle cache lines when the row length is a multiple of 64 bytes
//! (measured: 60000×784×10 with AVX-512 runs about 12% slower from a buffer at 16 mod 64).
//! [`Matrix::from_vec`] keeps the caller's buffer as it is, without copying.

use crate::error::{Error, Result, checked_size};
use crate::float::Float;

/// An owned, contiguous, row-major matrix.
pub struct Matrix<T> {
    /// The elements start at `off` (to put them on a 64-byte boundary); `data` may hold
    /// unused elements before and after them.
    data: Vec<T>,
    off: usize,
    rows: usize,
    cols: usize,
}

/// Alignment of the matrices this crate allocates, in bytes.
const ALIGN: usize = 64;

/// A buffer of `n` default elements starting at a 64-byte boundary: the buffer and the
/// offset of the first element.
fn aligned_buf<T: Copy + Default>(n: usize) -> Result<(Vec<T>, usize)> {
    let pad = align_pad::<T>();
    let len = n
        .checked_add(pad)
        .ok_or_else(|| Error::hyper("matrix size", n, "too many elements for this machine"))?;
    let data = vec![T::default(); len];
    advise_huge_pages(&data);
    let off = if pad == 0 { 0 } else { align_off(data.as_ptr()) };
    Ok((data, off))
}

/// Buffers at least this large ask the kernel for transparent huge pages.
const HUGE_PAGE_MIN: usize = 4 << 20;

/// Asks Linux to back the 2 MiB-aligned interior of a large, freshly allocated buffer
/// with transparent huge pages (`madvise(MADV_HUGEPAGE)`; where THP is set to `madvise`,
/// as on many distributions, large allocations otherwise get 4 KiB pages). Mini-batch
/// steps read rows of X in random order, and with 4 KiB pages nearly every row is a TLB
/// miss: measured on 500000×64×8 (128 MB), a shuffled-order gather pass over X took
/// 14.6 ms with 4 KiB pages and 11.3 ms with huge pages, and a full-batch epoch 9.8 ms
/// against 8.3 ms. A hint only: if the kernel refuses, or the allocator handed out
/// pages already touched, nothing changes but speed.
fn advise_huge_pages<T>(data: &[T]) {
    let bytes = std::mem::size_of_val(data);
    if bytes < HUGE_PAGE_MIN {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let start = (data.as_ptr() as usize).next_multiple_of(HUGE);
        let end = (data.as_ptr() as usize + bytes) & !(HUGE - 1);
        if end > start {
            // SAFETY: madvise with MADV_HUGEPAGE changes no memory contents and no
            // permissions; the range [start, end) lies inside `data`'s allocation (it is
            // `data`'s span rounded inwards to 2 MiB boundaries), which stays mapped while
            // the call runs. A failure is only a lost hint, so the result is ignored.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
            }
        }
    }
}

/// Spare elements that let a buffer of `T` start its elements on an [`ALIGN`] boundary
/// wherever it is allocated (0 when the size of `T` does not divide [`ALIGN`]).
fn align_pad<T>() -> usize {
    let size = std::mem::size_of::<T>();
    if size == 0 || !ALIGN.is_multiple_of(size) {
        0
    } else {
        ALIGN / size - 1
    }
}

/// Elements from `p` to the next [`ALIGN`] boundary (`T`'s size divides [`ALIGN`]).
fn align_off<T>(p: *const T) -> usize {
    (ALIGN - p as usize % ALIGN) % ALIGN / std::mem::size_of::<T>()
}

impl<T: Clone> Clone for Matrix<T> {
    fn clone(&self) -> Self {
        let mut data = self.data.clone();
        let n = self.rows * self.cols;
        let mut off = self.off;
        // A buffer with room to align (one this crate allocated) is aligned again in its
        // new place: the elements move within the padding.
        let pad = align_pad::<T>();
        if pad > 0 && data.len() - n >= pad {
            let want = align_off(data.as_ptr());
            if want < off {
                data[want..off + n].rotate_left(off - want);
            } else if want > off {
                data[off..want + n].rotate_right(want - off);
            }
            off = want;
        }
        Matrix {
            data,
            off,
            rows: self.rows,
            cols: self.cols,
        }
    }
}

impl<T: PartialEq> PartialEq for Matrix<T> {
    fn eq(&self, other: &Self) -> bool {
        self.rows == other.rows && self.cols == other.cols && self.as_slice() == other.as_slice()
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Matrix<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Matrix")
            .field("rows", &self.rows)
            .field("cols", &self.cols)
            .field("data", &self.as_slice())
            .finish()
    }
}

/// A borrowed row-major matrix with an explicit row stride.
#[derive(Debug, Clone, Copy)]
pub struct MatRef<'a, T> {
    data: &'a [T],
    rows: usize,
    cols: usize,
    stride: usize,
}

/// A mutably borrowed row-major matrix with an explicit row stride.
#[derive(Debug)]
pub struct MatMut<'a, T> {
    data: &'a mut [T],
    rows: usize,
    cols: usize,
    stride: usize,
}

fn needed_len(rows: usize, cols: usize, stride: usize) -> Option<usize> {
    if rows == 0 {
        Some(0)
    } else {
        (rows - 1).checked_mul(stride)?.checked_add(cols)
    }
}

impl<T: Copy + Default> Matrix<T> {
    /// A `rows × cols` matrix of zeros (the type's default).
    pub fn zeros(rows: usize, cols: usize) -> Result<Self> {
        let n = checked_size(rows, cols, "matrix size")?;
        let (data, off) = aligned_buf(n)?;
        Ok(Matrix { data, off, rows, cols })
    }

    /// Wraps a row-major buffer of `rows · cols` elements, without copying: the matrix
    /// keeps the buffer's alignment (see the module docs).
    pub fn from_vec(rows: usize, cols: usize, data: Vec<T>) -> Result<Self> {
        let n = checked_size(rows, cols, "matrix size")?;
        if data.len() != n {
            return Err(Error::shape(
                "Matrix::from_vec",
                format!("{rows}×{cols} = {n} elements"),
                format!("{} elements", data.len()),
            ));
        }
        Ok(Matrix {
            data,
            off: 0,
            rows,
            cols,
        })
    }

    /// Builds a matrix from equal-length rows.
    pub fn from_rows<R: AsRef<[T]>>(rows: &[R]) -> Result<Self> {
        let cols = rows.first().map_or(0, |r| r.as_ref().len());
        let mut m = Matrix::zeros(rows.len(), cols)?;
        for (i, r) in rows.iter().enumerate() {
            let r = r.as_ref();
            if r.len() != cols {
                return Err(Error::shape(
                    format!("Matrix::from_rows, row {i}"),
                    format!("{cols} columns"),
                    format!("{} columns", r.len()),
                ));
            }
            m.row_mut(i).copy_from_slice(r);
        }
        Ok(m)
    }
}

impl<T> Matrix<T> {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// `(rows, cols)`.
    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }
    /// The row-major buffer.
    pub fn as_slice(&self) -> &[T] {
        &self.data[self.off..self.off + self.rows * self.cols]
    }
    /// The row-major buffer, mutably.
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        let n = self.rows * self.cols;
        &mut self.data[self.off..self.off + n]
    }
    /// Gives the buffer back (the `rows · cols` elements, in order). A matrix this crate
    /// allocated moves its elements to the front of the buffer first (one pass over them);
    /// one made by [`Matrix::from_vec`] returns that vector as it was.
    pub fn into_vec(self) -> Vec<T> {
        let n = self.rows * self.cols;
        let mut data = self.data;
        data.truncate(self.off + n);
        data.drain(..self.off);
        data
    }
    /// Row `i` (panics if `i >= rows`, like slice indexing).
    pub fn row(&self, i: usize) -> &[T] {
        assert!(i < self.rows, "row {i} out of bounds ({} rows)", self.rows);
        &self.as_slice()[i * self.cols..(i + 1) * self.cols]
    }
    /// Row `i`, mutably (panics if `i >= rows`).
    pub fn row_mut(&mut self, i: usize) -> &mut [T] {
        assert!(i < self.rows, "row {i} out of bounds ({} rows)", self.rows);
        let c = self.cols;
        &mut self.as_mut_slice()[i * c..(i + 1) * c]
    }
    /// Iterates over the rows.
    pub fn iter_rows(&self) -> impl Iterator<Item = &[T]> {
        // `max(1)` keeps chunks_exact valid for 0 columns; rows are then empty slices.
        let c = self.cols.max(1);
        let data = &self.data[self.off..];
        data.chunks_exact(c).take(self.rows).map(move |r| &r[..self.cols])
    }
    /// A borrowed view of the whole matrix.
    pub fn view(&self) -> MatRef<'_, T> {
        MatRef {
            data: self.as_slice(),
            rows: self.rows,
            cols: self.cols,
            stride: self.cols,
        }
    }
    /// A mutable view of the whole matrix.
    pub fn view_mut(&mut self) -> MatMut<'_, T> {
        let (rows, cols) = (self.rows, self.cols);
        MatMut {
            data: &mut self.data[self.off..self.off + rows * cols],
            rows: self.rows,
            cols: self.cols,
            stride: self.cols,
        }
    }
}

impl<T: Copy> Matrix<T> {
    /// Element `(i, j)` (panics when out of bounds).
    pub fn get(&self, i: usize, j: usize) -> T {
        assert!(j < self.cols, "column {j} out of bounds ({} columns)", self.cols);
        self.as_slice()[i * self.cols + j]
    }
}

impl<'a, T> MatRef<'a, T> {
    /// A view of `data` as `rows × cols` with row stride `stride`.
    pub fn new(data: &'a [T], rows: usize, cols: usize, stride: usize) -> Result<Self> {
        check_view(data.len(), rows, cols, stride, "MatRef::new")?;
        Ok(MatRef {
            data,
            rows,
            cols,
            stride,
        })
    }
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// Distance between the starts of consecutive rows, in elements.
    pub fn stride(&self) -> usize {
        self.stride
    }
    /// `(rows, cols)`.
    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }
    /// The underlying buffer, from the first element of row 0.
    pub fn as_slice(&self) -> &'a [T] {
        self.data
    }
    /// Row `i` (panics if `i >= rows`).
    pub fn row(&self, i: usize) -> &'a [T] {
        assert!(i < self.rows, "row {i} out of bounds ({} rows)", self.rows);
        &self.data[i * self.stride..i * self.stride + self.cols]
    }
    /// Rows `start..end` as a view (panics if out of bounds).
    pub fn slice_rows(&self, start: usize, end: usize) -> MatRef<'a, T> {
        assert!(start <= end && end <= self.rows, "rows {start}..{end} out of bounds");
        let data = if start == end {
            &self.data[..0]
        } else {
            &self.data[start * self.stride..]
        };
        MatRef {
            data,
            rows: end - start,
            cols: self.cols,
            stride: self.stride,
        }
    }
    /// `true` when rows follow each other with no gap.
    pub fn is_contiguous(&self) -> bool {
        self.stride == self.cols || self.rows <= 1
    }
}

impl<T: Copy> MatRef<'_, T> {
    /// Element `(i, j)` (panics when out of bounds).
    pub fn get(&self, i: usize, j: usize) -> T {
        self.row(i)[j]
    }
    /// An owned, contiguous copy.
    pub fn to_owned(&self) -> Matrix<T> {
        let mut data = Vec::with_capacity(self.rows * self.cols);
        for i in 0..self.rows {
            data.extend_from_slice(self.row(i));
        }
        Matrix {
            data,
            off: 0,
            rows: self.rows,
            cols: self.cols,
        }
    }
}

impl<T: Float> MatRef<'_, T> {
    /// The first NaN or infinite element, as an [`Error::NonFinite`] naming `what`.
    pub fn check_finite(&self, what: &str) -> Result<()> {
        for i in 0..self.rows {
            let r = self.row(i);
            // Fast path: a row whose sum is finite holds only finite values... except
            // when opposite infinities cancel into NaN, which is not finite either.
            if r.iter().fold(T::ZERO, |a, &v| a + v * T::ZERO).is_finite() {
                continue;
            }
            if let Some(j) = r.iter().position(|v| !v.is_finite()) {
                return Err(Error::NonFinite {
                    what: what.to_string(),
                    row: i,
                    col: j,
                    value: r[j].to_f64(),
                });
            }
        }
        Ok(())
    }
}

impl<'a, T> MatMut<'a, T> {
    /// A mutable view of `data` as `rows × cols` with row stride `stride`.
    pub fn new(data: &'a mut [T], rows: usize, cols: usize, stride: usize) -> Result<Self> {
        check_view(data.len(), rows, cols, stride, "MatMut::new")?;
        Ok(MatMut {
            data,
            rows,
            cols,
            stride,
        })
    }
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// Distance between the starts of consecutive rows, in elements.
    pub fn stride(&self) -> usize {
        self.stride
    }
    /// Row `i`, mutably (panics if `i >= rows`).
    pub fn row_mut(&mut self, i: usize) -> &mut [T] {
        assert!(i < self.rows, "row {i} out of bounds ({} rows)", self.rows);
        &mut self.data[i * self.stride..i * self.stride + self.cols]
    }
    /// A read-only view of the same elements.
    pub fn as_ref(&self) -> MatRef<'_, T> {
        MatRef {
            data: self.data,
            rows: self.rows,
            cols: self.cols,
            stride: self.stride,
        }
    }
    /// The underlying buffer, mutably.
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        self.data
    }
}

fn check_view(len: usize, rows: usize, cols: usize, stride: usize, ctx: &str) -> Result<()> {
    if stride < cols && rows > 1 {
        return Err(Error::shape(
            ctx,
            format!("row stride ≥ {cols} columns"),
            format!("stride {stride}"),
        ));
    }
    let need = needed_len(rows, cols, stride).ok_or_else(|| Error::TooLarge {
        what: format!("{ctx}: {rows} rows of stride {stride}"),
    })?;
    if len < need {
        return Err(Error::shape(
            ctx,
            format!("a buffer of at least {need} elements for {rows}×{cols} (stride {stride})"),
            format!("{len} elements"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `VmFlags` line of the mapping of /proc/self/smaps that holds address `a`.
    #[cfg(target_os = "linux")]
    fn vm_flags(a: usize) -> Option<String> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        let mut inside = false;
        for line in smaps.lines() {
            let head = line.split_whitespace().next().unwrap_or("");
            if let Some((lo, hi)) = head.split_once('-')
                && let (Ok(lo), Ok(hi)) = (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
            {
                inside = lo <= a && a < hi;
            } else if inside && line.starts_with("VmFlags:") {
                return Some(line.to_string());
            }
        }
        None
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn large_matrices_ask_for_huge_pages_and_stay_zeroed() {
        // 16 MiB: its 2 MiB-aligned interior is advised (VmFlags `hg`) where the kernel has
        // transparent huge pages at all; the contents are zeros either way.
        let mut m = Matrix::<f32>::zeros(2048, 2048).unwrap();
        assert!(m.as_slice().iter().all(|&v| v == 0.0));
        let mid = m.as_slice().as_ptr() as usize + (8 << 20);
        m.as_mut_slice()[(8 << 20) / 4] = 1.5;
        assert_eq!(m.as_slice().iter().filter(|&&v| v != 0.0).count(), 1);
        if std::path::Path::new("/sys/kernel/mm/transparent_hugepage/enabled").exists()
            && let Some(flags) = vm_flags(mid)
        {
            assert!(
                flags.split_whitespace().any(|f| f == "hg"),
                "no huge-page advice: {flags}"
            );
        }
        // A small matrix is not advised (its mapping is the heap's, shared with others).
        let small = Matrix::<f32>::zeros(16, 16).unwrap();
        assert!(small.as_slice().iter().all(|&v| v == 0.0));
    }

    fn aligned<T>(m: &Matrix<T>) -> bool {
        (m.as_slice().as_ptr() as usize).is_multiple_of(ALIGN)
    }

    #[test]
    fn crate_allocations_are_aligned_and_padding_is_invisible() {
        for (r, c) in [(1, 1), (3, 5), (7, 16), (100, 784)] {
            let mut a = Matrix::<f32>::zeros(r, c).unwrap();
            let b = Matrix::<f64>::zeros(r, c).unwrap();
            assert!(aligned(&a) && aligned(&b), "{r}×{c}");
            assert_eq!(a.as_slice().len(), r * c);
            for (k, v) in a.as_mut_slice().iter_mut().enumerate() {
                *v = k as f32;
            }
            // Equality, clone, rows and into_vec see the elements only, in order.
            let plain = Matrix::from_vec(r, c, (0..r * c).map(|k| k as f32).collect()).unwrap();
            assert_eq!(a, plain);
            let cl = a.clone();
            assert!(aligned(&cl));
            assert_eq!(cl, a);
            assert_eq!(a.row(r - 1), plain.row(r - 1));
            assert_eq!(a.iter_rows().count(), r);
            assert_eq!(a.view().get(r - 1, c - 1), ((r * c) - 1) as f32);
            assert_eq!(a.into_vec(), plain.into_vec());
            let rows: Vec<Vec<f64>> = (0..r).map(|i| (0..c).map(|j| (i * c + j) as f64).collect()).collect();
            let fr = Matrix::from_rows(&rows).unwrap();
            assert!(aligned(&fr));
            assert_eq!(fr.row(r - 1), &rows[r - 1][..]);
        }
        // from_vec keeps the caller's buffer (no copy), and into_vec gives it back.
        let v = vec![1.0f32; 12];
        let p = v.as_ptr();
        let m = Matrix::from_vec(3, 4, v).unwrap();
        assert_eq!(m.as_slice().as_ptr(), p);
        let back = m.into_vec();
        assert_eq!(back.as_ptr(), p);
        let e = Matrix::<f32>::zeros(0, 3).unwrap();
        assert_eq!((e.rows(), e.as_slice().len(), e.clone().into_vec().len()), (0, 0, 0));
    }

    #[test]
    fn views_respect_stride() {
        let data: Vec<f64> = (0..12).map(f64::from).collect();
        let v = MatRef::new(&data, 3, 3, 4).unwrap();
        assert_eq!(v.row(2), &[8.0, 9.0, 10.0]);
        assert_eq!(v.slice_rows(1, 3).row(0), &[4.0, 5.0, 6.0]);
        assert_eq!(v.to_owned().as_slice(), &[0., 1., 2., 4., 5., 6., 8., 9., 10.]);
        assert!(MatRef::new(&data, 4, 3, 4).is_err());
        assert!(MatRef::new(&data, 2, 3, 2).is_err());
        assert!(Matrix::from_vec(2, 2, vec![1.0f32; 3]).is_err());
        assert!(Matrix::<f32>::zeros(usize::MAX, 2).is_err());
        assert!(Matrix::from_rows(&[vec![1.0f32, 2.0], vec![3.0]]).is_err());
    }

    #[test]
    fn check_finite_names_the_place() {
        let m = Matrix::from_vec(2, 3, vec![0.0, 1.0, 2.0, 3.0, f64::NAN, 5.0]).unwrap();
        match m.view().check_finite("X") {
            Err(Error::NonFinite { row: 1, col: 1, .. }) => {}
            other => panic!("{other:?}"),
        }
        let ok = Matrix::from_vec(1, 2, vec![1e30f32, -1e30]).unwrap();
        assert!(ok.view().check_finite("X").is_ok());
    }
}
