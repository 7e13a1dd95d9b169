//! OpenID Connect sign-in against the organisation's identity provider (Entra ID, Google,
//! Keycloak…): the authorization code flow with PKCE, `state` and `nonce`, on the
//! `openidconnect` crate over our own HTTP client (reqwest on rustls with ring, no redirects
//! followed, a timeout on every request, answers capped at 1 MiB).
//!
//! Discovery and the key set are fetched once and cached; an ID token signed with a key the
//! cache does not know triggers one refetch (key rotation), at most one every few seconds, so a
//! flood of forged tokens cannot turn into a flood of requests to the provider. The ID token is
//! checked for signature, issuer, audience, expiry (with a small clock skew), nonce and, where
//! present, `azp`. Nothing here logs or returns a code, a token or a secret.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, IssuerUrl,
    Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    SignatureVerificationError, TokenResponse,
};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::error_chain as chain;
use crate::http::{HttpClient, HttpError};
use crate::mail::Password;

/// Least time between two key-set refetches.
const REFETCH_GAP: Duration = Duration::from_secs(5);

/// The deployment's identity provider settings.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    /// Issuer URL (`https://login.microsoftonline.com/TENANT/v2.0`). HTTPS, except on loopback.
    pub issuer: String,
    /// The application (client) id registered at the provider.
    pub client_id: String,
    /// The client secret.
    pub client_secret: Password,
    /// This server's callback, `https://tokendesk.example/login/oidc/callback`, registered at
    /// the provider.
    pub redirect_url: String,
    /// Limit on each request to the provider.
    pub timeout: Duration,
    /// Extra trusted roots (PEM), on top of the system's.
    pub ca_file: Option<PathBuf>,
    /// Clock difference tolerated on expiry and issue time (seconds).
    pub clock_skew_secs: i64,
}

/// Why the settings cannot make a client (reported at start-up).
#[derive(Debug, thiserror::Error)]
pub enum OidcSetupError {
    /// The issuer or redirect URL does not parse, or is not HTTPS off loopback.
    #[error("{0}")]
    Url(String),
    /// The TLS trust settings are unusable.
    #[error(transparent)]
    Tls(#[from] crate::TlsSetupError),
}

/// Why a sign-in through the provider failed. [`OidcError::reason`] is the audit trail's word
/// for it; `Display` is the message for the person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidcError {
    /// The provider cannot be reached (down, DNS, firewall, TLS).
    #[error(
        "the identity provider at {issuer} cannot be reached ({detail}); try again later, or sign in with a local account"
    )]
    Unreachable {
        /// The configured issuer.
        issuer: String,
        /// The cause.
        detail: String,
    },
    /// The provider answered, but not with a usable discovery document or key set.
    #[error(
        "the identity provider at {issuer} sent an unusable configuration ({detail}); an administrator should check the issuer URL"
    )]
    Discovery {
        /// The configured issuer.
        issuer: String,
        /// The cause.
        detail: String,
    },
    /// The provider refused to exchange the authorization code.
    #[error("the identity provider refused the sign-in ({detail}); start the sign-in again")]
    TokenExchange {
        /// The provider's error.
        detail: String,
    },
    /// The token answer had no ID token.
    #[error(
        "the identity provider sent no ID token; an administrator should check that the `openid` scope is allowed for this application"
    )]
    NoIdToken,
    /// The ID token was issued by someone else.
    #[error("the ID token was not issued by the configured identity provider")]
    WrongIssuer,
    /// The ID token is for another application.
    #[error("the ID token was issued for another application")]
    WrongAudience,
    /// The ID token has expired or was issued in the future.
    #[error(
        "the ID token has expired or its time is wrong; check this server's clock and sign in again"
    )]
    Expired,
    /// The nonce does not match the one sent.
    #[error(
        "the ID token does not belong to this sign-in (nonce mismatch); start the sign-in again"
    )]
    WrongNonce,
    /// No key of the provider verifies the signature, even after a refetch.
    #[error("the ID token's signature does not verify with the identity provider's keys")]
    BadSignature,
    /// Some other check failed.
    #[error("the ID token was refused: {0}")]
    Invalid(String),
}

impl OidcError {
    /// The audit trail's word for the failure.
    pub fn reason(&self) -> &'static str {
        match self {
            OidcError::Unreachable { .. } => "provider-unreachable",
            OidcError::Discovery { .. } => "provider-discovery",
            OidcError::TokenExchange { .. } => "token-exchange",
            OidcError::NoIdToken => "no-id-token",
            OidcError::WrongIssuer => "wrong-issuer",
            OidcError::WrongAudience => "wrong-audience",
            OidcError::Expired => "expired",
            OidcError::WrongNonce => "wrong-nonce",
            OidcError::BadSignature => "bad-signature",
            OidcError::Invalid(_) => "invalid-id-token",
        }
    }
}

/// What must survive, secret, until the provider sends the person back: the nonce and the PKCE
/// verifier. Wiped on drop; never printed.
pub struct Pending {
    nonce: Zeroizing<String>,
    verifier: Zeroizing<String>,
}

impl fmt::Debug for Pending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pending(<redacted>)")
    }
}

impl Pending {
    /// The bytes to store sealed.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(format!("{}\n{}", *self.nonce, *self.verifier).into_bytes())
    }

    /// Reads [`Pending::to_bytes`] back; `None` for anything else.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(bytes).ok()?;
        let (nonce, verifier) = text.split_once('\n')?;
        if nonce.is_empty() || verifier.is_empty() {
            return None;
        }
        Some(Self {
            nonce: Zeroizing::new(nonce.to_owned()),
            verifier: Zeroizing::new(verifier.to_owned()),
        })
    }
}

/// A sign-in sent to the provider.
pub struct Started {
    /// Where to send the browser.
    pub url: String,
    /// The `state` value (also the browser's cookie); store only its hash.
    pub state: Zeroizing<String>,
    /// Nonce and PKCE verifier, to store sealed under the state.
    pub pending: Pending,
}

impl fmt::Debug for Started {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Started(<redacted>)")
    }
}

/// What the provider vouched for, from a verified ID token.
#[derive(Debug, Clone)]
pub struct VerifiedIdentity {
    /// `iss`.
    pub issuer: String,
    /// `sub`.
    pub subject: String,
    /// `email`, if present.
    pub email: Option<String>,
    /// `preferred_username` (Entra: the UPN), if present.
    pub preferred_username: Option<String>,
    /// `name`, if present.
    pub name: Option<String>,
    /// `amr`: how the person authenticated at the provider (`mfa`, `pwd`…).
    pub amr: Vec<String>,
    /// Every claim of the token, for the role claim named in the settings.
    pub claims: Map<String, Value>,
}

impl VerifiedIdentity {
    /// The strings of claim `name` (a string or an array of strings).
    pub fn claim_values(&self, name: &str) -> Vec<String> {
        match self.claims.get(name) {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// Our HTTP client as `openidconnect` calls it; its future is boxed and `Send`, so the
/// handlers awaiting a sign-in stay `Send`.
struct Http<'a>(&'a HttpClient);

type HttpFuture<'c> = std::pin::Pin<
    Box<
        dyn std::future::Future<Output = Result<openidconnect::HttpResponse, HttpError>>
            + Send
            + 'c,
    >,
>;

impl<'c> openidconnect::AsyncHttpClient<'c> for Http<'_> {
    type Error = HttpError;
    type Future = HttpFuture<'c>;

    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        Box::pin(self.0.send(request))
    }
}

/// The identity provider client: settings, HTTP client, cached discovery.
pub struct Provider {
    settings: OidcSettings,
    issuer: IssuerUrl,
    redirect: RedirectUrl,
    http: HttpClient,
    cache: tokio::sync::Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    metadata: Option<Arc<CoreProviderMetadata>>,
    fetched: Option<Instant>,
}

impl fmt::Debug for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Provider")
            .field("issuer", &self.settings.issuer)
            .field("client_id", &self.settings.client_id)
            .finish_non_exhaustive()
    }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

fn check_url(what: &str, text: &str) -> Result<url::Url, OidcSetupError> {
    let url = url::Url::parse(text)
        .map_err(|e| OidcSetupError::Url(format!("the {what} {text:?} is not a URL: {e}")))?;
    if url.scheme() != "https" && !(url.scheme() == "http" && is_loopback(&url)) {
        return Err(OidcSetupError::Url(format!(
            "the {what} {text:?} must use https (plain http only on loopback)"
        )));
    }
    Ok(url)
}

impl Provider {
    /// Checks the settings and builds the HTTP client (no request yet).
    ///
    /// # Errors
    /// [`OidcSetupError`] naming the setting to fix.
    pub fn new(settings: OidcSettings) -> Result<Self, OidcSetupError> {
        check_url("issuer URL", &settings.issuer)?;
        check_url("redirect URL", &settings.redirect_url)?;
        let issuer = IssuerUrl::new(settings.issuer.clone())
            .map_err(|e| OidcSetupError::Url(format!("the issuer URL: {e}")))?;
        let redirect = RedirectUrl::new(settings.redirect_url.clone())
            .map_err(|e| OidcSetupError::Url(format!("the redirect URL: {e}")))?;
        let tls = crate::tls::client_config(settings.ca_file.as_deref())?;
        let http = HttpClient::new(tls, settings.timeout);
        Ok(Self {
            settings,
            issuer,
            redirect,
            http,
            cache: tokio::sync::Mutex::new(Cache::default()),
        })
    }

    /// The configured issuer.
    pub fn issuer(&self) -> &str {
        &self.settings.issuer
    }

    /// The discovery document and keys: cached, or fetched now (`refresh` forces a refetch,
    /// unless one happened in the last few seconds).
    async fn metadata(&self, refresh: bool) -> Result<Arc<CoreProviderMetadata>, OidcError> {
        let mut cache = self.cache.lock().await;
        if let Some(m) = &cache.metadata {
            let recent = cache.fetched.is_some_and(|t| t.elapsed() < REFETCH_GAP);
            if !refresh || recent {
                return Ok(Arc::clone(m));
            }
        }
        let http = Http(&self.http);
        let fetched = CoreProviderMetadata::discover_async(self.issuer.clone(), &http)
            .await
            .map_err(|e| self.discovery_error(e))?;
        let fetched = Arc::new(fetched);
        cache.metadata = Some(Arc::clone(&fetched));
        cache.fetched = Some(Instant::now());
        Ok(fetched)
    }

    fn discovery_error(&self, e: openidconnect::DiscoveryError<HttpError>) -> OidcError {
        let issuer = self.settings.issuer.clone();
        match e {
            openidconnect::DiscoveryError::Request(e) => OidcError::Unreachable {
                issuer,
                detail: e.0,
            },
            other => OidcError::Discovery {
                issuer,
                detail: chain(&other),
            },
        }
    }

    fn client(
        &self,
        metadata: &CoreProviderMetadata,
    ) -> openidconnect::core::CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    > {
        CoreClient::from_provider_metadata(
            metadata.clone(),
            ClientId::new(self.settings.client_id.clone()),
            Some(ClientSecret::new(
                self.settings.client_secret.expose().to_owned(),
            )),
        )
        .set_redirect_uri(self.redirect.clone())
    }

    /// Starts a sign-in: the provider's URL to send the browser to, with a fresh `state`,
    /// `nonce` and PKCE challenge (S256).
    ///
    /// # Errors
    /// [`OidcError::Unreachable`] or [`OidcError::Discovery`].
    pub async fn start(&self) -> Result<Started, OidcError> {
        let metadata = self.metadata(false).await?;
        let client = self.client(&metadata);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge)
            .url();
        Ok(Started {
            url: url.to_string(),
            state: Zeroizing::new(state.secret().clone()),
            pending: Pending {
                nonce: Zeroizing::new(nonce.secret().clone()),
                verifier: Zeroizing::new(verifier.secret().clone()),
            },
        })
    }

    /// Finishes a sign-in: exchanges the code (with the PKCE verifier), verifies the ID token
    /// against the cached keys (refetching them once for an unknown key) and returns what it
    /// vouches for. `now` is the vault's clock.
    ///
    /// # Errors
    /// [`OidcError`]: nothing is signed in.
    pub async fn finish(
        &self,
        code: &str,
        pending: &Pending,
        now: i64,
    ) -> Result<VerifiedIdentity, OidcError> {
        let metadata = self.metadata(false).await?;
        let client = self.client(&metadata);
        let http = Http(&self.http);
        let token = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| OidcError::Discovery {
                issuer: self.settings.issuer.clone(),
                detail: e.to_string(),
            })?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier.to_string()))
            .request_async(&http)
            .await
            .map_err(|e| match e {
                RequestTokenError::Request(e) => OidcError::Unreachable {
                    issuer: self.settings.issuer.clone(),
                    detail: e.0,
                },
                RequestTokenError::ServerResponse(r) => OidcError::TokenExchange {
                    detail: r.error().to_string(),
                },
                other => OidcError::TokenExchange {
                    detail: chain(&other),
                },
            })?;
        let id_token = token.id_token().ok_or(OidcError::NoIdToken)?.clone();
        let nonce = Nonce::new(pending.nonce.to_string());
        let first = self.verify(&client, &id_token, &nonce, now);
        let claims = match first {
            Err(OidcError::BadSignature) => {
                // Perhaps a key the cache does not know yet (rotation): fetch once more.
                let fresh = self.metadata(true).await?;
                let client = self.client(&fresh);
                self.verify(&client, &id_token, &nonce, now)?
            }
            other => other?,
        };
        Ok(claims)
    }

    fn verify(
        &self,
        client: &openidconnect::core::CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        id_token: &openidconnect::core::CoreIdToken,
        nonce: &Nonce,
        now: i64,
    ) -> Result<VerifiedIdentity, OidcError> {
        let skew = self.settings.clock_skew_secs.max(0);
        let at = |t: i64| DateTime::<Utc>::from_timestamp(t, 0).unwrap_or_default();
        let lenient_now = at(now.saturating_sub(skew));
        let latest_iat = at(now.saturating_add(skew));
        let verifier = client
            .id_token_verifier()
            .set_allowed_algs([
                CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
                CoreJwsSigningAlgorithm::RsaSsaPssSha256,
                CoreJwsSigningAlgorithm::EcdsaP256Sha256,
            ])
            .set_time_fn(move || lenient_now)
            .set_issue_time_verifier_fn(move |iat| {
                if iat > latest_iat {
                    Err("issued in the future".into())
                } else {
                    Ok(())
                }
            });
        let claims = id_token.claims(&verifier, nonce).map_err(|e| match e {
            ClaimsVerificationError::InvalidIssuer(_) => OidcError::WrongIssuer,
            ClaimsVerificationError::InvalidAudience(_) => OidcError::WrongAudience,
            ClaimsVerificationError::Expired(_) => OidcError::Expired,
            ClaimsVerificationError::InvalidNonce(_) => OidcError::WrongNonce,
            ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey
                | SignatureVerificationError::CryptoError(_),
            ) => OidcError::BadSignature,
            other => OidcError::Invalid(chain(&other)),
        })?;
        if let Some(azp) = claims.authorized_party()
            && azp.as_str() != self.settings.client_id
        {
            return Err(OidcError::WrongAudience);
        }
        let raw = payload(&id_token.to_string()).unwrap_or_default();
        Ok(VerifiedIdentity {
            issuer: claims.issuer().to_string(),
            subject: claims.subject().to_string(),
            email: claims.email().map(|e| e.to_string()),
            preferred_username: claims.preferred_username().map(|u| u.to_string()),
            name: claims
                .name()
                .and_then(|n| n.get(None))
                .map(|n| n.to_string()),
            amr: claims
                .auth_method_refs()
                .map(|v| v.iter().map(|a| a.to_string()).collect())
                .unwrap_or_default(),
            claims: raw,
        })
    }
}

/// The claims of a JWT whose signature was just verified (read again as plain JSON, for
/// claims the typed view drops, such as `roles` and `groups`).
fn payload(jwt: &str) -> Option<Map<String, Value>> {
    let part = jwt.split('.').nth(1)?;
    let bytes = data_encoding::BASE64URL_NOPAD
        .decode(part.trim_end_matches('=').as_bytes())
        .ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(issuer: &str, redirect: &str) -> OidcSettings {
        OidcSettings {
            issuer: issuer.into(),
            client_id: "tokendesk".into(),
            client_secret: Password::new("s3cret-value".into()),
            redirect_url: redirect.into(),
            timeout: Duration::from_secs(5),
            ca_file: None,
            clock_skew_secs: 60,
        }
    }

    #[test]
    fn plain_http_is_refused_off_loopback() {
        let err = Provider::new(settings("http://idp.example.com", "https://td.example/cb"));
        assert!(matches!(err, Err(OidcSetupError::Url(m)) if m.contains("must use https")));
        let err = Provider::new(settings("https://idp.example.com", "http://td.example/cb"));
        assert!(matches!(err, Err(OidcSetupError::Url(m)) if m.contains("redirect URL")));
        assert!(Provider::new(settings("http://127.0.0.1:9", "http://127.0.0.1:8080/cb")).is_ok());
    }

    #[test]
    fn pending_round_trips_and_never_prints() {
        let p = Pending {
            nonce: Zeroizing::new("n-123".into()),
            verifier: Zeroizing::new("v-456".into()),
        };
        let back = Pending::from_bytes(&p.to_bytes());
        assert!(
            back.as_ref()
                .is_some_and(|b| *b.nonce == "n-123" && *b.verifier == "v-456")
        );
        assert_eq!(format!("{p:?}"), "Pending(<redacted>)");
        assert!(Pending::from_bytes(b"no-newline").is_none());
        assert!(Pending::from_bytes(&[0xff, b'\n', b'x']).is_none());
    }

    #[test]
    fn the_secret_does_not_print() {
        let s = settings("https://idp.example.com", "https://td.example/cb");
        assert!(!format!("{s:?}").contains("s3cret"));
    }
}
