//! What the server sends the analytics helper (`dynamic-executor-analytics`) and what it
//! answers: one JSON document on stdin, one on stdout. The same types are the bodies of
//! `POST /v1/sessions/{id}/profile|verify|charts`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// The helper's stdin: the sandbox to enter (none from the CLI) and the work.
#[derive(Debug, Serialize, Deserialize)]
pub struct HelperInput {
    /// Entered before the first byte of a data file is read.
    pub policy: Option<dynexec_sandbox::Policy>,
    /// A Korean font (NanumGothic) for charts, found by the server at start.
    #[serde(default)]
    pub font: Option<String>,
    pub request: Request,
}

// One per helper process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    Profile(ProfileRequest),
    Verify(VerifyRequest),
    Chart(ChartRequest),
}

/// The helper's stdout.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    Profile(Profile),
    Verify(VerifyReport),
    Chart(ChartResult),
    Error(HelperError),
}

/// Why a request failed, in the API's `{code, message}` terms.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HelperError {
    /// `bad_request`, `invalid_path`, `file_not_found`, `font_unavailable`.
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[cfg_attr(feature = "mcp", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum ProfileFormat {
    #[default]
    Json,
    Markdown,
}

fn five() -> usize {
    5
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[cfg_attr(feature = "mcp", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ProfileRequest {
    /// A workspace path: CSV (delimiter and UTF-8 / UTF-8 BOM / CP949 sniffed), Parquet,
    /// JSON, NDJSON or xlsx.
    pub path: String,
    #[serde(default)]
    pub format: ProfileFormat,
    /// Most frequent values listed per column (0-50).
    #[serde(default = "five")]
    pub top: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[cfg_attr(feature = "mcp", derive(schemars::JsonSchema))]
pub struct TopValue {
    pub value: Value,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[cfg_attr(feature = "mcp", derive(schemars::JsonSchema))]
pub struct ColumnProfile {
    pub name: String,
    /// `int`, `float`, `string`, `bool`, `date`, `datetime`, or polars' name for others.
    pub dtype: String,
    pub nulls: u64,
    pub distinct: u64,
    pub min: Option<Value>,
    pub max: Option<Value>,
    pub mean: Option<f64>,
    pub std: Option<f64>,
    pub p25: Option<f64>,
    pub p50: Option<f64>,
    pub p75: Option<f64>,
    pub top: Vec<TopValue>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[cfg_attr(feature = "mcp", derive(schemars::JsonSchema))]
pub struct Profile {
    pub path: String,
    pub format: ProfileFormat,
    /// `csv`, `parquet`, `json`, `ndjson`, `xlsx`.
    pub file_type: String,
    /// `utf-8`, `utf-8-bom`, `cp949` (text formats), else null.
    pub encoding: Option<String>,
    pub delimiter: Option<String>,
    pub rows: u64,
    pub columns: Vec<ColumnProfile>,
    /// The same as a compact table, when `format` is `markdown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub markdown: Option<String>,
    pub duration_ms: f64,
}

fn calc_metadata() -> String {
    "artifacts/calculation_metadata.json".into()
}

fn tolerance() -> f64 {
    0.01
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[cfg_attr(feature = "mcp", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The Coder's `calculation_metadata.json` (a workspace path).
    #[serde(default = "calc_metadata")]
    pub metadata: String,
    /// Where `citations.json` is written; default `artifacts/citations.json`; "" writes none.
    #[serde(default)]
    pub output: Option<String>,
    /// Absolute difference accepted as a match.
    #[serde(default = "tolerance")]
    pub tolerance: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[cfg_attr(feature = "mcp", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Verified,
    Mismatch,
    Unverifiable,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[cfg_attr(feature = "mcp", derive(schemars::JsonSchema))]
pub struct CalculationCheck {
    pub id: String,
    pub expected: Value,
    pub actual: Option<f64>,
    pub status: CheckStatus,
    /// How it was recomputed and matched (`sql`, `formula`, `formula+source_columns[0]`;
    /// `within_tolerance`, `rounded`).
    pub method: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[cfg_attr(feature = "mcp", derive(schemars::JsonSchema))]
pub struct VerifyReport {
    pub total: usize,
    pub verified: usize,
    pub mismatched: usize,
    pub unverifiable: usize,
    pub results: Vec<CalculationCheck>,
    /// The `citations.json` document (as written).
    pub citations: Value,
    /// Where it was written (null when `output` was "").
    pub output: Option<String>,
    pub duration_ms: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[cfg_attr(feature = "mcp", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum ChartKind {
    Bar,
    Line,
    Pie,
    Scatter,
    Histogram,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[cfg_attr(feature = "mcp", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Agg {
    #[default]
    Sum,
    Mean,
    Count,
    Min,
    Max,
}

/// Chart data read from a workspace file and aggregated.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[cfg_attr(feature = "mcp", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ChartSource {
    pub path: String,
    /// The category (bar, line, pie), the x value (scatter) or the binned column (histogram).
    pub x: String,
    /// The aggregated value column (not needed for `count` and histograms).
    #[serde(default)]
    pub y: Option<String>,
    #[serde(default)]
    pub agg: Agg,
    /// One series per value of this column.
    #[serde(default)]
    pub group: Option<String>,
    /// A condition in the verify grammar: `카테고리 = '과일' AND 금액 > 1000`.
    #[serde(default)]
    pub filter: Option<String>,
    /// `x`, `-x`, `y`, `-y` (by the first series); default `x`.
    #[serde(default)]
    pub sort: Option<String>,
    /// Keep the first `limit` categories after sorting.
    #[serde(default)]
    pub limit: Option<usize>,
    /// Histogram bins (default: Sturges' rule).
    #[serde(default)]
    pub bins: Option<usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[cfg_attr(feature = "mcp", derive(schemars::JsonSchema))]
pub struct Series {
    pub name: String,
    pub y: Vec<Option<f64>>,
}

/// The plotted data: categories (or numbers) on x, one or more series.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[cfg_attr(feature = "mcp", derive(schemars::JsonSchema))]
pub struct ChartData {
    pub x: Vec<Value>,
    pub series: Vec<Series>,
}

fn png() -> Vec<String> {
    vec!["png".into()]
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[cfg_attr(feature = "mcp", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ChartRequest {
    pub kind: ChartKind,
    #[serde(default)]
    pub source: Option<ChartSource>,
    #[serde(default)]
    pub data: Option<ChartData>,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub x_label: String,
    #[serde(default)]
    pub y_label: String,
    /// The artifact's path without extension, e.g. `artifacts/sales_by_category`.
    pub output: String,
    /// `png` and/or `svg`.
    #[serde(default = "png")]
    pub formats: Vec<String>,
    #[serde(default)]
    pub width: Option<u32>,
    #[serde(default)]
    pub height: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[cfg_attr(feature = "mcp", derive(schemars::JsonSchema))]
pub struct ChartArtifact {
    pub path: String,
    pub mime: String,
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[cfg_attr(feature = "mcp", derive(schemars::JsonSchema))]
pub struct ChartResult {
    pub artifacts: Vec<ChartArtifact>,
    pub data: ChartData,
    pub duration_ms: f64,
}
