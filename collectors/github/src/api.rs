//! GitHub's REST and GraphQL APIs over octocrab's HTTP client: pagination
//! through `Link` headers, rate limits, retries of server errors, and a
//! request count.
//!
//! Requests go out as paths relative to the base URL: octocrab only attaches
//! the token to relative requests (or to api.github.com), so an absolute
//! `Link` to a GitHub Enterprise Server or a test server is cut back to its
//! path first, and a `Link` to any other host is refused.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, StatusCode, Uri};
use infragraph_telemetry::backoff::{Backoff, Retry};
use octocrab::Octocrab;
use serde::de::DeserializeOwned;

use crate::config::{Credentials, Token};
use crate::error::GithubError;

/// GitHub's largest page: the fewer pages, the fewer requests.
pub const PER_PAGE: u32 = 100;

/// The longest pause between attempts at a request answered with 5xx.
const MAX_SERVER_BACKOFF: Duration = Duration::from_secs(60);

/// How hard to try before giving up on a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySettings {
    /// Attempts at a request answered with 5xx, the first included.
    pub server_attempts: u32,
    /// Wait before the second attempt; doubled for each later one.
    pub backoff: Duration,
    /// The longest rate-limit wait accepted; a later reset fails the sync
    /// rather than holding it for hours.
    pub max_rate_limit_wait: Duration,
    /// Rate-limit waits in a row on one request before giving up.
    pub rate_limit_waits: u32,
    /// How often a rate-limit wait logs how long is left.
    pub progress_every: Duration,
}

impl RetrySettings {
    /// How a request answered with 5xx is retried.
    pub fn server_retry(&self) -> Retry {
        Retry::bounded(
            Backoff::new(self.backoff, MAX_SERVER_BACKOFF),
            self.server_attempts,
        )
    }
}

impl Default for RetrySettings {
    fn default() -> Self {
        RetrySettings {
            server_attempts: 4,
            backoff: Duration::from_millis(500),
            // A primary limit resets within the hour.
            max_rate_limit_wait: Duration::from_secs(3700),
            rate_limit_waits: 5,
            progress_every: Duration::from_secs(30),
        }
    }
}

/// What to do with one response.
#[derive(Debug)]
pub enum Verdict {
    Ok,
    /// A rate limit: wait, then send the same request again.
    Retry {
        wait: Duration,
        why: RetryReason,
    },
    Fail(GithubError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryReason {
    PrimaryRateLimit,
    SecondaryRateLimit,
}

impl RetryReason {
    fn as_str(self) -> &'static str {
        match self {
            RetryReason::PrimaryRateLimit => "primary rate limit",
            RetryReason::SecondaryRateLimit => "secondary rate limit",
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name)?.to_str().ok().map(str::trim)
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    header(headers, name)?.parse().ok()
}

/// Decides what a response means. A 5xx is a [`GithubError::Server`],
/// which [`RetrySettings::server_retry`] retries; `attempt` counts the
/// request's attempts so far (1 on the first), for that error. `now_secs`
/// is Unix time, for resets.
pub fn classify(
    status: StatusCode,
    headers: &HeaderMap,
    path: &str,
    attempt: u32,
    now_secs: u64,
) -> Verdict {
    let path = path.to_owned();
    if status.is_success() {
        return Verdict::Ok;
    }
    match status.as_u16() {
        401 => Verdict::Fail(GithubError::Unauthorized { path }),
        403 | 429 => rate_limit(status, headers, path, now_secs),
        404 => Verdict::Fail(GithubError::NotFound { path }),
        s if status.is_server_error() => Verdict::Fail(GithubError::Server {
            status: s,
            path,
            attempts: attempt,
        }),
        s => Verdict::Fail(GithubError::Status { status: s, path }),
    }
}

/// GitHub's documented order: `Retry-After` first (secondary limits), then
/// a spent primary limit (`x-ratelimit-remaining: 0`) waits for
/// `x-ratelimit-reset`; a 429 with neither waits a minute.
fn rate_limit(status: StatusCode, headers: &HeaderMap, path: String, now_secs: u64) -> Verdict {
    if let Some(secs) = header_u64(headers, "retry-after") {
        return Verdict::Retry {
            wait: Duration::from_secs(secs),
            why: RetryReason::SecondaryRateLimit,
        };
    }
    if header_u64(headers, "x-ratelimit-remaining") == Some(0) {
        return Verdict::Retry {
            wait: until_reset(headers, now_secs),
            why: RetryReason::PrimaryRateLimit,
        };
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Verdict::Retry {
            wait: Duration::from_secs(60),
            why: RetryReason::SecondaryRateLimit,
        };
    }
    Verdict::Fail(GithubError::Forbidden { path })
}

/// How long until a spent primary limit resets (`x-ratelimit-reset`, else a
/// minute), one second more since the reset time is rounded down.
fn until_reset(headers: &HeaderMap, now_secs: u64) -> Duration {
    let reset = header_u64(headers, "x-ratelimit-reset").unwrap_or(now_secs + 60);
    Duration::from_secs(reset.saturating_sub(now_secs) + 1)
}

/// The URL in a `Link` header's `rel="next"` entry.
pub fn next_link(headers: &HeaderMap) -> Option<String> {
    let value = header(headers, "link")?;
    value.split(',').find_map(|entry| {
        let mut parts = entry.split(';');
        let url = parts.next()?.trim().strip_prefix('<')?.strip_suffix('>')?;
        parts
            .any(|p| p.trim().replace(' ', "") == "rel=\"next\"")
            .then(|| url.to_owned())
    })
}

fn with_per_page(path: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}per_page={PER_PAGE}")
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A successful answer kept for its ETag.
#[derive(Clone)]
struct Cached {
    etag: String,
    headers: HeaderMap,
    body: String,
}

/// One request: a REST read, or a GraphQL query (always a POST).
#[derive(Clone, Copy)]
enum Call<'a> {
    Get(&'a str),
    Graphql(&'a serde_json::Value),
}

impl Call<'_> {
    /// What errors and logs name the request by.
    fn path(&self) -> &str {
        match self {
            Call::Get(path) => path,
            Call::Graphql(_) => GRAPHQL_PATH,
        }
    }
}

const GRAPHQL_PATH: &str = "/graphql";

/// A GraphQL answer: data, errors, or (partly) both.
#[derive(Debug, serde::Deserialize)]
pub struct GraphqlResponse<T> {
    pub data: Option<T>,
    #[serde(default)]
    pub errors: Vec<GraphqlError>,
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct GraphqlError {
    /// NOT_FOUND, FORBIDDEN, RATE_LIMITED, … (GitHub's extension).
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub message: String,
    /// Where in `data` the error belongs: field names and list indexes.
    #[serde(default)]
    pub path: Vec<serde_json::Value>,
}

/// The GraphQL endpoint's base for a REST base URL: `https://api.github.com`
/// serves both; GitHub Enterprise Server serves REST under `/api/v3` and
/// GraphQL at `/api/graphql`.
pub fn graphql_base(api_url: &str) -> String {
    let trimmed = api_url.trim_end_matches('/');
    trimmed.strip_suffix("/v3").unwrap_or(trimmed).to_owned()
}

/// Who the REST client acts as.
// One per org, built once: the size of the app variant does not matter.
#[allow(clippy::large_enum_variant)]
enum Rest {
    Ready(Octocrab),
    /// A GitHub App, acting as its installation on `org` once that is found.
    App {
        jwt: Octocrab,
        org: String,
        installed: tokio::sync::OnceCell<Octocrab>,
    },
}

/// A client for one API base URL and one set of credentials.
pub struct Api {
    rest: Rest,
    /// The GraphQL endpoint's base; a token's client carries the token, an
    /// app's is given the installation's current token on each request.
    graphql: Octocrab,
    authority: Option<String>,
    settings: RetrySettings,
    requests: AtomicU64,
    /// Requests answered 304 Not Modified: free of GitHub's rate limit.
    not_modified: AtomicU64,
    /// The last answer with an ETag per path, for conditional requests on
    /// the next sync. Bodies are kept: a 304 has none.
    etags: Mutex<HashMap<String, Cached>>,
    /// The last `x-ratelimit-remaining` seen, -1 before any.
    remaining: AtomicI64,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("authority", &self.authority)
            .field("requests", &self.requests())
            .finish_non_exhaustive()
    }
}

fn client_builder(
    uri: Uri,
    base_url: &str,
) -> Result<
    octocrab::OctocrabBuilder<
        octocrab::NoSvc,
        octocrab::DefaultOctocrabBuilderConfig,
        octocrab::NoAuth,
        octocrab::NotLayerReady,
    >,
    GithubError,
> {
    Ok(Octocrab::builder()
        .base_uri(uri)
        .map_err(|e| GithubError::Config(format!("--api-url {base_url:?}: {e}")))?
        .set_connect_timeout(Some(Duration::from_secs(10)))
        .set_read_timeout(Some(Duration::from_secs(60))))
}

/// An HTTP client for requests relative to `uri`, with `token` if given.
fn octocrab(uri: Uri, base_url: &str, token: Option<&Token>) -> Result<Octocrab, GithubError> {
    let builder = client_builder(uri, base_url)?;
    let built = match token {
        Some(token) => builder.personal_token(token.secret()).build(),
        None => builder.build(),
    };
    built.map_err(|e| GithubError::Config(format!("cannot set up the HTTP client: {e}")))
}

/// The id of the app's installation on `org` (`GET /orgs/{org}/installation`
/// with the app's JWT). Only the id is read, so a sparser answer (GitHub
/// Enterprise Server) still works.
async fn installation_id(jwt: &Octocrab, org: &str) -> Result<u64, GithubError> {
    #[derive(serde::Deserialize)]
    struct Found {
        id: u64,
    }
    let path = format!("/orgs/{org}/installation");
    let response = jwt
        ._get(path.as_str())
        .await
        .map_err(|e| app_error(org, &e))?;
    let status = response.status();
    let body = jwt
        .body_to_string(response)
        .await
        .map_err(|e| app_error(org, &e))?;
    if !status.is_success() {
        let message = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_owned))
            .unwrap_or_default();
        return Err(GithubError::App {
            org: org.to_owned(),
            detail: format!("GitHub answered {} on {path}: {message}", status.as_u16()),
        });
    }
    Ok(serde_json::from_str::<Found>(&body)
        .map_err(|source| GithubError::Decode { path, source })?
        .id)
}

/// Why acting as the app's installation on `org` failed. octocrab's error
/// carries GitHub's message, never the key or a token.
fn app_error(org: &str, e: &octocrab::Error) -> GithubError {
    let detail = match e {
        octocrab::Error::GitHub { source, .. } => {
            format!("GitHub answered {}: {}", source.status_code, source.message)
        }
        other => other.to_string(),
    };
    GithubError::App {
        org: org.to_owned(),
        detail,
    }
}

/// rustls needs one process-wide crypto provider and does not pick one when
/// a build enables both of its backends, as the whole workspace does (the
/// AWS SDK brings aws-lc-rs, octocrab ring). Whoever installs first wins.
fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

impl Api {
    /// A client for `base_url` (`https://api.github.com`, or a GitHub
    /// Enterprise Server's `https://HOST/api/v3`), reading `org` (an app
    /// acts as its installation there). Must be called within a Tokio
    /// runtime: the client spawns its connection worker there.
    pub fn new(
        base_url: &str,
        credentials: &Credentials,
        org: &str,
        settings: RetrySettings,
    ) -> Result<Self, GithubError> {
        // octocrab panics without a runtime; an error says it plainly.
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(GithubError::Config(
                "the GitHub client must be created within a Tokio runtime".to_owned(),
            ));
        }
        let uri: Uri = base_url
            .parse()
            .map_err(|_| GithubError::Config(format!("--api-url {base_url:?} is not a URL")))?;
        let authority = uri.authority().map(|a| a.as_str().to_owned());
        if authority.is_none() {
            return Err(GithubError::Config(format!(
                "--api-url {base_url:?} has no host"
            )));
        }
        install_crypto_provider();
        let graphql_uri: Uri = graphql_base(base_url)
            .parse()
            .map_err(|_| GithubError::Config(format!("--api-url {base_url:?} is not a URL")))?;
        let (rest, graphql) = match credentials {
            Credentials::Token(token) => (
                Rest::Ready(octocrab(uri, base_url, Some(token))?),
                octocrab(graphql_uri, base_url, Some(token))?,
            ),
            Credentials::App { app_id, key } => {
                let key =
                    jsonwebtoken::EncodingKey::from_rsa_pem(key.pem().as_bytes()).map_err(|e| {
                        GithubError::Config(format!(
                            "the GitHub App private key is not a valid RSA PEM key: {e}"
                        ))
                    })?;
                let jwt = client_builder(uri, base_url)?
                    .app(octocrab::models::AppId(*app_id), key)
                    .build()
                    .map_err(|e| {
                        GithubError::Config(format!("cannot set up the HTTP client: {e}"))
                    })?;
                (
                    Rest::App {
                        jwt,
                        org: org.to_owned(),
                        installed: tokio::sync::OnceCell::new(),
                    },
                    octocrab(graphql_uri, base_url, None)?,
                )
            }
        };
        Ok(Api {
            rest,
            graphql,
            authority,
            settings,
            requests: AtomicU64::new(0),
            not_modified: AtomicU64::new(0),
            etags: Mutex::new(HashMap::new()),
            remaining: AtomicI64::new(-1),
        })
    }

    /// Requests sent since the last [`Api::take_requests`] (retries included).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// The request count so far, reset to zero: one sync's spend.
    pub fn take_requests(&self) -> u64 {
        self.requests.swap(0, Ordering::Relaxed)
    }

    /// Requests answered 304 since the last call, reset to zero.
    pub fn take_not_modified(&self) -> u64 {
        self.not_modified.swap(0, Ordering::Relaxed)
    }

    /// The last rate-limit budget GitHub reported, if any.
    pub fn rate_limit_remaining(&self) -> Option<u64> {
        u64::try_from(self.remaining.load(Ordering::Relaxed)).ok()
    }

    /// One GraphQL query. Errors come back with the data (GitHub answers
    /// 200 with both) for the caller to judge, except a spent rate limit,
    /// which is waited out like a REST one.
    pub async fn graphql<T: DeserializeOwned>(
        &self,
        query: &str,
        variables: serde_json::Value,
    ) -> Result<GraphqlResponse<T>, GithubError> {
        let request = serde_json::json!({ "query": query, "variables": variables });
        let mut rate_waits = 0;
        loop {
            let (headers, body) = self.fetch(Call::Graphql(&request)).await?;
            let response: GraphqlResponse<T> =
                serde_json::from_str(&body).map_err(|source| GithubError::Decode {
                    path: GRAPHQL_PATH.to_owned(),
                    source,
                })?;
            if !response
                .errors
                .iter()
                .any(|e| e.kind.as_deref() == Some("RATE_LIMITED"))
            {
                return Ok(response);
            }
            let wait = until_reset(&headers, now_secs());
            rate_waits += 1;
            self.check_wait(GRAPHQL_PATH, wait, rate_waits)?;
            self.wait_for_limit(GRAPHQL_PATH, wait, RetryReason::PrimaryRateLimit)
                .await;
        }
    }

    /// One resource (no pagination).
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, GithubError> {
        let (_, body) = self.fetch(Call::Get(path)).await?;
        serde_json::from_str(&body).map_err(|source| GithubError::Decode {
            path: path.to_owned(),
            source,
        })
    }

    /// Every item of a list, page after page as `Link: rel="next"` says.
    pub async fn get_all<T: DeserializeOwned>(&self, path: &str) -> Result<Vec<T>, GithubError> {
        let mut items = Vec::new();
        let mut next = Some(with_per_page(path));
        while let Some(page) = next.take() {
            let (headers, body) = self.fetch(Call::Get(&page)).await?;
            let mut batch: Vec<T> =
                serde_json::from_str(&body).map_err(|source| GithubError::Decode {
                    path: page.clone(),
                    source,
                })?;
            items.append(&mut batch);
            next = next_link(&headers)
                .map(|url| self.relative(&url))
                .transpose()?;
        }
        Ok(items)
    }

    /// A `Link` URL as a path on this API's host.
    fn relative(&self, url: &str) -> Result<String, GithubError> {
        let uri: Uri = url
            .parse()
            .map_err(|_| GithubError::ForeignLink(url.to_owned()))?;
        if let Some(authority) = uri.authority()
            && Some(authority.as_str()) != self.authority.as_deref()
        {
            return Err(GithubError::ForeignLink(url.to_owned()));
        }
        Ok(uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |pq| pq.as_str().to_owned()))
    }

    /// One request, retried on 5xx and rate limits; the headers and body of
    /// its successful answer.
    async fn fetch(&self, call: Call<'_>) -> Result<(HeaderMap, String), GithubError> {
        let path = call.path();
        // Counted across the request's 5xx retries. An atomic, not a Cell:
        // each attempt's future borrows it and must stay Send.
        let rate_waits = AtomicU32::new(0);
        self.settings
            .server_retry()
            .run_to_end(
                |e| matches!(e, GithubError::Server { .. }),
                |e, next| {
                    if let GithubError::Server { status, .. } = e {
                        tracing::warn!(
                            path,
                            status,
                            attempt = next.attempt,
                            retry_in_ms = next.wait.as_millis() as u64,
                            "GitHub server error, retrying"
                        );
                    }
                },
                |attempt| self.attempt(call, attempt, &rate_waits),
            )
            .await
    }

    /// One attempt at a request, waiting out rate limits (at most
    /// `rate_limit_waits` over the whole request).
    async fn attempt(
        &self,
        call: Call<'_>,
        attempt: u32,
        rate_waits: &AtomicU32,
    ) -> Result<(HeaderMap, String), GithubError> {
        let path = call.path();
        loop {
            // Only reads are conditional: a GraphQL POST has no ETag.
            let cached = match call {
                Call::Get(path) => self.cached(path),
                Call::Graphql(_) => None,
            };
            let (status, headers, body) = self
                .send(call, cached.as_ref().map(|c| c.etag.as_str()))
                .await?;
            if status == StatusCode::NOT_MODIFIED
                && let Some(c) = cached
            {
                self.not_modified.fetch_add(1, Ordering::Relaxed);
                return Ok((c.headers, c.body));
            }
            match classify(status, &headers, path, attempt, now_secs()) {
                Verdict::Ok => {
                    if let Call::Get(path) = call {
                        self.remember(path, &headers, &body);
                    }
                    return Ok((headers, body));
                }
                Verdict::Fail(e) => return Err(e),
                Verdict::Retry { wait, why } => {
                    let waits = rate_waits.fetch_add(1, Ordering::Relaxed) + 1;
                    self.check_wait(path, wait, waits)?;
                    self.wait_for_limit(path, wait, why).await;
                }
            }
        }
    }

    fn check_wait(&self, path: &str, wait: Duration, waits: u32) -> Result<(), GithubError> {
        let max = self.settings.max_rate_limit_wait;
        if wait > max || waits > self.settings.rate_limit_waits {
            return Err(GithubError::RateLimited {
                path: path.to_owned(),
                wait_secs: wait.as_secs(),
                max_secs: max.as_secs(),
            });
        }
        Ok(())
    }

    /// Sleeps through a rate limit, saying how long is left every
    /// `progress_every`, so a stalled-looking collector explains itself.
    /// Shutdown ends it at once: the sync that holds this future drops it
    /// (`Syncer::sync_until`).
    async fn wait_for_limit(&self, path: &str, wait: Duration, why: RetryReason) {
        let mut left = wait;
        loop {
            tracing::info!(
                path,
                reason = why.as_str(),
                remaining_secs = left.as_secs(),
                "waiting for the GitHub rate limit"
            );
            let step = left.min(self.settings.progress_every.max(Duration::from_secs(1)));
            tokio::time::sleep(step).await;
            left = left.saturating_sub(step);
            if left.is_zero() {
                return;
            }
        }
    }

    fn cached(&self, path: &str) -> Option<Cached> {
        self.etags
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(path)
            .cloned()
    }

    /// Keeps an answer that has an ETag, so the next sync can ask "changed
    /// since?" and get a 304 that costs no rate limit.
    fn remember(&self, path: &str, headers: &HeaderMap, body: &str) {
        if let Some(etag) = header(headers, "etag") {
            let entry = Cached {
                etag: etag.to_owned(),
                headers: headers.clone(),
                body: body.to_owned(),
            };
            self.etags
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(path.to_owned(), entry);
        }
    }

    /// The REST client; for an app, its installation on the org, looked up
    /// (one request, with the app's JWT) on first use.
    async fn rest(&self) -> Result<&Octocrab, GithubError> {
        match &self.rest {
            Rest::Ready(client) => Ok(client),
            Rest::App { jwt, org, installed } => {
                installed
                    .get_or_try_init(|| async {
                        self.requests.fetch_add(1, Ordering::Relaxed);
                        let id = installation_id(jwt, org).await?;
                        tracing::info!(org = %org, installation = id, "acting as the GitHub App's installation");
                        jwt.installation(octocrab::models::InstallationId(id)).map_err(|e| app_error(org, &e))
                    })
                    .await
            }
        }
    }

    /// The GraphQL client, with the installation's current token for an
    /// app (minted or renewed through the REST client, as it expires).
    async fn graphql_client(&self) -> Result<std::borrow::Cow<'_, Octocrab>, GithubError> {
        match &self.rest {
            Rest::Ready(_) => Ok(std::borrow::Cow::Borrowed(&self.graphql)),
            Rest::App { org, .. } => {
                let token = self
                    .rest()
                    .await?
                    .installation_token()
                    .await
                    .map_err(|e| app_error(org, &e))?;
                Ok(std::borrow::Cow::Owned(
                    self.graphql
                        .user_access_token(token)
                        .map_err(|e| app_error(org, &e))?,
                ))
            }
        }
    }

    async fn send(
        &self,
        call: Call<'_>,
        etag: Option<&str>,
    ) -> Result<(StatusCode, HeaderMap, String), GithubError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let path = call.path();
        let transport = |e: octocrab::Error| GithubError::Transport {
            path: path.to_owned(),
            message: e.to_string(),
        };
        let response = match call {
            Call::Get(path) => {
                let conditional = etag
                    .and_then(|e| http::HeaderValue::from_str(e).ok())
                    .map(|v| HeaderMap::from_iter([(http::header::IF_NONE_MATCH, v)]));
                self.rest()
                    .await?
                    ._get_with_headers(path, conditional)
                    .await
            }
            Call::Graphql(body) => {
                self.graphql_client()
                    .await?
                    ._post(GRAPHQL_PATH, Some(body))
                    .await
            }
        }
        .map_err(transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        if let Some(left) = header_u64(&headers, "x-ratelimit-remaining") {
            self.remaining
                .store(i64::try_from(left).unwrap_or(i64::MAX), Ordering::Relaxed);
        }
        let body = self
            .graphql
            .body_to_string(response)
            .await
            .map_err(transport)?;
        tracing::debug!(path, status = status.as_u16(), "GitHub request");
        Ok((status, headers, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().expect("valid header value"));
        }
        h
    }

    #[test]
    fn graphql_lives_next_to_rest() {
        assert_eq!(
            graphql_base("https://api.github.com"),
            "https://api.github.com"
        );
        assert_eq!(
            graphql_base("https://ghe.example.com/api/v3/"),
            "https://ghe.example.com/api"
        );
        assert_eq!(
            graphql_base("http://127.0.0.1:9000"),
            "http://127.0.0.1:9000"
        );
    }

    #[test]
    fn next_link_is_found_among_others() {
        let h = headers(&[(
            "link",
            r#"<https://api.github.com/orgs/a/repos?page=3>; rel="last", <https://api.github.com/orgs/a/repos?page=2>; rel="next""#,
        )]);
        assert_eq!(
            next_link(&h).as_deref(),
            Some("https://api.github.com/orgs/a/repos?page=2")
        );
        let last = headers(&[(
            "link",
            r#"<https://api.github.com/orgs/a/repos?page=1>; rel="prev""#,
        )]);
        assert_eq!(next_link(&last), None);
    }

    #[test]
    fn rate_limits_wait_and_other_errors_fail() {
        let ok = StatusCode::FORBIDDEN;
        let primary = headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1100"),
        ]);
        assert!(
            matches!(classify(ok, &primary, "/x", 1, 1000), Verdict::Retry { wait, why: RetryReason::PrimaryRateLimit } if wait == Duration::from_secs(101))
        );
        let secondary = headers(&[("retry-after", "7"), ("x-ratelimit-remaining", "10")]);
        assert!(
            matches!(classify(ok, &secondary, "/x", 1, 1000), Verdict::Retry { wait, why: RetryReason::SecondaryRateLimit } if wait == Duration::from_secs(7))
        );
        let plain = headers(&[("x-ratelimit-remaining", "10")]);
        assert!(matches!(
            classify(ok, &plain, "/x", 1, 1000),
            Verdict::Fail(GithubError::Forbidden { .. })
        ));
        assert!(matches!(
            classify(StatusCode::UNAUTHORIZED, &plain, "/x", 1, 1000),
            Verdict::Fail(GithubError::Unauthorized { .. })
        ));
        assert!(matches!(
            classify(StatusCode::NOT_FOUND, &plain, "/x", 1, 1000),
            Verdict::Fail(GithubError::NotFound { .. })
        ));
    }

    #[test]
    fn server_errors_back_off_then_give_up() {
        let s = RetrySettings {
            server_attempts: 3,
            backoff: Duration::from_millis(100),
            ..RetrySettings::default()
        };
        let retry = s.server_retry();
        assert_eq!(retry.wait_after(1), Some(Duration::from_millis(100)));
        assert_eq!(retry.wait_after(2), Some(Duration::from_millis(200)));
        assert_eq!(retry.wait_after(3), None, "the third attempt is the last");
        let h = HeaderMap::new();
        assert!(matches!(
            classify(StatusCode::BAD_GATEWAY, &h, "/x", 3, 0),
            Verdict::Fail(GithubError::Server { attempts: 3, .. })
        ));
    }
}
