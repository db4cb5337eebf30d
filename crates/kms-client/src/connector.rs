//! An `aws-smithy` HTTP client that dials through `sigil-transport` and runs TLS in-process.
//!
//! The SDK's own clients only dial TCP, so this implements the two small traits of
//! `aws-smithy-runtime-api` over hyper-util's client with a dialer that ignores the URI's
//! host: the destination is always the configured address (the parent's KMS route).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo};
use sigil_transport::{Addr, Stream, Transport};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Dials the configured address whatever the request URI says.
#[derive(Clone, Debug)]
pub(crate) struct Dial {
    pub(crate) transport: Transport,
    pub(crate) addr: Addr,
    pub(crate) timeout: Duration,
}

type DialFuture = Pin<Box<dyn Future<Output = io::Result<TokioIo<Conn>>> + Send>>;

impl tower::Service<http::Uri> for Dial {
    type Response = TokioIo<Conn>;
    type Error = io::Error;
    type Future = DialFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: http::Uri) -> Self::Future {
        let d = self.clone();
        Box::pin(async move {
            let s = d
                .transport
                .connect(&d.addr, d.timeout)
                .await
                .map_err(io::Error::other)?;
            Ok(TokioIo::new(Conn(s)))
        })
    }
}

/// A transport stream that hyper's pool can hold.
pub(crate) struct Conn(Stream);

impl Connection for Conn {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

/// The HTTP client handed to the SDK.
#[derive(Clone, Debug)]
pub(crate) struct TransportHttpClient {
    client: Client<HttpsConnector<Dial>, SdkBody>,
}

impl TransportHttpClient {
    /// TLS verified against the public web PKI (Amazon's KMS certificates), or — only when
    /// `allow_plaintext` — plain HTTP for the simulator.
    pub(crate) fn new(dial: Dial, allow_plaintext: bool) -> Result<Self, rustls::Error> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let builder = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls);
        let https = if allow_plaintext {
            builder.https_or_http().enable_http1().wrap_connector(dial)
        } else {
            builder.https_only().enable_http1().wrap_connector(dial)
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(https);
        Ok(TransportHttpClient { client })
    }
}

impl HttpConnector for TransportHttpClient {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.client.clone();
        HttpConnectorFuture::new(async move {
            let request = request
                .try_into_http1x()
                .map_err(|e| ConnectorError::user(e.into()))?;
            let response = client.request(request).await.map_err(|e| {
                if e.is_connect() {
                    ConnectorError::io(e.into())
                } else {
                    ConnectorError::other(e.into(), None)
                }
            })?;
            HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                .map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

impl HttpClient for TransportHttpClient {
    fn http_connector(
        &self,
        _: &HttpConnectorSettings,
        _: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}
