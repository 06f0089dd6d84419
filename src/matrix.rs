//! Row-major matrices: the owned [`Matrix`] and the borrowed views [`MatRef`] and [`MatMut`].
//!
//! Element `(i, j)` of a view lives at `data[i * stride + j]`; `stride ≥ cols`. Owned
//! matrices are always contiguous (`stride == cols`).

use crate::error::{Error, Result, checked_size};
use crate::float::Float;

/// An owned, contiguous, row-major matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix<T> {
    data: Vec<T>,
    rows: usize,
    cols: usize,
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
        Ok(Matrix {
            data: vec![T::default(); n],
            rows,
            cols,
        })
    }

    /// Wraps a row-major buffer of `rows · cols` elements.
    pub fn from_vec(rows: usize, cols: usize, data: Vec<T>) -> Result<Self> {
        let n = checked_size(rows, cols, "matrix size")?;
        if data.len() != n {
            return Err(Error::shape(
                "Matrix::from_vec",
                format!("{rows}×{cols} = {n} elements"),
                format!("{} elements", data.len()),
            ));
        }
        Ok(Matrix { data, rows, cols })
    }

    /// Builds a matrix from equal-length rows.
    pub fn from_rows<R: AsRef<[T]>>(rows: &[R]) -> Result<Self> {
        let cols = rows.first().map_or(0, |r| r.as_ref().len());
        let mut data = Vec::with_capacity(checked_size(rows.len(), cols, "matrix size")?);
        for (i, r) in rows.iter().enumerate() {
            let r = r.as_ref();
            if r.len() != cols {
                return Err(Error::shape(
                    format!("Matrix::from_rows, row {i}"),
                    format!("{cols} columns"),
                    format!("{} columns", r.len()),
                ));
            }
            data.extend_from_slice(r);
        }
        Ok(Matrix {
            data,
            rows: rows.len(),
            cols,
        })
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
        &self.data
    }
    /// The row-major buffer, mutably.
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        &mut self.data
    }
    /// Gives the buffer back.
    pub fn into_vec(self) -> Vec<T> {
        self.data
    }
    /// Row `i` (panics if `i >= rows`, like slice indexing).
    pub fn row(&self, i: usize) -> &[T] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }
    /// Row `i`, mutably (panics if `i >= rows`).
    pub fn row_mut(&mut self, i: usize) -> &mut [T] {
        &mut self.data[i * self.cols..(i + 1) * self.cols]
    }
    /// Iterates over the rows.
    pub fn iter_rows(&self) -> impl Iterator<Item = &[T]> {
        // `max(1)` keeps chunks_exact valid for 0 columns; rows are then empty slices.
        let c = self.cols.max(1);
        self.data.chunks_exact(c).take(self.rows).map(move |r| &r[..self.cols])
    }
    /// A borrowed view of the whole matrix.
    pub fn view(&self) -> MatRef<'_, T> {
        MatRef {
            data: &self.data,
            rows: self.rows,
            cols: self.cols,
            stride: self.cols,
        }
    }
    /// A mutable view of the whole matrix.
    pub fn view_mut(&mut self) -> MatMut<'_, T> {
        MatMut {
            data: &mut self.data,
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
        self.data[i * self.cols + j]
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
