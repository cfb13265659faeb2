//! The deploy checks fail loudly: each test copies the repository's
//! deployment files and topology.json to a temporary folder, breaks one
//! thing (a deployment file, or topology.json alone, which the files must
//! then follow), and expects the checks to fail naming the problem. The
//! unbroken repository passes. `./edm deploy-checks --self-test` runs
//! these tests.

use std::path::{Path, PathBuf};

use edm_tool::deploy_checks::{self, Report};

/// What the checks read, copied for each test.
const COPIED: [&str; 12] = [
    "Cargo.toml",
    "Cargo.lock",
    "rust-toolchain",
    "RustConfig",
    "Procfile",
    "Dockerfile",
    ".dockerignore",
    "topology.json",
    "crates",
    "migrations",
    "terraform",
    "docs",
];
/// Folders never copied: build output, npm packages, Terraform's cache.
const SKIPPED: [&str; 3] = ["target", "node_modules", ".terraform"];

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("the workspace root")
        .to_path_buf()
}

fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).expect("mkdir");
        for entry in std::fs::read_dir(from).expect("read_dir").flatten() {
            let name = entry.file_name();
            if !SKIPPED.iter().any(|s| name == *s) {
                copy_tree(&entry.path(), &to.join(name));
            }
        }
    } else if from.is_file() {
        std::fs::copy(from, to).expect("copy");
    }
}

/// A copy of what the checks read, in a folder removed on drop.
fn copy_of_repository() -> tempfile::TempDir {
    let copy = tempfile::Builder::new()
        .prefix("edm-deploy-checks-")
        .tempdir()
        .expect("a temporary folder");
    let root = repository_root();
    for path in COPIED {
        copy_tree(&root.join(path), &copy.path().join(path));
    }
    copy
}

fn run_checks(root: &Path) -> Report {
    let mut report = Report::quiet();
    deploy_checks::run(root, &mut report);
    report
}

/// How a test breaks its copy.
enum Break {
    /// Replace the first `old` in `file` with `new`.
    Replace {
        file: &'static str,
        old: &'static str,
        new: &'static str,
    },
    /// Write `file` (a new one) with `text`.
    Create {
        file: &'static str,
        text: &'static str,
    },
}

/// Breaks a copy of the repository with `breaks`, runs the checks and
/// asserts that they fail with a message containing `expected`.
fn assert_caught(breaks: &[Break], expected: &str) {
    let copy = copy_of_repository();
    for one in breaks {
        match one {
            Break::Replace { file, old, new } => {
                let path = copy.path().join(file);
                let text = std::fs::read_to_string(&path).expect("the file to break");
                assert!(
                    text.contains(old),
                    "STALE: {file} no longer contains {old:?}; update this test to the file"
                );
                std::fs::write(&path, text.replacen(old, new, 1)).expect("write");
            }
            Break::Create { file, text } => {
                let path = copy.path().join(file);
                std::fs::create_dir_all(path.parent().expect("a folder")).expect("mkdir");
                std::fs::write(&path, text).expect("write");
            }
        }
    }
    let report = run_checks(copy.path());
    assert!(
        report.failures.iter().any(|f| f.contains(expected)),
        "MISSED: expected a failure naming {expected:?}; the checks found:\n{}",
        report.failures.join("\n")
    );
}

fn replace(file: &'static str, old: &'static str, new: &'static str) -> Break {
    Break::Replace { file, old, new }
}

/// One test per break: `name: [breaks…] => "expected message";`.
macro_rules! caught {
    ($($name:ident: [$($break:expr),+ $(,)?] => $expected:expr;)+) => {
        $(
            #[test]
            fn $name() {
                assert_caught(&[$($break),+], $expected);
            }
        )+
    };
}

fn assert_passes(root: &Path) {
    let report = run_checks(root);
    assert!(
        report.ok(),
        "{}:\n{}",
        report.summary(),
        report.failures.join("\n")
    );
}

#[test]
fn the_repository_passes() {
    assert_passes(&repository_root());
}

#[test]
fn an_unbroken_copy_passes() {
    assert_passes(copy_of_repository().path());
}

#[test]
fn terraform_fmt() {
    let installed = std::process::Command::new("terraform")
        .arg("version")
        .output()
        .is_ok();
    if !installed {
        eprintln!("terraform is not installed: `terraform fmt -check` is not checked");
        return;
    }
    assert_caught(
        &[replace(
            "terraform/addons.tf",
            "  plan   = var.kafka_plan",
            "  plan = var.kafka_plan",
        )],
        "terraform fmt",
    );
}

caught! {
    topology_not_json: [replace("topology.json", r#""tools": ["#, r#""tools" ["#)]
        => "topology.json is not valid JSON";
    topology_port_out_of_range: [replace("topology.json", r#""port": 5000"#, r#""port": 70000"#)]
        => "topology.json does not have the expected shape";
    topology_two_services_share_a_port: [replace("topology.json", r#""port": 5001"#, r#""port": 5000"#)]
        => "two services share port 5000";
    topology_two_consumers_share_a_group: [replace(
        "topology.json",
        r#""consumer_group": "edm-consumer-group-2""#,
        r#""consumer_group": "edm-consumer-group-1""#,
    )] => "share consumer_group edm-consumer-group-1";
    topology_calls_a_service_that_is_not_there: [replace(
        "topology.json",
        r#""EDM_RELAY_URL": "edm-relay""#,
        r#""EDM_RELAY_URL": "edm-realy""#,
    )] => "refers to unknown service edm-realy";

    dockerfile_copies_a_missing_folder: [replace(
        "Dockerfile",
        "COPY migrations migrations\nENV",
        "COPY migration migrations\nENV",
    )] => "COPY migration: no such file";
    dockerfile_build_without_topology_json: [replace(
        "Dockerfile",
        "COPY Cargo.toml Cargo.lock topology.json ./",
        "COPY Cargo.toml Cargo.lock ./",
    )] => "does not COPY topology.json";
    dockerfile_without_cmake: [replace(
        "Dockerfile",
        "install -y --no-install-recommends cmake ",
        "install -y --no-install-recommends ",
    )] => "does not install cmake";
    dockerfile_without_a_dependency_layer: [replace(
        "Dockerfile",
        "RUN cargo chef cook --release --locked --recipe-path recipe.json\n",
        "",
    )] => "cargo chef cook";
    dockerfile_toolchain_drift: [replace("Dockerfile", "ARG RUST_VERSION=1.", "ARG RUST_VERSION=0.")]
        => "rust-toolchain";
    dockerignore_hides_topology_json: [replace(".dockerignore", "target\n", "target\ntopology.json\n")]
        => "COPY topology.json: excluded from the build context";

    workspace_binary_nobody_deploys: [
        replace("Cargo.toml", "members = [", "members = [\n    \"crates/edm-newconsumer\","),
        Break::Create {
            file: "crates/edm-newconsumer/Cargo.toml",
            text: "[package]\nname = \"edm-newconsumer\"\nversion = \"0.1.0\"\n",
        },
        Break::Create { file: "crates/edm-newconsumer/src/main.rs", text: "fn main() {}\n" },
    ] => "edm-newconsumer is not run";
    build_reads_a_file_outside_the_copied_folders: [Break::Create {
        file: "crates/edm-config/src/zz_deploy_checks.rs",
        // Split so that the checks do not find the macro in this file.
        text: concat!("const DOC: &str = include_str", "!(\"../../../docs/deploy.md\");\n"),
    }] => "does not COPY docs/deploy.md";
    sqlx_checked_query_without_offline_data: [Break::Create {
        file: "crates/edm-config/src/zz_deploy_checks.rs",
        text: concat!("fn q() { let _ = sqlx::query", "!(\"select 1\"); }\n"),
    }] => ".sqlx";

    procfile_without_release: [replace("Procfile", "release:", "relase:")]
        => "no release process";
    procfile_release_migrates_everywhere: [replace("Procfile", r#"if [ -n "${DATABASE_URL:-}" ]"#, "if true")]
        => "without DATABASE_URL must do nothing";
    procfile_web_ignores_edm_service: [replace(
        "Procfile",
        "web: exec ./target/release/${EDM_SERVICE",
        "web: exec ./target/release/edm-relay #${EDM_SERVICE",
    )] => "with EDM_SERVICE=edm-stream";

    rustconfig_without_sqlx_offline: [replace("RustConfig", "export SQLX_OFFLINE=true", "")]
        => "SQLX_OFFLINE";
    rustconfig_builds_one_package_everywhere: [replace(
        "RustConfig",
        r#""--release --locked""#,
        r#""--release --locked -p edm-relay""#,
    )] => "whole workspace";
    rustconfig_ignores_the_apps_edm_service: [replace(
        "RustConfig",
        r#"RUST_CARGO_BUILD_FLAGS="$RUST_CARGO_BUILD_FLAGS -p $edm_service""#,
        "true",
    )] => "the edm-stream app's build must be `-p edm-stream`";

    terraform_config_vars_in_two_places: [replace(
        "terraform/apps.tf",
        "  buildpacks = [var.buildpack]\n",
        "  buildpacks = [var.buildpack]\n  config_vars = { EDM_SERVICE = each.value }\n",
    )] => "belong in heroku_app_config_association alone";
    terraform_app_without_its_edm_service: [replace("terraform/config.tf", "EDM_SERVICE = name", "EDM_SERVICE = key")]
        => "must set EDM_SERVICE = name";
    terraform_buildpack_by_registry_name: [replace(
        "terraform/variables.tf",
        r#"default     = "https://github.com/emk/heroku-buildpack-rust.git#cfa0f0621411f0dbb46df9d4740e119b7a459ccc""#,
        r#"default     = "emk/rust""#,
    )] => "pinned to a commit";
    terraform_hcl_syntax: [replace("terraform/apps.tf", "locals {", "locals {{")]
        => "does not parse";
    terraform_undeclared_variable: [replace("terraform/apps.tf", "region     = var.region", "region     = var.regoin")]
        => "var.regoin is used";
    terraform_reads_another_topology: [replace(
        "terraform/apps.tf",
        r#""${path.module}/../topology.json""#,
        r#""${path.module}/topology.json""#,
    )] => "which is not the repository's topology.json";
    terraform_restates_the_consumer_groups: [replace(
        "terraform/kafka-topics.tf",
        "EDM_KAFKA_PARTITIONS = tostring(var.kafka_topic_partitions)",
        "EDM_KAFKA_PARTITIONS = tostring(var.kafka_topic_partitions)\n      GROUPS = \"edm-consumer-group-1 edm-consumer-group-2\"",
    )] => "restates topology.json instead of reading local.topology: edm-consumer-group-1";
    terraform_postgres_on_a_hand_picked_app: [replace(
        "terraform/addons.tf",
        "heroku_app.service[local.database_service].id",
        r#"heroku_app.service["stats"].id"#,
    )] => "stats in heroku_addon.postgres";
    terraform_output_of_a_service_not_in_the_topology: [replace(
        "terraform/outputs.tf",
        r#"heroku_app.service["ui"].web_url"#,
        r#"heroku_app.service["store"].web_url"#,
    )] => "no service has the key store";
    terraform_origin_keeps_the_web_url_slash: [replace("terraform/config.tf", r#"trimsuffix(app.web_url, "/")"#, "app.web_url")]
        => "must drop it (trimsuffix)";
    terraform_hand_built_host_name: [replace(
        "terraform/config.tf",
        r#"trimsuffix(app.web_url, "/")"#,
        r#""https://${var.name_prefix}-${key}.herokuapp.com""#,
    )] => "herokuapp.com";
    terraform_formation_before_build: [replace("terraform/builds.tf", "  depends_on = [heroku_build.service]\n", "")]
        => "must depend on the build";
    terraform_kafka_not_attached: [replace(
        "terraform/addons.tf",
        "addon_id = heroku_addon.kafka.id",
        "addon_id = heroku_addon.postgres.id",
    )] => "is attached to no other app";
    terraform_default_addon_timeout: [replace(
        "terraform/versions.tf",
        "addon_create_timeout = local.addon_create_timeout",
        "# no timeout",
    )] => "addon_create_timeout";
    terraform_provider_4: [replace("terraform/versions.tf", r#"version = "~> 5.2""#, r#"version = "~> 4.0""#)]
        => "major version 5";
    terraform_apps_before_the_cli_check: [replace(
        "terraform/apps.tf",
        "  depends_on = [terraform_data.heroku_cli_check]\n",
        "",
    )] => "must depend on terraform_data.heroku_cli_check";

    topic_script_forgets_compaction: [replace(
        "terraform/scripts/create-kafka-topics.sh",
        r#"if [ "$policy" = compact ]; then"#,
        "if false; then",
    )] => "enable compaction";
    topic_script_skips_consumer_groups: [replace(
        "terraform/scripts/create-kafka-topics.sh",
        "if [ -n \"$prefix\" ]; then\n  for group",
        "if [ -z \"$prefix\" ]; then\n  for group",
    )] => "consumer groups";
    topic_script_without_the_cli_check: [replace(
        "terraform/scripts/create-kafka-topics.sh",
        "bash \"$(dirname \"$0\")/check-heroku-cli.sh\"\n",
        "",
    )] => "no Kafka plugin";
    topic_script_ignores_topology_json: [replace(
        "terraform/scripts/create-kafka-topics.sh",
        "topics=$EDM_TOPOLOGY_TOPICS",
        "topics=edm-ui-click",
    )] => "from topology.json (logical names";
}
