//! edm-stream: pushes every EDM event, live, to every connected browser over
//! Socket.io: clicks and page loads as the Socket.io event `event`,
//! edm-trending's window results as `trending`, its per-minute counts as
//! `counts`; the payload is the record's JSON text as it was in Kafka.
//! Above `EDM_STREAM_RAW_EVENTS_PER_SECOND` no instance reads the clicks and
//! page loads: clients get the counts and edm-trending's sample (`sample`)
//! instead ([`mode`]).
//!
//! Every instance reads every partition of the topics itself (manual
//! assignment: no partitions are shared out), so with any number of
//! instances a browser connected to any one of them sees every event. Each
//! new client first gets the most recent events, then the live stream, with
//! no gap and no duplicate at the seam. Clients read one shared ring of recent
//! events, each from its own place, so a slow client never slows the
//! consumer or others, and loses events only once they leave the ring.
//!
//! # Layout
//! - [`settings`]: configuration from the environment.
//! - [`records`]: which records each topic streams, validated how, under
//!   which Socket.io event.
//! - [`hub`]: the recent-events ring and the clients' cursors into it.
//! - [`consumer`]: reads every partition and feeds the hub.
//! - [`backfill`]: what a starting instance reads first, handed to the hub
//!   oldest first across partitions.
//! - [`mode`]: raw events or summaries, by the store's rate.
//! - [`sockets`]: Socket.io connections and their writer tasks.
//! - [`stalls`]: the byte budget for clients that stopped reading.
//! - [`metrics`]: what `/metrics` reports (events, deliveries, drops, lag).
//! - [`startup`]: [`Stream`], the service as an `edm_runtime::Service`:
//!   consumer and Socket.io, readiness, and disconnecting clients on stop.
//! - binding, request layers, health, metrics and shutdown come from
//!   `edm-runtime`; the event format from `edm-events`.

pub mod backfill;
pub mod consumer;
pub mod hub;
pub mod metrics;
pub mod mode;
pub mod records;
pub mod settings;
pub mod sockets;
pub mod stalls;
pub mod startup;

pub use settings::Settings;
pub use startup::Stream;

/// The service's name, as in `topology.json`.
pub const NAME: &str = "edm-stream";
