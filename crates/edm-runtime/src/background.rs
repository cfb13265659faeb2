//! Background work that lives as long as its service: a Kafka consumer, a
//! reachability probe, a periodic clean-up. Every task gets the same
//! [`StopSignal`]; when the service stops, the signal fires and the server
//! waits for every task to return (within the shutdown deadline). Work
//! that must wait until no request is in flight (flushing a producer the
//! requests write through) is registered with [`Background::after_requests`].
//! This is the one way EDM services stop what they started.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Fires once, when the service starts stopping. Async work awaits
/// [`StopSignal::cancelled`]; a blocking loop checks
/// [`StopSignal::is_cancelled`] between steps.
pub type StopSignal = CancellationToken;

/// The background tasks of one service.
#[derive(Clone, Default)]
pub struct Background {
    stop: StopSignal,
    tasks: TaskTracker,
    after_requests: Arc<Mutex<Vec<FinalStep>>>,
}

/// Work run once the server has finished its last request.
type FinalStep = (&'static str, Pin<Box<dyn Future<Output = ()> + Send>>);

impl std::fmt::Debug for Background {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Background")
            .field("stopping", &self.stop.is_cancelled())
            .field("running", &self.tasks.len())
            .finish_non_exhaustive()
    }
}

impl Background {
    /// No tasks yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs the future that `work` makes from the stop signal; it should
    /// return soon after the signal fires.
    pub fn spawn<W, F>(&self, name: &'static str, work: W)
    where
        W: FnOnce(StopSignal) -> F,
        F: Future<Output = ()> + Send + 'static,
    {
        let work = work(self.stop.clone());
        self.tasks.spawn(async move {
            work.await;
            tracing::debug!(task = name, "background task stopped");
        });
    }

    /// Runs `work` on a thread where it may block (a librdkafka poll loop);
    /// it should return soon after the signal fires.
    pub fn spawn_blocking<W>(&self, name: &'static str, work: W)
    where
        W: FnOnce(StopSignal) + Send + 'static,
    {
        let stop = self.stop.clone();
        self.tasks.spawn_blocking(move || {
            work(stop);
            tracing::debug!(task = name, "background task stopped");
        });
    }

    /// Runs `step` when the service stops, after the server has answered
    /// its last request (and within the shutdown deadline).
    pub fn after_requests(
        &self,
        name: &'static str,
        step: impl Future<Output = ()> + Send + 'static,
    ) {
        self.after_requests
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push((name, Box::pin(step)));
    }

    /// Runs the steps registered with [`Background::after_requests`], in
    /// order; the server calls this once it has drained.
    pub async fn requests_finished(&self) {
        let steps = std::mem::take(
            &mut *self
                .after_requests
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        for (name, step) in steps {
            step.await;
            tracing::debug!(step = name, "final step done");
        }
    }

    /// The signal every task was given.
    pub fn stop_signal(&self) -> StopSignal {
        self.stop.clone()
    }

    /// Tasks that have not returned yet.
    pub fn running(&self) -> usize {
        self.tasks.len()
    }

    /// Fires the stop signal and waits until every task has returned.
    pub async fn stop(&self) {
        self.stop.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn stop_waits_for_async_and_blocking_tasks_to_finish_their_work() {
        let background = Background::new();
        let finished = Arc::new(AtomicUsize::new(0));
        let done = finished.clone();
        background.spawn("async", |stop| async move {
            stop.cancelled().await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            done.fetch_add(1, Ordering::SeqCst);
        });
        let done = finished.clone();
        background.spawn_blocking("blocking", move |stop| {
            while !stop.is_cancelled() {
                std::thread::sleep(Duration::from_millis(5));
            }
            done.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(background.running(), 2);
        let done = finished.clone();
        background.after_requests("final", async move {
            done.fetch_add(10, Ordering::SeqCst);
        });
        background.stop().await;
        assert_eq!(
            finished.load(Ordering::SeqCst),
            2,
            "final steps wait for the server"
        );
        background.requests_finished().await;
        assert_eq!(finished.load(Ordering::SeqCst), 12);
        assert_eq!(background.running(), 0);
    }
}
