//! A small HTTP/1.1 client for the identity provider's few requests (discovery, keys, token):
//! one connection per request, TLS through rustls with ring (HTTPS required off loopback by
//! the caller), a timeout on the whole exchange, no redirects followed, answers capped.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Largest answer read.
pub(crate) const MAX_BODY: usize = 1 << 20;

/// An HTTP failure, in words for the operator.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(pub(crate) String);

/// The client: TLS settings and the time limit.
pub(crate) struct HttpClient {
    tls: TlsConnector,
    timeout: Duration,
}

impl HttpClient {
    pub(crate) fn new(tls: rustls::ClientConfig, timeout: Duration) -> Self {
        Self {
            tls: TlsConnector::from(Arc::new(tls)),
            timeout,
        }
    }

    /// Sends one request and reads the whole answer, within the time limit.
    pub(crate) async fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, HttpError> {
        match tokio::time::timeout(self.timeout, self.exchange(request)).await {
            Ok(result) => result,
            Err(_) => Err(HttpError(format!(
                "no answer within {} s",
                self.timeout.as_secs()
            ))),
        }
    }

    async fn exchange(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, HttpError> {
        let uri = request.uri().clone();
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(HttpError(format!("unsupported URL {uri}"))),
        };
        let host = uri
            .host()
            .ok_or_else(|| HttpError(format!("no host in {uri}")))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let tcp = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| HttpError(format!("connection to {host}:{port} failed: {e}")))?;
        let (mut parts, body) = request.into_parts();
        let authority = uri
            .authority()
            .map(ToString::to_string)
            .unwrap_or_else(|| host.clone());
        parts.headers.insert(
            http::header::HOST,
            http::HeaderValue::from_str(&authority)
                .map_err(|_| HttpError(format!("bad host {authority:?}")))?,
        );
        // HTTP/1.1 origin form: path and query only.
        parts.uri = uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), ToString::to_string)
            .parse()
            .map_err(|_| HttpError(format!("bad URL {uri}")))?;
        let request = http::Request::from_parts(parts, Full::new(Bytes::from(body)));
        let response = if https {
            let name = ServerName::try_from(host.clone())
                .map_err(|_| HttpError(format!("bad host name {host:?}")))?;
            let tls = self
                .tls
                .connect(name, tcp)
                .await
                .map_err(|e| HttpError(format!("TLS with {host}:{port} failed: {e}")))?;
            round_trip(TokioIo::new(tls), request).await?
        } else {
            round_trip(TokioIo::new(tcp), request).await?
        };
        let (parts, body) = response.into_parts();
        let bytes = Limited::new(body, MAX_BODY)
            .collect()
            .await
            .map_err(|e| HttpError(format!("reading the answer failed: {e}")))?
            .to_bytes();
        Ok(http::Response::from_parts(parts, bytes.to_vec()))
    }
}

async fn round_trip<T>(
    io: T,
    request: http::Request<Full<Bytes>>,
) -> Result<http::Response<hyper::body::Incoming>, HttpError>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| HttpError(format!("HTTP handshake failed: {e}")))?;
    let driver = tokio::spawn(async move {
        // The connection ends with the exchange; its error, if any, shows in send_request.
        let _ = connection.await;
    });
    let result = sender
        .send_request(request)
        .await
        .map_err(|e| HttpError(format!("the request failed: {e}")));
    drop(sender);
    let response = result?;
    // Keep the driver alive until the body has been read by the caller: it ends by itself
    // when the connection closes.
    drop(driver);
    Ok(response)
}
