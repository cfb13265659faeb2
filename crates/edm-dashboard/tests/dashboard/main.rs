//! edm-dashboard: its page and routes, and its vendored scripts. One test
//! binary, a module per subject.

mod page;
mod vendor;
