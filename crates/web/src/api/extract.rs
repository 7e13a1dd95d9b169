//! How the API reads its input: [`Body`] (a JSON object) and [`Params`] (the query string),
//! each refusal a JSON problem that names the field and what it expects, never the value sent
//! (a value in the wrong field may be a secret), and [`int`], integers as JSON Schema counts
//! them (`1650.0` is the integer 1650).

use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, Problem};

/// The API's JSON request body: like axum's `Json`, but only a JSON object (serde would also
/// build a struct from an array), and every refusal a JSON problem (`ApiError`) rather than
/// axum's plain text. The bytes are read once, under the router's body limit.
pub(crate) struct Body<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for Body<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .is_some_and(|v| {
                v == "application/json" || (v.starts_with("application/") && v.ends_with("+json"))
            });
        if !json {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON, with `Content-Type: application/json`",
            )
            .into());
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| Problem::body(e.status(), e.body_text()))?;
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(Problem::body(
                StatusCode::BAD_REQUEST,
                "the body must be a JSON object ({\"field\": value, …})",
            )
            .into());
        }
        parse_body(&bytes).map(Self).map_err(ApiError)
    }
}

/// `bytes` as `T`, or a problem naming the field and the expected type.
pub(crate) fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let inner = e.inner();
        if inner.is_data() {
            Problem::bad_request(describe(&e.path().to_string(), &inner.to_string()))
        } else {
            Problem::bad_request(format!(
                "the body is not valid JSON (line {}, column {})",
                inner.line(),
                inner.column()
            ))
        }
    })?;
    de.end().map_err(|e| {
        Problem::bad_request(format!(
            "the body has more after its JSON object (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    Ok(value)
}

/// A serde refusal as `path: what was expected`, without the value that was sent. serde words
/// its data errors as `invalid type: <the value>, expected <what>` (also `invalid value`,
/// `invalid length`, `unknown variant` and `unknown field`): everything before the last
/// `, expected ` can carry the caller's input and is dropped. `missing field` names only our
/// own field. Anything else (a custom message) is cut to "invalid value".
pub(crate) fn describe(path: &str, serde_message: &str) -> String {
    let message = serde_message
        .rfind(" at line ")
        .map_or(serde_message, |i| serde_message.get(..i).unwrap_or(""));
    let field = if path.is_empty() || path == "." {
        "the body".to_owned()
    } else {
        format!("`{path}`")
    };
    if let Some(missing) = message.strip_prefix("missing field ") {
        return format!("missing field {missing}");
    }
    let expected = message
        .rfind(", expected ")
        .and_then(|i| message.get(i + ", expected ".len()..))
        .map(|e| format!(": expected {e}"))
        .unwrap_or_default();
    if message.starts_with("unknown field") {
        // serde_path_to_error's path ends in the unknown name itself, the caller's text.
        format!("the body has a field it does not know{expected}")
    } else {
        format!("{field} is invalid{expected}")
    }
}

/// The API's query string: axum's `Query`, with a refusal answered as a JSON problem (400)
/// that names the parameter, not the value.
pub(crate) struct Params<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for Params<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|axum::extract::Query(q)| Self(q))
            .map_err(|e| {
                // axum words it "Failed to deserialize query string: PATH: MESSAGE".
                let text = e.body_text();
                let rest = text.split_once("query string: ").map_or("", |(_, r)| r);
                let (path, message) = rest.split_once(": ").unwrap_or(("", rest));
                let described = describe(path, message).replace("the body", "the query");
                Problem::bad_request(format!("query string: {described}")).into()
            })
    }
}

/// Integers as JSON Schema counts them: a JSON number with no fractional part, also when
/// written `1650.0` or `1.65e3`. For `#[serde(deserialize_with = "…")]` on `Option<i64>`.
pub(crate) mod int {
    use serde::{Deserialize, Deserializer, de::Error};

    /// `n` as an i64 when it is a whole number within range.
    pub(crate) fn whole(n: &serde_json::Number) -> Option<i64> {
        n.as_i64().or_else(|| {
            let f = n.as_f64()?;
            // 2^63 as f64 is exact; anything at or beyond it does not fit.
            let fits = f.fract() == 0.0
                && (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f);
            #[allow(clippy::cast_possible_truncation)]
            fits.then_some(f as i64)
        })
    }

    /// An integer in a query string: `37`, also `37.0` or `3.7e1`.
    pub(crate) fn option_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        let Some(text) = Option::<String>::deserialize(d)? else {
            return Ok(None);
        };
        let text = text.trim();
        text.parse::<i64>()
            .ok()
            .or_else(|| {
                serde_json::from_str::<serde_json::Number>(text)
                    .ok()
                    .and_then(|n| whole(&n))
            })
            .map(Some)
            .ok_or_else(|| {
                D::Error::invalid_type(serde::de::Unexpected::Other("text"), &"an integer")
            })
    }

    pub(crate) fn option<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        let refuse =
            |kind: &str| D::Error::invalid_type(serde::de::Unexpected::Other(kind), &"an integer");
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Null => Ok(None),
            serde_json::Value::Number(n) => whole(&n).map(Some).ok_or_else(|| refuse("number")),
            _ => Err(refuse("value")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Probe {
        #[serde(default, deserialize_with = "int::option")]
        n: Option<i64>,
        #[serde(default)]
        s: Option<String>,
        #[serde(default)]
        kind: Option<Kind>,
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(rename_all = "lowercase")]
    enum Kind {
        One,
    }

    fn refusal(body: &str) -> String {
        match parse_body::<Probe>(body.as_bytes()) {
            Ok(p) => panic!("accepted {p:?}"),
            Err(p) => p.message,
        }
    }

    #[test]
    fn refusals_name_the_field_and_the_type_never_the_value() {
        let secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
        for (body, field) in [
            (format!(r#"{{"n": "{secret}"}}"#), "`n`"),
            (format!(r#"{{"s": 1, "n": 2, "kind": "{secret}"}}"#), "`s`"),
            (format!(r#"{{"kind": "{secret}"}}"#), "`kind`"),
            (format!(r#"{{"{secret}": 1}}"#), "the body"),
            (format!(r#"{{"n": 1.5, "s": "{secret}"}}"#), "`n`"),
            (format!(r#"{{"s": "{secret}"}} {secret}"#), "more after"),
            (format!(r#"{{"s": "{secret}"#), "not valid JSON"),
        ] {
            let message = refusal(&body);
            assert!(!message.contains(secret), "{message}");
            assert!(!message.contains("JBSWY3DP"), "{message}");
            assert!(message.contains(field), "{field} in {message}");
        }
        assert_eq!(
            refusal(r#"{"n": "x"}"#),
            "`n` is invalid: expected an integer"
        );
        assert_eq!(
            refusal(r#"{"kind": "two"}"#),
            "`kind` is invalid: expected `one`"
        );
    }

    #[test]
    fn whole_numbers_written_as_floats_are_integers() {
        let p: Probe = parse_body(br#"{"n": 1650.0}"#).unwrap();
        assert_eq!(p.n, Some(1650));
        let p: Probe = parse_body(br#"{"n": 1.65e3}"#).unwrap();
        assert_eq!(p.n, Some(1650));
        let p: Probe = parse_body(br#"{"n": -3}"#).unwrap();
        assert_eq!(p.n, Some(-3));
        assert!(parse_body::<Probe>(br#"{"n": 1e30}"#).is_err());
        assert!(parse_body::<Probe>(br#"{"n": 0.5}"#).is_err());
    }
}
