//! Moving files between the object store and a session's workspace: streamed both ways (a
//! 1 GiB file never sits in memory), hashed on the way, each object tried `tries` times with
//! back-off. Workspace files are opened and created through `paths` (never through a link,
//! only the session's own files), so a transfer cannot read or write outside the workspace.

use super::{ObjectStorage, StoreError, StoreResult};
use crate::paths::{self, NewFile, RelPath};
use bytes::Bytes;
use futures_util::StreamExt;
use object_store::buffered::BufWriter;
use object_store::{Attribute, Attributes, ObjectStoreExt, PutOptions, PutPayload};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Multipart uploads above this size, in parts of this size (S3's minimum part is 5 MiB).
const PART_BYTES: usize = 8 << 20;
/// Parts of one object in flight at once: with `concurrency` objects, the memory a transfer
/// holds is at most about `concurrency × (PART_CONCURRENCY + 1) × PART_BYTES`.
const PART_CONCURRENCY: usize = 2;
/// Reads and writes in the workspace go in chunks of this size.
const CHUNK_BYTES: usize = 1 << 20;

/// One object moved, as manifests list it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Moved {
    pub key: String,
    /// The workspace path it came from or went to.
    pub path: String,
    pub size: u64,
    pub sha256: String,
    pub content_type: String,
}

/// What a batch moved, and what it could not (each failure names its key or path).
#[derive(Debug, Default)]
pub struct Batch {
    pub moved: Vec<Moved>,
    pub failed: Vec<StoreError>,
}

/// A workspace file to store: its path, its key, its content type.
pub struct Outgoing {
    pub rel: RelPath,
    pub key: String,
    pub content_type: String,
}

/// An object found under a prefix.
#[derive(Debug, Clone)]
pub struct Listed {
    pub key: String,
    pub size: u64,
}

impl ObjectStorage {
    /// Every object under `prefix` (a directory-like prefix; all pages), sorted by key.
    pub async fn list(&self, bucket: &str, prefix: &str) -> StoreResult<Vec<Listed>> {
        let loc = self.location(bucket, prefix)?;
        self.with_tries("list", prefix, || async {
            let mut out = Vec::new();
            let mut pages = self.store.list(Some(&loc));
            while let Some(meta) = pages.next().await {
                let meta = meta.map_err(|e| store_fail(prefix, e))?;
                out.push(Listed {
                    key: self.key_of(&meta.location),
                    size: meta.size,
                });
            }
            out.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(out)
        })
        .await
    }

    /// Stores `data` at `key`.
    pub async fn put_bytes(
        &self,
        bucket: &str,
        key: &str,
        data: Bytes,
        content_type: &str,
    ) -> StoreResult<Moved> {
        let loc = self.location(bucket, key)?;
        let size = data.len() as u64;
        let sha256 = hex::encode(Sha256::digest(&data));
        self.with_tries("put", key, || async {
            let opts = PutOptions {
                attributes: self.attributes(content_type),
                ..Default::default()
            };
            self.store
                .put_opts(&loc, PutPayload::from_bytes(data.clone()), opts)
                .await
                .map_err(|e| fail(key, e))
        })
        .await?;
        self.count_bytes("up", size);
        Ok(Moved {
            key: key.into(),
            path: String::new(),
            size,
            sha256,
            content_type: content_type.into(),
        })
    }

    /// Streams the workspace file `rel` to `key`. With `owner` set, a file that is not the
    /// session's own (a hard link to another's) is refused.
    pub async fn put_file(
        &self,
        bucket: &str,
        key: &str,
        workspace: &Path,
        rel: &RelPath,
        owner: Option<u32>,
        content_type: &str,
    ) -> StoreResult<Moved> {
        let loc = self.location(bucket, key)?;
        let moved = self
            .with_tries("put", key, || async {
                let (ws, r) = (workspace.to_path_buf(), rel.clone());
                let opened = tokio::task::spawn_blocking(move || paths::open_read(&ws, &r, owner))
                    .await
                    .map_err(|e| fail(key, e))??;
                let mut file = tokio::fs::File::from_std(opened.file);
                let mut w = BufWriter::with_capacity(self.store.clone(), loc.clone(), PART_BYTES)
                    .with_max_concurrency(PART_CONCURRENCY)
                    .with_attributes(self.attributes(content_type));
                let mut hash = Sha256::new();
                let mut size = 0u64;
                let mut buf = vec![0u8; CHUNK_BYTES];
                let copied: Result<(), std::io::Error> = async {
                    loop {
                        let n = file.read(&mut buf).await?;
                        if n == 0 {
                            break;
                        }
                        hash.update(&buf[..n]);
                        size += n as u64;
                        w.write_all(&buf[..n]).await?;
                    }
                    Ok(())
                }
                .await;
                if let Err(e) = copied {
                    // Before shutdown: abort the multipart upload (if one started).
                    let _ = w.abort().await;
                    return Err(fail(key, e));
                }
                // A failed shutdown leaves nothing to abort through the writer (an unfinished
                // multipart upload is the bucket's lifecycle rule's to clear).
                w.shutdown().await.map_err(|e| fail(key, e))?;
                Ok(Moved {
                    key: key.into(),
                    path: rel.as_string(),
                    size,
                    sha256: hex::encode(hash.finalize()),
                    content_type: content_type.into(),
                })
            })
            .await?;
        self.count_bytes("up", moved.size);
        Ok(moved)
    }

    /// Streams `key` into the workspace file `rel` (created owned by `owner`, replacing what was
    /// there only once the whole object arrived).
    pub async fn get_file(
        &self,
        bucket: &str,
        key: &str,
        workspace: &Path,
        rel: &RelPath,
        owner: Option<u32>,
    ) -> StoreResult<Moved> {
        let loc = self.location(bucket, key)?;
        let moved = self
            .with_tries("get", key, || async {
                let got = self.store.get(&loc).await.map_err(|e| store_fail(key, e))?;
                let content_type = got
                    .attributes
                    .get(&Attribute::ContentType)
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| crate::artifacts::mime_for(key).to_string());
                let mut stream = got.into_stream();
                let (ws, r) = (workspace.to_path_buf(), rel.clone());
                let mut file = tokio::task::spawn_blocking(move || NewFile::create(&ws, &r, owner))
                    .await
                    .map_err(|e| fail(key, e))??;
                let mut hash = Sha256::new();
                let mut size = 0u64;
                let mut pending: Vec<u8> = Vec::with_capacity(CHUNK_BYTES);
                loop {
                    let chunk = stream.next().await.transpose().map_err(|e| fail(key, e))?;
                    let end = chunk.is_none();
                    if let Some(c) = chunk {
                        hash.update(&c);
                        size += c.len() as u64;
                        pending.extend_from_slice(&c);
                    }
                    if pending.len() >= CHUNK_BYTES || (end && !pending.is_empty()) {
                        let data = std::mem::take(&mut pending);
                        let r = rel.clone();
                        let (back, written) = tokio::task::spawn_blocking(move || {
                            use std::io::Write;
                            let res = file.file.write_all(&data);
                            (file, res.map(|()| data))
                        })
                        .await
                        .map_err(|e| fail(key, e))?;
                        file = back;
                        let mut data = written.map_err(|e| {
                            StoreError::Path(paths::PathError::Io(format!(
                                "{}: {e}",
                                r.as_string()
                            )))
                        })?;
                        data.clear();
                        pending = data;
                    }
                    if end {
                        break;
                    }
                }
                tokio::task::spawn_blocking(move || file.commit())
                    .await
                    .map_err(|e| fail(key, e))??;
                Ok(Moved {
                    key: key.into(),
                    path: rel.as_string(),
                    size,
                    sha256: hex::encode(hash.finalize()),
                    content_type,
                })
            })
            .await?;
        self.count_bytes("down", moved.size);
        Ok(moved)
    }

    /// Stores every file of `items` (`concurrency` at a time); the manifest keeps their order.
    pub async fn put_files(
        &self,
        bucket: &str,
        workspace: &Path,
        owner: Option<u32>,
        items: Vec<Outgoing>,
    ) -> Batch {
        self.each(items, |o| async move {
            self.put_file(bucket, &o.key, workspace, &o.rel, owner, &o.content_type)
                .await
        })
        .await
    }

    /// Fetches every `(key, path)` of `items` into the workspace (`concurrency` at a time).
    pub async fn get_files(
        &self,
        bucket: &str,
        workspace: &Path,
        owner: Option<u32>,
        items: Vec<(String, RelPath)>,
    ) -> Batch {
        self.each(items, |(key, rel)| async move {
            self.get_file(bucket, &key, workspace, &rel, owner).await
        })
        .await
    }

    /// Fetches every object under `prefix` into `to` (the workspace root when `None`) as
    /// `<to>/<key minus prefix>` (NFC-normalised; directory markers skipped), within `quota`.
    /// A key that is not a workspace path goes to `bad`: `Ok` skips it, `Err` fails the whole.
    #[allow(clippy::too_many_arguments)]
    pub async fn get_prefix(
        &self,
        bucket: &str,
        prefix: &str,
        workspace: &Path,
        owner: Option<u32>,
        to: Option<&RelPath>,
        quota: Option<paths::Quota>,
        bad: impl Fn(&str, paths::PathError) -> StoreResult<()>,
    ) -> StoreResult<Batch> {
        let base = super::keys::parse_key(prefix)?.to_string();
        let mut items = Vec::new();
        let mut needed = 0;
        for obj in self.list(bucket, prefix).await? {
            let rest = obj.key.strip_prefix(&base).unwrap_or(&obj.key);
            let rest = rest.trim_start_matches('/');
            if rest.is_empty() || rest.ends_with('/') {
                continue; // a "directory" marker
            }
            // RelPath normalises to NFC (macOS clients upload NFD names).
            let rel = match RelPath::parse(rest) {
                Ok(r) => r,
                Err(e) => {
                    bad(&obj.key, e)?;
                    continue;
                }
            };
            needed += obj.size;
            items.push((obj.key, to.map_or(rel.clone(), |d| d.join(&rel))));
        }
        ensure_room(quota, workspace, needed).await?;
        Ok(self.get_files(bucket, workspace, owner, items).await)
    }

    /// Runs `one` on every item, `concurrency` at a time, and collects the batch in item order.
    async fn each<T, F, Fut>(&self, items: Vec<T>, one: F) -> Batch
    where
        F: Fn(T) -> Fut,
        Fut: std::future::Future<Output = StoreResult<Moved>>,
    {
        let one = &one;
        let results = futures_util::stream::iter(items.into_iter().enumerate())
            .map(|(i, item)| async move { (i, one(item).await) })
            .buffer_unordered(self.concurrency)
            .collect::<Vec<_>>()
            .await;
        Batch::from(results)
    }

    fn count_bytes(&self, direction: &'static str, n: u64) {
        self.metrics
            .store_bytes
            .get_or_create(&crate::metrics::DirectionLabel { direction })
            .inc_by(n);
    }

    fn attributes(&self, content_type: &str) -> Attributes {
        let mut a = Attributes::new();
        if self.keeps_content_type() {
            a.insert(Attribute::ContentType, content_type.to_string().into());
        }
        a
    }

    /// Runs `attempt` up to `tries` times while the store fails (0.25 s, 0.5 s, 1 s … between
    /// tries); a workspace or key error is final at once.
    async fn with_tries<T, F, Fut>(&self, op: &'static str, key: &str, attempt: F) -> StoreResult<T>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = StoreResult<T>>,
    {
        let mut delay = Duration::from_millis(250);
        for n in 1.. {
            match attempt().await {
                Err(e @ StoreError::Transfer { .. }) if n < self.tries => {
                    self.metrics.store_op(op, "retried");
                    tracing::warn!(key = %key, try_ = n, error = %e, "object store try failed; trying again");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(4));
                }
                other => {
                    self.metrics
                        .store_op(op, if other.is_ok() { "ok" } else { "error" });
                    return other;
                }
            }
        }
        unreachable!("the loop returns")
    }
}

/// Fails when `needed` more bytes would take the workspace past its quota.
pub async fn ensure_room(
    quota: Option<paths::Quota>,
    workspace: &Path,
    needed: u64,
) -> StoreResult<()> {
    let Some(quota) = quota else {
        return Ok(());
    };
    let w = workspace.to_path_buf();
    let over = tokio::task::spawn_blocking(move || quota.exceeded(&w, needed))
        .await
        .unwrap_or(true);
    if over {
        return Err(StoreError::Quota {
            needed,
            quota_mb: quota.bytes >> 20,
        });
    }
    Ok(())
}

impl From<Vec<(usize, StoreResult<Moved>)>> for Batch {
    fn from(mut results: Vec<(usize, StoreResult<Moved>)>) -> Batch {
        results.sort_by_key(|(i, _)| *i);
        let mut batch = Batch::default();
        for (_, r) in results {
            match r {
                Ok(m) => batch.moved.push(m),
                Err(e) => batch.failed.push(e),
            }
        }
        batch
    }
}

/// A store error: a missing object is final, anything else may be tried again.
fn store_fail(key: &str, e: object_store::Error) -> StoreError {
    match e {
        object_store::Error::NotFound { .. } => StoreError::Missing(key.into()),
        // A key with `..` or an empty part under the prefix: never a path we write (the
        // reference would have written outside its directory); say which, do not retry.
        e @ object_store::Error::InvalidPath { .. } => StoreError::BadKey(format!(
            "under `{key}`: {e}; rename that object or sync a narrower prefix"
        )),
        e => fail(key, e),
    }
}

fn fail(key: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Transfer {
        key: key.into(),
        message: e.to_string(),
    }
}
