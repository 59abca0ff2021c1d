//! The query endpoint of a serving process: a small HTTP server on its own thread.
//!
//! - `GET /models`: every key on every worker of the process ([`ProcessReport`](crate::state::ProcessReport));
//! - `GET /models/{dataType}`: one key (404 when no worker of the process has it);
//! - `GET /health`: [`Health`](crate::state::Health), HTTP 200 while serving, 503 otherwise;
//! - `GET /metrics`: Prometheus metrics ([`Metrics`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::{anyhow, Context, Result};
use serde::Serialize;
use tiny_http::{Header, Method, Request, Response, Server};

use super::metrics::{Metrics, CONTENT_TYPE};
use crate::state::ProcessState;

/// A running query endpoint; dropping it stops the server.
pub struct StateServer {
    server: Arc<Server>,
    addr: SocketAddr,
    thread: Option<JoinHandle<()>>,
}

impl StateServer {
    /// Starts answering queries about `process` on `addr` (port 0 picks a free port).
    pub fn start(addr: SocketAddr, process: Arc<ProcessState>) -> Result<Self> {
        let server = Server::http(addr)
            .map_err(|error| anyhow!("binding the state endpoint to {addr}: {error}"))?;
        let addr = server
            .server_addr()
            .to_ip()
            .context("the state endpoint listens on an IP address")?;
        let server = Arc::new(server);
        let metrics = Metrics::new(process.clone());
        let thread = std::thread::Builder::new()
            .name("state-endpoint".into())
            .spawn({
                let server = server.clone();
                move || {
                    for request in server.incoming_requests() {
                        answer(request, &process, &metrics);
                    }
                }
            })
            .context("starting the state endpoint thread")?;
        tracing::info!(%addr, "state endpoint listening");
        Ok(StateServer {
            server,
            addr,
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
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// An HTTP answer: status, content type and body.
type Answer = (u16, &'static str, String);

fn answer(request: Request, process: &ProcessState, metrics: &Metrics) {
    let (status, content_type, body) = route(request.method(), request.url(), process, metrics);
    let header = Header::from_bytes("Content-Type", content_type).expect("a valid header");
    let response = Response::from_string(body)
        .with_status_code(status)
        .with_header(header);
    if let Err(error) = request.respond(response) {
        tracing::debug!("state endpoint: cannot answer: {error}");
    }
}

fn route(method: &Method, url: &str, process: &ProcessState, metrics: &Metrics) -> Answer {
    if *method != Method::Get {
        return error(405, "only GET is served");
    }
    let path = url.split('?').next().unwrap_or_default();
    match path.trim_end_matches('/') {
        "/models" => json(200, &process.report(None)),
        "/health" => {
            let health = process.health();
            json(if health.is_serving() { 200 } else { 503 }, &health)
        }
        "/metrics" => (200, CONTENT_TYPE, metrics.render()),
        other => match other.strip_prefix("/models/").map(percent_decode) {
            Some(Some(data_type)) => {
                let report = process.report(Some(&data_type));
                if report.keys.is_empty() {
                    error(
                        404,
                        &format!("no worker of this process has data type `{data_type}`"),
                    )
                } else {
                    json(200, &report)
                }
            }
            Some(None) => error(400, "the data type is not valid percent-encoded UTF-8"),
            None => error(404, "try /models, /models/{dataType}, /health or /metrics"),
        },
    }
}

fn json(status: u16, body: &impl Serialize) -> Answer {
    let body = serde_json::to_string_pretty(body).expect("state serializes");
    (status, "application/json", body)
}

fn error(status: u16, message: &str) -> Answer {
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
    use super::percent_decode;

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
}
