//! Starts edm-stream with settings from the environment (see `edm_runtime::main`).

fn main() -> std::process::ExitCode {
    edm_runtime::main::<edm_stream::Stream>()
}
