//! What every EDM service is to the runtime. A service says what it reads
//! from the environment ([`ServiceSettings`]), what must exist before its
//! port is bound ([`Service::prepare`]: a producer that has probed Kafka, a
//! migrated database), and what it runs and serves ([`Service::start`]:
//! background tasks and [`Routes`]). The runtime does the rest the same way
//! for all: [`Application`] binds, serves and stops; [`main`] is the whole
//! `main` of a service binary; [`run`] is the same frame for binaries with
//! subcommands. [`Pages`] is the whole service of a site that only renders
//! pages ([`Site`], configured by [`SiteSettings`]).

use std::collections::BTreeMap;
use std::future::Future;
use std::marker::PhantomData;
use std::process::ExitCode;
use std::time::Duration;

use edm_config::http::service_url;
use edm_config::topology::topology;
use edm_config::{ConfigError, Env, HttpSettings, ProcessEnv, ServiceUrl};

use crate::background::Background;
use crate::server::{Routes, Server};
use crate::{shutdown, telemetry};

/// A service's settings, read from the environment.
pub trait ServiceSettings: Sized + Send + Sync + 'static {
    /// Reads and checks them; errors name the variable at fault.
    fn from_env(env: &impl Env) -> Result<Self, ConfigError>;

    /// Where the service listens, whom it serves, how long it may take to stop.
    fn http(&self) -> &HttpSettings;
}

/// An EDM service.
pub trait Service: Sized + Send + 'static {
    /// Its name (`edm-relay`), as in `topology.json` and in logs.
    const NAME: &'static str;
    /// What it reads from the environment.
    type Settings: ServiceSettings;

    /// Prepares what must exist before the port is bound.
    fn prepare(settings: Self::Settings) -> impl Future<Output = anyhow::Result<Self>> + Send;

    /// Starts the background work on `background` and returns the routes
    /// to serve.
    fn start(self, background: &Background) -> anyhow::Result<Routes>;
}

/// A service prepared and bound to its port, not serving yet.
pub struct Application<S> {
    server: Server,
    service: S,
}

impl<S: Service> Application<S> {
    /// Prepares the service and binds its port.
    pub async fn build(settings: S::Settings) -> anyhow::Result<Self> {
        let http = settings.http().clone();
        let service = S::prepare(settings).await?;
        let server = Server::bind(S::NAME, &http).await?;
        Ok(Self { server, service })
    }

    /// The port bound (useful when `PORT` was 0).
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// Starts the service and serves until `shutdown` completes; then stops
    /// it in order, within the shutdown deadline.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let background = Background::new();
        let routes = match self.service.start(&background) {
            Ok(routes) => routes,
            Err(err) => {
                background.stop().await;
                return Err(err);
            }
        };
        self.server.serve(routes, background, shutdown).await
    }
}

/// A site that only renders pages from its [`SiteSettings`].
pub trait Site: Sized + Send + Sync + 'static {
    /// The service's name (`edm-ui`), as in `topology.json`.
    const NAME: &'static str;

    /// The pages and files it serves.
    fn routes(settings: &SiteSettings<Self>) -> Routes;
}

/// What a site reads from the environment: `PORT` and the other HTTP
/// settings, and the URL of every service its pages call (the `calls` of
/// its entry in `topology.json`, e.g. `EDM_RELAY_URL`; each defaults to
/// that service's local address).
pub struct SiteSettings<S> {
    /// Port, allowed origins, shutdown timeout.
    pub http: HttpSettings,
    urls: BTreeMap<&'static str, ServiceUrl>,
    site: PhantomData<S>,
}

impl<S: Site> ServiceSettings for SiteSettings<S> {
    fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let urls = topology()
            .service(S::NAME)
            .calls
            .keys()
            .map(|variable| Ok((variable.as_str(), service_url(env, variable)?)))
            .collect::<Result<_, ConfigError>>()?;
        Ok(Self {
            http: HttpSettings::from_env(env, S::NAME)?,
            urls,
            site: PhantomData,
        })
    }

    fn http(&self) -> &HttpSettings {
        &self.http
    }
}

impl<S: Site> SiteSettings<S> {
    /// The URL `variable` names.
    ///
    /// # Panics
    /// When the site's entry in `topology.json` does not list `variable`
    /// under `calls` (a mistake the site's tests show at once).
    pub fn url(&self, variable: &str) -> &ServiceUrl {
        self.urls.get(variable).unwrap_or_else(|| {
            panic!(
                "topology.json lists no {variable} under the calls of {}",
                S::NAME
            )
        })
    }
}

/// The service of a [`Site`]: nothing to prepare, no background work,
/// ready as soon as it serves.
pub struct Pages<S>(SiteSettings<S>);

impl<S: Site> Service for Pages<S> {
    const NAME: &'static str = S::NAME;
    type Settings = SiteSettings<S>;

    async fn prepare(settings: SiteSettings<S>) -> anyhow::Result<Self> {
        Ok(Self(settings))
    }

    fn start(self, _: &Background) -> anyhow::Result<Routes> {
        Ok(S::routes(&self.0))
    }
}

/// The `main` of a service: settings from the process environment, build,
/// serve until SIGTERM or Ctrl-C.
pub fn main<S: Service>() -> ExitCode {
    run(S::NAME, || async {
        let settings = S::Settings::from_env(&ProcessEnv)?;
        Application::<S>::build(settings)
            .await?
            .run_until_stopped(shutdown::signal())
            .await
    })
}

/// Runs `body` for the binary `name`: logging set up first, then a Tokio
/// runtime; a failure is logged once (`NAME failed: cause`) and becomes
/// exit code 1.
pub fn run<F, Fut>(name: &'static str, body: F) -> ExitCode
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    telemetry::init(name);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            tracing::error!("{name} failed: cannot start the Tokio runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(body());
    // A task that outlived the shutdown deadline is not waited for again.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{name} failed: {err:#}");
            ExitCode::FAILURE
        }
    }
}
