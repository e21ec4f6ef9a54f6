//! Serving a workspace file: strong ETag (sha256), conditional GET, single byte ranges.

use crate::artifacts::{self, mime_for};
use crate::error::{ApiError, ApiResult};
use crate::paths::{self, RelPath};
use crate::sessions::Session;
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;

/// A parsed `Range: bytes=...` header against a file of `len` bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum ByteRange {
    Full,
    Part { start: u64, end: u64 },
    Unsatisfiable,
}

/// Parses one range; multi-range and malformed headers get the whole file (RFC 9110 allows it).
pub fn parse_range(header: Option<&str>, len: u64) -> ByteRange {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return ByteRange::Full;
    };
    if spec.contains(',') {
        return ByteRange::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return ByteRange::Full;
    };
    let (start, end) = match (a.trim(), b.trim()) {
        ("", "") => return ByteRange::Full,
        ("", suffix) => match suffix.parse::<u64>() {
            Ok(0) => return ByteRange::Unsatisfiable,
            Ok(n) => (len.saturating_sub(n), len.saturating_sub(1)),
            Err(_) => return ByteRange::Full,
        },
        (s, "") => match s.parse::<u64>() {
            Ok(s) => (s, len.saturating_sub(1)),
            Err(_) => return ByteRange::Full,
        },
        (s, e) => match (s.parse::<u64>(), e.parse::<u64>()) {
            (Ok(s), Ok(e)) if s <= e => (s, e.min(len.saturating_sub(1))),
            _ => return ByteRange::Full,
        },
    };
    if len == 0 || start >= len {
        return ByteRange::Unsatisfiable;
    }
    ByteRange::Part { start, end }
}

fn etag_matches(header: Option<&str>, etag: &str) -> bool {
    header.is_some_and(|h| {
        h.split(',').any(|t| {
            let t = t.trim();
            t == "*" || t == etag || t.strip_prefix("W/") == Some(etag)
        })
    })
}

/// Streams `rel` from the session's workspace.
pub async fn serve(
    session: Arc<Session>,
    rel: RelPath,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    session.touch();
    let ws = session.workspace.clone();
    let owner = session.uid;
    let s = session.clone();
    let path = rel.as_string();
    let (file, meta, sha) = tokio::task::spawn_blocking(move || -> ApiResult<_> {
        let opened = paths::open_read(&ws, &rel, owner)?;
        let m = &opened.meta;
        let key = (
            m.len(),
            m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128,
            m.ino(),
        );
        let mut file = opened.file;
        let sha = match s.cached_hash(&rel.as_string(), key) {
            Some(h) => h,
            None => {
                let h = crate::os::idle::run(|| artifacts::sha256_hex(&mut file))?;
                file.seek(SeekFrom::Start(0))?;
                s.store_hash(&rel.as_string(), key, h.clone());
                h
            }
        };
        Ok((file, opened.meta, sha))
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;

    let len = meta.len();
    let etag = format!("\"{sha}\"");
    let header_str = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let mut builder = Response::builder()
        .header(header::ETAG, &etag)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::CACHE_CONTROL, "no-cache");
    if let Ok(modified) = meta.modified() {
        builder = builder.header(header::LAST_MODIFIED, httpdate::fmt_http_date(modified));
    }
    if etag_matches(header_str(header::IF_NONE_MATCH), &etag) {
        return builder
            .status(StatusCode::NOT_MODIFIED)
            .body(Body::empty())
            .map_err(|e| ApiError::Internal(e.to_string()));
    }
    let range_header = match header_str(header::IF_RANGE) {
        Some(tag) if tag.trim() != etag => None,
        _ => header_str(header::RANGE),
    };
    let (status, start, count) = match parse_range(range_header, len) {
        ByteRange::Full => (StatusCode::OK, 0, len),
        ByteRange::Part { start, end } => {
            builder = builder.header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{len}"));
            (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
        }
        ByteRange::Unsatisfiable => return Err(ApiError::RangeNotSatisfiable(len)),
    };
    let body = file_body(file, start, count);
    builder
        .status(status)
        .header(header::CONTENT_TYPE, mime_for(&path))
        .header(header::CONTENT_LENGTH, count)
        .body(body)
        .map_err(|e| ApiError::Internal(e.to_string()))
        .map(IntoResponse::into_response)
}

/// The file's bytes `[start, start+count)`, read in chunks on blocking threads.
fn file_body(mut file: std::fs::File, start: u64, count: u64) -> Body {
    const CHUNK: u64 = 256 << 10;
    if file.seek(SeekFrom::Start(start)).is_err() {
        return Body::empty();
    }
    let stream = futures_util::stream::unfold((Some(file), count), |(file, left)| async move {
        let mut file = file?;
        if left == 0 {
            return None;
        }
        let want = left.min(CHUNK) as usize;
        let (file, read) = tokio::task::spawn_blocking(move || {
            let mut buf = vec![0u8; want];
            let r = file.read(&mut buf).map(|n| {
                buf.truncate(n);
                buf
            });
            (file, r)
        })
        .await
        .ok()?;
        match read {
            Ok(buf) if !buf.is_empty() => {
                let n = buf.len() as u64;
                Some((Ok(axum::body::Bytes::from(buf)), (Some(file), left - n)))
            }
            Ok(_) => None,
            Err(e) => Some((Err::<axum::body::Bytes, std::io::Error>(e), (None, 0))),
        }
    });
    Body::from_stream(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 10), ByteRange::Full);
        assert_eq!(
            parse_range(Some("bytes=0-3"), 10),
            ByteRange::Part { start: 0, end: 3 }
        );
        assert_eq!(
            parse_range(Some("bytes=5-"), 10),
            ByteRange::Part { start: 5, end: 9 }
        );
        assert_eq!(
            parse_range(Some("bytes=-4"), 10),
            ByteRange::Part { start: 6, end: 9 }
        );
        assert_eq!(
            parse_range(Some("bytes=8-100"), 10),
            ByteRange::Part { start: 8, end: 9 }
        );
        assert_eq!(parse_range(Some("bytes=10-"), 10), ByteRange::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-1,3-4"), 10), ByteRange::Full);
        assert_eq!(parse_range(Some("items=0-1"), 10), ByteRange::Full);
        assert_eq!(parse_range(Some("bytes=4-2"), 10), ByteRange::Full);
    }

    #[test]
    fn etags() {
        assert!(etag_matches(Some("\"abc\""), "\"abc\""));
        assert!(etag_matches(Some("W/\"abc\", \"x\""), "\"abc\""));
        assert!(etag_matches(Some("*"), "\"abc\""));
        assert!(!etag_matches(Some("\"abd\""), "\"abc\""));
        assert!(!etag_matches(None, "\"abc\""));
    }
}
