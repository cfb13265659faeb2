//! terraform/'s resources, what breaks a deploy: one app per service of
//! topology.json with its config vars in one place, `EDM_SERVICE` naming
//! its binary, the Rust buildpack pinned to a commit, nothing created
//! before the Heroku CLI check; origins and URLs from the apps' real
//! `web_url` without its trailing slash; one Postgres and one Kafka
//! add-on, Kafka attached as `KAFKA`; the topic script once the Kafka
//! add-on exists; a build and a web formation for every app, each after
//! what it needs.

use std::sync::LazyLock;

use hcl::{Body, Expression};
use regex::Regex;

use super::report::Report;
use super::terraform::AREA;
use super::terraform_module::{attribute, attribute_text, blocks, leaves, Module};

/// What every app needs one of, with the `for_each` of the apps.
const PER_APP: [&str; 3] = [
    "heroku_build",
    "heroku_formation",
    "heroku_app_config_association",
];

fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("a valid regex")
}

static PINNED_RUST_BUILDPACK: LazyLock<Regex> =
    LazyLock::new(|| regex(r"^https://github\.com/emk/heroku-buildpack-rust\.git#[0-9a-f]{40}$"));

/// Checks the resources of `module`, whose local `topology_local` decodes
/// topology.json.
pub fn check(module: &Module, topology_local: &str, report: &mut Report) {
    check_apps(module, topology_local, report);
    check_addons(module, report);
    check_origins(module, report);
    let topic_runner = check_topic_runner(module, report);
    check_builds(module, topic_runner.as_deref(), report);
}

/// One app per service of the topology, its config vars in one place, its
/// binary named by `EDM_SERVICE`, the pinned buildpack, a build, formation
/// and config association for each app, and nothing before the CLI check.
fn check_apps(module: &Module, topology_local: &str, report: &mut Report) {
    let apps: Vec<(&str, &Body)> = module.of_type("heroku_app").collect();
    let [(name, body)] = apps[..] else {
        report.fail(
            AREA,
            format!(
                "expected one heroku_app resource (one app per service), found {}",
                apps.len()
            ),
        );
        return;
    };
    report.passed += 1;
    let for_each = attribute_text(body, "for_each");
    let iterates_services = regex(r"^local\.(\w+)$")
        .captures(&for_each)
        .and_then(|c| module.locals.get(&c[1]))
        .is_some_and(|local| {
            local
                .to_string()
                .contains(&format!("local.{topology_local}.services"))
        });
    report.check(AREA, iterates_services, || {
        format!("heroku_app.{name}: for_each must be a local built from local.{topology_local}.services")
    });
    let config_vars = attribute(body, "config_vars")
        .is_some_and(|e| !matches!(e, Expression::Object(o) if o.is_empty()));
    report.check(AREA, !config_vars, || {
        format!("heroku_app.{name}: config vars belong in heroku_app_config_association alone (one place)")
    });
    let service_config = module
        .locals
        .get("service_config")
        .map(ToString::to_string)
        .unwrap_or_default();
    report.check(
        AREA,
        regex(r"EDM_SERVICE\s*=\s*name\b").is_match(&service_config),
        || {
            "local.service_config (the apps' config vars) must set EDM_SERVICE = name, the binary each app builds and runs".to_owned()
        },
    );
    let pinned = match attribute(body, "buildpacks") {
        Some(Expression::Array(buildpacks)) => buildpacks
            .iter()
            .filter_map(|b| module.value(b))
            .any(|b| PINNED_RUST_BUILDPACK.is_match(&b)),
        _ => false,
    };
    report.check(AREA, pinned, || {
        format!(
            "heroku_app.{name} must use the emk/rust buildpack pinned to a commit (https://github.com/emk/heroku-buildpack-rust.git#<40-hex commit>): RustConfig relies on its bin/compile"
        )
    });
    for kind in PER_APP {
        let per_app = module
            .of_type(kind)
            .any(|(_, b)| attribute_text(b, "for_each") == for_each);
        report.check(AREA, per_app, || {
            format!("every app needs a {kind}: expected one with the for_each of heroku_app.{name}")
        });
    }
    let after_cli_check =
        attribute_text(body, "depends_on").contains("terraform_data.heroku_cli_check");
    report.check(AREA, after_cli_check, || {
        format!(
            "heroku_app.{name} must depend on terraform_data.heroku_cli_check (the CLI and its Kafka plugin are checked before anything is created)"
        )
    });
}

/// One Postgres and one Kafka add-on, Kafka attached as `KAFKA`.
fn check_addons(module: &Module, report: &mut Report) {
    let plans: Vec<(&str, String)> = module
        .of_type("heroku_addon")
        .map(|(name, body)| {
            let plan = attribute(body, "plan").and_then(|e| module.value(e));
            (name, plan.unwrap_or_default())
        })
        .collect();
    let with_plan = |prefix: &str| -> Vec<&str> {
        plans
            .iter()
            .filter(|(_, plan)| plan.starts_with(prefix))
            .map(|(name, _)| *name)
            .collect()
    };
    let postgres = with_plan("heroku-postgresql:");
    let kafka = with_plan("heroku-kafka:");
    report.check(AREA, postgres.len() == 1, || {
        format!("expected one heroku-postgresql add-on, found {postgres:?}")
    });
    let [kafka] = kafka[..] else {
        report.fail(
            AREA,
            format!("expected one heroku-kafka add-on, found {kafka:?}"),
        );
        return;
    };
    report.passed += 1;
    let addon = format!("heroku_addon.{kafka}.");
    let attachments: Vec<(&str, &Body)> = module
        .of_type("heroku_addon_attachment")
        .filter(|(_, body)| attribute_text(body, "addon_id").contains(&addon))
        .collect();
    report.check(AREA, !attachments.is_empty(), || {
        format!("heroku_addon.{kafka} is attached to no other app")
    });
    for (name, body) in attachments {
        let attached_as =
            attribute(body, "name").map_or(Some("KAFKA".to_owned()), |e| module.value(e));
        report.check(AREA, attached_as.as_deref() == Some("KAFKA"), || {
            format!(
                "heroku_addon_attachment.{name} must be named KAFKA (for KAFKA_URL and friends)"
            )
        });
    }
}

/// Origins and URLs made from `web_url` drop its trailing slash.
fn check_origins(module: &Module, report: &mut Report) {
    for place in module.places().iter().filter(|p| !p.is_output) {
        for (_, expr) in &place.attributes {
            for leaf in leaves(expr) {
                let text = leaf.to_string();
                report.check(
                    AREA,
                    !text.contains(".web_url") || text.contains("trimsuffix("),
                    || {
                        format!(
                            "{}: web_url ends with '/'; origins and URLs must drop it (trimsuffix)",
                            place.name
                        )
                    },
                );
            }
        }
    }
}

/// The one resource that runs the topic script, after the Kafka add-on;
/// `TYPE.NAME`.
fn check_topic_runner(module: &Module, report: &mut Report) -> Option<String> {
    let runners: Vec<(&(String, String), &Body)> = module
        .resources
        .iter()
        .filter(|(_, body)| {
            blocks(body, "provisioner").any(|p| {
                p.labels.first().is_some_and(|l| l.as_str() == "local-exec")
                    && attribute_text(&p.body, "command").contains("scripts/create-kafka-topics.sh")
            })
        })
        .collect();
    let [((kind, name), body)] = runners[..] else {
        report.fail(
            AREA,
            "expected one resource whose local-exec runs scripts/create-kafka-topics.sh",
        );
        return None;
    };
    report.passed += 1;
    let triggers = attribute_text(body, "triggers_replace") + &attribute_text(body, "triggers");
    report.check(AREA, triggers.contains("heroku_addon."), || {
        format!("{kind}.{name} must follow the Kafka add-on (triggers_replace)")
    });
    Some(format!("{kind}.{name}"))
}

/// Builds from a variable's source after the add-ons and topics; web
/// formations after the builds, sized by variables.
fn check_builds(module: &Module, topic_runner: Option<&str>, report: &mut Report) {
    for (name, body) in module.of_type("heroku_build") {
        let source = blocks(body, "source").next().map(|b| &b.body);
        let url = source.map(|s| attribute_text(s, "url")).unwrap_or_default();
        report.check(AREA, regex(r"\bvar\.").is_match(&url), || {
            format!("heroku_build.{name}: source url must come from a variable")
        });
        report.check(
            AREA,
            source.is_some_and(|s| attribute(s, "checksum").is_some()),
            || format!("heroku_build.{name}: source has no checksum attribute"),
        );
        let depends = attribute_text(body, "depends_on");
        if let Some(runner) = topic_runner {
            report.check(AREA, depends.contains(runner), || {
                format!("heroku_build.{name} must depend on the topic creation ({runner})")
            });
        }
        report.check(AREA, depends.contains("heroku_addon."), || {
            format!("heroku_build.{name} must wait for the add-ons (Postgres)")
        });
    }
    for (name, body) in module.of_type("heroku_formation") {
        let kind = attribute(body, "type").and_then(|e| module.value(e));
        report.check(AREA, kind.as_deref() == Some("web"), || {
            format!("heroku_formation.{name}: type must be web")
        });
        report.check(
            AREA,
            attribute_text(body, "depends_on").contains("heroku_build."),
            || format!("heroku_formation.{name} must depend on the build (depends_on)"),
        );
        for setting in ["size", "quantity"] {
            let text = attribute_text(body, setting);
            report.check(
                AREA,
                text.contains("var.") || text.contains("local."),
                || format!("heroku_formation.{name}: {setting} must come from a variable"),
            );
        }
    }
}
