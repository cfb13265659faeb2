//! Property tests of the whole core on generated click sequences: results
//! against an independent reference model, restore-anywhere equivalence,
//! and the output records against their JSON Schema.
//!
//! Cases per property: 256 by default; set `PROPTEST_CASES` for more.

mod generators;
mod output_schema;
mod reference_model;
mod restore_equivalence;
