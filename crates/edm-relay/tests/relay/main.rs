//! edm-relay against a real broker: its API, the event catalog, hostile
//! clients, secrets, and generated hostile requests. One test binary, a
//! module per subject.

mod api;
mod event_catalog;
mod fuzz;
mod hostile_clients;
mod secrets;
