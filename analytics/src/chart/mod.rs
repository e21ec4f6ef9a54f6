//! `chart`: a bar, line, pie, scatter or histogram chart from a spec, drawn with plotters to
//! PNG and/or SVG in the workspace; the plotted series come back so a client can re-plot.

pub mod data;
pub mod font;
pub mod render;

use crate::error::{bad, Result};
use crate::workspace::Root;
use dynexec_analytics_protocol::{ChartArtifact, ChartData, ChartRequest, ChartResult};
use plotters::prelude::*;
use sha2::{Digest, Sha256};

const DEFAULT_SIZE: (u32, u32) = (1000, 600);
const SIZES: std::ops::RangeInclusive<u32> = 200..=4000;

pub fn chart(req: &ChartRequest, root: &Root, font: Option<&str>) -> Result<ChartResult> {
    let size = (
        req.width.unwrap_or(DEFAULT_SIZE.0),
        req.height.unwrap_or(DEFAULT_SIZE.1),
    );
    if !SIZES.contains(&size.0) || !SIZES.contains(&size.1) {
        return Err(bad(format!(
            "width and height must be within {SIZES:?} pixels"
        )));
    }
    let mut formats: Vec<&str> = vec![];
    for f in &req.formats {
        match f.to_ascii_lowercase().as_str() {
            "png" if !formats.contains(&"png") => formats.push("png"),
            "svg" if !formats.contains(&"svg") => formats.push("svg"),
            "png" | "svg" => {}
            other => return Err(bad(format!("format `{other}`: only png and svg"))),
        }
    }
    if formats.is_empty() {
        return Err(bad("formats is empty"));
    }
    let stem = req
        .output
        .strip_suffix(".png")
        .or_else(|| req.output.strip_suffix(".svg"))
        .unwrap_or(&req.output);
    let data = match (&req.source, &req.data) {
        (Some(src), None) => {
            let path = root.existing(&src.path)?;
            let loaded = crate::load::load(&path, &src.path)?;
            data::from_source(req.kind, &loaded.df, src)?
        }
        (None, Some(d)) => {
            if let Some(s) = d.series.iter().find(|s| s.y.len() != d.x.len()) {
                return Err(bad(format!(
                    "series `{}` has {} values for {} x values",
                    s.name,
                    s.y.len(),
                    d.x.len()
                )));
            }
            if d.series.is_empty() {
                return Err(bad("data.series is empty"));
            }
            d.clone()
        }
        _ => {
            return Err(bad(
                "give exactly one of `source` (a file) and `data` (the values)",
            ))
        }
    };
    if data.x.is_empty() {
        return Err(bad("nothing to plot: no rows after the filter"));
    }
    font::register(font)?;
    let mut artifacts = vec![];
    for f in formats {
        let rel = format!("{stem}.{f}");
        let (path, shown) = root.output(&rel)?;
        let bytes = match f {
            "svg" => {
                let mut svg = String::new();
                render::draw(
                    SVGBackend::with_string(&mut svg, size).into_drawing_area(),
                    req,
                    &data,
                )
                .map_err(bad)?;
                svg.into_bytes()
            }
            _ => png(req, &data, size)?,
        };
        let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
        std::fs::write(&tmp, &bytes)
            .and_then(|_| std::fs::rename(&tmp, &path))
            .map_err(|e| bad(format!("writing `{shown}`: {e}")))?;
        artifacts.push(ChartArtifact {
            path: shown,
            mime: if f == "svg" {
                "image/svg+xml"
            } else {
                "image/png"
            }
            .into(),
            size: bytes.len() as u64,
            sha256: hex::encode(Sha256::digest(&bytes)),
        });
    }
    Ok(ChartResult {
        artifacts,
        data: ChartData { ..data },
        duration_ms: 0.0,
    })
}

/// Draws into an RGB buffer and encodes it as PNG (fast compression: a chart is mostly flat
/// colour, the size difference to the best level is a few percent).
fn png(req: &ChartRequest, data: &ChartData, size: (u32, u32)) -> Result<Vec<u8>> {
    let mut rgb = vec![0u8; size.0 as usize * size.1 as usize * 3];
    render::draw(
        BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area(),
        req,
        data,
    )
    .map_err(bad)?;
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, size.0, size.1);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_compression(png::Compression::Fast);
    enc.write_header()
        .and_then(|mut w| w.write_image_data(&rgb))
        .map_err(|e| bad(format!("encoding PNG: {e}")))?;
    Ok(out)
}
