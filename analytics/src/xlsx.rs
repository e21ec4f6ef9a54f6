//! The first sheet of a workbook (xlsx, xlsm, xls, xlsb, ods; read by calamine) as a
//! DataFrame: the first row names the columns; a column is numeric, date, datetime, bool or
//! text by what its non-empty cells hold.

use crate::error::{bad, Result};
use calamine::{open_workbook_auto, Data, DataType as _, Reader};
use polars::prelude::*;
use std::path::Path;

pub fn read(path: &Path, shown: &str) -> Result<DataFrame> {
    let mut book =
        open_workbook_auto(path).map_err(|e| bad(format!("`{shown}` is not a workbook: {e}")))?;
    let range = book
        .worksheet_range_at(0)
        .ok_or_else(|| bad(format!("`{shown}` has no sheet")))?
        .map_err(|e| bad(format!("`{shown}`: {e}")))?;
    let mut rows = range.rows();
    let header: Vec<String> = match rows.next() {
        Some(r) => r
            .iter()
            .enumerate()
            .map(|(i, c)| match c {
                Data::Empty => format!("column_{}", i + 1),
                c => c.to_string(),
            })
            .collect(),
        None => return Err(bad(format!("`{shown}`: the first sheet is empty"))),
    };
    let body: Vec<&[Data]> = rows.collect();
    let columns = header
        .iter()
        .enumerate()
        .map(|(i, name)| column(name, body.iter().map(|r| r.get(i).unwrap_or(&Data::Empty))))
        .collect::<Result<Vec<Column>>>()?;
    Ok(DataFrame::new(body.len(), columns)?)
}

fn column<'a>(name: &str, cells: impl Iterator<Item = &'a Data> + Clone) -> Result<Column> {
    let present = || cells.clone().filter(|c| !matches!(c, Data::Empty));
    let name: PlSmallStr = name.into();
    // xlsx stores every number as a float: whole ones make an integer column.
    let whole = |f: f64| f.fract() == 0.0 && f.abs() < 9.0e15;
    if present().all(|c| matches!(c, Data::Int(_)) || matches!(c, Data::Float(f) if whole(*f))) {
        let v: Vec<Option<i64>> = cells
            .map(|c| match c {
                Data::Int(i) => Some(*i),
                Data::Float(f) => Some(*f as i64),
                _ => None,
            })
            .collect();
        return Ok(Column::new(name, v));
    }
    if present().all(|c| matches!(c, Data::Int(_) | Data::Float(_))) {
        let v: Vec<Option<f64>> = cells
            .map(|c| match c {
                Data::Int(i) => Some(*i as f64),
                Data::Float(f) => Some(*f),
                _ => None,
            })
            .collect();
        return Ok(Column::new(name, v));
    }
    if present().all(|c| matches!(c, Data::Bool(_))) {
        let v: Vec<Option<bool>> = cells
            .map(|c| match c {
                Data::Bool(b) => Some(*b),
                _ => None,
            })
            .collect();
        return Ok(Column::new(name, v));
    }
    if present().all(|c| c.is_datetime() || matches!(c, Data::DateTimeIso(_))) {
        let stamps: Vec<Option<chrono::NaiveDateTime>> = cells.map(|c| c.as_datetime()).collect();
        let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
        if stamps
            .iter()
            .flatten()
            .all(|t| t.time() == chrono::NaiveTime::MIN)
        {
            let days: Vec<Option<i32>> = stamps
                .iter()
                .map(|t| t.map(|t| (t.date() - epoch).num_days() as i32))
                .collect();
            return Ok(Column::new(name, days).cast(&DataType::Date)?);
        }
        let ms: Vec<Option<i64>> = stamps
            .iter()
            .map(|t| t.map(|t| t.and_utc().timestamp_millis()))
            .collect();
        return Ok(Column::new(name, ms).cast(&DataType::Datetime(TimeUnit::Milliseconds, None))?);
    }
    let v: Vec<Option<String>> = cells
        .map(|c| match c {
            Data::Empty => None,
            c => Some(c.to_string()),
        })
        .collect();
    Ok(Column::new(name, v))
}
