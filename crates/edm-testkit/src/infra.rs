//! Where the test infrastructure is. Variables come from the environment
//! (`./edm test` exports them) or, when unset, from the `.edm/env` file that
//! `./edm infra up` writes, so a plain `cargo test` works after `infra up`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use edm_config::MapEnv;

/// The workspace root (where `./edm` lives).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root exists")
}

fn env_file() -> &'static HashMap<String, String> {
    static FILE: OnceLock<HashMap<String, String>> = OnceLock::new();
    FILE.get_or_init(|| {
        let path = workspace_root().join(".edm/env");
        let Ok(text) = std::fs::read_to_string(path) else {
            return HashMap::new();
        };
        text.lines()
            .filter_map(|line| line.strip_prefix("export "))
            .filter_map(|line| line.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    })
}

/// The value of an infrastructure variable; panics with what to do when the
/// infrastructure is not running.
pub fn var(name: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .or_else(|| env_file().get(name).cloned())
        .unwrap_or_else(|| {
            panic!("{name} is not set: start the test infrastructure with `./edm infra up` (or run `./edm test`)")
        })
}

/// The plaintext bootstrap address of the single test broker.
pub fn kafka_url() -> String {
    var("KAFKA_URL")
}

/// A path inside the folder of test certificates.
pub fn cert_path(file: &str) -> PathBuf {
    PathBuf::from(var("EDM_TEST_CERTS_DIR")).join(file)
}

/// The text of a test certificate or key (e.g. `ca.pem`, `client.key`).
pub fn cert(file: &str) -> String {
    std::fs::read_to_string(cert_path(file))
        .unwrap_or_else(|e| panic!("reading test certificate {file}: {e}"))
}

/// An environment for a service under test: the plaintext broker and the
/// given prefix, plus whatever `extra` pairs the test needs.
pub fn service_env(prefix: &str, extra: &[(&str, &str)]) -> MapEnv {
    service_env_at(&kafka_url(), prefix, extra)
}

/// Like [`service_env`], for the broker at `bootstrap`.
pub fn service_env_at(bootstrap: &str, prefix: &str, extra: &[(&str, &str)]) -> MapEnv {
    let mut env = MapEnv::default()
        .with("KAFKA_URL", bootstrap)
        .with("KAFKA_PREFIX", prefix);
    for (k, v) in extra {
        env = env.with(k, *v);
    }
    env
}

/// An environment that reaches the broker's TLS listener with the client
/// certificate signed by the test CA (key in PKCS#1 form, as on Heroku).
pub fn tls_env(prefix: &str) -> MapEnv {
    tls_env_at(&var("EDM_TEST_KAFKA_TLS_URL"), prefix)
}

/// Like [`tls_env`], for the TLS listener at `url` (`kafka+ssl://…`): the
/// Kafka config vars Heroku gives an app.
pub fn tls_env_at(url: &str, prefix: &str) -> MapEnv {
    MapEnv::default()
        .with("KAFKA_URL", url)
        .with("KAFKA_PREFIX", prefix)
        .with("KAFKA_TRUSTED_CERT", cert("ca.pem"))
        .with("KAFKA_CLIENT_CERT", cert("client.pem"))
        .with("KAFKA_CLIENT_CERT_KEY", cert("client.key"))
}
