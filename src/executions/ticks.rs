//! The tick running executions measure their workspace's disk quota on: one timer for the
//! process instead of one per execution.
//!
//! Why not a timer per execution: tokio wakes the thread that waits on its timers whenever a
//! timer earlier than all the others is set (to shorten that wait). A quota timer of 500 ms,
//! set by every execution, was the earliest timer of an otherwise quiet server most of the
//! time, so nearly every `print(1)` woke the other runtime thread for nothing: a context switch
//! each way, on a machine whose two cores the worker is also using. This tick runs only while
//! executions do (it stops one period after the last one ends), and while it runs an
//! execution's own timers (its deadline, seconds away) are never the earliest.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::futures::Notified;
use tokio::sync::Notify;

pub struct Ticks {
    period: Duration,
    running: AtomicUsize,
    /// Notified on every tick (its waiters are the executions running).
    tick: Notify,
    /// Notified when the first execution starts after a quiet spell.
    start: Notify,
}

/// Held by an execution for its length: the tick runs while any is held.
pub struct Running(Arc<Ticks>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Ticks {
    /// Starts the (idle) ticking task: call inside the runtime.
    pub fn start(period: Duration) -> Arc<Ticks> {
        let ticks = Arc::new(Ticks {
            period,
            running: AtomicUsize::new(0),
            tick: Notify::new(),
            start: Notify::new(),
        });
        tokio::spawn(ticks.clone().run());
        ticks
    }

    /// Marks an execution as running until the guard is dropped.
    pub fn running(self: &Arc<Self>) -> Running {
        if self.running.fetch_add(1, Ordering::SeqCst) == 0 {
            // notify_one keeps the permit when the task is not waiting yet: never lost.
            self.start.notify_one();
        }
        Running(self.clone())
    }

    /// Resolves at the next tick (while an execution holds [`Ticks::running`]).
    pub fn next(&self) -> Notified<'_> {
        self.tick.notified()
    }

    async fn run(self: Arc<Self>) {
        loop {
            while self.running.load(Ordering::SeqCst) == 0 {
                self.start.notified().await;
            }
            // Ticks on while executions run back to back (and one period past the last).
            loop {
                tokio::time::sleep(self.period).await;
                self.tick.notify_waiters();
                if self.running.load(Ordering::SeqCst) == 0 {
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::{timeout, Instant};

    #[tokio::test(start_paused = true)]
    async fn ticks_only_while_an_execution_runs() {
        let ticks = Ticks::start(Duration::from_millis(250));
        // nobody running: no tick
        assert!(timeout(Duration::from_secs(5), ticks.next()).await.is_err());
        let running = ticks.running();
        let t0 = Instant::now();
        timeout(Duration::from_secs(5), ticks.next()).await.unwrap();
        assert!(
            t0.elapsed() <= Duration::from_millis(250),
            "{:?}",
            t0.elapsed()
        );
        timeout(Duration::from_secs(5), ticks.next()).await.unwrap();
        drop(running);
        // the tick stops one period after the last execution ended
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert!(timeout(Duration::from_secs(5), ticks.next()).await.is_err());
        // and starts again with the next one
        let _again = ticks.running();
        timeout(Duration::from_secs(5), ticks.next()).await.unwrap();
    }
}
