//! topology.json as bash declarations, for `./edm`'s scripts
//! (`infra/topology.sh` evaluates what `cargo xtask topology-bash` prints):
//!
//! - `TOPOLOGY_TOPICS`: the logical topic names;
//! - `TOPOLOGY_INTERNAL_TOPICS`: each `name partitions compact|delete`;
//! - `TOPOLOGY_SERVICES`: the services' (binaries') names, in file order;
//! - `TOPOLOGY_KEY[name]`, `TOPOLOGY_PORT[name]`: short name, local port.

use edm_config::topology::Topology;

/// `text` in single quotes, safe for bash whatever it holds.
fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn array(name: &str, values: impl IntoIterator<Item = String>) -> String {
    let values: Vec<String> = values.into_iter().map(|v| quoted(&v)).collect();
    format!("declare -ga {name}=({})\n", values.join(" "))
}

fn table(name: &str, pairs: impl IntoIterator<Item = (String, String)>) -> String {
    let pairs: Vec<String> = pairs
        .into_iter()
        .map(|(k, v)| format!("[{}]={}", quoted(&k), quoted(&v)))
        .collect();
    format!("declare -gA {name}=({})\n", pairs.join(" "))
}

/// The declarations, one a line.
pub fn topology_declarations(topology: &Topology) -> String {
    let services = &topology.services;
    [
        array("TOPOLOGY_TOPICS", topology.topics.iter().cloned()),
        array(
            "TOPOLOGY_COMPACTED_TOPICS",
            topology.compacted_topics.iter().cloned(),
        ),
        array(
            "TOPOLOGY_INTERNAL_TOPICS",
            topology
                .internal_topics
                .iter()
                .map(|t| format!("{} {} {}", t.name, t.partitions, t.cleanup_policy())),
        ),
        array("TOPOLOGY_SERVICES", services.iter().map(|s| s.name.clone())),
        table(
            "TOPOLOGY_KEY",
            services.iter().map(|s| (s.name.clone(), s.key.clone())),
        ),
        table(
            "TOPOLOGY_PORT",
            services
                .iter()
                .map(|s| (s.name.clone(), s.port.to_string())),
        ),
    ]
    .concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What bash makes of the declarations.
    fn in_bash(script: &str) -> String {
        let output = std::process::Command::new("bash")
            .args(["-c", script])
            .output()
            .expect("bash runs");
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).unwrap()
    }

    #[test]
    fn bash_reads_every_topic_service_key_and_port() {
        let topology = edm_config::topology::topology();
        let declarations = topology_declarations(topology);
        let printed = in_bash(&format!(
            "{declarations}\necho \"${{TOPOLOGY_TOPICS[*]}}\"; echo \"${{TOPOLOGY_INTERNAL_TOPICS[0]}}\"; \
             echo \"${{#TOPOLOGY_SERVICES[@]}} ${{TOPOLOGY_KEY[edm-relay]}} ${{TOPOLOGY_PORT[edm-stats]}}\""
        ));
        let lines: Vec<&str> = printed.lines().collect();
        assert_eq!(lines[0], topology.topics.join(" "));
        let first = &topology.internal_topics[0];
        assert!(lines[1].starts_with(&format!("{} {} ", first.name, first.partitions)));
        let stats = topology
            .services
            .iter()
            .find(|s| s.name == "edm-stats")
            .unwrap();
        assert_eq!(
            lines[2],
            format!("{} relay {}", topology.services.len(), stats.port)
        );
    }

    #[test]
    fn quotes_survive_bash() {
        let printed = in_bash(&format!(
            "{}echo \"${{X[0]}}\"",
            array("X", ["it's $(x)".to_owned()])
        ));
        assert_eq!(printed, "it's $(x)\n");
    }
}
