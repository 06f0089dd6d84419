//! PNG pictures drawn with plotters: decision boundaries of 2-D classifiers and training
//! loss curves.
//!
//! Text (titles, axis labels, legends) is drawn only when [`text_enabled`] says a font
//! is available; otherwise the pictures carry no text and the caller describes them in
//! words (the experiment's `report.md` does). Everything else — shading, boundaries,
//! points, grid lines — is the same in both cases.

// `plot-text` is a feature to be declared in Cargo.toml (see `text_enabled`).

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::matrix::Matrix;

/// The class colours (Tableau 10), indexed by class; classes beyond 10 wrap around.
pub const CLASS_COLORS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Plain-English names of [`CLASS_COLORS`], for captions written outside the picture.
pub const CLASS_COLOR_NAMES: [&str; 10] = [
    "blue", "orange", "green", "red", "purple", "brown", "pink", "grey", "olive", "cyan",
];

/// The colour of class (or series) `i`.
pub fn class_color(i: usize) -> RGBColor {
    CLASS_COLORS[i % CLASS_COLORS.len()]
}

/// The name of the colour of class (or series) `i`.
pub fn class_color_name(i: usize) -> &'static str {
    CLASS_COLOR_NAMES[i % CLASS_COLOR_NAMES.len()]
}

/// Whether pictures get text (titles, axis labels, legends): true when the crate is
/// built with an embedded font (the `plot-text` feature: plotters' `ab_glyph` backend and
/// the DejaVu Sans font from the `dejavu` crate). The font is registered on first call.
pub fn text_enabled() -> bool {
    fonts::register()
}

#[cfg(feature = "plot-text")]
mod fonts {
    use std::sync::OnceLock;

    /// Registers DejaVu Sans as plotters' `sans-serif` once; false if that failed.
    pub fn register() -> bool {
        static OK: OnceLock<bool> = OnceLock::new();
        *OK.get_or_init(|| {
            use plotters::style::{FontStyle, register_font};
            register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular()).is_ok()
                && register_font("sans-serif", FontStyle::Bold, dejavu::sans::bold()).is_ok()
        })
    }
}

#[cfg(not(feature = "plot-text"))]
mod fonts {
    /// No font is compiled in: pictures are drawn without text.
    pub fn register() -> bool {
        false
    }
}

/// A plotters error as the crate's [`Error::Io`] for `path`.
fn draw_err(path: &Path) -> impl Fn(&dyn std::fmt::Display) -> Error + '_ {
    move |e| Error::Io {
        path: path.display().to_string(),
        message: format!("drawing the picture failed: {e}"),
    }
}

/// Mixes `c` with white: `t = 0` is white, `t = 1` is `c`.
fn tint(c: RGBColor, t: f64) -> RGBColor {
    let mix = |v: u8| (255.0 - (255.0 - v as f64) * t).round().clamp(0.0, 255.0) as u8;
    RGBColor(mix(c.0), mix(c.1), mix(c.2))
}

/// Scales `c` towards black: `t = 1` keeps it, `t = 0` is black.
fn shade(c: RGBColor, t: f64) -> RGBColor {
    let mix = |v: u8| (v as f64 * t).round().clamp(0.0, 255.0) as u8;
    RGBColor(mix(c.0), mix(c.1), mix(c.2))
}

/// `[min − pad, max + pad]` of column `j` over the rows of all matrices, padded by 6 %
/// of the span (or by 1 when all values are equal).
fn padded_range(ms: &[&Matrix<f64>], j: usize) -> (f64, f64) {
    let vals = ms.iter().flat_map(|m| m.iter_rows().map(move |r| r[j]));
    let (lo, hi) = vals.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if !(lo.is_finite() && hi.is_finite()) {
        return (-1.0, 1.0);
    }
    let pad = if hi > lo { 0.06 * (hi - lo) } else { 1.0 };
    (lo - pad, hi + pad)
}

/// What a decision-boundary picture shows.
#[derive(Debug, Clone)]
pub struct BoundaryPlot<'a> {
    /// Title (drawn only with text enabled).
    pub title: &'a str,
    /// Names of the horizontal and vertical axes (features 0 and 1).
    pub axis_labels: [&'a str; 2],
    /// Class names, indexed by label (for the legend).
    pub class_names: &'a [String],
    /// Training points (N×2) and their labels.
    pub train: (&'a Matrix<f64>, &'a [u32]),
    /// Test points (M×2) and their labels.
    pub test: (&'a Matrix<f64>, &'a [u32]),
    /// Width and height of the square picture in pixels.
    pub size: u32,
    /// Side of one shading cell in pixels (the classifier is evaluated once per cell).
    pub cell: u32,
}

/// Draws a 2-D classifier's decision regions with its data to a PNG at `path`.
///
/// Each cell of a grid over the data range is coloured by its predicted class (the most
/// probable), pale where the largest probability is near chance and saturated where it
/// is near 1; cells where the predicted class changes are drawn dark grey, tracing the
/// decision boundary. Training points are small filled dots in their class colour with a
/// dark outline, test points larger rings in their class colour with a white halo, so a
/// ring on a region of another colour is a misclassified test point.
///
/// `proba` maps raw coordinates (K×2) to class probabilities (K×T), for example scaling
/// then `predict_proba`.
pub fn decision_boundary_png(
    path: &Path,
    plot: &BoundaryPlot<'_>,
    proba: &dyn Fn(&Matrix<f64>) -> Result<Matrix<f64>>,
) -> Result<()> {
    let (trx, try_) = plot.train;
    let (tex, tey) = plot.test;
    for (what, m, y) in [("training points", trx, try_), ("test points", tex, tey)] {
        if m.cols() != 2 || m.rows() != y.len() {
            return Err(Error::ShapeMismatch {
                context: format!("decision boundary picture: {what}"),
                expected: "N×2 points with N labels".into(),
                found: format!("{}×{} points with {} labels", m.rows(), m.cols(), y.len()),
            });
        }
    }
    let err = draw_err(path);
    let text = text_enabled();
    let (xmin, xmax) = padded_range(&[trx, tex], 0);
    let (ymin, ymax) = padded_range(&[trx, tex], 1);
    let size = plot.size.max(64);
    let cell = plot.cell.clamp(1, 32) as i32;

    let root = BitMapBackend::new(path, (size, size)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut builder = ChartBuilder::on(&root);
    builder.margin(12);
    if text {
        builder
            .caption(plot.title, ("sans-serif", 20).into_font().style(FontStyle::Bold))
            .x_label_area_size(40)
            .y_label_area_size(52);
    }
    let mut chart = builder
        .build_cartesian_2d(xmin..xmax, ymin..ymax)
        .map_err(|e| err(&e))?;

    // Evaluate the classifier at the centre of every cell of the plotting area.
    let (xr, yr) = chart.plotting_area().get_pixel_range();
    let (w, h) = ((xr.end - xr.start).max(1), (yr.end - yr.start).max(1));
    let (nx, ny) = ((w + cell - 1) / cell, (h + cell - 1) / cell);
    let mut centres = Vec::with_capacity((nx * ny * 2) as usize);
    for cy in 0..ny {
        for cx in 0..nx {
            let fx = ((cx * cell) as f64 + cell as f64 / 2.0) / w as f64;
            let fy = ((cy * cell) as f64 + cell as f64 / 2.0) / h as f64;
            centres.push(xmin + fx * (xmax - xmin));
            centres.push(ymax - fy * (ymax - ymin));
        }
    }
    let grid = Matrix::from_vec((nx * ny) as usize, 2, centres)?;
    let p = proba(&grid)?;
    if p.rows() != grid.rows() || p.cols() == 0 {
        return Err(Error::ShapeMismatch {
            context: "decision boundary picture: class probabilities".into(),
            expected: format!("{} rows", grid.rows()),
            found: format!("{}×{}", p.rows(), p.cols()),
        });
    }
    let t = p.cols();
    let chance = 1.0 / t as f64;
    let (pred, conf): (Vec<usize>, Vec<f64>) = p
        .iter_rows()
        .map(|r| {
            let (k, &pmax) = r
                .iter()
                .enumerate()
                .fold((0, &r[0]), |best, (k, v)| if *v > *best.1 { (k, v) } else { best });
            let c = if t > 1 {
                ((pmax - chance) / (1.0 - chance)).clamp(0.0, 1.0)
            } else {
                1.0
            };
            (k, c)
        })
        .unzip();
    let boundary = RGBColor(60, 60, 60);
    for cy in 0..ny {
        for cx in 0..nx {
            let i = (cy * nx + cx) as usize;
            let edge = (cx + 1 < nx && pred[i + 1] != pred[i]) || (cy + 1 < ny && pred[i + nx as usize] != pred[i]);
            let color = if edge {
                boundary
            } else {
                tint(class_color(pred[i]), 0.15 + 0.5 * conf[i])
            };
            let (px, py) = (xr.start + cx * cell, yr.start + cy * cell);
            let (qx, qy) = ((px + cell).min(xr.end), (py + cell).min(yr.end));
            root.draw(&Rectangle::new([(px, py), (qx, qy)], color.filled()))
                .map_err(|e| err(&e))?;
        }
    }

    // Points: training dots, then test rings on top.
    let n_classes = t.max(plot.class_names.len());
    for c in 0..n_classes {
        let col = class_color(c);
        let pts = trx.iter_rows().zip(try_).filter(|&(_, &l)| l as usize == c);
        let series = chart
            .draw_series(pts.map(|(r, _)| {
                EmptyElement::at((r[0], r[1]))
                    + Circle::new((0, 0), 3, col.filled())
                    + Circle::new((0, 0), 3, shade(col, 0.45).stroke_width(1))
            }))
            .map_err(|e| err(&e))?;
        if text {
            let name = plot.class_names.get(c).cloned().unwrap_or_else(|| c.to_string());
            series
                .label(format!("class {name}"))
                .legend(move |(x, y)| Rectangle::new([(x - 5, y - 5), (x + 5, y + 5)], col.filled()));
        }
    }
    for c in 0..n_classes {
        let col = class_color(c);
        let pts = tex.iter_rows().zip(tey).filter(|&(_, &l)| l as usize == c);
        chart
            .draw_series(pts.map(|(r, _)| {
                EmptyElement::at((r[0], r[1]))
                    + Circle::new((0, 0), 5, WHITE.filled())
                    + Circle::new((0, 0), 5, shade(col, 0.85).stroke_width(2))
                    + Circle::new((0, 0), 6, shade(col, 0.4).stroke_width(1))
            }))
            .map_err(|e| err(&e))?;
    }
    root.draw(&Rectangle::new(
        [(xr.start, yr.start), (xr.end, yr.end)],
        BLACK.stroke_width(1),
    ))
    .map_err(|e| err(&e))?;

    if text {
        // Legend entries for the two point styles (no data, just the keys).
        chart
            .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
            .map_err(|e| err(&e))?
            .label("training point")
            .legend(|(x, y)| Circle::new((x, y), 3, BLACK.filled()));
        chart
            .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
            .map_err(|e| err(&e))?
            .label("test point")
            .legend(|(x, y)| {
                EmptyElement::at((x, y))
                    + Circle::new((0, 0), 5, WHITE.filled())
                    + Circle::new((0, 0), 5, BLACK.stroke_width(2))
            });
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(plot.axis_labels[0])
            .y_desc(plot.axis_labels[1])
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 15))
            .draw()
            .map_err(|e| err(&e))?;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 13))
            .draw()
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

/// One data set's training loss, one value per epoch (epoch 0 first).
#[derive(Debug, Clone)]
pub struct LossCurve<'a> {
    /// The panel title (drawn only with text enabled).
    pub name: &'a str,
    /// Loss per epoch.
    pub losses: &'a [f64],
}

/// Layout of a loss-curve picture, for describing it in words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LossLayout {
    /// Panels per row (the curves are laid out in reading order).
    pub columns: usize,
    /// The last epoch on the (shared) horizontal axis.
    pub max_epoch: usize,
}

/// Draws one panel per curve (small multiples, `columns` per row, each `panel` pixels) to
/// a PNG at `path`: training loss against epoch, both axes logarithmic, all panels sharing
/// the epoch axis (`losses[e]` is drawn at epoch `e + 1`). Light grey lines mark powers of
/// ten on both axes.
pub fn loss_curves_png(path: &Path, curves: &[LossCurve<'_>], columns: usize, panel: (u32, u32)) -> Result<LossLayout> {
    if curves.is_empty() {
        return Err(Error::Empty {
            what: "loss-curve picture: no curves".into(),
        });
    }
    let err = draw_err(path);
    let text = text_enabled();
    let columns = columns.clamp(1, curves.len());
    let rows = curves.len().div_ceil(columns);
    let max_epoch = curves.iter().map(|c| c.losses.len()).max().unwrap_or(0).max(2);
    let (pw, ph) = (panel.0.max(80), panel.1.max(60));
    let root = BitMapBackend::new(path, (pw * columns as u32, ph * rows as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let areas = root.split_evenly((rows, columns));
    for (i, (curve, area)) in curves.iter().zip(&areas).enumerate() {
        draw_loss_panel(area, curve, class_color(i), max_epoch, text).map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))?;
    Ok(LossLayout { columns, max_epoch })
}

/// The loss axis for losses in `[lo, hi]`: padded by 30 % each way and at least a
/// factor of ten wide (widened evenly on the log scale), so that a flat curve looks flat
/// and at least one power of ten is marked.
fn loss_range(lo: f64, hi: f64) -> (f64, f64) {
    let (lo, hi) = (lo / 1.3, hi * 1.3);
    let ratio = hi / lo;
    if ratio >= 10.0 {
        return (lo, hi);
    }
    let widen = (10.0 / ratio).sqrt();
    (lo / widen, hi * widen)
}

/// A loss for an axis label: two decimals, or exponent form below 0.01.
fn fmt_loss(v: f64) -> String {
    if v >= 0.01 {
        format!("{v:.2}")
    } else {
        format!("{v:.0e}")
    }
}

/// The powers of ten in `[lo, hi]`.
fn decades(lo: f64, hi: f64) -> Vec<f64> {
    let mut out = Vec::new();
    if !(lo > 0.0 && hi.is_finite()) {
        return out;
    }
    let mut d = 10f64.powf(lo.log10().floor());
    while d <= hi {
        if d >= lo {
            out.push(d);
        }
        d *= 10.0;
    }
    out
}

fn draw_loss_panel(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    curve: &LossCurve<'_>,
    color: RGBColor,
    max_epoch: usize,
    text: bool,
) -> std::result::Result<(), DrawingAreaErrorKind<<BitMapBackend<'static> as DrawingBackend>::ErrorType>> {
    let pts: Vec<(f64, f64)> = curve
        .losses
        .iter()
        .enumerate()
        .filter(|&(_, &l)| l.is_finite() && l > 0.0)
        .map(|(e, &l)| ((e + 1) as f64, l))
        .collect();
    let (lo, hi) = pts
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &(_, l)| {
            (lo.min(l), hi.max(l))
        });
    let (lo, hi) = if lo.is_finite() {
        loss_range(lo, hi)
    } else {
        (0.1, 10.0)
    };
    let (x0, x1) = (1.0, max_epoch as f64);
    let mut builder = ChartBuilder::on(area);
    builder.margin(8);
    if text {
        builder
            .caption(curve.name, ("sans-serif", 16).into_font().style(FontStyle::Bold))
            .x_label_area_size(22)
            .y_label_area_size(44);
    }
    let mut chart = builder.build_cartesian_2d((x0..x1).log_scale(), (lo..hi).log_scale())?;
    let grid = RGBColor(210, 210, 210);
    for d in decades(lo, hi) {
        chart.draw_series(LineSeries::new([(x0, d), (x1, d)], grid.stroke_width(1)))?;
    }
    for e in decades(x0, x1) {
        chart.draw_series(LineSeries::new([(e, lo), (e, hi)], grid.stroke_width(1)))?;
    }
    if pts.len() == 1 {
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
    }
    chart.draw_series(LineSeries::new(pts, color.stroke_width(2)))?;
    if text {
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(4)
            .y_labels(4)
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| fmt_loss(*v))
            .label_style(("sans-serif", 11))
            .draw()?;
    }
    let (xr, yr) = chart.plotting_area().get_pixel_range();
    let base = area.get_base_pixel();
    area.draw(&Rectangle::new(
        [
            (xr.start - base.0, yr.start - base.1),
            (xr.end - base.0, yr.end - base.1),
        ],
        BLACK.stroke_width(1),
    ))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_axis_is_at_least_a_decade() {
        let (lo, hi) = loss_range(0.69, 0.70);
        assert!(hi / lo >= 10.0 - 1e-9 && lo < 0.69 && hi > 0.70);
        assert!((lo * hi).sqrt() > 0.69 && (lo * hi).sqrt() < 0.70);
        let (lo, hi) = loss_range(0.013, 1.3);
        assert!((lo - 0.01).abs() < 1e-12 && (hi - 1.69).abs() < 1e-12, "{lo} {hi}");
        assert_eq!(fmt_loss(0.5), "0.50");
        assert_eq!(fmt_loss(0.002), "2e-3");
    }

    #[test]
    fn decades_in_a_range() {
        assert_eq!(decades(0.05, 2.0), vec![0.1, 1.0]);
        assert_eq!(decades(1.0, 1000.0), vec![1.0, 10.0, 100.0, 1000.0]);
        assert!(decades(0.2, 0.9).is_empty());
        assert!(decades(0.0, 1.0).is_empty());
    }

    #[test]
    fn tints() {
        assert_eq!(tint(RGBColor(0, 100, 255), 0.0), RGBColor(255, 255, 255));
        assert_eq!(tint(RGBColor(0, 100, 255), 1.0), RGBColor(0, 100, 255));
        assert_eq!(shade(RGBColor(100, 100, 100), 0.5), RGBColor(50, 50, 50));
    }
}
