//! PNG charts (plotters, with an embedded DejaVu Sans so no system font is needed): stacked
//! panels of line series with optional vertical markers and log axes.

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;
use plotters::style::FontStyle;

/// One line.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend label.
    pub label: String,
    /// `(x, y)` points, in x order.
    pub points: Vec<(f64, f64)>,
}

/// A shaded band around series `series` of the same chart (its color, lighter): e.g. the
/// min–max of several seeds around their mean.
#[derive(Debug, Clone)]
pub struct Band {
    /// Index of the series in the chart.
    pub series: usize,
    /// `(x, low, high)`, in x order.
    pub points: Vec<(f64, f64, f64)>,
}

/// A vertical marker line at `x` with a short label.
#[derive(Debug, Clone)]
pub struct Marker {
    /// Where.
    pub x: f64,
    /// Label drawn next to the line (e.g. `restart`).
    pub label: String,
}

/// One panel.
#[derive(Debug, Clone, Default)]
pub struct Chart {
    /// Title above the panel.
    pub title: String,
    /// X axis label.
    pub x_label: String,
    /// Y axis label.
    pub y_label: String,
    /// Logarithmic x axis.
    pub log_x: bool,
    /// Logarithmic y axis.
    pub log_y: bool,
    /// The lines.
    pub series: Vec<Series>,
    /// Vertical markers.
    pub markers: Vec<Marker>,
    /// Fixed y range (default: fitted to the data).
    pub y_range: Option<(f64, f64)>,
    /// Shaded bands, drawn under the lines.
    pub bands: Vec<Band>,
}

static FONT: Once = Once::new();

fn register_font() {
    FONT.call_once(|| {
        // Only fails for an unparsable font; the embedded one parses.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
    });
}

const PANEL_HEIGHT: u32 = 420;
const WIDTH: u32 = 1000;

fn range(values: impl Iterator<Item = f64>, log: bool) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite() && (!log || *v > 0.0)) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return if log { (1e-3, 1.0) } else { (0.0, 1.0) };
    }
    if hi <= lo {
        return if log {
            (lo / 2.0, hi * 2.0)
        } else {
            (lo - 0.5_f64.max(lo.abs() * 0.1), hi + 0.5_f64.max(hi.abs() * 0.1))
        };
    }
    if log {
        (lo / 1.2, hi * 1.2)
    } else {
        let pad = (hi - lo) * 0.05;
        (lo - pad, hi + pad)
    }
}

/// `text` without the trailing zeros of its fraction (and without a bare trailing `.`).
fn trim_fraction(text: &str) -> &str {
    if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.') } else { text }
}

/// Scientific notation with at most three significant digits: `3e-4`, `1.5e6`.
fn scientific(v: f64) -> String {
    let text = format!("{v:.2e}");
    match text.split_once('e') {
        Some((mantissa, exp)) => format!("{}e{exp}", trim_fraction(mantissa)),
        None => text,
    }
}

/// A tick or value label for `v` on a linear axis from `lo` to `hi`: plain decimals (`0.95`,
/// `12.5`, `3`) with as many digits as the range needs, scientific notation only for very
/// small or very large magnitudes (below 0.001 or from 100000).
pub fn tick_label(v: f64, lo: f64, hi: f64) -> String {
    let magnitude = lo.abs().max(hi.abs());
    if !v.is_finite() || !magnitude.is_finite() || magnitude >= 1e5 || (magnitude > 0.0 && magnitude < 1e-3) {
        return scientific(v);
    }
    let span = if hi > lo { hi - lo } else { magnitude.max(1e-3) };
    // Ticks are about span/10 apart: one more digit than that needs, trailing zeros dropped.
    let decimals = (-(span / 20.0).log10()).ceil().clamp(0.0, 8.0) as usize;
    let text = format!("{v:.decimals$}");
    let text = trim_fraction(&text);
    if text == "-0" { "0".to_owned() } else { text.to_owned() }
}

/// A value on its own (the top and bottom of a terminal chart): four significant digits,
/// plain from 0.001 to 99999 (`0.1124`, `2.303`), else scientific.
pub fn value_label(v: f64) -> String {
    if v == 0.0 {
        return "0".to_owned();
    }
    if !(v.abs() >= 1e-3 && v.abs() < 1e5) {
        return scientific(v);
    }
    let decimals = (3 - v.abs().log10().floor() as i32).max(0) as usize;
    let text = format!("{v:.decimals$}");
    trim_fraction(&text).to_owned()
}

/// A tick label on a logarithmic axis: plain from 0.001 to 99999 (`0.005`, `20`), else
/// scientific (`1e-7`).
fn log_tick_label(v: f64) -> String {
    if v.abs() >= 1e-3 && v.abs() < 1e5 { tick_label(v, v, v) } else { scientific(v) }
}

/// Marker labels stack in at most this many rows below the top of a panel; a label that would
/// overlap every row's last label is left out (its line is still drawn).
const MARKER_ROWS: usize = 3;

/// The share of a panel's y range added above the data when it has markers, for their labels.
const MARKER_HEADROOM: f64 = 0.18;

/// The row (0 = top) for a label spanning pixels `left..right`, given each row's rightmost
/// pixel used so far; `None` when it fits in no row.
fn marker_row(rows: &mut Vec<i32>, left: i32, right: i32) -> Option<usize> {
    const GAP: i32 = 6;
    let row = match rows.iter().position(|&end| left >= end + GAP) {
        Some(r) => r,
        None if rows.len() < MARKER_ROWS => {
            rows.push(i32::MIN / 2);
            rows.len() - 1
        }
        None => return None,
    };
    rows[row] = right;
    Some(row)
}

/// Draws `charts` stacked vertically into the PNG `path`.
pub fn render(path: &Path, charts: &[Chart]) -> Result<(), String> {
    register_font();
    let height = PANEL_HEIGHT * charts.len().max(1) as u32;
    let root = BitMapBackend::new(path, (WIDTH, height)).into_drawing_area();
    let err = |e: &dyn std::fmt::Display| format!("drawing {}: {e}", path.display());
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let panels = root.split_evenly((charts.len().max(1), 1));
    for (chart, area) in charts.iter().zip(&panels) {
        draw_panel(chart, area).map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))
}

/// Whether the point can be drawn on the chart's axes (finite, and positive on a log axis).
fn drawable(chart: &Chart, &(x, y): &(f64, f64)) -> bool {
    x.is_finite() && y.is_finite() && (!chart.log_y || y > 0.0) && (!chart.log_x || x > 0.0)
}

/// Where the legend box (`size` in pixels) covers the fewest pixels of the drawn `lines` in the
/// plot area `(x range, y range)`: a corner, or the middle of a side (first such on a tie).
fn legend_position(
    lines: &[Vec<(i32, i32)>],
    (xs, ys): (std::ops::Range<i32>, std::ops::Range<i32>),
    (w, h): (i32, i32),
) -> SeriesLabelPosition {
    const MARGIN: i32 = 10;
    let (left, right) = (xs.start + MARGIN, xs.end - MARGIN - w);
    let (top, bottom, middle) = (ys.start + MARGIN, ys.end - MARGIN - h, (ys.start + ys.end - h) / 2);
    let candidates = [
        (SeriesLabelPosition::UpperRight, right, top),
        (SeriesLabelPosition::UpperLeft, left, top),
        (SeriesLabelPosition::LowerRight, right, bottom),
        (SeriesLabelPosition::LowerLeft, left, bottom),
        (SeriesLabelPosition::MiddleRight, right, middle),
        (SeriesLabelPosition::MiddleLeft, left, middle),
    ];
    // The lines sampled every few pixels, so a segment crossing a box counts too.
    let mut samples = Vec::new();
    for line in lines {
        for pair in line.windows(2) {
            let ((x0, y0), (x1, y1)) = (pair[0], pair[1]);
            let n = ((x1 - x0).abs().max((y1 - y0).abs()) / 4).clamp(1, 2000);
            samples.extend((0..=n).map(|k| (x0 + (x1 - x0) * k / n, y0 + (y1 - y0) * k / n)));
        }
        samples.extend(line.first().copied());
    }
    let covered = |&(_, x, y): &(SeriesLabelPosition, i32, i32)| {
        samples.iter().filter(|p| p.0 >= x && p.0 <= x + w && p.1 >= y && p.1 <= y + h).count()
    };
    candidates.iter().min_by_key(|c| covered(c)).map_or(SeriesLabelPosition::UpperRight, |c| c.0.clone())
}

/// The outline of a band (its top left to right, then its bottom back), drawable points only;
/// none with fewer than two.
fn band_outline(chart: &Chart, band: &Band) -> Option<Vec<(f64, f64)>> {
    let ok = |&(x, lo, hi): &(f64, f64, f64)| drawable(chart, &(x, lo)) && drawable(chart, &(x, hi));
    let kept: Vec<(f64, f64, f64)> = band.points.iter().copied().filter(ok).collect();
    (kept.len() > 1).then(|| kept.iter().map(|p| (p.0, p.2)).chain(kept.iter().rev().map(|p| (p.0, p.1))).collect())
}

/// Every y value of the chart's lines and bands.
fn y_values(chart: &Chart) -> impl Iterator<Item = f64> + '_ {
    let bands = chart.bands.iter().flat_map(|b| b.points.iter().flat_map(|p| [p.1, p.2]));
    chart.series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).chain(bands)
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

fn draw_panel(chart: &Chart, area: &Area<'_>) -> Result<(), Box<dyn std::error::Error>> {
    let xs = chart.series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let ys = y_values(chart);
    let (x0, x1) = range(xs, chart.log_x);
    let (y0, y1) = chart.y_range.unwrap_or_else(|| range(ys, chart.log_y));
    // Room above the data for the marker labels (rows of 16 px in a ~340 px plot).
    let y1 = match (chart.markers.is_empty(), chart.log_y) {
        (true, _) => y1,
        (false, false) => y1 + (y1 - y0) * MARKER_HEADROOM,
        (false, true) => y1 * (y1 / y0).powf(MARKER_HEADROOM),
    };
    let mut builder = ChartBuilder::on(area);
    builder.caption(&chart.title, ("sans-serif", 22)).margin(12).x_label_area_size(42).y_label_area_size(80);
    // The four combinations of linear/log axes are four coordinate types.
    macro_rules! draw {
        ($xr:expr, $yr:expr) => {{
            let mut c = builder.build_cartesian_2d($xr, $yr)?;
            c.configure_mesh()
                .x_desc(chart.x_label.as_str())
                .y_desc(chart.y_label.as_str())
                .y_label_formatter(&|v| if chart.log_y { log_tick_label(*v) } else { tick_label(*v, y0, y1) })
                .x_label_formatter(&|v| if chart.log_x { log_tick_label(*v) } else { format!("{v:.0}") })
                .light_line_style(WHITE)
                .label_style(("sans-serif", 14))
                .draw()?;
            let font = ("sans-serif", 13).into_font().color(&RGBColor(110, 110, 110));
            let mut rows = Vec::new();
            let mut markers: Vec<&Marker> = chart.markers.iter().collect();
            markers.sort_by(|a, b| a.x.total_cmp(&b.x));
            for m in markers {
                let style = ShapeStyle::from(&RGBColor(150, 150, 150)).stroke_width(1);
                c.draw_series(std::iter::once(PathElement::new(vec![(m.x, y0), (m.x, y1)], style)))?;
                let left = c.backend_coord(&(m.x, y1)).0 + 3;
                let width = area.estimate_text_size(&m.label, &font).map_or(8 * m.label.len() as u32, |s| s.0);
                if let Some(row) = marker_row(&mut rows, left, left + width as i32) {
                    let offset = (3, 2 + 16 * row as i32);
                    c.draw_series(std::iter::once(
                        EmptyElement::at((m.x, y1)) + Text::new(m.label.clone(), offset, font.clone()),
                    ))?;
                }
            }
            for band in &chart.bands {
                if let Some(outline) = band_outline(chart, band) {
                    let color = Palette99::pick(band.series).mix(0.2);
                    c.draw_series(std::iter::once(Polygon::new(outline, color.filled())))?;
                }
            }
            for (i, s) in chart.series.iter().enumerate() {
                let color = Palette99::pick(i).to_rgba();
                let points = s.points.iter().copied().filter(|p| drawable(chart, p));
                c.draw_series(LineSeries::new(points, ShapeStyle::from(&color).stroke_width(2)))?
                    .label(s.label.clone())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], ShapeStyle::from(&color).stroke_width(2))
                    });
            }
            if chart.series.len() > 1 || chart.series.iter().any(|s| !s.label.is_empty()) {
                let (xs, ys) = c.plotting_area().get_pixel_range();
                let lines: Vec<Vec<(i32, i32)>> = chart
                    .series
                    .iter()
                    .map(|s| s.points.iter().filter(|p| drawable(chart, p)).map(|p| c.backend_coord(p)).collect())
                    .collect();
                let label_style = TextStyle::from(("sans-serif", 14).into_font());
                let label_width = |s: &Series| area.estimate_text_size(&s.label, &label_style).map_or(0, |s| s.0);
                let width = chart.series.iter().map(label_width).max().unwrap_or(0) as i32 + 40;
                let size = (width, 20 * chart.series.len() as i32 + 10);
                c.configure_series_labels()
                    .position(legend_position(&lines, (xs, ys), size))
                    .background_style(WHITE.mix(0.85))
                    .border_style(BLACK)
                    .label_font(("sans-serif", 14))
                    .draw()?;
            }
        }};
    }
    match (chart.log_x, chart.log_y) {
        (false, false) => draw!(x0..x1, y0..y1),
        (false, true) => draw!(x0..x1, (y0..y1).log_scale()),
        (true, false) => draw!((x0..x1).log_scale(), y0..y1),
        (true, true) => draw!((x0..x1).log_scale(), (y0..y1).log_scale()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_plain_decimals_where_the_range_allows() {
        assert_eq!(tick_label(0.95, 0.9, 1.0), "0.95");
        assert_eq!(tick_label(0.9, 0.9, 1.0), "0.9");
        assert_eq!(tick_label(0.15, 0.0, 0.5), "0.15");
        assert_eq!(tick_label(12.0, 0.0, 100.0), "12");
        assert_eq!(tick_label(-0.0001, -0.5, 0.5), "0");
        assert_eq!(tick_label(3e-4, 1e-5, 5e-4), "3e-4");
        assert_eq!(tick_label(1.5e6, 0.0, 2e6), "1.5e6");
        assert_eq!(log_tick_label(0.005), "0.005");
        assert_eq!(log_tick_label(1e-7), "1e-7");
        assert_eq!(value_label(0.11243), "0.1124");
        assert_eq!(value_label(2.30412), "2.304");
        assert_eq!(value_label(0.003), "0.003");
        assert_eq!(value_label(1e-4), "1e-4");
    }

    #[test]
    fn the_legend_goes_where_it_covers_the_fewest_line_pixels() {
        let area = (0..1000, 0..400);
        // A line along the top: the legend goes to a lower corner.
        let top = vec![vec![(0, 20), (1000, 20)]];
        assert!(matches!(legend_position(&top, area.clone(), (120, 50)), SeriesLabelPosition::LowerRight));
        // A falling line from top left to bottom right: the upper right corner is free.
        let falling = vec![vec![(0, 0), (1000, 400)]];
        assert!(matches!(legend_position(&falling, area.clone(), (120, 50)), SeriesLabelPosition::UpperRight));
        // Lines on the right half and the top: the lower left.
        let right = vec![vec![(600, 0), (600, 400)], vec![(0, 30), (1000, 30)], vec![(900, 0), (900, 400)]];
        assert!(matches!(legend_position(&right, area, (120, 50)), SeriesLabelPosition::LowerLeft));
    }

    #[test]
    fn marker_labels_stagger_and_are_skipped_when_no_row_is_free() {
        let mut rows = Vec::new();
        assert_eq!(marker_row(&mut rows, 10, 80), Some(0), "warmup end");
        assert_eq!(marker_row(&mut rows, 60, 120), Some(1), "restart 1 overlaps it: next row");
        assert_eq!(marker_row(&mut rows, 90, 150), Some(0), "room again in the first row");
        assert_eq!(marker_row(&mut rows, 100, 160), Some(2));
        assert_eq!(marker_row(&mut rows, 110, 170), None, "three rows taken: left out");
        assert_eq!(marker_row(&mut rows, 400, 450), Some(0));
    }

    #[test]
    fn renders_a_png_with_panels_and_markers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.png");
        let series = Series {
            label: "lr".into(),
            points: (0..100).map(|t| (t as f64, 0.1 * (1.0 - t as f64 / 100.0) + 1e-4)).collect(),
        };
        let chart = Chart {
            title: "t".into(),
            x_label: "step".into(),
            y_label: "lr".into(),
            series: vec![series],
            markers: vec![Marker { x: 50.0, label: "R".into() }],
            ..Default::default()
        };
        let log = Chart { log_y: true, log_x: true, ..chart.clone() };
        render(&path, &[chart, log]).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        assert!(bytes.len() > 10_000, "{} bytes", bytes.len());
        assert!(render(Path::new("/nonexistent-dir/x.png"), &[]).is_err());
    }
}
