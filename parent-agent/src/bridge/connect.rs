//! The HTTP CONNECT exchange of an egress route, all of it: read one request within the
//! limits (size, time, header count), put its destination to the allowlist, and answer —
//! 4xx for a bad request, 403 for a denied destination, 502/504 for an unreachable one, or
//! 200 and relay. Parsing is httparse; every failure maps to a clear HTTP answer.

use std::time::Duration;

use sigil_transport::{Host, Stream};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tracing::warn;

use super::route::{DialError, Route};
use crate::config::parse_host_port;

/// How long an enclave has to send its CONNECT request head.
pub const CONNECT_HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest request head accepted, bytes.
pub const MAX_REQUEST_BYTES: usize = 8 * 1024;
/// Longest `host:port` accepted (a 253-byte name, brackets, colon and port fit).
pub const MAX_TARGET_BYTES: usize = 300;
/// Most headers accepted.
pub const MAX_HEADERS: usize = 32;

/// A parsed CONNECT request.
#[derive(Debug)]
pub struct ConnectRequest {
    /// Destination host.
    pub host: Host,
    /// Destination port.
    pub port: u16,
    /// Bytes the client sent after the request head (e.g. a TLS ClientHello), to be
    /// forwarded first.
    pub leftover: Vec<u8>,
}

/// Why a request was refused before any destination was considered.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The head exceeded [`MAX_REQUEST_BYTES`] or [`MAX_HEADERS`].
    #[error("request head exceeds {MAX_REQUEST_BYTES} bytes or {MAX_HEADERS} headers")]
    TooLarge,
    /// Not parseable as HTTP/1.x.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// A method other than CONNECT.
    #[error("method {0} is not supported; only CONNECT is")]
    Method(String),
    /// The target is not `host:port`.
    #[error("bad CONNECT target: {0}")]
    Target(String),
    /// The head did not arrive in time.
    #[error("request head not received within {0:?}")]
    Timeout(Duration),
    /// The client closed before finishing the head.
    #[error("client closed before sending a complete request")]
    Closed,
    /// Socket error while reading.
    #[error("reading request: {0}")]
    Io(#[from] std::io::Error),
}

impl RequestError {
    /// The HTTP status to answer with, if the client is still there to hear it.
    pub fn status(&self) -> Option<(u16, &'static str)> {
        match self {
            RequestError::TooLarge => Some((431, "Request Header Fields Too Large")),
            RequestError::Malformed(_) | RequestError::Target(_) => Some((400, "Bad Request")),
            RequestError::Method(_) => Some((405, "Method Not Allowed")),
            RequestError::Timeout(_) => Some((408, "Request Timeout")),
            RequestError::Closed | RequestError::Io(_) => None,
        }
    }
}

/// Serves one connection on an `http_connect` egress route, from the request head to the end
/// of the relayed stream.
pub(super) async fn exchange(route: &Route, mut client: Stream) {
    let req = match read_request(&mut client, CONNECT_HEAD_TIMEOUT).await {
        Ok(r) => r,
        Err(e) => return refuse_request(route, &mut client, e).await,
    };
    let destination = format!("{}:{}", req.host, req.port);
    let Some(addrs) = route.decide(&req.host, req.port, &destination).await else {
        let _ = respond(
            &mut client,
            403,
            "Forbidden",
            "destination not allowed by the egress allowlist",
        )
        .await;
        return;
    };
    match route.dial_any(&addrs, &destination).await {
        Ok((up, addr)) => {
            if respond(&mut client, 200, "Connection Established", "")
                .await
                .is_ok()
            {
                route.pump(client, up, req.leftover, addr.to_string()).await;
            }
        }
        Err(e) => {
            route.m.connect_failed.inc();
            let (code, status) = match e {
                DialError::Timeout => (504, "Gateway Timeout"),
                DialError::Refused => (502, "Bad Gateway"),
            };
            let _ = respond(
                &mut client,
                code,
                status,
                &format!("cannot reach {destination}"),
            )
            .await;
        }
    }
}

async fn refuse_request(route: &Route, client: &mut Stream, e: RequestError) {
    route.m.bad_request.inc();
    warn!(event = "connect_request_refused", error = %e);
    if let Some((code, status)) = e.status() {
        let _ = respond(client, code, status, &e.to_string()).await;
    }
}

/// Reads one CONNECT request head within `timeout`.
pub async fn read_request<S: AsyncRead + Unpin>(
    s: &mut S,
    timeout: Duration,
) -> Result<ConnectRequest, RequestError> {
    match tokio::time::timeout(timeout, read_head(s)).await {
        Ok(r) => r,
        Err(_) => Err(RequestError::Timeout(timeout)),
    }
}

async fn read_head<S: AsyncRead + Unpin>(s: &mut S) -> Result<ConnectRequest, RequestError> {
    let mut buf = vec![0u8; MAX_REQUEST_BYTES];
    let mut len = 0;
    loop {
        let n = s.read(&mut buf[len..]).await?;
        if n == 0 {
            return Err(RequestError::Closed);
        }
        len += n;
        if let Some(req) = parse_head(&buf[..len])? {
            return Ok(req);
        }
    }
}

/// Parses the bytes received so far: `Ok(None)` means "incomplete, read more". Input of
/// [`MAX_REQUEST_BYTES`] or more that is still incomplete is refused as too large.
pub fn parse_head(buf: &[u8]) -> Result<Option<ConnectRequest>, RequestError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(head)) => {
            let method = req.method.unwrap_or_default();
            if method != "CONNECT" {
                return Err(RequestError::Method(printable(method)));
            }
            let target = req.path.unwrap_or_default();
            if target.len() > MAX_TARGET_BYTES {
                return Err(RequestError::Target(format!(
                    "target is {} bytes; the limit is {MAX_TARGET_BYTES}",
                    target.len()
                )));
            }
            let (host, port) = parse_host_port(target).map_err(RequestError::Target)?;
            Ok(Some(ConnectRequest {
                host,
                port,
                leftover: buf[head..].to_vec(),
            }))
        }
        Ok(httparse::Status::Partial) if buf.len() >= MAX_REQUEST_BYTES => {
            Err(RequestError::TooLarge)
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::TooManyHeaders) => Err(RequestError::TooLarge),
        Err(e) => Err(RequestError::Malformed(e.to_string())),
    }
}

/// Keeps what we echo back short and printable.
fn printable(s: &str) -> String {
    s.chars()
        .take(32)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect()
}

/// Writes a complete response: status line, `Connection: close` unless 200, and a one-line
/// text body with the reason.
pub async fn respond<S: AsyncWrite + Unpin>(
    s: &mut S,
    code: u16,
    status: &str,
    body: &str,
) -> std::io::Result<()> {
    let msg = if code == 200 {
        format!("HTTP/1.1 200 {status}\r\n\r\n")
    } else {
        let body = format!("{body}\n");
        format!(
            "HTTP/1.1 {code} {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    s.write_all(msg.as_bytes()).await?;
    s.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    async fn parse(input: &[u8]) -> Result<ConnectRequest, RequestError> {
        let (mut a, mut b) = tokio::io::duplex(64 * 1024);
        a.write_all(input).await.unwrap();
        drop(a);
        read_request(&mut b, Duration::from_secs(1)).await
    }

    #[tokio::test]
    async fn parses_connect_and_keeps_early_bytes() {
        let r =
            parse(b"CONNECT gw.example:8080 HTTP/1.1\r\nHost: gw.example:8080\r\n\r\n\x16\x03\x01")
                .await
                .unwrap();
        assert_eq!(r.host, Host::Name("gw.example".into()));
        assert_eq!(r.port, 8080);
        assert_eq!(r.leftover, b"\x16\x03\x01");
        let r = parse(b"CONNECT [2600:1f18::1]:443 HTTP/1.1\r\n\r\n")
            .await
            .unwrap();
        assert_eq!(r.host, Host::Ip("2600:1f18::1".parse().unwrap()));
    }

    #[tokio::test]
    async fn refuses_bad_requests_with_a_status() {
        let many_headers: Vec<u8> = {
            let mut v = b"CONNECT a.example:1 HTTP/1.1\r\n".to_vec();
            for i in 0..40 {
                v.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
            }
            v.extend_from_slice(b"\r\n");
            v
        };
        let huge = [
            b"CONNECT a.example:1 HTTP/1.1\r\nX: ".as_slice(),
            &[b'a'; 9000],
        ]
        .concat();
        let cases: Vec<(Vec<u8>, u16)> = vec![
            (b"GET / HTTP/1.1\r\n\r\n".to_vec(), 405),
            (b"CONNECT a.example HTTP/1.1\r\n\r\n".to_vec(), 400),
            (b"CONNECT a.example:0 HTTP/1.1\r\n\r\n".to_vec(), 400),
            (b"CONNECT a_b.example:80 HTTP/1.1\r\n\r\n".to_vec(), 400),
            (b"CONNECT :80 HTTP/1.1\r\n\r\n".to_vec(), 400),
            (b"\x00\x01\x02\r\n\r\n".to_vec(), 400),
            (
                b"CONNECT a.example:1 HTTP/1.1\r\nBad Header\r\n\r\n".to_vec(),
                400,
            ),
            (many_headers, 431),
            (huge, 431),
        ];
        for (input, code) in cases {
            let e = parse(&input).await.unwrap_err();
            assert_eq!(e.status().map(|s| s.0), Some(code), "{e}");
        }
        assert!(matches!(
            parse(b"CONNECT a.exa").await.unwrap_err(),
            RequestError::Closed
        ));
    }

    #[tokio::test]
    async fn slow_heads_time_out() {
        let (mut a, mut b) = tokio::io::duplex(1024);
        a.write_all(b"CONNECT a.example:1 HTTP/1.1\r\n")
            .await
            .unwrap();
        let e = read_request(&mut b, Duration::from_millis(100))
            .await
            .unwrap_err();
        assert_eq!(e.status().map(|s| s.0), Some(408));
        drop(a);
    }
}
