//! What a produce request must hold before a byte of its body is read, so
//! that reading bodies is bounded in count and memory whatever clients do:
//!
//! - a place among the requests in flight (`EDM_RELAY_MAX_IN_FLIGHT` in
//!   all, `EDM_RELAY_MAX_IN_FLIGHT_PER_CLIENT` for one client), so that
//!   slow bodies from a few clients cannot take every place;
//! - for a batch, its declared size (or the batch limit when it declares
//!   none) from the memory budget for batch bodies
//!   (`EDM_RELAY_MAX_BATCH_BUFFER_BYTES`), so that large bodies in
//!   parallel cannot exhaust memory.
//!
//! Single events need no share of the budget: a place bounds them to
//! `EDM_RELAY_MAX_BODY_BYTES` each.

use std::net::IpAddr;
use std::sync::Arc;

use edm_runtime::occupancy::{Full, Held, Occupancy};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;
use crate::settings::Settings;

/// The budget is counted in KiB so that it fits a semaphore's permits.
const UNIT: usize = 1024;

/// Places for requests in flight and the batch bodies' memory budget.
#[derive(Debug, Clone)]
pub struct Admission {
    in_flight: Occupancy,
    max_in_flight_per_client: usize,
    batch_buffer: Arc<Semaphore>,
    max_batch_bytes: usize,
}

/// What an admitted request holds until it is answered.
#[derive(Debug)]
pub struct Admitted {
    _place: Held,
    _buffer: Option<OwnedSemaphorePermit>,
}

impl Admission {
    /// The bounds `settings` name.
    pub fn new(settings: &Settings) -> Self {
        Self {
            in_flight: Occupancy::new(
                settings.max_in_flight,
                Some(settings.max_in_flight_per_client),
            ),
            max_in_flight_per_client: settings.max_in_flight_per_client,
            batch_buffer: Arc::new(Semaphore::new(
                settings.max_batch_buffer_bytes.div_ceil(UNIT),
            )),
            max_batch_bytes: settings.max_batch_bytes,
        }
    }

    /// Admits a single-event request from `client`.
    pub fn single(&self, client: IpAddr) -> Result<Admitted, ApiError> {
        Ok(Admitted {
            _place: self.place(client)?,
            _buffer: None,
        })
    }

    /// Admits a batch from `client` that declares `content_length` bytes.
    /// A declared size over the batch limit is refused here, unread.
    pub fn batch(&self, client: IpAddr, content_length: Option<u64>) -> Result<Admitted, ApiError> {
        let bytes = match content_length {
            Some(declared) if declared > self.max_batch_bytes as u64 => {
                return Err(ApiError::PayloadTooLarge {
                    limit: self.max_batch_bytes,
                })
            }
            Some(declared) => declared as usize,
            None => self.max_batch_bytes,
        };
        let place = self.place(client)?;
        let units = u32::try_from(bytes.div_ceil(UNIT).max(1)).unwrap_or(u32::MAX);
        let buffer = self
            .batch_buffer
            .clone()
            .try_acquire_many_owned(units)
            .map_err(|_| ApiError::Overloaded)?;
        Ok(Admitted {
            _place: place,
            _buffer: Some(buffer),
        })
    }

    fn place(&self, client: IpAddr) -> Result<Held, ApiError> {
        self.in_flight.try_hold(client).map_err(|full| match full {
            Full::Total => ApiError::Overloaded,
            Full::Client => ApiError::TooManyInFlight {
                max: self.max_in_flight_per_client,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edm_config::MapEnv;
    use edm_runtime::ServiceSettings;

    fn admission(pairs: &[(&str, &str)]) -> Admission {
        let mut env = MapEnv::default().with("KAFKA_URL", "kafka://localhost:9092");
        for (k, v) in pairs {
            env = env.with(k, *v);
        }
        Admission::new(&Settings::from_env(&env).unwrap())
    }

    #[test]
    fn one_client_cannot_take_every_place() {
        let admission = admission(&[
            ("EDM_RELAY_MAX_IN_FLIGHT", "3"),
            ("EDM_RELAY_MAX_IN_FLIGHT_PER_CLIENT", "2"),
        ]);
        let a = IpAddr::from([127, 0, 0, 2]);
        let _held = [admission.single(a).unwrap(), admission.single(a).unwrap()];
        assert!(matches!(
            admission.single(a).unwrap_err(),
            ApiError::TooManyInFlight { max: 2 }
        ));
        let b = IpAddr::from([127, 0, 0, 3]);
        let _other = admission.single(b).unwrap();
        assert!(matches!(
            admission.single(b).unwrap_err(),
            ApiError::Overloaded
        ));
    }

    #[test]
    fn batch_bodies_share_a_memory_budget_taken_before_reading() {
        let admission = admission(&[
            ("EDM_RELAY_MAX_BATCH_BYTES", "1048576"),
            ("EDM_RELAY_MAX_BATCH_BUFFER_BYTES", "2097152"),
        ]);
        let a = IpAddr::from([127, 0, 0, 2]);
        let first = admission.batch(a, Some(1 << 20)).unwrap();
        let _second = admission.batch(a, Some(600 << 10)).unwrap();
        assert!(
            matches!(admission.batch(a, None).unwrap_err(), ApiError::Overloaded),
            "an undeclared size reserves the whole limit"
        );
        assert!(admission.batch(a, Some(400 << 10)).is_ok(), "what is left");
        assert!(matches!(
            admission.batch(a, Some((1 << 20) + 1)).unwrap_err(),
            ApiError::PayloadTooLarge { .. }
        ));
        drop(first);
        assert!(
            admission.batch(a, None).is_ok(),
            "a finished batch gives its share back"
        );
    }
}
