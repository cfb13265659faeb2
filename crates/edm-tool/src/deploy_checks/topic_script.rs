//! `terraform/scripts/create-kafka-topics.sh`, run for real against a stub
//! Heroku CLI as by hand (no names given, so it reads topology.json):
//! on a basic plan (a `KAFKA_PREFIX`) it creates the topology's topics,
//! internal topics (with their partitions and compaction) and consumer
//! groups; on a dedicated plan the topics only; it tolerates names that
//! already exist, fails when the CLI refuses, and stops before asking the
//! add-on anything when the CLI has no Kafka plugin.

use std::collections::BTreeSet;
use std::path::Path;

use edm_config::topology::Topology;

use super::report::Report;
use super::stubs::{self, Outcome};
use super::topology::consumer_groups;

const AREA: &str = "heroku";
/// The app the script is run for.
const APP: &str = "edm-test-relay";
/// A basic plan's `KAFKA_PREFIX`.
const BASIC_PREFIX: &str = "wabash-1234.";

/// A stub `heroku`: logs its calls to `$STUB_LOG`; answers `config:get`
/// with `$STUB_PREFIX`; fails the create commands with
/// `$STUB_CREATE_ERROR`; has no Kafka plugin when `$STUB_NO_KAFKA_PLUGIN`.
const HEROKU_CLI_STUB: &str = r#"#!/bin/sh
echo "heroku $*" >> "$STUB_LOG"
case "$1" in
  kafka:*) [ -n "$STUB_NO_KAFKA_PLUGIN" ] && { echo " ›   Warning: $1 is not a heroku command." >&2; exit 127; } ;;
esac
case "$*" in *--help*) exit 0 ;; esac
case "$1" in
  config:get) printf '%s\n' "$STUB_PREFIX" ;;
  kafka:topics:create|kafka:consumer-groups:create)
    [ -n "$STUB_CREATE_ERROR" ] && { echo "$STUB_CREATE_ERROR" >&2; exit 1; } ;;
esac
exit 0
"#;

/// Runs the topic script against the stub CLI in every case above.
pub fn check(root: &Path, topology: &Topology, report: &mut Report) {
    let script = root.join("terraform/scripts/create-kafka-topics.sh");
    if !report.check(AREA, script.is_file(), || {
        "terraform/scripts/create-kafka-topics.sh is missing".to_owned()
    }) {
        return;
    }
    let stub_dir = match tempfile::Builder::new().prefix("edm-heroku-cli-").tempdir() {
        Ok(dir) => dir,
        Err(e) => {
            report.fail(AREA, format!("could not make a stub Heroku CLI: {e}"));
            return;
        }
    };
    if let Err(e) = stubs::write_executable(&stub_dir.path().join("heroku"), HEROKU_CLI_STUB) {
        report.fail(AREA, format!("could not make a stub Heroku CLI: {e}"));
        return;
    }
    let run =
        |prefix: &str, env: &[(&str, &str)]| run_script(&script, stub_dir.path(), prefix, env);
    let groups: BTreeSet<String> = consumer_groups(topology)
        .into_iter()
        .map(str::to_owned)
        .collect();
    let topics: BTreeSet<String> = topology
        .topics
        .iter()
        .cloned()
        .chain(topology.internal_topics.iter().map(|t| t.name.clone()))
        .collect();
    let compacted: BTreeSet<String> = topology
        .internal_topics
        .iter()
        .filter(|t| t.compact)
        .map(|t| t.name.clone())
        .chain(topology.compacted_topics.iter().cloned())
        .collect();

    let done = run(BASIC_PREFIX, &[]);
    let waited = done
        .calls
        .contains(&format!("heroku kafka:wait --app {APP}"));
    report.check(AREA, done.code == 0 && waited, || {
        format!(
            "topic script (basic plan) must wait for the add-on and succeed, exit {}: {}",
            done.code,
            done.output()
        )
    });
    let created_topics = created(&done.calls, "kafka:topics:create");
    report.check(AREA, created_topics == topics, || {
        format!(
            "topic script (basic plan) created topics {created_topics:?}, expected {topics:?} from topology.json (logical names: Heroku adds KAFKA_PREFIX)"
        )
    });
    report.check(
        AREA,
        created(&done.calls, "kafka:consumer-groups:create") == groups,
        || format!("topic script (basic plan) must create the consumer groups {groups:?} of topology.json"),
    );
    for internal in &topology.internal_topics {
        let start = format!("heroku kafka:topics:create {} ", internal.name);
        let made: Vec<&String> = done
            .calls
            .iter()
            .filter(|c| c.starts_with(&start))
            .collect();
        let partitions = format!("--partitions {} ", internal.partitions);
        let ok = matches!(made[..], [call] if format!("{call} ").contains(&partitions));
        report.check(AREA, ok, || {
            format!(
                "topic script must create {} with {} partition(s): {made:?}",
                internal.name, internal.partitions
            )
        });
    }
    let compaction_enabled: BTreeSet<String> = done
        .calls
        .iter()
        .filter_map(|call| {
            let words: Vec<&str> = call.split_whitespace().collect();
            match words[..] {
                ["heroku", "kafka:topics:compaction", topic, "enable", ..] => {
                    Some(topic.to_owned())
                }
                _ => None,
            }
        })
        .collect();
    report.check(AREA, compaction_enabled == compacted, || {
        format!("topic script must enable compaction on exactly {compacted:?} (topology.json)")
    });

    let done = run("", &[]);
    report.check(
        AREA,
        done.code == 0
            && created(&done.calls, "kafka:topics:create") == topics
            && created(&done.calls, "kafka:consumer-groups:create").is_empty(),
        || "topic script (dedicated plan) must create the topics and no consumer groups".to_owned(),
    );
    let done = run(
        BASIC_PREFIX,
        &[("STUB_CREATE_ERROR", "Topic already exists")],
    );
    report.check(AREA, done.code == 0, || {
        "topic script must succeed when the topics already exist (re-runs)".to_owned()
    });
    let done = run(BASIC_PREFIX, &[("STUB_CREATE_ERROR", "Unauthorized")]);
    report.check(AREA, done.code != 0, || {
        "topic script must fail when the Heroku CLI refuses to create a topic".to_owned()
    });
    let done = run(BASIC_PREFIX, &[("STUB_NO_KAFKA_PLUGIN", "1")]);
    let asked_the_add_on = done.calls.iter().any(|c| {
        !c.contains("--help") && (c.starts_with("heroku kafka:") || c.contains("config:get"))
    });
    report.check(AREA, done.code != 0 && !asked_the_add_on, || {
        "topic script must stop before asking anything of the add-on when the CLI has no Kafka plugin".to_owned()
    });
}

/// Runs the script for [`APP`] as by hand, with the stub CLI first on
/// `PATH` answering `prefix` for `KAFKA_PREFIX`.
fn run_script(script: &Path, stub_dir: &Path, prefix: &str, env: &[(&str, &str)]) -> Outcome {
    let path = format!("{}:{}", stub_dir.display(), stubs::path_var());
    let script = script.to_string_lossy();
    let env: Vec<(&str, &str)> = [("PATH", path.as_str()), ("STUB_PREFIX", prefix)]
        .into_iter()
        .chain(env.iter().copied())
        .collect();
    stubs::run(&["bash", &script, APP], None, &env, stub_dir)
}

/// The names a `heroku KIND NAME …` call was made for (`--help` left out).
fn created(calls: &[String], kind: &str) -> BTreeSet<String> {
    let start = format!("heroku {kind} ");
    calls
        .iter()
        .filter(|c| c.starts_with(&start) && !c.contains("--help"))
        .filter_map(|c| c.split_whitespace().nth(2))
        .map(str::to_owned)
        .collect()
}
