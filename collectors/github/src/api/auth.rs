//! Who the client acts as: the HTTP clients for a token or a GitHub App,
//! the app's JWT and the lookup of its installation on the org, and the
//! installation token GraphQL requests carry. Kept apart: it is the part
//! of the client that holds the token and the app's key.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use http::Uri;
use octocrab::Octocrab;

use super::{Api, RetrySettings, graphql_base};
use crate::config::{Credentials, Token};
use crate::error::GithubError;

/// Who the REST client acts as.
// One per org, built once: the size of the app variant does not matter.
#[allow(clippy::large_enum_variant)]
pub(super) enum Rest {
    Ready(Octocrab),
    /// A GitHub App, acting as its installation on `org` once that is found.
    App {
        jwt: Octocrab,
        org: String,
        installed: tokio::sync::OnceCell<Octocrab>,
    },
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

    /// The REST client; for an app, its installation on the org, looked up
    /// (one request, with the app's JWT) on first use.
    pub(super) async fn rest(&self) -> Result<&Octocrab, GithubError> {
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
    pub(super) async fn graphql_client(
        &self,
    ) -> Result<std::borrow::Cow<'_, Octocrab>, GithubError> {
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
}
