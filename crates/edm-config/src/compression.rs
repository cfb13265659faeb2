//! `EDM_KAFKA_COMPRESSION`: how every producer of the project compresses
//! the record batches it writes (librdkafka's `compression.type`). Kafka
//! keeps a batch as its producer compressed it, so this sets the bytes on
//! the brokers, on the network and against a Heroku plan's produce quota.
//! Consumers decompress whatever they read, whatever another producer
//! chose: every codec is built in.

use std::fmt;

use crate::env::Env;
use crate::error::ConfigError;

/// A record-batch codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// No compression.
    None,
    /// gzip.
    Gzip,
    /// Snappy.
    Snappy,
    /// LZ4 (the default).
    Lz4,
    /// Zstandard.
    Zstd,
}

impl Compression {
    /// Every codec, in the order the variable's error lists them.
    pub const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    /// LZ4: see docs/benchmarks.md, "Kafka bytes per event".
    pub const DEFAULT: Compression = Compression::Lz4;

    /// The name librdkafka and the variable use.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }

    /// `EDM_KAFKA_COMPRESSION`, or the default when unset.
    pub fn from_env(env: &(impl Env + ?Sized)) -> Result<Self, ConfigError> {
        const VARIABLE: &str = "EDM_KAFKA_COMPRESSION";
        let Some(value) = env.get(VARIABLE) else {
            return Ok(Self::DEFAULT);
        };
        Self::ALL
            .into_iter()
            .find(|c| c.name() == value.trim())
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|c| c.name()).collect();
                ConfigError::new(
                    VARIABLE,
                    format!("is {value:?}; use one of {}", names.join(", ")),
                )
            })
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::MapEnv;

    #[test]
    fn unset_is_the_default_and_every_name_reads_back() {
        assert_eq!(
            Compression::from_env(&MapEnv::default()).unwrap(),
            Compression::DEFAULT
        );
        for codec in Compression::ALL {
            let env = MapEnv::from_pairs([("EDM_KAFKA_COMPRESSION", codec.name())]);
            assert_eq!(Compression::from_env(&env).unwrap(), codec);
        }
    }

    #[test]
    fn an_unknown_codec_is_named_with_the_choices() {
        let env = MapEnv::from_pairs([("EDM_KAFKA_COMPRESSION", "brotli")]);
        let error = Compression::from_env(&env).unwrap_err().to_string();
        assert!(error.contains("EDM_KAFKA_COMPRESSION"), "{error}");
        assert!(
            error.contains("brotli") && error.contains("lz4, zstd"),
            "{error}"
        );
    }
}
