//! The query endpoint of a serving process: an HTTP/1.1 server (hyper, on a single-threaded
//! tokio runtime of its own thread), so that nothing a client does reaches the job's workers.
//!
//! - `GET /models`: every key on every worker of the process ([`ProcessReport`](crate::state::ProcessReport));
//! - `GET /models/{dataType}`: one key (404 when no worker of the process has it);
//! - `GET /monitor`: the windowed figures of every key the process monitors
//!   ([`MonitorReport`](crate::state::monitor::MonitorReport));
//! - `GET /monitor/{dataType}`: one key's (404 when the process does not monitor it);
//! - `GET /history`: the recent figures of each monitored key, tick by tick, for charts;
//! - `GET /`: the status page (HTML, with its chart script `GET /charts.js`, both served from
//!   the binary), which shows the above and refreshes itself every second;
//! - `GET /health`: [`Health`](crate::state::Health), HTTP 200 while serving, 503 otherwise;
//! - `GET /metrics`: Prometheus metrics ([`Metrics`]).
//!
//! Hardened against what clients may send: at most [`MAX_CONNECTIONS`] connections at once
//! (more are closed as they come), request heads of at most [`MAX_HEAD_BYTES`] read within
//! [`HEAD_TIMEOUT`], a connection closed after [`CONNECTION_TIMEOUT`] whatever it does, request
//! bodies never read (only GET is served). It listens on loopback unless given a bearer token,
//! which every request but `/health` must then carry (`Authorization: Bearer TOKEN`).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE as CONTENT_TYPE_HEADER};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::sync::{oneshot, Semaphore};

use super::metrics::{Metrics, CONTENT_TYPE};
use crate::state::ProcessState;

/// The status page.
const PAGE: &str = include_str!("page/index.html");
/// The status page's charts.
const CHARTS: &str = include_str!("page/charts.js");

/// The most connections served at once; more are closed as they come.
pub const MAX_CONNECTIONS: usize = 128;
/// The largest request head (request line and headers) read.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// How long a client may take to send a request head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a connection may stay open, whatever it does.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);

/// A running query endpoint; dropping it stops the server.
pub struct StateServer {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// What every request handler reads.
struct Shared {
    process: Arc<ProcessState>,
    metrics: Metrics,
    token: Option<String>,
}

impl StateServer {
    /// Starts answering queries about `process` on `addr` (port 0 picks a free port). An
    /// address beyond this machine needs a `token`.
    pub fn start(
        addr: SocketAddr,
        token: Option<String>,
        process: Arc<ProcessState>,
    ) -> Result<Self> {
        if !addr.ip().is_loopback() && token.is_none() {
            bail!(
                "the state endpoint would listen on {addr}, beyond this machine: give it a \
                 bearer token (--state-token, or MODELSERVER_STATE_TOKEN) or a loopback address"
            );
        }
        let listener = std::net::TcpListener::bind(addr)
            .with_context(|| format!("binding the state endpoint to {addr}"))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            metrics: Metrics::new(process.clone()),
            process,
            token,
        });
        let (shutdown, stopped) = oneshot::channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .context("starting the state endpoint's runtime")?;
        let thread = std::thread::Builder::new()
            .name("state-endpoint".into())
            .spawn(move || runtime.block_on(serve(listener, shared, stopped)))
            .context("starting the state endpoint thread")?;
        tracing::info!(%addr, "state endpoint listening");
        Ok(StateServer {
            addr,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// The address the endpoint listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for StateServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Accepts connections until told to stop, serving at most [`MAX_CONNECTIONS`] at once.
async fn serve(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    mut stopped: oneshot::Receiver<()>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(error) => return tracing::error!("the state endpoint cannot listen: {error}"),
    };
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut stopped => return,
        };
        let Ok((stream, _)) = accepted else {
            // Out of descriptors, say: wait a little rather than spin.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            continue; // Too many connections: this one is closed as it is dropped.
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(answer(&request, &shared)) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEAD_TIMEOUT)
                .max_buf_size(MAX_HEAD_BYTES)
                .serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(CONNECTION_TIMEOUT, connection).await;
            drop(permit);
        });
    }
}

/// An HTTP answer: status, content type and body.
type Answer = (StatusCode, &'static str, String);

fn answer(request: &Request<Incoming>, shared: &Shared) -> Response<Full<Bytes>> {
    let (status, content_type, body) = route(request, shared);
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE_HEADER,
        hyper::header::HeaderValue::from_static(content_type),
    );
    response
}

fn route(request: &Request<Incoming>, shared: &Shared) -> Answer {
    if request.method() != Method::GET {
        return error(StatusCode::METHOD_NOT_ALLOWED, "only GET is served");
    }
    let path = request.uri().path().trim_end_matches('/');
    if path == "/health" {
        let health = shared.process.health();
        let status = match health.is_serving() {
            true => StatusCode::OK,
            false => StatusCode::SERVICE_UNAVAILABLE,
        };
        return json(status, &health);
    }
    if !authorized(request, shared.token.as_deref()) {
        return error(StatusCode::UNAUTHORIZED, "a bearer token is required");
    }
    match path {
        "" => (StatusCode::OK, "text/html; charset=utf-8", PAGE.into()),
        "/charts.js" => (StatusCode::OK, "text/javascript; charset=utf-8", CHARTS.into()),
        "/history" => json(StatusCode::OK, &shared.process.monitors().history()),
        "/models" => json(StatusCode::OK, &shared.process.report(None)),
        "/monitor" => json(StatusCode::OK, &shared.process.monitor_report(None)),
        "/metrics" => (StatusCode::OK, CONTENT_TYPE, shared.metrics.render()),
        other if other.starts_with("/monitor/") => monitored_key(other, shared),
        other => match other.strip_prefix("/models/").map(percent_decode) {
            Some(Some(data_type)) => {
                let report = shared.process.report(Some(&data_type));
                if report.keys.is_empty() {
                    let message = format!("no worker of this process has data type `{data_type}`");
                    error(StatusCode::NOT_FOUND, &message)
                } else {
                    json(StatusCode::OK, &report)
                }
            }
            Some(None) => error(
                StatusCode::BAD_REQUEST,
                "the data type is not valid percent-encoded UTF-8",
            ),
            None => error(
                StatusCode::NOT_FOUND,
                "try /, /models, /models/{dataType}, /monitor, /monitor/{dataType}, /history, /health or /metrics",
            ),
        },
    }
}

/// `GET /monitor/{dataType}`.
fn monitored_key(path: &str, shared: &Shared) -> Answer {
    let segment = path.strip_prefix("/monitor/").unwrap_or_default();
    let Some(data_type) = percent_decode(segment) else {
        return error(
            StatusCode::BAD_REQUEST,
            "the data type is not valid percent-encoded UTF-8",
        );
    };
    let report = shared.process.monitor_report(Some(&data_type));
    if report.keys.is_empty() {
        let message = format!("this process monitors no data type `{data_type}`");
        return error(StatusCode::NOT_FOUND, &message);
    }
    json(StatusCode::OK, &report)
}

/// Whether the request carries the token (always, when there is none).
fn authorized(request: &Request<Incoming>, token: Option<&str>) -> bool {
    let Some(token) = token else {
        return true;
    };
    let given = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    given.is_some_and(|given| constant_time_eq(given.as_bytes(), token.as_bytes()))
}

/// Compares without an early exit, so that the time taken does not tell how much matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

fn json(status: StatusCode, body: &impl Serialize) -> Answer {
    let body = serde_json::to_string_pretty(body).expect("state serializes");
    (status, "application/json", body)
}

fn error(status: StatusCode, message: &str) -> Answer {
    json(status, &serde_json::json!({ "error": message }))
}

/// Decodes the `%XX` escapes of a URL path segment; `None` when the result is not UTF-8.
fn percent_decode(segment: &str) -> Option<String> {
    let decoded = percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .ok()?;
    Some(decoded.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("wine").as_deref(), Some("wine"));
        assert_eq!(
            percent_decode("red%20wine%2Fv2").as_deref(),
            Some("red wine/v2")
        );
        assert_eq!(percent_decode("caf%C3%A9").as_deref(), Some("café"));
        assert_eq!(percent_decode("bad%ff").as_deref(), None);
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret-and-more"));
    }
}
