//! The desk's connection to a tokendesk server (`tokendesk login`, remote commands, burn
//! grants): JSON over HTTPS (plain HTTP only to a loopback address), trusting the system roots
//! plus an optional CA file, bearer token in the header. Answers are read into zeroizing
//! buffers, because some carry a desk token or a seed.

use std::path::Path;
use std::time::Duration;

use zeroize::Zeroizing;

use crate::http::{HttpClient, HttpError};
use crate::tls::{TlsSetupError, client_config};

/// Why a server URL cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ServerUrlError {
    /// Not an http(s) URL with a host.
    #[error("{0:?} is not a server URL; give it as https://tokendesk.example")]
    Malformed(String),
    /// Plain HTTP to another machine would send tokens and seeds in clear.
    #[error(
        "{0} uses plain HTTP; use https:// (plain HTTP is only accepted on this machine's loopback)"
    )]
    PlainHttp(String),
    /// The TLS trust settings failed.
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
}

/// A tokendesk server as the desk reaches it.
pub struct Server {
    base: String,
    http: HttpClient,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("base", &self.base).finish()
    }
}

/// One answer: the status and the body (wiped on drop).
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The body.
    pub body: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Answer")
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl Answer {
    /// The body as JSON (`Null` when it is empty or not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The server's error message (`{"message": …}`), or the status.
    pub fn message(&self) -> String {
        match self
            .json()
            .get("message")
            .and_then(serde_json::Value::as_str)
        {
            Some(m) => m.to_owned(),
            None => format!("the server answered HTTP {}", self.status),
        }
    }
}

/// The URL normalised (no trailing `/`), refusing plain HTTP off loopback.
///
/// # Errors
/// [`ServerUrlError`].
pub fn check_server_url(url: &str) -> Result<String, ServerUrlError> {
    let base = url.trim().trim_end_matches('/').to_owned();
    let parsed =
        url::Url::parse(&base).map_err(|_| ServerUrlError::Malformed(url.trim().to_owned()))?;
    let host = parsed
        .host()
        .ok_or_else(|| ServerUrlError::Malformed(base.clone()))?;
    match parsed.scheme() {
        "https" => Ok(base),
        "http" => {
            let loopback = match host {
                url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
                url::Host::Ipv4(a) => a.is_loopback(),
                url::Host::Ipv6(a) => a.is_loopback(),
            };
            if loopback {
                Ok(base)
            } else {
                Err(ServerUrlError::PlainHttp(base))
            }
        }
        _ => Err(ServerUrlError::Malformed(base)),
    }
}

impl Server {
    /// The server at `url`, trusting the system roots and `ca_file`'s certificates.
    ///
    /// # Errors
    /// [`ServerUrlError`].
    pub fn new(url: &str, ca_file: Option<&Path>) -> Result<Self, ServerUrlError> {
        let base = check_server_url(url)?;
        Ok(Self {
            base,
            http: HttpClient::new(client_config(ca_file)?, Duration::from_secs(30)),
        })
    }

    /// The URL it was given, normalised.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// `POST path` with a JSON body.
    ///
    /// # Errors
    /// [`HttpError`] when no answer came (connection, TLS, time-out).
    pub async fn post(
        &self,
        path: &str,
        bearer: Option<&str>,
        body: &serde_json::Value,
    ) -> Result<Answer, HttpError> {
        let bytes = serde_json::to_vec(body).map_err(|e| HttpError(e.to_string()))?;
        self.send("POST", path, bearer, bytes).await
    }

    /// `GET path`.
    ///
    /// # Errors
    /// [`HttpError`] when no answer came.
    pub async fn get(&self, path: &str, bearer: Option<&str>) -> Result<Answer, HttpError> {
        self.send("GET", path, bearer, Vec::new()).await
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: Vec<u8>,
    ) -> Result<Answer, HttpError> {
        let mut request = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::USER_AGENT, "tokendesk-desk");
        if let Some(token) = bearer {
            let mut value =
                http::HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                    HttpError(
                        "the stored desk token is malformed; run `tokendesk login` again".into(),
                    )
                })?;
            value.set_sensitive(true);
            request = request.header(http::header::AUTHORIZATION, value);
        }
        let request = request
            .body(body)
            .map_err(|_| HttpError(format!("bad request path {path:?}")))?;
        let response = self.http.send(request).await?;
        let status = response.status().as_u16();
        Ok(Answer {
            status,
            body: Zeroizing::new(response.into_body()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_on_loopback() {
        assert!(check_server_url("https://desk.example/").is_ok());
        assert!(check_server_url("http://127.0.0.1:8080").is_ok());
        assert!(check_server_url("http://localhost:1").is_ok());
        assert!(matches!(
            check_server_url("http://desk.example"),
            Err(ServerUrlError::PlainHttp(_))
        ));
        assert!(check_server_url("ftp://x").is_err());
        assert!(check_server_url("desk.example").is_err());
    }
}
