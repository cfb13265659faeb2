//! Accepting and serving connections, with the bounds a public service
//! needs before any request reaches a handler:
//!
//! - at most `EDM_HTTP_MAX_CONNECTIONS` open connections, and at most
//!   `EDM_HTTP_MAX_CONNECTIONS_PER_ADDRESS` from one client (an address;
//!   for IPv6 its /64 network, see [`crate::occupancy`]) when
//!   clients connect directly (with a trusted proxy in front, every
//!   connection comes from the proxy, which bounds them itself). A
//!   connection over a cap gets `503` with a JSON body naming the cap and is
//!   closed. Upgraded connections (WebSockets) count until they close.
//! - request headers must arrive within `EDM_HTTP_HEADER_TIMEOUT_SECS` of
//!   the connection's start (or of the previous answer, on a kept-alive
//!   connection), or the connection is closed: a client that connects and
//!   sends nothing, or trickles its headers, holds nothing for long.
//! - a write (an answer, or WebSocket frames after an upgrade) that makes
//!   no progress for `EDM_HTTP_WRITE_TIMEOUT_SECS` closes the connection: a
//!   client that stops reading cannot hold an answer, its buffers and its
//!   connection place for ever.
//!
//! Every connection gets `TCP_NODELAY` (answers and WebSocket frames are
//! small: send them at once rather than wait for the peer's delayed ACK)
//! and its peer address as axum's `ConnectInfo`.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::background::StopSignal;
use crate::metrics::HttpMetrics;
use crate::occupancy::{Full, Held, Occupancy};

/// The connection bounds, from the service's HTTP settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectionLimits {
    /// Open connections at most.
    pub total: usize,
    /// Open connections from one client address at most; `None` when a
    /// proxy is trusted or the cap is off.
    pub per_address: Option<usize>,
    /// How long a client may take to send a request's headers.
    pub header_read_timeout: Duration,
    /// The largest request head (and read buffer) of a connection.
    pub max_header_bytes: usize,
    /// How long a write may make no progress before the connection is
    /// closed.
    pub write_timeout: Duration,
}

/// Serves `app` on `listener` until `stop` fires, then stops accepting and
/// waits for the open connections to finish their requests.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    metrics: HttpMetrics,
    stop: StopSignal,
) {
    let open_connections = TaskTracker::new();
    let open = Occupancy::new(limits.total, limits.per_address);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    pause_after_accept_error(&error).await;
                    continue;
                }
            },
            () = stop.cancelled() => break,
        };
        let admitted = match open.try_hold(peer.ip()) {
            Ok(admitted) => admitted,
            Err(full) => {
                let refusal = Refusal::from(full);
                metrics.connection_refused(refusal.as_str());
                tokio::spawn(refuse(tcp, refusal));
                continue;
            }
        };
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("TCP_NODELAY not set: {e}");
        }
        let service = app.clone().map_request(move |request: Request<Incoming>| {
            let mut request = request.map(Body::new);
            request.extensions_mut().insert(ConnectInfo(peer));
            request
        });
        let io = TokioIo::new(Counted {
            stream: tcp,
            _admitted: admitted,
            write_timeout: limits.write_timeout,
            write_stalled: None,
        });
        // HTTP/1.1 (what Heroku's router speaks to dynos), with the header
        // deadline running from the moment the connection is accepted.
        let mut http1 = http1::Builder::new();
        http1
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            // At least 8 KiB, as hyper requires (the setting's floor).
            .max_buf_size(limits.max_header_bytes.max(8192));
        let connection = http1
            .serve_connection(io, TowerToHyperService::new(service))
            .with_upgrades();
        let stop = stop.clone();
        open_connections.spawn(async move {
            let mut connection = std::pin::pin!(connection);
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
                () = stop.cancelled() => {
                    // Finish the request in flight, then close.
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = ended {
                tracing::debug!(%peer, "connection ended: {error}");
            }
        });
    }
    drop(listener);
    open_connections.close();
    open_connections.wait().await;
}

/// Errors of one connection (the client went away) need no pause; others
/// (out of file descriptors) are logged and retried after a second.
async fn pause_after_accept_error(error: &io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!("accepting a connection failed: {error}; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Why a connection was refused (the label of the refusal metric, and the
/// error code of the answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `EDM_HTTP_MAX_CONNECTIONS` reached.
    TooManyConnections,
    /// `EDM_HTTP_MAX_CONNECTIONS_PER_ADDRESS` reached for this address.
    TooManyFromAddress,
}

impl From<Full> for Refusal {
    fn from(full: Full) -> Self {
        match full {
            Full::Total => Refusal::TooManyConnections,
            Full::Client => Refusal::TooManyFromAddress,
        }
    }
}

impl Refusal {
    /// The label and error code: `too_many_connections` or
    /// `too_many_connections_from_address`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Refusal::TooManyConnections => "too_many_connections",
            Refusal::TooManyFromAddress => "too_many_connections_from_address",
        }
    }
}

/// Answers a refused connection with a `503` it can read, then closes it;
/// a client that does not read gets one second.
async fn refuse(mut tcp: TcpStream, reason: Refusal) {
    let body = format!(r#"{{"error":"{}"}}"#, reason.as_str());
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        tcp.write_all(answer.as_bytes()).await?;
        tcp.shutdown().await
    })
    .await;
}

/// A TCP stream that stays counted for as long as it is open, also after
/// an upgrade to WebSocket hands it over to the socket's handler, and whose
/// writes fail once they have made no progress for `write_timeout`.
struct Counted {
    stream: TcpStream,
    _admitted: Held,
    write_timeout: Duration,
    /// Running while a write waits for the peer to read.
    write_stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Counted {
    /// `poll` of a write: progress resets the deadline; waiting starts it
    /// (once), and waiting past it is an error.
    fn deadline<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: impl FnOnce(Pin<&mut TcpStream>, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match poll(Pin::new(&mut self.stream), cx) {
            Poll::Ready(done) => {
                self.write_stalled = None;
                Poll::Ready(done)
            }
            Poll::Pending => {
                let timeout = self.write_timeout;
                let stalled = self
                    .write_stalled
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match stalled.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the client read nothing for EDM_HTTP_WRITE_TIMEOUT_SECS",
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.deadline(cx, |stream, cx| stream.poll_write(cx, buf))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.deadline(cx, |stream, cx| stream.poll_flush(cx))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.deadline(cx, |stream, cx| stream.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
