//! The pool of per-session uids. A uid goes back to the pool only once no process of it is
//! left, so a new session can never share a uid with a leftover of an old one.

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

    /// A uid no session uses; recycled ones are handed out least-recently-freed first.
    pub fn allocate(&self) -> Option<u32> {
        let mut g = self.inner.lock().unwrap();
        let uid = match g.free.pop_front() {
            Some(u) => u,
            None if g.next_fresh < g.end => {
                g.next_fresh += 1;
                g.next_fresh - 1
            }
            None => return None,
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
