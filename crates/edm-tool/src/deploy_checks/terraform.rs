//! terraform/: `terraform fmt -check` (when terraform is installed), then
//! the HCL parsed (no providers needed) and checked: every `var.`,
//! `local.` and resource reference declared, the Heroku provider pinned to
//! 5.x, and the apps, add-ons and topics all taken from topology.json (one
//! local decodes it, the apps iterate over its services, and no resource or
//! local restates one of its names, keys, topics or consumer groups).
//! Beyond that, what breaks a deploy, resource by resource:
//! [`terraform_resources`].
//!
//! How config.tf wires the apps to each other (the URL variables and
//! `EDM_ALLOWED_ORIGINS`) comes from the generated `terraform/wiring.json`
//! and is not checked here.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::LazyLock;

use edm_config::topology::Topology;
use regex::Regex;

use super::report::Report;
use super::terraform_module::{attribute, attribute_text, blocks, field, string_literals, Module};
use super::terraform_resources;
use super::topology::consumer_groups;
use super::workspace::normalize;

/// The area of every terraform/ failure.
pub(super) const AREA: &str = "terraform";
const REQUIRED_VARIABLES: [&str; 8] = [
    "name_prefix",
    "region",
    "dyno_size",
    "dyno_quantity",
    "source_url",
    "source_checksum",
    "kafka_plan",
    "postgres_plan",
];
/// Attributes whose text is for people: names in them restate nothing.
const PROSE: [&str; 2] = ["description", "error_message"];
const POSTGRES_PLAN: &str = "heroku-postgresql:essential-0";

fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("a valid regex")
}

static DECODED_FILE: LazyLock<Regex> =
    LazyLock::new(|| regex(r#"^jsondecode\(file\("\$\{path\.module\}/([^"]+)"\)\)$"#));
static VAR_REFERENCE: LazyLock<Regex> = LazyLock::new(|| regex(r"\bvar\.([A-Za-z_][\w-]*)"));
static LOCAL_REFERENCE: LazyLock<Regex> = LazyLock::new(|| regex(r"\blocal\.([A-Za-z_][\w-]*)"));
static RESOURCE_REFERENCE: LazyLock<Regex> =
    LazyLock::new(|| regex(r"\b(heroku_\w+|terraform_data|null_resource)\.([A-Za-z_]\w*)"));
static APP_BY_KEY: LazyLock<Regex> = LazyLock::new(|| regex(r#"heroku_app\.\w+\["([^"]+)"\]"#));
static HEROKU_5: LazyLock<Regex> =
    LazyLock::new(|| regex(r"^(?:~>\s*5(\.\d+)*|>=\s*5[\d.]*\s*,\s*<\s*6(\.0)*)$"));

/// Checks `root/terraform` against `topology`.
pub fn check(root: &Path, topology: &Topology, report: &mut Report) {
    let dir = root.join("terraform");
    if !report.check(AREA, dir.is_dir(), || "terraform/ is missing".to_owned()) {
        return;
    }
    fmt(&dir, report);
    let module = match Module::load(&dir) {
        Ok(module) => module,
        Err(errors) => {
            for error in errors {
                report.fail(AREA, error);
            }
            return;
        }
    };
    check_references(root, &module, report);
    check_provider(&module, report);
    let Some(topology_local) = check_reads_topology(root, &module, report) else {
        return;
    };
    check_not_restated(&module, topology, &topology_local, report);
    terraform_resources::check(&module, &topology_local, report);
}

/// `terraform fmt -check -recursive`, when terraform is installed.
fn fmt(dir: &Path, report: &mut Report) {
    let done = Command::new("terraform")
        .args(["fmt", "-check", "-recursive", "-diff", "-no-color"])
        .arg(dir)
        .env("CHECKPOINT_DISABLE", "1")
        .env("TF_CLI_CONFIG_FILE", "/dev/null")
        .env("TF_IN_AUTOMATION", "1")
        .output();
    match done {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            report.warn(
                AREA,
                "terraform is not installed: `terraform fmt -check` skipped",
            );
        }
        Err(e) => report.fail(AREA, format!("could not run terraform fmt: {e}")),
        Ok(done) => {
            report.check(AREA, done.status.success(), || {
                format!(
                    "`terraform fmt -check -recursive terraform/` failed (run terraform fmt -recursive terraform/):\n{}{}",
                    String::from_utf8_lossy(&done.stdout),
                    String::from_utf8_lossy(&done.stderr)
                )
            });
        }
    }
}

/// Every reference declared, every variable used, the required variables
/// there, no hand-built host names, and terraform.tfvars.example setting
/// only variables that exist.
fn check_references(root: &Path, module: &Module, report: &mut Report) {
    let texts = module.expression_texts();
    let captured = |pattern: &Regex| -> BTreeSet<String> {
        texts
            .iter()
            .flat_map(|t| pattern.captures_iter(t).map(|c| c[1].to_owned()))
            .collect()
    };
    let used_vars = captured(&VAR_REFERENCE);
    let used_locals = captured(&LOCAL_REFERENCE);
    for name in used_vars
        .iter()
        .filter(|n| !module.variables.contains_key(*n))
    {
        report.fail(
            AREA,
            format!("var.{name} is used but no variable \"{name}\" is declared"),
        );
    }
    for name in module.variables.keys().filter(|n| !used_vars.contains(*n)) {
        report.fail(
            AREA,
            format!("variable \"{name}\" is declared but never used"),
        );
    }
    for name in used_locals
        .iter()
        .filter(|n| !module.locals.contains_key(*n))
    {
        report.fail(
            AREA,
            format!("local.{name} is used but not declared in a locals block"),
        );
    }
    let resources: BTreeSet<(String, String)> = texts
        .iter()
        .flat_map(|t| {
            RESOURCE_REFERENCE
                .captures_iter(t)
                .map(|c| (c[1].to_owned(), c[2].to_owned()))
        })
        .collect();
    for (kind, name) in resources {
        let declared = module.resources.contains_key(&(kind.clone(), name.clone()));
        report.check(AREA, declared, || {
            format!("{kind}.{name} is referenced but not declared")
        });
    }
    for name in REQUIRED_VARIABLES {
        report.check(AREA, module.variables.contains_key(name), || {
            format!("variable \"{name}\" is missing")
        });
    }
    let postgres_plan = module
        .variables
        .get("postgres_plan")
        .and_then(|b| attribute(b, "default"))
        .and_then(|e| module.value(e));
    report.check(
        AREA,
        postgres_plan.as_deref() == Some(POSTGRES_PLAN),
        || format!("variable postgres_plan must default to {POSTGRES_PLAN}"),
    );
    let builds_host_name = module
        .places()
        .iter()
        .filter(|p| !p.name.starts_with("variable "))
        .flat_map(|p| &p.attributes)
        .any(|(_, e)| e.to_string().contains("herokuapp.com"));
    report.check(AREA, !builds_host_name, || {
        "an expression builds a herokuapp.com host name; use heroku_app.<x>.web_url (names carry a random suffix)".to_owned()
    });
    let example = root.join("terraform/terraform.tfvars.example");
    if let Ok(text) = std::fs::read_to_string(example) {
        let setting = regex(r"(?m)^(?:# )?([a-z_][a-z0-9_]*)\s*=");
        for name in setting.captures_iter(&text).map(|c| c[1].to_owned()) {
            report.check(AREA, module.variables.contains_key(&name), || {
                format!("terraform.tfvars.example sets unknown variable {name}")
            });
        }
    }
}

/// The Heroku provider, major version 5, with a longer add-on timeout.
fn check_provider(module: &Module, report: &mut Report) {
    let heroku = module
        .terraform
        .iter()
        .flat_map(|body| blocks(body, "required_providers"))
        .filter_map(|block| attribute(&block.body, "heroku"))
        .last();
    let setting = |name: &str| {
        heroku
            .and_then(|h| field(h, name))
            .and_then(|e| module.value(e))
            .unwrap_or_default()
    };
    report.check(AREA, setting("source") == "heroku/heroku", || {
        "required_providers must declare heroku with source = \"heroku/heroku\"".to_owned()
    });
    let version = setting("version");
    report.check(AREA, HEROKU_5.is_match(&version), || {
        format!("the heroku provider must be pinned to major version 5, found '{version}'")
    });
    // A dedicated Kafka plan can take longer to provision than the
    // provider's default 20 minutes; the apply would fail with paid
    // add-ons half made.
    let timeout = module
        .providers
        .iter()
        .filter(|(name, _)| name == "heroku")
        .flat_map(|(_, body)| blocks(body, "timeouts"))
        .any(|block| attribute(&block.body, "addon_create_timeout").is_some());
    report.check(AREA, timeout, || {
        "provider \"heroku\" must set timeouts { addon_create_timeout } (dedicated Kafka plans take longer than the default 20 minutes to provision)".to_owned()
    });
}

/// The name of the one local that decodes the repository's topology.json.
fn check_reads_topology(root: &Path, module: &Module, report: &mut Report) -> Option<String> {
    let readers: Vec<(&String, String)> = module
        .locals
        .iter()
        .filter_map(|(name, expr)| {
            let text = expr.to_string();
            let path = DECODED_FILE.captures(&text)?[1].to_owned();
            Path::new(&path)
                .ends_with("topology.json")
                .then_some((name, path))
        })
        .collect();
    let [(name, path)] = &readers[..] else {
        let names: Vec<&String> = readers.iter().map(|(n, _)| *n).collect();
        report.fail(
            AREA,
            format!(
                "expected one local = jsondecode(file(\"${{path.module}}/../topology.json\")), found {names:?}"
            ),
        );
        return None;
    };
    report.passed += 1;
    let read = normalize(&root.join("terraform").join(path));
    report.check(AREA, read == normalize(&root.join("topology.json")), || {
        format!("local.{name} reads terraform/{path}, which is not the repository's topology.json")
    });
    Some((*name).clone())
}

/// Names, topics and groups come from the topology; outputs alone may
/// name an app by its key (the store, the dashboard), and only a real one.
fn check_not_restated(
    module: &Module,
    topology: &Topology,
    topology_local: &str,
    report: &mut Report,
) {
    let names: BTreeSet<&str> = topology
        .services
        .iter()
        .map(|s| s.name.as_str())
        .chain(topology.topics.iter().map(String::as_str))
        .chain(consumer_groups(topology))
        .collect();
    let keys: BTreeSet<&str> = topology.services.iter().map(|s| s.key.as_str()).collect();
    let words = regex(r"[\s,]+");
    let mut restated = BTreeSet::new();
    for place in module.places() {
        for (attribute, expr) in &place.attributes {
            if PROSE.contains(attribute) {
                continue;
            }
            for literal in string_literals(expr) {
                for word in words.split(&literal).filter(|w| !w.is_empty()) {
                    if names.contains(word) || (keys.contains(word) && !place.is_output) {
                        restated.insert(format!("{word} in {}", place.name));
                    }
                }
            }
        }
    }
    report.check(AREA, restated.is_empty(), || {
        format!(
            "restates topology.json instead of reading local.{topology_local}: {}",
            restated.into_iter().collect::<Vec<_>>().join(", ")
        )
    });
    for (name, body) in &module.outputs {
        let value = attribute_text(body, "value");
        for key in APP_BY_KEY.captures_iter(&value).map(|c| c[1].to_owned()) {
            report.check(AREA, keys.contains(key.as_str()), || {
                format!("output {name}: no service has the key {key} in topology.json")
            });
        }
    }
}
