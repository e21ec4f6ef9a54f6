//! Dates in text files (CSV, JSON): a string column every non-null value of which is an ISO-style
//! date (`2024-01-31`, `2024/01/31`, `2024.01.31`) becomes a `date` column; one of date-times
//! (`2024-01-31 13:45[:07[.123]]`, `T` as the separator too) a `datetime` (ms) column.
//!
//! Why not polars' `try_parse_dates`: during schema inference it tries every pattern it knows,
//! with the format string re-parsed per attempt, on every string field of the inferred rows —
//! it was two thirds of profiling the 2,726-row seed (35 of 50 ms). Here the format is picked
//! once per column from its first value (a column of Korean words is dismissed by its first
//! byte), parsed once into chrono items, and a value that does not fit leaves the column a
//! string: never a date guessed, never a value turned into a null.

use crate::error::Result;
use chrono::format::{parse, Item, Parsed, StrftimeItems};
use polars::prelude::*;

const DATE_FORMATS: [&str; 3] = ["%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d"];
const DATETIME_FORMATS: [&str; 4] = [
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
];

/// Every string column of `df` that holds only dates (or date-times) converted.
pub fn recognise(mut df: DataFrame) -> Result<DataFrame> {
    let names: Vec<PlSmallStr> = df
        .columns()
        .iter()
        .filter(|c| c.dtype() == &DataType::String)
        .map(|c| c.name().clone())
        .collect();
    for name in names {
        let converted = {
            let strings = df.column(&name)?.str()?;
            convert(strings)?
        };
        if let Some(c) = converted {
            df.with_column(c.with_name(name))?;
        }
    }
    Ok(df)
}

fn convert(strings: &StringChunked) -> Result<Option<Column>> {
    let Some(first) = strings.iter().flatten().next() else {
        return Ok(None);
    };
    // A date starts with four digits and a separator: anything else is dismissed at once.
    let b = first.as_bytes();
    if b.len() < 8 || !b[..4].iter().all(u8::is_ascii_digit) || !b"-/.".contains(&b[4]) {
        return Ok(None);
    }
    if let Some(items) = fitting(first, &DATE_FORMATS, Parsed::to_naive_date) {
        let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
        let days: Option<Vec<Option<i32>>> = strings
            .iter()
            .map(|v| match v {
                None => Some(None),
                Some(s) => with(&items, s, Parsed::to_naive_date)
                    .map(|d| Some((d - epoch).num_days() as i32)),
            })
            .collect();
        return match days {
            Some(days) => Ok(Some(
                Column::new(PlSmallStr::EMPTY, days).cast(&DataType::Date)?,
            )),
            None => Ok(None),
        };
    }
    if let Some(items) = fitting(first, &DATETIME_FORMATS, datetime) {
        let ms: Option<Vec<Option<i64>>> = strings
            .iter()
            .map(|v| match v {
                None => Some(None),
                Some(s) => with(&items, s, datetime).map(|t| Some(t.and_utc().timestamp_millis())),
            })
            .collect();
        return match ms {
            Some(ms) => Ok(Some(
                Column::new(PlSmallStr::EMPTY, ms)
                    .cast(&DataType::Datetime(TimeUnit::Milliseconds, None))?,
            )),
            None => Ok(None),
        };
    }
    Ok(None)
}

fn datetime(p: &Parsed) -> chrono::ParseResult<chrono::NaiveDateTime> {
    p.to_naive_datetime_with_offset(0)
}

/// The first of `formats` that reads `value` whole, as pre-parsed items.
fn fitting<T>(
    value: &str,
    formats: &[&'static str],
    finish: fn(&Parsed) -> chrono::ParseResult<T>,
) -> Option<Vec<Item<'static>>> {
    formats
        .iter()
        .map(|f| StrftimeItems::new(f).collect::<Vec<_>>())
        .find(|items| with(items, value, finish).is_some())
}

fn with<T>(
    items: &[Item<'static>],
    value: &str,
    finish: fn(&Parsed) -> chrono::ParseResult<T>,
) -> Option<T> {
    let mut p = Parsed::new();
    parse(&mut p, value, items.iter()).ok()?;
    finish(&p).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(values: &[Option<&str>]) -> DataFrame {
        DataFrame::new(values.len(), vec![Column::new("c".into(), values.to_vec())]).unwrap()
    }

    fn dtype(values: &[Option<&str>]) -> DataType {
        recognise(frame(values)).unwrap().columns()[0]
            .dtype()
            .clone()
    }

    #[test]
    fn only_columns_of_dates_become_dates() {
        assert_eq!(
            dtype(&[Some("2024-01-31"), None, Some("2024-02-29")]),
            DataType::Date
        );
        assert_eq!(dtype(&[Some("2024/01/31")]), DataType::Date);
        assert_eq!(
            dtype(&[Some("2024-01-31 13:45:07.250"), Some("2024-02-01 00:00:00")]),
            DataType::Datetime(TimeUnit::Milliseconds, None)
        );
        assert_eq!(
            dtype(&[Some("2024-01-31T13:45")]),
            DataType::Datetime(TimeUnit::Milliseconds, None)
        );
        // one value that is not a date (or an impossible one) leaves the column text
        assert_eq!(dtype(&[Some("2024-01-31"), Some("soon")]), DataType::String);
        assert_eq!(dtype(&[Some("2024-02-30")]), DataType::String);
        assert_eq!(dtype(&[Some("과일"), Some("2024-01-31")]), DataType::String);
        assert_eq!(dtype(&[Some("20240131")]), DataType::String);
        assert_eq!(dtype(&[None]), DataType::String);
        let days = recognise(frame(&[Some("1970-01-02")])).unwrap();
        assert_eq!(days.columns()[0].get(0).unwrap(), AnyValue::Date(1));
    }
}
