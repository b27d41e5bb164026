//! Gates: named points where a task can be held until released.
//!
//! The simulator uses gates to hold a race window open deterministically (the catalogue's
//! `gate(NAME)` / `release(NAME)`), instead of hoping a sleep lines the race up. Production
//! code calls [`Gates::pass`] at the same named points; with no gate closed this is a single
//! uncontended lock and returns at once.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

#[derive(Default)]
struct GateState {
    closed: bool,
    waiting: u32,
    passed: u64,
    notify: Arc<Notify>,
}

/// A set of named gates shared by every task of one server.
#[derive(Clone, Default)]
pub struct Gates {
    inner: Arc<Mutex<BTreeMap<String, GateState>>>,
}

impl Gates {
    /// A set with every gate open.
    pub fn new() -> Self {
        Self::default()
    }

    /// Wait here while the gate `name` is closed.
    pub async fn pass(&self, name: &str) {
        loop {
            let notify = {
                let mut map = self.inner.lock().expect("gate lock");
                let Some(g) = map.get_mut(name) else { return };
                if !g.closed {
                    g.passed += 1;
                    return;
                }
                g.waiting += 1;
                g.notify.clone()
            };
            // `Notified` registers at creation for `notify_waiters`, but the release may
            // already have happened between the unlock above and here: re-check before waiting.
            let wait = notify.notified();
            let still_closed = {
                let map = self.inner.lock().expect("gate lock");
                map.get(name).is_some_and(|g| g.closed)
            };
            if still_closed {
                wait.await;
            }
            let mut map = self.inner.lock().expect("gate lock");
            if let Some(g) = map.get_mut(name) {
                g.waiting -= 1;
            }
        }
    }

    /// Close `name`: tasks reaching it wait until [`Gates::release`].
    pub fn close(&self, name: &str) {
        self.inner
            .lock()
            .expect("gate lock")
            .entry(name.to_string())
            .or_default()
            .closed = true;
    }

    /// Open `name` and wake every task waiting at it.
    pub fn release(&self, name: &str) {
        let mut map = self.inner.lock().expect("gate lock");
        if let Some(g) = map.get_mut(name) {
            g.closed = false;
            g.notify.notify_waiters();
        }
    }

    /// How many tasks are waiting at `name` right now.
    pub fn waiting(&self, name: &str) -> u32 {
        self.inner
            .lock()
            .expect("gate lock")
            .get(name)
            .map_or(0, |g| g.waiting)
    }

    /// How many times `name` was passed while open (only counted once the gate was closed
    /// or released at least once).
    pub fn passed(&self, name: &str) -> u64 {
        self.inner
            .lock()
            .expect("gate lock")
            .get(name)
            .map_or(0, |g| g.passed)
    }
}
