//! Bucket names and object keys that come from the network, checked before they reach the
//! store (a key with `..` must never name a file outside the local store's directory).

use super::error::{StoreError, StoreResult};
use object_store::path::Path as ObjPath;

/// S3's bucket naming rules: 3–63 of `a-z 0-9 . -`, starting and ending with a letter or digit.
pub fn check_bucket(name: &str) -> StoreResult<()> {
    let ok = (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric()
        && !name.contains("..");
    if ok {
        Ok(())
    } else {
        Err(StoreError::BadKey(format!(
            "invalid bucket name `{}`",
            name.escape_debug()
        )))
    }
}

/// A key or prefix: `/`-separated, surrounding slashes ignored, no empty, `.` or `..` part.
/// The empty string is the bucket's root.
pub fn parse_key(raw: &str) -> StoreResult<ObjPath> {
    let trimmed = raw.trim_matches('/');
    if raw.len() > 1024 || raw.contains('\0') {
        return Err(StoreError::BadKey(format!(
            "invalid key `{}`: too long or has NUL",
            raw.escape_debug()
        )));
    }
    ObjPath::parse(trimmed)
        .map_err(|e| StoreError::BadKey(format!("invalid key `{}`: {e}", raw.escape_debug())))
}

/// `prefix/rel` as a key (`rel` alone under an empty prefix).
pub fn join(prefix: &str, rel: &str) -> String {
    let p = prefix.trim_matches('/');
    if p.is_empty() {
        rel.to_string()
    } else {
        format!("{p}/{rel}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets() {
        for ok in ["abc", "my-bucket.v2", "local", "a1b"] {
            check_bucket(ok).unwrap();
        }
        for bad in ["ab", "Upper", "-x-", "a..b", "a/b", "x_y", &"a".repeat(64)] {
            assert!(check_bucket(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys() {
        assert_eq!(parse_key("/a/b/").unwrap().as_ref(), "a/b");
        assert_eq!(parse_key("").unwrap().as_ref(), "");
        assert_eq!(
            parse_key("입력/데이터.csv").unwrap().as_ref(),
            "입력/데이터.csv"
        );
        for bad in ["a/../b", "a//b", "..", "a/./b", "a\0b"] {
            assert!(parse_key(bad).is_err(), "{bad}");
        }
        assert_eq!(join("p/", "x.csv"), "p/x.csv");
        assert_eq!(join("", "x.csv"), "x.csv");
    }
}
