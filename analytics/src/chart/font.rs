//! The Korean font charts are drawn in: NanumGothic (or another font covering Hangul) found
//! through fontconfig (`fc-list :lang=ko`), else under /usr/share/fonts, or a configured path.

use crate::error::{AnalyticsError, Result};
use std::path::{Path, PathBuf};

/// The preferred families, best first.
const PREFERRED: [&str; 4] = [
    "NanumGothic.ttf",
    "NanumBarunGothic.ttf",
    "NanumSquareR.ttf",
    "NanumMyeongjo.ttf",
];

/// Finds a Korean font file (run once at server start, and by the CLI).
pub fn discover() -> Option<PathBuf> {
    if let Ok(out) = std::process::Command::new("fc-list")
        .args([":lang=ko", "file"])
        .output()
    {
        let listed: Vec<PathBuf> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.trim().strip_suffix(':'))
            .map(PathBuf::from)
            .filter(|p| p.extension().is_some_and(|e| e == "ttf" || e == "otf"))
            .collect();
        if let Some(p) = best(&listed) {
            return Some(p);
        }
    }
    let mut found = vec![];
    walk(Path::new("/usr/share/fonts"), &mut found, 0);
    best(&found)
}

fn best(files: &[PathBuf]) -> Option<PathBuf> {
    PREFERRED
        .iter()
        .find_map(|name| {
            files
                .iter()
                .find(|p| p.file_name().is_some_and(|f| f == *name))
        })
        .or_else(|| {
            files
                .iter()
                .find(|p| p.to_string_lossy().to_lowercase().contains("nanum"))
        })
        .or(files.first())
        .cloned()
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() && depth < 4 {
            walk(&p, out, depth + 1);
        } else if p.to_string_lossy().to_lowercase().contains("nanum")
            && p.extension().is_some_and(|x| x == "ttf")
        {
            out.push(p);
        }
    }
}

/// Registers the font under [`super::render::FAMILY`] for the bitmap backend.
pub fn register(path: Option<&str>) -> Result<()> {
    let found;
    let path = match path {
        Some(p) => PathBuf::from(p),
        None => {
            found = discover();
            found.clone().ok_or_else(|| {
                AnalyticsError::FontUnavailable(
                    "no Korean font (NanumGothic) on this host: install fonts-nanum or set EXECUTOR_CHART_FONT"
                        .into(),
                )
            })?
        }
    };
    let unavailable = |e: std::io::Error| {
        AnalyticsError::FontUnavailable(format!("the chart font `{}`: {e}", path.display()))
    };
    let file = std::fs::File::open(&path).map_err(unavailable)?;
    // Mapped, not read: a chart touches the few glyph tables it draws, not the 4.7 MB a read
    // copied (2.5 ms of a 25 ms chart).
    // SAFETY: a font is a system file the session cannot write (Landlock keeps system paths
    // read-only, and its uid owns nothing there); the mapping is private and read-only, and
    // lives, leaked on purpose, as long as this short-lived process.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(unavailable)?;
    let bytes: &'static [u8] = Box::leak(Box::new(map));
    for style in [
        plotters::style::FontStyle::Normal,
        plotters::style::FontStyle::Bold,
    ] {
        plotters::style::register_font(super::render::FAMILY, style, bytes).map_err(|_| {
            AnalyticsError::FontUnavailable(format!("`{}` is not a TrueType font", path.display()))
        })?;
    }
    Ok(())
}
