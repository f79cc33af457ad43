//! The typed HTTP client of the REST API, used by the CLI (and later by the worker): one place that
//! knows the base URL, the access token and how the API's errors look (`{"code", "message",
//! "errors"}`), so every command reports a server's refusal the same way.

use serde::de::DeserializeOwned;

/// The URL used when neither `--server` nor `MAILU_GIT_URL` is given.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot reach the server at {url}: {source}")]
    Unreachable { url: String, source: reqwest::Error },
    #[error("the server refused ({status}): {message}{}", fields(errors))]
    Refused {
        status: u16,
        message: String,
        errors: Vec<(String, String)>,
    },
    #[error("the server's answer to {url} is not what this client expects: {source}")]
    Decode { url: String, source: reqwest::Error },
}

fn fields(errors: &[(String, String)]) -> String {
    errors
        .iter()
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

impl Client {
    pub fn new(base: &str, token: &str) -> Client {
        Client {
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            http: reqwest::Client::new(),
        }
    }

    /// `GET /api/v1/<path>`, decoded from JSON.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        let url = format!("{}/api/v1/{}", self.base, path.trim_start_matches('/'));
        let response = self
            .http
            .get(&url)
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|source| Error::Unreachable {
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
