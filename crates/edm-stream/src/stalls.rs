//! The instance's budget for clients that stopped reading
//! (`EDM_STREAM_STALLED_CLIENT_BYTES`).
//!
//! A writer whose socket's buffer is full counts what that buffer holds
//! ([`StalledShare::hold`]) until the socket takes a packet again. When one
//! more full buffer would pass the budget, the clients that have been full
//! longest, and for at least [`STALLED_AFTER`], are evicted to make room (a
//! reading client's buffer fills only for moments, a stalled one's stays
//! full); when even that would not make room, the newcomer is the one cut.
//! Either way what full buffers hold stays within the budget, and a healthy
//! client is not cut for what clients that stopped reading long ago hold.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// How long a socket stays full before its client counts as stalled: one
/// that reads drains its buffer well within it.
pub const STALLED_AFTER: Duration = Duration::from_secs(1);

/// What the full socket buffers of an instance hold, in bytes, within a
/// budget.
#[derive(Debug)]
pub struct StalledBytes {
    budget: usize,
    state: Mutex<Stalls>,
}

/// The full sockets counted now, oldest first.
#[derive(Debug, Default)]
struct Stalls {
    held: usize,
    next: u64,
    by_age: BTreeMap<u64, Stall>,
}

#[derive(Debug)]
struct Stall {
    bytes: usize,
    since: Instant,
    evicted: Arc<Notify>,
}

/// One counted full socket: its place among the stalls and how it learns
/// it was evicted.
#[derive(Debug)]
struct Ticket {
    number: u64,
    evicted: Arc<Notify>,
}

impl StalledBytes {
    /// No byte held yet, at most `budget`.
    pub fn new(budget: usize) -> Self {
        Self {
            budget,
            state: Mutex::default(),
        }
    }

    /// Bytes counted now.
    pub fn held(&self) -> usize {
        self.state().held
    }

    fn state(&self) -> MutexGuard<'_, Stalls> {
        // Nothing below can panic half-way through an update.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a socket full since `since` that holds `bytes`, evicting
    /// clients stalled for [`STALLED_AFTER`] at `now`, longest first, when
    /// that is what makes room; `None` (and nobody evicted) when even that
    /// would not.
    fn hold(&self, bytes: usize, since: Instant, now: Instant) -> Option<Ticket> {
        let mut state = self.state();
        let mut evict = 0;
        let mut freed = 0;
        for stall in state.by_age.values() {
            if (state.held - freed).saturating_add(bytes) <= self.budget {
                break;
            }
            if now.saturating_duration_since(stall.since) < STALLED_AFTER {
                break;
            }
            evict += 1;
            freed += stall.bytes;
        }
        if (state.held - freed).saturating_add(bytes) > self.budget {
            return None;
        }
        for _ in 0..evict {
            if let Some((_, stall)) = state.by_age.pop_first() {
                state.held -= stall.bytes;
                // Stored as a permit if the writer is not waiting yet.
                stall.evicted.notify_one();
            }
        }
        let number = state.next;
        state.next += 1;
        let evicted = Arc::new(Notify::new());
        state.by_age.insert(
            number,
            Stall {
                bytes,
                since,
                evicted: evicted.clone(),
            },
        );
        state.held += bytes;
        Some(Ticket { number, evicted })
    }

    /// Gives back what a ticket counted, unless it was evicted.
    fn release(&self, ticket: &Ticket) {
        let mut state = self.state();
        if let Some(stall) = state.by_age.remove(&ticket.number) {
            state.held -= stall.bytes;
        }
    }
}

/// A writer's share of [`StalledBytes`] while its socket is full; given
/// back when the socket takes a packet again or the writer ends.
pub struct StalledShare<'a> {
    stalled: &'a StalledBytes,
    ticket: Option<Ticket>,
}

impl<'a> StalledShare<'a> {
    /// Nothing counted yet.
    pub fn new(stalled: &'a StalledBytes) -> Self {
        Self {
            stalled,
            ticket: None,
        }
    }

    /// Counts what a socket full since `since` holds (once per stall);
    /// false when there is no room for it even after evicting the clients
    /// stalled longest.
    pub fn hold(&mut self, bytes: usize, since: Instant) -> bool {
        if self.ticket.is_none() {
            self.ticket = self.stalled.hold(bytes, since, Instant::now());
        }
        self.ticket.is_some()
    }

    /// The socket took a packet: gives the share back.
    pub fn release(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            self.stalled.release(&ticket);
        }
    }

    /// Resolves once this client was evicted to make room for another;
    /// never while nothing is counted.
    pub async fn evicted(&self) {
        match &self.ticket {
            Some(ticket) => ticket.evicted.notified().await,
            None => std::future::pending().await,
        }
    }
}

impl Drop for StalledShare<'_> {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Waker};

    fn resolved(future: impl Future<Output = ()>) -> bool {
        let mut future = pin!(future);
        future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
            .is_ready()
    }

    #[test]
    fn a_stall_counts_once_and_past_the_budget_a_newcomer_is_refused() {
        let stalled = StalledBytes::new(1000);
        let now = Instant::now();
        let mut first = StalledShare::new(&stalled);
        assert!(first.hold(900, now));
        assert!(first.hold(900, now), "one stall counts once");
        assert_eq!(stalled.held(), 900);
        let mut second = StalledShare::new(&stalled);
        assert!(!second.hold(200, now), "past the budget");
        assert_eq!(stalled.held(), 900);
        assert!(!resolved(first.evicted()), "a young stall is not evicted");
        first.release();
        assert!(second.hold(200, now), "room again once the first one reads");
        drop(second);
        assert_eq!(stalled.held(), 0, "given back when the writer ends");
    }

    #[test]
    fn clients_stalled_longest_make_room_only_as_many_as_needed() {
        let stalled = StalledBytes::new(1000);
        let now = Instant::now();
        let long_ago = now - STALLED_AFTER * 3;
        let (mut oldest, mut older, mut young) = (
            StalledShare::new(&stalled),
            StalledShare::new(&stalled),
            StalledShare::new(&stalled),
        );
        assert!(oldest.hold(300, long_ago));
        assert!(older.hold(300, long_ago));
        assert!(young.hold(300, now));

        // 300 of the 1000 must go: the oldest alone.
        let mut reader = StalledShare::new(&stalled);
        assert!(reader.hold(350, now));
        assert!(resolved(oldest.evicted()), "the longest stalled goes");
        assert!(!resolved(older.evicted()) && !resolved(young.evicted()));
        assert_eq!(stalled.held(), 950);

        // Only the young stall is left to evict with `older`: not enough
        // room is made, so nobody is evicted and the newcomer is refused.
        let mut another = StalledShare::new(&stalled);
        assert!(!another.hold(400, now));
        assert!(!resolved(older.evicted()));
        assert_eq!(stalled.held(), 950);

        // An evicted share gives back nothing twice.
        oldest.release();
        assert_eq!(stalled.held(), 950);
    }
}
