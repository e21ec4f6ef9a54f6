//! A future that wakes itself while it is being polled is polled again in place.
//!
//! hyper's connection future does this on requests with a body (the body is handed from the
//! connection's reader to the handler through a channel whose two ends are both in that task).
//! tokio treats a task woken during its own poll as one that yielded: it goes to the back of the
//! queue and another runtime thread is woken to look for work — a futex wake-up and a context
//! switch each way, on a machine where each costs ~25 µs. Measured on the server with `perf`
//! (keep-alive `print(1)`s): ~1 such wake-up per request, a third of the server's futex calls;
//! a `GET` has none. Polled again here, at once, the task never looks like it yielded. No crate
//! does this; it is a small state machine on a waker of our own (`std::task::Wake`, no unsafe).
//!
//! A wake-up that comes from elsewhere once the poll is over goes to the task's own waker, as
//! without the wrapper. A future that keeps waking itself is polled at most `REPOLLS` times in
//! a row, then yields for real, so it cannot hold a runtime thread.

use futures_util::task::AtomicWaker;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

const REPOLLS: usize = 4;

const IDLE: u8 = 0;
const POLLING: u8 = 1;
const WOKEN_WHILE_POLLING: u8 = 2;

pub struct Repoll<F> {
    inner: Pin<Box<F>>,
    wakes: Arc<Wakes>,
    waker: Waker,
}

struct Wakes {
    state: AtomicU8,
    task: AtomicWaker,
}

impl Wake for Wakes {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        match self.state.compare_exchange(
            POLLING,
            WOKEN_WHILE_POLLING,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            // The poll in progress sees it and polls again.
            Ok(_) | Err(WOKEN_WHILE_POLLING) => {}
            Err(_) => self.task.wake(),
        }
    }
}

impl<F: Future> Repoll<F> {
    pub fn new(inner: F) -> Self {
        let wakes = Arc::new(Wakes {
            state: AtomicU8::new(IDLE),
            task: AtomicWaker::new(),
        });
        Repoll {
            inner: Box::pin(inner),
            waker: Waker::from(wakes.clone()),
            wakes,
        }
    }
}

impl<F: Future> Future for Repoll<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        this.wakes.task.register(cx.waker());
        let mut inner_cx = Context::from_waker(&this.waker);
        for _ in 0..REPOLLS {
            this.wakes.state.store(POLLING, Ordering::Release);
            if let Poll::Ready(out) = this.inner.as_mut().poll(&mut inner_cx) {
                this.wakes.state.store(IDLE, Ordering::Release);
                return Poll::Ready(out);
            }
            if this
                .wakes
                .state
                .compare_exchange(POLLING, IDLE, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return Poll::Pending;
            }
        }
        // Still waking itself: a real yield, so the thread runs other tasks too.
        this.wakes.state.store(IDLE, Ordering::Release);
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Counts the wake-ups the task itself gets.
    struct Counter(AtomicUsize);
    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn task() -> (Arc<Counter>, Waker) {
        let c = Arc::new(Counter(AtomicUsize::new(0)));
        (c.clone(), Waker::from(c))
    }

    /// Wakes itself `times` times during its polls, then is ready.
    struct SelfWaking {
        times: usize,
        polls: usize,
    }
    impl Future for SelfWaking {
        type Output = usize;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
            self.polls += 1;
            if self.times == 0 {
                return Poll::Ready(self.polls);
            }
            self.times -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    #[test]
    fn a_future_that_wakes_itself_is_polled_again_without_waking_the_task() {
        let (count, waker) = task();
        let mut f = Repoll::new(SelfWaking { times: 2, polls: 0 });
        let r = Pin::new(&mut f).poll(&mut Context::from_waker(&waker));
        assert_eq!(r, Poll::Ready(3));
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn one_that_keeps_waking_itself_yields_for_real() {
        let (count, waker) = task();
        let mut f = Repoll::new(SelfWaking {
            times: 100,
            polls: 0,
        });
        let r = Pin::new(&mut f).poll(&mut Context::from_waker(&waker));
        assert!(r.is_pending());
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            1,
            "woken once, to run again"
        );
        assert_eq!(f.inner.polls, REPOLLS);
    }

    #[test]
    fn a_wake_after_the_poll_reaches_the_task() {
        let (count, waker) = task();
        let (tx, rx) = tokio::sync::oneshot::channel::<u8>();
        let mut f = Repoll::new(rx);
        assert!(Pin::new(&mut f)
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
        std::thread::spawn(move || tx.send(7).unwrap())
            .join()
            .unwrap();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        let r = Pin::new(&mut f).poll(&mut Context::from_waker(&waker));
        assert_eq!(r, Poll::Ready(Ok(7)));
    }
}
