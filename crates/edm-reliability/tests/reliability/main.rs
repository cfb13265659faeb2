//! The reliability suite: the attack suite, `./edm run`, fault injection,
//! the Heroku rehearsal, stream instances behind a proxy, and summaries
//! above edm-stream's threshold. One test
//! binary; its tests take the whole machine, so each holds [`SERIAL`] while
//! it runs, one after another as when they were binaries of their own.

mod attacks;
mod edm_run;
mod faults;
mod heroku_rehearsal;
mod stream_scale;
mod summaries;

/// Held by each test for as long as it runs: the tests start whole stacks,
/// brokers and browsers' worth of clients, and must not share the machine.
pub static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
