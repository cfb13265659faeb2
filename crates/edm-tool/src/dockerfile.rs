//! The Dockerfile's binary list: the `COPY --from=builder` of the runtime
//! stage names the release binary of every service in topology.json. The
//! rest of the Dockerfile is written by hand.

use edm_config::topology::Topology;

/// The line the list follows.
const START: &str = "COPY --from=builder \\";
/// The line that ends it.
const END: &str = "     /usr/local/bin/";

/// `dockerfile` with its binary list made from `topology`.
pub fn with_binaries(dockerfile: &str, topology: &Topology) -> anyhow::Result<String> {
    let start = dockerfile
        .find(START)
        .ok_or_else(|| anyhow::anyhow!("the Dockerfile has no `{START}` line"))?
        + START.len();
    let end = dockerfile[start..]
        .find(END)
        .map(|at| start + at)
        .ok_or_else(|| anyhow::anyhow!("the Dockerfile's binary list does not end with `{END}`"))?;
    let list: String = topology
        .services
        .iter()
        .map(|s| format!("\n     /app/target/release/{} \\", s.name))
        .collect();
    Ok(format!(
        "{}{list}\n{}",
        &dockerfile[..start],
        &dockerfile[end..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_names_every_service_and_nothing_else_changes() {
        let topology = edm_config::topology::topology();
        let before = "FROM x\nCOPY --from=builder \\\n     /app/target/release/old \\\n     /usr/local/bin/\nUSER edm\n";
        let after = with_binaries(before, topology).unwrap();
        assert!(after.starts_with(
            "FROM x\nCOPY --from=builder \\\n     /app/target/release/edm-relay \\\n"
        ));
        assert!(after.ends_with("     /usr/local/bin/\nUSER edm\n"));
        assert!(!after.contains("/old"));
        for service in &topology.services {
            assert!(after.contains(&format!("/release/{} \\", service.name)));
        }
        assert_eq!(with_binaries(&after, topology).unwrap(), after, "stable");
        assert!(with_binaries("FROM x\n", topology).is_err());
    }
}
