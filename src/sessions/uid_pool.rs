//! The pool of per-session uids. Never-used uids are handed out first, so a uid is reused only
//! once the whole range has been used; and a uid goes back to the pool only once no process of
//! it is left and nothing it owned in the shared directories or SysV IPC remains (the session
//! manager scrubs before it releases), so a new session can never inherit an old one's
//! processes, files or segments.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Mutex;

pub struct UidPool {
    inner: Mutex<Inner>,
}

struct Inner {
    free: VecDeque<u32>,
    next_fresh: u32,
    end: u32,
    in_use: BTreeSet<u32>,
}

impl UidPool {
    pub fn new(base: u32, count: u32) -> UidPool {
        UidPool {
            inner: Mutex::new(Inner {
                free: VecDeque::new(),
                next_fresh: base,
                end: base.saturating_add(count),
                in_use: BTreeSet::new(),
            }),
        }
    }

    /// A uid no session uses: a never-used one while any is left, else the least recently
    /// freed.
    pub fn allocate(&self) -> Option<u32> {
        let mut g = self.inner.lock().unwrap();
        let uid = if g.next_fresh < g.end {
            g.next_fresh += 1;
            g.next_fresh - 1
        } else {
            g.free.pop_front()?
        };
        g.in_use.insert(uid);
        Some(uid)
    }

    /// Returns a uid after the caller checked that none of its processes remain.
    pub fn release(&self, uid: u32) {
        let mut g = self.inner.lock().unwrap();
        if g.in_use.remove(&uid) {
            g.free.push_back(uid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_uids_before_recycled_ones() {
        let p = UidPool::new(100, 4);
        let a = p.allocate().unwrap();
        p.release(a);
        assert_eq!(
            p.allocate(),
            Some(101),
            "a freed uid came back while fresh ones remain"
        );
        assert_eq!(p.allocate(), Some(102));
        assert_eq!(p.allocate(), Some(103));
        assert_eq!(p.allocate(), Some(100));
    }

    #[test]
    fn allocates_distinct_and_recycles_last() {
        let p = UidPool::new(100, 3);
        let (a, b, c) = (
            p.allocate().unwrap(),
            p.allocate().unwrap(),
            p.allocate().unwrap(),
        );
        assert_eq!((a, b, c), (100, 101, 102));
        assert_eq!(p.allocate(), None);
        p.release(b);
        p.release(b); // double release is harmless
        assert_eq!(p.allocate(), Some(101));
        assert_eq!(p.allocate(), None);
    }
}
