//! The typed HTTP client of the REST API, used by the CLI (and later by the worker): one place that
//! knows the base URL, the access token and how the API's errors look (`{"code", "message",
//! "errors"}`), so every command reports a server's refusal the same way. It does not know the
//! resources: callers name the path and the body, and choose what to decode the answer into (a DTO,
//! or `serde_json::Value` to pass the server's JSON on as is). Files (overrides) travel as raw
//! bytes (`get_bytes`, `put_bytes`), not JSON.

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
    #[error("cannot write the answer of {url}: {source}")]
    Write { url: String, source: std::io::Error },
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

    /// Whether `GET /healthz` (no token) answers 200 within `within`: the server runs and
    /// acknowledges writes. Any other answer, or none, is `false`.
    pub async fn healthy(&self, within: std::time::Duration) -> bool {
        let url = format!("{}/healthz", self.base);
        match self.http.get(&url).timeout(within).send().await {
            Ok(response) => response.status().is_success(),
            Err(_) => false,
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

    /// `GET /api/v1/<path>` of a file (`application/octet-stream`): its bytes as stored.
    pub async fn get_bytes(&self, path: &str) -> Result<Vec<u8>, Error> {
        let (url, request) = self.request(reqwest::Method::GET, path, Wait(false));
        let response = Self::checked(&url, request).await?;
        let bytes = response
            .bytes()
            .await
            .map_err(|source| Error::Decode { url, source })?;
        Ok(bytes.to_vec())
    }

    /// `GET /api/v1/<path>` of a large file, streamed into `out` as it arrives (a backup: never
    /// held in memory). Returns the byte count and the response's headers.
    pub async fn download(
        &self,
        path: &str,
        out: &mut impl std::io::Write,
    ) -> Result<(u64, reqwest::header::HeaderMap), Error> {
        let (url, request) = self.request(reqwest::Method::GET, path, Wait(false));
        let mut response = Self::checked(&url, request).await?;
        let headers = response.headers().clone();
        let mut bytes = 0;
        while let Some(chunk) = response.chunk().await.map_err(|source| Error::Decode {
            url: url.clone(),
            source,
        })? {
            out.write_all(&chunk).map_err(|source| Error::Write {
                url: url.clone(),
                source,
            })?;
            bytes += chunk.len() as u64;
        }
        Ok((bytes, headers))
    }

    /// `PUT /api/v1/<path>` with `body` as raw bytes (`application/octet-stream`), not JSON: an
    /// override file is stored exactly as sent. The answer decoded from JSON.
    pub async fn put_bytes<T: DeserializeOwned>(
        &self,
        path: &str,
        body: Vec<u8>,
        wait: Wait,
    ) -> Result<T, Error> {
        let (url, request) = self.request(reqwest::Method::PUT, path, wait);
        let request = request
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(body);
        let response = Self::checked(&url, request).await?;
        response
            .json()
            .await
            .map_err(|source| Error::Decode { url, source })
    }

    /// `POST /api/v1/<path>` with a JSON body already encoded, sent in chunks of 256 KiB; `sent` is
    /// told how many bytes have gone so far (an import's progress bar). The answer decoded from JSON.
    pub async fn post_encoded<T: DeserializeOwned>(
        &self,
        path: &str,
        body: Vec<u8>,
        wait: Wait,
        sent: impl Fn(u64) + Send + Sync + 'static,
    ) -> Result<T, Error> {
        const CHUNK: usize = 256 << 10;
        let (url, request) = self.request(reqwest::Method::POST, path, wait);
        let length = body.len();
        let body = bytes::Bytes::from(body);
        let chunks = (0..length).step_by(CHUNK).map(move |start| {
            let end = (start + CHUNK).min(length);
            sent(end as u64);
            Ok::<_, std::io::Error>(body.slice(start..end))
        });
        let request = request
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::CONTENT_LENGTH, length)
            .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
                chunks,
            )));
        let response = Self::checked(&url, request).await?;
        response
            .json()
            .await
            .map_err(|source| Error::Decode { url, source })
    }

    async fn send<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&B>,
        wait: Wait,
    ) -> Result<T, Error> {
        let (url, mut request) = self.request(method, path, wait);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = Self::checked(&url, request).await?;
        response
            .json()
            .await
            .map_err(|source| Error::Decode { url, source })
    }

    /// The request for `path` under `/api/v1`, with the token and `?wait=true` when asked.
    fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        wait: Wait,
    ) -> (String, reqwest::RequestBuilder) {
        let mut url = format!("{}/api/v1/{}", self.base, path.trim_start_matches('/'));
        if wait.0 {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str("wait=true");
        }
        let request = self.http.request(method, &url).bearer_auth(&self.token);
        (url, request)
    }

    /// Sends `request`; a status other than 2xx becomes [`Error::Refused`] with the server's message
    /// and field errors (or the start of its body when that is not the API's JSON).
    async fn checked(
        url: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, Error> {
        let response = request.send().await.map_err(|source| Error::Unreachable {
            url: url.to_owned(),
            source,
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response.text().await.unwrap_or_default();
        let (message, errors) = match serde_json::from_str::<ErrorBody>(&body) {
            Ok(b) => (b.message, b.errors.into_iter().collect()),
            Err(_) => (body.trim().chars().take(200).collect(), Vec::new()),
        };
        Err(Error::Refused {
            status: status.as_u16(),
            message,
            errors,
        })
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
