//! edm-trending on a real broker, as real processes: exactly once through
//! crashes, hangs, fences and zombies; event time on a quiet store, against
//! foreign timestamps and over an uneven backlog; records other producers
//! wrote to its internal topics, and its drop counters; and a Heroku-shaped
//! plan without transactional ids.

mod common;
mod event_time;
mod exactly_once;
mod heroku_plans;
mod hostile;
mod tasks;
