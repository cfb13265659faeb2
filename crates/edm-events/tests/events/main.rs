//! edm-events: the committed event catalog and generated inputs against the
//! parsers. One test binary, a module per subject.

mod catalog;
mod fuzz;
