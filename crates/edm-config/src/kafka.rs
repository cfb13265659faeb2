//! How to reach the Kafka cluster: brokers from `KAFKA_URL`, TLS material
//! from `KAFKA_TRUSTED_CERT` / `KAFKA_CLIENT_CERT` / `KAFKA_CLIENT_CERT_KEY`,
//! and `KAFKA_PREFIX`. Hands out rdkafka [`ClientConfig`]s.
//!
//! With TLS the client verifies the brokers' chain against the trusted CA(s)
//! but not their host names: Heroku's broker certificates do not match the
//! broker hosts, and Heroku asks clients to work exactly this way.

use std::fmt;

use rdkafka::ClientConfig;
use secrecy::{ExposeSecret, SecretString};

use crate::compression::Compression;
use crate::env::Env;
use crate::error::ConfigError;
use crate::topics::{topics_from_env, validate_kafka_name, ConsumerGroup, Topic};
use crate::topology::topology;

/// One broker address from `KAFKA_URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broker {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl fmt::Display for Broker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Client-certificate TLS, as Heroku's brokers require it.
#[derive(Clone)]
pub struct TlsSettings {
    /// PEM of the CA(s) that signed the brokers' certificates. During a
    /// rotation Heroku puts two CA certificates here; all are trusted.
    pub trusted_certs: String,
    /// PEM client certificate presented to the brokers.
    pub client_cert: String,
    /// PEM private key of the client certificate (PKCS#1 on Heroku).
    pub client_key: SecretString,
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("trusted_certs", &"<PEM>")
            .field("client_cert", &"<PEM>")
            .field("client_key", &"<redacted>")
            .finish()
    }
}

/// Plaintext (local development) or TLS with a client certificate (Heroku).
#[derive(Debug, Clone)]
pub enum Security {
    /// `kafka://host:port` or `host:port` entries.
    Plaintext,
    /// `kafka+ssl://host:port` entries.
    Tls(TlsSettings),
}

/// Everything a client needs to reach the cluster.
#[derive(Debug, Clone)]
pub struct KafkaSettings {
    /// The brokers to bootstrap from.
    pub brokers: Vec<Broker>,
    /// How to talk to them.
    pub security: Security,
    /// Put in front of every topic and group name on the wire (Heroku's
    /// multi-tenant plans refuse unprefixed names). Empty when unset.
    pub prefix: String,
    /// How producers compress record batches (`EDM_KAFKA_COMPRESSION`).
    pub compression: Compression,
}

impl KafkaSettings {
    /// Reads `KAFKA_URL`, `KAFKA_PREFIX`, `EDM_KAFKA_COMPRESSION` and, for
    /// `kafka+ssl://` brokers, the three PEM variables.
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let url = env
            .get("KAFKA_URL")
            .ok_or_else(|| ConfigError::new("KAFKA_URL", "is not set"))?;
        let (brokers, tls) = parse_kafka_url(&url)?;
        let security = if tls {
            Security::Tls(tls_from_env(env)?)
        } else {
            if env.get("KAFKA_CLIENT_CERT").is_some() {
                tracing::warn!(
                    "KAFKA_URL names plaintext brokers; KAFKA_CLIENT_CERT and friends are ignored"
                );
            }
            Security::Plaintext
        };
        let prefix = env.get("KAFKA_PREFIX").unwrap_or_default();
        validate_kafka_name("KAFKA_PREFIX", &prefix)?;
        Ok(Self {
            brokers,
            security,
            prefix,
            compression: Compression::from_env(env)?,
        })
    }

    /// `host:port,host:port`, as librdkafka's `bootstrap.servers` wants it.
    pub fn bootstrap_servers(&self) -> String {
        self.brokers
            .iter()
            .map(Broker::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The name of `topic` on the wire: `KAFKA_PREFIX` + logical name.
    pub fn topic_name(&self, topic: Topic) -> String {
        format!("{}{}", self.prefix, topic.name())
    }

    /// The logical topic behind a wire name, if it is one of ours.
    pub fn topic_from_wire(&self, wire_name: &str) -> Option<Topic> {
        wire_name.strip_prefix(&self.prefix)?.parse().ok()
    }

    /// The name of `group` on the wire: `KAFKA_PREFIX` + logical name.
    pub fn group_name(&self, group: &ConsumerGroup) -> String {
        format!("{}{}", self.prefix, group.name())
    }

    /// Connection and security settings shared by every client.
    /// Never log the result: it holds the client key.
    pub fn client_config(&self, client_id: &str) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", self.bootstrap_servers())
            .set("client.id", client_id)
            // Heroku replaces brokers routinely; keep reconnects brisk.
            .set("reconnect.backoff.max.ms", "2000")
            .set("socket.keepalive.enable", "true");
        match &self.security {
            Security::Plaintext => {
                config.set("security.protocol", "plaintext");
            }
            Security::Tls(tls) => {
                config
                    .set("security.protocol", "ssl")
                    .set("ssl.ca.pem", &tls.trusted_certs)
                    .set("ssl.certificate.pem", &tls.client_cert)
                    .set("ssl.key.pem", tls.client_key.expose_secret())
                    .set("ssl.endpoint.identification.algorithm", "none");
            }
        }
        config
    }

    /// A producer that only reports success once every in-sync replica has
    /// the event (acks=all), with idempotence so retries never duplicate,
    /// compressing its batches with [`Self::compression`].
    pub fn producer_config(&self, client_id: &str) -> ClientConfig {
        let mut config = self.client_config(client_id);
        config
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("linger.ms", "2")
            .set("compression.type", self.compression.name());
        config
    }

    /// A consumer in `group` (prefixed here) that stores offsets only when
    /// told to, so an offset never runs ahead of the work it stands for.
    pub fn consumer_config(&self, client_id: &str, group: &ConsumerGroup) -> ClientConfig {
        let mut config = self.client_config(client_id);
        config
            .set("group.id", self.group_name(group))
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("partition.assignment.strategy", "cooperative-sticky")
            // A crashed (SIGKILLed) member's partitions move after 10 s
            // rather than librdkafka's default 45 s.
            .set("session.timeout.ms", "10000")
            .set("heartbeat.interval.ms", "2000")
            // A subscribed topic missing from the metadata at a rebalance
            // (created a moment before the service started, or after) is
            // assigned at the next metadata refresh: every 10 s rather
            // than librdkafka's default 5 minutes. Partitions added to a
            // topic are picked up as soon.
            .set(
                "topic.metadata.refresh.interval.ms",
                METADATA_REFRESH_MS.to_string(),
            );
        config
    }
}

/// How often consumers refresh the cluster's metadata, in milliseconds.
const METADATA_REFRESH_MS: u32 = 10_000;

/// Parses `KAFKA_URL`; returns the brokers and whether they speak TLS.
fn parse_kafka_url(url: &str) -> Result<(Vec<Broker>, bool), ConfigError> {
    let err = |problem: String| ConfigError::new("KAFKA_URL", problem);
    let mut brokers = Vec::new();
    let mut tls_flags = Vec::new();
    for (i, entry) in url.split(',').map(str::trim).enumerate() {
        let n = i + 1;
        if entry.is_empty() {
            return Err(err(format!("entry {n} is empty")));
        }
        let (tls, address) = if let Some(rest) = entry.strip_prefix("kafka+ssl://") {
            (true, rest)
        } else if let Some(rest) = entry.strip_prefix("kafka://") {
            (false, rest)
        } else if entry.contains("://") {
            return Err(err(format!(
                "entry {n} has an unsupported scheme (use kafka+ssl://, kafka:// or host:port)"
            )));
        } else {
            (false, entry)
        };
        let address = address.trim_end_matches('/');
        let (host, port) = if let Some(rest) = address.strip_prefix('[') {
            let (host, after) = rest
                .split_once(']')
                .ok_or_else(|| err(format!("entry {n} has an unclosed '['")))?;
            (host, after.strip_prefix(':'))
        } else {
            match address.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (address, None),
            }
        };
        if host.is_empty() {
            return Err(err(format!("entry {n} has no host")));
        }
        if host.contains(['/', '@', ' ', '?', '#']) {
            return Err(err(format!("entry {n} is not host:port")));
        }
        let port = port.ok_or_else(|| err(format!("entry {n} has no port")))?;
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| err(format!("entry {n} has an invalid port (expected 1-65535)")))?;
        brokers.push(Broker {
            host: host.to_owned(),
            port,
        });
        tls_flags.push(tls);
    }
    let tls = tls_flags[0];
    if tls_flags.iter().any(|t| *t != tls) {
        return Err(err(
            "mixes kafka+ssl:// and plaintext entries; use one kind".into(),
        ));
    }
    Ok((brokers, tls))
}

/// Reads and checks the three PEM variables that TLS brokers require.
fn tls_from_env(env: &impl Env) -> Result<TlsSettings, ConfigError> {
    let trusted = env.get("KAFKA_TRUSTED_CERT");
    let cert = env.get("KAFKA_CLIENT_CERT");
    let key = env.get("KAFKA_CLIENT_CERT_KEY");
    let (trusted, cert, key) = match (trusted, cert, key) {
        (Some(t), Some(c), Some(k)) => (t, c, k),
        (None, _, _) => {
            return Err(ConfigError::new(
                "KAFKA_TRUSTED_CERT",
                "is not set, but KAFKA_URL names kafka+ssl:// brokers",
            ))
        }
        (_, None, _) => {
            return Err(ConfigError::new(
                "KAFKA_CLIENT_CERT",
                "is not set, but KAFKA_URL names kafka+ssl:// brokers (the brokers refuse clients without a certificate)",
            ))
        }
        (_, Some(_), None) => {
            return Err(ConfigError::new(
                "KAFKA_CLIENT_CERT_KEY",
                "is not set, but KAFKA_CLIENT_CERT is",
            ))
        }
    };
    check_certificates("KAFKA_TRUSTED_CERT", &trusted)?;
    check_certificates("KAFKA_CLIENT_CERT", &cert)?;
    check_private_key(&key)?;
    Ok(TlsSettings {
        trusted_certs: trusted,
        client_cert: cert,
        client_key: SecretString::from(key),
    })
}

/// `text` must be one or more PEM certificates and nothing else.
fn check_certificates(variable: &'static str, text: &str) -> Result<(), ConfigError> {
    let blocks = pem::parse_many(text).map_err(|_| {
        ConfigError::new(
            variable,
            "is not PEM (expected -----BEGIN CERTIFICATE----- blocks)",
        )
    })?;
    if blocks.is_empty() {
        return Err(ConfigError::new(
            variable,
            "is not PEM (expected -----BEGIN CERTIFICATE----- blocks)",
        ));
    }
    if let Some(block) = blocks.iter().find(|b| b.tag() != "CERTIFICATE") {
        return Err(ConfigError::new(
            variable,
            format!("holds a {} block; expected certificates only", block.tag()),
        ));
    }
    Ok(())
}

/// The key must be one unencrypted PEM private key. The message never
/// includes any of its text.
fn check_private_key(text: &str) -> Result<(), ConfigError> {
    const VAR: &str = "KAFKA_CLIENT_CERT_KEY";
    let not_pem = || {
        ConfigError::new(
            VAR,
            "is not a PEM private key (expected -----BEGIN RSA PRIVATE KEY----- or -----BEGIN PRIVATE KEY-----)",
        )
    };
    let blocks = pem::parse_many(text).map_err(|_| not_pem())?;
    match blocks.as_slice() {
        [block] => match block.tag() {
            "RSA PRIVATE KEY" | "PRIVATE KEY" | "EC PRIVATE KEY" => Ok(()),
            "ENCRYPTED PRIVATE KEY" => Err(ConfigError::new(
                VAR,
                "is encrypted; an unencrypted key is needed",
            )),
            _ => Err(not_pem()),
        },
        [] => Err(not_pem()),
        _ => Err(ConfigError::new(VAR, "holds more than one PEM block")),
    }
}

/// What a consumer service reads from the environment: the cluster, the
/// topics to read (`KAFKA_TOPIC`) and its consumer group
/// (`KAFKA_CONSUMER_GROUP`).
#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    /// How to reach the cluster.
    pub kafka: KafkaSettings,
    /// Logical topics to read (`KAFKA_TOPIC`, default every topic the
    /// service handles).
    pub topics: Vec<Topic>,
    /// Logical consumer group; the prefix is added on the wire.
    pub group: ConsumerGroup,
}

impl ConsumerSettings {
    /// Reads them, with `default_group` when `KAFKA_CONSUMER_GROUP` is
    /// unset. `handled` are the topics the service can read (e.g.
    /// [`Topic::STORE_EVENTS`]): all of them by default, and `KAFKA_TOPIC`
    /// may only choose among them (see [`topics_from_env`]).
    pub fn from_env(
        env: &impl Env,
        default_group: &str,
        handled: &[Topic],
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            kafka: KafkaSettings::from_env(env)?,
            topics: topics_from_env(env, handled)?,
            group: ConsumerGroup::from_env(env, default_group)?,
        })
    }

    /// Reads them for `service`, whose default group is its group in
    /// `topology.json` (its own name when the topology gives it none);
    /// `handled` as in [`ConsumerSettings::from_env`].
    pub fn for_service(
        env: &impl Env,
        service: &str,
        handled: &[Topic],
    ) -> Result<Self, ConfigError> {
        let spec = topology().service(service);
        Self::from_env(
            env,
            spec.consumer_group.as_deref().unwrap_or(service),
            handled,
        )
    }

    /// The wire names of the topics to read.
    pub fn topic_names(&self) -> Vec<String> {
        self.topics
            .iter()
            .map(|topic| self.kafka.topic_name(*topic))
            .collect()
    }

    /// The wire name of the group.
    pub fn group_name(&self) -> String {
        self.kafka.group_name(&self.group)
    }

    /// A consumer config in the group (see [`KafkaSettings::consumer_config`]).
    pub fn consumer_config(&self, client_id: &str) -> ClientConfig {
        self.kafka.consumer_config(client_id, &self.group)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MapEnv;

    // Syntactically valid PEM; the tests here never reach a broker.
    const CERT: &str = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n";
    const KEY: &str = "-----BEGIN RSA PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END RSA PRIVATE KEY-----\n";

    fn tls_env() -> MapEnv {
        MapEnv::default()
            .with(
                "KAFKA_URL",
                "kafka+ssl://b1.example:9096,kafka+ssl://b2.example:9096",
            )
            .with("KAFKA_TRUSTED_CERT", CERT)
            .with("KAFKA_CLIENT_CERT", CERT)
            .with("KAFKA_CLIENT_CERT_KEY", KEY)
    }

    fn err_of(env: &MapEnv) -> String {
        KafkaSettings::from_env(env).unwrap_err().to_string()
    }

    #[test]
    fn parses_every_url_form() {
        let (brokers, tls) = parse_kafka_url("kafka+ssl://a:1,kafka+ssl://b.c:9096").unwrap();
        assert!(tls);
        assert_eq!(
            brokers[1],
            Broker {
                host: "b.c".into(),
                port: 9096
            }
        );
        let (brokers, tls) = parse_kafka_url("kafka://localhost:9092, 127.0.0.1:9093").unwrap();
        assert!(!tls);
        assert_eq!(brokers.len(), 2);
        let (brokers, _) = parse_kafka_url("[::1]:9092").unwrap();
        assert_eq!(brokers[0].to_string(), "[::1]:9092");
    }

    #[test]
    fn names_the_bad_entry() {
        let env = |url: &str| MapEnv::default().with("KAFKA_URL", url);
        assert_eq!(err_of(&env("a:1,b")), "KAFKA_URL entry 2 has no port");
        assert_eq!(
            err_of(&env("a:x")),
            "KAFKA_URL entry 1 has an invalid port (expected 1-65535)"
        );
        assert_eq!(
            err_of(&env("a:70000")),
            "KAFKA_URL entry 1 has an invalid port (expected 1-65535)"
        );
        assert_eq!(err_of(&env("a:1,,b:2")), "KAFKA_URL entry 2 is empty");
        assert_eq!(err_of(&env(":9092")), "KAFKA_URL entry 1 has no host");
        assert!(err_of(&env("http://a:1")).contains("unsupported scheme"));
        assert!(err_of(&env("kafka+ssl://a:1,kafka://b:2")).contains("mixes"));
        assert_eq!(err_of(&MapEnv::default()), "KAFKA_URL is not set");
    }

    #[test]
    fn tls_needs_all_three_pem_values() {
        let mut env = tls_env();
        env.0.remove("KAFKA_CLIENT_CERT_KEY");
        assert_eq!(
            err_of(&env),
            "KAFKA_CLIENT_CERT_KEY is not set, but KAFKA_CLIENT_CERT is"
        );
        let mut env = tls_env();
        env.0.remove("KAFKA_TRUSTED_CERT");
        assert!(err_of(&env).starts_with("KAFKA_TRUSTED_CERT is not set"));
        let mut env = tls_env();
        env.0.remove("KAFKA_CLIENT_CERT");
        assert!(err_of(&env).starts_with("KAFKA_CLIENT_CERT is not set"));
    }

    #[test]
    fn malformed_pem_is_named_and_never_echoed() {
        let env = tls_env().with("KAFKA_TRUSTED_CERT", "hunter2-not-a-cert");
        let msg = err_of(&env);
        assert!(msg.starts_with("KAFKA_TRUSTED_CERT is not PEM"), "{msg}");
        assert!(!msg.contains("hunter2"));

        let env = tls_env().with("KAFKA_CLIENT_CERT", KEY);
        assert_eq!(
            err_of(&env),
            "KAFKA_CLIENT_CERT holds a RSA PRIVATE KEY block; expected certificates only"
        );

        let env = tls_env().with("KAFKA_CLIENT_CERT_KEY", "s3cr3t-key-material");
        let msg = err_of(&env);
        assert!(msg.starts_with("KAFKA_CLIENT_CERT_KEY is not a PEM private key"));
        assert!(!msg.contains("s3cr3t"));
    }

    #[test]
    fn two_trusted_cas_are_accepted() {
        let env = tls_env().with("KAFKA_TRUSTED_CERT", format!("{CERT}{CERT}"));
        assert!(KafkaSettings::from_env(&env).is_ok());
    }

    #[test]
    fn debug_output_hides_the_key() {
        let settings = KafkaSettings::from_env(&tls_env()).unwrap();
        let shown = format!("{settings:?}");
        assert!(!shown.contains("c2VjcmV0"), "{shown}");
        assert!(!shown.contains("BEGIN"), "{shown}");
    }

    #[test]
    fn tls_client_config_checks_the_chain_but_not_the_host_name() {
        let settings = KafkaSettings::from_env(&tls_env()).unwrap();
        let config = settings.client_config("test");
        assert_eq!(config.get("security.protocol"), Some("ssl"));
        assert_eq!(
            config.get("ssl.endpoint.identification.algorithm"),
            Some("none")
        );
        assert_eq!(config.get("ssl.ca.pem"), Some(CERT.trim_end()));
        assert_eq!(
            config.get("bootstrap.servers"),
            Some("b1.example:9096,b2.example:9096")
        );
    }

    #[test]
    fn prefix_is_applied_to_topics_and_groups() {
        let env = MapEnv::default()
            .with("KAFKA_URL", "localhost:9092")
            .with("KAFKA_PREFIX", "pendoreille-6647.");
        let settings = KafkaSettings::from_env(&env).unwrap();
        assert_eq!(
            settings.topic_name(Topic::Click),
            "pendoreille-6647.edm-ui-click"
        );
        assert_eq!(
            settings.topic_from_wire("pendoreille-6647.edm-ui-pageload"),
            Some(Topic::PageLoad)
        );
        assert_eq!(settings.topic_from_wire("edm-ui-pageload"), None);
        let group = ConsumerGroup::new("edm-consumer-group-2").unwrap();
        assert_eq!(
            settings.group_name(&group),
            "pendoreille-6647.edm-consumer-group-2"
        );
        let config = settings.consumer_config("test", &group);
        assert_eq!(
            config.get("group.id"),
            Some("pendoreille-6647.edm-consumer-group-2")
        );
        assert_eq!(config.get("enable.auto.offset.store"), Some("false"));
        assert_eq!(settings.producer_config("p").get("acks"), Some("all"));
    }

    #[test]
    fn bad_prefix_is_refused() {
        let env = MapEnv::default()
            .with("KAFKA_URL", "localhost:9092")
            .with("KAFKA_PREFIX", "bad/prefix.");
        assert!(err_of(&env).starts_with("KAFKA_PREFIX contains '/'"));
    }
}
