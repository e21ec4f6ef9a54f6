//! A session's artifacts as one zip, written on a blocking thread while it is sent: the zip
//! writer is synchronous, so its output goes through a bounded channel (at most `DEPTH`
//! chunks of `CHUNK` bytes in memory, whatever the artifacts weigh).

use crate::artifacts::{self, ARTIFACTS_DIR};
use crate::paths::{self, RelPath};
use crate::sessions::Session;
use bytes::Bytes;
use std::io::{self, Write};
use std::sync::Arc;
use tokio::sync::mpsc;
use zip::write::SimpleFileOptions;
use zip::CompressionMethod;

const CHUNK: usize = 256 << 10;
const DEPTH: usize = 8;

/// Starts writing the zip; its bytes arrive on the receiver (an `Err` ends it early).
pub fn artifacts(session: Arc<Session>) -> mpsc::Receiver<io::Result<Bytes>> {
    let (tx, rx) = mpsc::channel(DEPTH);
    tokio::task::spawn_blocking(move || {
        let out = ChannelWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK),
        };
        // Compressing what code chose to write: idle priority (see os::idle).
        if let Err(e) = crate::os::idle::run(|| write_zip(&session, out)) {
            tracing::warn!(session = %session.id, error = %e, "artifacts.zip ended early");
            let _ = tx.blocking_send(Err(io::Error::other(e.to_string())));
        }
    });
    rx
}

fn write_zip(session: &Session, out: ChannelWriter) -> io::Result<()> {
    let mut zip = zip::ZipWriter::new_stream(out);
    for e in artifacts::list(&session.workspace) {
        let Ok(rel) = RelPath::parse(&e.path) else {
            continue;
        };
        // Only the session's own regular files (a hard link to another's is not).
        let Ok(mut opened) = paths::open_read(&session.workspace, &rel, session.uid) else {
            continue;
        };
        let name = e
            .path
            .strip_prefix(&format!("{ARTIFACTS_DIR}/"))
            .unwrap_or(&e.path);
        let method = if already_compressed(name) {
            CompressionMethod::Stored
        } else {
            CompressionMethod::Deflated
        };
        let options = SimpleFileOptions::default()
            .compression_method(method)
            .large_file(opened.meta.len() >= u32::MAX as u64)
            .unix_permissions(0o644);
        zip.start_file(name, options).map_err(io::Error::other)?;
        io::copy(&mut opened.file, &mut zip)?;
    }
    zip.finish().map_err(io::Error::other)?.flush()
}

fn already_compressed(name: &str) -> bool {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    matches!(
        ext.as_deref(),
        Some(
            "png"
                | "jpg"
                | "jpeg"
                | "gif"
                | "webp"
                | "zip"
                | "gz"
                | "xz"
                | "zst"
                | "parquet"
                | "docx"
                | "xlsx"
                | "pdf"
        )
    )
}

/// Sends what is written as chunks; fails once the client is gone.
struct ChannelWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}
