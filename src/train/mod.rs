//! Training: the objective (loss + gradient oracle), the update rule and the fit loop.

mod engine;
pub mod fit;
pub mod objective;
pub mod optim;
mod order;
mod team;

pub use fit::{FitConfig, FitReport};
pub use objective::{Partition, Workspace, loss_and_grad};
