//! Engine.IO long-polling by hand, as a crowd of sessions (or one that
//! never upgrades) speaks it: open a session, ask to join the namespace,
//! poll until the server's answer comes. For tests of what edm-stream does
//! with sessions that join, are refused, or are left waiting.

use serde_json::Value;

/// Why a session did not get an answer to its join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollingFailure {
    /// The handshake could not be sent.
    HandshakeFailed,
    /// The handshake was answered with this status.
    HandshakeStatus(u16),
    /// The handshake's answer held no session id.
    NoSession,
    /// The join could not be sent, or was not accepted.
    JoinNotTaken,
    /// No poll brought the join's answer.
    JoinUnanswered,
}

/// The server's answer to a join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinAnswer {
    /// A connect packet (`40`): the session joined.
    Joined,
    /// A connect error (`44`) with its message.
    Refused(String),
}

/// A client for one address, optionally behind a proxy that names
/// `forwarded` in `X-Forwarded-For`.
pub struct Polling<'a> {
    http: &'a reqwest::Client,
    endpoint: String,
    forwarded: Option<&'a str>,
}

impl<'a> Polling<'a> {
    /// Sessions of the Engine.IO endpoint at `base_url` (the stream's
    /// `http://host:port`).
    pub fn new(http: &'a reqwest::Client, base_url: &str, forwarded: Option<&'a str>) -> Self {
        Self {
            http,
            endpoint: format!("{base_url}/socket.io/?EIO=4&transport=polling"),
            forwarded,
        }
    }

    fn request(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self.forwarded {
            Some(address) => request.header("x-forwarded-for", address),
            None => request,
        }
    }

    /// Opens a session; returns its URL (the endpoint with its `sid`).
    pub async fn open(&self) -> Result<String, PollingFailure> {
        let open = self
            .request(self.http.get(&self.endpoint))
            .send()
            .await
            .map_err(|_| PollingFailure::HandshakeFailed)?;
        if !open.status().is_success() {
            return Err(PollingFailure::HandshakeStatus(open.status().as_u16()));
        }
        let text = open.text().await.unwrap_or_default();
        let sid = text
            .strip_prefix('0')
            .and_then(|o| serde_json::from_str::<Value>(o).ok())
            .and_then(|o| o["sid"].as_str().map(str::to_owned))
            .ok_or(PollingFailure::NoSession)?;
        Ok(format!("{}&sid={sid}", self.endpoint))
    }

    /// Asks `session` to join the main namespace and polls (up to five
    /// times) until the answer comes: the server decides in a task of its
    /// own, so a poll may first bring only a ping or other packets.
    pub async fn join(&self, session: &str) -> Result<JoinAnswer, PollingFailure> {
        let sent = self
            .request(self.http.post(session).body("40"))
            .send()
            .await;
        if !sent.is_ok_and(|r| r.status().is_success()) {
            return Err(PollingFailure::JoinNotTaken);
        }
        for _ in 0..5 {
            let answer = match self.request(self.http.get(session)).send().await {
                Ok(r) => r.text().await.unwrap_or_default(),
                Err(_) => return Err(PollingFailure::JoinUnanswered),
            };
            // Packets of a polling answer are separated by U+001E.
            for packet in answer.split('\u{1e}') {
                if packet.starts_with("40") {
                    return Ok(JoinAnswer::Joined);
                }
                if let Some(error) = packet.strip_prefix("44") {
                    let message = serde_json::from_str::<Value>(error)
                        .ok()
                        .and_then(|e| e["message"].as_str().map(str::to_owned))
                        .unwrap_or_default();
                    return Ok(JoinAnswer::Refused(message));
                }
            }
        }
        Err(PollingFailure::JoinUnanswered)
    }

    /// Opens a session and joins it.
    pub async fn open_and_join(&self) -> Result<(String, JoinAnswer), PollingFailure> {
        let session = self.open().await?;
        let answer = self.join(&session).await?;
        Ok((session, answer))
    }
}
