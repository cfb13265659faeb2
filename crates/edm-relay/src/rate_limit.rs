//! Per-client rate limiting: each client (by IP address) may send
//! `EDM_RELAY_RATE_LIMIT_PER_SECOND` events per second on average, in bursts
//! of up to `EDM_RELAY_RATE_LIMIT_BURST`. A batch costs one unit per event.
//! The client is the runtime's client address (the peer, or what the
//! trusted proxies say), an IPv6 address counting as its /64 network (see
//! `edm_runtime::occupancy`), so that one host cannot spread its events
//! over many addresses. Clients that went quiet are forgotten every minute;
//! each one remembered costs a few dozen bytes.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use edm_runtime::occupancy::client_of;
use edm_runtime::StopSignal;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// The relay's limiter, shared by all requests.
pub struct ClientLimiter {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    burst: u32,
}

/// Why a client must wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    /// How long until the events would be allowed.
    pub retry_after: Duration,
    /// Whether the request can never pass (more events than the burst).
    pub exceeds_burst: bool,
}

impl ClientLimiter {
    /// A limiter allowing `per_second` events per client on average and
    /// `burst` at once; `None` when `per_second` is 0 (limiting off).
    pub fn new(per_second: u32, burst: u32) -> Option<Self> {
        let rate = NonZeroU32::new(per_second)?;
        let burst = NonZeroU32::new(burst.max(1)).expect("at least 1");
        Some(Self {
            limiter: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
            burst: burst.get(),
        })
    }

    /// Takes `events` units from `client`'s allowance, or says how long to wait.
    pub fn check(&self, client: IpAddr, events: u32) -> Result<(), Limited> {
        let Some(n) = NonZeroU32::new(events) else {
            return Ok(());
        };
        match self.limiter.check_key_n(&client_of(client), n) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(Limited {
                retry_after: not_until.wait_time_from(DefaultClock::default().now()),
                exceeds_burst: false,
            }),
            Err(_) => Err(Limited {
                retry_after: Duration::ZERO,
                exceeds_burst: true,
            }),
        }
    }

    /// The burst size.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// Forgets clients that have been quiet, bounding memory.
    pub fn forget_idle_clients(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// Forgets quiet clients every `interval` until `stop` fires.
    pub async fn forget_idle_clients_until(&self, interval: Duration, stop: StopSignal) {
        let mut tick = tokio::time::interval(interval);
        loop {
            tokio::select! {
                _ = tick.tick() => self.forget_idle_clients(),
                () = stop.cancelled() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_client_has_its_own_allowance() {
        let limiter = ClientLimiter::new(1, 3).unwrap();
        let a = IpAddr::from([10, 0, 0, 1]);
        let b = IpAddr::from([10, 0, 0, 2]);
        assert!(limiter.check(a, 3).is_ok());
        let limited = limiter.check(a, 1).unwrap_err();
        assert!(!limited.exceeds_burst && limited.retry_after > Duration::ZERO);
        assert!(limiter.check(b, 1).is_ok(), "another client is unaffected");
        assert!(limiter.check(b, 4).unwrap_err().exceeds_burst);
    }

    #[test]
    fn addresses_of_one_ipv6_network_share_an_allowance() {
        let limiter = ClientLimiter::new(1, 2).unwrap();
        for host in ["2001:db8::1", "2001:db8::2"] {
            assert!(limiter.check(host.parse().unwrap(), 1).is_ok());
        }
        assert!(limiter.check("2001:db8::3".parse().unwrap(), 1).is_err());
        assert!(limiter.check("2001:db8:0:1::1".parse().unwrap(), 1).is_ok());
    }

    #[test]
    fn zero_turns_limiting_off() {
        assert!(ClientLimiter::new(0, 10).is_none());
    }
}
