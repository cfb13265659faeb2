//! [`TestService`]: any EDM service running inside the test's process on a
//! free port, asked over real HTTP, and stopped when dropped (or, with
//! [`TestService::shutdown`], the way SIGTERM stops it).

use std::marker::PhantomData;
use std::time::Duration;

use edm_config::MapEnv;
use edm_runtime::{Application, Service, ServiceSettings};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running service of type `S` (e.g. `TestService<edm_relay::Relay>`).
pub struct TestService<S> {
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub url: String,
    /// A client for it.
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    service: PhantomData<S>,
}

impl<S: Service> TestService<S> {
    /// Starts the service with `env`, on a free port unless `env` names a
    /// `PORT`.
    ///
    /// # Panics
    /// When the settings are invalid or the service cannot be built.
    pub async fn spawn(env: MapEnv) -> Self {
        let env = if env.0.contains_key("PORT") {
            env
        } else {
            env.with("PORT", "0")
        };
        let settings = S::Settings::from_env(&env).expect("valid test settings");
        let app = Application::<S>::build(settings)
            .await
            .unwrap_or_else(|e| panic!("{} builds: {e:#}", S::NAME));
        let url = format!("http://127.0.0.1:{}", app.port());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until_stopped(async {
            let _ = stopped.await;
        }));
        Self {
            url,
            http: reqwest::Client::new(),
            stop: Some(stop),
            task: Some(task),
            service: PhantomData,
        }
    }

    /// Starts it as [`TestService::spawn`] does, then waits until `/ready`
    /// answers 200 (10 s at most).
    pub async fn spawn_ready(env: MapEnv) -> Self {
        let service = Self::spawn(env).await;
        service.wait_ready().await;
        service
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.url
            .rsplit(':')
            .next()
            .and_then(|port| port.parse().ok())
            .expect("the test URL ends with the port")
    }

    /// Polls `/ready` until it answers 200.
    ///
    /// # Panics
    /// When it does not within 10 s.
    pub async fn wait_ready(&self) {
        for _ in 0..100 {
            if self.get("/ready").await.status() == 200 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{} never became ready", S::NAME);
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{} answers GET {path}: {e}", S::NAME))
    }

    /// `GET path`: the status and the JSON body (`null` when the body is
    /// not JSON; status 0 when nothing answered).
    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        match self.http.get(format!("{}{path}", self.url)).send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                (status, response.json().await.unwrap_or(Value::Null))
            }
            Err(_) => (0, Value::Null),
        }
    }

    /// `POST path` with `body` as JSON.
    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.post_raw(path, "application/json", body.to_string())
            .await
    }

    /// `POST path` with exactly this content type and body.
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: String,
    ) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.url))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{} answers POST {path}: {e}", S::NAME))
    }

    /// The `/metrics` text.
    pub async fn metrics(&self) -> String {
        self.get("/metrics")
            .await
            .text()
            .await
            .expect("/metrics is text")
    }

    /// Stops it the way SIGTERM does and waits until it has stopped.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await?,
            None => Ok(()),
        }
    }
}

impl<S> Drop for TestService<S> {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
