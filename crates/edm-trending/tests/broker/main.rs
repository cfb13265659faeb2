//! edm-trending on a real broker, as real processes: exactly once through
//! crashes, hangs, fences and zombies; event time on a quiet store, against
//! foreign timestamps and over an uneven backlog; records other producers
//! wrote to its internal topics, and its drop counters; a Heroku-shaped
//! plan without transactional ids; the sample of the store's events,
//! exact in its totals and bounded in size; and retried events counted
//! once, as edm-stats counts them.

mod common;
mod event_time;
mod exactly_once;
mod heroku_plans;
mod hostile;
mod retries;
mod sample;
mod tasks;
