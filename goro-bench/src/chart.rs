//! `report.svg`: each Rust runtime's figure over Go's, per workload (plotters, SVG
//! backend; text is emitted as SVG `<text>`, so no font files are needed).

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::report::Report;
use crate::workloads::Runtime;

/// The runtimes drawn, and their colours (goro first and strongest).
const SERIES: [(Runtime, RGBColor); 3] = [
    (Runtime::Goro, RGBColor(0, 122, 94)),
    (Runtime::Tokio, RGBColor(200, 120, 40)),
    (Runtime::May, RGBColor(110, 110, 190)),
];

/// Draws the chart; `Ok(false)` (and no file) when there is no ratio to draw.
pub fn draw(report: &Report, path: &Path) -> Result<bool, String> {
    let groups = &report.results;
    let ratios: Vec<Vec<Option<f64>>> = groups
        .iter()
        .map(|r| SERIES.iter().map(|(rt, _)| r.ratio_to_go(*rt)).collect())
        .collect();
    let top = ratios
        .iter()
        .flatten()
        .flatten()
        .copied()
        .fold(0.0, f64::max);
    if top <= 0.0 {
        return Ok(false);
    }
    let err = |e: &dyn std::fmt::Display| format!("drawing {}: {e}", path.display());
    let width = 240 + 200 * groups.len() as u32;
    let root = SVGBackend::new(path, (width.max(640), 480)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let y_top = (top.max(1.0) * 1.2).max(1.2);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "figure relative to Go (Go = 1.0; lower is better)",
            ("sans-serif", 20),
        )
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(-0.5f64..groups.len() as f64 - 0.5, 0f64..y_top)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .disable_x_axis()
        .y_desc("× Go")
        .y_label_formatter(&|v| format!("{v:.1}"))
        .draw()
        .map_err(|e| err(&e))?;
    let bar_w = 0.8 / SERIES.len() as f64;
    for (k, (rt, colour)) in SERIES.iter().enumerate() {
        let bars: Vec<(f64, f64)> = ratios
            .iter()
            .enumerate()
            .filter_map(|(g, rs)| rs[k].map(|v| (g as f64 - 0.4 + bar_w * k as f64, v)))
            .collect();
        let colour = *colour;
        chart
            .draw_series(bars.iter().map(|&(x, v)| {
                Rectangle::new([(x + 0.01, 0.0), (x + bar_w - 0.01, v)], colour.filled())
            }))
            .map_err(|e| err(&e))?
            .label(if bars.is_empty() {
                format!("{} (no figure)", rt.title())
            } else {
                rt.title().to_string()
            })
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], colour.filled()));
        chart
            .draw_series(bars.iter().map(|&(x, v)| {
                Text::new(
                    format!("{v:.2}"),
                    (x + bar_w * 0.15, v + y_top * 0.03),
                    ("sans-serif", 12),
                )
            }))
            .map_err(|e| err(&e))?;
    }
    chart
        .draw_series(std::iter::once(PathElement::new(
            [(-0.5, 1.0), (groups.len() as f64 - 0.5, 1.0)],
            BLACK.stroke_width(2),
        )))
        .map_err(|e| err(&e))?
        .label("Go")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 10, y)], BLACK.stroke_width(2)));
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(|e| err(&e))?;
    for (g, r) in groups.iter().enumerate() {
        let (px, py) = chart.backend_coord(&(g as f64, 0.0));
        let label = format!("{} ({})", r.workload, r.unit);
        let style =
            TextStyle::from(("sans-serif", 14).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
        root.draw_text(&label, &style, (px, py + 8))
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))?;
    Ok(true)
}
