//! The environment topology.json gives a service on this machine, for
//! `./edm run` (and anything that starts services the same way): its port,
//! moved by `EDM_<KEY>_PORT`, the other services' ports likewise, and the
//! broker, prefix and database of this machine's infrastructure.

use std::collections::BTreeMap;

use anyhow::Context;
use edm_config::topology::topology;
use edm_config::wiring::{service_env as wired, ThisMachine};
use edm_config::Env;

/// `service`'s environment here: ports from `EDM_<KEY>_PORT` (topology.json's
/// otherwise), `KAFKA_URL` (default `kafka://127.0.0.1:$EDM_KAFKA_PORT`, 19092),
/// `KAFKA_PREFIX` and `DATABASE_URL` from `env`.
pub fn service_env(service: &str, env: &impl Env) -> anyhow::Result<BTreeMap<String, String>> {
    let topology = topology();
    let spec = topology
        .services
        .iter()
        .find(|s| s.name == service)
        .with_context(|| format!("topology.json has no service named {service}"))?;
    let mut ports = BTreeMap::new();
    for s in &topology.services {
        let variable = ThisMachine::port_variable(s);
        if let Some(text) = env.get(&variable) {
            let port = text
                .parse()
                .with_context(|| format!("{variable} is not a port number: {text:?}"))?;
            ports.insert(s.name.clone(), port);
        }
    }
    let kafka_port = env.get("EDM_KAFKA_PORT").unwrap_or_else(|| "19092".into());
    let place = ThisMachine {
        ports,
        kafka_url: env
            .get("KAFKA_URL")
            .unwrap_or_else(|| format!("kafka://127.0.0.1:{kafka_port}")),
        kafka_prefix: env.raw("KAFKA_PREFIX").unwrap_or_default(),
        database_url: env.get("DATABASE_URL").unwrap_or_default(),
    };
    Ok(wired(topology, spec, &place))
}

#[cfg(test)]
mod tests {
    use super::*;
    use edm_config::MapEnv;

    #[test]
    fn ports_and_the_infrastructure_come_from_the_environment() {
        let env = MapEnv::default()
            .with("EDM_UI_PORT", "4000")
            .with("EDM_KAFKA_PORT", "29092")
            .with("DATABASE_URL", "postgres://x@127.0.0.1/edm");
        let relay = service_env("edm-relay", &env).unwrap();
        assert_eq!(relay["KAFKA_URL"], "kafka://127.0.0.1:29092");
        assert_eq!(relay["KAFKA_PREFIX"], "");
        assert_eq!(
            relay["EDM_ALLOWED_ORIGINS"],
            "http://localhost:4000,http://127.0.0.1:4000"
        );
        assert_eq!(service_env("edm-ui", &env).unwrap()["PORT"], "4000");
        let bad = MapEnv::default().with("EDM_RELAY_PORT", "fifty");
        assert!(service_env("edm-relay", &bad)
            .unwrap_err()
            .to_string()
            .contains("EDM_RELAY_PORT"));
        assert!(service_env("edm-nothing", &env).is_err());
    }
}
