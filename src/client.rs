//! The typed HTTP client of the REST API, used by the CLI (and later by the worker): one place that
//! knows the base URL, the access token and how the API's errors look (`{"code", "message",
//! "errors"}`), so every command reports a server's refusal the same way. It does not know the
//! resources: callers name the path and the body, and choose what to decode the answer into (a DTO,
//! or `serde_json::Value` to pass the server's JSON on as is).

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The URL used when neither `--server` nor `MAILU_GIT_URL` is given.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot reach the server at {url}")]
    Unreachable { url: String, source: reqwest::Error },
    #[error("the server refused ({status}): {message}{}", fields(message, errors))]
    Refused {
        status: u16,
        message: String,
        errors: Vec<(String, String)>,
    },
    #[error("the server's answer to {url} is not what this client expects")]
    Decode { url: String, source: reqwest::Error },
}

/// The field errors as indented lines, leaving out one the message already is (the server's message
/// for a single problem is often exactly `field: message`).
fn fields(message: &str, errors: &[(String, String)]) -> String {
    errors
        .iter()
        .filter(|(field, text)| message != format!("{field}: {text}"))
        .map(|(field, message)| format!("\n  {field}: {message}"))
        .collect()
}

/// A client for one server with one access token.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    token: String,
    http: reqwest::Client,
}

#[derive(serde::Deserialize)]
struct ErrorBody {
    message: String,
    #[serde(default)]
    errors: std::collections::BTreeMap<String, String>,
}

/// Whether a write asks the server to wait until its change is in a version (`?wait=true`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Wait(pub bool);

impl Client {
    pub fn new(base: &str, token: &str) -> Client {
        Client {
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            http: reqwest::Client::new(),
        }
    }

    /// `GET /api/v1/<path>`, decoded from JSON. `path` may carry a query (see [`encode`]).
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        self.send(reqwest::Method::GET, path, None::<&()>, Wait(false))
            .await
    }

    /// `POST /api/v1/<path>` with a JSON body; the answer decoded from JSON.
    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
        wait: Wait,
    ) -> Result<T, Error> {
        self.send(reqwest::Method::POST, path, Some(body), wait)
            .await
    }

    /// `PATCH /api/v1/<path>` with a JSON body; the answer decoded from JSON.
    pub async fn patch<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
        wait: Wait,
    ) -> Result<T, Error> {
        self.send(reqwest::Method::PATCH, path, Some(body), wait)
            .await
    }

    /// `DELETE /api/v1/<path>`; the answer decoded from JSON.
    pub async fn delete<T: DeserializeOwned>(&self, path: &str, wait: Wait) -> Result<T, Error> {
        self.send(reqwest::Method::DELETE, path, None::<&()>, wait)
            .await
    }

    async fn send<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&B>,
        wait: Wait,
    ) -> Result<T, Error> {
        let mut url = format!("{}/api/v1/{}", self.base, path.trim_start_matches('/'));
        if wait.0 {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str("wait=true");
        }
        let mut request = self.http.request(method, &url).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|source| Error::Unreachable {
            url: url.clone(),
            source,
        })?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            let (message, errors) = match serde_json::from_str::<ErrorBody>(&body) {
                Ok(b) => (b.message, b.errors.into_iter().collect()),
                Err(_) => (body.trim().chars().take(200).collect(), Vec::new()),
            };
            return Err(Error::Refused {
                status: status.as_u16(),
                message,
                errors,
            });
        }
        response
            .json()
            .await
            .map_err(|source| Error::Decode { url, source })
    }
}

/// Percent-encodes `text` for one path segment or one query value: every byte but RFC 3986's
/// unreserved characters and `@` (so addresses stay readable in logs). `%` matters: it is the
/// wildcard of an alias's local part and must reach the server as a literal.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' => {
                out.push(char::from(byte))
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_keeps_addresses_and_escapes_the_rest() {
        assert_eq!(encode("a.b@example.com"), "a.b@example.com");
        assert_eq!(encode("%@x.y"), "%25@x.y");
        assert_eq!(encode("a b/c?d&e"), "a%20b%2Fc%3Fd%26e");
        assert_eq!(encode("jörg"), "j%C3%B6rg");
    }

    #[test]
    fn a_refusal_shows_the_message_and_each_field() {
        let err = Error::Refused {
            status: 400,
            message: "bad alias".into(),
            errors: vec![("destination.0".into(), "no such user or alias".into())],
        };
        assert_eq!(
            err.to_string(),
            "the server refused (400): bad alias\n  destination.0: no such user or alias"
        );
        let single = Error::Refused {
            status: 400,
            message: "name: is not a domain name".into(),
            errors: vec![("name".into(), "is not a domain name".into())],
        };
        assert_eq!(
            single.to_string(),
            "the server refused (400): name: is not a domain name"
        );
    }
}
