//! SVG plots of the experiments (plotters, SVG backend, no fonts needed).
//!
//! Every plot is titled, has labelled axes with units, a legend when it has
//! more than one series, and a log scale where rates live (`L − L*`, step
//! sizes, iteration counts spanning decades). A plot is rendered to an SVG
//! string so that it can be both written to its own file and inlined in
//! `report.html`.

use anyhow::{anyhow, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

/// Width and height of every plot in pixels.
pub const SIZE: (u32, u32) = (760, 460);
/// Width of the legend panel right of a line plot with several series.
pub const LEGEND_WIDTH: u32 = 250;

/// The palette of the series (colour-blind friendly, Okabe–Ito).
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
    RGBColor(240, 228, 66),
];

/// How a series is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// A solid line.
    Solid,
    /// A dashed line (bounds and predictions).
    Dashed,
    /// Markers only (scatter).
    Markers,
    /// Line and markers.
    LineMarkers,
}

/// One curve.
#[derive(Clone, Debug)]
pub struct Series {
    /// Legend text.
    pub label: String,
    /// Index into [`PALETTE`].
    pub color: usize,
    /// How it is drawn.
    pub style: Style,
    /// The points `(x, y)`; non-finite points (and non-positive ones on a
    /// log axis) are left out.
    pub points: Vec<(f64, f64)>,
    /// Optional shaded band `(x, low, high)` drawn under the curve (spread
    /// over seeds).
    pub band: Vec<(f64, f64, f64)>,
}

impl Series {
    /// A series without band.
    pub fn new(
        label: impl Into<String>,
        color: usize,
        style: Style,
        points: Vec<(f64, f64)>,
    ) -> Self {
        Self {
            label: label.into(),
            color,
            style,
            points,
            band: Vec::new(),
        }
    }

    /// Adds a band `(x, low, high)`.
    pub fn with_band(mut self, band: Vec<(f64, f64, f64)>) -> Self {
        self.band = band;
        self
    }
}

/// A line/scatter plot.
#[derive(Clone, Debug)]
pub struct LinePlot {
    /// Title at the top.
    pub title: String,
    /// x-axis label with units.
    pub x_label: String,
    /// y-axis label with units.
    pub y_label: String,
    /// Logarithmic x axis.
    pub log_x: bool,
    /// Logarithmic y axis.
    pub log_y: bool,
    /// The curves.
    pub series: Vec<Series>,
}

fn color(i: usize) -> RGBColor {
    PALETTE.get(i % PALETTE.len()).copied().unwrap_or(BLACK)
}

fn usable(v: f64, log: bool) -> bool {
    v.is_finite() && (!log || v > 0.0)
}

/// Data range of the usable values, padded; a log axis is padded by a
/// factor, a linear one by 5 % of the span.
fn range(values: impl Iterator<Item = f64>, log: bool) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|&v| usable(v, log)) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi || lo.is_nan() || hi.is_nan() {
        return if log { (0.1, 10.0) } else { (0.0, 1.0) };
    }
    if log {
        // Whole decades, so that the axis shows labelled powers of ten.
        let a = 10f64.powf(lo.log10().floor());
        let mut b = 10f64.powf(hi.log10().ceil());
        if b <= a {
            b = a * 10.0;
        }
        (a, b)
    } else {
        let span = hi - lo;
        let pad = if span > 0.0 {
            0.05 * span
        } else {
            0.5 * lo.abs().max(1.0)
        };
        (lo - pad, hi + pad)
    }
}

fn plot_err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("plot rendering failed: {e:?}")
}

/// Renders a [`LinePlot`] as a standalone SVG document.
pub fn render_line(plot: &LinePlot) -> Result<String> {
    let mut svg = String::new();
    {
        let legend = plot.series.len() > 1;
        let width = SIZE.0 + if legend { LEGEND_WIDTH } else { 0 };
        let whole = SVGBackend::with_string(&mut svg, (width, SIZE.1)).into_drawing_area();
        whole.fill(&WHITE).map_err(plot_err)?;
        let (root, side) = whole.split_horizontally(SIZE.0);
        if legend {
            draw_legend(&side, &plot.series)?;
        }
        let xs = plot.series.iter().flat_map(|s| {
            s.points
                .iter()
                .map(|p| p.0)
                .chain(s.band.iter().map(|b| b.0))
        });
        let ys = plot.series.iter().flat_map(|s| {
            s.points
                .iter()
                .map(|p| p.1)
                .chain(s.band.iter().flat_map(|b| [b.1, b.2]))
        });
        let xr = range(xs, plot.log_x);
        let yr = range(ys, plot.log_y);
        match (plot.log_x, plot.log_y) {
            (false, false) => draw_line(&root, plot, xr.0..xr.1, yr.0..yr.1)?,
            (false, true) => draw_line(&root, plot, xr.0..xr.1, (yr.0..yr.1).log_scale())?,
            (true, false) => draw_line(&root, plot, (xr.0..xr.1).log_scale(), yr.0..yr.1)?,
            (true, true) => draw_line(
                &root,
                plot,
                (xr.0..xr.1).log_scale(),
                (yr.0..yr.1).log_scale(),
            )?,
        }
        whole.present().map_err(plot_err)?;
    }
    Ok(svg)
}

fn draw_line<X, Y>(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    plot: &LinePlot,
    x: X,
    y: Y,
) -> Result<()>
where
    X: plotters::coord::ranged1d::AsRangedCoord<Value = f64>,
    Y: plotters::coord::ranged1d::AsRangedCoord<Value = f64>,
    X::CoordDescType: plotters::coord::ranged1d::ValueFormatter<f64>,
    Y::CoordDescType: plotters::coord::ranged1d::ValueFormatter<f64>,
{
    let mut chart = ChartBuilder::on(root)
        .caption(&plot.title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(78)
        .build_cartesian_2d(x, y)
        .map_err(plot_err)?;
    let y_fmt = |v: &f64| format_tick(*v);
    let x_fmt = |v: &f64| format_tick(*v);
    chart
        .configure_mesh()
        .x_desc(&plot.x_label)
        .y_desc(&plot.y_label)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(plot_err)?;
    let (lx, ly) = (plot.log_x, plot.log_y);
    let ok = |p: &(f64, f64)| usable(p.0, lx) && usable(p.1, ly);
    for s in &plot.series {
        let c = color(s.color);
        let band: Vec<&(f64, f64, f64)> = s
            .band
            .iter()
            .filter(|b| usable(b.0, lx) && usable(b.1, ly) && usable(b.2, ly))
            .collect();
        if band.len() >= 2 {
            let mut poly: Vec<(f64, f64)> = band.iter().map(|b| (b.0, b.2)).collect();
            poly.extend(band.iter().rev().map(|b| (b.0, b.1)));
            chart
                .draw_series(std::iter::once(Polygon::new(poly, c.mix(0.18).filled())))
                .map_err(plot_err)?;
        }
        let pts: Vec<(f64, f64)> = s.points.iter().copied().filter(ok).collect();
        let line = ShapeStyle::from(&c).stroke_width(2);
        let anno = match s.style {
            Style::Solid => chart
                .draw_series(LineSeries::new(pts, line))
                .map_err(plot_err)?,
            Style::Dashed => chart
                .draw_series(DashedLineSeries::new(pts, 6, 4, line))
                .map_err(plot_err)?,
            Style::Markers => chart
                .draw_series(pts.into_iter().map(|p| Circle::new(p, 4, c.filled())))
                .map_err(plot_err)?,
            Style::LineMarkers => {
                chart
                    .draw_series(LineSeries::new(pts.clone(), line))
                    .map_err(plot_err)?;
                chart
                    .draw_series(pts.into_iter().map(|p| Circle::new(p, 3, c.filled())))
                    .map_err(plot_err)?
            }
        };
        let _ = anno;
    }
    Ok(())
}

fn draw_legend(area: &DrawingArea<SVGBackend<'_>, Shift>, series: &[Series]) -> Result<()> {
    let font = ("sans-serif", 12).into_font();
    let mut y = 50;
    for s in series {
        let c = color(s.color);
        let st = ShapeStyle::from(&c).stroke_width(2);
        match s.style {
            Style::Solid | Style::LineMarkers => {
                area.draw(&PathElement::new(vec![(6, y), (30, y)], st))
                    .map_err(plot_err)?;
            }
            Style::Dashed => {
                for x0 in [6, 16, 26] {
                    area.draw(&PathElement::new(vec![(x0, y), (x0 + 6, y)], st))
                        .map_err(plot_err)?;
                }
            }
            Style::Markers => {}
        }
        if matches!(s.style, Style::Markers | Style::LineMarkers) {
            area.draw(&Circle::new((18, y), 4, c.filled()))
                .map_err(plot_err)?;
        }
        if !s.band.is_empty() {
            area.draw(&Rectangle::new(
                [(6, y + 4), (30, y + 9)],
                c.mix(0.18).filled(),
            ))
            .map_err(plot_err)?;
        }
        area.draw(&Text::new(s.label.clone(), (38, y - 7), font.clone()))
            .map_err(plot_err)?;
        y += 22;
    }
    Ok(())
}

/// Compact tick text: `1e-6`, `0.25`, `300`.
pub fn format_tick(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-3..1e5).contains(&a) {
        let e = a.log10().floor();
        let m = v / 10f64.powf(e);
        if (m.abs() - 1.0).abs() < 1e-6 {
            format!("{}1e{}", if v < 0.0 { "-" } else { "" }, e as i64)
        } else {
            format!("{m:.1}e{}", e as i64)
        }
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        s.to_string()
    }
}

/// A heat map: one coloured cell per (row, column), with a text per cell.
#[derive(Clone, Debug)]
pub struct HeatMap {
    /// Title at the top.
    pub title: String,
    /// x-axis label (columns) with units.
    pub x_label: String,
    /// y-axis label (rows) with units.
    pub y_label: String,
    /// Column names, left to right.
    pub columns: Vec<String>,
    /// Row names, bottom to top.
    pub rows: Vec<String>,
    /// Value of each cell in `[0, 1]` (`values[row][col]`), `None` = grey.
    pub values: Vec<Vec<Option<f64>>>,
    /// Text of each cell.
    pub text: Vec<Vec<String>>,
    /// What the colour means (shown under the plot).
    pub legend: String,
}

/// Blue (0) to yellow (1), via teal: a perceptually ordered ramp.
fn ramp(v: f64) -> RGBColor {
    let stops: [(f64, (f64, f64, f64)); 4] = [
        (0.0, (68.0, 1.0, 84.0)),
        (0.33, (49.0, 104.0, 142.0)),
        (0.66, (53.0, 183.0, 121.0)),
        (1.0, (253.0, 231.0, 37.0)),
    ];
    let v = v.clamp(0.0, 1.0);
    for w in stops.windows(2) {
        if let [(a, ca), (b, cb)] = w {
            if v <= *b {
                let t = if b > a { (v - a) / (b - a) } else { 0.0 };
                let mix = |x: f64, y: f64| (x + t * (y - x)).round().clamp(0.0, 255.0) as u8;
                return RGBColor(mix(ca.0, cb.0), mix(ca.1, cb.1), mix(ca.2, cb.2));
            }
        }
    }
    RGBColor(253, 231, 37)
}

/// Renders a [`HeatMap`] as a standalone SVG document.
pub fn render_heatmap(map: &HeatMap) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let (main, foot) = root.split_vertically(SIZE.1 - 30);
        let nc = map.columns.len().max(1);
        let nr = map.rows.len().max(1);
        let cols = map.columns.clone();
        let rows = map.rows.clone();
        let mut chart = ChartBuilder::on(&main)
            .caption(&map.title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(78)
            .build_cartesian_2d(0f64..nc as f64, 0f64..nr as f64)
            .map_err(plot_err)?;
        let xf = move |v: &f64| {
            let i = (v - 0.5).round();
            if (v - 0.5 - i).abs() < 1e-6 && i >= 0.0 {
                cols.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        };
        let yf = move |v: &f64| {
            let i = (v - 0.5).round();
            if (v - 0.5 - i).abs() < 1e-6 && i >= 0.0 {
                rows.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(2 * nc + 1)
            .y_labels(2 * nr + 1)
            .x_desc(&map.x_label)
            .y_desc(&map.y_label)
            .x_label_formatter(&xf)
            .y_label_formatter(&yf)
            .draw()
            .map_err(plot_err)?;
        for (r, row) in map.values.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                let fill = match v {
                    Some(v) if v.is_finite() => ramp(*v),
                    _ => RGBColor(200, 200, 200),
                };
                let (x0, y0) = (c as f64, r as f64);
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(x0 + 0.02, y0 + 0.02), (x0 + 0.98, y0 + 0.98)],
                        fill.filled(),
                    )))
                    .map_err(plot_err)?;
                let text = map
                    .text
                    .get(r)
                    .and_then(|t| t.get(c))
                    .cloned()
                    .unwrap_or_default();
                let dark = matches!(v, Some(v) if *v < 0.55);
                let tc = if dark { WHITE } else { BLACK };
                for (k, line) in text.lines().enumerate() {
                    let style = TextStyle::from(("sans-serif", 11).into_font())
                        .color(&tc)
                        .pos(plotters::style::text_anchor::Pos::new(
                            plotters::style::text_anchor::HPos::Center,
                            plotters::style::text_anchor::VPos::Center,
                        ));
                    let lines = text.lines().count().max(1) as f64;
                    // Lines 0.26 cell heights apart, centred in the cell.
                    let dy = 0.5 + 0.13 * (lines - 1.0) - 0.26 * k as f64;
                    chart
                        .draw_series(std::iter::once(Text::new(
                            line.to_string(),
                            (x0 + 0.5, y0 + dy),
                            style,
                        )))
                        .map_err(plot_err)?;
                }
            }
        }
        foot.draw(&Text::new(
            map.legend.clone(),
            (90, 8),
            ("sans-serif", 12).into_font(),
        ))
        .map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_plot_has_title_axes_legend_and_skips_bad_points() {
        let plot = LinePlot {
            title: "T title".into(),
            x_label: "iteration t [steps]".into(),
            y_label: "L - L* [loss]".into(),
            log_x: false,
            log_y: true,
            series: vec![
                Series::new(
                    "measured",
                    0,
                    Style::Solid,
                    vec![(0.0, 1.0), (1.0, 0.1), (2.0, 0.0), (3.0, f64::NAN)],
                )
                .with_band(vec![(0.0, 0.5, 2.0), (1.0, 0.05, 0.2)]),
                Series::new("bound", 1, Style::Dashed, vec![(0.0, 1.0), (1.0, 0.5)]),
            ],
        };
        let svg = render_line(&plot).unwrap();
        assert!(svg.starts_with("<svg"));
        for needle in [
            "T title",
            "iteration t [steps]",
            "L - L* [loss]",
            "measured",
            "bound",
        ] {
            assert!(svg.contains(needle), "missing {needle}");
        }
        assert!(!svg.contains("NaN"));
    }

    #[test]
    fn heatmap_renders_cells_and_labels() {
        let map = HeatMap {
            title: "H".into(),
            x_label: "omega".into(),
            y_label: "sigma".into(),
            columns: vec!["c0".into(), "c1".into()],
            rows: vec!["r0".into()],
            values: vec![vec![Some(0.2), None]],
            text: vec![vec!["0.20".into(), "none".into()]],
            legend: "colour = rate".into(),
        };
        let svg = render_heatmap(&map).unwrap();
        for needle in ["c0", "c1", "r0", "0.20", "none", "colour = rate"] {
            assert!(svg.contains(needle), "missing {needle}");
        }
    }

    #[test]
    fn ticks_are_compact() {
        assert_eq!(format_tick(1e-6), "1e-6");
        assert_eq!(format_tick(0.25), "0.25");
        assert_eq!(format_tick(300.0), "300");
        assert_eq!(format_tick(2.5e-8), "2.5e-8");
    }
}
