//! `terraform/wiring.json`, generated from topology.json: for each app (by
//! service key), the variables that point at other services
//! ([`edm_config::wiring::calls_and_origins`]), each given as the services
//! whose origins it holds. `terraform/config.tf` replaces every name with
//! the app's real origin and joins them with commas, so Terraform derives
//! no wiring of its own.

use std::collections::BTreeMap;

use edm_config::topology::Topology;
use edm_config::wiring::calls_and_origins;

/// The file's text.
pub fn render(topology: &Topology) -> String {
    let services: BTreeMap<&str, BTreeMap<String, Vec<String>>> = topology
        .services
        .iter()
        .map(|service| {
            let vars = calls_and_origins(topology, service, |s| vec![s.name.clone()])
                .into_iter()
                .map(|(variable, names)| (variable, names.split(',').map(str::to_owned).collect()))
                .collect();
            (service.key.as_str(), vars)
        })
        .collect();
    let file = serde_json::json!({
        "generated": "by `cargo xtask generate` from topology.json: do not edit",
        "services": services,
    });
    let mut text = serde_json::to_string_pretty(&file).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_app_lists_the_services_its_wiring_points_at() {
        let text = render(edm_config::topology::topology());
        let file: serde_json::Value = serde_json::from_str(&text).unwrap();
        let services = &file["services"];
        assert_eq!(
            services["relay"]["EDM_ALLOWED_ORIGINS"],
            serde_json::json!(["edm-ui"])
        );
        assert_eq!(
            services["dashboard"]["EDM_STATS_URL"],
            serde_json::json!(["edm-stats"])
        );
        assert!(services["relay"].get("EDM_STATS_URL").is_none());
    }
}
