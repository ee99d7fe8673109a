//! The listener: accepts connections (plain or TLS) and serves the router on
//! each, within bounds an attacker or a broken client cannot push past — a
//! time to send the headers (also the idle time of a kept-alive connection),
//! a time to send the body, a time to answer the whole request, and a number
//! of connections, past which a new one gets a short 503 and is closed. On
//! shutdown it stops accepting and lets the requests in flight finish.
//! It owns sockets and time limits; it never looks inside a request's meaning.

use crate::api::error::ApiError;
use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

/// Bodies larger than this are refused before any handler runs (each
/// endpoint has its own, smaller limit; this is axum's default, kept).
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;
/// Connections over the cap that may be answered 503 at once; past that
/// they are closed without an answer.
const REFUSERS: usize = 64;
/// How long requests in flight may take to finish once shutdown begins.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// What bounds a connection and a request.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// From a connection's first byte (or the end of its last answer) to the
    /// end of a request's headers; also the TLS handshake's limit.
    pub header_timeout: Duration,
    /// From the headers to the end of the body.
    pub body_timeout: Duration,
    /// From the headers to the end of the answer.
    pub request_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(15),
            request_timeout: Duration::from_secs(30),
            max_connections: 1024,
        }
    }
}

/// The router with the body and whole-request time limits applied to every route.
pub fn bounded(app: Router, limits: Limits) -> Router {
    app.layer(axum::middleware::from_fn(move |req, next| {
        within_limits(req, next, limits)
    }))
}

/// Reads the body within `body_timeout` (so a trickled body cannot hold a
/// worker), then answers within `request_timeout`.
async fn within_limits(req: Request, next: Next, limits: Limits) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = match tokio::time::timeout(
        limits.body_timeout,
        axum::body::to_bytes(body, MAX_BODY_BYTES),
    )
    .await
    {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) if is_length_limit(&e) => {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("request body exceeds {} KB", MAX_BODY_BYTES / 1024),
            )
            .into_response();
        }
        Ok(Err(e)) => {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_body",
                format!("reading the request body: {e}"),
            )
            .into_response();
        }
        Err(_) => {
            return ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                format!(
                    "the request body did not arrive within {} s",
                    limits.body_timeout.as_secs_f64()
                ),
            )
            .into_response();
        }
    };
    let req = Request::from_parts(parts, Body::from(bytes));
    match tokio::time::timeout(limits.request_timeout, next.run(req)).await {
        Ok(response) => response,
        Err(_) => {
            // Work handed to the runner before this still commits; a client
            // that retries is deduplicated (events by dedup key).
            let mut response = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "request_timeout",
                format!(
                    "no answer within {} s; try again",
                    limits.request_timeout.as_secs_f64()
                ),
            )
            .into_response();
            response
                .headers_mut()
                .insert("retry-after", axum::http::HeaderValue::from_static("1"));
            response
        }
    }
}

fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// Serves `app` on `listener` until `shutdown` completes, then waits up to
/// [`SHUTDOWN_GRACE`] for the requests in flight.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<TlsAcceptor>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let refusers = Arc::new(Semaphore::new(REFUSERS));
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.header_timeout)
        .keep_alive_timeout(limits.header_timeout);
    let builder = Arc::new(builder);
    tokio::pin!(shutdown);
    let mut last_accept_warning: Option<tokio::time::Instant> = None;
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, most likely: retrying at once
                    // would spin. Connections already open go on being served.
                    let now = tokio::time::Instant::now();
                    if last_accept_warning.is_none_or(|t| now - t > Duration::from_secs(5)) {
                        tracing::warn!(error = %e, "accept failed; retrying shortly");
                        last_accept_warning = Some(now);
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            if let Ok(refuser) = refusers.clone().try_acquire_owned() {
                tokio::spawn(async move {
                    refuse(stream, limits).await;
                    drop(refuser);
                });
            }
            tracing::debug!(%peer, "connection refused: at the cap of {}", limits.max_connections);
            continue;
        };
        let (app, builder, watcher, tls) = (
            app.clone(),
            builder.clone(),
            graceful.watcher(),
            tls.clone(),
        );
        tokio::spawn(async move {
            let service = TowerToHyperService::new(app);
            let result = match tls {
                None => {
                    let io = FirstByteBy::new(stream, limits.header_timeout);
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
                    watcher.watch(conn.into_owned()).await
                }
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(limits.header_timeout, acceptor.accept(stream)).await;
                    let tls_stream = match handshake {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, "TLS handshake failed: {e}");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    };
                    let io = FirstByteBy::new(tls_stream, limits.header_timeout);
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
                    watcher.watch(conn.into_owned()).await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, "connection ended: {e}");
            }
            drop(slot);
        });
    }
    drop(listener);
    tracing::info!(
        in_flight = graceful.count(),
        "no longer accepting; finishing requests in flight"
    );
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after {SHUTDOWN_GRACE:?}; closing them");
    }
    Ok(())
}

/// A connection that must send its first byte by a deadline. hyper's header
/// timeout starts only once the protocol is known, which takes a first byte:
/// without this, a client that connects and says nothing is kept for ever.
struct FirstByteBy<S> {
    inner: S,
    deadline: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl<S> FirstByteBy<S> {
    fn new(inner: S, within: Duration) -> Self {
        Self {
            inner,
            deadline: Some(Box::pin(tokio::time::sleep(within))),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for FirstByteBy<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        match std::pin::Pin::new(&mut this.inner).poll_read(cx, buf) {
            std::task::Poll::Ready(result) => {
                if buf.filled().len() > before {
                    this.deadline = None;
                }
                std::task::Poll::Ready(result)
            }
            std::task::Poll::Pending => {
                let expired = this
                    .deadline
                    .as_mut()
                    .is_some_and(|d| d.as_mut().poll(cx).is_ready());
                if expired {
                    return std::task::Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "no request on a new connection",
                    )));
                }
                std::task::Poll::Pending
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for FirstByteBy<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Answers a connection over the cap with a 503 (HTTP/1.1, whatever it
/// asked) and closes it, without waiting long for its request.
async fn refuse<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(stream: S, limits: Limits) {
    let service = hyper::service::service_fn(|_req| async {
        let mut response = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_connections",
            "the server is at its connection limit; try again",
        )
        .into_response();
        let headers = response.headers_mut();
        headers.insert("retry-after", axum::http::HeaderValue::from_static("1"));
        headers.insert("connection", axum::http::HeaderValue::from_static("close"));
        Ok::<_, std::convert::Infallible>(response)
    });
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1
        .timer(TokioTimer::new())
        .keep_alive(false)
        .header_read_timeout(limits.header_timeout.min(Duration::from_secs(2)));
    let _ = http1.serve_connection(TokioIo::new(stream), service).await;
}

/// Raises the soft limit on open files to the hard limit, where allowed, and
/// returns the soft limit in force: each connection takes one.
pub fn raise_open_files_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit and setrlimit only read and write the struct given.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
                return None;
            }
            if limit.rlim_cur < limit.rlim_max {
                let raised = libc::rlimit {
                    rlim_cur: limit.rlim_max,
                    rlim_max: limit.rlim_max,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                    limit = raised;
                }
            }
        }
        // rlim_t is u64 on Linux, not everywhere.
        #[allow(clippy::unnecessary_cast)]
        Some(limit.rlim_cur as u64)
    }
    #[cfg(not(unix))]
    None
}

/// Descriptors kept back from connections for the database, outgoing sends
/// (up to 256 at once) and files.
pub const RESERVED_DESCRIPTORS: usize = 512;

/// The connection cap: `wanted`, lowered so connections cannot use the
/// descriptors the database and the notifier need.
pub fn connection_cap(wanted: usize, open_files: Option<u64>) -> usize {
    match open_files {
        Some(n) => wanted.min((n as usize).saturating_sub(RESERVED_DESCRIPTORS).max(16)),
        None => wanted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_descriptors_for_the_database_and_sends() {
        assert_eq!(connection_cap(1024, Some(1024)), 512);
        assert_eq!(connection_cap(1024, Some(1_048_576)), 1024);
        assert_eq!(connection_cap(1024, Some(100)), 16);
        assert_eq!(connection_cap(300, None), 300);
    }
}
