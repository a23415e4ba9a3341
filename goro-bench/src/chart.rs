//! `report.svg`: goro's figure over Go's, one horizontal bar per workload, with lines
//! at 1.0 (as fast as Go) and 0.5 (twice as fast). plotters, SVG backend; text is
//! emitted as SVG `<text>`, so no font files are needed.

use std::path::Path;

use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::report::Report;
use crate::workloads::Runtime;

/// goro ahead of Go (ratio ≤ 1), and behind.
const AHEAD: RGBColor = RGBColor(0, 122, 94);
const BEHIND: RGBColor = RGBColor(200, 80, 50);
/// The widest ratio drawn; longer bars are cut there (their label says the value).
const X_CAP: f64 = 4.0;
const ROW_PX: u32 = 26;
/// Empty rows under the bars, where the legend goes.
const LEGEND_ROWS: f64 = 2.5;

/// Draws the chart; `Ok(false)` (and no file) when there is no ratio to draw.
pub fn draw(report: &Report, path: &Path) -> Result<bool, String> {
    let rows: Vec<(String, Option<f64>)> = report
        .results
        .iter()
        .map(|r| {
            (
                format!("{} ({})", r.workload, r.unit),
                r.ratio_to_go(Runtime::Goro),
            )
        })
        .collect();
    let top = rows.iter().filter_map(|r| r.1).fold(0.0, f64::max);
    if top <= 0.0 {
        return Ok(false);
    }
    let err = |e: &dyn std::fmt::Display| format!("drawing {}: {e}", path.display());
    let k = rows.len();
    let height = 120 + ROW_PX * (k as u32 + LEGEND_ROWS as u32 + 1);
    let root = SVGBackend::new(path, (900, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let x_max = (top * 1.15).clamp(1.2, X_CAP);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "goro / Go per workload (lower is better; < 1: goro ahead)",
            ("sans-serif", 18),
        )
        .margin(16)
        .x_label_area_size(36)
        .y_label_area_size(250)
        .build_cartesian_2d(0f64..x_max, -LEGEND_ROWS..k as f64)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .disable_y_axis()
        .x_desc("goro figure ÷ Go figure")
        .x_label_formatter(&|v| format!("{v:.1}"))
        .draw()
        .map_err(|e| err(&e))?;
    // Row g from the top: its band is [k - g - 1, k - g).
    let band = |g: usize| (k - g - 1) as f64;
    chart
        .draw_series(rows.iter().enumerate().filter_map(|(g, (_, r))| {
            let v = (*r)?;
            let colour = if v <= 1.0 { AHEAD } else { BEHIND };
            Some(Rectangle::new(
                [(0.0, band(g) + 0.15), (v.min(x_max), band(g) + 0.85)],
                colour.filled(),
            ))
        }))
        .map_err(|e| err(&e))?;
    chart
        .draw_series(rows.iter().enumerate().map(|(g, (_, r))| {
            let (text, x) = match r {
                Some(v) => (format!("{v:.2}×"), v.min(x_max)),
                None => ("no ratio".to_string(), 0.0),
            };
            let x = (x + x_max * 0.01).min(x_max * 0.93);
            Text::new(text, (x, band(g) + 0.72), ("sans-serif", 12))
        }))
        .map_err(|e| err(&e))?;
    chart
        .draw_series(std::iter::once(PathElement::new(
            [(1.0, -LEGEND_ROWS), (1.0, k as f64)],
            BLACK.stroke_width(2),
        )))
        .map_err(|e| err(&e))?
        .label("1.0: as fast as Go")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 14, y)], BLACK.stroke_width(2)));
    let grey = RGBColor(90, 90, 90);
    chart
        .draw_series(std::iter::once(DashedPathElement::new(
            [(0.5, -LEGEND_ROWS), (0.5, k as f64)],
            6,
            4,
            grey.stroke_width(2),
        )))
        .map_err(|e| err(&e))?
        .label("0.5: twice as fast as Go")
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], grey.stroke_width(2)));
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.85))
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(|e| err(&e))?;
    let style =
        TextStyle::from(("sans-serif", 13).into_font()).pos(Pos::new(HPos::Right, VPos::Center));
    for (g, (label, _)) in rows.iter().enumerate() {
        let (px, py) = chart.backend_coord(&(0.0, band(g) + 0.5));
        root.draw_text(label, &style, (px - 8, py))
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))?;
    Ok(true)
}
