//! Background work that lives as long as its service: a Kafka consumer, a
//! reachability probe, a periodic clean-up. Every task gets the same
//! [`StopSignal`]; when the service stops, the signal fires and the server
//! waits for every task to return (within the shutdown deadline). Work
//! that must wait until no request is in flight (flushing a producer the
//! requests write through) is registered with [`Background::after_requests`].
//! This is the one way EDM services stop what they started.
//!
//! A task returns only when the signal has fired. One that panics, or
//! returns before, has failed: the failure is logged at error, `/ready`
//! answers 503 from then on, and the signal fires, so the service stops
//! and exits with an error ([`Background::failure`]) for the platform to
//! restart it, rather than serving on without its consumer.

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
    /// The first task that failed, and how.
    failure: Arc<Mutex<Option<String>>>,
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
        let work = tokio::spawn(work(self.stop.clone()));
        let this = self.clone();
        self.tasks.spawn(async move {
            let panic = work.await.err().map(|e| match e.try_into_panic() {
                Ok(payload) => panic_message(payload.as_ref()),
                Err(e) => e.to_string(),
            });
            this.ended(name, panic);
        });
    }

    /// Runs `work` on a thread where it may block (a librdkafka poll loop);
    /// it should return soon after the signal fires.
    pub fn spawn_blocking<W>(&self, name: &'static str, work: W)
    where
        W: FnOnce(StopSignal) + Send + 'static,
    {
        let stop = self.stop.clone();
        let this = self.clone();
        self.tasks.spawn_blocking(move || {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(stop)));
            this.ended(name, outcome.err().map(|p| panic_message(p.as_ref())));
        });
    }

    /// A task returned (`panic`: or panicked, with this message): a
    /// failure unless the stop signal had fired first.
    fn ended(&self, name: &'static str, panic: Option<String>) {
        let stopping = self.stop.is_cancelled();
        let what = match (&panic, stopping) {
            (None, true) => {
                tracing::debug!(task = name, "background task stopped");
                return;
            }
            (None, false) => format!("background task {name:?} ended before the service stopped"),
            (Some(message), _) => format!("background task {name:?} panicked: {message}"),
        };
        tracing::error!(
            task = name,
            "{what}; the service stops so that the platform restarts it"
        );
        self.failure
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get_or_insert(what);
        self.stop.cancel();
    }

    /// How the first failed task failed, if one did (see the module
    /// documentation).
    pub fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
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

/// The text of a panic's payload, when it has one.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
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
        assert_eq!(
            background.failure(),
            None,
            "tasks that stop when told have not failed"
        );
    }

    #[tokio::test]
    async fn a_task_that_panics_or_ends_early_fails_the_service_and_stops_it() {
        let background = Background::new();
        background.spawn("consumer", |_stop| async { panic!("lost the partition") });
        tokio::time::timeout(Duration::from_secs(5), background.stop_signal().cancelled())
            .await
            .expect("a panic fires the stop signal");
        let failure = background.failure().unwrap();
        assert!(
            failure.contains("\"consumer\" panicked: lost the partition"),
            "{failure}"
        );

        let background = Background::new();
        background.spawn_blocking("poll loop", |_stop| {});
        tokio::time::timeout(Duration::from_secs(5), background.stop_signal().cancelled())
            .await
            .expect("an early end fires the stop signal");
        let failure = background.failure().unwrap();
        assert!(
            failure.contains("\"poll loop\" ended before the service stopped"),
            "{failure}"
        );

        let background = Background::new();
        background.spawn_blocking("poll loop", |_stop| panic!("boom"));
        tokio::time::timeout(Duration::from_secs(5), background.stop_signal().cancelled())
            .await
            .expect("a panic on a blocking thread fires the stop signal");
        assert!(background.failure().unwrap().contains("panicked: boom"));
    }
}
