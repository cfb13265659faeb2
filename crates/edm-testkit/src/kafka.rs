//! Ephemeral Kafka topics for one test, and helpers to read what was written.

use std::time::Duration;

use edm_config::{KafkaSettings, Topic};
use futures::StreamExt;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::OwnedMessage;
use rdkafka::Message;

use crate::infra;

/// Partitions per test topic: more than one, so ordering and rebalancing
/// are real.
pub const TEST_PARTITIONS: i32 = 3;

/// A random `KAFKA_PREFIX` with every EDM topic created under it; the topics
/// are deleted when the guard drops.
pub struct TestTopics {
    /// The prefix, e.g. `t-1f3a….`; pass it to the service as `KAFKA_PREFIX`.
    pub prefix: String,
    /// Settings for the plaintext test broker with that prefix.
    pub settings: KafkaSettings,
    admin: AdminClient<DefaultClientContext>,
    /// Internal topics created with [`Self::create_internal`].
    internal: Vec<String>,
}

impl TestTopics {
    /// Creates every EDM topic under a fresh prefix: `<prefix>edm-ui-click`,
    /// `<prefix>edm-ui-pageload` and `<prefix>edm-trending`.
    pub async fn create() -> Self {
        Self::create_at(&infra::kafka_url()).await
    }

    /// Creates the topics under a random prefix on the broker at `bootstrap`.
    pub async fn create_at(bootstrap: &str) -> Self {
        let prefix = format!("t-{}.", uuid::Uuid::new_v4().simple());
        Self::create_with(&prefix, infra::service_env_at(bootstrap, &prefix, &[])).await
    }

    /// Creates the topics under `prefix` through the broker that `env` names.
    pub async fn create_with(prefix: &str, env: edm_config::MapEnv) -> Self {
        let settings = KafkaSettings::from_env(&env).expect("test Kafka settings are valid");
        let admin: AdminClient<DefaultClientContext> = settings
            .client_config("edm-testkit-admin")
            .create()
            .expect("admin client");
        let names: Vec<String> = Topic::ALL.iter().map(|t| settings.topic_name(*t)).collect();
        let new_topics: Vec<NewTopic> = names
            .iter()
            .map(|n| NewTopic::new(n, TEST_PARTITIONS, TopicReplication::Fixed(1)))
            .collect();
        create_topics(&admin, &new_topics).await;
        Self {
            prefix: prefix.to_owned(),
            settings,
            admin,
            internal: Vec::new(),
        }
    }

    /// Creates edm-trending's internal topics (`topology.json`'s
    /// `internal_topics`) under the prefix, as `./edm topics` does, so
    /// that edm-trending runs on these topics.
    pub async fn create_internal(&mut self) {
        let internal = &edm_config::topology::topology().internal_topics;
        let names: Vec<String> = internal
            .iter()
            .map(|t| format!("{}{}", self.prefix, t.name))
            .collect();
        let new_topics: Vec<NewTopic> = internal
            .iter()
            .zip(&names)
            .map(|(t, name)| {
                NewTopic::new(name, t.partitions, TopicReplication::Fixed(1))
                    .set("cleanup.policy", t.cleanup_policy())
            })
            .collect();
        create_topics(&self.admin, &new_topics).await;
        self.internal.extend(names);
    }

    /// The wire name of `topic` under this prefix.
    pub fn name(&self, topic: Topic) -> String {
        self.settings.topic_name(topic)
    }

    /// Deletes `topic` and creates it again, empty, as an operator might.
    pub async fn recreate(&self, topic: Topic) {
        self.delete(topic).await;
        self.create_again(topic).await;
    }

    /// Deletes `topic` and waits until the broker's metadata no longer
    /// lists it (deletion finishes in the background); it is created
    /// again by [`TestTopics::create_again`].
    pub async fn delete(&self, topic: Topic) {
        let name = self.name(topic);
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        for r in self
            .admin
            .delete_topics(&[&name], &opts)
            .await
            .expect("delete topic")
        {
            r.unwrap_or_else(|(name, err)| panic!("deleting topic {name}: {err}"));
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let gone = self
                .admin
                .inner()
                .fetch_metadata(Some(&name), Duration::from_secs(5))
                .map(|m| {
                    m.topics()
                        .iter()
                        .all(|t| t.error().is_some() || t.partitions().is_empty())
                })
                .unwrap_or(false);
            if gone {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "topic {name} still listed 30 s after its deletion"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Creates `topic` after [`TestTopics::delete`] (Kafka deletes in the
    /// background: creating is retried until it passes).
    pub async fn create_again(&self, topic: Topic) {
        let name = self.name(topic);
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        let new_topic = NewTopic::new(&name, TEST_PARTITIONS, TopicReplication::Fixed(1));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let created = self
                .admin
                .create_topics([&new_topic], &opts)
                .await
                .expect("create topic");
            match created.into_iter().next().expect("one result") {
                Ok(_) => return,
                // "Topic is marked for deletion" until the broker is done.
                Err(_) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err((name, e)) => panic!("creating topic {name} again: {e}"),
            }
        }
    }

    /// Deletes every record of `topic` written so far, in all partitions,
    /// as retention would: its log then starts where it ends.
    pub async fn delete_all_records(&self, topic: Topic) {
        let name = self.name(topic);
        let mut partitions = rdkafka::TopicPartitionList::new();
        for p in 0..TEST_PARTITIONS {
            partitions
                .add_partition_offset(&name, p, rdkafka::Offset::End)
                .expect("a partition");
        }
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        let result = self
            .admin
            .delete_records(&partitions, &opts)
            .await
            .expect("delete records");
        for e in result.elements() {
            if let Err(err) = e.error() {
                panic!("deleting records of {name}/{}: {err}", e.partition());
            }
        }
    }

    /// Reads `topic` from the beginning until `count` messages arrived or
    /// `timeout` passed; returns what arrived, in partition order.
    pub async fn read(&self, topic: Topic, count: usize, timeout: Duration) -> Vec<OwnedMessage> {
        read_topic(&self.settings, &self.name(topic), count, timeout).await
    }
}

impl Drop for TestTopics {
    fn drop(&mut self) {
        let mut names: Vec<String> = Topic::ALL.iter().map(|t| self.name(*t)).collect();
        names.extend(self.internal.iter().cloned());
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        // The admin client polls on its own thread, so blocking here is fine.
        let _ = futures::executor::block_on(self.admin.delete_topics(&refs, &AdminOptions::new()));
    }
}

/// Creates `topics`; panics naming the first that could not be.
async fn create_topics(admin: &AdminClient<DefaultClientContext>, topics: &[NewTopic<'_>]) {
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin
        .create_topics(topics, &opts)
        .await
        .expect("create topics");
    for r in results {
        r.unwrap_or_else(|(name, err)| panic!("creating topic {name}: {err}"));
    }
}

/// Reads a topic from the beginning with a throwaway consumer group.
pub async fn read_topic(
    settings: &KafkaSettings,
    topic: &str,
    count: usize,
    timeout: Duration,
) -> Vec<OwnedMessage> {
    let group =
        edm_config::ConsumerGroup::new(&format!("reader-{}", uuid::Uuid::new_v4().simple()))
            .expect("valid group");
    let consumer: StreamConsumer = settings
        .consumer_config("edm-testkit-reader", &group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + timeout;
    let mut stream = consumer.stream();
    while out.len() < count {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(Ok(message))) => out.push(message.detach()),
            Ok(Some(Err(e))) => panic!("reading {topic}: {e}"),
            Ok(None) | Err(_) => break,
        }
    }
    out
}

/// The payload of a message as text.
pub fn payload_text(message: &OwnedMessage) -> String {
    String::from_utf8(message.payload().unwrap_or_default().to_vec()).expect("UTF-8 payload")
}

/// Writes raw messages to a topic, as any producer could.
pub struct RawProducer {
    producer: rdkafka::producer::FutureProducer,
}

impl RawProducer {
    /// A producer for the cluster `settings` names.
    pub fn new(settings: &KafkaSettings) -> Self {
        Self {
            producer: settings
                .producer_config("edm-testkit-producer")
                .create()
                .expect("producer"),
        }
    }

    /// Writes many messages to one topic at once and waits for all
    /// acknowledgements. Each item is (key, payload).
    pub async fn send_all(&self, topic: &str, items: &[(String, String)]) {
        let sends = items.iter().map(|(key, payload)| {
            self.producer.send(
                rdkafka::producer::FutureRecord::to(topic)
                    .key(key)
                    .payload(payload),
                Duration::from_secs(30),
            )
        });
        for result in futures::future::join_all(sends).await {
            result
                .map_err(|(e, _)| e)
                .expect("test message acknowledged");
        }
    }

    /// Writes one message (with an `edm-event-id` header when `event_id`
    /// is given) and waits for the acknowledgement.
    pub async fn send(&self, topic: &str, key: &str, payload: &[u8], event_id: Option<&str>) {
        self.enqueue(topic, key, payload, event_id)
            .await
            .expect("the producer is alive")
            .map_err(|(e, _)| e)
            .expect("test message acknowledged");
    }

    /// Writes one message to partition `partition` of `topic`, keyed
    /// `key`, and waits for the acknowledgement.
    pub async fn send_to(&self, topic: &str, partition: i32, key: &str, payload: &[u8]) {
        self.producer
            .send(
                rdkafka::producer::FutureRecord::to(topic)
                    .partition(partition)
                    .key(key)
                    .payload(payload),
                Duration::from_secs(30),
            )
            .await
            .map_err(|(e, _)| e)
            .expect("test message acknowledged");
    }

    /// Writes one message as the original reference relay wrote it: the
    /// event's JSON as the value, no key and no headers; waits for the
    /// acknowledgement.
    pub async fn send_unkeyed(&self, topic: &str, payload: &[u8]) {
        self.producer
            .send(
                rdkafka::producer::FutureRecord::<(), [u8]>::to(topic).payload(payload),
                Duration::from_secs(30),
            )
            .await
            .map_err(|(e, _)| e)
            .expect("test message acknowledged");
    }

    /// Queues one message now, in call order (messages to one partition
    /// are written in that order), without waiting for its acknowledgement:
    /// await the returned future for it. For a steady rate that does not
    /// depend on the brokers' round trip.
    pub fn enqueue(
        &self,
        topic: &str,
        key: &str,
        payload: &[u8],
        event_id: Option<&str>,
    ) -> rdkafka::producer::DeliveryFuture {
        use rdkafka::message::{Header, OwnedHeaders};
        let mut record = rdkafka::producer::FutureRecord::to(topic)
            .key(key)
            .payload(payload);
        if let Some(id) = event_id {
            record = record.headers(OwnedHeaders::new().insert(Header {
                key: edm_events::EVENT_ID_HEADER,
                value: Some(id),
            }));
        }
        self.producer
            .send_result(record)
            .map_err(|(e, _)| e)
            .expect("the producer's queue takes the test message")
    }
}
