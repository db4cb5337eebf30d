//! The HTTP/1.1 server: awsJson1.1 framing, SigV4, dispatch and request logging.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::json;
use tokio::net::TcpListener;

use crate::errors::ApiError;
use crate::ops::{self, Ctx, LogInfo};
use crate::sigv4::{self, SigV4Config, SignedRequest};

/// Largest request body accepted.
pub const MAX_BODY: usize = 1024 * 1024;
/// How much of an oversized body is read (and discarded) before answering.
const MAX_DRAIN: usize = 8 * MAX_BODY;
/// How long a client may take to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a client may take to send its request body.
const BODY_TIMEOUT: Duration = Duration::from_secs(60);
/// The JSON protocol content type.
pub const CONTENT_TYPE_JSON: &str = "application/x-amz-json-1.1";

/// Shared server state.
#[derive(Debug)]
pub struct Server {
    /// Operations' context.
    pub ctx: Ctx,
    /// SigV4 expectations.
    pub sigv4: SigV4Config,
}

/// Accepts connections forever.
pub async fn serve(listener: TcpListener, server: Arc<Server>) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                log_line(json!({ "event": "accept_error", "error": e.to_string() }));
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let server = server.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let server = server.clone();
                async move { Ok::<_, Infallible>(handle(&server, req).await) }
            });
            // Connection errors (client went away, malformed HTTP) only end that connection.
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

/// Prints one JSON log line to stdout. A closed or broken stdout is ignored (never a panic).
pub fn log_line(value: serde_json::Value) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{value}").and_then(|()| out.flush());
}

fn request_id() -> String {
    ops::uuid_v4().unwrap_or_else(|_| "00000000-0000-4000-8000-000000000000".into())
}

fn response(status: u16, body: String, request_id: &str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_JSON));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", v);
    }
    resp
}

async fn handle(server: &Server, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let rid = request_id();
    let target = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let operation = target
        .strip_prefix("TrentService.")
        .unwrap_or(&target)
        .to_string();
    let mut log = LogInfo::default();
    let result = process(server, req, &operation, &mut log).await;
    let mut line = json!({
        "event": "request",
        "request_id": rid,
        "operation": operation,
        "key_id": log.key_arn,
    });
    if let (Some((module_id, image)), Some(obj)) = (&log.recipient, line.as_object_mut()) {
        obj.insert(
            "recipient".into(),
            json!({ "attestation_document_module_id": module_id, "attestation_document_enclave_image_digest": image }),
        );
    }
    let resp = match result {
        Ok(body) => {
            if let Some(obj) = line.as_object_mut() {
                obj.insert("outcome".into(), json!("ok"));
            }
            response(200, body.to_string(), &rid)
        }
        Err(e) => {
            if let Some(obj) = line.as_object_mut() {
                obj.insert("outcome".into(), json!("error"));
                obj.insert("error_type".into(), json!(e.code));
                obj.insert("status".into(), json!(e.status));
            }
            let mut r = response(e.status, e.body(), &rid);
            if let Ok(v) = HeaderValue::from_str(e.code) {
                r.headers_mut().insert("x-amzn-errortype", v);
            }
            r
        }
    };
    log_line(line);
    resp
}

async fn process(
    server: &Server,
    req: Request<Incoming>,
    operation: &str,
    log: &mut LogInfo,
) -> Result<serde_json::Value, ApiError> {
    if req.method() != Method::POST || req.uri().path() != "/" {
        return Err(ApiError::new(
            "UnknownOperationException",
            "Only POST / with an X-Amz-Target header is supported.",
        ));
    }
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = || {
        ApiError::validation(format!(
            "The request body exceeds the simulator's limit of {MAX_BODY} bytes."
        ))
    };
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_large());
    }
    let (parts, mut body) = req.into_parts();
    // Read up to MAX_BODY; past it keep draining (up to a bound) so the client still gets
    // the answer before the connection closes, then refuse.
    let mut buf: Vec<u8> = Vec::new();
    let mut seen: usize = 0;
    let read = async {
        while let Some(frame) = body.frame().await {
            let frame = frame
                .map_err(|_| ApiError::serialization("The request body could not be read."))?;
            if let Ok(data) = frame.into_data() {
                seen = seen.saturating_add(data.len());
                if seen <= MAX_BODY {
                    buf.extend_from_slice(&data);
                } else if seen > MAX_DRAIN {
                    break;
                }
            }
        }
        Ok::<(), ApiError>(())
    };
    tokio::time::timeout(BODY_TIMEOUT, read)
        .await
        .map_err(|_| ApiError::serialization("Timed out reading the request body."))??;
    if seen > MAX_BODY {
        return Err(too_large());
    }
    let body = Bytes::from(buf);
    let signed = SignedRequest {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or_default(),
        headers: &parts.headers,
        body: &body,
    };
    sigv4::verify(&server.sigv4, &signed, SystemTime::now())?;
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !target.starts_with("TrentService.") || !ops::OPERATIONS.contains(&operation) {
        return Err(ApiError::new("UnknownOperationException", ""));
    }
    let ctx = &server.ctx;
    ops::dispatch(ctx, operation, &body, log)
}
