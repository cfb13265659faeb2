//! A fresh Postgres database per test, dropped afterwards.

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, Executor, PgConnection, PgPool};

use crate::infra;

/// A database that exists for one test.
pub struct TestDatabase {
    /// Its name.
    pub name: String,
    /// A URL for it, as a service would get it in `DATABASE_URL`.
    pub url: String,
}

impl TestDatabase {
    /// Creates an empty database with a random name.
    pub async fn create() -> Self {
        let base = infra::var("DATABASE_URL");
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect_with(&admin_options(&base))
            .await
            .expect("connect to the test Postgres (is ./edm infra up running?)");
        admin
            .execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
            .await
            .expect("create test database");
        let (without_db, query) = match base.split_once('?') {
            Some((u, q)) => (u.to_owned(), format!("?{q}")),
            None => (base.clone(), String::new()),
        };
        let server = without_db
            .rsplit_once('/')
            .map(|(s, _)| s)
            .unwrap_or(&without_db);
        Self {
            url: format!("{server}/{name}{query}"),
            name,
        }
    }

    /// A small pool on this database.
    pub async fn pool(&self) -> PgPool {
        PgPoolOptions::new()
            .max_connections(4)
            .connect_with(PgConnectOptions::from_str(&self.url).expect("valid URL"))
            .await
            .expect("connect to test database")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let base = infra::var("DATABASE_URL");
        let name = self.name.clone();
        // Drop runs outside any async context we can rely on: use a thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let mut admin = PgConnection::connect_with(&admin_options(&base))
                    .await
                    .ok()?;
                admin
                    .execute(format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#).as_str())
                    .await
                    .ok()
            })
        })
        .join();
    }
}

fn admin_options(url: &str) -> PgConnectOptions {
    PgConnectOptions::from_str(url)
        .expect("DATABASE_URL is a Postgres URL")
        .database("postgres")
}
