//! Microsoft Graph (beta) request bodies for hardware OATH tokens, for organisations with Entra
//! ID P1/P2: per token, create the `hardwareOathTokenAuthenticationMethodDevice`
//! (`POST /directory/authenticationMethodDevices/hardwareOathDevices` with `serialNumber`,
//! `manufacturer`, `model`, `secretKey`, `timeIntervalInSeconds`, `hashFunction`), assign it to
//! the user (`POST /users/{upn}/authentication/hardwareOathMethods` with `device.id`) and
//! activate it (`POST …/hardwareOathMethods/{id}/activate` with `verificationCode` and
//! `displayName`). The ids and the code exist only at upload time, so those bodies carry the
//! placeholders [`DEVICE_ID`] and [`VERIFICATION_CODE`], which [`UPLOAD_SCRIPT`] fills in.
//! Checked against Microsoft's documented schema, not against a live tenant.

use serde::Serialize;
use tokendesk_otp::{Algorithm, Secret};
use zeroize::Zeroizing;

/// The Graph API version these bodies are for. Beta: Microsoft may change it.
pub const API_BASE: &str = "https://graph.microsoft.com/beta";

/// Placeholder for the device id Graph returns from the create call.
pub const DEVICE_ID: &str = "{deviceId}";

/// Placeholder for the user's hardware OATH method id Graph returns from the assign call.
pub const METHOD_ID: &str = "{hardwareOathMethodId}";

/// Placeholder for the code the token shows at activation (the script computes it).
pub const VERIFICATION_CODE: &str = "{verificationCode}";

/// The PowerShell script (Microsoft Graph PowerShell SDK) that uploads a file of these bodies.
pub const UPLOAD_SCRIPT: &str = include_str!("graph_upload.ps1");

/// Everything but RFC 3986's unreserved characters is percent-encoded in a URL path segment.
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Fields of the create body Microsoft documents as required.
pub const CREATE_REQUIRED: [&str; 5] = [
    "serialNumber",
    "manufacturer",
    "model",
    "secretKey",
    "timeIntervalInSeconds",
];

/// One token to upload.
pub struct GraphToken<'a> {
    /// The user it is assigned to.
    pub upn: &'a str,
    /// Serial number (required by Graph).
    pub serial: &'a str,
    /// Manufacturer (required by Graph).
    pub manufacturer: &'a str,
    /// Model (required by Graph).
    pub model: &'a str,
    /// The seed.
    pub secret: &'a Secret,
    /// Hash: SHA-1 or SHA-256 (Graph has no SHA-512).
    pub algorithm: Algorithm,
    /// 30 or 60.
    pub period_secs: u32,
}

/// Why a token cannot be described for Graph.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GraphError {
    /// Graph's `hashFunction` knows only `hmacsha1` and `hmacsha256`.
    #[error("{upn}: Graph accepts SHA-1 or SHA-256 tokens, not {algorithm}")]
    Algorithm {
        /// The user.
        upn: String,
        /// The token's hash.
        algorithm: Algorithm,
    },
    /// Graph's `timeIntervalInSeconds` is 30 or 60.
    #[error("{upn}: Graph accepts a time interval of 30 or 60 s, not {period_secs}")]
    Period {
        /// The user.
        upn: String,
        /// The token's step.
        period_secs: u32,
    },
    /// A required field is empty.
    #[error("{upn}: the token has no {field}, which Graph requires; record it first")]
    Missing {
        /// The user.
        upn: String,
        /// The empty field.
        field: &'static str,
    },
    /// The JSON writer failed (it does not, for these types).
    #[error("the Graph file could not be written")]
    Serialise,
    /// Graph allows at most 128 base32 characters.
    #[error("{upn}: the secret key is longer than Graph's 128 base32 characters")]
    SecretTooLong {
        /// The user.
        upn: String,
    },
}

#[derive(Serialize)]
struct Request<B: Serialize> {
    method: &'static str,
    url: String,
    body: B,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreateBody<'a> {
    serial_number: &'a str,
    manufacturer: &'a str,
    model: &'a str,
    secret_key: &'a str,
    time_interval_in_seconds: u32,
    hash_function: &'static str,
}

#[derive(Serialize)]
struct AssignBody {
    device: DeviceRef,
}

#[derive(Serialize)]
struct DeviceRef {
    id: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ActivateBody {
    verification_code: &'static str,
    display_name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Entry<'a> {
    user_principal_name: &'a str,
    create: Request<CreateBody<'a>>,
    assign: Request<AssignBody>,
    activate: Request<ActivateBody>,
}

#[derive(Serialize)]
struct Document<'a> {
    format: &'static str,
    api: &'static str,
    note: &'static str,
    tokens: Vec<Entry<'a>>,
}

impl<'a> Document<'a> {
    fn new(tokens: Vec<Entry<'a>>) -> Self {
        Self {
            format: "tokendesk-graph-hardware-oath/1",
            api: API_BASE,
            note: "Microsoft Graph beta API; checked against Microsoft's documented schema, not a \
                   live tenant. Holds token secrets: delete this file after the upload.",
            tokens,
        }
    }
}

/// Checks what Graph requires of a token that can be checked without its seed (hash, step,
/// serial, manufacturer, model), so an export can refuse before any seed is decrypted.
///
/// # Errors
/// The first [`GraphError`] found.
pub fn check_token(
    upn: &str,
    serial: &str,
    manufacturer: &str,
    model: &str,
    algorithm: Algorithm,
    period_secs: u32,
) -> Result<(), GraphError> {
    let upn = upn.to_owned();
    hash_function(&upn, algorithm)?;
    if period_secs != 30 && period_secs != 60 {
        return Err(GraphError::Period { upn, period_secs });
    }
    for (field, value) in [
        ("serialNumber", serial),
        ("manufacturer", manufacturer),
        ("model", model),
    ] {
        if value.trim().is_empty() {
            return Err(GraphError::Missing { upn, field });
        }
    }
    Ok(())
}

fn hash_function(upn: &str, algorithm: Algorithm) -> Result<&'static str, GraphError> {
    match algorithm {
        Algorithm::Sha1 => Ok("hmacsha1"),
        Algorithm::Sha256 => Ok("hmacsha256"),
        algorithm => Err(GraphError::Algorithm {
            upn: upn.to_owned(),
            algorithm,
        }),
    }
}

fn entry<'a>(t: &'a GraphToken<'a>, secret: &'a str) -> Result<Entry<'a>, GraphError> {
    check_token(
        t.upn,
        t.serial,
        t.manufacturer,
        t.model,
        t.algorithm,
        t.period_secs,
    )?;
    let upn = t.upn.to_owned();
    let hash_function = hash_function(t.upn, t.algorithm)?;
    if secret.len() > 128 {
        return Err(GraphError::SecretTooLong { upn });
    }
    let user = percent_encoding::utf8_percent_encode(t.upn, PATH_SEGMENT);
    let methods = format!("{API_BASE}/users/{user}/authentication/hardwareOathMethods");
    Ok(Entry {
        user_principal_name: t.upn,
        create: Request {
            method: "POST",
            url: format!("{API_BASE}/directory/authenticationMethodDevices/hardwareOathDevices"),
            body: CreateBody {
                serial_number: t.serial,
                manufacturer: t.manufacturer,
                model: t.model,
                secret_key: secret,
                time_interval_in_seconds: t.period_secs,
                hash_function,
            },
        },
        assign: Request {
            method: "POST",
            url: methods.clone(),
            body: AssignBody {
                device: DeviceRef { id: DEVICE_ID },
            },
        },
        activate: Request {
            method: "POST",
            url: format!("{methods}/{METHOD_ID}/activate"),
            body: ActivateBody {
                verification_code: VERIFICATION_CODE,
                display_name: format!("{} {} {}", t.manufacturer, t.model, t.serial),
            },
        },
    })
}

/// The whole file: what it is, then per token the create, assign and activate requests. It
/// holds the seeds: write it owner-only and delete it after the upload. The seeds are copied
/// only into zeroizing text. The same bytes as [`Writer`] streams.
///
/// # Errors
/// The first [`GraphError`]; nothing is written then.
pub fn write(tokens: &[GraphToken<'_>]) -> Result<Zeroizing<String>, GraphError> {
    let mut writer = Writer::new();
    let head = writer.head()?;
    let entries = tokens
        .iter()
        .map(|t| writer.token(t))
        .collect::<Result<Vec<_>, _>>()?;
    let tail = writer.tail();
    // Sized once, so the text holding seeds is never reallocated (a reallocation would leave
    // an unwiped copy behind).
    let size = head.len() + entries.iter().map(|e| e.len()).sum::<usize>() + tail.len();
    let mut out = Zeroizing::new(String::with_capacity(size));
    out.push_str(&head);
    for e in &entries {
        out.push_str(e);
    }
    out.push_str(tail);
    Ok(out)
}

/// The Graph file written token by token, for an export that streams: [`Writer::head`], then
/// [`Writer::token`] for each token, then [`Writer::tail`]; the bytes of one pretty-printed
/// JSON document, as [`write`] gives.
#[derive(Debug, Default)]
pub struct Writer {
    tokens: usize,
}

impl Writer {
    /// A file with no token yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The document up to its list of tokens.
    ///
    /// # Errors
    /// [`GraphError::Serialise`] (not expected).
    pub fn head(&self) -> Result<String, GraphError> {
        let doc = Document::new(Vec::new());
        let text = serde_json::to_string_pretty(&doc).map_err(|_| GraphError::Serialise)?;
        // Pretty JSON ends an empty list and the document with `[]\n}`.
        text.strip_suffix("]\n}")
            .map(str::to_owned)
            .ok_or(GraphError::Serialise)
    }

    /// One token's requests as the list's next element. The text is sized before the seed is
    /// written into it, so it is never reallocated.
    ///
    /// # Errors
    /// [`GraphError`] for a token Graph cannot take.
    pub fn token(&mut self, t: &GraphToken<'_>) -> Result<Zeroizing<String>, GraphError> {
        let secret = t.secret.to_base32();
        let e = entry(t, &secret)?;
        let lead: &[u8] = if self.tokens == 0 {
            b"\n    "
        } else {
            b",\n    "
        };
        let mut count = Indent(Count(0));
        serde_json::to_writer_pretty(&mut count, &e).map_err(|_| GraphError::Serialise)?;
        let mut buf = Zeroizing::new(Vec::with_capacity(lead.len() + (count.0).0));
        buf.extend_from_slice(lead);
        serde_json::to_writer_pretty(Indent(&mut *buf), &e).map_err(|_| GraphError::Serialise)?;
        self.tokens += 1;
        String::from_utf8(std::mem::take(&mut *buf))
            .map(Zeroizing::new)
            .map_err(|e| {
                zeroize::Zeroize::zeroize(&mut e.into_bytes());
                GraphError::Serialise
            })
    }

    /// The end of the document after the last token.
    pub fn tail(&self) -> &'static str {
        if self.tokens == 0 {
            "]\n}\n"
        } else {
            "\n  ]\n}\n"
        }
    }
}

/// Writes what it is given with four more spaces after each line break: a token's pretty JSON
/// as an element of the document's list (JSON strings hold no raw line break).
struct Indent<W>(W);

impl<W: std::io::Write> std::io::Write for Indent<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for piece in buf.split_inclusive(|b| *b == b'\n') {
            self.0.write_all(piece)?;
            if piece.ends_with(b"\n") {
                self.0.write_all(b"    ")?;
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Counts bytes, to size a buffer before a seed is written into it.
struct Count(usize);

impl std::io::Write for Count {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
