//! Starts edm-trending; SIGTERM (Heroku) or Ctrl-C commits the open cycle
//! and stops it.

use std::process::ExitCode;

fn main() -> ExitCode {
    edm_runtime::main::<edm_trending::Trending>()
}
