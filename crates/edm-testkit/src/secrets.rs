//! Known secret values for log-scanning tests: the real test client key
//! (TLS to the broker) and a Postgres role with a distinctive password.
//! A test runs a service with these, at the most verbose log level, and
//! checks that no line of its output contains any of them.

use edm_config::MapEnv;
use sqlx::{Connection, Executor, PgConnection};

use crate::infra;
use crate::postgres::TestDatabase;

/// Secrets a service under test is given.
pub struct Secrets {
    /// Strings that must never appear in output.
    pub values: Vec<String>,
}

impl Secrets {
    /// The base64 lines of the client key (every line of 16+ characters).
    pub fn client_key() -> Self {
        let key = infra::cert("client.key");
        Self {
            values: key
                .lines()
                .filter(|l| !l.starts_with("-----") && l.len() >= 16)
                .map(str::to_owned)
                .collect(),
        }
    }

    /// Lines of `output` that contain a secret (empty when clean).
    pub fn leaks(&self, output: &str) -> Vec<String> {
        output
            .lines()
            .filter(|line| self.values.iter().any(|s| line.contains(s.as_str())))
            .map(|l| l.chars().take(200).collect())
            .collect()
    }
}

/// TLS settings for the test broker (client key included) under `prefix`.
pub fn tls_service_env(prefix: &str) -> MapEnv {
    infra::tls_env(prefix)
}

/// Makes `db` owned by a new role whose password is a distinctive secret;
/// returns the URL that logs in as that role, and the password.
pub async fn database_with_secret_password(db: &TestDatabase) -> (String, String) {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let role = format!("role_{suffix}");
    let password = format!("S3cret-Pw-{suffix}");
    let base = infra::var("DATABASE_URL");
    let options: sqlx::postgres::PgConnectOptions = base.parse().expect("DATABASE_URL");
    let mut admin = PgConnection::connect_with(&options.database(&db.name))
        .await
        .expect("connect");
    admin
        .execute(format!("CREATE ROLE {role} LOGIN PASSWORD '{password}'").as_str())
        .await
        .expect("create role");
    admin
        .execute(format!(r#"ALTER DATABASE "{}" OWNER TO {role}"#, db.name).as_str())
        .await
        .expect("hand the database over");
    admin
        .execute(format!("ALTER SCHEMA public OWNER TO {role}").as_str())
        .await
        .expect("schema");
    let host = base
        .split('@')
        .nth(1)
        .and_then(|h| h.split('/').next())
        .expect("host:port");
    (
        format!("postgres://{role}:{password}@{host}/{}", db.name),
        password,
    )
}
