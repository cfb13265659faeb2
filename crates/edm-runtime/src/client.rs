//! Who a request comes from, the same way in every service. With no proxy
//! in front (`EDM_TRUSTED_PROXY_HOPS=0`, the default) the client is the TCP
//! peer and `X-Forwarded-For` is ignored, since anyone can send it. Behind
//! N trusted proxies that each append the address they saw (Heroku's router:
//! N = 1), the client is the entry N places from the end: entries before it
//! were written by the client and prove nothing. An entry that is missing or
//! not an address there means the proxy chain is not what was configured;
//! the peer (the nearest proxy) is used then, never a client-chosen entry.
//!
//! The [`layer`] puts the [`ClientAddress`] in each request's extensions and,
//! when a trusted proxy says the client connected over TLS
//! (`X-Forwarded-Proto: https`), adds `Strict-Transport-Security` to the
//! answer.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, Request};
use axum::http::header::STRICT_TRANSPORT_SECURITY;
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// The address a request comes from, as the trusted proxies tell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientAddress(pub IpAddr);

/// How long browsers remember to use HTTPS only: one year.
const HSTS: HeaderValue = HeaderValue::from_static("max-age=31536000");

/// The client of a request from `peer` with `headers`, behind `hops`
/// trusted proxies.
pub fn client_address(headers: &HeaderMap, peer: Option<SocketAddr>, hops: usize) -> IpAddr {
    let peer = peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |p| p.ip());
    if hops == 0 {
        return peer;
    }
    let entries: Vec<&str> = forwarded_entries(headers, "x-forwarded-for").collect();
    entries
        .len()
        .checked_sub(hops)
        .and_then(|i| entries[i].parse::<IpAddr>().ok())
        .unwrap_or_else(|| {
            tracing::debug!(hops, "X-Forwarded-For lacks the trusted proxies' entries");
            peer
        })
}

/// Whether the nearest trusted proxy says the client used HTTPS.
fn forwarded_over_tls(headers: &HeaderMap, hops: usize) -> bool {
    hops > 0
        && forwarded_entries(headers, "x-forwarded-proto")
            .last()
            .is_some_and(|proto| proto.eq_ignore_ascii_case("https"))
}

/// The comma-separated entries of every `name` header line, in order.
fn forwarded_entries<'a>(headers: &'a HeaderMap, name: &str) -> impl Iterator<Item = &'a str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
}

/// Middleware: records the [`ClientAddress`] of each request and sends HSTS
/// to clients that came over TLS, behind `hops` trusted proxies.
pub async fn layer(hops: usize, mut request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0);
    let client = client_address(request.headers(), peer, hops);
    let tls = forwarded_over_tls(request.headers(), hops);
    request.extensions_mut().insert(ClientAddress(client));
    let mut response = next.run(request).await;
    if tls {
        response
            .headers_mut()
            .insert(STRICT_TRANSPORT_SECURITY, HSTS);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(forwarded_for: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for line in forwarded_for {
            headers.append("x-forwarded-for", line.parse().unwrap());
        }
        headers
    }

    #[test]
    fn without_a_trusted_proxy_the_header_is_ignored() {
        let peer: SocketAddr = "127.0.0.2:5555".parse().unwrap();
        let forged = headers(&["1.2.3.4"]);
        assert_eq!(client_address(&forged, Some(peer), 0), peer.ip());
    }

    #[test]
    fn behind_proxies_the_client_is_the_entry_they_appended() {
        let peer: SocketAddr = "10.1.2.3:5555".parse().unwrap();
        // The client forged "1.2.3.4"; Heroku's router appended 5.6.7.8.
        let sent = headers(&["1.2.3.4, 5.6.7.8"]);
        assert_eq!(
            client_address(&sent, Some(peer), 1),
            IpAddr::from([5, 6, 7, 8])
        );
        // Two proxies: the first appended 5.6.7.8, the second 10.0.0.1.
        let sent = headers(&["1.2.3.4, 5.6.7.8", "10.0.0.1"]);
        assert_eq!(
            client_address(&sent, Some(peer), 2),
            IpAddr::from([5, 6, 7, 8])
        );
    }

    #[test]
    fn a_chain_shorter_or_stranger_than_configured_falls_back_to_the_peer() {
        let peer: SocketAddr = "10.1.2.3:5555".parse().unwrap();
        assert_eq!(client_address(&headers(&[]), Some(peer), 1), peer.ip());
        // The old rule took the last parseable entry: the forged one here.
        let sent = headers(&["1.2.3.4, unknown"]);
        assert_eq!(client_address(&sent, Some(peer), 1), peer.ip());
    }

    #[test]
    fn tls_is_believed_only_from_a_trusted_proxy() {
        let mut sent = HeaderMap::new();
        sent.insert("x-forwarded-proto", "https".parse().unwrap());
        assert!(forwarded_over_tls(&sent, 1));
        assert!(!forwarded_over_tls(&sent, 0));
        sent.insert("x-forwarded-proto", "http".parse().unwrap());
        assert!(!forwarded_over_tls(&sent, 1));
    }
}
