//! Counting what clients hold at once (open connections, requests in
//! flight), in total and per client, with a cap on each. What a client is
//! given is a [`Held`] guard; dropping it gives the place back.
//!
//! A client is its address, except that an IPv6 address counts as its /64
//! network: that is what one subscriber or one server is given, and it
//! holds more addresses than any cap could count one by one.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

/// The client an address belongs to: IPv4 as is, IPv6 by its /64 network.
pub fn client_of(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

/// Which cap a client ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// Every place is taken.
    Total,
    /// This client holds as many as one client may.
    Client,
}

/// Places held, in total and per client.
#[derive(Debug, Clone)]
pub struct Occupancy {
    total: usize,
    per_client: Option<usize>,
    counts: Arc<Mutex<Counts>>,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    by_client: HashMap<IpAddr, usize>,
}

impl Occupancy {
    /// At most `total` places, and `per_client` for one client (`None`:
    /// only the total counts).
    pub fn new(total: usize, per_client: Option<usize>) -> Self {
        Self {
            total,
            per_client,
            counts: Arc::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Counts> {
        self.counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A place for `address`'s client, or which cap it is over.
    pub fn try_hold(&self, address: IpAddr) -> Result<Held, Full> {
        let client = client_of(address);
        let mut counts = self.lock();
        if counts.total >= self.total {
            return Err(Full::Total);
        }
        if let Some(cap) = self.per_client {
            let held = counts.by_client.entry(client).or_default();
            if *held >= cap {
                return Err(Full::Client);
            }
            *held += 1;
        }
        counts.total += 1;
        Ok(Held {
            occupancy: self.clone(),
            client,
        })
    }

    /// Places held now.
    pub fn held(&self) -> usize {
        self.lock().total
    }

    fn release(&self, client: IpAddr) {
        let mut counts = self.lock();
        counts.total = counts.total.saturating_sub(1);
        if let Some(held) = counts.by_client.get_mut(&client) {
            *held -= 1;
            if *held == 0 {
                counts.by_client.remove(&client);
            }
        }
    }
}

/// One place held; dropping it gives the place back.
#[derive(Debug)]
pub struct Held {
    occupancy: Occupancy,
    client: IpAddr,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.occupancy.release(self.client);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_counted_per_client_and_in_total_until_dropped() {
        let occupancy = Occupancy::new(3, Some(2));
        let a = IpAddr::from([127, 0, 0, 2]);
        let b = IpAddr::from([127, 0, 0, 3]);
        let first = occupancy.try_hold(a).unwrap();
        let _second = occupancy.try_hold(a).unwrap();
        assert_eq!(
            occupancy.try_hold(a).unwrap_err(),
            Full::Client,
            "a third for one client"
        );
        let _third = occupancy.try_hold(b).unwrap();
        assert_eq!(
            occupancy.try_hold(b).unwrap_err(),
            Full::Total,
            "a fourth in total"
        );
        drop(first);
        assert!(
            occupancy.try_hold(a).is_ok(),
            "a place given back makes room"
        );
    }

    #[test]
    fn without_a_per_client_cap_only_the_total_counts() {
        let occupancy = Occupancy::new(2, None);
        let a = IpAddr::from([10, 0, 0, 1]);
        let _kept = [
            occupancy.try_hold(a).unwrap(),
            occupancy.try_hold(a).unwrap(),
        ];
        assert_eq!(occupancy.try_hold(a).unwrap_err(), Full::Total);
        assert!(occupancy.lock().by_client.is_empty());
    }

    #[test]
    fn one_ipv6_network_is_one_client() {
        let occupancy = Occupancy::new(10, Some(1));
        let _held = occupancy
            .try_hold("2001:db8:1:2::1".parse().unwrap())
            .unwrap();
        let same_network = "2001:db8:1:2:ffff::9".parse().unwrap();
        assert_eq!(occupancy.try_hold(same_network).unwrap_err(), Full::Client);
        assert!(occupancy
            .try_hold("2001:db8:1:3::1".parse().unwrap())
            .is_ok());
        let mapped: IpAddr = "::ffff:10.1.2.3".parse().unwrap();
        assert_eq!(client_of(mapped), IpAddr::from([10, 1, 2, 3]));
    }
}
