//! A data file into a DataFrame: the type from the extension (content for `.txt`), the text
//! encoding (UTF-8, UTF-8 with BOM, CP949/EUC-KR — Korean Excel's CSV export) and the CSV
//! delimiter sniffed, dates recognised.

use crate::error::{bad, AnalyticsError, Result};
use polars::prelude::*;
use std::io::Cursor;
use std::path::Path;

pub struct Loaded {
    pub df: DataFrame,
    pub file_type: &'static str,
    pub encoding: Option<&'static str>,
    pub delimiter: Option<char>,
}

/// Rows read to infer a CSV column's type.
const INFER_ROWS: usize = 10_000;
/// Bytes read to tell the encoding and the delimiter.
const SAMPLE: usize = 64 * 1024;

pub fn load(path: &Path, shown: &str) -> Result<Loaded> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let read = |p: &Path| {
        std::fs::read(p).map_err(|e| AnalyticsError::BadRequest(format!("reading `{shown}`: {e}")))
    };
    let context = |e: PolarsError| bad(format!("`{shown}` could not be read as {ext}: {e}"));
    match ext.as_str() {
        "parquet" | "pq" => {
            let file =
                std::fs::File::open(path).map_err(|e| bad(format!("reading `{shown}`: {e}")))?;
            let df = ParquetReader::new(file).finish().map_err(context)?;
            Ok(Loaded {
                df,
                file_type: "parquet",
                encoding: None,
                delimiter: None,
            })
        }
        "json" | "ndjson" | "jsonl" => {
            let (text, encoding) = decode(read(path)?, shown)?;
            // `.json` holding records one per line is NDJSON too.
            let lines = ext != "json"
                || text
                    .iter()
                    .find(|b| !b.is_ascii_whitespace())
                    .is_none_or(|b| *b != b'[');
            let format = if lines {
                JsonFormat::JsonLines
            } else {
                JsonFormat::Json
            };
            let df = JsonReader::new(Cursor::new(text))
                .with_json_format(format)
                .finish()
                .map_err(context)?;
            Ok(Loaded {
                df: crate::dates::recognise(df)?,
                file_type: if lines { "ndjson" } else { "json" },
                encoding: Some(encoding),
                delimiter: None,
            })
        }
        "xlsx" | "xlsm" | "xls" | "xlsb" | "ods" => Ok(Loaded {
            df: crate::xlsx::read(path, shown)?,
            file_type: "xlsx",
            encoding: None,
            delimiter: None,
        }),
        _ => csv(path, shown, ext == "tsv"),
    }
}

/// A UTF-8 file is handed to polars as a file (memory-mapped, never copied); a CP949 one is
/// transcoded in memory first.
fn csv(path: &Path, shown: &str, tabs: bool) -> Result<Loaded> {
    use std::io::Read;
    let io = |e: std::io::Error| bad(format!("reading `{shown}`: {e}"));
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut sample = Vec::with_capacity(SAMPLE);
    (&mut file)
        .take(SAMPLE as u64)
        .read_to_end(&mut sample)
        .map_err(io)?;
    let bom = sample.starts_with(&[0xEF, 0xBB, 0xBF]);
    let utf8 = match std::str::from_utf8(&sample) {
        Ok(_) => true,
        // Cut inside a character at the end of the sample.
        Err(e) => e.error_len().is_none(),
    };
    let options = |delimiter: u8| {
        CsvReadOptions::default()
            .with_has_header(true)
            .with_infer_schema_length(Some(INFER_ROWS))
            .map_parse_options(move |o| o.with_separator(delimiter))
    };
    let malformed = |e: PolarsError| bad(format!("`{shown}` is not a well-formed CSV: {e}"));
    let (df, encoding, delimiter) = if utf8 {
        let body = if bom { &sample[3..] } else { &sample[..] };
        let delimiter = if tabs { b'\t' } else { sniff_delimiter(body) };
        let file = std::fs::File::open(path).map_err(io)?;
        let df = options(delimiter)
            .into_reader_with_file_handle(file)
            .finish()
            .map_err(malformed)?;
        (df, if bom { "utf-8-bom" } else { "utf-8" }, delimiter)
    } else {
        let mut all = sample;
        file.read_to_end(&mut all).map_err(io)?;
        let (text, encoding) = decode(all, shown)?;
        let delimiter = if tabs { b'\t' } else { sniff_delimiter(&text) };
        let df = options(delimiter)
            .into_reader_with_file_handle(Cursor::new(text))
            .finish()
            .map_err(malformed)?;
        (df, encoding, delimiter)
    };
    Ok(Loaded {
        df: crate::dates::recognise(df)?,
        file_type: "csv",
        encoding: Some(encoding),
        delimiter: Some(delimiter as char),
    })
}

/// UTF-8 (with or without BOM) as is; otherwise CP949 (a superset of EUC-KR) transcoded to
/// UTF-8; anything that is neither is refused rather than read with replacement characters.
pub fn decode(mut bytes: Vec<u8>, shown: &str) -> Result<(Vec<u8>, &'static str)> {
    if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        bytes.drain(..3);
        return match std::str::from_utf8(&bytes) {
            Ok(_) => Ok((bytes, "utf-8-bom")),
            Err(e) => Err(bad(format!(
                "`{shown}` starts with a UTF-8 BOM but is not UTF-8: {e}"
            ))),
        };
    }
    if std::str::from_utf8(&bytes).is_ok() {
        return Ok((bytes, "utf-8"));
    }
    // encoding_rs' EUC_KR is the WHATWG "euc-kr", i.e. Windows code page 949.
    let (text, _, errors) = encoding_rs::EUC_KR.decode(&bytes);
    if errors {
        return Err(bad(format!(
            "`{shown}` is neither UTF-8 nor CP949/EUC-KR text"
        )));
    }
    Ok((text.into_owned().into_bytes(), "cp949"))
}

/// The delimiter among `, ; TAB |` that splits the first lines (outside quotes) into the same
/// number of fields, the most fields winning; `,` when none does.
pub fn sniff_delimiter(text: &[u8]) -> u8 {
    let sample = &text[..text.len().min(64 * 1024)];
    let lines: Vec<&[u8]> = sample
        .split(|b| *b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .take(20)
        .collect();
    // The last line of the sample may be cut short.
    let lines = if lines.len() > 2 && sample.len() < text.len() {
        &lines[..lines.len() - 1]
    } else {
        &lines[..]
    };
    let count = |line: &[u8], d: u8| {
        let mut quoted = false;
        line.iter()
            .filter(|b| {
                if **b == b'"' {
                    quoted = !quoted;
                }
                !quoted && **b == d
            })
            .count()
    };
    let mut best = (0usize, b',');
    for d in [b',', b'\t', b';', b'|'] {
        let Some(first) = lines.first().map(|l| count(l, d)) else {
            continue;
        };
        if first > 0 && lines.iter().all(|l| count(l, d) == first) && first > best.0 {
            best = (first, d);
        }
    }
    best.1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimiters_are_sniffed() {
        assert_eq!(sniff_delimiter(b"a,b,c\n1,2,3\n"), b',');
        assert_eq!(sniff_delimiter(b"a;b;c\n1;2,5;3\n"), b';');
        assert_eq!(sniff_delimiter(b"a\tb\n1\t2\n"), b'\t');
        assert_eq!(sniff_delimiter(b"a|b\n\"x|y\"|2\n"), b'|');
        assert_eq!(sniff_delimiter(b"single\n1\n"), b',');
    }

    #[test]
    fn parquet_and_json_files_load() {
        let d = tempfile::tempdir().unwrap();
        let mut df =
            df!("카테고리" => ["과일", "채소", "과일"], "금액" => [1000i64, 2500, 500]).unwrap();
        let pq = d.path().join("s.parquet");
        ParquetWriter::new(std::fs::File::create(&pq).unwrap())
            .finish(&mut df)
            .unwrap();
        let loaded = load(&pq, "s.parquet").unwrap();
        assert_eq!((loaded.file_type, loaded.df.height()), ("parquet", 3));
        assert_eq!(
            loaded.df.column("금액").unwrap().i64().unwrap().sum(),
            Some(4000)
        );
        let nd = d.path().join("s.json");
        std::fs::write(&nd, "{\"a\": 1}\n{\"a\": 2}\n").unwrap();
        let loaded = load(&nd, "s.json").unwrap();
        assert_eq!((loaded.file_type, loaded.df.height()), ("ndjson", 2));
        let arr = d.path().join("t.json");
        std::fs::write(&arr, " [{\"a\": 1}, {\"a\": 2}, {\"a\": 3}]").unwrap();
        let loaded = load(&arr, "t.json").unwrap();
        assert_eq!((loaded.file_type, loaded.df.height()), ("json", 3));
    }

    #[test]
    fn encodings_are_detected() {
        let (t, e) = decode("날짜,금액\n".as_bytes().to_vec(), "x").unwrap();
        assert_eq!(
            (std::str::from_utf8(&t).unwrap(), e),
            ("날짜,금액\n", "utf-8")
        );
        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend_from_slice("날짜\n".as_bytes());
        let (t, e) = decode(bom, "x").unwrap();
        assert_eq!(
            (std::str::from_utf8(&t).unwrap(), e),
            ("날짜\n", "utf-8-bom")
        );
        let (cp949, _, _) = encoding_rs::EUC_KR.encode("날짜,카테고리\n과일,1\n");
        let (t, e) = decode(cp949.into_owned(), "x").unwrap();
        assert_eq!(
            (std::str::from_utf8(&t).unwrap(), e),
            ("날짜,카테고리\n과일,1\n", "cp949")
        );
        assert_eq!(
            decode(vec![0xff, 0xff, 0x00, 0x80], "x")
                .unwrap_err()
                .code(),
            "bad_request"
        );
    }
}
