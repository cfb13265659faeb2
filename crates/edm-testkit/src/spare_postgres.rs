//! A spare PostgreSQL server that one test owns, so it can stop and restart
//! it (a database outage) without disturbing other tests. Started by
//! `./edm postgres up` with its own port and data folder.

use std::path::PathBuf;
use std::process::Command;

use crate::infra;

/// A real PostgreSQL on a free port, removed when dropped.
pub struct SparePostgres {
    state_dir: PathBuf,
    port: u16,
}

impl SparePostgres {
    /// Starts a new server (TLS on, database `edm`) and waits until it listens.
    pub async fn start() -> Self {
        let pg = Self {
            state_dir: std::env::temp_dir()
                .join(format!("edm-spare-pg-{}", uuid::Uuid::new_v4().simple())),
            port: crate::broker::free_port(),
        };
        pg.edm("up").await;
        pg
    }

    /// `DATABASE_URL` of its `edm` database (TLS required by default).
    pub fn url(&self) -> String {
        format!("postgres://edm:edm@127.0.0.1:{}/edm", self.port)
    }

    /// Stops it (fast shutdown: connections are cut).
    pub async fn stop(&self) {
        self.edm("down").await;
    }

    /// Starts it again with the same data.
    pub async fn restart(&self) {
        self.edm("up").await;
    }

    fn command(&self, action: &str) -> Command {
        let mut cmd = Command::new(infra::workspace_root().join("edm"));
        cmd.args(["postgres", action])
            .env("EDM_STATE_DIR", &self.state_dir)
            .env("EDM_CERTS", infra::var("EDM_TEST_CERTS_DIR"))
            .env("EDM_PG_PORT", self.port.to_string());
        cmd
    }

    async fn edm(&self, action: &'static str) {
        let mut cmd = self.command(action);
        let output = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .expect("join")
            .expect("run ./edm");
        assert!(
            output.status.success(),
            "./edm postgres {action} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for SparePostgres {
    fn drop(&mut self) {
        let _ = self.command("wipe").output();
        let _ = std::fs::remove_dir_all(&self.state_dir);
    }
}
