//! The consume-process-produce loop, the Kafka Streams way: two stages in
//! one consumer group (the application id), each writing its output and
//! standing behind its input offsets once per cycle (one Kafka transaction
//! per stage under exactly once; see [`producer`](crate::producer)).
//!
//! 1. **Repartition** ([`RepartitionStage`], as many tasks as `edm-ui-click`
//!    has partitions, shared by the instances): each click is given its
//!    event time and written, keyed by its product, to the repartition
//!    topic, with progress records for input partitions read to their end,
//!    and each cycle's sample of the events read to `edm-trending-sample`.
//!    Its producer's transactional id is this process's own; a zombie is
//!    fenced by the group's generation when it commits offsets.
//! 2. **Windows** ([`WindowTask`], one task per repartition partition, on
//!    the instance the group gives that partition): each record goes
//!    through the task's window store; its results for its products go to
//!    the partials topic.
//! 3. **Merge** ([`MergeTask`], on the instance that holds the partials
//!    topic's one partition): each window's global result, once every
//!    task's watermark has passed it, to `edm-trending`.
//!
//! Each window task and the merge step has a producer of its own, with a
//! stable transactional id, and commits its own transaction per cycle.
//!
//! A cycle gathers records for `EDM_TRENDING_COMMIT_INTERVAL_MS` (or
//! `EDM_TRENDING_MAX_BATCH_RECORDS`) and then commits both stages. A cycle
//! that fails, or that a rebalance interrupts, is aborted instead: every
//! partition it read is sought back to the offset this processor last
//! committed (known locally, never asked for at that moment), and nothing
//! is read until every such seek has succeeded; a window task whose store
//! took records is restored again from the changelog. So nothing of an
//! aborted cycle stays visible to a `read_committed` reader or in memory,
//! and nothing read in it is skipped. Seeks that keep failing for
//! `EDM_TRENDING_KAFKA_TIMEOUT_SECS` make the processor leave the group and
//! join again, which starts every partition from its committed offset.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use edm_events::recent_ids::IdDigest;
use edm_runtime::StopSignal;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::{ClientContext, Message, Offset, TopicPartitionList};

use crate::event_time::Clock;
use crate::input_event::WindowReader;
use crate::merge_task::MergeTask;
use crate::metrics::Metrics;
use crate::names::Names;
use crate::producer::{fenced, transactions_refused, StageProducer};
use crate::progress::{source_id, source_of, InputTopic};
use crate::repartition_stage::{InputDedup, RepartitionStage};
use crate::sampler::Sampler;
use crate::settings::{ProcessingGuarantee, Settings};
use crate::window_task::WindowTask;

/// Counts the consumer's rebalances, so that a cycle can tell whether one
/// happened while it ran.
#[derive(Default)]
pub struct RebalanceCounter(AtomicU64);

impl ClientContext for RebalanceCounter {}

impl ConsumerContext for RebalanceCounter {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, _: &Rebalance<'_>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, _: &Rebalance<'_>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Why the processor stopped for good (anything else is retried).
#[derive(Debug, thiserror::Error)]
pub enum Fatal {
    /// A client could not be created from the settings.
    #[error("creating a Kafka client: {0}")]
    Client(KafkaError),
    /// The brokers refuse this client transactional ids.
    #[error(
        "the brokers refuse the transactional id {id} ({source}): this Kafka plan does not grant \
         transactional ids to this app (Heroku documents them for dedicated plans). Set \
         EDM_TRENDING_PROCESSING_GUARANTEE=at_least_once (see docs/deploy.md), or grant the \
         prefix's transactional ids"
    )]
    TransactionsRefused {
        /// The transactional id refused.
        id: String,
        /// What the broker said.
        source: KafkaError,
    },
    /// A record could not be encoded.
    #[error("encoding a record: {0}")]
    Encode(serde_json::Error),
    /// The internal topics do not fit together.
    #[error("{0}")]
    Topics(String),
}

/// What ended a cycle early.
pub enum Interrupted {
    /// A rebalance: the cycle's records may include revoked partitions.
    Rebalance,
    /// Kafka refused something, or a restore did not finish; the cycle is
    /// aborted and retried.
    Kafka(KafkaError),
    /// The processor cannot go on.
    Fatal(Fatal),
}

impl From<KafkaError> for Interrupted {
    fn from(e: KafkaError) -> Self {
        Interrupted::Kafka(e)
    }
}

/// When a task's producer was fenced: the rebalance count then, and the
/// moment.
struct Fenced {
    at_rebalance: u64,
    since: Instant,
}

/// The running processor. Build it with [`Processor::new`] and drive it
/// with [`Processor::run`] on a thread of its own (every call blocks).
pub struct Processor {
    settings: Settings,
    names: Names,
    consumer: BaseConsumer<RebalanceCounter>,
    repartition: RepartitionStage,
    /// The window tasks held, by repartition partition.
    windows: BTreeMap<i32, WindowTask>,
    /// The merge step, when held.
    merge: Option<MergeTask>,
    /// Tasks that, fenced, wait for the group to move on, by the (topic,
    /// partition) they read.
    fenced: BTreeMap<(String, i32), Fenced>,
    /// Tasks taken back after a fence: their partition is read again from
    /// the committed offset once they open.
    reseek: BTreeSet<(String, i32)>,
    /// The rebalance count the stages' partitions were last matched at.
    synced_at: Option<u64>,
    /// Partitions to seek back before anything is read: (topic,
    /// partition) and the offset (`None`: the log's start).
    rewind: BTreeMap<(String, i32), Option<i64>>,
    /// Since when seeks have been pending.
    rewind_since: Option<Instant>,
    metrics: Metrics,
}

impl Processor {
    /// Creates the clients and subscribes; nothing is read yet. Under
    /// exactly once, brokers that refuse transactional ids stop it here,
    /// with an error that names the setting to change.
    pub fn new(settings: Settings, metrics: Metrics) -> Result<Self, Fatal> {
        let names = settings.names();
        let consumer: BaseConsumer<RebalanceCounter> = settings
            .kafka
            .consumer_config("edm-trending", &settings.application_id)
            .set("enable.auto.commit", "false")
            .set("isolation.level", "read_committed")
            // Each topic's partitions spread evenly over the instances (the
            // range assignor works topic by topic): the window tasks as
            // much as the input. The shared cooperative-sticky assignor
            // balances partition counts over every topic together, which
            // could give one instance all the window tasks. Its rebalances
            // revoke everything; a task given back restores its store.
            .set("partition.assignment.strategy", "range")
            // The window task reads what the repartition stage committed a
            // moment before: a short broker-side wait lets a fetch see a
            // commit promptly (librdkafka's default waits up to 500 ms).
            .set("fetch.wait.max.ms", "100")
            .set(
                "max.partition.fetch.bytes",
                settings.fetch_partition_bytes.to_string(),
            )
            .create_with_context(RebalanceCounter::default())
            .map_err(Fatal::Client)?;
        consumer
            .subscribe(&names.consumed())
            .map_err(Fatal::Client)?;
        let producer = StageProducer::new(&settings, &names.repartition_transactional_id)
            .map_err(|e| refused_or_client(e, &names.repartition_transactional_id))?;
        match settings.sample_per_cycle() {
            Some(k) => tracing::info!(
                per_cycle = k,
                "sampling at most {k} events per input partition per cycle to {}",
                names.sample
            ),
            None => tracing::info!("no sample (EDM_TRENDING_SAMPLE_PER_SECOND=0)"),
        }
        tracing::info!(
            guarantee = settings.guarantee.name(),
            "processing {}",
            match settings.guarantee {
                ProcessingGuarantee::ExactlyOnce => "exactly once (Kafka transactions)",
                ProcessingGuarantee::AtLeastOnce =>
                    "at least once (no transactions; results repeated after a crash replace the earlier ones)",
            }
        );
        Ok(Self {
            repartition: RepartitionStage::new(
                producer,
                settings.guarantee == ProcessingGuarantee::ExactlyOnce,
                settings.sample_per_cycle().map(Sampler::new),
                InputDedup {
                    window: settings.dedup_window_events,
                    digest: IdDigest::new(),
                    reader: WindowReader::new(&settings).map_err(Fatal::Client)?,
                },
            ),
            settings,
            names,
            consumer,
            windows: BTreeMap::new(),
            merge: None,
            fenced: BTreeMap::new(),
            reseek: BTreeSet::new(),
            synced_at: None,
            rewind: BTreeMap::new(),
            rewind_since: None,
            metrics,
        })
    }

    /// Runs cycles until `stop` is set, then commits the last one and leaves
    /// the group.
    pub fn run(mut self, stop: &StopSignal) -> Result<(), Fatal> {
        let mut backoff = Duration::from_millis(100);
        while !stop.is_cancelled() {
            match self.cycle(stop) {
                Ok(()) => {
                    backoff = Duration::from_millis(100);
                    self.metrics.last_good_cycle_ms.set(now_ms());
                }
                Err(Interrupted::Rebalance) => {
                    tracing::info!(
                        "a rebalance interrupted the cycle; it is aborted and read again"
                    );
                    self.abort_cycle(stop);
                }
                Err(Interrupted::Fatal(fatal)) => {
                    self.abort_cycle(stop);
                    return Err(fatal);
                }
                Err(Interrupted::Kafka(e)) => {
                    tracing::warn!("aborting the cycle: {e}");
                    self.metrics.aborted_cycles.inc();
                    self.abort_cycle(stop);
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
        self.consumer.unsubscribe();
        Ok(())
    }

    /// The processor's clock, for event times.
    fn clock(&self) -> Clock {
        Clock {
            now_ms: now_ms(),
            max_skew_ms: self.settings.max_clock_skew.as_millis() as i64,
        }
    }

    /// One cycle: the stages match the assignment, pending seeks are
    /// done, records are gathered, both stages commit.
    fn cycle(&mut self, stop: &StopSignal) -> Result<(), Interrupted> {
        let rebalances = self.consumer.context().0.load(Ordering::SeqCst);
        self.match_assignment(rebalances)?;
        self.finish_rewind()?;
        let timeout = self.settings.kafka_timeout;
        for task in self.windows.values_mut() {
            task.read_input_partitions(&self.consumer, &self.names, &self.metrics, timeout)?;
        }
        let deadline = Instant::now() + self.settings.commit_interval;
        let mut records = 0;
        while records < self.settings.max_batch_records && !stop.is_cancelled() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let polled = self.consumer.poll(left);
            if self.consumer.context().0.load(Ordering::SeqCst) != rebalances {
                return Err(Interrupted::Rebalance);
            }
            match polled {
                None => {}
                Some(Err(e)) => tracing::warn!("Kafka: {e}"),
                Some(Ok(message)) => {
                    records += 1;
                    let clock = self.clock();
                    if let Some(topic) = self.input_topic(message.topic()) {
                        let source = source_id(topic, message.partition());
                        if !self.repartition.has(source) {
                            return Err(Interrupted::Rebalance);
                        }
                        self.repartition.on_record(
                            &message,
                            source,
                            &self.names,
                            &self.metrics,
                            clock,
                        )?;
                    } else if self.is_fenced(message.topic(), message.partition()) {
                        // Fetched before the pause: read again once taken back.
                    } else if message.topic() == self.names.repartition {
                        let Some(task) = self.windows.get_mut(&message.partition()) else {
                            // Assigned during this cycle: the rebalance check aborts it.
                            return Err(Interrupted::Rebalance);
                        };
                        task.on_record(
                            &message,
                            &self.consumer,
                            &self.names,
                            &self.metrics,
                            clock,
                        )?;
                        if task.cycle_full() {
                            break;
                        }
                    } else if message.topic() == self.names.partials {
                        let Some(task) = self.merge.as_mut() else {
                            return Err(Interrupted::Rebalance);
                        };
                        task.on_record(&message, &self.names, &self.metrics, clock)?;
                    }
                }
            }
        }
        let clock = self.clock();
        self.repartition.write_batches(&self.names, &self.metrics)?;
        self.repartition
            .write_sample(&self.names, &self.metrics, clock)?;
        self.repartition.write_progress(
            &self.consumer,
            &self.names,
            &self.metrics,
            clock,
            self.settings.store.grace_ms(),
            timeout,
        )?;
        self.commit()
    }

    /// Matches every stage to the current assignment: the repartition
    /// stage's partitions, and the window tasks and the merge step, each
    /// created (fencing the previous owner, restoring its state) or
    /// dropped.
    fn match_assignment(&mut self, rebalances: u64) -> Result<(), Interrupted> {
        let assignment = self.consumer.assignment()?;
        if self.synced_at != Some(rebalances) {
            let inputs: Vec<i32> = [InputTopic::Clicks, InputTopic::PageLoads]
                .into_iter()
                .flat_map(|topic| {
                    assignment
                        .elements_for_topic(self.names.input_topic(topic))
                        .into_iter()
                        .map(move |e| source_id(topic, e.partition()))
                })
                .collect();
            self.repartition.sync_assignment(
                &self.consumer,
                &self.names,
                &inputs,
                self.settings.kafka_timeout,
            )?;
            self.rewind.retain(|(topic, partition), _| {
                assignment.find_partition(topic, *partition).is_some()
            });
            self.synced_at = Some(rebalances);
        }
        let owned = |topic: &str| -> BTreeSet<i32> {
            assignment
                .elements_for_topic(topic)
                .iter()
                .map(|e| e.partition())
                .collect()
        };
        let owned_windows = owned(&self.names.repartition);
        let owns_merge = owned(&self.names.partials).contains(&0);
        self.take_back_fenced(&assignment, rebalances);
        let revoked: Vec<i32> = self
            .windows
            .keys()
            .filter(|p| !owned_windows.contains(p))
            .copied()
            .collect();
        for partition in revoked {
            tracing::info!("window task {partition} revoked");
            self.windows.remove(&partition);
            self.metrics.window_tasks.dec();
        }
        if !owns_merge && self.merge.take().is_some() {
            tracing::info!("merge step revoked");
            self.metrics.merge_task.set(0);
        }
        for partition in owned_windows {
            let key = (self.names.repartition.clone(), partition);
            if self.windows.contains_key(&partition) || self.fenced.contains_key(&key) {
                continue;
            }
            let task = WindowTask::open(
                &self.settings,
                &self.names,
                &self.metrics,
                &self.consumer,
                partition,
            )?;
            self.reseek_if_taken_back(key, task.committed());
            self.windows.insert(partition, task);
        }
        let key = (self.names.partials.clone(), 0);
        if owns_merge && self.merge.is_none() && !self.fenced.contains_key(&key) {
            let task = MergeTask::open(&self.settings, &self.names, &self.metrics, &self.consumer)?;
            self.reseek_if_taken_back(key, task.committed());
            self.merge = Some(task);
        }
        Ok(())
    }

    /// The input topic named `topic`, if it is one.
    fn input_topic(&self, topic: &str) -> Option<InputTopic> {
        if topic == self.names.input {
            Some(InputTopic::Clicks)
        } else if topic == self.names.page_loads {
            Some(InputTopic::PageLoads)
        } else {
            None
        }
    }

    /// Fenced by a newer owner, a task is not taken back before the group
    /// has moved on, or the two would fence each other in turn; its
    /// partition stays paused meanwhile. A fence that no rebalance follows
    /// (the broker expired a stalled transaction, or another producer took
    /// the id) is waited out for the Kafka timeout, then the task is taken
    /// back.
    fn take_back_fenced(&mut self, assignment: &TopicPartitionList, rebalances: u64) {
        let timeout = self.settings.kafka_timeout;
        let keys: Vec<(String, i32)> = self.fenced.keys().cloned().collect();
        for key in keys {
            let owned = assignment.find_partition(&key.0, key.1).is_some();
            let fenced = &self.fenced[&key];
            let waited = fenced.since.elapsed() >= timeout;
            if owned && fenced.at_rebalance == rebalances && !waited {
                continue;
            }
            if owned && waited {
                tracing::warn!(
                    topic = key.0,
                    partition = key.1,
                    "no rebalance followed the fence within {timeout:?}; the task is taken back"
                );
            }
            self.pause(&key.0, key.1, false);
            self.fenced.remove(&key);
            if owned {
                self.reseek.insert(key);
            }
        }
    }

    /// A task taken back after a fence reads on from what is committed:
    /// records fetched before the pause may have been dropped.
    fn reseek_if_taken_back(&mut self, key: (String, i32), committed: Option<i64>) {
        if self.reseek.remove(&key) {
            self.rewind.insert(key, committed);
            self.rewind_since.get_or_insert_with(Instant::now);
        }
    }

    /// Whether the task reading `topic`'s `partition` waits after a fence.
    fn is_fenced(&self, topic: &str, partition: i32) -> bool {
        !self.fenced.is_empty() && self.fenced.contains_key(&(topic.to_owned(), partition))
    }

    /// Seeks the partitions an aborted cycle read back to their committed
    /// offsets; nothing is read before every seek has succeeded.
    fn finish_rewind(&mut self) -> Result<(), Interrupted> {
        if self.rewind.is_empty() {
            self.rewind_since = None;
            return Ok(());
        }
        let mut seeks = TopicPartitionList::new();
        for ((topic, partition), offset) in &self.rewind {
            let offset = offset.map_or(Offset::Beginning, Offset::Offset);
            seeks.add_partition_offset(topic, *partition, offset)?;
        }
        match self
            .consumer
            .seek_partitions(seeks, self.settings.kafka_timeout)
        {
            Ok(done) => {
                for element in done.elements() {
                    match element.error() {
                        Ok(()) => {
                            self.rewind
                                .remove(&(element.topic().to_owned(), element.partition()));
                        }
                        Err(e) => tracing::warn!(
                            topic = element.topic(),
                            partition = element.partition(),
                            "seeking back to the committed offset: {e}; trying again"
                        ),
                    }
                }
            }
            Err(e) => tracing::warn!("seeking back to the committed offsets: {e}; trying again"),
        }
        if self.rewind.is_empty() {
            self.rewind_since = None;
            return Ok(());
        }
        let since = *self.rewind_since.get_or_insert_with(Instant::now);
        if since.elapsed() >= self.settings.kafka_timeout {
            tracing::error!(
                partitions = self.rewind.len(),
                "seeking back kept failing for {:?}; leaving the group and joining again, \
                 which starts every partition from its committed offset",
                self.settings.kafka_timeout
            );
            self.consumer.unsubscribe();
            self.consumer.subscribe(&self.names.consumed())?;
            self.rewind.clear();
            self.rewind_since = None;
            self.synced_at = None;
            self.windows.clear();
            self.metrics.window_tasks.set(0);
            if self.merge.take().is_some() {
                self.metrics.merge_task.set(0);
            }
            return Err(Interrupted::Rebalance);
        }
        Err(Interrupted::Kafka(KafkaError::Seek(
            "seeking back to the committed offsets".into(),
        )))
    }

    /// Commits every stage and task with its input offsets.
    fn commit(&mut self) -> Result<(), Interrupted> {
        let timeout = self.settings.kafka_timeout;
        let Some(group) = self.consumer.group_metadata() else {
            return Err(Interrupted::Rebalance);
        };
        for task in self.windows.values_mut() {
            task.commit(&self.consumer, &group, &self.names, &self.metrics, timeout)?;
        }
        if let Some(watermark) = self
            .windows
            .values()
            .filter_map(WindowTask::watermark)
            .min()
        {
            self.metrics.watermark_ms.set(watermark);
        }
        if let Some(task) = self.merge.as_mut() {
            task.commit(&self.consumer, &group, &self.names, timeout)?;
        }
        let offsets = self.repartition.offsets(&self.names)?;
        if self.repartition.producer.is_open() || offsets.count() > 0 {
            self.repartition
                .producer
                .commit(&offsets, &self.consumer, &group, timeout)?;
        }
        self.repartition.committed();
        self.metrics.committed_cycles.inc();
        Ok(())
    }

    /// Aborts both stages' open cycles, marks every partition they read to
    /// be sought back to its committed offset, and drops a window store
    /// that took records (restored again on the next cycle).
    fn abort_cycle(&mut self, stop: &StopSignal) {
        let timeout = self.settings.kafka_timeout;
        if let Err(e) = self.repartition.producer.abort(timeout) {
            tracing::warn!("aborting the repartition transaction: {e}; starting a new producer");
            // A new producer with the same id aborts what is left open.
            let mut wait = Duration::from_millis(100);
            loop {
                match StageProducer::new(&self.settings, &self.names.repartition_transactional_id) {
                    Ok(producer) => {
                        self.repartition.producer = producer;
                        break;
                    }
                    Err(e) if !stop.is_cancelled() => {
                        tracing::warn!("starting the repartition producer: {e}; trying again");
                        std::thread::sleep(wait);
                        wait = (wait * 2).min(Duration::from_secs(5));
                    }
                    Err(_) => break,
                }
            }
        }
        for (source, offset) in self.repartition.aborted() {
            let (topic, partition) = source_of(source);
            self.rewind.insert(
                (self.names.input_topic(topic).to_owned(), partition),
                offset,
            );
        }
        for (&partition, task) in self.windows.iter_mut() {
            if let Some(offset) = task.aborted() {
                self.rewind
                    .insert((self.names.repartition.clone(), partition), offset);
            }
        }
        // A window task that took no record in this cycle keeps its store:
        // it matches the committed changelog. One that did is dropped and
        // restored from the changelog at the next cycle.
        let changed: Vec<i32> = self
            .windows
            .iter()
            .filter(|(_, task)| task.changed())
            .map(|(&partition, _)| partition)
            .collect();
        for partition in changed {
            if let Some(mut task) = self.windows.remove(&partition) {
                self.metrics.window_tasks.dec();
                let aborted = task.producer.abort(timeout);
                self.note_abort(aborted, (self.names.repartition.clone(), partition));
            }
        }
        // The merge step's state holds what the cycle read: it is opened
        // again, which replays it from the partials topic.
        if let Some(offset) = self.merge.as_mut().and_then(MergeTask::aborted) {
            self.rewind.insert((self.names.partials.clone(), 0), offset);
            if let Some(mut task) = self.merge.take() {
                self.metrics.merge_task.set(0);
                let aborted = task.producer.abort(timeout);
                self.note_abort(aborted, (self.names.partials.clone(), 0));
            }
        }
        if !self.rewind.is_empty() {
            self.rewind_since.get_or_insert_with(Instant::now);
        }
    }

    /// What a dropped task's abort said: fenced, it waits for the group to
    /// move on, its input partition (`key`) paused.
    fn note_abort(&mut self, aborted: Result<(), KafkaError>, key: (String, i32)) {
        let Err(e) = aborted else {
            return;
        };
        if fenced(&e) {
            // Another instance owns the task now: it is not taken back
            // before the group has moved on.
            tracing::warn!(
                topic = key.0,
                partition = key.1,
                "the task was fenced ({e}); it waits for the next rebalance"
            );
            self.pause(&key.0, key.1, true);
            self.fenced.insert(
                key,
                Fenced {
                    at_rebalance: self.consumer.context().0.load(Ordering::SeqCst),
                    since: Instant::now(),
                },
            );
        } else {
            tracing::warn!(
                topic = key.0,
                partition = key.1,
                "aborting the task's transaction: {e}; the task starts again"
            );
        }
    }

    /// Pauses or resumes fetching `topic`'s `partition` (a task's input); a
    /// partition no longer assigned is left as it is.
    fn pause(&self, topic: &str, partition: i32, pause: bool) {
        let mut list = TopicPartitionList::new();
        list.add_partition(topic, partition);
        let done = if pause {
            self.consumer.pause(&list)
        } else {
            self.consumer.resume(&list)
        };
        if let Err(e) = done {
            tracing::debug!(topic, partition, "pausing or resuming: {e}");
        }
    }
}

/// Now, in epoch milliseconds.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The error for a producer that could not start: refused transactional
/// ids are named as such.
fn refused_or_client(e: KafkaError, id: &str) -> Fatal {
    if transactions_refused(&e) {
        Fatal::TransactionsRefused {
            id: id.to_owned(),
            source: e,
        }
    } else {
        Fatal::Client(e)
    }
}
