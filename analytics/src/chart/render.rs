//! Drawing with plotters: the same code draws the PNG (bitmap) and the SVG. Text is in the
//! Korean font registered at start, value axes carry thousands separators, and category labels
//! are thinned (every k-th) and shortened so none overlaps its neighbour.

use crate::values::{text, thousands};
use dynexec_analytics_protocol::{ChartData, ChartKind, ChartRequest};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// The font family registered from the Korean font file (and named in SVG output).
pub const FAMILY: &str = "NanumGothic";

/// matplotlib's tab10, the colours agents' charts usually have.
const PALETTE: [RGBColor; 10] = [
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

const TICK_PX: u32 = 14;
const MARKERS_UP_TO: usize = 60;
const LONGEST_LABEL: usize = 18;

fn err(e: impl std::fmt::Display) -> String {
    format!("drawing failed: {e}")
}

/// Width in pixels of `s` at `px`: CJK glyphs are about square, Latin about half as wide.
fn text_width(s: &str, px: u32) -> u32 {
    s.chars()
        .map(|c| if c.is_ascii() { px * 6 / 10 } else { px })
        .sum()
}

fn shorten(s: &str) -> String {
    if s.chars().count() <= LONGEST_LABEL {
        return s.to_string();
    }
    let mut out: String = s.chars().take(LONGEST_LABEL - 1).collect();
    out.push('…');
    out
}

/// Which of `labels` are shown so that shown ones do not touch, given `slot` px per label.
pub fn shown_every(labels: &[String], slot: f64) -> usize {
    let widest = labels
        .iter()
        .map(|l| text_width(l, TICK_PX) + 8)
        .max()
        .unwrap_or(0) as f64;
    if slot <= 0.0 {
        return labels.len().max(1);
    }
    ((widest / slot).ceil() as usize).max(1)
}

fn value_range(data: &ChartData, from_zero: bool) -> (f64, f64) {
    let values = data
        .series
        .iter()
        .flat_map(|s| s.y.iter().flatten().copied());
    let (mut lo, mut hi) = values.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
    if lo > hi {
        (lo, hi) = (0.0, 1.0);
    }
    if from_zero {
        lo = lo.min(0.0);
        hi = hi.max(0.0);
    }
    let pad = if hi > lo {
        (hi - lo) * 0.08
    } else {
        hi.abs().max(1.0) * 0.1
    };
    // Padding never takes an axis of non-negative values below zero (or the reverse).
    let low = if lo >= 0.0 && lo - pad < 0.0 {
        0.0
    } else {
        lo - pad
    };
    let high = if hi <= 0.0 && hi + pad > 0.0 {
        0.0
    } else {
        hi + pad
    };
    (low, high)
}

pub fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    req: &ChartRequest,
    data: &ChartData,
) -> Result<(), String> {
    root.fill(&WHITE).map_err(err)?;
    match req.kind {
        ChartKind::Pie => pie(&root, req, data)?,
        ChartKind::Scatter if data.x.iter().all(|v| v.is_number() || v.is_null()) => {
            scatter(&root, req, data)?
        }
        _ => categorical(&root, req, data)?,
    }
    root.present().map_err(err)
}

fn caption_style() -> TextStyle<'static> {
    (FAMILY, 24).into_font().color(&BLACK)
}

fn categorical<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    req: &ChartRequest,
    data: &ChartData,
) -> Result<(), String> {
    let n = data.x.len().max(1);
    let labels: Vec<String> = data.x.iter().map(|v| shorten(&text(v))).collect();
    let bars = matches!(req.kind, ChartKind::Bar | ChartKind::Histogram);
    let (lo, hi) = value_range(data, bars);
    let (w, _) = root.dim_in_pixel();
    let y_label_area = 24
        + data
            .series
            .iter()
            .flat_map(|s| s.y.iter().flatten())
            .map(|v| text_width(&thousands(*v), TICK_PX))
            .chain([
                text_width(&thousands(hi), TICK_PX),
                text_width(&thousands(lo), TICK_PX),
            ])
            .max()
            .unwrap_or(40);
    let plot_w = w.saturating_sub(y_label_area + 40) as f64;
    let every = shown_every(&labels, plot_w / n as f64);
    let keys: Vec<f64> = (0..n).step_by(every).map(|i| i as f64).collect();
    let mut chart = ChartBuilder::on(root)
        .caption(&req.title, caption_style())
        .margin(16)
        .x_label_area_size(if req.x_label.is_empty() { 36 } else { 60 })
        .y_label_area_size(y_label_area)
        .build_cartesian_2d(-0.5f64..n as f64 - 0.5, lo..hi)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .max_light_lines(0)
        .x_desc(req.x_label.as_str())
        .y_desc(req.y_label.as_str())
        .axis_desc_style((FAMILY, 16))
        .label_style((FAMILY, TICK_PX))
        // Category labels are drawn below, one per shown slot centre.
        .x_labels(0)
        .y_label_formatter(&|v: &f64| thousands(*v))
        .y_labels(8)
        .draw()
        .map_err(err)?;
    let tick = TextStyle::from((FAMILY, TICK_PX).into_font())
        .color(&BLACK)
        .pos(Pos::new(HPos::Center, VPos::Top));
    for k in keys {
        let (px, py) = chart.backend_coord(&(k, lo));
        let label = labels
            .get(k as usize)
            .map(String::as_str)
            .unwrap_or_default();
        // A label near an edge is moved inside the picture rather than cut by it.
        let half = (text_width(label, TICK_PX) / 2) as i32;
        let px = px.min(w as i32 - half - 2).max(half + 2);
        root.draw(&Text::new(label, (px, py + 6), tick.clone()))
            .map_err(err)?;
    }
    let s_count = data.series.len().max(1);
    for (si, s) in data.series.iter().enumerate() {
        let color = PALETTE[si % PALETTE.len()];
        let legend_color = color;
        let drawn = if bars {
            // Grouped bars share 80 % of a slot (histogram bars touch).
            let group = if req.kind == ChartKind::Histogram {
                1.0
            } else {
                0.8
            };
            let bw = group / s_count as f64;
            let base = if lo > 0.0 { lo } else { 0.0f64.min(hi) };
            chart
                .draw_series(s.y.iter().enumerate().filter_map(|(i, y)| {
                    let y = (*y)?;
                    let x0 = i as f64 - group / 2.0 + bw * si as f64;
                    Some(Rectangle::new([(x0, base), (x0 + bw, y)], color.filled()))
                }))
                .map_err(err)?
        } else {
            let points: Vec<(f64, f64)> =
                s.y.iter()
                    .enumerate()
                    .filter_map(|(i, y)| y.map(|y| (i as f64, y)))
                    .collect();
            // Markers where they can be told apart: a line of hundreds of points is a line.
            let markers = if req.kind == ChartKind::Line && points.len() > MARKERS_UP_TO {
                vec![]
            } else {
                points.clone()
            };
            if req.kind == ChartKind::Line {
                chart
                    .draw_series(LineSeries::new(points, color.stroke_width(2)))
                    .map_err(err)?;
            }
            chart
                .draw_series(
                    markers
                        .into_iter()
                        .map(|p| Circle::new(p, 3, color.filled())),
                )
                .map_err(err)?
        };
        drawn.label(s.name.as_str()).legend(move |(x, y)| {
            Rectangle::new([(x, y - 5), (x + 12, y + 5)], legend_color.filled())
        });
    }
    legend(&mut chart, data)
}

fn scatter<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    req: &ChartRequest,
    data: &ChartData,
) -> Result<(), String> {
    let xs: Vec<Option<f64>> = data.x.iter().map(|v| v.as_f64()).collect();
    let (xlo, xhi) = xs
        .iter()
        .flatten()
        .fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
    let (xlo, xhi) = if xlo > xhi { (0.0, 1.0) } else { (xlo, xhi) };
    let xpad = if xhi > xlo { (xhi - xlo) * 0.05 } else { 1.0 };
    let (lo, hi) = value_range(data, false);
    let mut chart = ChartBuilder::on(root)
        .caption(&req.title, caption_style())
        .margin(16)
        .x_label_area_size(if req.x_label.is_empty() { 36 } else { 60 })
        .y_label_area_size(24 + text_width(&thousands(hi.abs().max(lo.abs())), TICK_PX) + 8)
        .build_cartesian_2d(xlo - xpad..xhi + xpad, lo..hi)
        .map_err(err)?;
    chart
        .configure_mesh()
        .max_light_lines(0)
        .x_desc(req.x_label.as_str())
        .y_desc(req.y_label.as_str())
        .axis_desc_style((FAMILY, 16))
        .label_style((FAMILY, TICK_PX))
        .x_label_formatter(&|v: &f64| thousands(*v))
        .y_label_formatter(&|v: &f64| thousands(*v))
        .x_labels(8)
        .y_labels(8)
        .draw()
        .map_err(err)?;
    for (si, s) in data.series.iter().enumerate() {
        let color = PALETTE[si % PALETTE.len()];
        chart
            .draw_series(
                xs.iter().zip(&s.y).filter_map(|(x, y)| {
                    Some(Circle::new(((*x)?, (*y)?), 3, color.mix(0.7).filled()))
                }),
            )
            .map_err(err)?
            .label(s.name.as_str())
            .legend(move |(x, y)| Circle::new((x + 6, y), 4, color.filled()));
    }
    legend(&mut chart, data)
}

/// The series' names in a box at the upper right, when there is more than one series.
fn legend<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    data: &ChartData,
) -> Result<(), String> {
    if data.series.len() > 1 {
        chart
            .configure_series_labels()
            .label_font((FAMILY, TICK_PX))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(err)?;
    }
    Ok(())
}

fn pie<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    req: &ChartRequest,
    data: &ChartData,
) -> Result<(), String> {
    let s = data.series.first().ok_or("a pie needs one series")?;
    let mut sizes = vec![];
    let mut labels = vec![];
    for (x, y) in data.x.iter().zip(&s.y) {
        match y {
            Some(v) if *v > 0.0 => {
                sizes.push(*v);
                labels.push(shorten(&text(x)));
            }
            Some(v) if *v < 0.0 => return Err(format!("a pie cannot show the negative value {v}")),
            _ => {}
        }
    }
    if sizes.is_empty() {
        return Err("a pie needs at least one positive value".into());
    }
    let area = root
        .margin(16, 16, 16, 16)
        .titled(&req.title, caption_style())
        .map_err(err)?;
    let (w, h) = area.dim_in_pixel();
    let center = ((w / 2) as i32, (h / 2) as i32);
    let radius = (w.min(h) as f64) * 0.36;
    let colors: Vec<RGBColor> = (0..sizes.len())
        .map(|i| PALETTE[i % PALETTE.len()])
        .collect();
    let mut pie = Pie::new(&center, &radius, &sizes, &colors, &labels);
    pie.start_angle(-90.0);
    pie.label_style((FAMILY, 15).into_font().color(&BLACK));
    pie.percentages((FAMILY, 13).into_font().color(&WHITE));
    area.draw(&pie).map_err(err)?;
    Ok(())
}
