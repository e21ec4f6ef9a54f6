//! An execution's journal: its events in the order the server saw them, numbered from 0,
//! growing while the code runs and closed by its result. Streams (SSE), long polls and
//! reconnects (`Last-Event-ID`) all read it; the run loop is its only writer. The execution
//! runs on its own task, so a client that goes away changes nothing here.

use super::{ExecEvent, ExecutionResult, Language};
use futures_util::Stream;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::watch;

pub struct Journal {
    pub id: String,
    pub session_id: String,
    pub language: Language,
    pub started_at: String,
    events: Mutex<Vec<ExecEvent>>,
    /// The number of events; changes wake every reader.
    len: watch::Sender<usize>,
    result: OnceLock<Arc<ExecutionResult>>,
    /// `POST .../cancel`: read by the run loop of this execution only (a cancel that arrives
    /// after the end cannot reach the next execution).
    pub cancel: tokio::sync::Notify,
}

/// One numbered event as readers see it: the `result` event carries the whole result.
#[derive(Debug, Clone)]
pub enum Entry {
    Event(usize, ExecEvent),
    Result(usize, Arc<ExecutionResult>),
}

impl Journal {
    pub fn new(id: String, session_id: String, language: Language, started_at: String) -> Journal {
        Journal {
            id,
            session_id,
            language,
            started_at,
            events: Mutex::new(Vec::new()),
            len: watch::channel(0).0,
            result: OnceLock::new(),
            cancel: tokio::sync::Notify::new(),
        }
    }

    pub fn push(&self, ev: ExecEvent) {
        let mut events = self.events.lock().unwrap();
        events.push(ev);
        self.len.send_replace(events.len());
    }

    /// Closes the journal with its result (the last event, `result`).
    pub fn finish(&self, result: Arc<ExecutionResult>) {
        let status = result.status;
        // The result and its event appear together (under the events lock): a follower that
        // saw the result set but not yet its event would end the stream without it.
        let mut events = self.events.lock().unwrap();
        if self.result.set(result).is_ok() {
            events.push(ExecEvent::Result { status });
            self.len.send_replace(events.len());
        }
    }

    pub fn result(&self) -> Option<Arc<ExecutionResult>> {
        self.result.get().cloned()
    }

    pub fn is_running(&self) -> bool {
        self.result.get().is_none()
    }

    /// Every event so far, numbered (the JSON `events` endpoint).
    pub fn snapshot(&self) -> Vec<ExecEvent> {
        self.events.lock().unwrap().clone()
    }

    /// Waits for the result.
    pub async fn wait(&self) -> Arc<ExecutionResult> {
        let mut rx = self.len.subscribe();
        loop {
            if let Some(r) = self.result() {
                return r;
            }
            // The sender lives as long as `self`: changed() cannot fail while we borrow it.
            let _ = rx.changed().await;
        }
    }

    /// The entries after `after` (all when `None`), live: it yields events as they are pushed
    /// and ends with the result.
    pub fn follow(self: Arc<Self>, after: Option<usize>) -> impl Stream<Item = Entry> + Send {
        let next = after.map_or(0, |a| a + 1);
        let rx = self.len.subscribe();
        futures_util::stream::unfold(
            (self, rx, next, false),
            |(journal, mut rx, next, done)| async move {
                if done {
                    return None;
                }
                loop {
                    // Read under one lock with `finish`: "no event at `next` and finished"
                    // then means `next` is past the result event, never before it.
                    let (ev, finished) = {
                        let events = journal.events.lock().unwrap();
                        (events.get(next).cloned(), journal.result.get().is_some())
                    };
                    match ev {
                        Some(ExecEvent::Result { .. }) => {
                            let r = journal
                                .result()
                                .expect("the result event follows the result");
                            return Some((Entry::Result(next, r), (journal, rx, next + 1, true)));
                        }
                        Some(ev) => {
                            return Some((Entry::Event(next, ev), (journal, rx, next + 1, false)))
                        }
                        None if finished => return None,
                        None => {
                            if rx.changed().await.is_err() {
                                return None;
                            }
                        }
                    }
                }
            },
        )
    }
}
