//! Where log lines go: a buffer that a thread of its own writes out in batches. The threads
//! that log (the runtime's, serving requests) only append to memory; nothing they do waits for
//! stdout, so a log collector that stops draining cannot stall a request or `/health`.
//!
//! Hand-written rather than tracing-appender's non-blocking writer: that one hands every line
//! to its writer thread through a channel and wakes the thread for each, and on this kind of
//! host a wake-up of another thread costs tens of µs — measured, it added ~25–75 µs to a
//! `print(1)` at the default log level (two lines per execution). Here the writer thread is
//! woken once per batch: it sleeps until a line arrives, lets [`BATCH`] pass, writes all that
//! came in meanwhile at once.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// How long the writer lets lines gather after the first of a batch.
pub const BATCH: Duration = Duration::from_millis(20);
/// Bytes held for a stalled stdout; lines past it are dropped (and counted) until it drains.
pub const MAX_PENDING: usize = 16 << 20;

#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    dropped: u64,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    pending: Mutex<Pending>,
    arrived: Condvar,
    finished: Mutex<bool>,
    done: Condvar,
}

/// Hands out writers to tracing-subscriber (`MakeWriter`); cheap to clone.
#[derive(Clone)]
pub struct LogWriter {
    shared: Arc<Shared>,
}

/// Stops the writer thread when dropped, after it wrote what is pending (waiting at most
/// `FLUSH_WAIT` for a stdout that does not drain).
pub struct Flush {
    shared: Arc<Shared>,
}

const FLUSH_WAIT: Duration = Duration::from_secs(1);

/// A writer whose lines reach `sink` from a thread of its own.
pub fn batched<W: Write + Send + 'static>(sink: W) -> (LogWriter, Flush) {
    let shared = Arc::new(Shared::default());
    let thread_shared = shared.clone();
    std::thread::Builder::new()
        .name("log-writer".into())
        .spawn(move || write_batches(&thread_shared, sink))
        .expect("spawn the log writer thread");
    (
        LogWriter {
            shared: shared.clone(),
        },
        Flush { shared },
    )
}

fn write_batches<W: Write>(shared: &Shared, mut sink: W) {
    loop {
        let mut pending = shared.pending.lock().unwrap();
        while pending.bytes.is_empty() && !pending.closed {
            pending = shared.arrived.wait(pending).unwrap();
        }
        if !pending.closed {
            // Let the rest of the batch come in.
            drop(pending);
            std::thread::sleep(BATCH);
            pending = shared.pending.lock().unwrap();
        }
        let bytes = std::mem::take(&mut pending.bytes);
        let dropped = std::mem::take(&mut pending.dropped);
        let closed = pending.closed;
        drop(pending);
        // A failed write loses the batch, not the writer.
        let _ = sink.write_all(&bytes);
        if dropped > 0 {
            let _ = writeln!(
                sink,
                r#"{{"level":"WARN","fields":{{"message":"log lines dropped: stdout did not drain","dropped":{dropped}}},"target":"dynamic_executor::log_writer"}}"#
            );
        }
        let _ = sink.flush();
        if closed {
            *shared.finished.lock().unwrap() = true;
            shared.done.notify_all();
            return;
        }
    }
}

impl Drop for Flush {
    fn drop(&mut self) {
        self.shared.pending.lock().unwrap().closed = true;
        self.shared.arrived.notify_one();
        let finished = self.shared.finished.lock().unwrap();
        let _ = self
            .shared
            .done
            .wait_timeout_while(finished, FLUSH_WAIT, |f| !*f);
    }
}

/// One event's writer: tracing-subscriber writes a formatted line into it.
pub struct Line<'a> {
    shared: &'a Shared,
}

impl Write for Line<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut pending = self.shared.pending.lock().unwrap();
        if pending.bytes.len() + buf.len() > MAX_PENDING {
            // Counted per write: the JSON formatter writes a line in one.
            pending.dropped += 1;
            return Ok(buf.len());
        }
        let first = pending.bytes.is_empty();
        pending.bytes.extend_from_slice(buf);
        drop(pending);
        if first {
            self.shared.arrived.notify_one();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Line<'a> {
        Line {
            shared: &self.shared,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn pipe() -> (std::fs::File, std::fs::File) {
        let (r, w) = nix::unistd::pipe().unwrap();
        (std::fs::File::from(r), std::fs::File::from(w))
    }

    #[test]
    fn lines_arrive_in_order_and_all_of_them_by_the_flush() {
        let (mut r, w) = pipe();
        let (writer, flush) = batched(w);
        use tracing_subscriber::fmt::MakeWriter;
        for i in 0..1000 {
            writeln!(writer.make_writer(), "line {i}").unwrap();
        }
        drop(flush);
        drop(writer);
        let mut text = String::new();
        r.read_to_string(&mut text).unwrap();
        let want: String = (0..1000).map(|i| format!("line {i}\n")).collect();
        assert_eq!(text, want);
    }

    /// A stdout that does not drain: logging never waits for it (were it to, this test would
    /// hang in its loop); what does not fit is dropped, counted, and reported once it drains.
    #[test]
    fn a_sink_that_does_not_drain_never_blocks_a_logging_thread() {
        let (mut r, w) = pipe();
        let (writer, flush) = batched(w);
        use tracing_subscriber::fmt::MakeWriter;
        let line = [b'x'; 1023];
        // 48 MiB into a 64 KiB pipe nobody reads yet: at most one batch being written and
        // MAX_PENDING waiting can be held, the rest is dropped.
        for _ in 0..(48 << 10) {
            let mut l = writer.make_writer();
            l.write_all(&[&line[..], b"\n"].concat()).unwrap();
        }
        let reader = std::thread::spawn(move || {
            let mut all = Vec::new();
            r.read_to_end(&mut all).unwrap();
            all
        });
        drop(flush);
        drop(writer);
        let all = reader.join().unwrap();
        let text = String::from_utf8_lossy(&all);
        assert!(all.len() <= 2 * MAX_PENDING + 4096, "{} bytes", all.len());
        // one report per batch that had drops
        let dropped: u64 = text
            .lines()
            .filter(|l| l.contains("log lines dropped: stdout did not drain"))
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["fields"]["dropped"].as_u64().unwrap()
            })
            .sum();
        assert!(dropped > 0, "no report of the dropped lines");
        let kept = text.lines().filter(|l| l.starts_with('x')).count() as u64;
        assert_eq!(kept + dropped, 48 << 10, "every line is written or counted");
    }
}
