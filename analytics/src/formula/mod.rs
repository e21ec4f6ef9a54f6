//! The calculation formulas of `calculation_metadata.json` (and chart filters): parsed into an
//! AST, evaluated with polars.

pub mod ast;
pub mod eval;
pub mod parse;
