//! Reports: Markdown tables and PNG pictures (decision boundaries, loss curves).

pub mod plots;
pub mod table;

pub use plots::{BoundaryPlot, LossCurve, decision_boundary_png, loss_curves_png, text_enabled};
pub use table::{Align, markdown_table};
