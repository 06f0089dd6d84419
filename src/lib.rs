//! # multilogit
//!
//! Multinomial logistic regression (softmax regression) trained as fast as the hardware
//! allows: fused, SIMD, rayon-parallel, deterministic.
//!
//! ## The model and where each equation is computed
//!
//! | equation | function |
//! |---|---|
//! | `z = X·W + b` | [`kernels::gemm::xw`] (blocked GEMM) and the bias add in [`kernels::softmax`] |
//! | `ŷ = softmax(z)` row-wise | [`kernels::softmax::softmax_rows`] |
//! | `J = -(1/N) Σ y·log ŷ = (1/N) Σᵢ (logsumexp(zᵢ) − zᵢ,yᵢ)` | [`kernels::softmax::softmax_delta`] (fused with δ) |
//! | `δ = (ŷ − y)/N` | [`kernels::softmax::softmax_delta`] (in place over `z`) |
//! | `∇W = Xᵀ·δ`, `∇b = 1ᵀ·δ` | [`kernels::gemm::xt_delta`], [`LogisticClassifierMultinomial::compute_loss_grad`] |
//! | `W −= lr·∇W`, `b −= lr·∇b` | [`LogisticClassifierMultinomial::update_params`] |
//! | all of the above, fused per row block | [`train::objective::loss_and_grad`] |
//!
#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod error;
pub mod float;
pub mod kernels;
pub mod matrix;
pub mod model;
pub mod rng;
pub mod train;

#[cfg(feature = "cli")]
pub mod bench;
#[cfg(feature = "cli")]
pub mod data;
#[cfg(feature = "cli")]
pub mod experiment;
#[cfg(feature = "cli")]
pub mod io;
#[cfg(feature = "cli")]
pub mod report;

pub use error::{Error, Result};
pub use float::Float;
pub use matrix::{MatMut, MatRef, Matrix};
pub use model::LogisticClassifierMultinomial;
pub use train::FitReport;
