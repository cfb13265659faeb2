//! Starts the dashboard with settings from the environment (see `edm_runtime::main`).

fn main() -> std::process::ExitCode {
    edm_runtime::main::<edm_runtime::Pages<edm_dashboard::Dashboard>>()
}
